"""Landing metrics on synthetic landings with known contact, peak, body weight and settling."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from analysis_synthetic import drop_jump, landing

from station.analysis import ALGORITHM_VERSION, LandingParams, analyze_dual_landing, analyze_landing

RATE = 1000.0


def test_single_landing_known_answers():
    tc, P, rise, decline, BW, over, tau = 1.0, 2000.0, 0.05, 0.1, 700.0, 50.0, 0.1
    x = landing(RATE, 5.0, tc, P, rise, decline, BW, over, tau)
    r = analyze_landing(x, RATE)
    assert r.status == "ok"
    # contact: first sample above max(10 N, 5 SD); the ramp is 40 N per sample, 0 N at tc
    assert r.contact_s == pytest.approx(tc + 1 / RATE, abs=1e-9)
    assert r.contact_threshold_n == pytest.approx(10.0)
    assert r.body_weight_n == pytest.approx(BW, rel=1e-6)
    assert r.body_weight_source == "quiet_after"
    assert r.peak_force_n == pytest.approx(P)
    assert r.peak_s == pytest.approx(tc + rise, abs=1e-9)
    assert r.peak_force_bw == pytest.approx(P / BW, rel=1e-6)
    assert r.time_to_peak_s == pytest.approx(rise - 1 / RATE, abs=1e-9)
    assert r.loading_rate_n_per_s == pytest.approx(P / (rise - 1 / RATE))
    assert r.peak_loading_rate_n_per_s == pytest.approx(P / rise)  # linear ramp: every 10 ms slope
    # impulse of a piecewise-linear curve with knots on samples: trapezoid is exact
    a, b = r.contact_s - tc, r.contact_s - tc + 0.1  # window relative to tc
    f_a = P * a / rise
    f_b = P + (BW + over - P) * (b - rise) / decline
    expected = 0.5 * (f_a + P) * (rise - a) + 0.5 * (P + f_b) * (b - rise)
    assert r.impulse_100ms_n_s == pytest.approx(expected, rel=1e-9)
    assert r.net_impulse_100ms_n_s == pytest.approx(expected - BW * 0.1, rel=1e-6)
    # TTS: BW + 50 e^(-u/tau) enters the +-5 % BW band at u = tau ln(50 / 35)
    t_stable = tc + rise + decline + tau * math.log(over / (0.05 * BW))
    assert r.tts_s == pytest.approx(t_stable - r.contact_s, abs=1.5 / RATE)
    assert r.tts_method == "bw_band_5pct_hold_1s"
    assert r.n_contacts == 1 and r.flight_time_s is None and r.contact_end_s is None


def test_noisy_landing_body_weight_and_contact():
    x = landing(RATE, 5.0, 1.0, 2200.0, noise_n=3.0, seed=4)
    r = analyze_landing(x, RATE)
    assert r.body_weight_n == pytest.approx(700.0, rel=0.005)
    assert r.contact_threshold_n == pytest.approx(15.0, rel=0.25)  # 5 SD of 3 N noise
    assert 1.0 <= r.contact_s <= 1.003
    assert r.peak_force_n == pytest.approx(2200.0, abs=15.0)


def test_given_body_weight_overrides_quiet_standing():
    x = landing(RATE, 5.0, body_weight_n=700.0)
    r = analyze_landing(x, RATE, body_weight_n=735.0)
    assert r.body_weight_n == 735.0 and r.body_weight_source == "given"
    assert r.peak_force_bw == pytest.approx(2000.0 / 735.0)
    assert r.plate_load_n == pytest.approx(700.0, rel=1e-6)  # still measured


def test_drop_jump_first_contact_by_default_and_last_on_request():
    x = drop_jump(RATE, contact_s=1.0, contact_time_s=0.25, flight_s=0.4, peak1_n=2500.0, peak2_n=1800.0)
    first = analyze_landing(x, RATE)
    last = analyze_landing(x, RATE, LandingParams(contact="last"))
    assert first.n_contacts == last.n_contacts == 2
    assert first.analysed_contact == "first" and last.analysed_contact == "last"
    assert first.contact_s == pytest.approx(1.0, abs=0.003)
    assert first.contact_time_s == pytest.approx(0.25, abs=0.005)
    assert first.flight_time_s == pytest.approx(0.4, abs=0.005)
    assert first.peak_force_n == pytest.approx(2500.0, abs=5.0)
    assert first.tts_s is None and any("left the plate" in n for n in first.notes)
    assert last.contact_s == pytest.approx(1.65, abs=0.003)
    assert last.peak_force_n == pytest.approx(1800.0, abs=5.0)
    assert last.tts_s is not None and 0 < last.tts_s < 1.0
    assert first.body_weight_n == pytest.approx(700.0, rel=0.005) == last.body_weight_n


def test_weigh_in_before_the_landing():
    weigh = np.r_[np.full(1500, 690.0), np.zeros(1000)]
    x = np.r_[weigh, landing(RATE, 3.0, 0.5, 2000.0, body_weight_n=690.0)]
    x = x + np.random.default_rng(9).normal(0, 1.0, x.size)
    r = analyze_landing(x, RATE, LandingParams(body_weight_from="before"))
    assert r.body_weight_source == "quiet_before"
    assert r.body_weight_n == pytest.approx(690.0, rel=0.002)
    assert r.contact_s == pytest.approx(3.0, abs=0.003)  # the landing, not the weigh-in
    assert r.n_contacts == 1
    # the same trace read as "after": the loaded start is not taken as a landing either
    r2 = analyze_landing(x, RATE)
    assert r2.contact_s == pytest.approx(3.0, abs=0.003)
    assert any("starts with the plate loaded" in n for n in r2.notes)


def test_plate_offset_raises_the_contact_threshold():
    x = landing(RATE, 5.0) + 25.0  # plate not zeroed: 25 N offset
    r = analyze_landing(x, RATE)
    assert r.unloaded_offset_n == pytest.approx(25.0)
    assert r.contact_threshold_n == pytest.approx(35.0)
    assert 1.0 < r.contact_s < 1.002


@pytest.mark.parametrize(
    "trace, status",
    [(np.zeros(3000), "no_contact"), (np.random.default_rng(0).normal(0, 1, 3000), "no_contact"),
     (np.zeros(10), "too_short"), (np.array([0.0, np.nan, 1.0] * 100), "invalid")],
    ids=["empty-plate", "noise", "short", "nan"],
)
def test_odd_landing_traces_return_status(trace, status):
    r = analyze_landing(trace, RATE)
    assert r.status == status and r.peak_force_n is None and r.notes
    json.dumps(r.to_dict(), allow_nan=False)


def test_hop_off_without_quiet_standing_has_no_body_weight():
    x = landing(RATE, 1.5, 0.5)
    x[1000:] = 0.0  # leaves the plate 0.5 s after contact
    r = analyze_landing(x, RATE)
    assert r.status == "ok" and r.body_weight_n is None and r.peak_force_bw is None and r.tts_s is None
    assert any("body weight" in n for n in r.notes)
    assert analyze_landing(x, RATE, body_weight_n=700.0).peak_force_bw == pytest.approx(2000.0 / 700.0)


def test_trace_ending_before_100_ms():
    x = landing(RATE, 1.05, 1.0)
    r = analyze_landing(x, RATE, body_weight_n=700.0)
    assert r.impulse_100ms_n_s is None and any("100 ms" in n for n in r.notes)


def test_dual_plates_asymmetry_and_total_body_weight():
    total = landing(RATE, 5.0, 1.0, 2000.0, body_weight_n=700.0)
    left, right = 0.45 * total, 0.55 * total
    d = analyze_dual_landing(left, right, RATE)
    assert d.total.body_weight_n == pytest.approx(700.0, rel=1e-6)
    assert d.left.body_weight_n == d.right.body_weight_n == d.total.body_weight_n
    assert d.left.plate_load_n == pytest.approx(0.45 * 700.0, rel=1e-6)
    assert d.left.peak_force_bw == pytest.approx(0.45 * 2000.0 / 700.0, rel=1e-6)
    assert d.right.peak_force_bw == pytest.approx(0.55 * 2000.0 / 700.0, rel=1e-6)
    assert d.asymmetry_peak_force.value_pct == pytest.approx((0.55 - 0.45) / 0.55 * 100.0)
    assert d.asymmetry_peak_force.direction == "right higher"
    assert d.asymmetry_impulse_100ms.value_pct == pytest.approx((0.55 - 0.45) / 0.55 * 100.0, rel=1e-6)
    # plate TTS: band of +-5 % of TOTAL BW around the plate's load; the left plate (0.45 x the
    # total) enters it during the linear decline, when 0.45 * F(t) <= 0.45 * 700 + 35
    f_enter = (0.45 * 700.0 + 35.0) / 0.45
    t_enter = 1.0 + 0.05 + (2000.0 - f_enter) / (2000.0 - 750.0) * 0.1
    assert d.left.tts_s == pytest.approx(t_enter - d.left.contact_s, abs=1.5 / RATE)
    out = json.loads(json.dumps(d.to_dict(), allow_nan=False))
    for key in ("rate_hz", "contact_s", "body_weight_n", "peak_force_n", "peak_force_bw", "time_to_peak_s",
                "loading_rate_n_per_s", "impulse_100ms_n_s", "tts_s", "left", "right", "asymmetry_pct",
                "algorithm_version", "parameters", "notes"):
        assert key in out
    for side in ("left", "right"):
        assert {"contact_s", "peak_force_n", "peak_force_bw", "tts_s", "notes"} <= set(out[side])
    assert out["asymmetry_pct"]["peak_force"] == pytest.approx(18.1818, rel=1e-4)
    assert out["algorithm_version"] == ALGORITHM_VERSION


def test_dual_with_one_plate_never_loaded():
    total = landing(RATE, 5.0)
    d = analyze_dual_landing(total, np.zeros_like(total), RATE)
    assert d.total.status == "ok" and d.left.status == "ok" and d.right.status == "no_contact"
    assert d.asymmetry_peak_force.value_pct is None
    assert any("asymmetry" in n for n in d.notes)


def test_dual_length_mismatch_is_misuse():
    with pytest.raises(ValueError):
        analyze_dual_landing(np.zeros(100), np.zeros(101), RATE)


def test_landing_filter_is_stored():
    r = analyze_landing(landing(RATE, 5.0, noise_n=5.0), RATE, LandingParams(filter_hz=50.0))
    assert r.filter_hz == 50.0 and r.to_dict()["parameters"]["filter_hz"] == 50.0
    bad = analyze_landing(landing(RATE, 5.0), RATE, LandingParams(filter_hz=900.0))
    assert bad.filter_hz is None and any("filter not applied" in n for n in bad.notes)
