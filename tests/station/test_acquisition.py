"""Reader threads: blocks reach the queue; a full queue is counted, never silent;
an unplug becomes a 'disconnected' event followed by 'reconnected'."""
from __future__ import annotations

import queue
import time

import numpy as np
import pytest

from drivers.mark10 import Mark10Driver
from simulation.forces import RepeatingEfforts
from simulation.mark10 import Mark10Simulator
from station.acquisition import DeviceBlock, DeviceReader, ReaderEvent


def _gauge():
    sim = Mark10Simulator(RepeatingEfforts(1), rate_hz=1000)
    sim.start()
    drv = Mark10Driver(sim.port, options={"rate": "1000"}, port_provider=lambda: sim.port)
    drv.open()
    drv.start()
    return sim, drv


def test_overflow_is_counted_not_silent() -> None:
    sim, drv = _gauge()
    q: queue.Queue = queue.Queue(maxsize=2)  # nobody drains it
    reader = DeviceReader("dyn", drv, q, min_period_s=0.002)
    reader.start()
    time.sleep(0.6)
    reader.stop()
    reader.join(2)
    drv.close()
    sim.close()
    queued = sum(len(item.block) for item in list(q.queue) if isinstance(item, DeviceBlock))
    assert reader.status.overflow_samples > 100
    assert drv.stats.lost_samples == reader.status.overflow_samples
    assert any(e.kind == "overflow" for e in reader.status.events)
    # every sample read is either queued or counted as lost
    assert queued + reader.status.overflow_samples == drv.stats.samples


def test_unplug_then_reconnect_events_and_samples_kept() -> None:
    sim, drv = _gauge()
    q: queue.Queue = queue.Queue()
    reader = DeviceReader("dyn", drv, q)
    reader.start()
    time.sleep(0.3)
    sim.unplug()
    time.sleep(0.3)
    sim.replug()
    deadline = time.monotonic() + 5
    while not any(e.kind == "reconnected" for e in reader.status.events) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    reader.stop()
    reader.join(2)
    drv.close()
    sim.close()
    items = list(q.queue)
    kinds = [i.kind for i in items if isinstance(i, ReaderEvent)]
    assert kinds[:2] == ["disconnected", "reconnected"]
    first_event = next(n for n, i in enumerate(items) if isinstance(i, ReaderEvent))
    before = sum(len(i.block) for i in items[:first_event] if isinstance(i, DeviceBlock))
    after = sum(len(i.block) for i in items[first_event:] if isinstance(i, DeviceBlock))
    assert before > 150 and after > 100
    times = np.concatenate([i.block.t_host_s for i in items if isinstance(i, DeviceBlock)])
    assert np.all(np.diff(times) > 0)


def test_next_tick_is_the_next_multiple_of_the_period() -> None:
    from station.acquisition import next_tick

    assert next_tick(10.0012, 0.005) == 2001 * 0.005
    assert next_tick(0.0, 0.008) == 0.008
    for now in np.random.default_rng(1).uniform(0, 1e5, 200):
        t = next_tick(float(now), 0.006)
        assert now < t <= now + 0.006 + 1e-9
        assert abs(t / 0.006 - round(t / 0.006)) < 1e-6
    assert next_tick(10.0012, 0.005, 0.0015) == pytest.approx(10.0015)  # this period's slot is still ahead
    assert next_tick(10.0012, 0.005, 0.0009) == pytest.approx(10.0059)  # this one has passed: the next period's


class _SmallBlocks:
    """A driver stand-in that always has a few samples and notes when it was read."""

    def __init__(self) -> None:
        from drivers.base import DriverStats

        self.stats = DriverStats()
        self.read_at: list[float] = []

    def read(self, timeout_s: float = 0.05):  # noqa: ANN201
        from drivers.base import SampleBlock

        self.read_at.append(time.monotonic())
        return SampleBlock(np.zeros((4, 1)), np.zeros(4))


