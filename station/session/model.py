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


@dataclass
class SideSummary:
    side: str
    best_n: float | None
    mean_n: float | None
    cv_pct: float | None
    reps: int
    flagged: list[int]


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
