"""The calibration record of one channel of one device, and its JSON form.

A record holds the model that turns raw readings (ADC counts; newtons for a device that
reports newtons) into force in newtons, the evidence behind it (reference loads, readings,
residuals, non-linearity, hysteresis, repeatability), who made it and when, when it
expires, and the check-load verifications done since. Records are immutable; use
:meth:`CalibrationRecord.with_verification` to get an updated copy.

The model (see ``docs/calibration.md``)::

    x       = counts - offset_counts            (counts; offset_counts = reading at zero load)
    force_n = c1*x + c2*x**2 + ... + ck*x**k    (c = coefficients_n_per_count_k, N/count**k)

so ``force_n == 0`` at ``offset_counts``. A tare replaces ``offset_counts`` at run time.
"""
from __future__ import annotations

import calendar
import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from calibration.errors import CalibrationError
from calibration.units import STANDARD_GRAVITY_M_S2, check_gravity, normalize_load_unit

#: Version of the record file format this code writes; files with a higher one are refused.
FORMAT_VERSION: int = 1
#: ``kind`` field of a record file.
RECORD_KIND: str = "force-station-calibration"
#: ``kind`` field of a session snapshot (see :func:`snapshot`).
SNAPSHOT_KIND: str = "force-station-calibration-snapshot"
#: Default validity of a calibration, in calendar months.
DEFAULT_EXPIRY_MONTHS: int = 12

#: Model name for each polynomial order (``identity`` is order 1 with gain 1, offset 0).
MODEL_ORDERS: dict[str, int] = {"identity": 1, "linear": 1, "quadratic": 2, "cubic": 3}
SOURCES: tuple[str, ...] = ("multipoint", "factory")
DIRECTIONS: tuple[str, ...] = ("loading", "unloading")
VERIFICATION_KINDS: tuple[str, ...] = ("check_load", "plate_position")


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(timezone.utc)