class _FakeTime:
    """``time`` for the reader module: a clock that only moves when the reader sleeps (plus
    an odd 0.37 ms per read, as if reading took time), recording where each sleep ends."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.woke_at: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.woke_at.append(self.now)
        time.sleep(0)  # let other threads run


@pytest.mark.parametrize("phase", [0.0, 0.5])
def test_a_reader_sleeps_until_the_next_instant_of_its_grid(monkeypatch: pytest.MonkeyPatch, phase: float) -> None:
    import station.acquisition as acquisition

    period = 0.004
    fake = _FakeTime(1000.0013)
    monkeypatch.setattr(acquisition, "time", fake)
    driver = _SmallBlocks()
    original_read = driver.read

    def read(timeout_s: float = 0.05):  # noqa: ANN202
        fake.now += 0.00037
        return original_read(timeout_s)

    driver.read = read  # type: ignore[method-assign]
    q: queue.Queue = queue.Queue()
    reader = DeviceReader("d", driver, q, min_period_s=period)  # type: ignore[arg-type]
    reader.grid_phase = phase
    reader.start()
    deadline = time.monotonic() + 5
    while len(fake.woke_at) < 50 and time.monotonic() < deadline:
        time.sleep(0.001)
    reader.stop()
    reader.join(2)
    woke = fake.woke_at[:50]
    assert len(woke) == 50
    on_grid = [t / period - phase for t in woke]
    assert all(abs(k - round(k)) < 1e-6 for k in on_grid)  # on its grid …
    assert all(round(b) - round(a) == 1 for a, b in zip(on_grid, on_grid[1:], strict=False))  # … every slot


@pytest.mark.parametrize("n", [1, 3, 4, 12])
def test_a_pipelines_readers_read_one_after_the_other_and_it_takes_their_blocks_after_the_last(n: int) -> None:
    from drivers.base import DeviceInfo
    from station.pipeline import READER_STAGGER, BoundDevice, Pipeline

    info = DeviceInfo("mark10", "m", "s", "f", 1, 1000.0, "N", "host", "loop://")
    devices = [BoundDevice(f"d{i}", "loop://", Mark10Driver("loop://"), info) for i in range(n)]
    pipeline = Pipeline(devices)
    phases = [r.grid_phase for r in pipeline.readers.values()]
    step = min(READER_STAGGER, 0.5 / (n + 1))
    assert phases == pytest.approx([i * step for i in range(n)])  # distinct instants, no GIL queue
    assert max(phases) < pipeline.grid_phase <= 0.5  # the pipeline wakes after the last read
    assert pipeline.period_s == pytest.approx(0.005)


def test_the_block_queue_is_bounded_for_blocks_but_never_refuses_an_event() -> None:
    from drivers.base import SampleBlock
    from station.acquisition import BlockQueue

    q: BlockQueue = BlockQueue(maxsize=2)
    blocks = [DeviceBlock("d", SampleBlock(np.zeros((1, 1)), np.zeros(1))) for _ in range(3)]
    q.put_nowait(blocks[0])
    q.put_nowait(blocks[1])
    with pytest.raises(queue.Full):
        q.put_nowait(blocks[2])
    event = ReaderEvent("disconnected", "d", 0.0)
    q.put(event, timeout=0.1)  # full, yet an event is kept
    assert q.qsize() == 3 and not q.empty()
    assert [q.get_nowait() for _ in range(3)] == [blocks[0], blocks[1], event]
    with pytest.raises(queue.Empty):
        q.get_nowait()


def test_a_full_block_queue_is_counted_by_the_reader() -> None:
    from station.acquisition import BlockQueue

    sim, drv = _gauge()
    q: BlockQueue = BlockQueue(maxsize=2)  # nobody drains it
    reader = DeviceReader("dyn", drv, q, min_period_s=0.002)
    reader.start()
    time.sleep(0.4)
    reader.stop()
    reader.join(2)
    drv.close()
    sim.close()
    queued = sum(len(item.block) for item in q.queue if isinstance(item, DeviceBlock))
    assert reader.status.overflow_samples > 50
    assert queued + reader.status.overflow_samples == drv.stats.samples


class _Timed(_SmallBlocks):
    """A driver stand-in whose blocks carry a number; ``late_s`` delays the first read after
    each of its reader's pauses (a device whose bytes come mid-period, or a reader woken late)."""

    def __init__(self, late_s: float = 0.0) -> None:
        super().__init__()
        self.late_s = late_s

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def read(self, timeout_s: float = 0.05):  # noqa: ANN201
        from drivers.base import SampleBlock

        if self.late_s:
            time.sleep(self.late_s)
        self.read_at.append(time.monotonic())
        return SampleBlock(np.full((3, 1), float(len(self.read_at))), np.full(3, time.monotonic()))


