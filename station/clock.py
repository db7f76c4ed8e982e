"""The clock the session engine waits on, injectable so tests run without real time.

The engine never calls ``time.sleep`` or ``time.monotonic`` itself: it asks its clock for
``now()`` and waits for its next command with ``wait(inbox, timeout_s)``.
:class:`SystemClock` is the host monotonic clock (the clock of every sample's
``t_host_s``). :class:`FakeClock` jumps forward instead of sleeping and calls its
``on_advance`` hooks with each jump, so a test can feed the samples of that interval into
the pipeline (:meth:`station.pipeline.Pipeline.feed`): a 5 s trial takes milliseconds.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """What the engine needs from a clock (times in seconds)."""

    def now(self) -> float:
        """The current time, s (the host monotonic clock for :class:`SystemClock`)."""
        ...

    def wait(self, inbox: queue.Queue[T], timeout_s: float | None) -> T | None:
        """The next item of ``inbox``, or None once ``timeout_s`` has passed on this clock
        (``None``: wait until an item arrives)."""
        ...


class SystemClock:
    """The host monotonic clock; waits really wait (and wake as soon as an item arrives)."""

    def now(self) -> float:
        return time.monotonic()

    def wait(self, inbox: queue.Queue[T], timeout_s: float | None) -> T | None:
        try:
            if timeout_s is None:
                while True:  # a bounded get, so Ctrl-C reaches a main thread waiting here
                    try:
                        return inbox.get(timeout=0.5)
                    except queue.Empty:
                        continue
            return inbox.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None


class ScaledClock:
    """Simulated time running ``speed`` times faster than the host monotonic clock.

    For whole sessions on simulated devices faster than real time (tests, rehearsals): the
    engine waits on it, the simulators stream by it and the drivers stamp ``t_host_s`` with
    it, so everything a session measures stays consistent while a 5 s trial takes
    ``5 / speed`` s. It is also a driver clock (``monotonic()``, ``sleep()``). ``now()``
    equals the host monotonic time at construction and then runs ``speed`` times faster.
    """

    def __init__(self, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, not {speed!r}")
        self.speed = float(speed)
        self._origin = time.monotonic()

    def now(self) -> float:
        return self._origin + (time.monotonic() - self._origin) * self.speed

    def monotonic(self) -> float:
        """The same as :meth:`now` (the name a driver clock uses)."""
        return self.now()

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time."""
        time.sleep(max(seconds, 0.0) / self.speed)

    def wait(self, inbox: queue.Queue[T], timeout_s: float | None) -> T | None:
        return SystemClock().wait(inbox, None if timeout_s is None else timeout_s / self.speed)


class FakeClock:
    """A clock that only moves when someone waits on it.

    ``wait(inbox, t)`` returns an item already queued, else advances the time by ``t`` at
    once and calls every ``on_advance(t_from, t_to)`` hook (in the waiting thread) before
    returning None. ``wait(inbox, None)`` blocks in real time until an item arrives (the
    engine waiting for a person's command: the test sends it). ``now()`` starts at ``start_s``.
    """

    def __init__(self, start_s: float = 1000.0) -> None:
        self._now = float(start_s)
        self._lock = threading.Lock()
        self.on_advance: list[Callable[[float, float], None]] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and run the hooks."""
        with self._lock:
            start = self._now
            self._now = start + max(float(seconds), 0.0)
            end = self._now
        for hook in list(self.on_advance):
            hook(start, end)

    def wait(self, inbox: queue.Queue[T], timeout_s: float | None) -> T | None:
        try:
            return inbox.get_nowait()
        except queue.Empty:
            pass
        if timeout_s is None:
            return inbox.get()
        self.advance(timeout_s)
        return None
