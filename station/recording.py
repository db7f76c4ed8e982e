"""Raw recording on the session's acquisition path (``station acquire``).

:func:`record_raw` runs the given devices through a :class:`~station.pipeline.Pipeline` —
the same reader threads (with reconnect), calibration and HDF5 writer tap as a session —
for a fixed time, writing every sample as one trial, with a :class:`RawCounter` listener
that counts what was acquired per device. Nothing read is dropped: stopping drains the queue.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from station.acquisition import ReaderEvent
from station.pipeline import BoundDevice, HealthEvent, Pipeline, ProcessedBlock, trial_spec
from station.storage import layout
from station.storage.writer import SessionWriter


@dataclass
class DeviceCount:
    """What one device delivered: samples, first/last time (device clock if it has one), events."""

    samples: int = 0
    t_first: float | None = None
    t_last: float | None = None
    events: list[ReaderEvent] = field(default_factory=list)

    def measured_rate_hz(self) -> float | None:
        if self.samples < 2 or self.t_first is None or self.t_last is None or self.t_last <= self.t_first:
            return None
        return (self.samples - 1) / (self.t_last - self.t_first)

    @property
    def disconnects(self) -> list[ReaderEvent]:
        return [e for e in self.events if e.kind == "disconnected"]


class RawCounter:
    """A pipeline listener counting each device's samples and keeping its device events."""

    def __init__(self, devices: list[str]) -> None:
        self.counts = {d: DeviceCount() for d in devices}
        self._lock = threading.Lock()

    def on_block(self, block: ProcessedBlock) -> None:
        c = self.counts.get(block.device_id)
        if c is None:
            return
        clock = block.t_device_s if block.t_device_s is not None else block.t_host_s
        with self._lock:
            if c.t_first is None:
                c.t_first = float(clock[0])
            c.t_last = float(clock[-1])
            c.samples += len(block)

    def on_event(self, event: ReaderEvent | HealthEvent) -> None:
        if isinstance(event, ReaderEvent) and event.device_id in self.counts:
            self.counts[event.device_id].events.append(event)


@dataclass
class RawRecording:
    """How a raw recording ended: ``status`` (complete, aborted by Ctrl-C, interrupted by a
    disconnect or a failure), per-device counts, and the failure's line if any."""

    status: str
    counts: dict[str, DeviceCount]
    pipeline: Pipeline
    failure: str | None = None


def record_raw(devices: dict[str, BoundDevice], writer: SessionWriter, *, test: str, trial: str, seconds: float,
               attrs: dict[str, Any] | None = None, should_stop: Callable[[], bool] | None = None,
               queue_blocks: int = 8192) -> RawRecording:
    """Record every sample of ``devices`` for ``seconds`` into trial ``test``/``trial`` of
    ``writer`` (created, with its device groups, by the caller). Ctrl-C (KeyboardInterrupt)
    ends early with status ``aborted``; ``should_stop()`` (e.g. a full disk) or a pipeline
    failure ends early with status ``interrupted``. The trial is begun here; the caller
    ends it (``writer.end_trial``) with the attributes it wants."""
    pipeline = Pipeline(list(devices.values()), writer, queue_blocks=queue_blocks)
    counter = RawCounter(list(devices))
    pipeline.subscribe(counter, name="raw counter", critical=True)
    pipeline.begin_recording(trial_spec(test, trial, devices, attrs or {"side": "none", "rep": 1}), list(devices),
                             keep=False)
    status = layout.STATUS_COMPLETE
    try:
        pipeline.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if pipeline.failure is not None or (should_stop is not None and should_stop()):
                status = layout.STATUS_INTERRUPTED
                break
            time.sleep(min(0.05, max(end - time.monotonic(), 0.0)))
    except KeyboardInterrupt:
        status = layout.STATUS_ABORTED
    finally:
        pipeline.stop()  # readers first, then every queued block reaches the writer
        pipeline.end_recording()
    failure = pipeline.failure.describe() if pipeline.failure is not None else None
    if status == layout.STATUS_COMPLETE and any(c.disconnects for c in counter.counts.values()):
        status = layout.STATUS_INTERRUPTED
    return RawRecording(status, counter.counts, pipeline, failure)
