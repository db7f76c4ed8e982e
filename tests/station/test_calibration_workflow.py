"""The calibration and verification workflows on a fake clock: steps, a stability wait,
redo, an unplug mid-step that reconnects (and one that does not), live readings and the
record saved — all without real time.

The device is a :class:`FakeDevice`: a load cell model (counts = offset + gain x force)
whose samples are stamped on the fake clock and fed to the real
:class:`~station.calibration_device.CalibrationCollector`, the listener the real
calibration device uses; an unplug is the reader's ``disconnected`` event and no samples.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from calibration import CalibrationStore
from drivers.base import DeviceInfo
from station.acquisition import ReaderEvent
from station.calibration_device import CalibrationCollector
from station.calibration_link import StaticLoad
from station.calibration_workflow import (
    CalibrationSettings,
    CalibrationWorkflow,
    CalibrationWorkflowError,
    DeviceBack,
    DeviceLost,
    Failed,
    Fitted,
    ReadingAccepted,
    ReadingRefused,
    Saved,
    StepShown,
    VerificationSettings,
    VerificationWorkflow,
)
from station.clock import FakeClock
from station.errors import CalibrationDeviceError
from station.pipeline import ProcessedBlock

RATE = 500.0
GAIN_COUNTS_PER_N = 800.0
OFFSET = [5000.0, -3000.0, 12000.0, 700.0]
LOADS_KG = [0, 5, 10, 20, 40]
G = 9.80665


class FakeDevice:
    """A 4-channel counts device on a fake clock (a workflow's ReadingSource)."""

    def __init__(self, clock: FakeClock, *, noise_counts: float = 2.0, seed: int = 1) -> None:
        self.clock = clock
        self.text = "fake:sfp"
        self.info = DeviceInfo("sfp", "FAKE4", "FAKE-001", "1.0", 4, RATE, "counts", "host", "fake")
        self.collector = CalibrationCollector("calibration", 4, RATE)
        self.load = StaticLoad(4, noise_n=0.0)
        self.noise = noise_counts
        self.rng = np.random.default_rng(seed)
        self.plugged = True
        self.failure: str | None = None
        self.k = int(math.ceil(clock.now() * RATE))  # next sample index on the clock's grid
        self.swing: tuple[float, float] | None = None  # (amplitude N, decay s) after each load change
        self.changed_at = clock.now()
        self.samples_after: list[float] = []
        self.at: dict[float, list] = {}  # clock time → actions (unplug/replug)
        self._last_loads = self.load.loads_n
        clock.on_advance.append(self._advance)

    # ReadingSource
    def since(self, t0: float) -> np.ndarray:
        return self.collector.since(t0)

    @property
    def connected(self) -> bool:
        return self.collector.connected

    @property
    def disconnects(self) -> int:
        return self.collector.disconnects

    # the wire
    def unplug(self, t: float) -> None:
        self.plugged = False
        self.collector.on_event(ReaderEvent("disconnected", "calibration", t, "cable pulled"))

    def replug(self, t: float) -> None:
        self.plugged = True
        self.collector.on_event(ReaderEvent("reconnected", "calibration", t, "back"))

    def _advance(self, t_from: float, t_to: float) -> None:
        for when in sorted(list(self.at)):
            if t_from < when <= t_to:
                for action in self.at.pop(when):
                    action(when)
        k_end = int(math.floor(t_to * RATE))
        if k_end < self.k:
            return
        t = np.arange(self.k, k_end + 1) / RATE
        self.k = k_end + 1
        if not self.plugged:
            return
        loads = self.load.loads_n
        if not np.array_equal(loads, self._last_loads):
            self._last_loads, self.changed_at = loads, t_from
        force = np.tile(loads, (t.size, 1))
        if self.swing is not None:
            amp, decay = self.swing
            force += (amp * np.exp(-(t - self.changed_at) / decay) * np.sin(2 * np.pi * 1.5 * t))[:, None]
        raw = np.asarray(OFFSET) + GAIN_COUNTS_PER_N * force + self.rng.normal(0, self.noise, force.shape)
        self.collector.on_block(ProcessedBlock("calibration", t, raw, raw))


def run_through(wf) -> None:
    """The operator confirms every step at once."""
    wf.start()
    while wf.state == "ready":
        wf.take()
        wf.wait()


def test_calibration_steps_on_a_fake_clock_recover_the_gain_and_save(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    store = CalibrationStore(tmp_path)
    wf = CalibrationWorkflow(dev, 2, CalibrationSettings(LOADS_KG, operator="A. Physio", window_s=0.5),
                             store=store, clock=clock, load=dev.load, uri="fake:sfp")
    shown: list[tuple[int, float]] = []
    wf.subscribe(lambda e: shown.append((e.step.index, e.step.load_n)) if isinstance(e, StepShown) and e.step else None)
    t_start = clock.now()
    run_through(wf)
    assert wf.state == "finished"
    # 9 steps, zero first, loading then unloading, each shown once (no refusal)
    assert [i for i, _ in shown] == list(range(1, 10))
    assert [round(n / G, 6) for _, n in shown] == [0, 5, 10, 20, 40, 20, 10, 5, 0]
    # each reading took the lead-in plus the window of fake time: 9 x 1.5 s
    assert clock.now() - t_start == pytest.approx(9 * 1.5, abs=9 * 0.05)
    record = wf.record
    assert record is not None and len(record.points) == 9
    assert record.gain_n_per_count == pytest.approx(1 / GAIN_COUNTS_PER_N, rel=1e-4)
    assert record.offset_counts == pytest.approx(OFFSET[2], abs=1.0)
    fitted = next(e for e in wf.events if isinstance(e, Fitted))
    assert fitted.summary is not None and fitted.summary.r_squared is not None
    assert fitted.summary.r_squared > 0.999999
    assert [p[0] for p in fitted.summary.points] == [p.load_n for p in record.points]
    assert not (tmp_path / "FAKE-001_ch2.json").exists()  # nothing saved before save()
    saved = wf.save()
    assert saved.path == tmp_path / "FAKE-001_ch2.json"
    back = store.load("FAKE-001", 2)
    assert back is not None and back.record_id == record.record_id and back.operator == "A. Physio"
    assert isinstance(wf.events[-1], Saved)
    # the live reading after the fit is in newtons through the new record (the cell is back at zero)
    live = wf.live()
    assert live is not None and live.force_n is not None and abs(live.force_n) < 0.05
    assert live.steady is True


def test_a_swinging_load_is_refused_until_it_settles(tmp_path):
    """The stability wait: a reading taken while the mass still swings is refused; the
    same step read again once it has settled is accepted."""
    clock = FakeClock()
    dev = FakeDevice(clock)
    dev.swing = (3.0, 0.6)  # ±3 N, decaying with 0.6 s after each load change
    wf = CalibrationWorkflow(dev, 1, CalibrationSettings(LOADS_KG, window_s=0.5, readings_s=0.7,
                                                         nominal_gain_n_per_count=1 / GAIN_COUNTS_PER_N),
                             store=CalibrationStore(tmp_path), clock=clock, load=dev.load)
    wf.start()
    refused = accepted = 0
    retries_shown = 0
    while wf.state == "ready":
        step = wf.step
        assert step is not None
        retries_shown += step.retry
        wf.take()
        wf.wait()
        last = wf.events[-2] if isinstance(wf.events[-1], (StepShown, Fitted)) else wf.events[-1]
        refused += isinstance(last, ReadingRefused)
        accepted += isinstance(last, ReadingAccepted)
    assert wf.state == "finished"
    assert accepted == 9
    assert refused >= 4  # the loaded steps were read while swinging at least once
    assert retries_shown == refused  # each refusal shows the same step again, marked as a retry
    reasons = [e.text for e in wf.events if isinstance(e, ReadingRefused)]
    assert all("noise" in r or "drift" in r for r in reasons), reasons
    assert wf.record is not None
    assert wf.record.gain_n_per_count == pytest.approx(1 / GAIN_COUNTS_PER_N, rel=1e-3)


def test_without_an_operator_an_unsettled_step_fails_after_the_attempts(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    dev.swing = (50.0, 1e9)  # never settles
    wf = CalibrationWorkflow(dev, 0, CalibrationSettings(LOADS_KG, window_s=0.5, automatic=True, max_attempts=3,
                                                         nominal_gain_n_per_count=1 / GAIN_COUNTS_PER_N),
                             store=CalibrationStore(tmp_path), clock=clock, load=dev.load)
    with pytest.raises(CalibrationWorkflowError, match="did not settle after 3 attempts.*nothing saved"):
        run_through(wf)
    assert wf.state == "failed" and isinstance(wf.events[-1], Failed)
    assert [e.attempts for e in wf.events if isinstance(e, ReadingRefused)] == [1, 2, 3]
    assert list(tmp_path.iterdir()) == []


def test_unplug_mid_step_waits_for_the_reconnect_and_reads_again(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    wf = CalibrationWorkflow(dev, 3, CalibrationSettings(LOADS_KG, window_s=0.5),
                             store=CalibrationStore(tmp_path), clock=clock, load=dev.load)
    wf.start()
    for _ in range(3):  # zero, 5 kg, 10 kg
        wf.take()
        wf.wait()
    assert wf.step is not None and wf.step.index == 4
    t = clock.now()
    dev.at[t + 0.4] = [dev.unplug]  # 0.4 s into the 20 kg reading
    dev.at[t + 3.0] = [dev.replug]
    wf.take()
    wf.wait()
    lost = [e for e in wf.events if isinstance(e, DeviceLost)]
    back = [e for e in wf.events if isinstance(e, DeviceBack)]
    assert len(lost) == 1 and len(back) == 1
    assert "fake:sfp disconnected; waiting for it to come back" in lost[0].text
    assert back[0].text == "fake:sfp back; reading again"
    accepted = [e for e in wf.events if isinstance(e, ReadingAccepted)][-1]
    assert accepted.result is not None and accepted.result.step.index == 3  # the 20 kg step (0-based)
    # the reading was taken again after the reconnect: it lasted a whole reading from t + 3 s
    assert clock.now() >= t + 3.0 + 1.5 - 0.02
    while wf.state == "ready":
        wf.take()
        wf.wait()
    assert wf.state == "finished" and wf.record is not None
    assert wf.record.gain_n_per_count == pytest.approx(1 / GAIN_COUNTS_PER_N, rel=1e-4)


def test_a_device_that_does_not_come_back_fails_the_workflow(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    wf = CalibrationWorkflow(dev, 0, CalibrationSettings(LOADS_KG, window_s=0.5),
                             store=CalibrationStore(tmp_path), clock=clock, load=dev.load, reconnect_timeout_s=5.0)
    wf.start()
    dev.at[clock.now() + 0.2] = [dev.unplug]
    wf.take()
    with pytest.raises(CalibrationDeviceError, match="did not come back within 5 s; nothing saved"):
        wf.wait()
    assert wf.state == "failed"


def test_redo_previous_and_abort(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    wf = CalibrationWorkflow(dev, 0, CalibrationSettings(LOADS_KG, window_s=0.5),
                             store=CalibrationStore(tmp_path), clock=clock, load=dev.load)
    wf.start()
    for _ in range(3):
        assert wf.step is not None and not wf.step.can_redo  # the first two readings set the gain
        wf.take()
        wf.wait()
    assert wf.step is not None and wf.step.index == 4 and wf.step.can_redo
    wf.redo_previous()
    wf.poll()
    assert wf.step is not None and wf.step.index == 3
    assert dev.load.loads_n[0] == pytest.approx(10 * G)  # the simulator got the 10 kg back
    assert "redoing step 3" in wf.events[-2].text
    wf.abort()
    wf.poll()
    assert wf.state == "aborted" and not wf.active
    wf.take()
    wf.poll()
    assert wf.state == "aborted"  # commands after the end are ignored


def test_live_reading_before_and_during_the_calibration(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    wf = CalibrationWorkflow(dev, 1, CalibrationSettings(LOADS_KG, window_s=0.5),
                             store=CalibrationStore(tmp_path), clock=clock, load=dev.load)
    assert wf.live() is None  # no readings yet
    wf.start()
    clock.advance(1.0)
    live = wf.live()
    assert live is not None and live.steady is None and live.force_n is None  # gain not known yet
    assert live.value == pytest.approx(OFFSET[1], abs=2.0)
    for _ in range(3):
        wf.take()
        wf.wait()
    clock.advance(1.0)  # the 20 kg are on (placed when the step was shown)
    live = wf.live()
    assert live is not None and live.steady is True
    assert live.force_n == pytest.approx(20 * G, rel=1e-3)


def test_verification_pass_then_fail_and_save(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    store = CalibrationStore(tmp_path)
    cal = CalibrationWorkflow(dev, 0, CalibrationSettings(LOADS_KG, window_s=0.5), store=store, clock=clock,
                              load=dev.load)
    run_through(cal)
    cal.save()

    ok = VerificationWorkflow(dev, [0], VerificationSettings(20, window_s=0.5), store=store, clock=clock,
                              load=dev.load)
    run_through(ok)
    assert ok.state == "finished" and ok.report is not None and ok.report.passed
    assert ok.tolerance_n == pytest.approx(max(0.005 * 20 * G, 1.0))
    live = ok.live()
    assert live is not None and live.force_n == pytest.approx(20 * G, abs=0.2)
    ok.save()

    wrong = VerificationWorkflow(dev, [0], VerificationSettings(20, window_s=0.5, actual_load=21), store=store,
                                 clock=clock, load=dev.load)
    run_through(wrong)
    assert wrong.report is not None and not wrong.report.passed
    assert wrong.report.results[0].measured_n == pytest.approx(21 * G, abs=0.2)
    wrong.save()
    record = store.load("FAKE-001", 0)
    assert record is not None and [v.passed for v in record.verifications] == [True, False]


def test_workflow_refuses_a_bad_channel_and_unverifiable_channels(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    with pytest.raises(CalibrationWorkflowError, match="--channel 4: out of range.*0..3"):
        CalibrationWorkflow(dev, 4, CalibrationSettings(LOADS_KG), store=CalibrationStore(tmp_path), clock=clock)
    with pytest.raises(CalibrationWorkflowError, match="channel 1 of device FAKE-001 has no calibration to verify"):
        VerificationWorkflow(dev, [1], VerificationSettings(20), store=CalibrationStore(tmp_path), clock=clock)


def test_plate_verification_places_the_mass_at_each_position(tmp_path):
    clock = FakeClock()
    dev = FakeDevice(clock)
    store = CalibrationStore(tmp_path)
    for channel in range(4):
        cal = CalibrationWorkflow(dev, channel, CalibrationSettings(LOADS_KG, window_s=0.5), store=store,
                                  clock=clock, load=dev.load)
        run_through(cal)
        cal.save()
    plate = VerificationWorkflow(dev, [0, 1, 2, 3], VerificationSettings(30, plate=True, window_s=0.5), store=store,
                                 clock=clock, load=dev.load)
    placed: list[list[float]] = []
    plate.subscribe(lambda e: placed.append(list(dev.load.loads_n)) if isinstance(e, StepShown) else None)
    run_through(plate)
    assert plate.report is not None and plate.report.passed
    assert [r.position for r in plate.report.results] == ["centre", "front-left corner", "front-right corner",
                                                         "back-right corner", "back-left corner"]
    assert len(placed) == 6 and placed[0] == [0.0] * 4
    assert placed[1] == pytest.approx([30 * G / 4] * 4)  # centre: a quarter on each cell
    assert max(placed[2]) == placed[2][0] and sum(placed[2]) == pytest.approx(30 * G)  # front-left cell carries most
    saved = plate.save()
    assert len(saved) == 4
    assert all(store.load("FAKE-001", c).verifications[-1].passed for c in range(4))
