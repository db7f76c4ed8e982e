"""Stability check, multi-point procedure state machine, tare and the tare log."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from calibration import (
    STANDARD_GRAVITY_M_S2,
    CalibrationError,
    MultiPointProcedure,
    StabilityCriteria,
    TareLog,
    assess_stability,
    fit_calibration,
    kg_to_n,
    tare,
)

RATE_HZ = 200.0
CRITERIA = StabilityCriteria(max_sd_counts=20.0, max_slope_counts_per_s=10.0, window_s=1.0)
WHEN = datetime(2025, 5, 2, 14, 0, tzinfo=timezone.utc)


def block(level, seconds=2.0, sd=5.0, slope_per_s=0.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    return level + slope_per_s * t + rng.normal(0.0, sd, t.size)


# ---------------------------------------------------------------------------------------
# stability
# ---------------------------------------------------------------------------------------


def test_settled_block_accepted_and_mean_is_last_window():
    data = block(10_000.0)
    result = assess_stability(data, RATE_HZ, CRITERIA)
    assert result.settled and result.reason == ""
    assert result.n_samples == 200
    assert result.mean_counts == pytest.approx(float(np.mean(data[-200:])), abs=1e-9)
    assert result.sd_counts == pytest.approx(5.0, rel=0.2)


def test_drifting_block_rejected():
    result = assess_stability(block(10_000.0, sd=1.0, slope_per_s=40.0), RATE_HZ, CRITERIA)
    assert not result.settled
    assert "drift" in result.reason and result.reason.startswith("not settled")
    assert result.slope_counts_per_s == pytest.approx(40.0, rel=0.05)


def test_noisy_block_rejected():
    result = assess_stability(block(10_000.0, sd=60.0), RATE_HZ, CRITERIA)
    assert not result.settled and "noise" in result.reason


def test_slow_drift_within_threshold_is_accepted():
    assert assess_stability(block(0.0, slope_per_s=5.0), RATE_HZ, CRITERIA).settled


def test_only_the_last_window_counts():
    placing = np.linspace(0.0, 50_000.0, 200)  # the mass being lowered
    settled_after = np.concatenate([placing, block(50_000.0, seconds=1.5)])
    assert assess_stability(settled_after, RATE_HZ, CRITERIA).settled
    bumped_at_end = np.concatenate([block(50_000.0, seconds=1.5), block(50_000.0, seconds=0.2) + 3000])
    assert not assess_stability(bumped_at_end, RATE_HZ, CRITERIA).settled


def test_short_or_nan_blocks_rejected():
    short = assess_stability(block(0.0, seconds=0.5), RATE_HZ, CRITERIA)
    assert not short.settled and "need 200" in short.reason
    data = block(0.0)
    data[-3] = np.nan
    assert "NaN" in assess_stability(data, RATE_HZ, CRITERIA).reason


def test_criteria_from_force_and_validation():
    c = StabilityCriteria.from_force(max_sd_n=0.05, max_slope_n_per_s=0.02, nominal_gain_n_per_count=-0.001)
    assert c.max_sd_counts == pytest.approx(50.0) and c.max_slope_counts_per_s == pytest.approx(20.0)
    with pytest.raises(CalibrationError, match="max_sd_counts"):
        StabilityCriteria(max_sd_counts=0.0, max_slope_counts_per_s=1.0)


# ---------------------------------------------------------------------------------------
# multi-point procedure
# ---------------------------------------------------------------------------------------


def make_procedure(**kwargs):
    kwargs.setdefault("unit", "kg")
    return MultiPointProcedure("SFP-0042", 2, [5, 10, 20, 40], sample_rate_hz=RATE_HZ, stability=CRITERIA, **kwargs)


def test_sequence_loading_then_unloading_with_zero_added():
    proc = make_procedure()
    assert [s.load_value for s in proc.steps] == [0, 5, 10, 20, 40, 20, 10, 5, 0]
    assert [s.direction for s in proc.steps] == ["loading"] * 5 + ["unloading"] * 4
    assert proc.steps[3].load_n == pytest.approx(20 * STANDARD_GRAVITY_M_S2)
    first = proc.next_step()
    assert first.index == 0 and first.total == 9
    assert "Remove all load" in first.prompt
    assert "Place a total of 10 kg" in proc.steps[2].prompt
    assert "to a total of 20 kg" in proc.steps[5].prompt


def test_cycles_and_local_gravity():
    proc = make_procedure(cycles=2, gravity_m_s2=9.81)
    assert len(proc.steps) == 18 and proc.steps[9].cycle == 2
    assert proc.steps[4].load_n == pytest.approx(40 * 9.81)
    assert kg_to_n(40, 9.81) == pytest.approx(392.4)


def test_too_few_loads_or_bad_loads_refused():
    with pytest.raises(CalibrationError, match="at least 5 different loads"):
        MultiPointProcedure("X", 0, [10, 20, 20, 40], sample_rate_hz=RATE_HZ, stability=CRITERIA)
    with pytest.raises(CalibrationError, match="load 2"):
        MultiPointProcedure("X", 0, [0, -5, 10, 20, 40], sample_rate_hz=RATE_HZ, stability=CRITERIA)
    with pytest.raises(CalibrationError, match="unit"):
        MultiPointProcedure("X", 0, [0, 5, 10, 20, 40], unit="lb", sample_rate_hz=RATE_HZ, stability=CRITERIA)


def test_drive_procedure_to_a_record():
    offset, gain_counts_per_n = 123_456.0, 800.0
    proc = make_procedure()
    seed = 0
    rejected_once = False
    while (step := proc.next_step()) is not None:
        level = offset + gain_counts_per_n * step.load_n
        if step.index == 3 and not rejected_once:
            result = proc.submit(block(level, slope_per_s=500.0, seed=seed))  # still swinging
            assert not result.accepted and "not settled" in result.message
            assert proc.next_step() is step  # same step again
            rejected_once = True
        seed += 1
        result = proc.submit(block(level, seed=seed))
        assert result.accepted, result.message
    assert proc.done and len(proc.points) == 9
    with pytest.raises(CalibrationError, match="done"):
        proc.submit(block(offset))
    record = proc.fit(operator="A. Physio", calibrated_at=WHEN, temperature_c=22.0)
    assert record.device_serial == "SFP-0042" and record.channel == 2
    assert record.load_unit == "kg" and record.gravity_m_s2 == STANDARD_GRAVITY_M_S2
    assert record.model == "linear"
    assert record.gain_n_per_count == pytest.approx(1 / gain_counts_per_n, rel=1e-4)
    assert record.offset_counts == pytest.approx(offset, abs=0.02 * gain_counts_per_n)
    assert [p.direction for p in record.points].count("unloading") == 4


def test_fit_before_done_and_retake():
    proc = make_procedure()
    with pytest.raises(CalibrationError, match="not finished"):
        proc.fit(operator="x")
    proc.submit(block(0.0))
    proc.submit(block(1000.0))
    assert proc.next_step().index == 2
    assert proc.retake_previous().index == 1
    assert len(proc.points) == 1


def test_submit_accepts_column_block_and_rejects_multichannel():
    proc = make_procedure()
    assert proc.submit(block(0.0)[:, None]).accepted
    with pytest.raises(CalibrationError, match="shape"):
        proc.submit(np.zeros((400, 2)))


# ---------------------------------------------------------------------------------------
# tare and tare log
# ---------------------------------------------------------------------------------------


def test_tare_multichannel():
    data = np.column_stack([block(100.0, seed=1), block(-2500.0, seed=2)])
    result = tare(data, RATE_HZ, CRITERIA)
    assert result.settled
    assert result.offset_counts[0] == pytest.approx(np.mean(data[-200:, 0]))
    assert result.offset_counts[1] == pytest.approx(np.mean(data[-200:, 1]))
    data[:, 1] += np.linspace(0, 200, data.shape[0])  # someone leaning on cell 1
    bad = tare(data, RATE_HZ, CRITERIA)
    assert not bad.settled and bad.reason.startswith("column 1")


def test_tare_log_records_drift_in_counts_and_newtons():
    log = TareLog("SFP-0042", 2, gain_n_per_count=0.002, reference_offset_counts=1000.0)
    first = log.add(1004.0, at=WHEN)
    second = log.add(1001.5, at=WHEN + timedelta(minutes=30), sd_counts=2.0)
    assert first.drift_counts == pytest.approx(4.0) and first.drift_n == pytest.approx(0.008)
    assert second.drift_counts == pytest.approx(-2.5) and second.drift_n == pytest.approx(-0.005)
    assert log.latest is second and len(log.entries) == 2
    rows = log.to_list()
    assert rows[1]["offset_counts"] == 1001.5 and rows[1]["at"].startswith("2025-05-02T14:30")
    no_ref = TareLog("X", 0, gain_n_per_count=1.0)
    assert no_ref.add(5.0, at=WHEN).drift_counts is None


def test_tare_log_for_record():
    points_proc = make_procedure()
    while (step := points_proc.next_step()) is not None:
        points_proc.submit(block(500.0 + 100.0 * step.load_n, seed=step.index))
    record = fit_calibration(points_proc.points, device_serial="D", channel=0, operator="o", calibrated_at=WHEN)
    log = TareLog.for_record(record)
    entry = log.add(record.offset_counts + 10.0, at=WHEN)
    assert entry.drift_counts == pytest.approx(10.0)
    assert entry.drift_n == pytest.approx(10.0 * record.gain_n_per_count)
