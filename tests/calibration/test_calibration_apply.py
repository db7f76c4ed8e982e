"""Applying calibrations to (n, channels) streams; hypothesis: fit of exact linear data inverts the model."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration import (
    CalibrationError,
    CalibrationPoint,
    CalibrationRecord,
    CalibrationSet,
    fit_calibration,
)

WHEN = datetime(2025, 7, 1, tzinfo=timezone.utc)


def rec(channel, coefficients, offset, model=None):
    model = model or {1: "linear", 2: "quadratic", 3: "cubic"}[len(coefficients)]
    return CalibrationRecord(
        device_serial="DEV", channel=channel, model=model, offset_counts=offset,
        coefficients_n_per_count_k=tuple(coefficients), calibrated_at=WHEN, expires_at=WHEN + timedelta(days=30),
        operator="t",
    )


def test_linear_apply_is_gain_times_counts_minus_offset():
    records = [rec(0, [0.01], 1000.0), rec(1, [-0.002], -50.0), rec(2, [1.0], 0.0)]
    cs = CalibrationSet(records)
    counts = np.array([[1000, -50, 3], [2000, 450, -7], [0, 0, 0]], dtype=np.int32)
    expected = np.column_stack([0.01 * (counts[:, 0] - 1000.0), -0.002 * (counts[:, 1] + 50.0), counts[:, 2]])
    got = cs.apply(counts)
    assert got.dtype == np.float64 and got.shape == (3, 3)
    assert np.allclose(got, expected, rtol=0, atol=1e-12)
    assert cs.all_linear
    assert np.allclose(cs.apply(counts[1]), expected[1])  # one sample, shape (channels,)


def test_large_arrays_take_the_chunked_path_with_same_result():
    cs = CalibrationSet([rec(0, [0.01], 1000.0), rec(1, [-0.002], -50.0), rec(2, [0.01, 1e-8], 7.0), None])
    rng = np.random.default_rng(5)
    counts = rng.integers(-2**23, 2**23, size=(10_001, 4), dtype=np.int32)  # > 2 chunks, ragged end
    got = cs.apply(counts)
    assert np.array_equal(got[:, 0], counts[:, 0] * 0.01 + (-0.01 * 1000.0))
    assert np.array_equal(got[:, 1], counts[:, 1] * -0.002 + (0.002 * -50.0))
    x = counts[:, 2] - 7.0
    assert np.allclose(got[:, 2], 0.01 * x + 1e-8 * x**2, rtol=1e-12)
    assert np.all(np.isnan(got[:, 3]))
    out = np.empty((10_001, 4))
    assert cs.apply(counts, out=out) is out and np.array_equal(out, got, equal_nan=True)
    assert np.array_equal(got[:7], cs.apply(counts[:7]), equal_nan=True)


def test_tare_replaces_the_zero():
    cs = CalibrationSet([rec(0, [0.01], 1000.0), rec(1, [0.02], 0.0)])
    tared = cs.with_tare([1100.0, None])
    counts = np.array([[1100.0, 100.0]])
    assert np.allclose(tared.apply(counts), [[0.0, 2.0]])
    assert np.allclose(cs.apply(counts), [[1.0, 2.0]])
    assert tared.tare_offsets_counts == (1100.0, None)
    assert np.allclose(tared.zero_counts, [1100.0, 0.0])


def test_polynomial_channels_use_horner_and_mix_with_linear():
    quad = rec(1, [0.01, 2e-7], 500.0)
    cubic = rec(2, [0.02, -1e-7, 3e-12], -100.0)
    cs = CalibrationSet([rec(0, [0.005], 0.0), quad, cubic, None])
    rng = np.random.default_rng(3)
    counts = rng.uniform(-1e5, 1e5, size=(1000, 4))
    got = cs.apply(counts)
    x1, x2 = counts[:, 1] - 500.0, counts[:, 2] + 100.0
    assert np.allclose(got[:, 0], 0.005 * counts[:, 0], rtol=1e-12)
    assert np.allclose(got[:, 1], 0.01 * x1 + 2e-7 * x1**2, rtol=1e-12)
    assert np.allclose(got[:, 2], 0.02 * x2 - 1e-7 * x2**2 + 3e-12 * x2**3, rtol=1e-12)
    assert np.all(np.isnan(got[:, 3]))  # uncalibrated channel: no invented newtons
    assert not cs.all_linear


def test_polynomial_channel_with_tare():
    quad = rec(0, [0.01, 2e-7], 500.0)
    tared = CalibrationSet([quad], [800.0])
    x = np.array([[800.0], [1800.0]])
    assert np.allclose(tared.apply(x)[:, 0], [0.0, 0.01 * 1000 + 2e-7 * 1000**2])


def test_apply_into_out_and_shape_errors():
    cs = CalibrationSet([rec(0, [0.01], 0.0), rec(1, [0.01], 0.0)])
    out = np.empty((5, 2))
    result = cs.apply(np.ones((5, 2)), out=out)
    assert result is out and np.allclose(out, 0.01)
    with pytest.raises(CalibrationError, match="2 columns"):
        cs.apply(np.ones((5, 3)))
    with pytest.raises(CalibrationError, match="tare"):
        CalibrationSet([rec(0, [0.01], 0.0)], [1.0, 2.0])


def sweep(loads, counts_of):
    points = [CalibrationPoint(f, "loading", 1, counts_of(f)) for f in loads]
    points += [CalibrationPoint(f, "unloading", 1, counts_of(f)) for f in reversed(loads[:-1])]
    return points


@settings(max_examples=150, deadline=None)
@given(
    offset=st.floats(-8e6, 8e6, allow_nan=False),
    gain_counts_per_n=st.floats(0.5, 5e4).flatmap(lambda g: st.sampled_from([g, -g])),
    full_scale_n=st.floats(10.0, 20_000.0),
    fractions=st.lists(st.floats(0.01, 0.99), min_size=3, max_size=8, unique=True),
)
def test_fit_of_exact_linear_data_inverts_the_model(offset, gain_counts_per_n, full_scale_n, fractions):
    loads = sorted({0.0, full_scale_n, *(round(f * full_scale_n, 6) for f in fractions)})
    if len(loads) < 5:
        return
    record = fit_calibration(
        sweep(loads, lambda f: offset + gain_counts_per_n * f),
        device_serial="H", channel=0, operator="h", calibrated_at=WHEN,
    )
    assert record.model == "linear"
    probe = np.linspace(0.0, full_scale_n, 17)
    counts = (offset + gain_counts_per_n * probe)[:, None]
    forces = CalibrationSet([record]).apply(counts)[:, 0]
    assert np.allclose(forces, probe, rtol=0, atol=1e-7 * full_scale_n + 1e-9 * abs(offset / gain_counts_per_n))
    assert record.gain_n_per_count == pytest.approx(1 / gain_counts_per_n, rel=1e-7)
