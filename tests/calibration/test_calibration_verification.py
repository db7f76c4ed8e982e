"""Verification tolerance at its boundary, single check loads, and the force-plate check."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from calibration import (
    PLATE_POSITIONS,
    STANDARD_GRAVITY_M_S2,
    CalibrationError,
    CalibrationRecord,
    CalibrationState,
    StabilityCriteria,
    VerificationProcedure,
    check_usable,
    factory_record,
    judge,
    verification_tolerance_n,
    verify_check_load,
    verify_plate,
)

WHEN = datetime(2025, 6, 1, 8, 0, tzinfo=timezone.utc)
RATE_HZ = 100.0
CRITERIA = StabilityCriteria(max_sd_counts=10.0, max_slope_counts_per_s=10.0, window_s=1.0)


def linear_record(serial="SFP-0042", channel=0, gain=0.01, offset=5000.0):
    return CalibrationRecord(
        device_serial=serial, channel=channel, model="linear", offset_counts=offset,
        coefficients_n_per_count_k=(gain,), calibrated_at=WHEN, expires_at=WHEN + timedelta(days=365),
        operator="tester",
    )


def test_tolerance_is_larger_of_percent_and_floor():
    assert verification_tolerance_n(1000.0) == pytest.approx(5.0)
    assert verification_tolerance_n(100.0) == 1.0
    assert verification_tolerance_n(200.0) == pytest.approx(1.0)  # the crossover
    assert verification_tolerance_n(1000.0, tolerance_pct=1.0, tolerance_min_n=0.0) == pytest.approx(10.0)
    with pytest.raises(CalibrationError):
        verification_tolerance_n(10.0, tolerance_pct=-1)


@pytest.mark.parametrize(
    ("reference_n", "measured_n", "passed"),
    [
        (1000.0, 1005.0, True),   # exactly 0.5 %
        (1000.0, 995.0, True),
        (1000.0, 1005.01, False),
        (1000.0, 994.99, False),
        (100.0, 101.0, True),     # exactly the 1 N floor
        (100.0, 98.999, False),
        (100.0, 100.99, True),
    ],
)
def test_pass_fail_at_the_boundary(reference_n, measured_n, passed):
    result = judge(reference_n, measured_n, at=WHEN)
    assert result.passed is passed
    assert result.error_n == pytest.approx(measured_n - reference_n)


def test_check_load_through_identity_record():
    record = factory_record("MK10-77", 0, operator="tester", calibrated_at=WHEN)
    reference = 100 * STANDARD_GRAVITY_M_S2  # 100 kg -> 980.665 N, tolerance 4.903 N
    ok = verify_check_load(record, np.full(50, reference + 4.9), reference, at=WHEN)
    bad = verify_check_load(record, np.full(50, reference + 4.91), reference, at=WHEN)
    assert ok.passed and not bad.passed
    assert ok.tolerance_n == pytest.approx(4.903325)


def test_check_load_with_linear_record_and_tare():
    record = linear_record(gain=0.01, offset=5000.0)  # 100 counts per N
    counts_for_200n = 5000.0 + 200.0 / 0.01
    assert verify_check_load(record, counts_for_200n, 200.0, at=WHEN).passed
    drifted_zero = 5000.0 + 150.0  # zero moved by 1.5 N
    assert not verify_check_load(record, counts_for_200n + 150.0, 200.0, at=WHEN).passed
    assert verify_check_load(record, counts_for_200n + 150.0, 200.0, tare_offset_counts=drifted_zero, at=WHEN).passed


def test_failed_verification_blocks_and_later_pass_clears():
    record = linear_record()
    failed = record.with_verification(judge(200.0, 205.0, at=WHEN + timedelta(days=1)))
    assert failed.record_id == record.record_id
    status = check_usable(failed, WHEN + timedelta(days=2))
    assert status.state is CalibrationState.FAILED_VERIFICATION
    assert "SFP-0042" in status.reason and "channel 0" in status.reason
    passed = failed.with_verification(judge(200.0, 200.2, at=WHEN + timedelta(days=3)))
    assert check_usable(passed, WHEN + timedelta(days=4)).usable


# ---------------------------------------------------------------------------------------
# force plate: sum of four cells at the centre and each corner
# ---------------------------------------------------------------------------------------

GAINS = (0.010, 0.012, 0.009, 0.011)   # N/count, true
OFFSETS = (1000.0, -2000.0, 500.0, 0.0)  # counts, true
SHARES = {  # fraction of the load on each cell for each position
    "centre": (0.25, 0.25, 0.25, 0.25),
    "front-left corner": (0.70, 0.10, 0.10, 0.10),
    "front-right corner": (0.10, 0.70, 0.10, 0.10),
    "back-right corner": (0.10, 0.10, 0.70, 0.10),
    "back-left corner": (0.10, 0.10, 0.10, 0.70),
}


def cell_records(gain_errors=(0.0, 0.0, 0.0, 0.0)):
    return [
        linear_record("PLATE-7", i, gain=g * (1 + e), offset=o)
        for i, (g, o, e) in enumerate(zip(GAINS, OFFSETS, gain_errors, strict=False))
    ]


def plate_counts(total_n, position):
    return np.array([o + total_n * s / g for g, o, s in zip(GAINS, OFFSETS, SHARES[position], strict=False)])


def test_plate_check_passes_with_true_calibration():
    total = 50 * STANDARD_GRAVITY_M_S2
    readings = {p: plate_counts(total, p) for p in PLATE_POSITIONS}
    report = verify_plate(cell_records(), readings, total, at=WHEN)
    assert report.passed and len(report.results) == 5
    assert {r.position for r in report.results} == set(PLATE_POSITIONS)
    assert all(r.kind == "plate_position" and r.at == WHEN for r in report.results)
    assert all(abs(r.error_n) < 1e-9 for r in report.results)


def test_plate_corner_catches_what_the_centre_misses():
    # cell 0 reads 1.5 % high: at the centre that is 0.375 % of the total (passes),
    # at the corner carrying 70 % on that cell it is 1.05 % (fails).
    total = 50 * STANDARD_GRAVITY_M_S2
    readings = {p: plate_counts(total, p) for p in PLATE_POSITIONS}
    report = verify_plate(cell_records((0.015, 0, 0, 0)), readings, total, at=WHEN)
    by_position = {r.position: r for r in report.results}
    assert by_position["centre"].passed
    assert by_position["centre"].error_n == pytest.approx(total * 0.25 * 0.015)
    assert not by_position["front-left corner"].passed
    assert by_position["front-left corner"].error_n == pytest.approx(total * 0.70 * 0.015)
    assert not report.passed
    updated = report.apply_to(cell_records((0.015, 0, 0, 0)))
    assert all(check_usable(r, WHEN).state is CalibrationState.FAILED_VERIFICATION for r in updated)


def test_plate_check_with_tare_offsets_and_blocks():
    total = 20 * STANDARD_GRAVITY_M_S2
    drift = np.array([300.0, 200.0, 250.0, 100.0])  # zero moved since calibration, counts (8.75 N in all)
    block = np.tile(plate_counts(total, "centre") + drift, (25, 1))
    records = cell_records()
    untared = verify_plate(records, {"centre": block}, total, at=WHEN)
    assert not untared.passed and untared.results[0].error_n == pytest.approx(8.75)
    report = verify_plate(records, {"centre": block}, total, tare_offsets_counts=np.array(OFFSETS) + drift, at=WHEN)
    assert report.passed and abs(report.results[0].error_n) < 1e-9


def noisy(row, seconds=1.5, seed=0):
    rng = np.random.default_rng(seed)
    row = np.atleast_1d(row)
    return row + rng.normal(0.0, 1.0, (int(seconds * RATE_HZ), row.size))


def test_plate_verification_procedure():
    total = 50 * STANDARD_GRAVITY_M_S2
    proc = VerificationProcedure.plate(
        cell_records(), 50, unit="kg", sample_rate_hz=RATE_HZ, stability=CRITERIA, operator="tester"
    )
    assert proc.steps[0].is_zero and "Remove all load from the plate" in proc.steps[0].prompt
    assert len(proc.steps) == 6 and "front-left corner" in proc.steps[2].prompt
    drift = np.array([20.0, -20.0, 0.0, 10.0])
    zero = noisy(np.array(OFFSETS) + drift, seed=1)
    wobbly = zero + np.linspace(0, 500, zero.shape[0])[:, None]
    assert not proc.submit(wobbly).accepted
    assert proc.submit(zero).accepted
    seed = 2
    while (step := proc.next_step()) is not None:
        result = proc.submit(noisy(plate_counts(total, step.position) + drift, seed=seed))
        seed += 1
        assert result.accepted and result.verification.passed, result.message
    report = proc.report(at=WHEN)
    assert report.passed and len(report.results) == 5
    assert all(r.at == WHEN and r.operator == "tester" for r in report.results)
    with pytest.raises(CalibrationError, match="columns"):
        VerificationProcedure.plate(cell_records(), 50, sample_rate_hz=RATE_HZ, stability=CRITERIA).submit(
            np.zeros((200, 3))
        )


def test_single_check_load_procedure():
    record = linear_record(gain=0.01, offset=5000.0)
    proc = VerificationProcedure.check_load(record, 200.0, unit="N", sample_rate_hz=RATE_HZ, stability=CRITERIA)
    assert [s.is_zero for s in proc.steps] == [True, False]
    assert proc.submit(noisy(5100.0)[:, 0]).accepted  # zero moved by 1 N
    result = proc.submit(noisy(5100.0 + 200.0 / 0.01, seed=3)[:, 0])
    assert result.accepted and result.verification.passed
    assert abs(result.verification.error_n) < 0.05
    report = proc.report(at=WHEN)
    assert report.results[0].kind == "check_load" and report.passed
    (updated,) = report.apply_to([record])
    assert updated.latest_verification == report.results[0]
