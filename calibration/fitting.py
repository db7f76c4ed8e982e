"""Least-squares fit of a channel's calibration model and its quality figures.

Model (force from readings, so that applying it is a Horner evaluation)::

    force_n = c1*x + ... + ck*x**k,   x = counts - offset_counts,   k = 1, 2 (or 3)

Fit: ordinary least squares of the reference loads (N) on a polynomial in the averaged
readings (all loading and unloading points together), with the readings centred and
scaled for conditioning; then the zero crossing is found (``offset_counts``) and the
polynomial is re-expanded about it so that it has no constant term.

Model choice: start linear (order c = 1); for k = 2 .. max_order in turn, replace the
current order c by k only if BOTH

1. an F-test of the extra terms is significant: ``p < alpha`` (default 0.01), with
   ``F = ((RSS_c - RSS_k) / (k - c)) / (RSS_k / (n - k - 1))``, n = number of points, and
2. it matters: the two models' forces differ somewhere over the calibrated readings by
   more than ``nonlinearity_threshold_pct_fs`` (default 0.1 % of full scale).

Figures (computed on the raw readings, i.e. a property of the sensor, not of the model;
FS output = |mean loading reading at the largest load - at the smallest load|):

* non-linearity (terminal / end-point): max |loading reading - straight line through the
  loading readings at the smallest and largest loads| / FS output x 100 (the load-cell
  datasheet convention, "terminal linearity" of ISA-37.1); the least-squares straight line
  ("independent linearity") variant is reported too;
* hysteresis: max |unloading - loading reading at the same load| / FS output x 100;
* repeatability: max over loads and directions of (max - min) of the readings from
  different cycles / FS output x 100.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np

from calibration._stats import f_distribution_sf
from calibration.errors import CalibrationError
from calibration.record import (
    DEFAULT_EXPIRY_MONTHS,
    CalibrationFigures,
    CalibrationPoint,
    CalibrationRecord,
    add_months,
    utc_now,
)
from calibration.units import STANDARD_GRAVITY_M_S2

#: Default practical threshold for a higher model order, % of full scale.
DEFAULT_NONLINEARITY_THRESHOLD_PCT_FS: float = 0.1
#: Default significance level of the F-test for a higher model order.
DEFAULT_ALPHA: float = 0.01
#: Fewest distinct reference loads (zero included) a multi-point calibration accepts.
MIN_DISTINCT_LOADS: int = 5
#: Highest model order supported.
MAX_MODEL_ORDER: int = 3

_MODEL_NAMES = {1: "linear", 2: "quadratic", 3: "cubic"}


def evaluate_polynomial(x_counts: Any, coefficients_n_per_count_k: Sequence[float] | np.ndarray) -> np.ndarray:
    """``c1*x + c2*x**2 + ...`` by Horner's rule, vectorised over any array shape (N)."""
    x = np.asarray(x_counts, dtype=np.float64)
    coefficients = [float(c) for c in coefficients_n_per_count_k]
    if not coefficients:
        raise CalibrationError("a calibration model needs at least one coefficient")
    y = np.full_like(x, coefficients[-1])
    for c in reversed(coefficients[:-1]):
        y = y * x + c
    return y * x


@dataclass(frozen=True)
class ModelFit:
    """Result of :func:`fit_model`.

    order: chosen polynomial order. offset_counts: reading at zero force, counts.
    coefficients_n_per_count_k: c1..ck, N/count**k. residuals_n: reference - fitted, N,
    one per input point. f_test_p: p-value of the last higher order tried (None if none).
    reason: one sentence explaining the choice.
    """

    order: int
    offset_counts: float
    coefficients_n_per_count_k: tuple[float, ...]
    residuals_n: tuple[float, ...]
    f_test_p: float | None
    reason: str

    @property
    def model(self) -> str:
        """Model name: "linear", "quadratic" or "cubic"."""
        return _MODEL_NAMES[self.order]


def _lstsq_power(x: np.ndarray, loads_n: np.ndarray, order: int) -> np.ndarray:
    """Power-basis coefficients a0..ak (in x) of the least-squares polynomial, fitted on scaled x."""
    scale = float(np.max(np.abs(x)))
    design = np.vander(x / scale, order + 1, increasing=True)
    b, *_ = np.linalg.lstsq(design, loads_n, rcond=None)
    return b / scale ** np.arange(order + 1)


def _power_eval(a: np.ndarray, x: np.ndarray | float) -> np.ndarray:
    return np.polynomial.polynomial.polyval(x, a)


