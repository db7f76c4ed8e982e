"""Shared by the storage tests that drive a SessionWriter by hand: one dynamometer trial's
spec and a feed of samples (100 Hz device clock, counts k, newtons 2k)."""
from __future__ import annotations

import numpy as np

from station.storage.writer import SessionWriter, TrialDevice, TrialSpec


def spec(trial: str) -> TrialSpec:
    return TrialSpec("01_t", trial, {"dyn": TrialDevice(1, True, 100.0)}, {"side": "left", "rep": 1})


def feed(w: SessionWriter, start: int, n: int) -> None:
    for i in range(start, start + n, 10):
        k = np.arange(i, i + 10, dtype=float)
        w.append("dyn", 1000.0 + k / 100, k[:, None], 2 * k[:, None], k / 100)
