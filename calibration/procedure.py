"""Calibration procedures as small state machines a CLI, GUI or test can drive.

* :func:`tare` — zero offset(s) from a quiet window; :class:`TareLog` logs every tare
  and the drift since the previous one.
* :class:`MultiPointProcedure` — the multi-point calibration of one channel::

      proc = MultiPointProcedure("SFP-0042", 2, [0, 5, 10, 20, 40], unit="kg",
                                 sample_rate_hz=1000, stability=criteria)
      while (step := proc.next_step()) is not None:
          input(step.prompt)                       # operator places the load
          result = proc.submit(read_block(3.0))   # counts, shape (n,)
          print(result.message)                    # accepted, or "not settled: ..." (same step again)
      record = proc.fit(operator="A. Physio")

  Steps go up from zero to the largest load (loading), then back down to zero
  (unloading), ``cycles`` times.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from calibration.errors import CalibrationError
from calibration.fitting import MIN_DISTINCT_LOADS, fit_calibration
from calibration.record import DEFAULT_EXPIRY_MONTHS, CalibrationPoint, CalibrationRecord, utc_now
from calibration.stability import StabilityCriteria, StabilityResult, as_channel_block, assess_stability
from calibration.units import STANDARD_GRAVITY_M_S2, check_gravity, loads_to_n, normalize_load_unit

# --------------------------------------------------------------------------------------
# Tare
# --------------------------------------------------------------------------------------


def as_multichannel_block(block: Any) -> np.ndarray:
    """``block`` as a 2-D float64 array (n, channels); a 1-D block is one channel."""
    arr = np.asarray(block, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise CalibrationError(f"counts block must have shape (n,) or (n, channels), got {arr.shape}")
    return arr


@dataclass(frozen=True)
class TareResult:
    """Zero offsets from a quiet window. offset_counts: one per channel, counts (mean of the
    settled window). stability: the per-channel stability results."""

    offset_counts: tuple[float, ...]
    stability: tuple[StabilityResult, ...]

    @property
    def settled(self) -> bool:
        """True when every channel settled (only then use the offsets)."""
        return all(s.settled for s in self.stability)

    @property
    def reason(self) -> str:
        """Empty when settled, else the first channel's one-line reason."""
        for i, s in enumerate(self.stability):
            if not s.settled:
                return f"column {i}: {s.reason}" if len(self.stability) > 1 else s.reason
        return ""


def tare(counts_block: Any, sample_rate_hz: float, criteria: StabilityCriteria) -> TareResult:
    """Zero offset per channel from ``counts_block`` ((n,) or (n, channels), counts) of an unloaded sensor."""
    arr = as_multichannel_block(counts_block)
    results = tuple(assess_stability(arr[:, i], sample_rate_hz, criteria) for i in range(arr.shape[1]))
    return TareResult(offset_counts=tuple(r.mean_counts for r in results), stability=results)


@dataclass(frozen=True)
class TareEntry:
    """One logged tare. at: when. offset_counts: new zero, counts. drift_counts / drift_n:
    change since the previous tare (or the calibration zero for the first one, when known),
    counts and N (N = drift_counts x gain at zero). sd_counts: noise of the tare window."""

    at: datetime
    offset_counts: float
    drift_counts: float | None
    drift_n: float | None
    sd_counts: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for a session file."""
        return {
            "at": self.at.astimezone(timezone.utc).isoformat(),
            "offset_counts": self.offset_counts,
            "drift_counts": self.drift_counts,
            "drift_n": self.drift_n,
            "sd_counts": self.sd_counts,
        }


class TareLog:
    """Every tare of one channel, with the drift between consecutive tares.

    gain_n_per_count converts drift to N. reference_offset_counts (optional): the
    calibration's zero, against which the first tare's drift is reported.
    """

    def __init__(
        self,
        device_serial: str,
        channel: int,
        gain_n_per_count: float,
        reference_offset_counts: float | None = None,
    ) -> None:
        if not math.isfinite(float(gain_n_per_count)):
            raise CalibrationError(f"gain_n_per_count must be finite, got {gain_n_per_count!r}")
        self.device_serial = device_serial
        self.channel = int(channel)
        self.gain_n_per_count = float(gain_n_per_count)
        self.reference_offset_counts = None if reference_offset_counts is None else float(reference_offset_counts)
        self._entries: list[TareEntry] = []

    @classmethod
    def for_record(cls, record: CalibrationRecord) -> TareLog:
        """A log using the record's gain, with drift of the first tare against its zero."""
        return cls(record.device_serial, record.channel, record.gain_n_per_count, record.offset_counts)

    def add(self, offset_counts: float, at: datetime | None = None, sd_counts: float | None = None) -> TareEntry:
        """Log a tare (offset in counts) taken at ``at`` (default now, UTC); returns the entry."""
        offset = float(offset_counts)
        if not math.isfinite(offset):
            raise CalibrationError(f"tare offset must be finite, got {offset_counts!r}")
        previous = self._entries[-1].offset_counts if self._entries else self.reference_offset_counts
        drift = None if previous is None else offset - previous
        entry = TareEntry(
            at=at or utc_now(),
            offset_counts=offset,
            drift_counts=drift,
            drift_n=None if drift is None else drift * self.gain_n_per_count,
            sd_counts=None if sd_counts is None else float(sd_counts),
        )
        self._entries.append(entry)
        return entry

    @property
    def entries(self) -> tuple[TareEntry, ...]:
        """All tares, oldest first."""
        return tuple(self._entries)

    @property
    def latest(self) -> TareEntry | None:
        """The last tare, or None."""
        return self._entries[-1] if self._entries else None

    def to_list(self) -> list[dict[str, Any]]:
        """All entries as JSON-ready dicts."""
        return [e.to_dict() for e in self._entries]


