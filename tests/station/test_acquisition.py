"""Reader threads: blocks reach the queue; a full queue is counted, never silent;
an unplug becomes a 'disconnected' event followed by 'reconnected'."""
from __future__ import annotations

import queue
import time

import numpy as np

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
