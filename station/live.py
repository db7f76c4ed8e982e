"""Live onset and running peak on a force stream, updated per block as samples arrive.

The detector is armed at the start of a trial; samples before the 'go' cue form the
baseline (mean and SD). Onset is the first sample above ``baseline + max(k·SD, floor_n)``;
the running peak is the maximum since arming. This is a live indicator only: the reported
results come from :mod:`station.analysis` on the whole trial at its end.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LiveState:
    """Snapshot for displays; forces in N, times on the host clock (s)."""

    force_n: float
    peak_n: float
    baseline_n: float
    onset_t_s: float | None
    samples: int


class LiveOnsetPeak:
    """Per-channel-sum live onset/peak detector. ``k`` SDs above baseline, ``floor_n`` minimum."""

    def __init__(self, k: float = 3.0, floor_n: float = 5.0, baseline_window: int = 500) -> None:
        self.k = k
        self.floor_n = floor_n
        self.baseline_window = baseline_window
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._pre: list[np.ndarray] = []
            self._pre_n = 0
            self._baseline = 0.0
            self._sd = 0.0
            self._armed = False
            self._onset: float | None = None
            self._peak = -np.inf
            self._last = 0.0
            self._n = 0

    def arm(self) -> None:
        """Freeze the baseline from the samples seen so far and start looking for onset."""
        with self._lock:
            pre = np.concatenate(self._pre)[-self.baseline_window :] if self._pre else np.zeros(1)
            self._baseline = float(pre.mean())
            self._sd = float(pre.std())
            self._armed = True

    def update(self, t_s: np.ndarray, force_n: np.ndarray) -> None:
        """Feed one block (force summed over the channels that form the measured force)."""
        if force_n.size == 0:
            return
        with self._lock:
            self._last = float(force_n[-1])
            self._n += force_n.size
            if not self._armed:
                self._pre.append(force_n.copy())
                self._pre_n += force_n.size
                if self._pre_n > 4 * self.baseline_window:
                    keep = np.concatenate(self._pre)[-self.baseline_window :]
                    self._pre, self._pre_n = [keep], keep.size
                return
            self._peak = max(self._peak, float(force_n.max()))
            if self._onset is None:
                threshold = self._baseline + max(self.k * self._sd, self.floor_n)
                above = np.flatnonzero(force_n > threshold)
                if above.size:
                    self._onset = float(t_s[above[0]])

    def state(self) -> LiveState:
        with self._lock:
            peak = self._peak if np.isfinite(self._peak) else self._last
            return LiveState(self._last, peak, self._baseline, self._onset, self._n)
