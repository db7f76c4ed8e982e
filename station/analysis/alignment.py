"""Traces of different devices on one time grid, so two sides compare sample by sample. Pure numpy."""
from __future__ import annotations

import numpy as np


def common_grid(forces: dict[str, np.ndarray], times: dict[str, np.ndarray], rates: dict[str, float]
                ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Traces from different devices on one uniform host-time grid (their overlap, at the
    lowest rate), by linear interpolation, so the sides can be compared sample by sample."""
    rate = min(rates.values())
    start = max(float(t[0]) for t in times.values())
    stop = min(float(t[-1]) for t in times.values())
    grid = start + np.arange(max(int((stop - start) * rate) + 1, 0)) / rate
    return ({s: np.interp(grid, times[s], f) for s, f in forces.items()}, {s: rate for s in forces})
