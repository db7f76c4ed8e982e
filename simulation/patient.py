"""The simulated patient: pushes when cued, with a strength per side and some variability.

How strong the patient is in each test, so rehearsals show plausible numbers: typical isometric
peak forces at the dynamometer pad of healthy adults (the uninvolved side; the involved side is
``involved_ratio`` of it):

=================  ========  ===================================================================
test               typical   literature range (adults, hand-held or belt-fixed dynamometer)
=================  ========  ===================================================================
hip abduction      230 N     about 150-300 N at the lateral malleolus (with a lever arm of about
                             0.8 m, about 120-240 N·m): Thorborg K et al., Scand J Med Sci Sports
                             2010;20:493-501 (hand-held, belt-fixed); Bohannon RW, Arch Phys Med
                             Rehabil 1997;78:26-32 (reference values by age and sex)
knee extension     420 N     about 300-700 N at the shin pad, seated at 60-90° of knee flexion
                             (with a lever arm of about 0.35 m, about 100-250 N·m): Bohannon 1997
                             (as above); Koblbauer IF et al., BMC Musculoskelet Disord
                             2011;12:249 (belt-stabilised hand-held dynamometry)
=================  ========  ===================================================================

A ``strength`` factor scales every test (1 = the typical adult above; about 0.6 for a frail
older adult, 1.4 for an athlete). Landings are driven by body weight instead (about 3-4 × body
weight for a 30 cm drop landing, see :mod:`simulation.landing`).
"""
from __future__ import annotations

import numpy as np

from simulation.forces import Contraction, ScheduledForces

#: typical uninvolved-side isometric peak force (N), by the movement named in a protocol id
TYPICAL_PEAK_N: dict[str, float] = {
    "knee-extension": 420.0,
    "hip-abduction": 230.0,
}
DEFAULT_PEAK_N = 230.0


def typical_peak_n(test_id: str, strength: float = 1.0) -> float:
    """The simulated patient's uninvolved-side peak force (N) in the test ``test_id`` (a
    protocol id such as ``knee-extension-90``), scaled by ``strength``."""
    for key, value in TYPICAL_PEAK_N.items():
        if key in test_id:
            return value * strength
    return DEFAULT_PEAK_N * strength


class SimulatedPatient:
    """A patient who pushes when cued: strength per side, reaction time, variability.

    Default: the involved right side at 82 % of the left (a typical post-injury deficit).
    ``channel_for_side`` maps a side to a device channel (a fixed frame has one cell per leg;
    a hand-held dynamometer has one channel used for both sides).
    """

    def __init__(
        self,
        forces: ScheduledForces,
        *,
        uninvolved_peak_n: float = 230.0,
        involved_side: str | None = "right",
        involved_ratio: float = 0.82,
        reaction_s: float = 0.30,
        rep_cv: float = 0.04,
        channel_for_side: dict[str, int] | None = None,
        seed: int = 1,
    ) -> None:
        self.forces = forces
        self.uninvolved_peak_n = uninvolved_peak_n
        self.involved_side = involved_side
        self.involved_ratio = involved_ratio
        self.reaction_s = reaction_s
        self.rep_cv = rep_cv
        self.channel_for_side = channel_for_side or {}
        self._rng = np.random.default_rng(seed)

    def peak_for(self, side: str) -> float:
        """Mean peak force (N) this patient produces on ``side``."""
        ratio = self.involved_ratio if side == self.involved_side else 1.0
        return self.uninvolved_peak_n * ratio

    def contract(self, side: str, cue_s: float, duration_s: float) -> Contraction:
        """Respond to a 'go' cue at ``cue_s`` (host monotonic, s) with one effort."""
        sides = ("left", "right") if side == "both" else (side,)
        last: Contraction | None = None
        for s in sides:
            peak = self.peak_for(s) * float(1.0 + self.rep_cv * self._rng.standard_normal())
            last = Contraction(
                start_s=cue_s + self.reaction_s + float(self._rng.uniform(0.0, 0.1)),
                duration_s=duration_s,
                peak_n=peak,
                channel=self.channel_for_side.get(s, 0),
                tau_s=float(self._rng.uniform(0.10, 0.20)),
            )
            self.forces.add(last)
        assert last is not None
        return last
