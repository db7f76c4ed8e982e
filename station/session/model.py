"""Plain records of a session: the patient, each trial's outcome, each test's summary."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

InvolvedSide = Literal["left", "right", "none"]


@dataclass(frozen=True)
class Patient:
    """Pseudonymous patient record. Body mass in kg, height in m."""

    patient_id: str
    body_mass_kg: float | None = None
    height_m: float | None = None
    involved_side: InvolvedSide = "none"
    lever_arm_m: float | None = None  # measured for this patient, overrides the protocol's

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class TrialOutcome:
    """One recorded (or skipped) trial and its analysed results."""

    test: str
    trial: str
    side: str
    rep: int
    attempt: int
    status: str  # complete | aborted | interrupted | skipped | rejected
    peak_force_n: float | None = None
    results: dict[str, Any] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    pain_0_10: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def side_peaks_attrs(self) -> dict[str, float | None]:
        """Each side's own peak (N) of a trial measuring both sides, labelled by side:
        ``peak_force_left_n`` / ``peak_force_right_n`` (per plate for a two-plate landing,
        per cell for a bilateral frame). Empty for a one-side trial."""
        if self.side != "both":
            return {}
        per = self.results.get("per_side") or {s: self.results.get(s) for s in ("left", "right")}
        return {f"peak_force_{s}_n": (per.get(s) or {}).get("peak_force_n") for s in ("left", "right")}


@dataclass
class SideSummary:
    side: str
    best_n: float | None
    mean_n: float | None
    cv_pct: float | None
    reps: int            # reps recorded to their end or not (skipped and rejected excluded)
    flagged: list[int]   # among the valid reps: more than max_drop_pct below the best
    valid_reps: int = 0  # reps whose analysis found a rise / a landing: the only ones counted
    clinical: dict[str, float] = field(default_factory=dict)  # best rep in N/kg, N·m, N·m/kg, × BW


@dataclass
class TestSummary:
    """Per-test result: per-side summaries and the symmetry verdict."""

    test: str
    protocol_id: str
    name: str
    kind: str
    sides: dict[str, SideSummary] = field(default_factory=dict)
    symmetry: dict[str, Any] = field(default_factory=dict)
    trials: list[TrialOutcome] = field(default_factory=list)
    status: str = "complete"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("trials")
        return d
