"""The protocol's ``metrics`` list decides which metrics the window shows, in its order (issue 9):
the after-trial table, the per-test table and the summary, each checked against the session file."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import pytest

from protocols import get_protocol
from station.gui import format as F
from station.session.runner import replace_timing

HIP, LANDING = "hip-abduction-hhd", "drop-landing-bilateral"


@pytest.fixture(autouse=True)
def _no_modal_question_at_teardown(monkeypatch) -> None:
    """A failing test leaves its session running: closing the window must not wait on a question."""
    try:
        from PySide6.QtWidgets import QMessageBox
    except ImportError:  # the rows are checked without Qt too
        return
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)


# -- the rows, without Qt ----------------------------------------------------------------------
ISO = {"peak_force_n": 231.4, "time_to_peak_s": 0.51, "rfd_n_per_s": {"0-50": 900.0, "0-200": 812.0},
       "impulse_n_s": {"0-50": 4.0, "0-200": 31.0}, "peak_rfd_n_per_s": 2400.0, "mean_best_1s_n": 220.0,
       "peak_torque_nm": 185.1, "peak_force_n_per_kg": 3.31, "peak_torque_nm_per_kg": 2.64}


def labels(rows: list[list[str]]) -> list[str]:
    return [r[0] for r in rows]


def test_isometric_rows_follow_the_protocols_list_and_order() -> None:
    _, rows = F.trial_metric_rows("isometric", ISO, 70.0, ("torque", "peak_force", "time_to_peak"))
    assert labels(rows) == ["Peak torque", "Peak force", "Time to peak"]
    assert rows[0][1] == "185.1 N·m" and rows[1][1] == "231.4 N"
    # the peak force is every trial's headline: first when the list leaves it out
    _, rows = F.trial_metric_rows("isometric", ISO, 70.0, ("normalised", "mean_best_1s"))
    assert labels(rows) == ["Peak force", "Peak force / body mass", "Mean of best 1 s"]  # no N·m/kg: torque unlisted
    _, rows = F.trial_metric_rows("isometric", ISO, 70.0, ("normalised", "torque"))
    assert labels(rows) == ["Peak force", "Peak force / body mass", "Peak torque / body mass", "Peak torque"]
    # the RFD windows are the protocol's own ([analysis] rfd_windows_s), plus any the result has
    _, rows = F.trial_metric_rows("isometric", ISO, 70.0, ("peak_force", "rfd"), {"rfd_windows_s": [0.05, 0.3]})
    assert labels(rows) == ["Peak force", "RFD 0–50 ms", "RFD 0–200 ms", "RFD 0–300 ms"]
    assert [r[1] for r in rows[1:]] == ["900 N/s", "812 N/s", "—"]
    # lsi is the test's, not a trial's: no row
    _, rows = F.trial_metric_rows("isometric", ISO, 70.0, ("peak_force", "lsi"))
    assert labels(rows) == ["Peak force"]


def test_landing_rows_show_each_plate_their_sum_and_the_trials_asymmetry() -> None:
    dual = {"peak_force_n": 2000.0, "peak_force_bw": 2.91, "tts_s": 1.234, "loading_rate_n_per_s": 45000.0,
            "asymmetry_pct": {"peak_force": -12.34}, "asymmetry_direction": {"peak_force": "left higher"},
            "left": {"peak_force_n": 1100.0, "peak_force_bw": 1.6, "tts_s": 1.1},
            "right": {"peak_force_n": 900.0, "peak_force_bw": 1.31, "tts_s": 1.3}}
    headers, rows = F.trial_metric_rows("landing", dual, 70.0, ("tts", "asymmetry", "peak_force"))
    assert headers == ["metric", "Left", "Right", "Both plates"]
    assert rows == [["Time to stabilisation", "1.10 s", "1.30 s", "1.23 s"],
                    ["Asymmetry (peak force)", "", "", "-12.3 % (left higher)"],
                    ["Peak force", "1100 N", "900 N", "2000 N"],
                    ["Peak force (× BW)", "1.60", "1.31", "2.91"]]
    _, rows = F.trial_metric_rows("landing", dual, 70.0, ("peak_force", "loading_rate"))
    assert labels(rows) == ["Peak force", "Peak force (× BW)", "Loading rate"]


def test_a_long_table_is_shown_in_two_halves_and_read_back_whole() -> None:
    pytest.importorskip("PySide6")
    pytest.importorskip("pyqtgraph")
    from station.gui.pages import fold, unfold

    headers, rows = F.trial_metric_rows("isometric", ISO, 70.0, None)
    assert len(rows) > 7
    h2, r2 = fold(headers, rows)
    assert h2 == ["metric", "value", "metric", "value"] and len(r2) == (len(rows) + 1) // 2
    assert unfold(h2, r2) == rows
    assert fold(headers, rows[:7]) == (headers, rows[:7])


def test_summary_columns_follow_the_list() -> None:
    from station.session.model import SideSummary, TestSummary

    def side(name: str, best: float) -> SideSummary:
        return SideSummary(side=name, best_n=best, mean_n=best - 5, cv_pct=2.0, reps=3, flagged=[], valid_reps=3,
                           clinical={"torque_nm": best * 0.8, "force_n_per_kg": best / 70, "torque_nm_per_kg": best * 0.8 / 70})

    s = TestSummary("01_x", HIP, "Hip", "isometric", sides={"left": side("left", 200.0), "right": side("right", 250.0)})
    headers, rows = F.side_summary_rows(s, ("torque", "peak_force"))
    assert headers == ["side", "reps", "best (N)", "mean (N)", "CV (%)", "best (N·m)"]
    assert rows[0] == ["Left", "3", "200.0", "195.0", "2.0", "160.0"]
    headers, _ = F.side_summary_rows(s, ("normalised", "torque"))
    assert headers[5:] == ["best (N/kg)", "best (N·m/kg)", "best (N·m)"]
    headers, _ = F.side_summary_rows(s, ("peak_force",))
    assert headers[5:] == []
    assert not F.shows_symmetry("isometric", ("peak_force", "torque")) and F.shows_symmetry("isometric", ("lsi",))
    assert F.shows_symmetry("landing", ("asymmetry",)) and not F.shows_symmetry("landing", ("tts",))


# -- in the window, against the session file -----------------------------------------------------
@pytest.mark.gui
@pytest.mark.slow
@pytest.mark.integration
def test_the_window_shows_the_protocols_metrics_in_its_order(qtbot, tmp_path: Path) -> None:
    pytest.importorskip("PySide6")
    pytest.importorskip("pyqtgraph")
    from PySide6.QtWidgets import QApplication

    from station.gui import bridge as B
    from station.gui.pages import header_texts, table_texts
    from station.gui.theme import THEMES, apply_theme
    from station.gui.window import MainWindow
    from station.session.model import Patient

    def short(pid: str, metrics: tuple[str, ...], **analysis: object):
        p = replace_timing(get_protocol(pid), duration_s=2.5)
        return dataclasses.replace(p, reps=1, metrics=metrics, analysis={**p.analysis, **analysis},
                                   acceptance=dataclasses.replace(p.acceptance, min_reps=1))

    hip = short(HIP, ("torque", "peak_force", "rfd"), rfd_windows_s=[0.1, 0.25])  # no lsi, no normalised
    landing = short(LANDING, ("tts", "peak_force"))  # no asymmetry
    apply_theme(QApplication.instance(), THEMES["light"])
    w = MainWindow(protocols={p.id: p for p in (hip, landing)}, sessions_dir=tmp_path / "sessions", simulate=True,
                   fast=True)
    qtbot.addWidget(w)
    w.show()
    shown: dict[tuple[str, str], list[list[str]]] = {}  # (test, trial) → the after-trial table
    tests: dict[str, tuple[list[str], list[list[str]], bool]] = {}  # test → per-test table and LSI shown

    def after(e: object) -> None:  # connected after the window's own handler: the panels are filled
        page = w.session_page
        if isinstance(e, B.TrialRecorded) and e.outcome.status not in ("skipped", "rejected"):
            headers, rows = page.trial_panel.metric_rows()
            shown[(e.outcome.test, e.outcome.trial)] = [headers, *rows]
        elif isinstance(e, B.TestDone):
            t = page.test_panel.table
            tests[e.summary.test] = (header_texts(t), table_texts(t), not page.test_panel.symmetry.isHidden())

    w.relay.session_event.connect(after)
    config = B.SessionConfig(
        protocols=[hip, landing], patient=Patient("P-METRICS", 70.0, involved_side="left", lever_arm_m=0.8),
        device_args=[B.DeviceArg(("dynamometer",), "sim:mark10?rate=500"),
                     B.DeviceArg(("plate_left",), "sim:sfp?channels=4&serial=PL-L&rate=1000"),
                     B.DeviceArg(("plate_right",), "sim:sfp?channels=4&serial=PL-R&rate=1000")],
        out_dir=tmp_path / "sessions", countdown_s=0.3, rest_s=0.3, auto=True)
    w.start_session(config)
    qtbot.waitUntil(lambda: w.phase == "closed", timeout=120_000)
    e = w.closed_event
    assert e is not None and e.status == "complete", e

    with h5py.File(e.path, "r") as f:
        hip_key = next(k for k in f["tests"] if k.endswith(HIP))
        landing_key = next(k for k in f["tests"] if k.endswith(LANDING))
        hip_trials = {n: json.loads(g.attrs["results"]) for n, g in f[f"tests/{hip_key}/trials"].items()
                      if g.attrs["status"] == "complete"}
        landing_trials = {n: json.loads(g.attrs["results"]) for n, g in f[f"tests/{landing_key}/trials"].items()
                          if g.attrs["status"] == "complete"}
        summaries = {k: json.loads(f[f"tests/{k}"].attrs["summary"]) for k in (hip_key, landing_key)}
    assert len(hip_trials) == 2 and landing_trials

    for trial, r in hip_trials.items():
        table = shown[(hip_key, trial)]
        assert table[0] == ["metric", "value"]
        rows = {row[0]: row[1] for row in table[1:]}
        assert [row[0] for row in table[1:]] == ["Peak torque", "Peak force", "RFD 0–100 ms", "RFD 0–250 ms"]
        assert rows["Peak torque"] == f"{r['peak_torque_nm']:.1f} N·m"
        assert rows["Peak force"] == f"{r['peak_force_n']:.1f} N"
        assert set(r["rfd_n_per_s"]) == {"0-100", "0-250"}  # the protocol's windows, analysed and shown
        assert rows["RFD 0–250 ms"] == F.fmt(r["rfd_n_per_s"]["0-250"], ".0f", "N/s")
    for trial, r in landing_trials.items():
        table = shown[(landing_key, trial)]
        assert table[0] == ["metric", "Left", "Right", "Both plates"]
        assert [row[0] for row in table[1:]] == ["Time to stabilisation", "Peak force", "Peak force (× BW)"]
        assert table[2][1:] == [f"{r[s]['peak_force_n']:.0f} N" for s in ("left", "right")] + [f"{r['peak_force_n']:.0f} N"]
        assert table[1][3] == F.fmt(r["tts_s"], ".2f", "s")
        assert table[3][3] == F.fmt(r["peak_force_bw"], ".2f")

    # per test, and on the summary: torque listed → best in N·m; normalised, lsi, asymmetry not listed → not shown
    headers, rows, lsi_shown = tests[hip_key]
    assert headers == ["side", "reps", "best (N)", "mean (N)", "CV (%)", "best (N·m)"] and not lsi_shown
    for row in rows:
        side = summaries[hip_key]["sides"][row[0].lower()]
        assert row[2] == f"{side['best_n']:.1f}" and row[5] == f"{side['clinical']['torque_nm']:.1f}"
    headers, rows, lsi_shown = tests[landing_key]
    assert headers[5:] == ["best (× BW)"] and not lsi_shown
    for key in (hip_key, landing_key):
        assert table_texts(w.summary_page.tables[key]) == tests[key][1]
        assert w.summary_page.symmetry[key].isHidden() and w.summary_page.symmetry[key].band == "none"
