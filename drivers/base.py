"""Types shared by every driver: sample blocks, device description, counters, errors."""
from __future__ import annotations

import logging
import os
import select
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import serial

from drivers.options import Option, parse_options
from drivers.serial_port import open_serial
from force_errors import ForceStationError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

try:
    from termios import error as TermiosError
except ImportError:  # pragma: no cover - not POSIX
    class TermiosError(Exception):  # type: ignore[no-redef]
        """Stand-in where termios does not exist."""

log = logging.getLogger(__name__)

#: bytes asked of the OS per read of a real port (a tty returns at most ~4 KiB at a time)
READ_BYTES = 1 << 16
#: a read at least this long means the device sends faster than we read: keep reading
FLOWING_BYTES = 2048
#: how long one flowing read may keep gathering (s; bounds the added live latency) …
COALESCE_S = 0.004
#: … and how many bytes
COALESCE_BYTES = 1 << 18

#: Linux ``TIOCGICOUNT``: a serial port's interrupt counters (``struct serial_icounter_struct``:
#: cts dsr rng dcd rx tx frame overrun parity brk buf_overrun reserved[9], all int)
TIOCGICOUNT = 0x545D
_ICOUNT = struct.Struct("20i")
#: the port's counters are read every this many reads (one ioctl; a reader reads ~200×/s)
ICOUNT_EVERY_READS = 128

TimeSource = Literal["device", "host"]


def port_overruns(fd: int) -> int | None:
    """Characters a real serial port dropped because they were not read in time: the UART's
    ``overrun`` plus the tty layer's ``buf_overrun`` (Linux ``TIOCGICOUNT``; USB adapters
    such as FTDI, CP210x, PL2303 count them too). None where the port keeps no such counts
    (a pty, a socket, another OS)."""
    if fcntl is None:
        return None
    try:
        values = _ICOUNT.unpack(fcntl.ioctl(fd, TIOCGICOUNT, bytes(_ICOUNT.size)))
    except (OSError, ValueError, struct.error):
        return None
    return int(values[7]) + int(values[10])


class DeviceError(ForceStationError):
    """A device problem the user can act on; the message is one line naming the port."""


class DeviceDisconnected(DeviceError):
    """The port vanished or stopped answering (cable pulled, pty closed)."""


#: what a port that vanished (or vanishes again) while it is being re-opened and identified
#: may raise: our own errors, pyserial's, an OS error (EIO, ENXIO, ENOENT…), and
#: ``termios.error``, which is not an OSError (``reset_input_buffer`` on a pty whose far end
#: closed raises ``termios.error(5, 'Input/output error')``)
PORT_GONE_ERRORS: tuple[type[Exception], ...] = (DeviceError, serial.SerialException, OSError, TermiosError)


@dataclass(frozen=True)
class SampleBlock:
    """Consecutive samples from one device.

    ``values`` has shape (n, channels), float64, in :attr:`DeviceInfo.unit` (``"N"`` for
    devices that report force, ``"counts"`` for raw ADC devices). ``t_host_s`` is the host
    monotonic clock (``time.monotonic()``, s) per sample; ``t_device_s`` is the device clock
    (s, unwrapped) where the device has one, else None.
    """

    values: np.ndarray
    t_host_s: np.ndarray
    t_device_s: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def channels(self) -> int:
        return int(self.values.shape[1])


@dataclass
class DriverStats:
    """Running counters of one driver; all counts since :meth:`Driver.open`."""

    bytes_in: int = 0
    samples: int = 0
    crc_errors: int = 0
    resyncs: int = 0
    garbage_bytes: int = 0
    gaps: int = 0
    lost_samples: int = 0
    device_errors: int = 0
    reconnects: int = 0
    reconnect_attempts: int = 0  # tries to re-open and identify a vanished port, failed or not
    #: characters the OS or the serial adapter dropped because the port was not read in time
    #: (``TIOCGICOUNT`` overruns; real serial ports on Linux only): data lost before decoding
    port_overruns: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, counters: Mapping[str, int]) -> None:
        """Add a decoder's counter increments (keys are field names of this class)."""
        for name, value in counters.items():
            setattr(self, name, getattr(self, name) + int(value))


#: the counters a decoder reports (:meth:`Decoder.counters`), named as in :class:`DriverStats`
DECODER_COUNTERS: tuple[str, ...] = ("crc_errors", "resyncs", "garbage_bytes", "gaps", "lost_samples", "device_errors")
assert set(DECODER_COUNTERS) <= {f.name for f in fields(DriverStats)}