def _zero_crossing(a: np.ndarray, scale: float) -> float:
    """Root of sum(a_j x**j) near the data (Newton from the linear estimate)."""
    if a[1] == 0:
        raise CalibrationError("calibration fit failed: zero sensitivity")
    r = -a[0] / a[1]
    da = np.polynomial.polynomial.polyder(a)
    for _ in range(100):
        slope = float(_power_eval(da, r))
        if slope == 0 or not math.isfinite(slope):
            break
        step = float(_power_eval(a, r)) / slope
        r -= step
        if abs(step) <= 1e-13 * scale:
            break
    magnitude_n = float(np.sum(np.abs(a) * scale ** np.arange(len(a))))
    if not math.isfinite(r) or abs(float(_power_eval(a, r))) > 1e-9 * max(1.0, magnitude_n):
        raise CalibrationError("calibration fit failed: the model has no zero-force reading near the data")
    if abs(r) > 10 * scale:
        raise CalibrationError("calibration fit failed: zero-force reading lies far outside the calibrated range")
    return r


def _shift(a: np.ndarray, r: float) -> np.ndarray:
    """Coefficients q of p(r + x) = sum q_k x**k (Taylor shift of the power basis)."""
    order = len(a) - 1
    q = np.zeros(order + 1)
    for k in range(order + 1):
        q[k] = sum(math.comb(j, k) * a[j] * r ** (j - k) for j in range(k, order + 1))
    return q


def fit_model(
    counts: Any,
    loads_n: Any,
    *,
    max_order: int = 2,
    nonlinearity_threshold_pct_fs: float = DEFAULT_NONLINEARITY_THRESHOLD_PCT_FS,
    alpha: float = DEFAULT_ALPHA,
) -> ModelFit:
    """Fit force (N) as a polynomial in readings (counts) and choose the order (module docstring).

    ``counts`` and ``loads_n`` are 1-D, one averaged reading per reference load step.
    """
    c = np.asarray(counts, dtype=np.float64).ravel()
    f = np.asarray(loads_n, dtype=np.float64).ravel()
    if c.shape != f.shape:
        raise CalibrationError(f"counts and loads_n differ in length ({c.size} vs {f.size})")
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(f))):
        raise CalibrationError("counts and loads_n must be finite")
    if not 1 <= int(max_order) <= MAX_MODEL_ORDER:
        raise CalibrationError(f"max_order must be 1..{MAX_MODEL_ORDER}, got {max_order!r}")
    if np.unique(f).size < 2:
        raise CalibrationError("calibration needs at least two different loads")
    full_scale_n = float(f.max() - f.min())
    c_ref = float(c[f == f.min()].mean())
    x = c - c_ref
    scale = float(np.max(np.abs(x)))
    if scale == 0:
        raise CalibrationError("readings do not change with load: check the wiring and the channel number")
    n = c.size
    fits = {k: _lstsq_power(x, f, k) for k in range(1, int(max_order) + 1) if n >= k + 2 and np.unique(c).size > k}
    rss = {k: float(np.sum((f - _power_eval(a, x)) ** 2)) for k, a in fits.items()}
    grid = np.linspace(float(x.min()), float(x.max()), 201)

    chosen, p_last = 1, None
    notes: list[str] = []
    for k in range(2, int(max_order) + 1):
        if k not in fits:
            notes.append(f"too few points to test order {k}")
            break
        dfd = n - k - 1
        lo, hi = rss[chosen], rss[k]
        if hi > 0:
            f_stat = ((lo - hi) / (k - chosen)) / (hi / dfd)
        else:
            f_stat = math.inf if lo > 0 else 0.0
        p = f_distribution_sf(f_stat, k - chosen, dfd)
        change_n = np.abs(_power_eval(fits[k], grid) - _power_eval(fits[chosen], grid))
        change_pct = float(np.max(change_n)) / full_scale_n * 100
        p_last = p
        accepted = p < alpha and change_pct > nonlinearity_threshold_pct_fs
        notes.append(
            f"order {k} vs {chosen} changes forces by up to {change_pct:.3g} % FS (threshold "
            f"{nonlinearity_threshold_pct_fs:g} %), F-test p = {p:.3g} (alpha {alpha:g}): "
            f"{'accepted' if accepted else 'rejected'}"
        )
        if accepted:
            chosen = k
    reason = f"{_MODEL_NAMES[chosen]}: " + ("; ".join(notes) if notes else "no higher order allowed (max_order 1)")

    a = fits[chosen]
    r = _zero_crossing(a, scale)
    q = _shift(a, r)[1:]
    offset = c_ref + r
    residuals = f - evaluate_polynomial(c - offset, q)
    return ModelFit(
        order=chosen,
        offset_counts=float(offset),
        coefficients_n_per_count_k=tuple(float(v) for v in q),
        residuals_n=tuple(float(v) for v in residuals),
        f_test_p=p_last,
        reason=reason,
    )


@dataclass(frozen=True)
class ResponseFigures:
    """Sensor response figures from raw readings (see module docstring), all % of FS output."""

    full_scale_n: float
    full_scale_counts: float
    nonlinearity_pct_fs: float
    nonlinearity_bfsl_pct_fs: float
    hysteresis_pct_fs: float | None
    repeatability_pct_fs: float | None


def _load_key(load_n: float) -> float:
    return round(float(load_n), 9)