# --------------------------------------------------------------------------------------
# Multi-point calibration
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcedureStep:
    """One step to perform. index: 0-based; total: number of steps. load_n: reference load, N;
    load_value / load_unit: the same as entered (e.g. 10, "kg"). direction: "loading" or
    "unloading". cycle: 1-based. prompt: one line to show the operator."""

    index: int
    total: int
    load_n: float
    load_value: float
    load_unit: str
    direction: str
    cycle: int
    prompt: str


@dataclass(frozen=True)
class StepResult:
    """Outcome of :meth:`MultiPointProcedure.submit`. accepted: the reading was settled and
    stored (the procedure moved on). stability: the details. message: one line for the operator."""

    step: ProcedureStep
    accepted: bool
    stability: StabilityResult
    message: str


def _fmt_load(value: float, unit: str) -> str:
    return f"{value:g} {unit}"


class MultiPointProcedure:
    """Multi-point calibration of one channel (see module docstring for the loop).

    loads: reference loads in ``unit`` ("kg" masses or "N" forces), any order, duplicates
    ignored; zero is added when missing and ``include_zero``; at least 5 distinct loads.
    sample_rate_hz: rate of the blocks passed to :meth:`submit`. stability: settle criteria.
    cycles: number of loading(/unloading) runs (2+ gives repeatability). unloading: also step
    back down (gives hysteresis). gravity_m_s2: g for kg loads. target: what the operator
    loads, used in prompts ("the load cell", "the plate").
    """

    def __init__(
        self,
        device_serial: str,
        channel: int,
        loads: Sequence[float],
        *,
        unit: str = "kg",
        sample_rate_hz: float,
        stability: StabilityCriteria,
        cycles: int = 1,
        unloading: bool = True,
        include_zero: bool = True,
        gravity_m_s2: float = STANDARD_GRAVITY_M_S2,
        target: str = "the load cell",
        min_distinct_loads: int = MIN_DISTINCT_LOADS,
    ) -> None:
        self.device_serial = device_serial
        self.channel = int(channel)
        self.unit = normalize_load_unit(unit)
        self.gravity_m_s2 = check_gravity(gravity_m_s2)
        self.sample_rate_hz = float(sample_rate_hz)
        if not math.isfinite(self.sample_rate_hz) or self.sample_rate_hz <= 0:
            raise CalibrationError(f"sample_rate_hz must be > 0, got {sample_rate_hz!r}")
        if not isinstance(stability, StabilityCriteria):
            raise CalibrationError("stability must be a StabilityCriteria")
        self.stability = stability
        if isinstance(cycles, bool) or int(cycles) < 1:
            raise CalibrationError(f"cycles must be >= 1, got {cycles!r}")
        loads_to_n(loads, self.unit, self.gravity_m_s2)  # validates: finite, >= 0
        values = sorted({float(v) for v in loads})
        if include_zero and (not values or values[0] != 0.0):
            values.insert(0, 0.0)
        if len(values) < min_distinct_loads:
            raise CalibrationError(
                f"calibration needs at least {min_distinct_loads} different loads (zero included), "
                f"got {len(values)}: {', '.join(_fmt_load(v, self.unit) for v in values)}"
            )
        self.load_values: tuple[float, ...] = tuple(values)
        self.target = target
        plan: list[tuple[float, str, int]] = []
        for cycle in range(1, int(cycles) + 1):
            plan += [(v, "loading", cycle) for v in values]
            if unloading:
                plan += [(v, "unloading", cycle) for v in reversed(values[:-1])]
        total = len(plan)
        self.steps: tuple[ProcedureStep, ...] = tuple(
            ProcedureStep(
                index=i,
                total=total,
                load_n=loads_to_n([v], self.unit, self.gravity_m_s2)[0],
                load_value=v,
                load_unit=self.unit,
                direction=direction,
                cycle=cycle,
                prompt=self._prompt(i, total, v, direction, cycle, int(cycles)),
            )
            for i, (v, direction, cycle) in enumerate(plan)
        )
        self._points: list[CalibrationPoint] = []

    def _prompt(self, i: int, total: int, value: float, direction: str, cycle: int, cycles: int) -> str:
        if value == 0:
            action = f"Remove all load from {self.target}"
        elif direction == "loading":
            action = f"Place a total of {_fmt_load(value, self.unit)} on {self.target}"
        else:
            action = f"Reduce the load on {self.target} to a total of {_fmt_load(value, self.unit)}"
        run = f", cycle {cycle} of {cycles}" if cycles > 1 else ""
        return f"{action}, keep still (step {i + 1} of {total}, {direction}{run})"

    # -- driving ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True when every step has an accepted reading."""
        return len(self._points) == len(self.steps)

    @property
    def points(self) -> tuple[CalibrationPoint, ...]:
        """Accepted readings so far."""
        return tuple(self._points)

    def next_step(self) -> ProcedureStep | None:
        """The step awaiting a reading, or None when all steps are done."""
        return None if self.done else self.steps[len(self._points)]

    def submit(self, counts_block: Any) -> StepResult:
        """Offer a block of readings (counts, shape (n,)) for the current step.

        Accepted (and the procedure moves on) only if the block's last window settled;
        otherwise the same step stays current and ``message`` says why.
        """
        step = self.next_step()
        if step is None:
            raise CalibrationError("all calibration steps are done; call fit()")
        stability = assess_stability(as_channel_block(counts_block), self.sample_rate_hz, self.stability)
        if not stability.settled:
            return StepResult(step, False, stability, stability.reason)
        self._points.append(
            CalibrationPoint(
                load_n=step.load_n,
                direction=step.direction,
                cycle=step.cycle,
                mean_counts=stability.mean_counts,
                sd_counts=stability.sd_counts,
                slope_counts_per_s=stability.slope_counts_per_s,
                n_samples=stability.n_samples,
            )
        )
        message = (
            f"accepted {_fmt_load(step.load_value, step.load_unit)}: {stability.mean_counts:.6g} counts "
            f"(SD {stability.sd_counts:.3g}, drift {stability.slope_counts_per_s:+.3g}/s)"
        )
        return StepResult(step, True, stability, message)

    def retake_previous(self) -> ProcedureStep | None:
        """Discard the last accepted reading (operator error) and return that step again."""
        if self._points:
            self._points.pop()
        return self.next_step()

    def fit(
        self,
        *,
        operator: str,
        calibrated_at: datetime | None = None,
        expiry_months: int = DEFAULT_EXPIRY_MONTHS,
        temperature_c: float | None = None,
        max_order: int = 2,
        notes: str = "",
        **fit_options: Any,
    ) -> CalibrationRecord:
        """Fit the model and return the :class:`CalibrationRecord` (see :func:`fit_calibration`)."""
        if not self.done:
            raise CalibrationError(
                f"calibration is not finished: {len(self._points)} of {len(self.steps)} steps have readings"
            )
        return fit_calibration(
            self._points,
            device_serial=self.device_serial,
            channel=self.channel,
            operator=operator,
            calibrated_at=calibrated_at,
            expiry_months=expiry_months,
            temperature_c=temperature_c,
            gravity_m_s2=self.gravity_m_s2,
            load_unit=self.unit,
            max_order=max_order,
            notes=notes,
            **fit_options,
        )