class Decoder(Protocol):
    """What every family's decoder offers: bytes in (any split), values out, counters.

    ``counters()`` gives running totals since construction under :data:`DECODER_COUNTERS`
    names (a decoder may leave out a counter its protocol cannot have, e.g. ``crc_errors``
    for ASCII lines). ``feed`` never raises on any byte sequence: bad input is counted.
    """

    def feed(self, data: bytes) -> Any: ...

    def reset(self) -> None: ...

    def counters(self) -> dict[str, int]: ...


def counter_delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """``after - before`` per counter (only those that changed)."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


class Clock(Protocol):
    """Where a driver gets the time (host monotonic, s) and how it waits; injectable for tests."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`time.sleep`."""

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class SerialLike(Protocol):
    """What a driver uses of a pyserial port (an injected port needs only this)."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def flush(self) -> None: ...

    def reset_input_buffer(self) -> None: ...

    def close(self) -> None: ...


#: opens a port: ``connect(port, baudrate)`` → an open pyserial-like object
Connect = Callable[[str, int], SerialLike]


@dataclass(frozen=True)
class DeviceInfo:
    """What a device said about itself, plus the settings the driver applied.

    ``rate_hz`` is the nominal sample rate; ``unit`` the unit of :attr:`SampleBlock.values`.
    ``warnings`` lists what could not be identified or set (a command the device did not
    answer, a setting inferred instead of read); they are stored with the session.
    """

    family: str
    model: str
    serial: str
    firmware: str
    channels: int
    rate_hz: float
    unit: Literal["N", "counts"]
    time_source: TimeSource
    port: str
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HostClock:
    """Gives evenly spaced host timestamps (s) to samples that carry no device time.

    Each block's last sample is stamped with its arrival time; earlier samples are spaced
    back by the nominal period, never overlapping the previous block. A block that would
    overlap is spread evenly between the previous block and its arrival, so stamps never
    lie in the future (a device a little faster than nominal, or bursts, would otherwise
    push them ahead of the host clock without bound).
    """

    def __init__(self, rate_hz: float) -> None:
        self.period_s = 1.0 / rate_hz
        self._last: float | None = None

    def stamp(self, n: int, arrival_s: float) -> np.ndarray:
        t = arrival_s - self.period_s * np.arange(n - 1, -1, -1, dtype=np.float64)
        if self._last is not None and n and t[0] <= self._last:
            t = self._last + self.period_s * np.arange(1, n + 1, dtype=np.float64)
            if t[-1] > arrival_s > self._last:
                t = self._last + (arrival_s - self._last) * np.arange(1, n + 1, dtype=np.float64) / n
        if n:
            self._last = float(t[-1])
        return t


class Driver(ABC):
    """One connected device. Subclasses implement identification, start/stop and decoding.

    ``port`` is a device path or any pyserial URL (``loop://``, ``socket://host:port``).
    ``port_provider``, when given, is asked for the current path on reconnect (a simulator
    re-plugged on a new pty, a USB adapter that came back under another name).

    ``options`` are the device URI's query strings, checked against :attr:`OPTIONS` (one
    :class:`DeviceError` line naming a bad option); the typed values are in :attr:`opt`.
    ``connect`` (``connect(port, baudrate)`` → a pyserial-like object) and ``clock``
    (``monotonic()``/``sleep()``) are injectable, so tests can replay a vendor transcript
    without a port or real time.
    """

    family: ClassVar[str]
    default_baudrate: ClassVar[int] = 115200
    #: how long identification waits for a valid reply, s
    identify_timeout_s: ClassVar[float] = 2.0
    #: the options of this family's device URIs
    OPTIONS: ClassVar[tuple[Option, ...]] = ()

    def __init__(
        self,
        port: str,
        *,
        baudrate: int | None = None,
        port_provider: Callable[[], str] | None = None,
        options: dict[str, str] | None = None,
        connect: Connect | None = None,
        clock: Clock | None = None,
        allow_unknown_options: tuple[str, ...] = (),
    ) -> None:
        self.port = port
        self.baudrate = baudrate or self.default_baudrate
        self.options = dict(options or {})
        self.opt: dict[str, Any] = parse_options(self.OPTIONS, self.options, where=port,
                                                 allow_unknown=allow_unknown_options)
        self._connect: Connect = connect or open_serial
        self.clock: Clock = clock or SYSTEM_CLOCK
        self._port_provider = port_provider
        self.stats = DriverStats()
        self.info: DeviceInfo | None = None
        self._serial: SerialLike | None = None
        self.streaming = False
        #: streaming when the port vanished: restart it once reconnected, also when the first
        #: calls of :meth:`reconnect` time out before the device is back
        self._resume_streaming = False
        self._pending_error: DeviceDisconnected | None = None
        #: host monotonic time (s) a read last found the port empty (bytes read later arrived after it)
        self.empty_at_s = float("-inf")
        self._reads = 0
        self._overruns_seen: int | None = None  # the port's overrun count when last read
        self._overruns_kept = True  # False once the port turned out to keep no counts

    # -- connection -------------------------------------------------------------------
    def open(self) -> DeviceInfo:
        """Open the port and identify the device. Raises :class:`DeviceError`."""
        self._resume_streaming = False
        self._serial = self._connect(self.port, self.baudrate)
        self._overruns_seen, self._overruns_kept = None, True  # a new port: its own counts
        try:
            self.info = self.identify()
        except DeviceError:
            self.close()
            raise
        return self.info

    def close(self) -> None:
        if self._serial is not None:
            try:
                if self.streaming:
                    self.stop()
            except (DeviceError, serial.SerialException, OSError):
                pass
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = None
        self.streaming = False
        self._pending_error = None

    def reconnect(self, timeout_s: float = 5.0, poll_s: float = 0.2) -> DeviceInfo:
        """Re-open the port once it reappears and restart streaming if it was running.

        Any error of a port that is still gone, or vanishes again in the middle of
        identification (:data:`PORT_GONE_ERRORS`: ``DeviceError``, ``SerialException``,
        ``OSError``, ``termios.error``), means "still disconnected": the attempt is counted
        in ``stats.reconnect_attempts``, logged, and tried again until ``timeout_s``, then
        :class:`DeviceDisconnected` is raised (callers such as the reader thread call again).
        """
        was_streaming = self.streaming or self._resume_streaming
        self.close()
        self._resume_streaming = was_streaming
        deadline = time.monotonic() + timeout_s
        last_error: BaseException | None = None
        while True:
            if self._port_provider is not None:
                try:
                    self.port = self._port_provider()
                except Exception as exc:  # noqa: BLE001 - a provider that cannot name the port yet
                    last_error = exc
            self.stats.reconnect_attempts += 1
            try:
                self._serial = self._connect(self.port, self.baudrate)
                self._overruns_seen, self._overruns_kept = None, True
                self.reset_decoder()
                self.info = self.identify()
                if was_streaming:
                    self.start()
                self._resume_streaming = False
                self.stats.reconnects += 1
                log.info("%s: reconnected after %d attempt(s)", self.port, self.stats.reconnect_attempts)
                return self.info
            except PORT_GONE_ERRORS as exc:
                last_error = exc
                log.debug("%s: reconnect attempt %d: still disconnected (%s: %s)", self.port,
                          self.stats.reconnect_attempts, type(exc).__name__, exc)
                self.close()
                self.streaming = False
            if time.monotonic() + poll_s >= deadline:
                break
            time.sleep(poll_s)
        raise DeviceDisconnected(f"{self.port}: device did not come back within {timeout_s:g} s "
                                 f"({self.stats.reconnect_attempts} attempts so far; last: {last_error})")

    @property
    def serial(self) -> SerialLike:
        if self._serial is None:
            raise DeviceError(f"{self.port}: port is not open")
        return self._serial

    # -- raw I/O ----------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        try:
            self.serial.write(data)
            self.serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise DeviceDisconnected(f"{self.port}: write failed ({exc})") from exc

    def read_available(self, timeout_s: float = 0.05) -> bytes:
        """Everything the port holds now, waiting up to ``timeout_s`` for the first byte.

        If the port vanishes after some bytes were read, those bytes are returned and the
        disconnect is raised by the next call, so nothing read is lost. When the port held
        nothing, :attr:`empty_at_s` is set to that moment (every byte returned arrived after it).
        """
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        ser = self.serial
        data = b""
        try:
            fd = getattr(ser, "fd", None)
            if isinstance(fd, int) and isinstance(ser, serial.Serial):  # a real port: one syscall
                try:  # pyserial's fd is non-blocking: b"" when the port holds nothing
                    data = os.read(fd, READ_BYTES)  # everything the port holds, in one call
                except BlockingIOError:
                    data = b""
                if not data:  # empty now (or hung up): wait for the first byte
                    self.empty_at_s = time.monotonic()
                    if select.select([fd], [], [], timeout_s)[0]:
                        data = os.read(fd, READ_BYTES)
                        if not data:
                            raise serial.SerialException("device reports readiness to read but returned no data "
                                                         "(device disconnected?)")
                if len(data) >= FLOWING_BYTES:
                    data = self._take_flowing(fd, data)
                self.stats.bytes_in += len(data)
                self._reads += 1
                if self._overruns_kept and (self._reads - 1) % ICOUNT_EVERY_READS == 0:
                    self._check_overruns(fd)
                return data
            if ser.timeout != timeout_s:  # pyserial re-applies every port setting on each set
                ser.timeout = timeout_s
            waiting = ser.in_waiting
            if not waiting:
                self.empty_at_s = time.monotonic()
            if waiting:
                data = ser.read(waiting)  # everything there, in one call
            else:
                data = ser.read(1)  # wait for the first byte, then take what came with it
                more = ser.in_waiting if data else 0
                if more:
                    data += ser.read(more)
        except (serial.SerialException, OSError, TypeError) as exc:
            # pyserial reports a vanished pty/USB port as SerialException or OSError(EIO)
            error = DeviceDisconnected(f"{self.port}: device disconnected ({exc})")
            if not data:
                raise error from exc
            self._pending_error = error
        self.stats.bytes_in += len(data)
        return data

    def _check_overruns(self, fd: int) -> None:
        """Count the characters the port dropped since the last look (``stats.port_overruns``)
        and say so in the log: bytes lost before decoding are never silent, also where the
        protocol itself (ASCII lines) could not tell that whole readings are missing."""
        now = port_overruns(fd)
        if now is None:
            self._overruns_kept = False
            return
        seen, self._overruns_seen = self._overruns_seen, now
        if seen is not None and now > seen:
            self.stats.port_overruns += now - seen
            log.warning("%s: the port dropped %d character(s) that were not read in time (%d so far)",
                        self.port, now - seen, self.stats.port_overruns)

    def _take_flowing(self, fd: int, first: bytes) -> bytes:
        """Bytes arrive faster than one read takes them (a tty hands over at most ~4 KiB per
        read): keep reading for up to :data:`COALESCE_S` or :data:`COALESCE_BYTES`, so one
        decode and one hand-over cover many reads. Stops as soon as a read comes back short
        (the port is drained), so a device at clinic rates is never held back. A port that
        vanishes meanwhile keeps what was read; the disconnect is raised by the next call."""
        parts = [first]
        total = len(first)
        deadline = time.monotonic() + COALESCE_S
        last = total
        while last >= FLOWING_BYTES and total < COALESCE_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                if not select.select([fd], [], [], left)[0]:
                    break
                chunk = os.read(fd, READ_BYTES)
            except BlockingIOError:
                continue
            except OSError as exc:
                self._pending_error = DeviceDisconnected(f"{self.port}: device disconnected ({exc})")
                break
            if not chunk:
                self._pending_error = DeviceDisconnected(f"{self.port}: device disconnected (no data)")
                break
            parts.append(chunk)
            last = len(chunk)
            total += last
        return b"".join(parts)

    # -- device specific --------------------------------------------------------------
    @abstractmethod
    def identify(self) -> DeviceInfo:
        """Ask the device who it is; raise :class:`DeviceError` if it does not answer."""

    @abstractmethod
    def start(self) -> None:
        """Begin streaming samples."""

    @abstractmethod
    def stop(self) -> None:
        """End streaming samples."""

    @abstractmethod
    def decode(self, data: bytes, arrival_s: float) -> SampleBlock | None:
        """Decode a byte block (any split) into samples; keep a partial tail for later."""

    @abstractmethod
    def reset_decoder(self) -> None:
        """Forget any partial frame (after reconnect)."""

    def tare(self) -> None:  # noqa: B027 - optional
        """Zero the device where it supports it (host-side tare is done by calibration)."""

    def read(self, timeout_s: float = 0.05) -> SampleBlock | None:
        """Read what has arrived and decode it. Raises :class:`DeviceDisconnected`.

        Bytes never stop the reader: should a decoder fail on some input (a bug; the property
        tests look for them), the block is counted as garbage and decoding starts afresh.
        """
        data = self.read_available(timeout_s)
        if not data:
            return None
        try:
            block = self.decode(data, self.clock.monotonic())
        except DeviceError:
            raise
        except Exception as exc:  # noqa: BLE001 - the reader must survive any byte sequence
            log.warning("%s: decoder failed on %d bytes (%s: %s); resynchronising", self.port, len(data),
                        type(exc).__name__, exc)
            self.stats.resyncs += 1
            self.stats.garbage_bytes += len(data)
            self.reset_decoder()
            return None
        if block is not None:
            self.stats.samples += len(block)
        return block
