"""The window's clinical extras, driven offscreen: a saturation warning shown live and on the
trial result; clinician notes stored in the session file, shown in the summary and dropped by
the de-identified export; the change since the last session and the patient page's trend."""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from protocols import get_protocol  # noqa: E402
from station.gui import bridge as B  # noqa: E402
from station.gui import format as F  # noqa: E402
from station.gui.theme import THEMES, apply_theme  # noqa: E402
from station.gui.window import MainWindow  # noqa: E402
from station.history.trend import DECLINED, IMPROVED, WITHIN, patient_trend  # noqa: E402
from station.index.update import open_store  # noqa: E402
from station.session.runner import replace_timing  # noqa: E402

sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
from history_sessions import Spec, write_session  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.slow]

HIP, LANDING = "hip-abduction-hhd", "drop-landing-bilateral"
VERDICTS = (IMPROVED, WITHIN, DECLINED)


@pytest.fixture(autouse=True)
def _no_modal_question_at_teardown(monkeypatch) -> None:
    """A failing test leaves its session running: closing the window must not wait on a question."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)


def quick(protocol_id: str, reps: int = 1, duration_s: float = 2.5):
    p = replace_timing(get_protocol(protocol_id), duration_s=duration_s)
    return dataclasses.replace(p, reps=reps, acceptance=dataclasses.replace(p.acceptance, min_reps=1))


def wait_for(qtbot, predicate, timeout_s: float = 30.0) -> None:
    qtbot.waitUntil(predicate, timeout=int(timeout_s * 1000))


def make_window(qtbot, tmp_path: Path, protocols, theme: str = "light") -> MainWindow:
    apply_theme(QApplication.instance(), THEMES[theme])
    w = MainWindow(protocols={p.id: p for p in protocols}, sessions_dir=tmp_path / "sessions", simulate=True,
                   fast=True, theme=theme)
    qtbot.addWidget(w)
    w.show()
    return w


def test_saturation_is_shown_live_during_the_trial_and_on_its_result(qtbot, tmp_path: Path) -> None:
    """Plates calibrated only up to 150 N per cell: a drop landing goes beyond that range; the
    window says so while the trial records (engine Saturation event), then on the result."""
    protocol = quick(LANDING, reps=2)
    w = make_window(qtbot, tmp_path, [protocol], theme="dark")
    cal = tmp_path / "cal"
    for serial in ("PL-L", "PL-R"):
        B.write_simulator_calibration(cal, serial, 4, max_load_n=150.0)
    seen: list[object] = []
    w.relay.session_event.connect(seen.append)
    config = B.SessionConfig(protocols=[protocol], patient=B.Patient("P-SAT", 70.0, involved_side="right"),
                             device_args=[B.DeviceArg(("plate_left",), "sim:sfp?channels=4&serial=PL-L&rate=1000"),
                                          B.DeviceArg(("plate_right",), "sim:sfp?channels=4&serial=PL-R&rate=1000")],
                             out_dir=tmp_path / "sessions", countdown_s=0.5, rest_s=0.5, calibration_dir=cal)
    w.start_session(config)
    wait_for(qtbot, lambda: w.phase == "ready")
    assert not w.session_page.saturation.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_Space)
    wait_for(qtbot, lambda: w.session_page.saturation.isVisible(), 30)
    live_phase = w.phase
    strip = w.session_page.saturation.text()
    assert live_phase in ("countdown", "recording")  # shown while the trial records, not after it
    assert "SATURATION" in strip and "beyond its calibrated range of 150 N" in strip
    assert any("SATURATION live" in t for t in w.warning_texts()) and w.banner.isVisible()
    wait_for(qtbot, lambda: w.phase == "ready" and w.last_outcome is not None, 30)
    kinds = [type(e).__name__ for e in seen]
    assert kinds.index("Saturated") < kinds.index("TrialRecorded")
    panel = w.session_page.trial_panel
    assert panel.saturated and panel.flag.isVisible() and panel.flag.text().startswith("⚠ SATURATION")
    assert any(t.startswith("SATURATION in trial") for t in w.warning_texts())
    sat = next(e for e in seen if isinstance(e, B.Saturated))
    assert sat.side in ("left", "right") and sat.value > sat.limit == 150.0
    w.bridge.send("abort")
    wait_for(qtbot, lambda: w.phase == "closed", 30)
    with h5py.File(w.closed_event.path, "r") as f:
        trial = f[f"tests/01_{LANDING}/trials/001"]
        flags = json.loads(trial.attrs["quality_flags"]) if isinstance(trial.attrs["quality_flags"], str) else list(
            trial.attrs["quality_flags"])
        assert trial.attrs["beyond_calibrated_range"]
        assert any("beyond calibrated range" in fl for fl in flags)
        assert f"{sat.device_id} channel {sat.channel}" in " ".join(flags)


def test_notes_change_since_last_session_and_the_patient_page(qtbot, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(tmp_path / "config.toml"))
    sessions = tmp_path / "sessions"
    sessions.mkdir()
    for i, (date, left, right) in enumerate([("2026-09-01T09:00:00.000+00:00", [150.0, 146.0], [100.0, 96.0]),
                                             ("2026-10-01T09:00:00.000+00:00", [152.0, 149.0], [120.0, 118.0])],
                                            start=1):
        write_session(sessions / f"P-HIST_{i}.h5", patient_id="P-HIST", created_utc=date, seed=i, involved="left",
                      tests=[Spec(HIP, {"left": right, "right": left})])
    protocol = quick(HIP, reps=2)
    w = make_window(qtbot, tmp_path, [protocol])
    config = B.SessionConfig(protocols=[protocol], patient=B.Patient("P-HIST", 70.0, involved_side="left"),
                             device_args=B.simulated_device_args([protocol]), out_dir=sessions, countdown_s=0.3,
                             rest_s=0.3, auto=True)
    w.start_session(config)
    wait_for(qtbot, lambda: w.test is not None and w.history_before is not None)
    assert w.history_before is not None and w.history_before.trend is not None  # read before the session
    # a note for this test, typed with the keyboard (N focuses the field, Enter stores it)
    qtbot.keyClick(w, Qt.Key.Key_N)
    assert w.session_page.notes.hasFocus()
    qtbot.keyClicks(w.session_page.notes, "felt a pinch at 30 deg, R")
    qtbot.keyClick(w.session_page.notes, Qt.Key.Key_Return)
    assert not w.session_page.notes.hasFocus() and w.session_page.notes.text() == ""
    w.session_page.note_scope.setCurrentIndex(1)
    w.session_page.notes.setFocus()
    qtbot.keyClicks(w.session_page.notes, "came by bike")
    qtbot.keyClick(w.session_page.notes, Qt.Key.Key_Return)
    assert "felt a pinch" in w.session_page.notes_list.text() and "came by bike" in w.session_page.notes_list.text()
    # the per-test results show this side's change since the last session
    wait_for(qtbot, lambda: w.session_page.test_panel.since_last.text() != "", 90)
    since = w.session_page.test_panel.since_last.text()
    assert since.startswith("Since the last session:") and "Left:" in since and "Right:" in since
    assert "since 2026-10-01" in since and any(v in since for v in VERDICTS)
    wait_for(qtbot, lambda: w.phase == "closed", 90)
    e = w.closed_event
    assert e.status == "complete", e.error
    test = f"01_{HIP}"
    # the notes are in the file (test group, session group), and on the summary
    with h5py.File(e.path, "r") as f:
        assert json.loads(f[f"tests/{test}"].attrs["notes"]) == ["felt a pinch at 30 deg, R"]  # JSON, as lists are
        assert json.loads(f["session"].attrs["notes"]) == ["came by bike"]
    assert w.summary_page.notes[test].text() == "Notes: felt a pinch at 30 deg, R"
    assert "came by bike" in w.summary_page.session_notes.text()
    # the summary: change since the last session, as `station history` computes it from the index
    wait_for(qtbot, lambda: "…" not in w.summary_page.changes[test].text(), 30)
    store = open_store(sessions)
    try:
        trend = patient_trend(store, "P-HIST")
    finally:
        store.close()
    pt = trend.protocol(HIP)
    assert len(pt.sessions) == 3
    expected = [F.change_since_last(pt, s, session_id=w.history_after.session_id) for s in ("left", "right")]
    assert all(x is not None and x.verdict in VERDICTS for x in expected)
    assert w.summary_page.changes[test].text() == "Since the last session: " + "; ".join(x.text for x in expected)
    # the patient page: the trend per side with the MDC band, and the LSI line
    qtbot.mouseClick(w.summary_page.history_button, Qt.MouseButton.LeftButton)
    assert w.stack.currentWidget() is w.patient_page
    wait_for(qtbot, lambda: HIP in w.patient_page.views, 30)
    view = w.patient_page.views[HIP]
    for side in ("left", "right"):
        lo, hi = view.bands[side]
        best = np.array([p.best_n for p in pt.sides[side]])
        mdc = np.array([pt.error.mdc_n(b) for b in best])
        assert np.allclose(lo, best - mdc) and np.allclose(hi, best + mdc)
    assert view.lsi == [s.lsi_pct for s in pt.sessions] and all(v is not None for v in view.lsi)
    assert expected[0].text in view.changes.text() and expected[1].text in view.changes.text()
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert w.stack.currentWidget() is w.summary_page
    # the de-identified export drops the free-text notes, wherever they are stored
    from station.export import export

    out = tmp_path / "export"
    out.mkdir()
    written = export([e.path], {"h5": out / "s.h5", "json": out / "s.json", "csv": out / "s.csv"}, deidentify=True,
                     session_dir=sessions)
    assert written
    for path in written:
        blob = path.read_bytes()
        for secret in (b"pinch at 30", b"came by bike", b"P-HIST"):
            assert secret not in blob, (path, secret)
    with h5py.File(out / "s.h5", "r") as f:
        assert "notes" not in f[f"tests/{test}"].attrs and "notes" not in f["session"].attrs
