"""Device simulators on a real pseudo-terminal, with fault injection.

A simulator owns the master end of an ``os.openpty()`` pair and speaks a device's wire
protocol there; the driver opens the slave path (``/dev/pts/N``) with pyserial exactly as
it would open ``/dev/ttyUSB0``. Faults are injected on the wire: garbage bytes, a dropped
byte, a frozen stream, and an unplug (closing the pty, which is what a pulled USB cable
looks like on Linux).
"""
from __future__ import annotations

import errno
import itertools
import os
import select
import threading
import time
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np

from simulation.forces import ForceSource

_LINK_IDS = itertools.count(1)


class PtySimulator(ABC):
    """Base class: a thread serving one device's protocol on a pty master.

    Subclasses implement :meth:`handle_command` (reply bytes for one command line) and
    :meth:`encode_samples` (wire bytes for a run of samples). The base class paces streaming
    from its clock at ``rate_hz`` and applies injected faults to outgoing bytes.

    :attr:`clock` (seconds; default the host monotonic clock) is the simulator's time: the
    stream's pacing, the force source's sample times and timed faults all follow it. A clock
    that runs faster than real time (:class:`station.clock.ScaledClock`, shared with the
    driver and the session engine) runs a simulated session faster than real time.
    """

    family: ClassVar[str]
    #: bytes that end one host command
    command_terminators: ClassVar[bytes] = b"\r\n"
    #: how often the thread wakes to send due samples, s
    tick_s: ClassVar[float] = 0.004
    #: bytes the device buffers when the host does not read (a USB-serial FIFO); beyond it
    #: output is lost and counted in :attr:`overflow_bytes`
    fifo_bytes: ClassVar[int] = 64 * 1024
    #: :meth:`drop_bytes` cuts the middle of the next output's first line (a text protocol
    #: whose fields differ in kind), not the middle of the whole output
    drop_within_first_line: ClassVar[bool] = False
    #: when set, the port handed out is a symbolic link in this folder to the pty, a new name
    #: at each plug-in (as a re-enumerated USB adapter): an unplug removes it, so a host that
    #: reopens the old name never reaches a pty the kernel has since given to another program
    #: (the tests set it; ``/dev/pts/N`` numbers are reused at once)
    port_dir: ClassVar[str | None] = None

    def __init__(self, source: ForceSource, *, rate_hz: float, seed: int = 0) -> None:
        self.source = source
        self.rate_hz = float(rate_hz)
        self.rng = np.random.default_rng(seed)
        self.clock: Callable[[], float] = time.monotonic
        self._lock = threading.RLock()
        self._master: int | None = None
        self._slave: int | None = None
        self._port: str | None = None
        self._link: str | None = None
        self._thread: threading.Thread | None = None
        self._running = False
        self._cmd_buffer = b""
        self.streaming = False
        self._stream_t0 = 0.0
        self._sent = 0  # samples produced since streaming started
        # faults
        self._pending_garbage = b""
        self._drop_bytes = 0
        self._frozen_until = 0.0
        self.overflow_bytes = 0  # bytes lost because the host did not read in time
        self._backlog = b""  # bytes waiting in the device FIFO
        self.commands_seen: list[bytes] = []

    # -- lifecycle --------------------------------------------------------------------
    @property
    def port(self) -> str:
        if self._port is None:
            raise RuntimeError("simulator not started")
        return self._port

    def start(self) -> str:
        """Create the pty and serve it; returns the port path for pyserial."""
        self._open_pty()
        self._running = True
        self._thread = threading.Thread(target=self._serve, name=f"sim-{self.family}", daemon=True)
        self._thread.start()
        return self.port

    def close(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._close_pty()

    def __enter__(self) -> PtySimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: a byte-exact wire
        os.set_blocking(master, False)
        with self._lock:
            self._master, self._slave = master, slave
            self._port = os.ttyname(slave)
            self._cmd_buffer = b""
            if self.port_dir is not None:
                self._link = os.path.join(self.port_dir, f"{self.family}-{os.getpid()}-{next(_LINK_IDS)}")
                os.symlink(self._port, self._link)
                self._port = self._link

    def _close_pty(self) -> None:
        with self._lock:
            self._backlog = b""
            if self._link is not None:
                try:
                    os.unlink(self._link)
                except OSError:
                    pass
            for fd in (self._master, self._slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._master = self._slave = None

    # -- faults -----------------------------------------------------------------------
    def inject_garbage(self, data: bytes | int) -> None:
        """Send ``data`` (or that many random bytes) before the next output."""
        if isinstance(data, int):
            data = self.rng.integers(0, 256, size=data, dtype=np.uint8).tobytes()
        with self._lock:
            self._pending_garbage += data

    def drop_bytes(self, n: int = 1) -> None:
        """Lose ``n`` bytes from the middle of the next output (a byte lost on the wire;
        see :attr:`drop_within_first_line`)."""
        with self._lock:
            self._drop_bytes += n

    def freeze(self, seconds: float) -> None:
        """Stop sending samples for ``seconds`` (the samples are never produced)."""
        with self._lock:
            self._frozen_until = self.clock() + seconds

    def unplug(self) -> None:
        """Close the pty: the host sees EIO / a vanished port, as with a pulled cable."""
        self._close_pty()

    def replug(self) -> str:
        """Plug back in on a new pty; returns the new port path."""
        self._open_pty()
        return self.port

    @property
    def plugged(self) -> bool:
        return self._master is not None

    # -- protocol hooks ---------------------------------------------------------------
    @abstractmethod
    def handle_command(self, line: bytes) -> bytes | None:
        """Reply bytes for one command (without its terminator), or None for no reply."""

    @abstractmethod
    def encode_samples(self, t_s: np.ndarray, force_n: np.ndarray, index: np.ndarray) -> bytes:
        """Wire bytes for samples at device times ``t_s`` (s since stream start)."""

    def on_stream_start(self) -> None:  # noqa: B027 - optional hook
        """Called when streaming starts."""

    # -- streaming control for subclasses ---------------------------------------------
    def begin_streaming(self) -> None:
        with self._lock:
            self.streaming = True
            self._stream_t0 = self.clock()
            self._sent = 0
            self.on_stream_start()

    def end_streaming(self) -> None:
        with self._lock:
            self.streaming = False

    def stream_time_s(self) -> float:
        return self.clock() - self._stream_t0

    # -- the serving thread -----------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Write to the host, applying pending faults to ``data``. What the pty cannot take
        now waits in the device FIFO (:attr:`fifo_bytes`) and goes out first next time."""
        with self._lock:
            if self._master is None:
                return
            if self._pending_garbage:
                data = self._pending_garbage + data
                self._pending_garbage = b""
            if self._drop_bytes and len(data) > self._drop_bytes + 2:
                cut = len(data) // 2
                first_line = data.find(b"\n") + 1
                if self.drop_within_first_line and first_line > self._drop_bytes + 2:
                    cut = first_line // 2  # the same place in a line, however many lines go out at once
                data = data[:cut] + data[cut + self._drop_bytes :]
                self._drop_bytes = 0
            if self._backlog:
                data, self._backlog = self._backlog + data, b""
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._master, view)
                except BlockingIOError:
                    self._backlog = bytes(view[: self.fifo_bytes])
                    self.overflow_bytes += max(0, len(view) - self.fifo_bytes)
                    return
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.EBADF):
                        return
                    raise
                view = view[n:]

    def _serve(self) -> None:
        while self._running:
            master = self._master
            if master is None:
                time.sleep(self.tick_s)
                continue
            try:
                readable, _, _ = select.select([master], [], [], self.tick_s)
            except (OSError, ValueError):
                time.sleep(self.tick_s)
                continue
            if readable:
                try:
                    data = os.read(master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError:
                    data = b""  # host side not open yet or gone
                if data:
                    self._on_bytes(data)
            self._stream_due()
            if self._backlog:
                self.send(b"")

    def _on_bytes(self, data: bytes) -> None:
        self._cmd_buffer += data
        while True:
            positions = [p for p in (self._cmd_buffer.find(bytes([c])) for c in self.command_terminators) if p >= 0]
            if not positions:
                break
            end = min(positions)
            line, self._cmd_buffer = self._cmd_buffer[:end], self._cmd_buffer[end + 1 :]
            if not line:
                continue  # the LF of a CR-LF pair, or an empty line
            self.commands_seen.append(line)
            reply = self.handle_command(line)
            if reply:
                self.send(reply)

    def _stream_due(self) -> None:
        with self._lock:
            if not self.streaming:
                return
            now = self.clock()
            due_total = int((now - self._stream_t0) * self.rate_hz)
            n = due_total - self._sent
            if n <= 0:
                return
            index = np.arange(self._sent, due_total, dtype=np.int64)
            self._sent = due_total
            if now < self._frozen_until:
                return  # frozen: these samples are never sent
            t_s = index / self.rate_hz
            force_n = self.source.sample(self._stream_t0 + t_s)
            payload = self.encode_samples(t_s, force_n, index)
        self.send(payload)
