"""Replaying vendor transcripts against a driver, without a port and without real time.

A transcript is a list of ``(sent, reply)`` byte pairs, written from the vendor's documents
(the way PyMeasure tests its instruments). :class:`TranscriptPort` stands in for the pyserial
port: every write must be exactly the next ``sent`` bytes of the transcript (else the test
fails there, naming what was expected), and then ``reply`` becomes readable. ``sent=None``
is a reply the device sends by itself (a banner at power-up, readings while streaming),
readable from the start or right after the previous exchange. A :class:`FakeClock` makes every
wait instant: reading an empty port advances the clock by the read timeout, so a command the
device does not answer costs the driver its full timeout in fake time, microseconds in real time.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Step = tuple[bytes | None, bytes]


class FakeClock:
    """``monotonic()`` and ``sleep()`` on a counter: sleeping advances it at once."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.t = start_s

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)


class TranscriptMismatch(AssertionError):
    pass


class TranscriptPort:
    """A pyserial-like port that plays a transcript (see the module docstring)."""

    def __init__(self, steps: Sequence[Step], clock: FakeClock) -> None:
        self.steps = list(steps)
        self.clock = clock
        self.timeout: float | None = 0.05
        self.is_open = True
        self.written = b""  # bytes of the current exchange not yet matched
        self.log: list[bytes] = []  # every write, in order
        self._in = bytearray()
        self._release_unprompted()

    def _release_unprompted(self) -> None:
        while self.steps and self.steps[0][0] is None:
            self._in += self.steps.pop(0)[1]

    # -- the pyserial surface drivers use -----------------------------------------------
    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise OSError("port closed")
        self.log.append(bytes(data))
        self.written += data
        while self.written:
            if not self.steps:
                raise TranscriptMismatch(f"the driver sent {self.written!r} after the transcript ended")
            expected = self.steps[0][0]
            assert expected is not None
            if self.written.startswith(expected):
                self.written = self.written[len(expected):]
                self._in += self.steps.pop(0)[1]
                self._release_unprompted()
            elif expected.startswith(self.written):
                break  # a command sent in pieces
            else:
                raise TranscriptMismatch(f"the driver sent {self.written!r}, the transcript expects {expected!r}")
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        return len(self._in)

    def read(self, size: int = 1) -> bytes:
        if not self._in:
            self.clock.sleep(self.timeout or 0.0)
            return b""
        out = bytes(self._in[:size])
        del self._in[:size]
        return out

    def reset_input_buffer(self) -> None:
        self._in.clear()

    def close(self) -> None:
        self.is_open = False

    # -- checks -------------------------------------------------------------------------
    def push(self, data: bytes) -> None:
        """Bytes the device sends now (e.g. readings while streaming)."""
        self._in += data

    def assert_done(self) -> None:
        """Every exchange of the transcript happened."""
        if self.steps or self.written:
            raise TranscriptMismatch(f"transcript not finished: next expected {self.steps[:1]!r}, "
                                     f"unmatched {self.written!r}")


def transcript_driver(driver_cls: type, steps: Sequence[Step], *, options: dict[str, str] | None = None,
                      port: str = "transcript", **kwargs: Any) -> tuple[Any, TranscriptPort]:
    """A driver of ``driver_cls`` connected to a :class:`TranscriptPort` playing ``steps``."""
    clock = FakeClock()
    fake = TranscriptPort(steps, clock)
    driver = driver_cls(port, options=options or {}, connect=lambda _port, _baud: fake, clock=clock, **kwargs)
    return driver, fake
