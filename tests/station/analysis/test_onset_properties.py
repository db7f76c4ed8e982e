"""Property tests of onset detection and the filter helper."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_synthetic import exp_rise
from hypothesis import given, settings
from hypothesis import strategies as st

from station.analysis import IsometricParams, analyze_isometric, lowpass
from station.analysis.onset import last_crossing, quietest_window


def _trial(seed: int, amplitude: float, tau: float, noise: float) -> np.ndarray:
    x = exp_rise(1000.0, 3.0, 1.2, 0.0, amplitude, tau)
    return x + np.random.default_rng(seed).normal(0.0, noise, x.size)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), exponent=st.integers(-1, 10), amplitude=st.floats(100.0, 2000.0),
       tau=st.floats(0.02, 0.2), filtered=st.booleans())
def test_onset_is_invariant_under_force_scaling(seed, exponent, amplitude, tau, filtered):
    """Scaling the force by 2**k (exact in floating point) leaves the onset unchanged and scales
    forces, RFD and impulse by the same factor, as long as the baseline SD stays above the
    absolute 0.1 N floor (the noise here keeps it well above, also after the 50 Hz filter)."""
    x = _trial(seed, amplitude, tau, noise=4.0)
    params = IsometricParams() if filtered else IsometricParams(rfd_filter_hz=None)
    c = 2.0 ** exponent
    a = analyze_isometric(x, 1000.0, params)
    b = analyze_isometric(x * c, 1000.0, params)
    assert a.status == b.status == "ok"
    assert a.onset_s == b.onset_s
    assert b.peak_force_n == pytest.approx(c * a.peak_force_n, rel=1e-9)
    for key, v in a.rfd_n_per_s.items():
        assert b.rfd_n_per_s[key] == pytest.approx(c * v, rel=1e-9)
        assert b.impulse_n_s[key] == pytest.approx(c * a.impulse_n_s[key], rel=1e-9, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.3, 30.0), offset=st.floats(-500.0, 2000.0))
def test_onset_nearly_invariant_under_any_scale_and_offset(seed, scale, offset):
    x = _trial(seed, 600.0, 0.05, noise=1.5)
    a = analyze_isometric(x, 1000.0)
    b = analyze_isometric(x * scale + offset, 1000.0)
    assert abs(a.onset_s - b.onset_s) <= 0.0015  # rounding may move a borderline sample


@given(st.lists(st.floats(-1e3, 1e3), min_size=20, max_size=200), st.integers(2, 20))
def test_quietest_window_matches_brute_force(values, width):
    x = np.asarray(values)
    w = quietest_window(x, width)
    sds = [np.std(x[i:i + width], ddof=1) for i in range(x.size - width + 1)]
    assert w.sd == pytest.approx(min(sds), abs=1e-6 * (1 + np.abs(x).max()))


@given(st.lists(st.floats(-10.0, 10.0), min_size=3, max_size=100), st.floats(-5.0, 5.0))
def test_last_crossing_definition(values, threshold):
    x = np.asarray(values)
    peak = int(np.argmax(x))
    i = last_crossing(x, threshold, peak)
    if i is None:
        assert x[peak] <= threshold or np.all(x[:peak] > threshold)
    else:
        assert x[i - 1] <= threshold and np.all(x[i:peak + 1] > threshold)


def test_lowpass_is_zero_lag_and_keeps_dc():
    t = np.arange(4000) / 1000.0
    slow = 100.0 + 50.0 * np.sin(2 * np.pi * 2.0 * t)
    fast = 10.0 * np.sin(2 * np.pi * 200.0 * t)
    y = lowpass(slow + fast, 1000.0, 50.0)
    inner = slice(500, 3500)
    assert np.max(np.abs(y[inner] - slow[inner])) < 0.05  # 200 Hz removed, 2 Hz untouched, no lag
    assert y.mean() == pytest.approx(slow.mean(), rel=1e-4)


@pytest.mark.parametrize("cutoff", [0.0, -1.0, 500.0, 600.0])
def test_lowpass_rejects_bad_cutoff(cutoff):
    with pytest.raises(ValueError):
        lowpass(np.zeros(100), 1000.0, cutoff)


def test_filter_above_nyquist_in_analysis_is_a_note_not_an_error():
    r = analyze_isometric(exp_rise(1000.0), 1000.0, IsometricParams(filter_hz=700.0))
    assert r.status == "ok" and r.filter_hz is None
    assert any("filter not applied" in n for n in r.notes)
