"""Presentation rules of the window (no Qt): LSI bands, landing asymmetry, metric rows."""
from __future__ import annotations

from station.gui import format as F


def test_lsi_bands_follow_the_clinical_reading() -> None:
    assert F.lsi_band(95.0) == "green" and F.lsi_band(90.0) == "green"
    assert F.lsi_band(89.9) == "amber" and F.lsi_band(80.0) == "amber"
    assert F.lsi_band(79.9) == "red"
    assert F.lsi_band(None) == "none"
    assert F.lsi_band(86.0, pass_pct=85.0, amber_pct=75.0) == "green"  # a protocol's own pass mark


def test_lsi_text_uses_the_pass_mark_stored_with_the_result() -> None:
    st = F.symmetry_text({"kind": "lsi", "value_pct": 84.27, "passed": False, "parameters": {"pass_pct": 90.0}})
    assert st.band == "amber" and "LSI 84.3 %" in st.text and "pass mark 90 %" in st.text


def test_landing_shows_signed_asymmetry_without_a_band() -> None:
    st = F.symmetry_text({"kind": "asymmetry", "value_pct": -21.5, "direction": "left higher"})
    assert st.band == "neutral" and "-21.5 %" in st.text and "no pass mark" in st.text


def test_dual_landing_rows_have_a_column_per_side_and_body_weights() -> None:
    results = {"left": {"peak_force_n": 1373.0, "time_to_peak_s": 0.05}, "right": {"peak_force_n": 1030.0}}
    headers, rows = F.trial_metric_rows("landing", results, 70.0)
    assert headers == ["metric", "Left", "Right"]
    bw = dict((r[0], r[1:]) for r in rows)["Peak force (× BW)"]
    assert bw == [f"{1373.0 / (70 * 9.80665):.2f}", f"{1030.0 / (70 * 9.80665):.2f}"]


def test_isometric_rows_show_rfd_windows() -> None:
    headers, rows = F.trial_metric_rows("isometric", {"peak_force_n": 231.4, "rfd_n_per_s": {"0-200": 812.0}}, 70.0)
    d = {r[0]: r[1] for r in rows}
    assert d["Peak force"] == "231.4 N" and d["RFD 0–200 ms"] == "812 N/s" and d["RFD 0–50 ms"] == "—"


def test_a_step_of_both_sides_shows_each_sides_peak() -> None:
    assert F.step_label("both", 1, None, "complete", "001", {"left": 228.4, "right": 187.6}) == "L+R rep 1   ✓ L 228 / R 188 N"
    assert F.step_label("left", 2, 3, "complete", "004", 231.2) == "L rep 2 (attempt 3)   ✓ 231 N"


def test_no_verdict_says_why_as_stored() -> None:
    st = F.symmetry_text({"kind": "none", "note": "incomplete: the test was stopped before its end; no verdict"})
    assert st.band == "none" and st.text == "Incomplete: the test was stopped before its end; no verdict"
    assert F.symmetry_text({}).text == "No symmetry: both sides need a valid rep"
