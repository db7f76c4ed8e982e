"""Verification: compare a known check load with what the current calibration reads.

Tolerance (inclusive): ``|measured - reference| <= max(tolerance_pct/100 x |reference|,
tolerance_min_n)``, by default the larger of 0.5 % of the reference load and 1 N. The
percentage is taken of the reference (the reading a correct instrument would show), so
the limit does not move with the error being judged.

:class:`VerificationProcedure` drives a check: first a zero step (tare, nothing on the
sensor), then the check load at one or more positions. For a force plate the four cells'
forces are summed and the mass is placed at the centre and at each corner
(:meth:`VerificationProcedure.plate`); for one channel it is a single check load
(:meth:`VerificationProcedure.check_load`). All results of one run share one time stamp,
so a later pass at one position cannot hide a failure at another.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from calibration.apply import CalibrationSet
from calibration.errors import CalibrationError
from calibration.procedure import TareResult, as_multichannel_block, tare
from calibration.record import VERIFICATION_KINDS, CalibrationRecord, VerificationResult, utc_now
from calibration.stability import StabilityCriteria, StabilityResult, assess_stability
from calibration.units import STANDARD_GRAVITY_M_S2, loads_to_n, normalize_load_unit

#: Default tolerance, percent of the reference load.
DEFAULT_TOLERANCE_PCT: float = 0.5
#: Default floor of the tolerance, N.
DEFAULT_TOLERANCE_MIN_N: float = 1.0
#: Positions of a force-plate check, in the order they are asked for.
PLATE_POSITIONS: tuple[str, ...] = (
    "centre", "front-left corner", "front-right corner", "back-right corner", "back-left corner"
)

# Relative slack so a reading exactly on the limit is not failed by float rounding.
_BOUNDARY_RTOL = 1e-9


def verification_tolerance_n(
    reference_n: float,
    *,
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    tolerance_min_n: float = DEFAULT_TOLERANCE_MIN_N,
) -> float:
    """Allowed |error| in N for a check at ``reference_n`` N: max(pct % of |reference|, min_n)."""
    pct, floor = float(tolerance_pct), float(tolerance_min_n)
    if not (math.isfinite(pct) and math.isfinite(floor)) or pct < 0 or floor < 0 or (pct == 0 and floor == 0):
        raise CalibrationError(
            f"tolerance must be >= 0 and not all zero, got {tolerance_pct!r} % / {tolerance_min_n!r} N"
        )
    return max(abs(float(reference_n)) * pct / 100.0, floor)


def judge(
    reference_n: float,
    measured_n: float,
    *,
    at: datetime | None = None,
    kind: str = "check_load",
    position: str | None = None,
    operator: str = "",
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    tolerance_min_n: float = DEFAULT_TOLERANCE_MIN_N,
) -> VerificationResult:
    """A :class:`VerificationResult` for a measured force (N) against a reference (N)."""
    tolerance = verification_tolerance_n(reference_n, tolerance_pct=tolerance_pct, tolerance_min_n=tolerance_min_n)
    if not (math.isfinite(float(measured_n)) and math.isfinite(float(reference_n))):
        raise CalibrationError(
            f"verification needs finite forces, got reference {reference_n!r} N, measured {measured_n!r} N"
        )
    error = float(measured_n) - float(reference_n)
    passed = abs(error) <= tolerance * (1 + _BOUNDARY_RTOL)
    return VerificationResult(
        at=at or utc_now(),
        kind=kind,
        reference_n=float(reference_n),
        measured_n=float(measured_n),
        tolerance_n=tolerance,
        passed=passed,
        position=position,
        operator=operator,
    )


def verify_check_load(
    record: CalibrationRecord,
    counts: Any,
    reference_n: float,
    *,
    tare_offset_counts: float | None = None,
    at: datetime | None = None,
    operator: str = "",
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    tolerance_min_n: float = DEFAULT_TOLERANCE_MIN_N,
) -> VerificationResult:
    """Check one channel: ``counts`` (a reading or a block, averaged) under a known load ``reference_n`` N.

    ``tare_offset_counts`` is the zero taken just before (None: the calibration's zero).
    Append the result to the record with ``record.with_verification(result)`` and save it.
    """
    arr = np.asarray(counts, dtype=np.float64)
    if arr.size == 0:
        raise CalibrationError("verification needs at least one reading")
    measured = float(record.force_n(arr.mean(), offset_counts=tare_offset_counts))
    return judge(
        reference_n, measured, at=at, operator=operator, tolerance_pct=tolerance_pct, tolerance_min_n=tolerance_min_n
    )


def verify_plate(
    cell_records: Sequence[CalibrationRecord],
    readings_by_position: Mapping[str, Any],
    reference_n: float,
    *,
    tare_offsets_counts: Sequence[float | None] | None = None,
    at: datetime | None = None,
    operator: str = "",
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    tolerance_min_n: float = DEFAULT_TOLERANCE_MIN_N,
) -> VerificationReport:
    """Force-plate check: at each position the summed cell forces must read ``reference_n`` N.

    ``readings_by_position`` maps a position name (e.g. those of :data:`PLATE_POSITIONS`)
    to the cells' readings, counts, shape (cells,) or a block (n, cells) that is averaged.
    ``tare_offsets_counts``: zero per cell taken with the plate empty (None: calibration zeros).
    """
    calibrations = CalibrationSet(cell_records, tare_offsets_counts)
    if any(r is None for r in calibrations.records):
        raise CalibrationError("every cell must have a calibration to be verified")
    when = at or utc_now()
    results = []
    for position, counts in readings_by_position.items():
        arr = np.asarray(counts, dtype=np.float64)
        row = arr.mean(axis=0) if arr.ndim == 2 else arr
        measured = float(np.sum(calibrations.apply(row)))
        results.append(
            judge(reference_n, measured, at=when, kind="plate_position", position=position, operator=operator,
                  tolerance_pct=tolerance_pct, tolerance_min_n=tolerance_min_n)
        )
    return VerificationReport(results=tuple(results), tare_offsets_counts=calibrations.tare_offsets_counts)


@dataclass(frozen=True)
class VerificationStep:
    """One step of a verification. index/total: 0-based index and count. position: where the
    load goes (None for the zero step and a single check load). is_zero: the tare step.
    prompt: one line for the operator."""

    index: int
    total: int
    position: str | None
    is_zero: bool
    prompt: str


@dataclass(frozen=True)
class VerificationStepResult:
    """Outcome of :meth:`VerificationProcedure.submit`. accepted: reading settled and used.
    verification: the check result (None for the zero step or when not accepted)."""

    step: VerificationStep
    accepted: bool
    stability: tuple[StabilityResult, ...]
    verification: VerificationResult | None
    message: str


@dataclass(frozen=True)
class VerificationReport:
    """All results of one verification run. tare_offsets_counts: zero used per column."""

    results: tuple[VerificationResult, ...]
    tare_offsets_counts: tuple[float | None, ...]

    @property
    def passed(self) -> bool:
        """True when every position passed."""
        return bool(self.results) and all(r.passed for r in self.results)

    def apply_to(self, records: Sequence[CalibrationRecord]) -> list[CalibrationRecord]:
        """The records with every result of this run appended (save them to keep the evidence)."""
        updated = []
        for record in records:
            for result in self.results:
                record = record.with_verification(result)
            updated.append(record)
        return updated


class VerificationProcedure:
    """A check with a known load, driven like :class:`~calibration.MultiPointProcedure`.

    calibrations: the channels whose forces are summed (one column for a single channel,
    a plate's four cells for a plate). reference_load / unit: the check load ("kg" or "N").
    positions: where the load is placed, one check each (None: one unnamed check).
    tare_first: begin with a zero step whose readings become the zero of every column.
    """

    def __init__(
        self,
        calibrations: CalibrationSet,
        reference_load: float,
        *,
        unit: str = "kg",
        sample_rate_hz: float,
        stability: StabilityCriteria,
        positions: Sequence[str] | None = None,
        tare_first: bool = True,
        kind: str = "check_load",
        target: str = "the load cell",
        gravity_m_s2: float = STANDARD_GRAVITY_M_S2,
        operator: str = "",
        tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
        tolerance_min_n: float = DEFAULT_TOLERANCE_MIN_N,
    ) -> None:
        if not isinstance(calibrations, CalibrationSet):
            raise CalibrationError("calibrations must be a CalibrationSet")
        if any(r is None for r in calibrations.records):
            raise CalibrationError("every channel must have a calibration to be verified")
        self.calibrations = calibrations
        self.unit = normalize_load_unit(unit)
        self.reference_value = float(reference_load)
        self.reference_n = loads_to_n([reference_load], self.unit, gravity_m_s2)[0]
        if self.reference_n <= 0:
            raise CalibrationError("the check load must be > 0")
        self.sample_rate_hz = float(sample_rate_hz)
        self.stability = stability
        if kind not in VERIFICATION_KINDS:
            raise CalibrationError(f"kind must be one of {VERIFICATION_KINDS}, got {kind!r}")
        self.kind = kind
        self.target = target
        self.operator = operator
        self.tolerance_pct = tolerance_pct
        self.tolerance_min_n = tolerance_min_n
        verification_tolerance_n(self.reference_n, tolerance_pct=tolerance_pct, tolerance_min_n=tolerance_min_n)
        names: list[str | None] = list(positions) if positions else [None]
        load = f"{self.reference_value:g} {self.unit}"
        plan: list[tuple[str | None, bool, str]] = []
        if tare_first:
            plan.append((None, True, f"Remove all load from {target} and keep still"))
        for name in names:
            where = f" at the {name} of {target}" if name else f" on {target}"
            plan.append((name, False, f"Place {load}{where} and keep still"))
        total = len(plan)
        self.steps: tuple[VerificationStep, ...] = tuple(
            VerificationStep(i, total, name, is_zero, f"{text} (step {i + 1} of {total})")
            for i, (name, is_zero, text) in enumerate(plan)
        )
        self._index = 0
        self._tare: tuple[float | None, ...] = calibrations.tare_offsets_counts
        self._measured: list[tuple[str | None, float]] = []

    @classmethod
    def check_load(
        cls, record: CalibrationRecord, reference_load: float, **kwargs: Any
    ) -> VerificationProcedure:
        """A single-channel check: zero step, then ``reference_load`` on the sensor."""
        return cls(CalibrationSet([record]), reference_load, **kwargs)

    @classmethod
    def plate(
        cls,
        cell_records: Sequence[CalibrationRecord],
        reference_load: float,
        *,
        positions: Sequence[str] = PLATE_POSITIONS,
        **kwargs: Any,
    ) -> VerificationProcedure:
        """A force-plate check: the sum of the cells (4 usually) must read the load at each position."""
        kwargs.setdefault("target", "the plate")
        return cls(
            CalibrationSet(cell_records), reference_load, positions=positions, kind="plate_position", **kwargs
        )

    @property
    def done(self) -> bool:
        """True when every step has an accepted reading."""
        return self._index >= len(self.steps)

    def next_step(self) -> VerificationStep | None:
        """The step awaiting a reading, or None when finished."""
        return None if self.done else self.steps[self._index]

    def submit(self, counts_block: Any) -> VerificationStepResult:
        """Offer readings (counts, (n,) or (n, channels)) for the current step."""
        step = self.next_step()
        if step is None:
            raise CalibrationError("the verification is finished; call report()")
        arr = as_multichannel_block(counts_block)
        if arr.shape[1] != self.calibrations.n_channels:
            raise CalibrationError(f"expected {self.calibrations.n_channels} columns, got {arr.shape[1]}")
        if step.is_zero:
            zero: TareResult = tare(arr, self.sample_rate_hz, self.stability)
            if not zero.settled:
                return VerificationStepResult(step, False, zero.stability, None, zero.reason)
            self._tare = zero.offset_counts
            self._index += 1
            return VerificationStepResult(step, True, zero.stability, None, "zero taken")
        stability = tuple(assess_stability(arr[:, i], self.sample_rate_hz, self.stability) for i in range(arr.shape[1]))
        unsettled = [s for s in stability if not s.settled]
        if unsettled:
            return VerificationStepResult(step, False, stability, None, unsettled[0].reason)
        means = np.array([s.mean_counts for s in stability])
        measured = float(np.sum(self.calibrations.with_tare(self._tare).apply(means)))
        self._measured.append((step.position, measured))
        self._index += 1
        preview = judge(self.reference_n, measured, kind=self.kind, position=step.position,
                        tolerance_pct=self.tolerance_pct, tolerance_min_n=self.tolerance_min_n)
        return VerificationStepResult(step, True, stability, preview, preview.describe())

    def report(self, at: datetime | None = None) -> VerificationReport:
        """All results, stamped with one time ``at`` (default now, UTC)."""
        if not self.done:
            raise CalibrationError("the verification is not finished")
        when = at or utc_now()
        results = tuple(
            judge(self.reference_n, measured, at=when, kind=self.kind, position=position, operator=self.operator,
                  tolerance_pct=self.tolerance_pct, tolerance_min_n=self.tolerance_min_n)
            for position, measured in self._measured
        )
        return VerificationReport(results=results, tare_offsets_counts=tuple(self._tare))
