"""A fixed-size ring buffer of multi-channel samples for live views (thread-safe)."""
from __future__ import annotations

import threading

import numpy as np


class RingBuffer:
    """Keeps the newest ``capacity`` rows of (time_s, channels…) for plots and live metrics.

    One writer (the pipeline thread) appends; readers (a GUI timer) take copies. A plot
    keeps the :attr:`total` it has seen and asks :meth:`since` for the rows after it::

        seen = 0
        def on_timer():
            nonlocal seen
            t_s, force_n, seen = ring.since(seen)   # only the new rows
    """

    def __init__(self, capacity: int, channels: int) -> None:
        self.capacity = int(capacity)
        self.channels = int(channels)
        # filled now, not left to the first write of each page (np.zeros maps zero pages
        # lazily): the buffer's memory is resident from the start, so the station's RSS does
        # not creep up over the first ``capacity`` samples of a session
        self._t = np.full(self.capacity, 0.0)
        self._v = np.full((self.capacity, self.channels), 0.0)
        self._count = 0  # total rows ever appended
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Rows appended since creation (monotonic; readers use it to see new data)."""
        return self._count

    def append(self, t_s: np.ndarray, values: np.ndarray) -> None:
        n = len(t_s)
        if n == 0:
            return
        skipped = 0
        if n > self.capacity:  # only the newest rows fit; the others still count in total
            skipped = n - self.capacity
            t_s, values, n = t_s[-self.capacity :], values[-self.capacity :], self.capacity
        with self._lock:
            self._count += skipped
            start = self._count % self.capacity
            first = min(n, self.capacity - start)
            self._t[start : start + first] = t_s[:first]
            self._v[start : start + first] = values[:first]
            if first < n:
                self._t[: n - first] = t_s[first:]
                self._v[: n - first] = values[first:]
            self._count += n

    def latest(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the newest ``n`` (default: all held) times and values, oldest first."""
        with self._lock:
            held = min(self._count, self.capacity)
            n = held if n is None else min(n, held)
            end = self._count % self.capacity
            idx = (np.arange(end - n, end)) % self.capacity
            return self._t[idx].copy(), self._v[idx].copy()

    def since(self, total: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Copies of the rows appended after the first ``total`` rows, oldest first, and the
        new total to pass next time: ``(t_s, values, total_now)``.

        If more rows arrived than the buffer holds, only the newest ``capacity`` rows come
        back (the caller sees the gap as ``total_now - total - len(t_s)`` missed rows). A
        ``total`` beyond :attr:`total` (a reader handed another buffer's count) returns
        nothing new.
        """
        with self._lock:
            now = self._count
            n = min(max(now - int(total), 0), self.capacity)
            idx = np.arange(now - n, now) % self.capacity
            return self._t[idx].copy(), self._v[idx].copy(), now
