"""Fitting: recovery of known models, automatic order choice, non-linearity/hysteresis figures."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from calibration import (
    CalibrationError,
    CalibrationPoint,
    evaluate_polynomial,
    fit_calibration,
    fit_model,
    response_figures,
)
from calibration._stats import f_distribution_sf

WHEN = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)


def sweep_points(loads_n, forward, rng=None, noise_counts=0.0, cycles=1):
    """Loading then unloading points with counts = forward(F) + noise."""
    loads = sorted(loads_n)
    plan = []
    for cycle in range(1, cycles + 1):
        plan += [(f, "loading", cycle) for f in loads]
        plan += [(f, "unloading", cycle) for f in reversed(loads[:-1])]
    points = []
    for f, direction, cycle in plan:
        noise = 0.0 if rng is None else rng.normal(0.0, noise_counts)
        points.append(CalibrationPoint(load_n=f, direction=direction, cycle=cycle, mean_counts=forward(f) + noise))
    return points


def fit_points(points, **kwargs):
    return fit_calibration(points, device_serial="SFP-0042", channel=1, operator="tester", calibrated_at=WHEN, **kwargs)


LOADS_N = [0.0, 50.0, 100.0, 200.0, 300.0, 400.0]


@pytest.mark.parametrize("seed", range(5))
def test_linear_truth_recovered(seed):
    rng = np.random.default_rng(seed)
    offset, gain = 8_388_608.0 + rng.uniform(-5e4, 5e4), rng.uniform(500.0, 3000.0)  # counts, counts/N
    noise = 2e-5 * gain * 400.0  # 0.002 % FS per averaged reading
    record = fit_points(sweep_points(LOADS_N, lambda f: offset + gain * f, rng, noise))
    assert record.model == "linear"
    assert record.gain_n_per_count == pytest.approx(1.0 / gain, rel=2e-4)
    assert record.offset_counts == pytest.approx(offset, abs=1e-4 * 400.0 * gain)  # zero within 0.01 % FS
    # residuals are reference minus fitted force and stay at the noise level
    assert record.figures.residual_max_n < 10 * noise / gain
    for p in record.points:
        fitted = float(record.force_n(p.mean_counts))
        assert p.residual_n == pytest.approx(p.load_n - fitted, abs=1e-9)


def test_negative_gain_is_fine():
    record = fit_points(sweep_points(LOADS_N, lambda f: 100_000.0 - 750.0 * f))
    assert record.gain_n_per_count == pytest.approx(-1 / 750.0, rel=1e-9)
    assert record.offset_counts == pytest.approx(100_000.0, abs=1e-6)
    assert float(record.force_n(100_000.0 - 750.0 * 123.0)) == pytest.approx(123.0, rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_quadratic_detected_when_present(seed):
    rng = np.random.default_rng(100 + seed)
    offset, gain, fs = 20_000.0, 1000.0, 400.0
    # curvature with 0.5 % FS terminal non-linearity: q*FS^2/4 = 0.005*gain*FS
    q = 0.02 * gain / fs
    forward = lambda f: offset + gain * f + q * f * f  # noqa: E731
    record = fit_points(sweep_points(LOADS_N, forward, rng, 5e-5 * gain * fs))
    assert record.model == "quadratic"
    assert record.figures.nonlinearity_pct_fs == pytest.approx(0.5, abs=0.02)
    # the quadratic calibration reads true forces within 0.05 % FS over the range
    forces = np.linspace(0, fs, 41)
    got = record.force_n(forward(forces))
    assert np.max(np.abs(got - forces)) < 0.0005 * fs
    assert record.offset_counts == pytest.approx(offset, abs=2e-4 * fs * gain)  # zero within 0.02 % FS


@pytest.mark.parametrize("seed", range(20))
def test_quadratic_not_chosen_for_linear_data(seed):
    rng = np.random.default_rng(200 + seed)
    gain = 1000.0
    record = fit_points(sweep_points(LOADS_N, lambda f: 5000.0 + gain * f, rng, 2e-4 * gain * 400.0))
    assert record.model == "linear", record.figures.model_choice


def test_small_but_significant_curvature_stays_linear():
    # 0.06 % FS terminal non-linearity, noise-free: the F-test is significant but the
    # quadratic would change forces by < 0.1 % FS, so the rule keeps the linear model.
    gain, fs = 1000.0, 400.0
    q = 4 * 0.0006 * gain / fs
    record = fit_points(sweep_points(LOADS_N, lambda f: gain * f + q * f * f))
    assert record.model == "linear"
    assert record.figures.f_test_p < 0.01
    assert "threshold" in record.figures.model_choice


def test_cubic_only_with_max_order_3():
    gain, fs = 1000.0, 400.0
    loads = list(np.linspace(0, fs, 9))
    # antisymmetric S-curve: a quadratic cannot absorb it
    forward = lambda f: gain * f + 0.1 * gain * fs * ((f / fs - 0.5) ** 3 - 0.25 * (f / fs - 0.5))  # noqa: E731
    points = sweep_points(loads, forward)
    assert fit_points(points, max_order=3).model == "cubic"
    assert fit_points(points, max_order=2).model == "linear"  # a quadratic cannot help
    assert fit_points(points, max_order=1).model == "linear"


def test_fit_model_rejects_bad_input():
    with pytest.raises(CalibrationError, match="do not change"):
        fit_model([5.0, 5.0, 5.0, 5.0], [0.0, 1.0, 2.0, 3.0])
    with pytest.raises(CalibrationError, match="two different loads"):
        fit_model([1.0, 2.0], [3.0, 3.0])
    with pytest.raises(CalibrationError, match="max_order"):
        fit_model([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], max_order=4)
    with pytest.raises(CalibrationError, match="at least 5 different loads"):
        fit_points(sweep_points([0.0, 10.0, 20.0, 30.0], lambda f: f))


def test_evaluate_polynomial_is_horner_of_power_series():
    x = np.array([[-3.0, 0.0], [2.5, 1e4]])
    c = (0.5, -2e-3, 7e-7)
    assert np.allclose(evaluate_polynomial(x, c), c[0] * x + c[1] * x**2 + c[2] * x**3, rtol=1e-13)


# ---------------------------------------------------------------------------------------
# Figures on constructed data with known answers
# ---------------------------------------------------------------------------------------

SPAN_COUNTS = 400_000.0  # loading output between 0 and 400 N
LOADS_5 = [0.0, 100.0, 200.0, 300.0, 400.0]


def constructed_points(loading_dev_pct, unloading_minus_loading_pct, offset=1_234_567.0):
    """Loading readings = straight line + deviations; unloading = loading + given differences.

    Deviations are in % of the 0-400 N output span.
    """
    base = lambda f: offset + SPAN_COUNTS * f / 400.0  # noqa: E731
    up = {f: base(f) + d / 100 * SPAN_COUNTS for f, d in zip(LOADS_5, loading_dev_pct, strict=False)}
    points = [CalibrationPoint(f, "loading", 1, up[f]) for f in LOADS_5]
    for f, h in zip(reversed(LOADS_5[:-1]), reversed(unloading_minus_loading_pct), strict=False):
        points.append(CalibrationPoint(f, "unloading", 1, up[f] + h / 100 * SPAN_COUNTS))
    return points


def test_nonlinearity_and_hysteresis_match_construction():
    # Endpoint deviations are 0, so the terminal line is the base line:
    # terminal non-linearity = max |deviation| = 0.2 % FS. Hysteresis max = 0.5 % FS.
    points = constructed_points([0.0, 0.12, -0.2, 0.05, 0.0], [0.1, 0.5, -0.3, 0.2])
    figures = response_figures(points)
    assert figures.nonlinearity_pct_fs == pytest.approx(0.2, rel=1e-9)
    assert figures.hysteresis_pct_fs == pytest.approx(0.5, rel=1e-9)
    assert figures.full_scale_n == 400.0
    assert figures.full_scale_counts == pytest.approx(SPAN_COUNTS, rel=1e-12)
    assert figures.repeatability_pct_fs is None


def test_terminal_versus_least_squares_nonlinearity():
    # Deviations k*[1, -1, 0, -1, 1] are orthogonal to 1 and F, so the least-squares line
    # is the base line (BFSL non-linearity = k) while the terminal line passes through
    # the endpoints, k above it (terminal non-linearity = 2k).
    k = 0.1
    points = constructed_points([k, -k, 0.0, -k, k], [0.2, 0.5, 0.35, 0.1])
    figures = response_figures(points)
    assert figures.nonlinearity_bfsl_pct_fs == pytest.approx(k, rel=1e-9)
    assert figures.nonlinearity_pct_fs == pytest.approx(2 * k, rel=1e-9)
    assert figures.hysteresis_pct_fs == pytest.approx(0.5, rel=1e-9)


def test_figures_do_not_depend_on_sign_of_gain():
    points = constructed_points([0.0, 0.12, -0.2, 0.05, 0.0], [0.1, 0.5, -0.3, 0.2])
    mirrored = [CalibrationPoint(p.load_n, p.direction, p.cycle, -p.mean_counts) for p in points]
    a, b = response_figures(points), response_figures(mirrored)
    assert b.nonlinearity_pct_fs == pytest.approx(a.nonlinearity_pct_fs)
    assert b.hysteresis_pct_fs == pytest.approx(a.hysteresis_pct_fs)


def test_repeatability_from_two_cycles():
    first = constructed_points([0.0, 0.1, 0.1, 0.05, 0.0], [0.1, 0.2, 0.2, 0.1])
    shift_pct = {0.0: 0.0, 100.0: -0.02, 200.0: 0.07, 300.0: 0.03, 400.0: 0.0}  # endpoints fixed: same FS
    second = [
        CalibrationPoint(p.load_n, p.direction, 2, p.mean_counts + shift_pct[p.load_n] / 100 * SPAN_COUNTS)
        for p in first
    ]
    figures = response_figures(first + second)
    assert figures.repeatability_pct_fs == pytest.approx(0.07, rel=1e-9)
    record = fit_points(first + second)
    assert record.figures.repeatability_pct_fs == pytest.approx(0.07, rel=1e-9)


def test_record_carries_figures_and_expiry():
    points = constructed_points([0.0, 0.12, -0.2, 0.05, 0.0], [0.1, 0.5, -0.3, 0.2])
    record = fit_points(points, temperature_c=21.5, expiry_months=6)
    assert record.figures.nonlinearity_pct_fs == pytest.approx(0.2, rel=1e-9)
    assert record.figures.hysteresis_pct_fs == pytest.approx(0.5, rel=1e-9)
    assert record.figures.residual_max_pct_fs == pytest.approx(record.figures.residual_max_n / 400 * 100)
    assert record.expires_at == datetime(2025, 9, 1, 9, 30, tzinfo=timezone.utc)
    assert record.temperature_c == 21.5 and record.operator == "tester"


def test_f_distribution_sf_matches_scipy():
    from scipy import stats  # here, not at the top: ~0.7 s of import in every xdist worker

    for f_value in (0.01, 0.3, 1.0, 2.7, 9.0, 40.0, 1e3):
        for dfn in (1, 2):
            for dfd in (1, 3, 6, 15, 60):
                expected = stats.f.sf(f_value, dfn, dfd)
                assert f_distribution_sf(f_value, dfn, dfd) == pytest.approx(expected, rel=1e-9, abs=1e-300)
    assert f_distribution_sf(0.0, 1, 5) == 1.0
    assert f_distribution_sf(float("inf"), 1, 5) == 0.0
