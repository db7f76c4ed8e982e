"""Zero-lag low-pass Butterworth filtering (scipy.signal ``butter`` in SOS form + ``sosfiltfilt``)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal


@lru_cache(maxsize=64)
def _design(order: int, cutoff_hz: float, rate_hz: float) -> np.ndarray:
    sos = signal.butter(order, cutoff_hz, btype="lowpass", output="sos", fs=rate_hz)
    return sos


def lowpass(force_n: np.ndarray, rate_hz: float, cutoff_hz: float, order: int = 4) -> np.ndarray:
    """Zero-lag low-pass filter of a 1-D trace (N in, N out).

    A Butterworth low-pass of design order ``order`` (as passed to ``scipy.signal.butter``)
    with cut-off ``cutoff_hz`` is run forward and backward (``sosfiltfilt``): no phase lag,
    the effective order is ``2 * order`` and the gain at ``cutoff_hz`` is -6 dB.

    Raises ValueError if ``cutoff_hz`` is not between 0 and the Nyquist frequency, ``order`` < 1,
    or the trace has fewer than 2 samples.
    """
    x = np.asarray(force_n, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError("lowpass expects a 1-D trace")
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")
    if not 0 < cutoff_hz < 0.5 * rate_hz:
        raise ValueError(f"cut-off {cutoff_hz!r} Hz must lie between 0 and the Nyquist frequency {0.5 * rate_hz:g} Hz")
    if int(order) != order or order < 1:
        raise ValueError(f"filter order must be a positive integer, got {order!r}")
    if x.size < 2:
        raise ValueError("a trace of fewer than 2 samples cannot be filtered")
    sos = _design(int(order), float(cutoff_hz), float(rate_hz)).copy()  # cached; scipy wants a writable array
    # scipy's default pad length; shortened for very short traces (edge effects then grow).
    padlen = min(3 * (2 * sos.shape[0] + 1), x.size - 1)
    return signal.sosfiltfilt(sos, x, padlen=padlen)


def try_lowpass(
    x: np.ndarray, rate_hz: float, cutoff_hz: float | None, order: int, what: str, notes: list[str]
) -> tuple[np.ndarray, float | None]:
    """Filter if possible; otherwise return ``x`` unchanged and append a note. Never raises."""
    if cutoff_hz is None:
        return x, None
    try:
        return lowpass(x, rate_hz, cutoff_hz, order), float(cutoff_hz)
    except ValueError as exc:
        notes.append(f"{what} filter not applied: {exc}")
        return x, None
