"""Force Station analysis core: pure, vectorised metrics for isometric and landing trials.

NumPy arrays in, frozen dataclass results out, no I/O. Every result carries the
``ALGORITHM_VERSION``, its parameters and notes explaining any unavailable value; ``to_dict()``
gives JSON-ready SI values. Definitions and literature: ``docs/metrics.md``.
"""
from __future__ import annotations

from station.analysis.filters import lowpass
from station.analysis.isometric import IsometricParams, IsometricResult, analyze_isometric
from station.analysis.landing import (
    DualLandingResult,
    LandingParams,
    LandingResult,
    analyze_dual_landing,
    analyze_landing,
)
from station.analysis.reps import RepSummary, summarize_reps
from station.analysis.results import ALGORITHM_VERSION
from station.analysis.symmetry import (
    AsymmetryResult,
    SymmetryResult,
    asymmetry_index,
    limb_symmetry_index,
    relative_to_baseline,
)

__all__ = [
    "ALGORITHM_VERSION",
    "AsymmetryResult",
    "DualLandingResult",
    "IsometricParams",
    "IsometricResult",
    "LandingParams",
    "LandingResult",
    "RepSummary",
    "SymmetryResult",
    "analyze_dual_landing",
    "analyze_isometric",
    "analyze_landing",
    "asymmetry_index",
    "limb_symmetry_index",
    "lowpass",
    "relative_to_baseline",
    "summarize_reps",
]
