"""The results-store interface: what history and exports need from an index of sessions.

A backend (:mod:`station.index.sqlite`, the clinic's PostgreSQL store) keeps, per session:

- one :class:`SessionRow` (who, when, which file, whether it is a marked baseline);
- one :class:`TestRow` per test (protocol, kind, status, symmetry);
- one :class:`SideRow` per test and side (best/mean/CV of the side's valid reps, normalised);
- one :class:`TrialRow` per trial result (and, for two-sided trials, per side).

A :class:`SessionRecord` bundles them; :meth:`ResultsStore.put_session` replaces every row of
that session atomically, so indexing a file twice gives the same index. Session ids are UUIDs
written by the station that recorded the file, unique across stations.

Units are SI with the unit in the name; dates are ISO 8601 UTC strings
(``2026-12-05T08:07:18.123+00:00``), which sort in time order as text.
Missing values are ``None`` (never NaN).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

#: Bump when a row gains, loses or changes a field; backends store it and refuse a newer one.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    patient_id: str
    started_utc: str            # the file's created_utc
    path: str                   # the session file, absolute, as indexed by this station
    status: str                 # complete | aborted | interrupted | recording
    station_version: str | None = None
    algorithm_version: str | None = None
    body_mass_kg: float | None = None
    involved_side: str | None = None   # left | right | none
    baseline: str | None = None        # set when marked as baseline: "pre-injury", "pre-operative", …
    closed_utc: str | None = None


@dataclass(frozen=True)
class TestRow:
    session_id: str
    test: str                   # the test's key in the file, e.g. "01_hip-abduction-hhd"
    protocol_id: str
    name: str
    kind: str                   # isometric | landing
    status: str
    symmetry_kind: str | None = None    # lsi | asymmetry
    lsi_pct: float | None = None        # involved / uninvolved × 100 (isometric, involved side known)
    asymmetry_pct: float | None = None  # signed asymmetry when no involved side / landings
    passed: bool | None = None


@dataclass(frozen=True)
class SideRow:
    session_id: str
    test: str
    side: str                   # left | right
    best_n: float | None
    mean_n: float | None = None
    cv_pct: float | None = None
    n_reps: int = 0
    best_n_per_kg: float | None = None
    best_torque_nm: float | None = None
    best_torque_nm_per_kg: float | None = None
    pain_max_0_10: int | None = None    # the highest pain rated on this side in this test


@dataclass(frozen=True)
class TrialRow:
    session_id: str
    test: str
    trial: str                  # the trial's key in the file, e.g. "003"
    side: str                   # left | right | both: a one-side trial gives one row; a two-sided
                                # isometric trial one row per side; a bilateral landing a "both"
                                # row (the plates summed, with asymmetry_pct) plus one per plate
    rep: int
    attempt: int
    status: str                 # complete | rejected | skipped | aborted | interrupted
    peak_force_n: float | None = None
    peak_force_n_per_kg: float | None = None
    peak_torque_nm: float | None = None
    peak_torque_nm_per_kg: float | None = None
    time_to_peak_s: float | None = None
    rfd_0_50_n_per_s: float | None = None
    rfd_0_100_n_per_s: float | None = None
    rfd_0_200_n_per_s: float | None = None
    impulse_0_200_n_s: float | None = None
    peak_force_bw: float | None = None
    loading_rate_bw_per_s: float | None = None
    time_to_stabilisation_s: float | None = None
    asymmetry_pct: float | None = None  # bilateral landing (side "both"): signed, + = right higher
    pain_0_10: int | None = None
    algorithm_version: str | None = None


@dataclass(frozen=True)
class SessionRecord:
    """Everything the index keeps about one session file."""

    session: SessionRow
    tests: tuple[TestRow, ...] = ()
    sides: tuple[SideRow, ...] = ()
    trials: tuple[TrialRow, ...] = field(default=())


@dataclass(frozen=True)
class HistoryRow:
    """One test side of one session, with what a trend needs from its session and test."""

    session_id: str
    started_utc: str
    baseline: str | None
    body_mass_kg: float | None
    involved_side: str | None
    test: str
    protocol_id: str
    kind: str
    side: str
    best_n: float | None
    best_n_per_kg: float | None
    best_torque_nm: float | None
    best_torque_nm_per_kg: float | None
    n_reps: int
    lsi_pct: float | None
    pain_max_0_10: int | None


@runtime_checkable
class ResultsStore(Protocol):
    """What every results backend offers. Implementations: ``SqliteStore``, ``PostgresStore``."""

    def put_session(self, record: SessionRecord) -> None:
        """Add a session, or replace every row of the session with the same id (atomic)."""

    def remove_session(self, session_id: str) -> None:
        """Forget a session (no error if unknown)."""

    def get_session(self, session_id: str) -> SessionRecord | None:
        """All rows of one session, tests/sides/trials in key order; None if unknown."""

    def sessions(self, patient_id: str | None = None) -> list[SessionRow]:
        """Sessions (of one patient, or all), oldest first."""

    def patients(self) -> list[str]:
        """Every patient id with at least one session, sorted."""

    def history(self, patient_id: str, protocol_id: str | None = None, side: str | None = None,
                ) -> list[HistoryRow]:
        """Per session, test and side of a patient's complete tests, oldest session first,
        then by test key and side. Filters: one protocol, one side."""

    def trials(self, patient_id: str, protocol_id: str | None = None, side: str | None = None,
               ) -> list[TrialRow]:
        """A patient's trial rows (every status), oldest session first, then test, trial, side."""

    def set_baseline(self, session_id: str, label: str | None) -> None:
        """Mark (label) or unmark (None) a session as the patient's baseline in the index.
        (The file is marked too, by :func:`station.index.baseline.mark_baseline`, so a rebuild keeps it.)"""

    def close(self) -> None:
        """Release connections."""


def sort_records(records: Sequence[SessionRecord]) -> list[SessionRecord]:
    """Records oldest first (ties by session id), the order ``sessions()`` returns."""
    return sorted(records, key=lambda r: (r.session.started_utc, r.session.session_id))
