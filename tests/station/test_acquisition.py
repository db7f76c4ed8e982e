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


def test_a_reader_sleeps_until_the_next_multiple_of_its_period(monkeypatch: pytest.MonkeyPatch) -> None:
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
    reader.start()
    deadline = time.monotonic() + 5
    while len(fake.woke_at) < 50 and time.monotonic() < deadline:
        time.sleep(0.001)
    reader.stop()
    reader.join(2)
    woke = fake.woke_at[:50]
    assert len(woke) == 50
    assert all(abs(t / period - round(t / period)) < 1e-6 for t in woke)  # on the shared grid …
    assert all(round(b / period) - round(a / period) == 1 for a, b in zip(woke, woke[1:], strict=False))  # … every slot
