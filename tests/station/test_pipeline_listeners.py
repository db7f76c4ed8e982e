"""Pipeline listeners: subscribe/unsubscribe, a failing listener reported (never silent),
one live detector per side, and dead threads turned into health events."""
from __future__ import annotations

import time

import numpy as np
import pytest

from drivers.base import DeviceError
from station.acquisition import ReaderEvent
from station.pipeline import HealthEvent, Pipeline, ProcessedBlock
from station.testing import ManualDriver, manual_device


def ramp(pipeline: Pipeline, device_id: str, start: int, n: int, channels: int = 1, rate: float = 500.0) -> None:
    t = np.arange(start, start + n) / rate
    pipeline.feed(device_id, t, np.tile(np.arange(start, start + n, dtype=float)[:, None], (1, channels)))


def test_subscribe_gets_every_block_until_unsubscribed() -> None:
    p = Pipeline([manual_device("dyn")])
    got: list[ProcessedBlock] = []
    ramp(p, "dyn", 0, 10)
    token = p.subscribe(got.append, name="plot")
    assert token in p.subscriptions and token.name == "plot" and not token.critical
    ramp(p, "dyn", 10, 10)
    ramp(p, "dyn", 20, 5)
    assert p.unsubscribe(token) is True and p.unsubscribe(token) is False
    ramp(p, "dyn", 25, 5)
    assert [len(b) for b in got] == [10, 5]
    assert np.concatenate([b.force_n[:, 0] for b in got]).tolist() == list(map(float, range(10, 25)))
    assert p.rings["dyn"].total == 30  # the ring buffer is a listener too


def test_listener_objects_get_blocks_and_events() -> None:
    p = Pipeline([manual_device("dyn")])

    class Both:
        blocks = 0
        events: list = []

        def on_block(self, block: ProcessedBlock) -> None:
            self.blocks += 1

        def on_event(self, event) -> None:
            self.events.append(event)

    both = Both()
    p.subscribe(both)
    ramp(p, "dyn", 0, 4)
    p.feed_event(ReaderEvent("disconnected", "dyn", 1.0, "unplugged"))
    assert both.blocks == 1 and [e.kind for e in both.events] == ["disconnected"]


def test_a_failing_listener_is_removed_reported_and_acquisition_goes_on() -> None:
    p = Pipeline([manual_device("dyn")])
    events: list = []
    p.subscribe(type("Watcher", (), {"on_event": lambda self, e: events.append(e)})())
    calls = []

    def plot(block: ProcessedBlock) -> None:
        calls.append(block)
        raise ValueError("widget gone")

    p.subscribe(plot, name="plot")
    for k in range(3):
        ramp(p, "dyn", 10 * k, 10)
    assert len(calls) == 1 and p.rings["dyn"].total == 30
    (health,) = [e for e in events if isinstance(e, HealthEvent)]
    assert health.kind == "listener_failed" and health.source == "plot" and not health.fatal
    assert "widget gone" in health.describe()
    assert p.failure is None


def test_a_failing_critical_listener_is_fatal() -> None:
    p = Pipeline([manual_device("dyn")])

    def archive(block: ProcessedBlock) -> None:
        raise OSError("no space left on device")

    p.subscribe(archive, name="archive", critical=True)
    ramp(p, "dyn", 0, 10)
    ramp(p, "dyn", 10, 10)
    assert p.failure is not None and p.failure.fatal and "no space left" in p.failure.message
    assert p.rings["dyn"].total == 20  # the live view keeps its data; the engine ends the session


def test_one_live_detector_per_side() -> None:
    p = Pipeline([manual_device("plates", channels=8)])
    live = p.watch_sides({"left": ("plates", (0, 1, 2, 3)), "right": ("plates", (4, 5, 6, 7))})
    t = np.arange(200) / 1000.0
    quiet = np.zeros((200, 8))
    p.feed("plates", t, quiet)
    for d in live.values():
        d.arm()
    loaded = np.zeros((200, 8))
    loaded[:, :4] = 100.0   # left plate: 400 N
    loaded[:, 4:] = 150.0   # right plate: 600 N
    p.feed("plates", t + 0.2, loaded)
    assert live["left"].state().peak_n == pytest.approx(400.0)
    assert live["right"].state().peak_n == pytest.approx(600.0)
    assert p.live_for("right") is live["right"] and p.live is live["left"]


def test_recorder_and_writer_tap_switch_on_the_same_block() -> None:
    p = Pipeline([manual_device("dyn")])
    ramp(p, "dyn", 0, 10)
    p.begin_recording(None, ["dyn"])
    ramp(p, "dyn", 10, 10)
    data, events = p.end_recording()
    ramp(p, "dyn", 20, 10)
    assert data["dyn"].raw[:, 0].tolist() == list(map(float, range(10, 20))) and events == []


def test_a_dead_pipeline_thread_is_a_fatal_health_event() -> None:
    device = manual_device("dyn")

    def broken_calibration(values: np.ndarray) -> np.ndarray:
        raise FloatingPointError("calibration exploded")

    device.calibrate = broken_calibration
    p = Pipeline([device])
    events: list = []
    p.subscribe(type("Watcher", (), {"on_event": lambda self, e: events.append(e)})())
    p.start()
    try:
        from drivers.base import SampleBlock
        from station.acquisition import DeviceBlock

        p.queue.put(DeviceBlock("dyn", SampleBlock(np.zeros((5, 1)), np.arange(5.0))))
        deadline = time.monotonic() + 5
        while p.failure is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        p.stop()
    assert p.failure is not None and p.failure.kind == "pipeline_died" and not p.running
    assert "calibration exploded" in p.failure.describe()
    assert events and events[-1] is p.failure


class _DyingDriver(ManualDriver):
    def read(self, timeout_s: float = 0.05):
        raise RuntimeError("decoder bug")


class _GoneDriver(ManualDriver):
    def read(self, timeout_s: float = 0.05):
        from drivers.base import DeviceDisconnected

        raise DeviceDisconnected("port vanished")

    def reconnect(self, timeout_s: float = 1.0):
        raise DeviceError("still gone")


@pytest.mark.parametrize("driver, words", [(_DyingDriver(), "decoder bug"), (_GoneDriver(), "gave up reconnecting")])
def test_a_dead_reader_is_a_fatal_health_event(driver, words: str) -> None:
    device = manual_device("dyn")
    device.driver = driver
    p = Pipeline([device])
    p.readers["dyn"].reconnect_timeout_s = 0.2
    p.start()
    try:
        deadline = time.monotonic() + 5
        while p.failure is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        p.stop()
    assert p.failure is not None and p.failure.kind == "reader_died" and p.failure.source == "dyn"
    assert words in p.failure.message
    assert [e.kind for e in p.events][-1] == "died"
