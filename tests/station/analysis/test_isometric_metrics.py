"""Isometric metrics against curves with closed-form answers, noise, low rates and odd traces."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from analysis_synthetic import exp_impulse, exp_rfd, exp_rise, hill

from station.analysis import ALGORITHM_VERSION, IsometricParams, analyze_isometric

RAW = IsometricParams(rfd_filter_hz=None)  # unfiltered: exact comparison with closed forms
WINDOWS = {"0-50": 0.05, "0-100": 0.10, "0-150": 0.15, "0-200": 0.20}


# ---------------------------------------------------------------------- analytic exponential
@pytest.mark.parametrize("rate_hz", [1000.0, 2000.0, 1234.0])
def test_exponential_rise_rfd_and_impulse_match_closed_form(rate_hz):
    A, tau, t0, B = 500.0, 0.05, 1.0, 50.0
    r = analyze_isometric(exp_rise(rate_hz, 4.0, t0, B, A, tau), rate_hz, RAW)
    assert r.status == "ok"
    assert r.baseline_n == pytest.approx(B, abs=1e-9)
    # onset: first sample after t0 above the threshold (the curve is exactly B at t <= t0)
    first_after = math.floor(t0 * rate_hz + 1e-9) + 1
    assert r.onset_s == pytest.approx(first_after / rate_hz, abs=1e-12)
    delay = r.onset_s - t0
    for key, x in WINDOWS.items():
        assert r.rfd_n_per_s[key] == pytest.approx(exp_rfd(A, tau, delay, x), rel=2e-4)
        assert r.impulse_n_s[key] == pytest.approx(exp_impulse(A, tau, delay, x), rel=1e-3)
    # steepest 20 ms (rounded to whole samples) is the first 20 ms of an exponential
    assert r.peak_rfd_n_per_s == pytest.approx(exp_rfd(A, tau, delay, round(0.02 * rate_hz) / rate_hz), rel=2e-4)
    assert r.peak_force_n == pytest.approx(A, rel=1e-9)
    assert r.peak_force_abs_n == pytest.approx(A + B, rel=1e-9)


def test_manual_onset_at_true_onset_gives_exact_textbook_values():
    A, tau, t0 = 800.0, 0.03, 1.0
    r = analyze_isometric(exp_rise(1000.0, 4.0, t0, 0.0, A, tau), 1000.0, IsometricParams(onset_s=t0, rfd_filter_hz=None))
    assert r.onset_method == "manual" and r.onset_s == t0
    assert r.parameters.onset_s == t0
    for key, x in WINDOWS.items():
        assert r.rfd_n_per_s[key] == pytest.approx(A * -math.expm1(-x / tau) / x, rel=1e-9)
        assert r.impulse_n_s[key] == pytest.approx(A * (x + tau * math.expm1(-x / tau)), rel=1e-3)


def test_fractional_manual_onset_interpolates():
    A, tau, t0 = 400.0, 0.04, 1.0
    x = exp_rise(1000.0, 3.0, t0, 0.0, A, tau)
    onset = t0 + 0.0105  # between samples
    r = analyze_isometric(x, 1000.0, IsometricParams(onset_s=onset, rfd_filter_hz=None))
    assert r.rfd_n_per_s["0-100"] == pytest.approx(exp_rfd(A, tau, 0.0105, 0.1), rel=1e-3)
    assert r.impulse_n_s["0-100"] == pytest.approx(exp_impulse(A, tau, 0.0105, 0.1), rel=1e-3)


def test_hill_peak_time_to_peak_and_best_second():
    T, t0, A, B = 1.0, 1.5, 300.0, 20.0
    r = analyze_isometric(hill(1000.0, 5.0, t0, T, B, A), 1000.0, RAW)
    assert r.peak_s == pytest.approx(t0 + T, abs=1e-9)
    assert r.peak_force_n == pytest.approx(A, rel=1e-9)
    # sin^2 starts with zero slope: onset when A (pi u / 2T)^2 exceeds the 3 * 0.1 N SD floor
    expected_delay = 2 * T / math.pi * math.sqrt(0.3 / A)
    assert 0 <= r.onset_s - t0 - expected_delay <= 0.0011
    assert r.time_to_peak_s == pytest.approx(r.peak_s - r.onset_s, abs=1e-12)
    w = 1.0  # mean of A sin^2 over the best 1 s, centred on the peak
    expected = A * (0.5 + T / (math.pi * w) * math.sin(math.pi * w / (2 * T)))
    assert r.mean_best_1s_n == pytest.approx(expected, rel=1e-4)
    assert r.mean_best_1s_abs_n == pytest.approx(expected + B, rel=1e-4)


def test_torque_and_normalisation():
    r = analyze_isometric(hill(), 1000.0, RAW, body_mass_kg=75.0, lever_arm_m=0.35)
    assert r.peak_torque_nm == pytest.approx(r.peak_force_n * 0.35)
    assert r.peak_force_n_per_kg == pytest.approx(r.peak_force_n / 75.0)
    assert r.peak_torque_nm_per_kg == pytest.approx(r.peak_force_n * 0.35 / 75.0)
    plain = analyze_isometric(hill(), 1000.0, RAW)
    assert plain.peak_torque_nm is None and plain.peak_force_n_per_kg is None


def test_invalid_subject_data_is_ignored_with_a_note():
    r = analyze_isometric(hill(), 1000.0, RAW, body_mass_kg=-3.0, lever_arm_m=float("nan"))
    assert r.status == "ok" and r.peak_torque_nm is None and r.peak_force_n_per_kg is None
    assert any("body_mass_kg" in n for n in r.notes) and any("lever_arm_m" in n for n in r.notes)


# ----------------------------------------------------------------------------------- noise
@pytest.mark.parametrize("slope, sigma", [(2000.0, 2.0), (500.0, 1.0)])
def test_onset_delay_on_noisy_ramp_is_about_k_sigma_over_slope(slope, sigma):
    rate, t0 = 1000.0, 2.0
    t = np.arange(4000) / rate
    delays = {}
    for k in (3.0, 8.0):
        d = []
        for seed in range(40):
            x = np.clip((t - t0) * slope, 0, 600) + np.random.default_rng(seed).normal(0, sigma, t.size)
            r = analyze_isometric(x, rate, IsometricParams(onset_k=k, rfd_filter_hz=None))
            assert r.status == "ok"
            d.append(r.onset_s - t0)
        delays[k] = float(np.mean(d))
        expected = k * sigma / slope
        # the sampled onset is up to one sample late; noise adds a bias below sigma/slope
        assert expected - 0.5 * sigma / slope <= delays[k] <= expected + sigma / slope + 1 / rate
    # the delay grows with k at sigma/slope per unit of k
    assert (delays[8.0] - delays[3.0]) / 5.0 == pytest.approx(sigma / slope, rel=0.15)


def test_fixed_newton_threshold():
    t = np.arange(3000) / 1000.0
    x = 100.0 + np.clip((t - 1.0) * 1000.0, 0, 500)  # 1 N per sample
    r = analyze_isometric(x, 1000.0, IsometricParams(onset_threshold_n=20.5, rfd_filter_hz=None))
    assert r.onset_method == "threshold_n"
    assert r.onset_threshold_n == pytest.approx(120.5)
    assert r.onset_s == pytest.approx(1.021, abs=1e-9)  # first sample with F - B > 20 N


def test_isolated_spike_before_the_rise_is_not_the_onset():
    x = exp_rise(1000.0, 4.0, 2.0, 10.0, 400.0, 0.05) + np.random.default_rng(3).normal(0, 0.5, 4000)
    x[1200] += 60.0  # a knock on the sensor 0.8 s before the contraction
    r = analyze_isometric(x, 1000.0, RAW)
    assert 2.0 <= r.onset_s <= 2.005


def test_default_filter_is_stored_and_onset_close_to_unfiltered():
    x = exp_rise(1000.0, 4.0, 1.0, 5.0, 500.0, 0.05) + np.random.default_rng(0).normal(0, 1.0, 4000)
    filt = analyze_isometric(x, 1000.0)
    raw = analyze_isometric(x, 1000.0, RAW)
    assert filt.rfd_filter_hz == 50.0 and filt.parameters.filter_order == 4 and raw.rfd_filter_hz is None
    assert filt.filter_hz is None  # peak force unfiltered by default
    assert filt.peak_force_abs_n == pytest.approx(x.max())
    assert abs(filt.onset_s - raw.onset_s) <= 0.01
    assert filt.rfd_n_per_s["0-200"] == pytest.approx(raw.rfd_n_per_s["0-200"], rel=0.05)


def test_whole_trace_filter_lowers_noisy_peak():
    x = hill() + np.random.default_rng(1).normal(0, 5.0, 5000)
    r = analyze_isometric(x, 1000.0, IsometricParams(filter_hz=10.0))
    assert r.filter_hz == 10.0
    assert r.peak_force_abs_n < x.max()
    assert r.peak_force_n == pytest.approx(300.0, rel=0.02)


def test_quantised_noise_free_signal_uses_sd_floor():
    x = np.round(hill(rate_hz=1000.0, baseline_n=100.0, amplitude_n=200.0))  # 1 N steps
    r = analyze_isometric(x, 1000.0, RAW)
    assert r.status == "ok" and r.baseline_sd_n == 0.0
    assert "sd_floor_used" not in r.flags
    assert any("below the floor" in n for n in r.notes)
    assert r.onset_threshold_n > r.baseline_n
    assert 1.5 < r.onset_s < 1.6


# ----------------------------------------------------------------------- pre-tension flags
def test_pretension_creep_before_the_rise_is_flagged():
    t = np.arange(5000) / 1000.0
    x = 50.0 + np.random.default_rng(2).normal(0, 0.5, t.size)
    x += np.clip((t - 1.2) / 0.8, 0, 1) * 10.0  # slow +10 N pre-load from 1.2 s to 2.0 s
    x += np.where(t >= 2.0, 400 * -np.expm1(-(t - 2.0) / 0.05), 0)
    r = analyze_isometric(x, 1000.0, RAW)
    assert r.status == "ok" and "pretension" in r.flags
    assert any("pre-tension" in n for n in r.notes)


def test_pretension_step_before_the_rise_is_flagged():
    t = np.arange(6000) / 1000.0
    x = 50.0 + np.random.default_rng(7).normal(0, 0.5, t.size)
    x += np.where((t >= 1.5) & (t < 3.0), 20.0 * np.clip((t - 1.5) / 0.1, 0, 1), 0)  # hold +20 N
    x += np.where(t >= 3.0, 20.0 + 400 * -np.expm1(-(t - 3.0) / 0.05), 0)
    r = analyze_isometric(x, 1000.0, RAW)
    # either the pre-load is taken as the baseline (onset at the main rise) or it is flagged
    assert ("pretension" in r.flags) or (r.baseline_n == pytest.approx(70.0, abs=1.0) and 3.0 <= r.onset_s <= 3.005)


def test_countermovement_before_onset_is_flagged():
    t = np.arange(5000) / 1000.0
    x = 50.0 + np.random.default_rng(4).normal(0, 0.5, t.size)
    dip = (t >= 1.8) & (t < 2.0)
    x[dip] -= 15.0 * np.sin(np.pi * (t[dip] - 1.8) / 0.2)
    x += np.where(t >= 2.0, 400 * -np.expm1(-(t - 2.0) / 0.05), 0)
    r = analyze_isometric(x, 1000.0, RAW)
    assert "baseline_shift" in r.flags and r.pre_onset_shift_n < 0
    assert any("countermovement" in n for n in r.notes)


def test_clean_trial_is_not_flagged():
    x = exp_rise(1000.0, 4.0, 1.5, 30.0, 500.0, 0.05) + np.random.default_rng(5).normal(0, 0.8, 4000)
    r = analyze_isometric(x, 1000.0)
    assert r.flags == ()


def test_baseline_is_taken_next_to_the_rise_after_a_setup_phase():
    t = np.arange(10000) / 1000.0
    x = np.where(t < 3.0, 0.0, 150.0) + np.random.default_rng(6).normal(0, 0.3, t.size)  # set-up: pre-load 150 N
    x += np.where(t >= 8.0, 500 * -np.expm1(-(t - 8.0) / 0.05), 0)
    r = analyze_isometric(x, 1000.0, RAW)
    assert r.baseline_n == pytest.approx(150.0, abs=0.2)
    assert 8.0 <= r.onset_s <= 8.003


# ----------------------------------------------------------------- sample rate and trace end
@pytest.mark.parametrize("rate_hz", [80.0, 250.0, 499.0])
def test_rfd_and_impulse_refused_below_500_hz(rate_hz):
    r = analyze_isometric(exp_rise(rate_hz, 4.0), rate_hz)
    assert r.status == "ok" and r.peak_force_n == pytest.approx(500.0, rel=1e-6)
    assert all(v is None for v in r.rfd_n_per_s.values())
    assert all(v is None for v in r.impulse_n_s.values())
    assert r.peak_rfd_n_per_s is None and r.rfd_filter_hz is None
    assert any("500 Hz" in n for n in r.notes)


def test_downsampled_trace_loses_rfd_but_keeps_peak():
    x = exp_rise(1000.0, 4.0, 1.0, 0.0, 500.0, 0.05)
    full = analyze_isometric(x, 1000.0)
    low = analyze_isometric(x[::12], 1000.0 / 12)  # 83.3 Hz, like an 80 Hz HX711
    assert full.rfd_n_per_s["0-50"] is not None and low.rfd_n_per_s["0-50"] is None
    assert low.peak_force_n == pytest.approx(full.peak_force_n, rel=1e-3)
    assert abs(low.onset_s - full.onset_s) <= 12 / 1000.0 + 1e-9


def test_500_hz_is_enough():
    r = analyze_isometric(exp_rise(500.0, 4.0), 500.0)
    assert all(v is not None for v in r.rfd_n_per_s.values())


def test_trace_ending_inside_a_window_reports_the_reason():
    x = exp_rise(1000.0, 4.0, 1.0, 0.0, 500.0, 0.05)[:1121]  # ends 120 ms after onset
    r = analyze_isometric(x, 1000.0, RAW)
    assert r.rfd_n_per_s["0-50"] is not None and r.rfd_n_per_s["0-100"] is not None
    assert r.rfd_n_per_s["0-150"] is None and r.impulse_n_s["0-200"] is None
    assert any("0-150" in n and "trace ends" in n for n in r.notes)
    assert "peak_at_trace_end" in r.flags


# ------------------------------------------------------------------ robustness (never raise)
@pytest.mark.parametrize(
    "trace, status",
    [
        (np.full(3000, 12.5), "no_rise"),
        (np.random.default_rng(0).normal(100.0, 2.0, 5000), "no_rise"),
        (np.linspace(500.0, 0.0, 2000), "no_rise"),
        (np.zeros(0), "too_short"),
        (np.array([1.0]), "too_short"),
        (np.arange(10.0), "too_short"),
        (500 * -np.expm1(-np.arange(3000) / 50.0), "too_short"),  # rise from the first sample
    ],
    ids=["flat", "noise", "falling", "empty", "one", "ten", "starts-rising"],
)
def test_odd_traces_return_a_status_not_an_exception(trace, status):
    r = analyze_isometric(trace, 1000.0)
    assert r.status == status
    assert r.onset_s is None and r.peak_force_n is None and r.time_to_peak_s is None
    assert all(v is None for v in r.rfd_n_per_s.values())
    assert r.notes
    json.dumps(r.to_dict(), allow_nan=False)


def test_nan_trace_is_invalid():
    x = hill()
    x[100] = np.nan
    r = analyze_isometric(x, 1000.0)
    assert r.status == "invalid" and "non-finite" in r.notes[0]


def test_manual_onset_outside_trace_is_invalid():
    r = analyze_isometric(hill(), 1000.0, IsometricParams(onset_s=99.0))
    assert r.status == "invalid" and "outside" in r.notes[0]


def test_misuse_raises_value_error():
    with pytest.raises(ValueError):
        analyze_isometric(np.zeros((10, 2)), 1000.0)
    with pytest.raises(ValueError):
        analyze_isometric(hill(), 0.0)


def test_short_quiet_period_shortens_the_baseline_window():
    x = exp_rise(1000.0, 2.0, 0.2, 10.0, 300.0, 0.05)  # only 200 ms before the rise
    r = analyze_isometric(x, 1000.0, RAW)
    assert r.status == "ok" and "baseline_window_shortened" in r.flags
    assert r.baseline_window_s[1] <= r.onset_s


# -------------------------------------------------------------------------- result contract
def test_to_dict_is_json_ready_with_version_parameters_and_notes():
    r = analyze_isometric(hill(), 1000.0)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    for key in ("rate_hz", "baseline_n", "onset_s", "peak_force_n", "peak_force_abs_n", "time_to_peak_s",
                "rfd_n_per_s", "peak_rfd_n_per_s", "impulse_n_s", "algorithm_version", "parameters", "notes"):
        assert key in d
    assert set(d["rfd_n_per_s"]) == set(WINDOWS) == set(d["impulse_n_s"])
    assert d["algorithm_version"] == ALGORITHM_VERSION == "1.0.0"
    assert d["parameters"]["onset_k"] == 3.0 and d["parameters"]["rfd_filter_hz"] == 50.0
    assert d["parameters"]["onset_method"] == "sd"


def test_result_is_frozen():
    r = analyze_isometric(hill(), 1000.0)
    with pytest.raises(AttributeError):
        r.peak_force_n = 1.0  # type: ignore[misc]
