"""The real-time pipeline: reader queues → calibration → ring buffers, live metrics, recorder.

One processing thread takes sample blocks from every device's reader (a single bounded
queue), converts them to newtons (calibration, then the host tare), appends them to the
ring buffers the GUI reads, updates the live onset/peak detector, and, while a trial is
recording, keeps the samples for analysis and hands them to the HDF5 writer.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from drivers.base import DeviceInfo, Driver
from station.acquisition import DeviceBlock, DeviceReader, QueueItem, ReaderEvent
from station.live import LiveOnsetPeak
from station.ringbuffer import RingBuffer
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec

if TYPE_CHECKING:  # simulators are imported only where a sim: URI opens one
    from simulation.pty_simulator import PtySimulator

Calibrate = Callable[[np.ndarray], np.ndarray]


def identity(values: np.ndarray) -> np.ndarray:
    """The calibration of a device that already reports newtons."""
    return values


@dataclass
class BoundDevice:
    """An opened device playing a role in the session, with its calibration (raw → N)."""

    device_id: str
    uri: str
    driver: Driver
    info: DeviceInfo
    calibrate: Calibrate = identity
    calibration_snapshot: dict[str, Any] = field(default_factory=dict)
    simulator: PtySimulator | None = None

    def close(self) -> None:
        self.driver.close()
        if self.simulator is not None:
            self.simulator.close()


@dataclass
class TrialData:
    """Everything one device delivered during a trial recording (host time in s, force N)."""

    t_host_s: np.ndarray
    raw: np.ndarray
    force_n: np.ndarray
    t_device_s: np.ndarray | None

    @property
    def samples(self) -> int:
        return int(self.t_host_s.size)


class _Recording:
    def __init__(self, devices: list[str]) -> None:
        self.parts: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]] = {
            d: [] for d in devices}
        self.events: list[ReaderEvent] = []


class Pipeline:
    """Runs readers and the processing thread for a set of bound devices."""

    def __init__(self, devices: list[BoundDevice], writer: SessionWriter | None = None, *,
                 ring_seconds: float = 30.0, queue_blocks: int = 4096) -> None:
        self.devices = {d.device_id: d for d in devices}
        self.writer = writer
        self.queue: queue.Queue[QueueItem] = queue.Queue(maxsize=queue_blocks)
        self.readers = {d.device_id: DeviceReader(d.device_id, d.driver, self.queue) for d in devices}
        self.rings = {
            d.device_id: RingBuffer(int(ring_seconds * d.info.rate_hz) + 1, d.info.channels) for d in devices}
        self.tare_n = {d.device_id: np.zeros(d.info.channels) for d in devices}
        self.live = LiveOnsetPeak()
        self._live_device: str | None = None
        self._live_channels: tuple[int, ...] = ()
        self._recording: _Recording | None = None
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self.events: list[ReaderEvent] = []
        self.latencies_s: list[float] = []  # block read from the driver → live state updated
        self.record_latency = False

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        for d in self.devices.values():
            d.driver.start()
        for r in self.readers.values():
            r.start()
        self._thread.start()

    def stop(self) -> None:
        for r in self.readers.values():
            r.stop()
        for r in self.readers.values():
            r.join(timeout=2.0)
        self._halt.set()
        self._thread.join(timeout=2.0)
        for d in self.devices.values():
            try:
                d.driver.stop()
            except Exception:  # noqa: BLE001 - a vanished device cannot be stopped
                pass

    # -- controls from the session runner -------------------------------------------------
    def watch(self, device_id: str, channels: tuple[int, ...]) -> None:
        """Feed the live detector the sum of ``channels`` of ``device_id``."""
        with self._lock:
            self._live_device, self._live_channels = device_id, channels
            self.live.reset()

    def tare(self, device_id: str, seconds: float = 0.5) -> np.ndarray:
        """Zero ``device_id`` on its last ``seconds`` of samples; returns the offsets (N)."""
        d = self.devices[device_id]
        ring = self.rings[device_id]
        _, values = ring.latest(max(1, int(seconds * d.info.rate_hz)))
        with self._lock:
            if values.size:
                self.tare_n[device_id] = self.tare_n[device_id] + values.mean(axis=0)
            return self.tare_n[device_id].copy()

    def begin_recording(self, spec: TrialSpec | None, devices: list[str]) -> None:
        if spec is not None and self.writer is not None:
            self.writer.begin_trial(spec)
        with self._lock:
            self._recording = _Recording(devices)

    def end_recording(self) -> tuple[dict[str, TrialData], list[ReaderEvent]]:
        with self._lock:
            rec, self._recording = self._recording, None
        if rec is None:
            return {}, []
        out: dict[str, TrialData] = {}
        for device_id, parts in rec.parts.items():
            ch = self.devices[device_id].info.channels
            if parts:
                t = np.concatenate([p[0] for p in parts])
                raw = np.concatenate([p[1] for p in parts])
                force = np.concatenate([p[2] for p in parts])
                tdev = np.concatenate([p[3] for p in parts]) if all(p[3] is not None for p in parts) else None
            else:
                t, raw, force, tdev = np.empty(0), np.empty((0, ch)), np.empty((0, ch)), None
            out[device_id] = TrialData(t, raw, force, tdev)
        return out, rec.events

    def wait_for_samples(self, device_id: str, n: int, timeout_s: float = 5.0) -> bool:
        """Block until ``device_id`` has delivered at least ``n`` samples in total."""
        deadline = time.monotonic() + timeout_s
        while self.rings[device_id].total < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # -- processing thread ----------------------------------------------------------------
    def _run(self) -> None:
        while not self._halt.is_set():
            try:
                item = self.queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if isinstance(item, ReaderEvent):
                self.events.append(item)
                with self._lock:
                    if self._recording is not None:
                        self._recording.events.append(item)
                continue
            self._process(item)

    def _process(self, item: DeviceBlock) -> None:
        device = self.devices[item.device_id]
        block = item.block
        raw = block.values
        force = device.calibrate(raw) - self.tare_n[item.device_id]
        self.rings[item.device_id].append(block.t_host_s, force)
        with self._lock:
            if self._live_device == item.device_id:
                self.live.update(block.t_host_s, force[:, list(self._live_channels)].sum(axis=1))
                if self.record_latency:
                    self.latencies_s.append(time.monotonic() - item.read_s)
            rec = self._recording
            if rec is not None and item.device_id in rec.parts:
                rec.parts[item.device_id].append((block.t_host_s, raw, force, block.t_device_s))
                if self.writer is not None:
                    self.writer.append(item.device_id, block.t_host_s, raw, force, block.t_device_s)


def trial_spec(test: str, trial: str, devices: dict[str, BoundDevice], attrs: dict[str, Any]) -> TrialSpec:
    """The writer's description of a trial recording ``devices``."""
    return TrialSpec(
        test=test, trial=trial, attrs=attrs,
        devices={k: TrialDevice(d.info.channels, d.info.time_source == "device") for k, d in devices.items()},
    )
