"""LSI, asymmetry index, EPIC-style baseline comparison and the rep summary."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from station.analysis import (
    ALGORITHM_VERSION,
    asymmetry_index,
    limb_symmetry_index,
    relative_to_baseline,
    summarize_reps,
)

positive = st.floats(min_value=1.0, max_value=5000.0, allow_nan=False, allow_infinity=False)


def test_lsi_value_and_pass_mark():
    r = limb_symmetry_index(180.0, 200.0)
    assert r.value_pct == pytest.approx(90.0) and r.passed is True and r.pass_pct == 90.0
    r = limb_symmetry_index(179.0, 200.0)
    assert r.value_pct == pytest.approx(89.5) and r.passed is False
    r = limb_symmetry_index(179.0, 200.0, pass_pct=85.0)
    assert r.passed is True and r.to_dict()["parameters"]["pass_pct"] == 85.0
    assert r.kind == "lsi" and r.algorithm_version == ALGORITHM_VERSION


def test_lsi_can_exceed_100():
    assert limb_symmetry_index(220.0, 200.0).value_pct == pytest.approx(110.0)


@pytest.mark.parametrize("inv, uninv", [(100.0, 0.0), (100.0, -5.0), (None, 100.0), (float("nan"), 100.0), (-1.0, 100.0)])
def test_lsi_unavailable_with_reason(inv, uninv):
    r = limb_symmetry_index(inv, uninv)
    assert r.value_pct is None and r.passed is None and r.notes
    json.dumps(r.to_dict(), allow_nan=False)


def test_asymmetry_direction_and_sign():
    r = asymmetry_index(left=200.0, right=250.0)
    assert r.value_pct == pytest.approx(20.0) and r.direction == "right stronger"
    r = asymmetry_index(left=250.0, right=200.0)
    assert r.value_pct == pytest.approx(-20.0) and r.direction == "left stronger" and r.abs_pct == pytest.approx(20.0)
    assert asymmetry_index(300.0, 300.0).direction == "equal"
    assert asymmetry_index(1.0, 2.0, label="higher").direction == "right higher"
    assert asymmetry_index(0.0, 0.0).value_pct is None


def test_relative_to_baseline_catches_bilateral_weakening():
    # both legs lost strength: LSI looks fine, the involved leg vs its pre-injury value does not
    pre_uninvolved, now_involved, now_uninvolved = 2000.0, 1500.0, 1600.0
    lsi = limb_symmetry_index(now_involved, now_uninvolved)
    epic = relative_to_baseline(now_involved, pre_uninvolved)
    assert lsi.passed is True and lsi.value_pct == pytest.approx(93.75)
    assert epic.passed is False and epic.value_pct == pytest.approx(75.0)
    assert epic.kind == "relative_to_baseline" and epic.baseline_label == "uninvolved pre-injury"
    assert relative_to_baseline(1.0, 2.0, baseline_label="involved first session").to_dict()["parameters"][
        "baseline_label"] == "involved first session"


@given(positive, positive)
def test_lsi_reciprocal_property(a, b):
    ab, ba = limb_symmetry_index(a, b).value_pct, limb_symmetry_index(b, a).value_pct
    assert ab * ba == pytest.approx(1e4, rel=1e-9)
    assert limb_symmetry_index(a, b).passed == (a / b * 100.0 >= 90.0)


@given(positive, positive)
def test_asymmetry_is_antisymmetric_and_bounded(left, right):
    lr, rl = asymmetry_index(left, right), asymmetry_index(right, left)
    assert lr.value_pct == pytest.approx(-rl.value_pct, abs=1e-12)
    assert -100.0 < lr.value_pct < 100.0
    if lr.value_pct > 0:
        assert lr.direction == "right stronger" and rl.direction == "left stronger"
    # scale-free
    assert asymmetry_index(3 * left, 3 * right).value_pct == pytest.approx(lr.value_pct, abs=1e-9)


# ----------------------------------------------------------------------------------- reps
def test_rep_summary_statistics_and_flag():
    peaks = [300.0, 280.0, 265.0]
    s = summarize_reps(peaks)
    assert s.best == 300.0 and s.best_index == 0 and s.mean == pytest.approx(np.mean(peaks))
    assert s.sd == pytest.approx(np.std(peaks, ddof=1))
    assert s.cv_pct == pytest.approx(np.std(peaks, ddof=1) / np.mean(peaks) * 100.0)
    assert s.threshold == pytest.approx(270.0)
    assert s.flagged == (2,) and s.needs_another is True  # 265 is 11.7 % below the best
    assert summarize_reps(peaks, drop_pct=15.0).flagged == ()
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    assert d["parameters"]["drop_pct"] == 10.0 and d["algorithm_version"] == ALGORITHM_VERSION


def test_rep_exactly_at_the_limit_is_not_flagged():
    assert summarize_reps([200.0, 180.0]).flagged == ()


def test_rep_summary_with_invalid_and_single_reps():
    s = summarize_reps([250.0, None, float("nan")])
    assert s.n_valid == 1 and s.invalid == (1, 2) and s.flagged == (1, 2) and s.needs_another
    assert s.cv_pct is None and any("2 valid" in n for n in s.notes)
    empty = summarize_reps([])
    assert empty.best is None and empty.needs_another


@given(st.lists(positive, min_size=2, max_size=8), st.floats(min_value=0.01, max_value=100.0))
def test_rep_summary_properties(peaks, scale):
    s = summarize_reps(peaks)
    assert s.best == max(peaks)
    for i, p in enumerate(peaks):
        assert (i in s.flagged) == (p < max(peaks) * 0.9)
    scaled = summarize_reps([p * scale for p in peaks])
    assert scaled.cv_pct == pytest.approx(s.cv_pct, rel=1e-6, abs=1e-9)
    assert math.isfinite(s.cv_pct) and s.cv_pct >= 0
