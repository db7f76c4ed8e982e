"""The simulated patient: pushes when cued, with a strength per side and some variability."""
from __future__ import annotations

import numpy as np

from simulation.forces import Contraction, ScheduledForces


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