def add_months(when: datetime, months: int) -> datetime:
    """``when`` moved by whole calendar months; the day is clamped (31 Jan + 1 month = 28/29 Feb)."""
    index = when.month - 1 + int(months)
    year, month = when.year + index // 12, index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise CalibrationError(f"field '{name}' must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalibrationError(f"field '{name}' must be timezone-aware (e.g. UTC), got naive {value.isoformat()}")
    return value


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CalibrationError(f"field '{name}' must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise CalibrationError(f"field '{name}' must be finite, got {value!r}")
    return v


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat()


# --------------------------------------------------------------------------------------
# Parts of a record
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationPoint:
    """One accepted reading of the multi-point procedure.

    load_n: reference load applied, N. direction: "loading" or "unloading".
    cycle: 1-based loading/unloading cycle. mean_counts / sd_counts: mean and detrended
    standard deviation of the settled window, counts. slope_counts_per_s: drift in the
    window. n_samples: samples averaged. residual_n: reference minus fitted force, N
    (filled in by the fit).
    """

    load_n: float
    direction: str
    cycle: int
    mean_counts: float
    sd_counts: float = 0.0
    slope_counts_per_s: float = 0.0
    n_samples: int = 1
    residual_n: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "load_n", _finite(self.load_n, "load_n"))
        object.__setattr__(self, "mean_counts", _finite(self.mean_counts, "mean_counts"))
        object.__setattr__(self, "sd_counts", _finite(self.sd_counts, "sd_counts"))
        object.__setattr__(self, "slope_counts_per_s", _finite(self.slope_counts_per_s, "slope_counts_per_s"))
        if self.residual_n is not None:
            object.__setattr__(self, "residual_n", _finite(self.residual_n, "residual_n"))
        if self.direction not in DIRECTIONS:
            raise CalibrationError(f"field 'direction' must be one of {DIRECTIONS}, got {self.direction!r}")
        if isinstance(self.cycle, bool) or not isinstance(self.cycle, int) or self.cycle < 1:
            raise CalibrationError(f"field 'cycle' must be an integer >= 1, got {self.cycle!r}")
        if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, int) or self.n_samples < 1:
            raise CalibrationError(f"field 'n_samples' must be an integer >= 1, got {self.n_samples!r}")
        if self.load_n < 0:
            raise CalibrationError(f"field 'load_n' must be >= 0 N, got {self.load_n!r}")
        if self.sd_counts < 0:
            raise CalibrationError(f"field 'sd_counts' must be >= 0, got {self.sd_counts!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (keys as in the record file)."""
        return {
            "load_n": self.load_n,
            "direction": self.direction,
            "cycle": self.cycle,
            "mean_counts": self.mean_counts,
            "sd_counts": self.sd_counts,
            "slope_counts_per_s": self.slope_counts_per_s,
            "n_samples": self.n_samples,
            "residual_n": self.residual_n,
        }


@dataclass(frozen=True)
class CalibrationFigures:
    """Quality figures of a multi-point calibration (definitions in docs/calibration.md).

    full_scale_n: calibrated span (largest minus smallest reference load), N.
    full_scale_counts: loading output over that span, counts (absolute value).
    nonlinearity_pct_fs: terminal (end-point) non-linearity of the loading curve, % FS.
    nonlinearity_bfsl_pct_fs: the same against the least-squares straight line, % FS.
    hysteresis_pct_fs: max |unloading - loading| at the same load, % FS (None without unloading).
    repeatability_pct_fs: max spread of repeated readings at the same load and direction
    over cycles, % FS (None with one cycle).
    residual_rms_n / residual_max_n: RMS and max |reference - fitted| force, N;
    residual_max_pct_fs: the latter in % FS.
    f_test_p: p-value of the F-test for the last higher order tried (None if none tried).
    model_choice: one sentence saying why this model order was chosen.
    """

    full_scale_n: float
    full_scale_counts: float
    nonlinearity_pct_fs: float
    nonlinearity_bfsl_pct_fs: float
    hysteresis_pct_fs: float | None
    repeatability_pct_fs: float | None
    residual_rms_n: float
    residual_max_n: float
    residual_max_pct_fs: float
    f_test_p: float | None = None
    model_choice: str = ""

    def __post_init__(self) -> None:
        for name in (
            "full_scale_n",
            "full_scale_counts",
            "nonlinearity_pct_fs",
            "nonlinearity_bfsl_pct_fs",
            "residual_rms_n",
            "residual_max_n",
            "residual_max_pct_fs",
        ):
            object.__setattr__(self, name, _finite(getattr(self, name), name))
        for name in ("hysteresis_pct_fs", "repeatability_pct_fs", "f_test_p"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _finite(getattr(self, name), name))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (keys as in the record file)."""
        return {
            "full_scale_n": self.full_scale_n,
            "full_scale_counts": self.full_scale_counts,
            "nonlinearity_pct_fs": self.nonlinearity_pct_fs,
            "nonlinearity_bfsl_pct_fs": self.nonlinearity_bfsl_pct_fs,
            "hysteresis_pct_fs": self.hysteresis_pct_fs,
            "repeatability_pct_fs": self.repeatability_pct_fs,
            "residual_rms_n": self.residual_rms_n,
            "residual_max_n": self.residual_max_n,
            "residual_max_pct_fs": self.residual_max_pct_fs,
            "f_test_p": self.f_test_p,
            "model_choice": self.model_choice,
        }


@dataclass(frozen=True)
class VerificationResult:
    """One check of a calibration against a known load.

    at: when (timezone-aware). kind: "check_load" (one channel) or "plate_position"
    (sum of a plate's cells, ``position`` says where the mass stood). reference_n: the
    known load, N. measured_n: what the calibration read, N. tolerance_n: allowed
    |measured - reference|, N. passed: |error| <= tolerance. operator: who checked.
    """

    at: datetime
    kind: str
    reference_n: float
    measured_n: float
    tolerance_n: float
    passed: bool
    position: str | None = None
    operator: str = ""

    def __post_init__(self) -> None:
        _aware(self.at, "at")
        if self.kind not in VERIFICATION_KINDS:
            raise CalibrationError(f"field 'kind' must be one of {VERIFICATION_KINDS}, got {self.kind!r}")
        for name in ("reference_n", "measured_n", "tolerance_n"):
            object.__setattr__(self, name, _finite(getattr(self, name), name))
        if not isinstance(self.passed, bool):
            raise CalibrationError(f"field 'passed' must be true or false, got {self.passed!r}")

    @property
    def error_n(self) -> float:
        """measured minus reference, N."""
        return self.measured_n - self.reference_n

    def describe(self) -> str:
        """One line, e.g. ``check load 196.13 N: read 196.50 N, error +0.37 N (tolerance 1.00 N) PASS``."""
        where = f" at {self.position}" if self.position else ""
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{self.kind.replace('_', ' ')}{where} {self.reference_n:.2f} N: read {self.measured_n:.2f} N, "
            f"error {self.error_n:+.2f} N (tolerance {self.tolerance_n:.2f} N) {verdict}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``error_n`` is written for readers and ignored when loading."""
        return {
            "at": _iso(self.at),
            "kind": self.kind,
            "position": self.position,
            "reference_n": self.reference_n,
            "measured_n": self.measured_n,
            "error_n": self.error_n,
            "tolerance_n": self.tolerance_n,
            "passed": self.passed,
            "operator": self.operator,
        }


# --------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalibrationRecord:
    """Calibration of one channel of one device (see module docstring for the model).

    device_serial: the device's serial number. channel: channel index as the driver numbers it.
    model: "linear", "quadratic", "cubic" or "identity" (device reports N, factory calibrated).
    offset_counts: reading at zero load, counts. coefficients_n_per_count_k: c1..ck of the
    model, N/count**k (c1 is the gain, N/count). calibrated_at / expires_at: timezone-aware.
    operator: who calibrated. source: "multipoint" (fitted here) or "factory".
    record_id: unique id of this calibration (kept by verifications, new on recalibration).
    gravity_m_s2: g used to turn kg into N. load_unit: unit the loads were entered in.
    temperature_c: device temperature during calibration, °C, if reported.
    points / figures: the evidence (empty / None for a factory record).
    verifications: check-load results since calibration, oldest first. notes: free text.
    """

    device_serial: str
    channel: int
    model: str
    offset_counts: float
    coefficients_n_per_count_k: tuple[float, ...]
    calibrated_at: datetime
    expires_at: datetime
    operator: str
    source: str = "multipoint"
    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    gravity_m_s2: float = STANDARD_GRAVITY_M_S2
    load_unit: str = "N"
    temperature_c: float | None = None
    points: tuple[CalibrationPoint, ...] = ()
    figures: CalibrationFigures | None = None
    verifications: tuple[VerificationResult, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.device_serial, str) or not self.device_serial.strip():
            raise CalibrationError(f"field 'device_serial' must be a non-empty string, got {self.device_serial!r}")
        if any(ch in self.device_serial for ch in "\r\n\t"):
            raise CalibrationError("field 'device_serial' must not contain control characters")
        if isinstance(self.channel, bool) or not isinstance(self.channel, (int, np.integer)) or self.channel < 0:
            raise CalibrationError(f"field 'channel' must be an integer >= 0, got {self.channel!r}")
        object.__setattr__(self, "channel", int(self.channel))
        if self.model not in MODEL_ORDERS:
            raise CalibrationError(f"field 'model' must be one of {tuple(MODEL_ORDERS)}, got {self.model!r}")
        if self.source not in SOURCES:
            raise CalibrationError(f"field 'source' must be one of {SOURCES}, got {self.source!r}")
        object.__setattr__(self, "offset_counts", _finite(self.offset_counts, "offset_counts"))
        coefficients = tuple(
            _finite(c, f"coefficients_n_per_count_k[{i}]") for i, c in enumerate(self.coefficients_n_per_count_k)
        )
        object.__setattr__(self, "coefficients_n_per_count_k", coefficients)
        order = MODEL_ORDERS[self.model]
        if len(coefficients) != order:
            raise CalibrationError(
                f"field 'coefficients_n_per_count_k' must have {order} value(s) for model {self.model!r}, "
                f"got {len(coefficients)}"
            )
        if coefficients[0] == 0.0:
            raise CalibrationError("field 'coefficients_n_per_count_k[0]' (gain) must not be zero")
        if self.model == "identity" and (coefficients != (1.0,) or self.offset_counts != 0.0):
            raise CalibrationError("model 'identity' needs offset_counts 0 and coefficients_n_per_count_k [1.0]")
        _aware(self.calibrated_at, "calibrated_at")
        _aware(self.expires_at, "expires_at")
        if self.expires_at <= self.calibrated_at:
            raise CalibrationError("field 'expires_at' must be later than 'calibrated_at'")
        if not isinstance(self.operator, str):
            raise CalibrationError(f"field 'operator' must be a string, got {self.operator!r}")
        if not isinstance(self.record_id, str) or not self.record_id:
            raise CalibrationError(f"field 'record_id' must be a non-empty string, got {self.record_id!r}")
        object.__setattr__(self, "gravity_m_s2", check_gravity(self.gravity_m_s2))
        object.__setattr__(self, "load_unit", normalize_load_unit(self.load_unit))
        if self.temperature_c is not None:
            object.__setattr__(self, "temperature_c", _finite(self.temperature_c, "temperature_c"))
        object.__setattr__(self, "points", tuple(self.points))
        object.__setattr__(self, "verifications", tuple(self.verifications))
        for i, p in enumerate(self.points):
            if not isinstance(p, CalibrationPoint):
                raise CalibrationError(f"field 'points[{i}]' must be a CalibrationPoint")
        for i, v in enumerate(self.verifications):
            if not isinstance(v, VerificationResult):
                raise CalibrationError(f"field 'verifications[{i}]' must be a VerificationResult")
        if self.figures is not None and not isinstance(self.figures, CalibrationFigures):
            raise CalibrationError("field 'figures' must be CalibrationFigures or None")
        if not isinstance(self.notes, str):
            raise CalibrationError(f"field 'notes' must be a string, got {self.notes!r}")

    # -- derived ---------------------------------------------------------------------

    @property
    def order(self) -> int:
        """Polynomial order of the model (1 for linear and identity)."""
        return len(self.coefficients_n_per_count_k)

    @property
    def gain_n_per_count(self) -> float:
        """Sensitivity at zero load, N/count (the whole model when linear)."""
        return self.coefficients_n_per_count_k[0]

    @property
    def is_linear(self) -> bool:
        """True for linear and identity models (the multiply-add fast path)."""
        return self.order == 1

    @property
    def latest_verification(self) -> VerificationResult | None:
        """The most recent verification, or None."""
        if not self.verifications:
            return None
        return max(self.verifications, key=lambda v: v.at)

    def force_n(self, counts: Any, offset_counts: float | None = None) -> np.ndarray:
        """Force in N for readings ``counts`` (any shape); ``offset_counts`` replaces the zero (a tare)."""
        from calibration.fitting import evaluate_polynomial  # local: fitting imports this module

        zero = self.offset_counts if offset_counts is None else float(offset_counts)
        x = np.asarray(counts, dtype=np.float64) - zero
        return evaluate_polynomial(x, self.coefficients_n_per_count_k)

    def with_verification(self, result: VerificationResult) -> CalibrationRecord:
        """A copy with ``result`` appended to ``verifications`` (same record_id)."""
        if not isinstance(result, VerificationResult):
            raise CalibrationError("with_verification needs a VerificationResult")
        return replace(self, verifications=(*self.verifications, result))

    def describe(self) -> str:
        """One line for listings, e.g. ``SFP-0042 ch2: linear, gain 0.001234 N/count, ... expires 2026-05-01``."""
        verification = self.latest_verification
        last = f", last check {'PASS' if verification.passed else 'FAIL'}" if verification else ""
        return (
            f"{self.device_serial} ch{self.channel}: {self.model} ({self.source}), "
            f"gain {self.gain_n_per_count:.6g} N/count, "
            f"zero {self.offset_counts:.6g} counts, calibrated {self.calibrated_at.date().isoformat()} by "
            f"{self.operator or '?'}, expires {self.expires_at.date().isoformat()}{last}"
        )

    # -- JSON ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with ``format_version`` and ``kind``; inverse of :meth:`from_dict`."""
        return {
            "format_version": FORMAT_VERSION,
            "kind": RECORD_KIND,
            "record_id": self.record_id,
            "device_serial": self.device_serial,
            "channel": self.channel,
            "source": self.source,
            "model": self.model,
            "offset_counts": self.offset_counts,
            "coefficients_n_per_count_k": list(self.coefficients_n_per_count_k),
            "calibrated_at": _iso(self.calibrated_at),
            "expires_at": _iso(self.expires_at),
            "operator": self.operator,
            "temperature_c": self.temperature_c,
            "gravity_m_s2": self.gravity_m_s2,
            "load_unit": self.load_unit,
            "figures": None if self.figures is None else self.figures.to_dict(),
            "points": [p.to_dict() for p in self.points],
            "verifications": [v.to_dict() for v in self.verifications],
            "notes": self.notes,
        }

    def to_json(self) -> str:
        """The record as indented JSON text (what the store writes), ending in a newline."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "calibration record") -> CalibrationRecord:
        """Rebuild a record from :meth:`to_dict` output.

        Raises :class:`CalibrationError` with a one-line message starting with ``source``
        (a file name, say) and naming the offending field.
        """
        return _parse_record(data, source)

    @classmethod
    def from_json(cls, text: str, *, source: str = "calibration record") -> CalibrationRecord:
        """Parse JSON text written by :meth:`to_json`; errors name ``source``."""
        return cls.from_dict(_loads(text, source), source=source)


# --------------------------------------------------------------------------------------
# Factory record, snapshot
# --------------------------------------------------------------------------------------


def factory_record(
    device_serial: str,
    channel: int,
    *,
    operator: str,
    calibrated_at: datetime | None = None,
    expiry_months: int = DEFAULT_EXPIRY_MONTHS,
    temperature_c: float | None = None,
    notes: str = "",
) -> CalibrationRecord:
    """Identity record for a device that already reports newtons (e.g. a factory-calibrated gauge).

    force_n = reading (gain 1, offset 0). It needs no multi-point fit, expires like any
    record, and should be confirmed with a check load (:func:`calibration.verify_check_load`).
    ``calibrated_at`` is the date of the factory certificate, or now.
    """
    when = calibrated_at or utc_now()
    return CalibrationRecord(
        device_serial=device_serial,
        channel=channel,
        model="identity",
        offset_counts=0.0,
        coefficients_n_per_count_k=(1.0,),
        calibrated_at=when,
        expires_at=add_months(when, expiry_months),
        operator=operator,
        source="factory",
        load_unit="N",
        temperature_c=temperature_c,
        notes=notes,
    )


def snapshot_dict(records: Iterable[CalibrationRecord | None]) -> dict[str, Any]:
    """The records in force (Nones skipped) as a JSON-ready dict, for a session file.

    Shape: ``{"format_version": 1, "kind": "force-station-calibration-snapshot",
    "records": [record.to_dict(), ...]}``.
    """
    items = [r.to_dict() for r in records if r is not None]
    return {"format_version": FORMAT_VERSION, "kind": SNAPSHOT_KIND, "records": items}


def snapshot(records: Iterable[CalibrationRecord | None]) -> str:
    """:func:`snapshot_dict` as JSON text. Read back with :func:`load_snapshot`."""
    return json.dumps(snapshot_dict(records), indent=2, ensure_ascii=False, allow_nan=False)


def load_snapshot(text: str | Mapping[str, Any], *, source: str = "calibration snapshot") -> list[CalibrationRecord]:
    """Records from :func:`snapshot` text (or a :func:`snapshot_dict` dict); errors name ``source`` and the field."""
    data = dict(text) if isinstance(text, Mapping) else _loads(text, source)
    if not isinstance(data, dict):
        raise CalibrationError(f"{source}: expected a JSON object, got {type(data).__name__}")
    _check_header(data, source, SNAPSHOT_KIND)
    items = data.get("records")
    if not isinstance(items, list):
        raise CalibrationError(f"{source}: field 'records' must be a list")
    return [_parse_record(item, f"{source} records[{i}]") for i, item in enumerate(items)]


# --------------------------------------------------------------------------------------
# Parsing with field-naming errors
# --------------------------------------------------------------------------------------


def _loads(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(
            f"{source}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise CalibrationError(f"{source}: not a calibration record (JSON nested too deeply)") from None
    except ValueError as exc:  # an integer of more than 4300 digits (Python's int conversion limit)
        what = "a number with too many digits" if "digits" in str(exc) else " ".join(str(exc).split())[:60]
        raise CalibrationError(f"{source}: not valid JSON ({what})") from None


def _check_header(data: Mapping[str, Any], source: str, kind: str) -> None:
    if "format_version" not in data:
        raise CalibrationError(f"{source}: missing field 'format_version'")
    version = data["format_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise CalibrationError(f"{source}: field 'format_version' must be a positive integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise CalibrationError(
            f"{source}: field 'format_version' is {version}, newer than this station supports ({FORMAT_VERSION}); "
            "upgrade Force Station"
        )
    if data.get("kind") != kind:
        raise CalibrationError(f"{source}: field 'kind' must be {kind!r}, got {data.get('kind')!r}")


class _Fields:
    """Reads typed fields from a dict; every error names ``source`` and the field path."""

    def __init__(self, data: Any, source: str, prefix: str = "") -> None:
        if not isinstance(data, dict):
            where = f"field '{prefix.rstrip('.')}'" if prefix else "the file"
            raise CalibrationError(f"{source}: {where} must be a JSON object, got {type(data).__name__}")
        self.data, self.source, self.prefix = data, source, prefix

    def fail(self, key: str, problem: str) -> CalibrationError:
        return CalibrationError(f"{self.source}: field '{self.prefix}{key}' {problem}")

    def raw(self, key: str, optional: bool) -> Any:
        if key not in self.data:
            if optional:
                return None
            raise CalibrationError(f"{self.source}: missing field '{self.prefix}{key}'")
        return self.data[key]

    def number(self, key: str, optional: bool = False) -> float | None:
        value = self.raw(key, optional)
        if value is None:
            if optional:
                return None
            raise self.fail(key, "must be a number, got null")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {value!r}")
        return float(value)

    def integer(self, key: str) -> int:
        value = self.raw(key, False)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be an integer, got {value!r}")
        return value

    def string(self, key: str, optional: bool = False, default: str | None = None) -> str | None:
        value = self.raw(key, optional)
        if value is None:
            if optional:
                return default
            raise self.fail(key, "must be a string, got null")
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {value!r}")
        return value

    def boolean(self, key: str) -> bool:
        value = self.raw(key, False)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def when(self, key: str) -> datetime:
        text = self.string(key)
        try:
            value = datetime.fromisoformat(text)  # type: ignore[arg-type]
        except ValueError:
            raise self.fail(key, f"must be an ISO 8601 date-time, got {text!r}") from None
        if value.tzinfo is None:
            raise self.fail(key, f"must include a UTC offset, got {text!r}")
        return value

    def items(self, key: str) -> list[Any]:
        value = self.raw(key, True)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list, got {type(value).__name__}")
        return value

    def child(self, data: Any, key: str) -> _Fields:
        return _Fields(data, self.source, f"{self.prefix}{key}.")

    def build(self, factory: Any, key: str, **kwargs: Any) -> Any:
        """Call ``factory(**kwargs)``; a semantic error is re-raised with the source and path."""
        try:
            return factory(**kwargs)
        except CalibrationError as exc:
            message = str(exc).replace("field '", f"field '{self.prefix}{key}", 1)
            raise CalibrationError(f"{self.source}: {message}") from None


def _default(value: float | None, default: float) -> float:
    return default if value is None else value


def _parse_point(f: _Fields) -> CalibrationPoint:
    return f.build(
        CalibrationPoint,
        "",
        load_n=f.number("load_n"),
        direction=f.string("direction"),
        cycle=f.integer("cycle"),
        mean_counts=f.number("mean_counts"),
        sd_counts=f.number("sd_counts"),
        slope_counts_per_s=_default(f.number("slope_counts_per_s", optional=True), 0.0),
        n_samples=f.integer("n_samples"),
        residual_n=f.number("residual_n", optional=True),
    )


def _parse_figures(f: _Fields) -> CalibrationFigures:
    return f.build(
        CalibrationFigures,
        "",
        full_scale_n=f.number("full_scale_n"),
        full_scale_counts=f.number("full_scale_counts"),
        nonlinearity_pct_fs=f.number("nonlinearity_pct_fs"),
        nonlinearity_bfsl_pct_fs=f.number("nonlinearity_bfsl_pct_fs"),
        hysteresis_pct_fs=f.number("hysteresis_pct_fs", optional=True),
        repeatability_pct_fs=f.number("repeatability_pct_fs", optional=True),
        residual_rms_n=f.number("residual_rms_n"),
        residual_max_n=f.number("residual_max_n"),
        residual_max_pct_fs=f.number("residual_max_pct_fs"),
        f_test_p=f.number("f_test_p", optional=True),
        model_choice=f.string("model_choice", optional=True, default="") or "",
    )


def _parse_verification(f: _Fields) -> VerificationResult:
    return f.build(
        VerificationResult,
        "",
        at=f.when("at"),
        kind=f.string("kind"),
        reference_n=f.number("reference_n"),
        measured_n=f.number("measured_n"),
        tolerance_n=f.number("tolerance_n"),
        passed=f.boolean("passed"),
        position=f.string("position", optional=True),
        operator=f.string("operator", optional=True, default="") or "",
    )


def _parse_record(data: Any, source: str) -> CalibrationRecord:
    f = _Fields(data, source)
    _check_header(data, source, RECORD_KIND)
    coefficients = f.items("coefficients_n_per_count_k")
    if not coefficients:
        raise f.fail("coefficients_n_per_count_k", "must be a non-empty list of numbers")
    coefficient_values = []
    for i, c in enumerate(coefficients):
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c):
            raise f.fail(f"coefficients_n_per_count_k[{i}]", f"must be a finite number, got {c!r}")
        coefficient_values.append(float(c))
    figures_raw = f.raw("figures", True)
    points = [_parse_point(f.child(p, f"points[{i}]")) for i, p in enumerate(f.items("points"))]
    verifications = [
        _parse_verification(f.child(v, f"verifications[{i}]")) for i, v in enumerate(f.items("verifications"))
    ]
    return f.build(
        CalibrationRecord,
        "",
        device_serial=f.string("device_serial"),
        channel=f.integer("channel"),
        model=f.string("model"),
        offset_counts=f.number("offset_counts"),
        coefficients_n_per_count_k=tuple(coefficient_values),
        calibrated_at=f.when("calibrated_at"),
        expires_at=f.when("expires_at"),
        operator=f.string("operator", optional=True, default="") or "",
        source=f.string("source"),
        record_id=f.string("record_id"),
        gravity_m_s2=_default(f.number("gravity_m_s2", optional=True), STANDARD_GRAVITY_M_S2),
        load_unit=f.string("load_unit", optional=True, default="N") or "N",
        temperature_c=f.number("temperature_c", optional=True),
        points=tuple(points),
        figures=None if figures_raw is None else _parse_figures(f.child(figures_raw, "figures")),
        verifications=tuple(verifications),
        notes=f.string("notes", optional=True, default="") or "",
    )
