"""The pure rules behind issue 16: zero policy, calibrated range, valid reps and verdicts,
lever arms per protocol, channel overlap."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from protocols import get_protocol
from station.errors import UserError
from station.session import lever_arm, validity
from station.session.model import TrialOutcome
from station.session.setup import bind_roles, parse_device_arg
from station.session.tare_policy import ZeroPolicy, beyond_range, calibrated_range_n, judge_zero

RNG = np.random.default_rng(0)


def window(level_n: float, channels: int = 1, sd: float = 0.3, n: int = 250) -> np.ndarray:
    return level_n + RNG.normal(0.0, sd, size=(n, channels))


# -- zero policy ---------------------------------------------------------------------------------
def test_zero_accepted_when_small_and_steady() -> None:
    d = judge_zero("dynamometer", window(0.4), np.zeros(1), [0], [500.0])
    assert d.accepted and d.message == "" and not d.warnings
    assert d.limits[0] == {"range_n": 500.0, "max_load_n": 10.0, "max_sd_n": 2.5, "drift_warn_n": 5.0}


def test_zero_under_a_push_is_refused_in_one_line() -> None:
    d = judge_zero("dynamometer", window(198.0), np.zeros(1), [0], [500.0])
    assert not d.accepted
    assert d.message == "zero refused: 198 N on dynamometer; unload it and press t again"


def test_zero_with_a_person_on_a_plate_names_the_plate_total() -> None:
    # 746 N standing on a 4-cell plate, cells calibrated to 800 N each
    d = judge_zero("plate_left", window(746.0 / 4, channels=4), np.zeros(4), [0, 1, 2, 3], [800.0] * 4)
    assert not d.accepted and d.message.startswith("zero refused: 746 N on plate_left")


def test_zero_judged_from_the_calibration_zero_not_the_current_tare() -> None:
    # the pipeline reads 0 N because a tare of 198 N is in force: still 198 N of load
    d = judge_zero("dynamometer", window(0.0), np.array([198.0]), [0], [500.0])
    assert not d.accepted


def test_unsteady_zero_is_refused_and_drift_warns() -> None:
    d = judge_zero("dynamometer", window(0.0, sd=6.0), np.zeros(1), [0], [500.0])
    assert not d.accepted and "unsteady" in d.message
    d = judge_zero("dynamometer", window(7.0), np.zeros(1), [0], [500.0])
    assert d.accepted and d.warnings and "moved +7.0 N since the previous zero" in d.warnings[0]


def test_zero_thresholds_scale_with_the_calibrated_range() -> None:
    small, large = ZeroPolicy().limits_n(100.0), ZeroPolicy().limits_n(5000.0)
    assert small["max_load_n"] == 5.0 and large["max_load_n"] == 100.0  # floor, then 2 % of range
    assert judge_zero("d", window(60.0), np.zeros(1), [0], [5000.0]).accepted is True
    assert judge_zero("d", window(60.0), np.zeros(1), [0], [500.0]).accepted is False


def test_uncalibrated_channels_are_not_judged() -> None:
    w = window(0.0, channels=2)
    w[:, 1] = np.nan
    assert judge_zero("d", w, np.zeros(2), [0, 1], [500.0, None]).accepted


def test_calibrated_range_from_points_or_rated_capacity() -> None:
    snapshot = {"records": [{"record_id": "a", "points": [{"load_n": 0.0}, {"load_n": 392.0}]}],
                "channels": [{"channel": 0, "record_id": "a", "applied": True},
                             {"channel": 1, "record_id": None, "applied": False}]}
    info = SimpleNamespace(channels=2, family="sfp", model="X", settings={})
    assert calibrated_range_n(snapshot, info) == [392.0, None]
    mark10 = SimpleNamespace(channels=1, family="mark10", model="M5-100", settings={})
    factory = {"records": [{"record_id": "f", "points": []}],
               "channels": [{"channel": 0, "record_id": "f", "applied": True}]}
    assert calibrated_range_n(factory, mark10) == [500.0]
    loadstar = SimpleNamespace(channels=1, family="loadstar", model="DI-1000U", settings={"capacity_n": 4448.2})
    assert calibrated_range_n(factory, loadstar) == [4448.2]


def test_beyond_range_names_channel_and_maximum() -> None:
    f = np.zeros((100, 2))
    f[50, 1] = 868.0
    assert beyond_range(f, [392.0, 392.0], [0, 1]) == [{"channel": 1, "max_abs_n": 868.0, "range_n": 392.0}]
    assert beyond_range(f, [None, None], [0, 1]) == []


# -- valid reps and verdicts -----------------------------------------------------------------------
def trial(n: int, side: str, status: str = "complete", peak: float | None = 200.0, analysis: str = "ok"):
    results = {} if peak is None and analysis == "" else {"status": analysis, "peak_force_n": peak}
    return TrialOutcome("01_t", f"{n:03d}", side, n, 1, status, peak, results)


def test_only_complete_reps_with_a_rise_are_valid() -> None:
    trials = [trial(1, "left", analysis="no_rise", peak=None), trial(2, "left", status="aborted"),
              trial(3, "left", status="skipped"), trial(4, "left", peak=210.0), trial(5, "right", peak=150.0)]
    reps = validity.reps_of(trials, "left")
    assert [(r.trial, r.valid, r.why_not) for r in reps] == [
        ("001", False, "no rise"), ("002", False, "aborted"), ("004", True, "")]
    assert validity.valid_peaks(trials, "left") == [210.0]


def test_another_rep_while_a_side_lacks_valid_reps_or_dropped() -> None:
    trials = [trial(1, "left", analysis="no_rise", peak=None)]
    assert validity.needs_another_rep(trials, ["left"], min_reps=2, max_drop_pct=10) == (
        "left has 0 valid reps of 2 (last rep: no rise)")
    trials = [trial(1, "left", peak=200.0), trial(2, "left", peak=150.0)]
    assert "more than 10 % below the best" in validity.needs_another_rep(trials, ["left"], min_reps=2,
                                                                          max_drop_pct=10)
    trials.append(trial(3, "left", peak=198.0))
    assert validity.needs_another_rep(trials, ["left"], min_reps=2, max_drop_pct=10) is None


def test_verdict_needs_min_valid_reps_per_side_and_a_finished_test() -> None:
    trials = [trial(1, "left"), trial(2, "right"), trial(3, "left", analysis="no_rise", peak=None),
              trial(4, "right"), trial(5, "left", analysis="no_rise", peak=None), trial(6, "right")]
    v = validity.verdict_allowed(trials, ["left", "right"], min_reps=3, aborted=False)
    assert not v.allowed and v.note == "no LSI: left has 1 valid rep of 3"
    assert validity.verdict_allowed(trials, ["right"], min_reps=3, aborted=False).allowed
    v = validity.verdict_allowed(trials, ["right"], min_reps=3, aborted=True)
    assert not v.allowed and v.note.startswith("incomplete")


def test_both_sides_of_one_trial_are_judged_separately() -> None:
    t = TrialOutcome("01_t", "001", "both", 1, 1, "complete", None,
                     {"per_side": {"left": {"status": "ok", "peak_force_n": 200.0, "peak_force_n_per_kg": 2.9},
                                   "right": {"status": "no_rise", "peak_force_n": None}}})
    assert validity.valid_peaks([t], "left") == [200.0] and validity.valid_peaks([t], "right") == []
    assert validity.best_clinical(validity.reps_of([t], "left")) == {"force_n_per_kg": 2.9}
    assert t.side_peaks_attrs() == {"peak_force_left_n": 200.0, "peak_force_right_n": None}


# -- lever arms -------------------------------------------------------------------------------------
HIP, KNEE = get_protocol("hip-abduction-hhd"), get_protocol("knee-extension-90")
LANDING = get_protocol("drop-landing-bilateral")


def test_lever_arms_per_protocol() -> None:
    assert lever_arm.parse_lever_arms(["hip-abduction-hhd=0.82", "knee-extension-90=0.36"], [HIP, KNEE]) == {
        "hip-abduction-hhd": 0.82, "knee-extension-90": 0.36}
    assert lever_arm.parse_lever_arms(["0.36"], [KNEE, LANDING]) == {"knee-extension-90": 0.36}


@pytest.mark.parametrize("texts, message", [
    (["0.8"], "say which protocol it is for"),
    (["knee-extension-90=0.8"], "implausible for Knee extension at 90°"),
    (["hip-abduction-hhd=0.2"], "expected 0.4 to 1.1 m"),
    (["hip-abduction-hhd=abc"], "expected a number of m"),
    (["hip-abduction-hhd=0.8", "hip-abduction-hhd=0.81"], "given twice"),
])
def test_bad_lever_arms_are_refused(texts: list[str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        lever_arm.parse_lever_arms(texts, [HIP, KNEE])


def test_lever_arm_on_a_protocol_without_torque_is_refused() -> None:
    with pytest.raises(UserError, match="computes no torque"):
        lever_arm.parse_lever_arms(["drop-landing-bilateral=0.4"], [HIP, LANDING])


def test_missing_lever_arm_resolves_to_none_and_protocol_default_is_used() -> None:
    assert lever_arm.resolve(KNEE, {}, None, [HIP, KNEE]) is None
    assert lever_arm.resolve(KNEE, {}, 0.8, [HIP, KNEE]) is None  # one value for two joints: not used
    fixed = dataclasses.replace(KNEE, normalisation=dataclasses.replace(KNEE.normalisation, lever_arm_m=0.33))
    assert lever_arm.resolve(fixed, {}, None, [fixed]).value_m == 0.33
    assert "knee joint line" in lever_arm.missing_note(KNEE)


# -- channel overlap ----------------------------------------------------------------------------------
def test_overlapping_channels_refused_but_separate_channels_of_one_device_accepted() -> None:
    with pytest.raises(UserError, match="would both read channel 0"):
        bind_roles([LANDING], [parse_device_arg("plate_left,plate_right=sim:sfp?channels=4")])
    frame = get_protocol("hip-abduction-frame")  # left on channel 0, right on channel 1 of one device
    assert bind_roles([frame], [parse_device_arg("frame=sim:sfp?channels=2")])
