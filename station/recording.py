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
    #: runs of samples between disconnects: [samples, first time, last time] each
    segments: list[list[Any]] = field(default_factory=list)
    _new_segment: bool = True

    def measured_rate_hz(self) -> float | None:
        """Samples per second while the device was connected (the time it was unplugged is
        not counted: a recording that reconnected still shows the device's true rate)."""
        runs = [(n, a, b) for n, a, b in self.segments if n >= 2 and b > a]
        if not runs:
            return None
        return sum(n - 1 for n, _, _ in runs) / sum(b - a for _, a, b in runs)

    @property
    def disconnects(self) -> list[ReaderEvent]:
        return [e for e in self.events if e.kind == "disconnected"]

    def outages(self, end_s: float | None = None) -> list[tuple[float, float | None]]:
        """(disconnected, reconnected) host monotonic times, s; reconnected is ``end_s``
        (None if not given) for a device still unplugged at the end."""
        out: list[tuple[float, float | None]] = []
        gone: float | None = None
        for e in self.events:
            if e.kind == "disconnected" and gone is None:
                gone = e.t_host_s
            elif e.kind == "reconnected" and gone is not None:
                out.append((gone, e.t_host_s))
                gone = None
        if gone is not None:
            out.append((gone, end_s))
        return out

    @property
    def still_disconnected(self) -> bool:
        return bool(self.outages()) and self.outages()[-1][1] is None


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
            if c._new_segment or not c.segments:  # noqa: SLF001 - its own record
                c.segments.append([0, float(clock[0]), float(clock[0])])
                c._new_segment = False  # noqa: SLF001
            seg = c.segments[-1]
            seg[0] += len(block)
            seg[2] = float(clock[-1])

    def on_event(self, event: ReaderEvent | HealthEvent) -> None:
        if isinstance(event, ReaderEvent) and event.device_id in self.counts:
            c = self.counts[event.device_id]
            with self._lock:
                c.events.append(event)
                if event.kind == "disconnected":
                    c._new_segment = True  # noqa: SLF001


class _EventTap:
    """A pipeline listener handing device events to a callback (nothing else)."""

    def __init__(self, callback: Callable[[ReaderEvent], None]) -> None:
        self.callback = callback

    def on_block(self, block: ProcessedBlock) -> None:
        pass

    def on_event(self, event: ReaderEvent | HealthEvent) -> None:
        if isinstance(event, ReaderEvent):
            self.callback(event)


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
               queue_blocks: int = 8192, on_event: Callable[[ReaderEvent], None] | None = None) -> RawRecording:
    """Record every sample of ``devices`` for ``seconds`` into trial ``test``/``trial`` of
    ``writer`` (created, with its device groups, by the caller). Ctrl-C (KeyboardInterrupt)
    ends early with status ``aborted``; ``should_stop()`` (e.g. a full disk) or a pipeline
    failure ends early with status ``interrupted``. The trial is begun here; the caller
    ends it (``writer.end_trial``) with the attributes it wants. An unplugged device is
    reconnected by its reader (as in a session) and recording goes on; ``on_event`` hears
    each device event as it happens (to show it). A device still unplugged at the end makes
    the status ``interrupted``; one that came back does not (its outages are in the counts)."""
    pipeline = Pipeline(list(devices.values()), writer, queue_blocks=queue_blocks)
    counter = RawCounter(list(devices))
    pipeline.subscribe(counter, name="raw counter", critical=True)
    if on_event is not None:
        pipeline.subscribe(_EventTap(on_event), name="device events")
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
    if status == layout.STATUS_COMPLETE and any(c.still_disconnected for c in counter.counts.values()):
        status = layout.STATUS_INTERRUPTED
    return RawRecording(status, counter.counts, pipeline, failure)