def _timed_pipeline(drivers: list[_Timed], period_s: float):  # noqa: ANN202
    from drivers.base import DeviceInfo
    from station.pipeline import BoundDevice, Pipeline

    info = DeviceInfo("fake", "m", "s", "f", 1, 1000.0, "N", "host", "-")
    pipeline = Pipeline([BoundDevice(f"d{i}", "-", d, info) for i, d in enumerate(drivers)])  # type: ignore[arg-type]
    for r in pipeline.readers.values():
        r.min_period_s = period_s
    seen: list[tuple[str, float]] = []
    pipeline.subscribe(lambda b: seen.append((b.device_id, time.monotonic())), name="test")
    return pipeline, seen


def test_the_pipeline_takes_a_ticks_blocks_together_after_the_readers() -> None:
    period = 0.1
    pipeline, seen = _timed_pipeline([_Timed(), _Timed(), _Timed()], period)
    pipeline.start()
    time.sleep(1.05)
    pipeline.stop()
    batches: list[list[float]] = []
    for _, t in seen:  # blocks handed over within 20 ms of each other: one wake-up of the pipeline
        if batches and t - batches[-1][-1] < 0.02:
            batches[-1].append(t)
        else:
            batches.append([t])
    assert len(seen) >= 24
    together = sum(len(b) == 3 for b in batches)
    assert together >= 0.6 * len(batches), [len(b) for b in batches]
    # … at the pipeline's instant of the grid, after the last reader's
    offsets = sorted((b[0] % period) / period for b in batches if len(b) == 3)
    assert offsets[len(offsets) // 2] >= pipeline.grid_phase - 0.01


def test_a_block_that_misses_the_pipelines_tick_wakes_it_at_once() -> None:
    """A device whose bytes come 150 ms into a 500 ms period: its block reaches the
    listeners right away, not at the pipeline's next tick ~350 ms later."""
    period = 0.5
    late = _Timed(late_s=0.15)
    pipeline, seen = _timed_pipeline([late], period)
    pipeline.start()
    time.sleep(1.3)
    pipeline.stop()
    waits = [t - read for (_, t), read in zip(seen, late.read_at, strict=False)]
    assert len(waits) >= 2
    assert max(waits) < 0.1, waits


class _CountingBlocks(_SmallBlocks):
    """Blocks numbered per read, so a listener can check that each arrives once, in order."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def read(self, timeout_s: float = 0.05):  # noqa: ANN201
        from drivers.base import SampleBlock

        self.read_at.append(time.monotonic())
        k = float(len(self.read_at))
        return SampleBlock(np.full((3, 1), k), np.full(3, k))


def test_every_block_reaches_the_listeners_once_in_order_and_stop_leaves_none() -> None:
    from drivers.base import DeviceInfo
    from station.pipeline import BoundDevice, Pipeline

    info = DeviceInfo("fake", "m", "s", "f", 1, 1000.0, "N", "host", "-")
    drivers = [_CountingBlocks() for _ in range(3)]
    pipeline = Pipeline([BoundDevice(f"d{i}", "-", d, info) for i, d in enumerate(drivers)])  # type: ignore[arg-type]
    seen: dict[str, list[float]] = {}
    pipeline.subscribe(lambda b: seen.setdefault(b.device_id, []).append(float(b.raw[0, 0])), name="test")
    pipeline.start()
    time.sleep(0.3)
    pipeline.stop()
    for i, d in enumerate(drivers):
        assert seen[f"d{i}"] == [float(k) for k in range(1, len(d.read_at) + 1)]  # all, once, in order
    assert pipeline.queue.empty() and pipeline.failure is None
