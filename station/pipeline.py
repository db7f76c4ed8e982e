"""The real-time pipeline: reader queues → calibration → listeners.

One processing thread takes sample blocks from every device's reader (a single bounded
queue), converts them to newtons (calibration, then the host tare) and hands each
:class:`ProcessedBlock` to its **listeners**, in order:

1. the ring buffers a plot reads (:attr:`Pipeline.rings`, one per device),
2. the live onset/peak detectors, one per watched side (:meth:`Pipeline.watch_sides`),
3. the trial recorder, which keeps a trial's samples in memory for analysis,
4. the writer tap, which hands a trial's samples to the HDF5 :class:`SessionWriter`,
5. then anything subscribed with :meth:`Pipeline.subscribe` (a plot, a stream, a test).

Listeners run in the pipeline thread and must be quick. A *non-critical* listener that
raises is removed and reported (a :class:`HealthEvent` with ``fatal=False``); acquisition
goes on. A *critical* listener (the recorder and the writer tap; any subscriber asked for
``critical=True``) that raises is removed and turns into a fatal :class:`HealthEvent`:
the pipeline keeps feeding the ring buffers but :attr:`Pipeline.failure` is set, and the
session engine ends the session with that error. So does a dead pipeline or reader thread.
Nothing fails silently, and a session never runs on on frozen data.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from drivers.base import DeviceInfo, Driver
from station.acquisition import BlockQueue, DeviceBlock, DeviceReader, QueueItem, ReaderEvent, next_tick
from station.live import LiveOnsetPeak
from station.ringbuffer import RingBuffer
from station.storage.session_file import trial_spec
from station.storage.writer import SessionWriter, TrialSpec

#: the readers of a pipeline read one after the other, this fraction of their period apart
#: (0.3 ms at 5 ms: a read and decode takes ~0.1 ms); the pipeline wakes one step after the last
READER_STAGGER = 0.06

__all__ = ["BoundDevice", "HealthEvent", "Listener", "Pipeline", "ProcessedBlock", "Subscription", "TrialData",
           "identity", "trial_spec"]

log = logging.getLogger(__name__)

Calibrate = Callable[[np.ndarray], np.ndarray]


def identity(values: np.ndarray) -> np.ndarray:
    """The calibration of a device that already reports newtons."""
    return values


class Closeable(Protocol):
    def close(self) -> None: ...


@dataclass
class BoundDevice:
    """An opened device playing a role in the session, with its calibration (raw → N).

    ``simulator`` is whatever must be closed with the device when it is simulated (the far
    end of its pseudo-terminal); the pipeline never looks inside it.
    """

    device_id: str
    uri: str
    driver: Driver
    info: DeviceInfo
    calibrate: Calibrate = identity
    calibration_snapshot: dict[str, Any] = field(default_factory=dict)
    simulator: Closeable | None = None

    def close(self) -> None:
        self.driver.close()
        if self.simulator is not None:
            self.simulator.close()


@dataclass(frozen=True)
class ProcessedBlock:
    """One block of one device after calibration and tare, as every listener receives it.

    ``t_host_s``: host monotonic time (s) per sample, shape (n,); ``raw``: the device's
    values (its unit: N or counts), shape (n, channels); ``force_n``: calibrated, tared
    force (N), shape (n, channels); ``t_device_s``: the device clock (s) or None;
    ``read_s``: host monotonic time the reader took the block from the driver; ``since_s``:
    every byte of the block reached the host after this time (the reader's previous read, or
    the moment it found the port empty), so ``now - since_s`` bounds the time any of its
    samples has spent in the station. The arrays
    are shared between listeners: read them, never modify them.
    """

    device_id: str
    t_host_s: np.ndarray
    raw: np.ndarray
    force_n: np.ndarray
    t_device_s: np.ndarray | None = None
    read_s: float = 0.0
    since_s: float = 0.0

    def __len__(self) -> int:
        return int(self.t_host_s.size)


@dataclass(frozen=True)
class HealthEvent:
    """Something went wrong inside the station (not on a device's wire).

    ``kind``: ``listener_failed`` (a listener raised; ``source`` is its name),
    ``pipeline_died`` (the processing thread ended on an error), ``reader_died`` (a
    device's reader thread ended: an error, or it gave up reconnecting). ``fatal``: the
    session cannot go on recording (a critical listener, a dead thread); the engine ends it.
    """

    kind: Literal["listener_failed", "pipeline_died", "reader_died"]
    source: str
    message: str
    t_host_s: float
    fatal: bool

    def describe(self) -> str:
        """One line for a person: what failed and why."""
        what = {"listener_failed": f"listener {self.source!r} failed",
                "pipeline_died": "the pipeline thread stopped",
                "reader_died": f"the reader of {self.source} stopped"}[self.kind]
        return f"{what}: {self.message}"


PipelineEvent = ReaderEvent | HealthEvent


class Listener(Protocol):
    """What :meth:`Pipeline.subscribe` accepts besides a plain callable: an object with
    ``on_block(ProcessedBlock)`` and/or ``on_event(ReaderEvent | HealthEvent)``. Both are
    called in the pipeline thread."""

    def on_block(self, block: ProcessedBlock) -> None: ...


@dataclass(frozen=True)
class Subscription:
    """The token :meth:`Pipeline.subscribe` returns; give it to :meth:`Pipeline.unsubscribe`."""

    id: int
    name: str
    critical: bool


@dataclass
class _Sub:
    token: Subscription
    on_block: Callable[[ProcessedBlock], None] | None
    on_event: Callable[[PipelineEvent], None] | None


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


# -- the built-in listeners ---------------------------------------------------------------
class RingTap:
    """Appends every device's force to its ring buffer."""

    def __init__(self, rings: dict[str, RingBuffer]) -> None:
        self.rings = rings

    def on_block(self, block: ProcessedBlock) -> None:
        self.rings[block.device_id].append(block.t_host_s, block.force_n)


@dataclass(frozen=True)
class Watch:
    """One live detector fed the sum of ``channels`` of ``device_id``."""

    side: str
    device_id: str
    channels: tuple[int, ...]
    detector: LiveOnsetPeak


class LiveTap:
    """Feeds each watched side's live onset/peak detector."""

    def __init__(self) -> None:
        self.watches: tuple[Watch, ...] = ()
        self.latencies_s: list[float] = []  # block read from the driver → live state updated
        self.record_latency = False

    def on_block(self, block: ProcessedBlock) -> None:
        for i, w in enumerate(self.watches):
            if w.device_id == block.device_id:
                w.detector.update(block.t_host_s, _channel_sum(block.force_n, w.channels))
                if i == 0 and self.record_latency:
                    self.latencies_s.append(time.monotonic() - block.read_s)


def _channel_sum(force_n: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
    """The sum of ``channels`` of a (n, channels) block, per sample (N), with as few numpy
    calls as the selection allows (the live path runs this for every block)."""
    if len(channels) == 1:
        return force_n[:, channels[0]]
    if len(channels) == force_n.shape[1] and channels == tuple(range(len(channels))):
        return force_n.sum(axis=1)
    return force_n[:, list(channels)].sum(axis=1)


class TrialRecorder:
    """Keeps a trial's samples (and the device events during it) in memory for analysis."""

    def __init__(self, channels: dict[str, int]) -> None:
        self.channels = channels
        self._parts: dict[str, list[ProcessedBlock]] | None = None
        self._events: list[PipelineEvent] = []

    @property
    def active(self) -> bool:
        return self._parts is not None

    def begin(self, devices: Iterable[str]) -> None:
        self._parts, self._events = {d: [] for d in devices}, []

    def end(self) -> tuple[dict[str, TrialData], list[PipelineEvent]]:
        parts, self._parts = self._parts, None
        if parts is None:
            return {}, []
        out: dict[str, TrialData] = {}
        for device_id, blocks in parts.items():
            ch = self.channels[device_id]
            if blocks:
                t = np.concatenate([b.t_host_s for b in blocks])
                raw = np.concatenate([b.raw for b in blocks])
                force = np.concatenate([b.force_n for b in blocks])
                tdev = (np.concatenate([b.t_device_s for b in blocks])  # type: ignore[misc]
                        if all(b.t_device_s is not None for b in blocks) else None)
            else:
                t, raw, force, tdev = np.empty(0), np.empty((0, ch)), np.empty((0, ch)), None
            out[device_id] = TrialData(t, raw, force, tdev)
        return out, self._events

    def on_block(self, block: ProcessedBlock) -> None:
        parts = self._parts
        if parts is not None and block.device_id in parts:
            parts[block.device_id].append(block)

    def on_event(self, event: PipelineEvent) -> None:
        if self._parts is not None:
            self._events.append(event)


class WriterTap:
    """Hands the samples of the trial being written to the HDF5 writer (critical)."""

    def __init__(self, writer: SessionWriter, report: Callable[[HealthEvent], None] | None = None) -> None:
        self.writer = writer
        self.report = report
        self._devices: frozenset[str] = frozenset()
        self._full_reported = False

    def begin(self, spec: TrialSpec) -> None:
        self.writer.begin_trial(spec)
        self._devices = frozenset(spec.devices)

    def end(self) -> None:
        self._devices = frozenset()

    def on_block(self, block: ProcessedBlock) -> None:
        if block.device_id in self._devices:
            self.writer.append(block.device_id, block.t_host_s, block.raw, block.force_n, block.t_device_s)
            full = getattr(self.writer, "disk_full", None)
            if full is not None and not self._full_reported and self.report is not None:
                # the writer stopped writing the file (it keeps what arrives in its spill file):
                # a fatal health event, so a session never goes on as if it were recorded
                self._full_reported = True
                self.report(HealthEvent("listener_failed", "HDF5 writer",
                                        f"{self.writer.path}: disk full, recording stopped ({full.directory} has "
                                        f"{full.free_bytes // 1024} KiB free)", time.monotonic(), fatal=True))


def _as_callables(listener: Any) -> tuple[Callable[[ProcessedBlock], None] | None,
                                          Callable[[PipelineEvent], None] | None]:
    on_block = getattr(listener, "on_block", None)
    on_event = getattr(listener, "on_event", None)
    if on_block is None and on_event is None:
        if not callable(listener):
            raise TypeError(f"a listener is a callable or has on_block/on_event, not {type(listener).__name__}")
        on_block = listener
    return on_block, on_event


class Pipeline:
    """Runs readers and the processing thread for a set of bound devices.

    ``writer`` (optional) receives the samples of each trial between :meth:`begin_recording`
    and :meth:`end_recording`. ``ring_seconds`` sizes each device's ring buffer.
    """

    def __init__(self, devices: list[BoundDevice], writer: SessionWriter | None = None, *,
                 ring_seconds: float = 30.0, queue_blocks: int = 4096) -> None:
        self.devices = {d.device_id: d for d in devices}
        self.writer = writer
        self.queue: BlockQueue[QueueItem] = BlockQueue(maxsize=queue_blocks)
        self.readers = {d.device_id: DeviceReader(d.device_id, d.driver, self.queue) for d in devices}
        stagger = min(READER_STAGGER, 0.5 / (len(self.readers) + 1))
        for i, reader in enumerate(self.readers.values()):  # one after the other: no GIL queue
            reader.grid_phase = i * stagger
        #: where on the readers' grid the pipeline takes what they read: just after the last one
        self.grid_phase = len(self.readers) * stagger
        for reader in self.readers.values():  # a reader whose block comes after that wakes it
            reader.handed_late = self._handed
        # released to wake the pipeline before its next tick (a late block, stop); a bare lock
        # is the cheapest timed wait there is (one futex call, like time.sleep)
        self._nudge = threading.Lock()
        self._nudge.acquire()
        #: (period, offset) in s of the pipeline's instants on the readers' grid, fixed by start()
        self._tick = (self.period_s, self.grid_phase * self.period_s)
        self.rings = {
            d.device_id: RingBuffer(int(ring_seconds * d.info.rate_hz) + 1, d.info.channels) for d in devices}
        self.tare_n = {d.device_id: np.zeros(d.info.channels) for d in devices}
        self._detectors: dict[str, LiveOnsetPeak] = {}
        self._tare_lock = threading.Lock()
        # held while one block goes through every listener, and while the recorder and the
        # writer tap switch on or off, so both see exactly the same blocks of a trial
        self._dispatch = threading.RLock()
        self._subs_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self.events: list[ReaderEvent] = []
        self.health: list[HealthEvent] = []
        #: the first fatal health event; once set the session must not go on recording
        self.failure: HealthEvent | None = None
        self._ring_tap = RingTap(self.rings)
        self._live_tap = LiveTap()
        self.recorder = TrialRecorder({d.device_id: d.info.channels for d in devices})
        self._writer_tap = WriterTap(writer, self._health) if writer is not None else None
        self._subs: tuple[_Sub, ...] = ()
        self.subscribe(self._ring_tap, name="ring buffers")
        self.subscribe(self._live_tap, name="live detector")
        self.subscribe(self.recorder, name="trial recorder", critical=True)
        if self._writer_tap is not None:
            self.subscribe(self._writer_tap, name="HDF5 writer", critical=True)

    # -- listeners --------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[ProcessedBlock], None] | Listener | Any, *,
                  name: str | None = None, critical: bool = False) -> Subscription:
        """Call ``listener`` with every :class:`ProcessedBlock` from now on (pipeline thread).

        ``listener`` is a callable taking a block, or an object with ``on_block(block)`` and/or
        ``on_event(event)`` (device events: :class:`~station.acquisition.ReaderEvent`; station
        health: :class:`HealthEvent`). Safe from any thread, also from inside a listener. A
        listener that raises is removed; ``critical=True`` makes that fatal for the session
        (see the module docstring). Returns the token for :meth:`unsubscribe`.
        """
        on_block, on_event = _as_callables(listener)
        token = Subscription(next(self._ids), str(name or getattr(listener, "__name__", type(listener).__name__)),
                             critical)
        with self._subs_lock:
            self._subs = (*self._subs, _Sub(token, on_block, on_event))
        return token

    def unsubscribe(self, token: Subscription) -> bool:
        """Stop calling the listener of ``token``; False if it was not subscribed (any more).
        Once this returns, the listener is not called again (unless called from the listener
        itself, when the current call finishes)."""
        with self._subs_lock:
            before = self._subs
            self._subs = tuple(s for s in before if s.token != token)
            removed = len(self._subs) != len(before)
        if removed and threading.current_thread() is not self._thread:
            with self._dispatch:  # wait out a block being dispatched right now
                pass
        return removed

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        return tuple(s.token for s in self._subs)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._tick = (self.period_s, self.grid_phase * self.period_s)  # the readers' periods are set by now
        for d in self.devices.values():
            d.driver.start()
        for r in self.readers.values():
            r.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop the readers, let the pipeline thread process every block already queued
        (nothing read is dropped), then stop it and the devices' streaming."""
        for r in self.readers.values():
            r.stop()
        for r in self.readers.values():
            if r.is_alive():
                r.join(timeout=2.0)
        self._halt.set()
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        for d in self.devices.values():
            try:
                d.driver.stop()
            except Exception:  # noqa: BLE001 - a vanished device cannot be stopped
                pass

    @property
    def running(self) -> bool:
        """True while the processing thread runs."""
        return self._thread.is_alive()

    # -- controls from the session engine -------------------------------------------------
    def watch_sides(self, sides: dict[str, tuple[str, tuple[int, ...]]]) -> dict[str, LiveOnsetPeak]:
        """Feed one live detector per side: ``{"left": (device_id, channels), …}``; each
        detector gets the sum of its channels. Detectors are reset (and reused per side
        name); sides not listed stop being fed. Returns side → detector."""
        watches = []
        for side, (device_id, channels) in sides.items():
            det = self._detectors.setdefault(side, LiveOnsetPeak())
            det.reset()
            watches.append(Watch(side, device_id, tuple(channels), det))
        with self._dispatch:
            self._live_tap.watches = tuple(watches)
        return {w.side: w.detector for w in watches}

    def watch(self, device_id: str, channels: tuple[int, ...], side: str = "") -> None:
        """Feed one live detector (:attr:`live`) the sum of ``channels`` of ``device_id``."""
        self.watch_sides({side: (device_id, channels)})

    @property
    def live(self) -> LiveOnsetPeak:
        """The detector of the first watched side (a spare one while nothing is watched)."""
        watches = self._live_tap.watches
        return watches[0].detector if watches else self._detectors.setdefault("", LiveOnsetPeak())

    def live_for(self, side: str) -> LiveOnsetPeak | None:
        """The live detector of ``side`` (None if that side is not watched)."""
        return next((w.detector for w in self._live_tap.watches if w.side == side), None)

    @property
    def watched(self) -> dict[str, LiveOnsetPeak]:
        """Side → live detector, for every watched side."""
        return {w.side: w.detector for w in self._live_tap.watches}

    @property
    def latencies_s(self) -> list[float]:
        return self._live_tap.latencies_s

    @property
    def record_latency(self) -> bool:
        return self._live_tap.record_latency

    @record_latency.setter
    def record_latency(self, on: bool) -> None:
        self._live_tap.record_latency = on

    def tare(self, device_id: str, seconds: float = 0.5) -> np.ndarray:
        """Zero ``device_id`` on its last ``seconds`` of samples; returns the offsets (N)."""
        d = self.devices[device_id]
        ring = self.rings[device_id]
        _, values = ring.latest(max(1, int(seconds * d.info.rate_hz)))
        with self._tare_lock:
            if values.size:
                self.tare_n[device_id] = self.tare_n[device_id] + values.mean(axis=0)
            return self.tare_n[device_id].copy()

    def begin_recording(self, spec: TrialSpec | None, devices: list[str], *, keep: bool = True) -> None:
        """Start keeping ``devices``' samples; with ``spec`` (and a writer) also write them as
        that trial. The recorder and the writer start on the same block. ``keep=False``: only
        write them (a long raw recording that is not analysed is not held in memory)."""
        with self._dispatch:
            if spec is not None and self._writer_tap is not None:
                self._writer_tap.begin(spec)
            self.recorder.begin(devices if keep else [])

    def end_recording(self) -> tuple[dict[str, TrialData], list[PipelineEvent]]:
        """Stop recording; returns each device's samples and the events seen meanwhile.
        (The caller ends the writer's trial with the attributes it wants.)"""
        with self._dispatch:
            if self._writer_tap is not None:
                self._writer_tap.end()
            return self.recorder.end()

    def wait_for_samples(self, device_id: str, n: int, timeout_s: float = 5.0) -> bool:
        """Block until ``device_id`` has delivered at least ``n`` samples in total."""
        deadline = time.monotonic() + timeout_s
        while self.rings[device_id].total < n:
            if time.monotonic() > deadline or self.failure is not None:
                return False
            time.sleep(0.01)
        return True

    def feed(self, device_id: str, t_host_s: np.ndarray, raw: np.ndarray, t_device_s: np.ndarray | None = None,
             ) -> None:
        """Process one block now, in the calling thread, as if a reader had read it.

        For scripts and tests that produce samples themselves (with a fake clock) instead of
        starting the readers; do not mix with :meth:`start`.
        """
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim == 1:
            raw = raw[:, None]
        from drivers.base import SampleBlock

        with self._dispatch:
            self._process(DeviceBlock(device_id, SampleBlock(raw, np.asarray(t_host_s, dtype=np.float64),
                                                             t_device_s), time.monotonic()))

    def feed_event(self, event: ReaderEvent) -> None:
        """Handle a device event now, in the calling thread, as if its reader had sent it
        (scripts and tests with a fake clock: a disconnect, a reconnect)."""
        self._reader_event(event)

    # -- processing thread ----------------------------------------------------------------
    @property
    def period_s(self) -> float:
        """How often the pipeline takes the readers' blocks (s): their read period (the
        shortest, if they differ), at least 1 ms."""
        periods = [r.min_period_s for r in self.readers.values() if r.min_period_s > 0]
        return max(min(periods, default=0.005), 0.001)

    def _run(self) -> None:
        """Once per read period, just after the readers' reads (:attr:`grid_phase`), process
        everything queued, in order. One wake-up per period for all devices instead of one per
        block: on a shared 2-core VM each wake-up costs ~20–70 µs of CPU before any work."""
        try:
            items = self.queue.queue
            period, offset = self._tick
            while True:
                now = time.monotonic()
                rest = next_tick(now, period, offset) - now
                if rest > 0:
                    self._nudge.acquire(timeout=rest)
                if not items:
                    if self._halt.is_set():  # stop(): readers are stopped and everything queued is done
                        break
                    continue
                with self._dispatch:  # taken once for the batch, not per block
                    while items:
                        item = items.popleft()
                        if isinstance(item, ReaderEvent):
                            self._reader_event(item)
                        else:
                            self._process(item)
        except BaseException as exc:  # noqa: BLE001 - turned into a fatal health event
            log.exception("pipeline thread died")
            self._health(HealthEvent("pipeline_died", "pipeline", f"{type(exc).__name__}: {exc}",
                                     time.monotonic(), fatal=True))

    def _wake(self) -> None:
        """Wake the pipeline thread now instead of at its next tick."""
        try:
            self._nudge.release()
        except RuntimeError:
            pass  # already woken, not yet running

    def _handed(self, due_s: float) -> None:
        """A reader queued a block of a read due at grid instant ``due_s`` (monotonic s): if
        the pipeline's tick after that instant has passed (the reader woke late, or waited for
        its device's bytes), wake the pipeline now rather than a period later."""
        if time.monotonic() >= next_tick(due_s, *self._tick):
            self._wake()

    def _reader_event(self, event: ReaderEvent) -> None:
        self.events.append(event)
        if event.kind in ("disconnected", "error", "overflow"):
            log.warning("%s %s: %s", event.device_id, event.kind, event.message)
        else:
            log.info("%s %s: %s", event.device_id, event.kind, event.message)
        with self._dispatch:
            self._dispatch_event(event)
        if event.kind == "died":
            self._health(HealthEvent("reader_died", event.device_id, event.message, event.t_host_s, fatal=True))

    def _process(self, item: DeviceBlock) -> None:
        device = self.devices[item.device_id]
        block = item.block
        raw = block.values
        force = device.calibrate(raw)
        tare = self.tare_n[item.device_id]
        if tare.any():
            force = force - tare
        processed = ProcessedBlock(item.device_id, block.t_host_s, raw, force, block.t_device_s, item.read_s,
                                   item.since_s)
        failed: list[tuple[_Sub, BaseException]] = []
        for sub in self._subs:  # the caller holds self._dispatch
            if sub.on_block is None:
                continue
            try:
                sub.on_block(processed)
            except Exception as exc:  # noqa: BLE001 - reported as a health event
                failed.append((sub, exc))
        for sub, error in failed:
            self._listener_failed(sub, error)

    def _dispatch_event(self, event: PipelineEvent) -> None:
        failed = []
        for sub in self._subs:
            if sub.on_event is None:
                continue
            try:
                sub.on_event(event)
            except Exception as exc:  # noqa: BLE001
                failed.append((sub, exc))
        for sub, error in failed:
            self._listener_failed(sub, error)

    def _listener_failed(self, sub: _Sub, exc: BaseException) -> None:
        with self._subs_lock:
            self._subs = tuple(s for s in self._subs if s.token != sub.token)
        log.error("listener %r failed and was removed", sub.token.name, exc_info=exc)
        self._health(HealthEvent("listener_failed", sub.token.name, f"{type(exc).__name__}: {exc}",
                                 time.monotonic(), fatal=sub.token.critical))

    def _health(self, event: HealthEvent) -> None:
        self.health.append(event)
        if event.fatal and self.failure is None:
            self.failure = event
        with self._dispatch:
            self._dispatch_event(event)

