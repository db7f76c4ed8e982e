"""Types shared by every driver: sample blocks, device description, counters, errors."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import serial

from drivers.serial_port import open_serial
from force_errors import ForceStationError

TimeSource = Literal["device", "host"]


class DeviceError(ForceStationError):
    """A device problem the user can act on; the message is one line naming the port."""


class DeviceDisconnected(DeviceError):
    """The port vanished or stopped answering (cable pulled, pty closed)."""


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

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class DeviceInfo:
    """What a device said about itself, plus the settings the driver applied.

    ``rate_hz`` is the nominal sample rate; ``unit`` the unit of :attr:`SampleBlock.values`.
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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class HostClock:
    """Gives evenly spaced host timestamps (s) to samples that carry no device time.

    Each block's last sample is stamped with its arrival time; earlier samples are spaced
    back by the nominal period, never overlapping the previous block.
    """

    def __init__(self, rate_hz: float) -> None:
        self.period_s = 1.0 / rate_hz
        self._last: float | None = None

    def stamp(self, n: int, arrival_s: float) -> np.ndarray:
        t = arrival_s - self.period_s * np.arange(n - 1, -1, -1, dtype=np.float64)
        if self._last is not None and n and t[0] <= self._last:
            t = self._last + self.period_s * np.arange(1, n + 1, dtype=np.float64)
        if n:
            self._last = float(t[-1])
        return t


class Driver(ABC):
    """One connected device. Subclasses implement identification, start/stop and decoding.

    ``port`` is a device path or any pyserial URL (``loop://``, ``socket://host:port``).
    ``port_provider``, when given, is asked for the current path on reconnect (a simulator
    re-plugged on a new pty, a USB adapter that came back under another name).
    """

    family: ClassVar[str]
    default_baudrate: ClassVar[int] = 115200
    #: how long identification waits for a valid reply, s
    identify_timeout_s: ClassVar[float] = 2.0

    def __init__(
        self,
        port: str,
        *,
        baudrate: int | None = None,
        port_provider: Callable[[], str] | None = None,
        options: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.baudrate = baudrate or self.default_baudrate
        self.options = dict(options or {})
        self._port_provider = port_provider
        self.stats = DriverStats()
        self.info: DeviceInfo | None = None
        self._serial: serial.SerialBase | None = None
        self.streaming = False
        self._pending_error: DeviceDisconnected | None = None

    # -- connection -------------------------------------------------------------------
    def open(self) -> DeviceInfo:
        """Open the port and identify the device. Raises :class:`DeviceError`."""
        self._serial = open_serial(self.port, self.baudrate)
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
        """Re-open the port once it reappears and restart streaming if it was running."""
        was_streaming = self.streaming
        self.close()
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._port_provider is not None:
                self.port = self._port_provider()
            try:
                self._serial = open_serial(self.port, self.baudrate)
                self.reset_decoder()
                self.info = self.identify()
                self.stats.reconnects += 1
                if was_streaming:
                    self.start()
                return self.info
            except DeviceError as exc:
                last_error = exc
                self.close()
                time.sleep(poll_s)
        raise DeviceDisconnected(f"{self.port}: device did not come back within {timeout_s:g} s ({last_error})")

    @property
    def serial(self) -> serial.SerialBase:
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
        disconnect is raised by the next call, so nothing read is lost.
        """
        if self._pending_error is not None:
            err, self._pending_error = self._pending_error, None
            raise err
        ser = self.serial
        data = b""
        try:
            ser.timeout = timeout_s
            waiting = ser.in_waiting
            data = ser.read(waiting if waiting else 1)
            if data:
                more = ser.in_waiting
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
        """Read what has arrived and decode it. Raises :class:`DeviceDisconnected`."""
        data = self.read_available(timeout_s)
        if not data:
            return None
        block = self.decode(data, time.monotonic())
        if block is not None:
            self.stats.samples += len(block)
        return block
