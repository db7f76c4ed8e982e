"""How strong the simulated patient is in each test, so rehearsals show plausible numbers.

Typical isometric peak forces at the dynamometer pad of healthy adults (the uninvolved side
of the simulated patient; the involved side is ``involved_ratio`` of it):

=====================  ========  ===============================================================
test                   typical   literature range (adults, hand-held / belt-fixed dynamometer)
=====================  ========  ===============================================================
hip abduction          230 N     about 150-300 N at the lateral malleolus (Thorborg et al.,
                                 Scand J Med Sci Sports 2010;20:493-501: about 1.6-2.3 N·m/kg
                                 with a lever arm of about 0.8 m; Bohannon, Arch Phys Med Rehabil
                                 1997;78:26-32, reference values by age and sex)
knee extension         420 N     about 300-700 N at the shin pad, seated at 60-90° of knee flexion
                                 (Bohannon 1997, as above; Koblbauer et al., BMC Musculoskelet
                                 Disord 2011;12:249, belt-stabilised; Thorborg 2010: about
                                 2.5-3.5 N·m/kg with a lever arm of about 0.35 m)
=====================  ========  ===============================================================

``strength`` scales every test (1 = the typical adult above; 0.6 a frail older adult, 1.4 an
athlete). Landings are driven by body weight (about 3-4 × body weight for a 30 cm drop
landing), see the landing scenario's docs.
"""
from __future__ import annotations

from protocols.model import Protocol

#: typical uninvolved-side isometric peak force (N) by the joint/movement in a protocol id
TYPICAL_PEAK_N: dict[str, float] = {
    "knee-extension": 420.0,
    "hip-abduction": 230.0,
}
DEFAULT_PEAK_N = 230.0


def typical_peak_n(protocol: Protocol, strength: float = 1.0) -> float:
    """The simulated patient's uninvolved-side peak force (N) in ``protocol``."""
    for key, value in TYPICAL_PEAK_N.items():
        if key in protocol.id or key.replace("-", " ") in protocol.name.lower():
            return value * strength
    return DEFAULT_PEAK_N * strength
