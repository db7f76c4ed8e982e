"""A device opened for calibration, on the same reader thread and pipeline as a session.

:class:`CalibrationDevice` opens one device, binds it with the identity calibration (the
pipeline's ``raw`` is what the calibration fits), and runs it through a
:class:`~station.pipeline.Pipeline`: the reader thread (with its reconnect), the ring
buffer a window can plot, and a :class:`CalibrationCollector` listener that keeps the last
seconds of raw readings for :meth:`CalibrationDevice.collect`. A cable pulled during a
calibration is waited for (the reader reconnects) instead of ending it; a reader that gives
up, or a dead pipeline, ends it with one clear line.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from drivers.base import DeviceError, DeviceInfo, Driver
from drivers.registry import open_device, parse_uri
from station.acquisition import ReaderEvent
from station.clock import ScaledClock
from station.errors import CalibrationDeviceError
from station.pipeline import BoundDevice, HealthEvent, Pipeline, ProcessedBlock

log = logging.getLogger(__name__)


class CalibrationCollector:
    """A pipeline listener keeping the newest ``keep_s`` seconds of one device's raw readings
    (device unit: counts or N), and whether the device is connected."""

    def __init__(self, device_id: str, channels: int, rate_hz: float, keep_s: float = 30.0) -> None:
        self.device_id = device_id
        self.channels = channels
        self.max_samples = max(1000, int(keep_s * rate_hz))
        self._blocks: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._held = 0
        self._lock = threading.Lock()
        self.connected = True
        self.disconnects = 0
        self.last_event: str = ""

    def on_block(self, block: ProcessedBlock) -> None:
        if block.device_id != self.device_id:
            return
        with self._lock:
            self._blocks.append((block.t_host_s, block.raw))
            self._held += len(block)
            while self._blocks and self._held - len(self._blocks[0][0]) >= self.max_samples:
                self._held -= len(self._blocks.popleft()[0])

    def on_event(self, event: ReaderEvent | HealthEvent) -> None:
        if isinstance(event, ReaderEvent) and event.device_id == self.device_id:
            if event.kind == "disconnected":
                self.connected = False
                self.disconnects += 1
            elif event.kind == "reconnected":
                self.connected = True
            self.last_event = f"{event.kind}: {event.message}"

    def since(self, t0: float) -> np.ndarray:
        """Readings ``(n, channels)`` stamped at or after ``t0`` (host monotonic clock)."""
        parts = []
        with self._lock:
            for t, v in reversed(self._blocks):  # newest first; blocks are in time order
                if not t.size:
                    continue
                if t[-1] < t0:
                    break
                parts.append(v if t[0] >= t0 else v[t >= t0])
        parts.reverse()
        if not parts:
            return np.empty((0, self.channels))
        return np.concatenate(parts)


class CalibrationDevice:
    """An opened, streaming device whose fresh readings can be collected on demand.

    The device streams through a :class:`~station.pipeline.Pipeline` (one reader thread
    with reconnect, like a session), so nothing piles up in the port while the operator
    handles weights. :meth:`collect` returns readings that arrived after a given moment.
    For a ``sim:`` URI a :class:`~station.calibration_link.StaticLoad` (``self.load``) is the
    force the simulator feels, so the command can place the loads itself. ``on_simulator``
    (tests) is called with the simulator before the driver opens it. ``on_message`` gets
    one line when the device disconnects or comes back during a wait. ``clock`` (``sim:`` only):
    simulated time faster than real time (:class:`~station.clock.ScaledClock`), shared by the
    simulator, the driver's stamps and :meth:`collect`; give the same clock to the workflow.
    """

    def __init__(self, uri_text: str, *, keep_s: float = 30.0, sim_noise_n: float = 0.005,
                 on_simulator: Callable[[Any], None] | None = None,
                 on_message: Callable[[str], None] | None = None, reconnect_timeout_s: float = 120.0,
                 clock: ScaledClock | None = None) -> None:
        from station.calibration_link import StaticLoad, simulator_channels

        try:
            self.uri = parse_uri(uri_text)
        except DeviceError as exc:
            raise CalibrationDeviceError(str(exc)) from None
        self.text = uri_text
        self.load: StaticLoad | None = StaticLoad(simulator_channels(self.uri), noise_n=sim_noise_n) \
            if self.uri.simulated else None
        self.keep_s = float(keep_s)
        self.driver: Driver | None = None
        self.simulator: Any = None
        self.info: DeviceInfo | None = None
        self.pipeline: Pipeline | None = None
        self.collector: CalibrationCollector | None = None
        self.on_message = on_message
        self.reconnect_timeout_s = reconnect_timeout_s
        #: the time of the readings' stamps (host monotonic; a faster one for a ``sim:`` device
        #: given ``clock``, shared by its simulator and driver)
        self.monotonic: Callable[[], float] = clock.monotonic if clock is not None else time.monotonic
        self.speed = clock.speed if clock is not None else 1.0
        try:
            self.driver, self.simulator = open_device(uri_text, self.load, clock=clock)
            if on_simulator is not None and self.simulator is not None:
                on_simulator(self.simulator)
            self.info = self.driver.open()
            device = BoundDevice("calibration", uri_text, self.driver, self.info)
            self.pipeline = Pipeline([device], ring_seconds=min(keep_s, 30.0))
            self.pipeline.readers["calibration"].reconnect_timeout_s = reconnect_timeout_s
            self.collector = CalibrationCollector("calibration", self.info.channels, self.info.rate_hz, keep_s)
            self.pipeline.subscribe(self.collector, name="calibration collector", critical=True)
            self.pipeline.start()
        except DeviceError as exc:
            self.close()
            raise CalibrationDeviceError(str(exc)) from None
        except BaseException:
            self.close()
            raise

    @property
    def simulated(self) -> bool:
        return self.uri.simulated

    @property
    def rate_hz(self) -> float:
        assert self.info is not None
        return float(self.info.rate_hz)

    def readings(self) -> DeviceReadings:
        """This device as the reading source of a calibration or verification workflow."""
        return DeviceReadings(self)

    def __enter__(self) -> CalibrationDevice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the reader and pipeline, then close the driver and the simulator."""
        if self.pipeline is not None:
            self.pipeline.stop()
            self.pipeline = None
        if self.driver is not None:
            try:
                self.driver.close()
            except (DeviceError, OSError):
                pass
        if self.simulator is not None:
            self.simulator.close()
            self.simulator = None

    def _say(self, text: str) -> None:
        log.info("%s: %s", self.text, text)
        if self.on_message is not None:
            self.on_message(text)

    def collect(self, seconds: float, *, since: float | None = None, timeout_s: float | None = None) -> np.ndarray:
        """Readings ``(n, channels)`` (device unit) that arrived after ``since`` (host monotonic
        clock, or the device's faster simulated one; default now), waiting until ``seconds`` worth of
        samples are there.

        A device that disconnects meanwhile is waited for (the reader reconnects it, within
        ``reconnect_timeout_s``); readings from before the disconnect are dropped, since the
        load may have moved. Raises ``CalibrationDeviceError`` if the device stops delivering for good.
        """
        assert self.collector is not None and self.pipeline is not None
        start = self.monotonic() if since is None else float(since)
        need = max(3, int(math.ceil(float(seconds) * self.rate_hz)))
        # the slack is real time (a busy machine delivers late): more of it on a faster clock
        limit = float(seconds) + (3.0 + 20.0 / self.rate_hz) * self.speed if timeout_s is None else float(timeout_s)
        deadline = self.monotonic() + limit
        seen_disconnects = self.collector.disconnects
        while True:
            if self.pipeline.failure is not None:
                raise CalibrationDeviceError(f"{self.text}: {self.pipeline.failure.describe()}")
            if self.collector.disconnects != seen_disconnects or not self.collector.connected:
                self._say(f"{self.text} disconnected; waiting for it to come back "
                          f"(up to {self.reconnect_timeout_s:g} s)")
                if not self._wait_reconnected():
                    raise CalibrationDeviceError(f"{self.text}: disconnected and did not come back within "
                                    f"{self.reconnect_timeout_s:g} s; nothing saved")
                self._say(f"{self.text} back; reading again")
                seen_disconnects = self.collector.disconnects
                start = self.monotonic()
                deadline = start + limit
            values = self.collector.since(start)
            if values.shape[0] >= need:
                return values
            if self.monotonic() > deadline:
                raise CalibrationDeviceError(f"{self.text}: only {values.shape[0]} of {need} readings arrived in {limit:.1f} s "
                                "(is the device streaming?)")
            time.sleep(0.01)

    def _wait_reconnected(self) -> bool:
        assert self.collector is not None and self.pipeline is not None
        deadline = self.monotonic() + self.reconnect_timeout_s
        while not self.collector.connected:
            if self.pipeline.failure is not None:
                raise CalibrationDeviceError(f"{self.text}: {self.pipeline.failure.describe()}")
            if self.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


class DeviceReadings:
    """A :class:`CalibrationDevice` as a workflow's reading source
    (:class:`station.calibration_workflow.ReadingSource`): its collector's readings on the
    host monotonic clock, its connection state and its pipeline's failure."""

    def __init__(self, device: CalibrationDevice) -> None:
        assert device.collector is not None and device.info is not None
        self.device = device
        self.collector = device.collector
        self.text = device.text
        self.info = device.info

    def since(self, t0: float) -> np.ndarray:
        return self.collector.since(t0)

    @property
    def connected(self) -> bool:
        return self.collector.connected

    @property
    def disconnects(self) -> int:
        return self.collector.disconnects

    @property
    def failure(self) -> str | None:
        pipeline = self.device.pipeline
        if pipeline is None:
            return "the device is closed"
        return None if pipeline.failure is None else pipeline.failure.describe()
