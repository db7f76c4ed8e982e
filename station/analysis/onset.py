"""Vectorised building blocks: quietest window, sliding means, threshold onset, interpolation.

All indices are sample indices into the trace; times are ``index / rate_hz`` seconds from the
first sample.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Window(NamedTuple):
    """A window ``[start, start + length)`` of a trace with its mean and SD (ddof=1), in N."""

    start: int
    length: int
    mean: float
    sd: float


def _window_sums(x: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``d`` and ``d**2`` over every window of ``width`` samples, ``d = x - x[0]``.

    Subtracting the first sample keeps the cumulative sums small (no cancellation when the
    baseline is a standing weight of ~1000 N with ~1 N of noise).
    """
    d = x - x[0]
    c1 = np.empty(d.size + 1)
    c1[0] = 0.0
    np.cumsum(d, out=c1[1:])
    c2 = np.empty(d.size + 1)
    c2[0] = 0.0
    np.cumsum(d * d, out=c2[1:])
    return c1[width:] - c1[:-width], c2[width:] - c2[:-width]


def quietest_window(x: np.ndarray, width: int, lo: int = 0, hi: int | None = None,
                    max_mean: float | None = None, min_mean: float | None = None) -> Window | None:
    """The window of ``width`` samples inside ``x[lo:hi]`` with the smallest SD.

    Ties (e.g. a noise-free, quantised signal) go to the latest window, the one nearest ``hi``.
    ``max_mean`` / ``min_mean`` restrict the candidates to windows whose mean is below/above
    the given level. Returns None if no window fits.
    """
    hi = x.size if hi is None else min(hi, x.size)
    lo = max(lo, 0)
    width = int(width)
    if width < 2 or hi - lo < width:
        return None
    seg = x[lo:hi]
    s1, s2 = _window_sums(seg, width)
    var = (s2 - s1 * s1 / width) / (width - 1)
    if max_mean is not None or min_mean is not None:
        means = seg[0] + s1 / width
        ok = np.ones(var.size, dtype=bool)
        if max_mean is not None:
            ok &= means <= max_mean
        if min_mean is not None:
            ok &= means >= min_mean
        if not ok.any():
            return None
        var = np.where(ok, var, np.inf)
    i = var.size - 1 - int(np.argmin(var[::-1]))  # last minimum
    w = seg[i:i + width]
    return Window(lo + i, width, float(w.mean()), float(w.std(ddof=1)))


def lowest_window(x: np.ndarray, width: int, band: float) -> Window | None:
    """The quietest window among those whose mean is within ``band`` of the lowest window mean.

    Used to find the unloaded plate: the lowest force level in the trace, preferring its
    steadiest part (avoids ringing right after take-off).
    """
    width = int(width)
    if width < 2 or x.size < width:
        return None
    s1, _ = _window_sums(x, width)
    means = x[0] + s1 / width
    return quietest_window(x, width, max_mean=float(means.min()) + band)


def best_mean_window(x: np.ndarray, width: int) -> tuple[int, float] | None:
    """Start index and mean of the ``width``-sample window with the highest mean, or None."""
    width = int(width)
    if width < 1 or x.size < width:
        return None
    if width == 1:
        i = int(np.argmax(x))
        return i, float(x[i])
    d = x - x[0]
    c1 = np.empty(d.size + 1)
    c1[0] = 0.0
    np.cumsum(d, out=c1[1:])
    i = int(np.argmax(c1[width:] - c1[:-width]))
    return i, float(x[i:i + width].mean())


def last_crossing(x: np.ndarray, threshold: float, peak: int) -> int | None:
    """First sample of the supra-threshold run that contains ``peak``.

    Walks back from the peak to the last sample at or below ``threshold`` and returns the
    sample after it, so isolated noise spikes earlier in the trace are ignored. Returns None
    if ``x[peak]`` is not above the threshold or no earlier sample is at or below it.
    """
    if not x[peak] > threshold:
        return None
    below = np.flatnonzero(x[:peak] <= threshold)
    if below.size == 0:
        return None
    return int(below[-1]) + 1


def run_end(x: np.ndarray, threshold: float, start: int) -> int:
    """Index of the first sample at or below ``threshold`` at or after ``start`` (``x.size`` if none)."""
    below = np.flatnonzero(x[start:] <= threshold)
    return start + int(below[0]) if below.size else x.size


def interp_at(y: np.ndarray, pos: np.ndarray | float) -> np.ndarray:
    """Linear interpolation of ``y`` at fractional sample positions ``pos`` (0 <= pos <= n-1)."""
    pos = np.asarray(pos, dtype=np.float64)
    i = np.clip(np.floor(pos).astype(np.intp), 0, y.size - 2)
    frac = pos - i
    return y[i] + frac * (y[i + 1] - y[i])


def snap(pos: np.ndarray | float) -> np.ndarray:
    """Round fractional sample positions that are within 1e-9 of an integer (0.05 s * 1000 Hz)."""
    pos = np.asarray(pos, dtype=np.float64)
    r = np.round(pos)
    return np.where(np.abs(pos - r) < 1e-9, r, pos)


def trapz_between(y: np.ndarray, p0: float, p1: np.ndarray, dt: float) -> np.ndarray:
    """Trapezoidal integral of the piecewise-linear ``y`` from position ``p0`` to each ``p1``.

    Positions are fractional sample indices; ``dt`` is the sample period in s. Exact for the
    linear interpolant, so windows that do not fall on samples are handled without bias.
    """
    p1 = np.asarray(p1, dtype=np.float64)
    i0 = int(np.floor(p0))
    i_hi = min(int(np.floor(p1.max())) + 2, y.size)
    seg = y[i0:i_hi]
    # cumulative integral at integer sample positions i0, i0+1, ...
    cum = np.empty(seg.size)
    cum[0] = 0.0
    if seg.size > 1:
        np.cumsum(0.5 * (seg[1:] + seg[:-1]) * dt, out=cum[1:])

    def integral_to(p: np.ndarray) -> np.ndarray:
        k = np.clip(np.floor(p).astype(np.intp) - i0, 0, max(seg.size - 2, 0))
        frac = p - (k + i0)
        yk = seg[k]
        yp = interp_at(y, p)
        return cum[k] + 0.5 * (yk + yp) * frac * dt

    return integral_to(p1) - integral_to(np.asarray([p0]))[0]


def max_slope(y: np.ndarray, lo: int, hi: int, width: int, rate_hz: float) -> tuple[float, int] | None:
    """Steepest slope (N/s) over ``width`` samples for windows inside ``y[lo:hi+1]``.

    Returns (slope, start index) or None when fewer than ``width`` samples separate lo and hi.
    """
    if width < 1 or hi - lo < width:
        return None
    seg = y[lo:hi + 1]
    d = seg[width:] - seg[:-width]
    i = int(np.argmax(d))
    return float(d[i]) * rate_hz / width, lo + i


def runs_above(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of every run with ``x > threshold``."""
    above = x > threshold
    edges = np.diff(above.astype(np.int8))
    starts = np.flatnonzero(edges == 1) + 1
    ends = np.flatnonzero(edges == -1) + 1
    if above.size and above[0]:
        starts = np.concatenate(([0], starts))
    if above.size and above[-1]:
        ends = np.concatenate((ends, [x.size]))
    return starts, ends