def response_figures(points: Sequence[CalibrationPoint]) -> ResponseFigures:
    """Non-linearity, hysteresis and repeatability of ``points`` (definitions in the module docstring)."""
    by_step: dict[tuple[str, float], list[float]] = defaultdict(list)
    for p in points:
        by_step[(p.direction, _load_key(p.load_n))].append(p.mean_counts)
    mean = {key: float(np.mean(values)) for key, values in by_step.items()}
    loading_loads = sorted(load for direction, load in mean if direction == "loading")
    if len(loading_loads) < 2:
        raise CalibrationError("figures need loading readings at two or more loads")
    up = np.array([mean[("loading", load)] for load in loading_loads])
    loads = np.array(loading_loads)
    span_counts = float(up[-1] - up[0])
    if span_counts == 0:
        raise CalibrationError("readings do not change with load: check the wiring and the channel number")
    fs = abs(span_counts)
    terminal = up[0] + span_counts * (loads - loads[0]) / (loads[-1] - loads[0])
    nonlinearity = float(np.max(np.abs(up - terminal))) / fs * 100
    slope, intercept = np.polyfit(loads, up, 1)
    nonlinearity_bfsl = float(np.max(np.abs(up - (intercept + slope * loads)))) / fs * 100

    common = [load for load in loading_loads if ("unloading", load) in mean]
    hysteresis = (
        max(abs(mean[("unloading", load)] - mean[("loading", load)]) for load in common) / fs * 100 if common else None
    )
    spreads = [max(values) - min(values) for values in by_step.values() if len(values) > 1]
    repeatability = max(spreads) / fs * 100 if spreads else None
    return ResponseFigures(
        full_scale_n=float(loads[-1] - loads[0]),
        full_scale_counts=fs,
        nonlinearity_pct_fs=nonlinearity,
        nonlinearity_bfsl_pct_fs=nonlinearity_bfsl,
        hysteresis_pct_fs=None if hysteresis is None else float(hysteresis),
        repeatability_pct_fs=None if repeatability is None else float(repeatability),
    )


def fit_calibration(
    points: Sequence[CalibrationPoint],
    *,
    device_serial: str,
    channel: int,
    operator: str,
    calibrated_at: datetime | None = None,
    expiry_months: int = DEFAULT_EXPIRY_MONTHS,
    temperature_c: float | None = None,
    gravity_m_s2: float = STANDARD_GRAVITY_M_S2,
    load_unit: str = "N",
    max_order: int = 2,
    nonlinearity_threshold_pct_fs: float = DEFAULT_NONLINEARITY_THRESHOLD_PCT_FS,
    alpha: float = DEFAULT_ALPHA,
    min_distinct_loads: int = MIN_DISTINCT_LOADS,
    notes: str = "",
) -> CalibrationRecord:
    """Fit a model to multi-point readings and return the complete :class:`CalibrationRecord`.

    ``points`` are averaged settled readings (counts) at reference loads (N). The record
    expires ``expiry_months`` calendar months after ``calibrated_at`` (default: now, UTC).
    """
    points = tuple(points)
    distinct = {_load_key(p.load_n) for p in points}
    if len(distinct) < min_distinct_loads:
        raise CalibrationError(
            f"calibration needs at least {min_distinct_loads} different loads, got {len(distinct)}"
        )
    if isinstance(expiry_months, bool) or int(expiry_months) < 1:
        raise CalibrationError(f"expiry_months must be >= 1, got {expiry_months!r}")
    figures = response_figures(points)
    model = fit_model(
        [p.mean_counts for p in points],
        [p.load_n for p in points],
        max_order=max_order,
        nonlinearity_threshold_pct_fs=nonlinearity_threshold_pct_fs,
        alpha=alpha,
    )
    residuals = np.array(model.residuals_n)
    residual_max = float(np.max(np.abs(residuals)))
    when = calibrated_at or utc_now()
    return CalibrationRecord(
        device_serial=device_serial,
        channel=channel,
        model=model.model,
        offset_counts=model.offset_counts,
        coefficients_n_per_count_k=model.coefficients_n_per_count_k,
        calibrated_at=when,
        expires_at=add_months(when, int(expiry_months)),
        operator=operator,
        source="multipoint",
        gravity_m_s2=gravity_m_s2,
        load_unit=load_unit,
        temperature_c=temperature_c,
        points=tuple(replace(p, residual_n=float(res)) for p, res in zip(points, residuals, strict=False)),
        figures=CalibrationFigures(
            full_scale_n=figures.full_scale_n,
            full_scale_counts=figures.full_scale_counts,
            nonlinearity_pct_fs=figures.nonlinearity_pct_fs,
            nonlinearity_bfsl_pct_fs=figures.nonlinearity_bfsl_pct_fs,
            hysteresis_pct_fs=figures.hysteresis_pct_fs,
            repeatability_pct_fs=figures.repeatability_pct_fs,
            residual_rms_n=float(np.sqrt(np.mean(residuals**2))),
            residual_max_n=residual_max,
            residual_max_pct_fs=residual_max / figures.full_scale_n * 100,
            f_test_p=model.f_test_p,
            model_choice=model.reason,
        ),
        notes=notes,
    )
