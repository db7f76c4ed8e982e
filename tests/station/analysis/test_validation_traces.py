"""Plausibility on real recordings (../shared/validation, see its README.md).

No expected numbers are copied from our own output: the checks are physical (onset before the
peak, body weight near the stated ~665 N, flight ~0.49 s, ...) or internal consistency.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from analysis_synthetic import VALIDATION_DIR

from station.analysis import (
    IsometricParams,
    LandingParams,
    analyze_dual_landing,
    analyze_isometric,
    analyze_landing,
)

RATE = 1000.0
ISO = VALIDATION_DIR / "isometric"
LAND = VALIDATION_DIR / "landing"

pytestmark = pytest.mark.skipif(not VALIDATION_DIR.is_dir(), reason=f"validation traces not found at {VALIDATION_DIR}")


def _imtp(name: str) -> np.ndarray:
    data = np.genfromtxt(ISO / f"{name}.csv", delimiter=",", names=True)
    assert np.median(np.diff(data["Time"])) == pytest.approx(1 / RATE)
    return np.asarray(data["Fz"], dtype=np.float64)


def _single() -> np.ndarray:
    return np.loadtxt(LAND / "single-drop-jump.txt")


def _dual() -> np.ndarray:
    return np.loadtxt(LAND / "dual-drop-jump.txt", skiprows=1)


IMTP = ["imtp-example1", "imtp-example2", "imtp-example3"]


@pytest.mark.parametrize("name", IMTP)
def test_imtp_metrics_are_plausible(name):
    fz = _imtp(name)
    r = analyze_isometric(fz, RATE)
    assert r.status == "ok"
    n_s = fz.size / RATE
    assert 0 < r.onset_s < r.peak_s < n_s
    # baseline is the standing weight (not zero) and matches the level just before onset
    onset = round(r.onset_s * RATE)
    assert r.baseline_n > 300.0
    assert r.baseline_window_s[1] <= r.onset_s
    assert abs(r.baseline_n - np.median(fz[onset - 1000:onset])) < 0.05 * r.peak_force_n
    # unfiltered peak force is the recorded maximum
    assert r.peak_force_abs_n == pytest.approx(fz.max())
    assert r.peak_force_n == pytest.approx(fz.max() - r.baseline_n)
    assert r.peak_force_n > 20 * r.baseline_sd_n
    assert r.mean_best_1s_n <= r.peak_force_n
    # the steepest part of the pull comes shortly after onset
    assert r.onset_s < r.peak_rfd_s < r.onset_s + 0.5
    assert all(v > 0 for v in r.rfd_n_per_s.values())
    impulses = list(r.impulse_n_s.values())
    assert all(b > a > 0 for a, b in zip(impulses, impulses[1:], strict=False))
    assert r.peak_rfd_n_per_s >= max(r.rfd_n_per_s.values())
    json.dumps(r.to_dict(), allow_nan=False)


@pytest.mark.parametrize("name", IMTP)
def test_imtp_results_are_stable_across_settings(name):
    fz = _imtp(name)
    default = analyze_isometric(fz, RATE)
    raw = analyze_isometric(fz, RATE, IsometricParams(rfd_filter_hz=None))
    strict = analyze_isometric(fz, RATE, IsometricParams(onset_k=5.0))
    assert abs(default.onset_s - raw.onset_s) < 0.02
    assert 0 <= strict.onset_s - default.onset_s < 0.02  # a higher threshold can only delay it
    assert default.peak_force_n == pytest.approx(raw.peak_force_n, rel=0.01)


@pytest.mark.parametrize("name", ["imtp-example1", "imtp-example3"])
def test_imtp_unsteady_or_pretensioned_starts_are_flagged(name):
    """README: example 1 has an unsteady quiet period, example 3 a pre-tension set-up."""
    r = analyze_isometric(_imtp(name), RATE)
    assert {"baseline_shift", "pretension"} & set(r.flags)


def test_imtp_example3_onset_is_the_pull_not_the_setup():
    fz = _imtp("imtp-example3")
    r = analyze_isometric(fz, RATE)
    # the force at onset is far below half of the peak, and the force is above half of the
    # peak level within 0.5 s: the onset belongs to the main pull
    half = r.baseline_n + 0.5 * r.peak_force_n
    onset = round(r.onset_s * RATE)
    assert fz[onset] < half
    assert np.any(fz[onset:onset + 500] > half)


def test_downsampled_imtp_refuses_rfd():
    fz = _imtp("imtp-example2")[::12]  # ~83 Hz
    r = analyze_isometric(fz, RATE / 12)
    assert r.status == "ok" and r.rfd_n_per_s["0-50"] is None and r.peak_force_n > 0


# -------------------------------------------------------------------------------- landing
@pytest.mark.parametrize("contact", ["first", "last"])
def test_single_plate_drop_jump(contact):
    f = _single()
    r = analyze_landing(f, RATE, LandingParams(contact=contact))
    assert r.status == "ok"
    assert r.body_weight_n == pytest.approx(665.0, rel=0.03)
    assert r.n_contacts == 2
    assert r.flight_time_s == pytest.approx(0.49, abs=0.03)
    (c1, e1), (c2, e2) = r.contacts_s
    assert e1 - c1 == pytest.approx(0.25, abs=0.05)
    assert e2 is None  # quiet standing to the end
    assert r.contact_s == (c1 if contact == "first" else c2)
    assert r.contact_s < r.peak_s < (e1 if contact == "first" else f.size / RATE)
    assert 1.5 < r.peak_force_bw < 10.0
    assert 0 < r.time_to_peak_s < 0.2
    assert r.peak_loading_rate_n_per_s >= r.loading_rate_n_per_s > 0
    assert r.impulse_100ms_n_s > 0
    if contact == "first":
        assert r.tts_s is None  # takes off again
    else:
        assert 0 < r.tts_s < f.size / RATE - r.contact_s - 1.0


def test_dual_plate_drop_jump():
    d = _dual()
    res = analyze_dual_landing(d[:, 0], d[:, 1], RATE)
    t, left, right = res.total, res.left, res.right
    assert t.status == left.status == right.status == "ok"
    assert t.body_weight_n == pytest.approx(665.0, rel=0.03)
    assert left.plate_load_n + right.plate_load_n == pytest.approx(t.body_weight_n, rel=1e-9)
    assert left.body_weight_n == right.body_weight_n == t.body_weight_n
    assert t.flight_time_s == pytest.approx(0.49, abs=0.03)
    for side in (left, right):
        assert abs(side.contact_s - t.contact_s) < 0.05
        assert side.peak_force_n < t.peak_force_n
        assert side.peak_force_bw == pytest.approx(side.peak_force_n / t.body_weight_n)
    asym = res.asymmetry_peak_force
    assert np.sign(asym.value_pct) == np.sign(right.peak_force_n - left.peak_force_n)
    assert abs(asym.value_pct) < 50.0
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert set(out["asymmetry_pct"]) == {"peak_force", "impulse_100ms"}


def test_given_body_weight_on_real_landing():
    r = analyze_landing(_single(), RATE, body_weight_n=700.0)
    assert r.body_weight_source == "given" and r.peak_force_bw == pytest.approx(r.peak_force_n / 700.0)
    assert r.plate_load_n == pytest.approx(665.0, rel=0.03)
