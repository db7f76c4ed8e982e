"""Stability ("settled") check of a block of readings from one channel.

A reading is taken only once the sensor has settled: the last ``window_s`` seconds of the
block are fitted with a straight line in time; the window is settled when

* the standard deviation of the residuals about that line (noise) is at most
  ``max_sd_counts``, and
* the absolute slope of that line (drift, creep, a swinging mass) is at most
  ``max_slope_counts_per_s``.

The accepted reading is the mean of that window. Thresholds are in counts because the
gain is unknown before calibration; :meth:`StabilityCriteria.from_force` converts
thresholds in newtons with a nominal sensitivity (datasheet or previous calibration).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from calibration.errors import CalibrationError


@dataclass(frozen=True)
class StabilityCriteria:
    """When is a window settled. max_sd_counts: noise limit, counts. max_slope_counts_per_s:
    drift limit, counts/s. window_s: window length, s. min_samples: fewest samples in a window."""

    max_sd_counts: float
    max_slope_counts_per_s: float
    window_s: float = 1.0
    min_samples: int = 10

    def __post_init__(self) -> None:
        for name in ("max_sd_counts", "max_slope_counts_per_s", "window_s"):
            value = float(getattr(self, name))
            if not math.isfinite(value) or value <= 0:
                raise CalibrationError(f"stability criterion '{name}' must be > 0, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if isinstance(self.min_samples, bool) or int(self.min_samples) < 3:
            raise CalibrationError(f"stability criterion 'min_samples' must be >= 3, got {self.min_samples!r}")

    @classmethod
    def from_force(
        cls,
        *,
        max_sd_n: float,
        max_slope_n_per_s: float,
        nominal_gain_n_per_count: float,
        window_s: float = 1.0,
        min_samples: int = 10,
    ) -> StabilityCriteria:
        """Criteria given in newtons, converted with a nominal sensitivity (N/count, sign ignored)."""
        gain = abs(float(nominal_gain_n_per_count))
        if not math.isfinite(gain) or gain == 0:
            raise CalibrationError(
                f"nominal_gain_n_per_count must be finite and non-zero, got {nominal_gain_n_per_count!r}"
            )
        return cls(
            max_sd_counts=float(max_sd_n) / gain,
            max_slope_counts_per_s=float(max_slope_n_per_s) / gain,
            window_s=window_s,
            min_samples=min_samples,
        )

    def window_samples(self, sample_rate_hz: float) -> int:
        """Number of samples in the window at ``sample_rate_hz`` (at least ``min_samples``)."""
        return max(int(self.min_samples), int(round(self.window_s * sample_rate_hz)))


@dataclass(frozen=True)
class StabilityResult:
    """Outcome of :func:`assess_stability`. mean_counts: mean of the window (the reading),
    sd_counts: residual SD about the trend line, slope_counts_per_s: trend, n_samples: window
    length. reason: empty when settled, else a one-line explanation starting "not settled"."""

    settled: bool
    mean_counts: float
    sd_counts: float
    slope_counts_per_s: float
    n_samples: int
    reason: str = ""


def as_channel_block(block: Any, name: str = "counts_block") -> np.ndarray:
    """``block`` as a 1-D float64 array (accepts shape (n,) or (n, 1))."""
    arr = np.asarray(block, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise CalibrationError(f"{name} must have shape (n,) or (n, 1) for one channel, got {arr.shape}")
    return arr


def assess_stability(block_counts: Any, sample_rate_hz: float, criteria: StabilityCriteria) -> StabilityResult:
    """Judge whether the last ``criteria.window_s`` of ``block_counts`` (one channel, counts) settled.

    ``sample_rate_hz`` is the sampling rate of the block, Hz.
    """
    rate = float(sample_rate_hz)
    if not math.isfinite(rate) or rate <= 0:
        raise CalibrationError(f"sample_rate_hz must be > 0, got {sample_rate_hz!r}")
    y_all = as_channel_block(block_counts)
    n = criteria.window_samples(rate)
    if y_all.size < n:
        return StabilityResult(
            False, math.nan, math.nan, math.nan, int(y_all.size),
            f"not settled: only {y_all.size} samples, need {n} ({criteria.window_s:g} s at {rate:g} Hz)",
        )
    y = y_all[-n:]
    if not np.all(np.isfinite(y)):
        return StabilityResult(False, math.nan, math.nan, math.nan, n, "not settled: block contains NaN or inf")
    t = (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) / rate  # centred time, s
    mean = float(y.mean())
    slope = float(np.dot(t, y - mean) / np.dot(t, t))
    residual = y - mean - slope * t
    sd = float(np.sqrt(np.dot(residual, residual) / (n - 2)))
    problems = []
    if sd > criteria.max_sd_counts:
        problems.append(f"noise SD {sd:.3g} counts > {criteria.max_sd_counts:.3g}")
    if abs(slope) > criteria.max_slope_counts_per_s:
        problems.append(f"drift {slope:+.3g} counts/s exceeds ±{criteria.max_slope_counts_per_s:.3g}")
    reason = "" if not problems else "not settled: " + "; ".join(problems) + " — hold still and try again"
    return StabilityResult(not problems, mean, sd, slope, n, reason)
