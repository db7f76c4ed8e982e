"""A whole simulated session driven through the window with keys and clicks (offscreen):
hip abduction, then a two-plate drop landing. What the widgets show is checked against the
session file; a plate unplugged mid-trial raises the disconnect warning; a stalled GUI thread
loses no sample and no file write."""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from protocols import get_protocol  # noqa: E402
from station.gui import bridge as B  # noqa: E402
from station.gui.pages import header_texts, table_texts  # noqa: E402
from station.gui.theme import THEMES, apply_theme, band_colour  # noqa: E402
from station.gui.window import MainWindow  # noqa: E402
from station.session.runner import replace_timing  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.integration]

HIP, LANDING = "hip-abduction-hhd", "drop-landing-bilateral"


def quick(protocol_id: str, reps: int = 2, duration_s: float = 2.5):
    p = replace_timing(get_protocol(protocol_id), duration_s=duration_s)
    return dataclasses.replace(p, reps=reps, acceptance=dataclasses.replace(p.acceptance, min_reps=1))


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "—" if v is None else f"{v:{spec}}"


def wait_for(qtbot, predicate, timeout_s: float = 30.0) -> None:
    qtbot.waitUntil(predicate, timeout=int(timeout_s * 1000))


def make_window(qtbot, tmp_path: Path, protocols) -> MainWindow:
    app = QApplication.instance()
    apply_theme(app, THEMES["light"])
    w = MainWindow(protocols={p.id: p for p in protocols}, sessions_dir=tmp_path / "sessions", simulate=True,
                   fast=True)
    qtbot.addWidget(w)
    w.show()
    return w


def press(qtbot, w: MainWindow, key: Qt.Key) -> None:
    qtbot.keyClick(w, key)


def test_hip_abduction_then_two_plate_landing_through_keys_and_clicks(qtbot, tmp_path: Path) -> None:
    w = make_window(qtbot, tmp_path, [quick(HIP), quick(LANDING)])
    sp = w.start_page
    # the start page: patient, protocols (in order), devices follow from the protocols
    qtbot.keyClicks(sp.patient.lineEdit(), "P-GUI-1")
    sp.body_mass.setValue(70.0)
    sp.involved.setCurrentText("left")
    sp.select_protocols([HIP, LANDING])
    assert set(sp.device_rows) == {"dynamometer", "plate_left", "plate_right"}
    # connect & check: status lights turn green with a live reading
    qtbot.mouseClick(sp.check, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: all(r.status == "ok" for r in sp.device_rows.values()))
    wait_for(qtbot, lambda: sp.device_rows["plate_left"].reading.text().endswith(" N"))
    assert "calibration" in sp.device_rows["plate_left"].calibration.text()
    qtbot.mouseClick(sp.start, Qt.MouseButton.LeftButton)
    assert w.stack.currentWidget() is w.session_page

    steps = w.session_page.steps
    pains: list[int] = []
    redone = False
    unplugged = False
    saw_disconnect = False
    saw_countdown = False
    deadline = time.monotonic() + 240
    while w.phase != "closed":
        assert time.monotonic() < deadline, f"stuck in phase {w.phase}"
        if w.phase == "ready":
            a = w.awaiting
            current = steps.currentItem().data(Qt.ItemDataRole.UserRole)
            assert (current["side"], current["rep"]) == (a.side, a.rep)  # the step list highlights this step
            last = w.last_outcome
            if a.test.endswith(HIP) and last is not None and (last.side, last.rep) == ("right", 1) and not redone:
                press(qtbot, w, Qt.Key.Key_R)  # redo the right rep just recorded
                redone = True
                wait_for(qtbot, lambda a=a: w.phase != "ready" or w.awaiting is not a)
                continue
            if a.test.endswith(LANDING) and not unplugged:
                press(qtbot, w, Qt.Key.Key_Space)
                wait_for(qtbot, lambda: w.phase == "recording")
                unplugged = True
                w.bridge.devices["plate_right"].simulator.unplug()
                wait_for(qtbot, lambda: any("plate_right DISCONNECTED" in t for t in w.warning_texts()), 10)
                saw_disconnect = True
                assert w.banner.isVisible() and "DISCONNECTED" in w.banner.text()
                w.bridge.devices["plate_right"].simulator.replug()
                wait_for(qtbot, lambda: any("plate_right reconnected" in t for t in w.warning_texts()), 15)
                continue
            # the accept button on the after-trial panel (a click), else the Space key
            if w.session_page.panels.currentWidget() is w.session_page.trial_panel and len(pains) % 2:
                qtbot.mouseClick(w.session_page.trial_panel.accept_button, Qt.MouseButton.LeftButton)
            else:
                press(qtbot, w, Qt.Key.Key_Space)
            wait_for(qtbot, lambda: w.phase != "ready" or w.closed_event is not None, 10)
        elif w.phase == "pain":
            value = len(pains) % 4 + 2
            pains.append(value)
            qtbot.keyClick(w, getattr(Qt.Key, f"Key_{value}"))
            wait_for(qtbot, lambda: w.phase != "pain", 5)
        elif w.phase == "countdown":
            saw_countdown = True
            qtbot.wait(20)
        else:
            qtbot.wait(20)
    assert saw_countdown and redone and saw_disconnect
    e = w.closed_event
    assert e.status == "complete", e.error
    assert w.stack.currentWidget() is w.summary_page

    with h5py.File(e.path, "r") as f:
        tests = {k: f["tests"][k] for k in f["tests"]}
        hip_key = next(k for k in tests if k.endswith(HIP))
        landing_key = next(k for k in tests if k.endswith(LANDING))
        # the step list: every trial in the file, with its side, rep and status
        for key, g in tests.items():
            in_file = [(t, g["trials"][t].attrs["side"], int(g["trials"][t].attrs["rep"]),
                        g["trials"][t].attrs["status"]) for t in g["trials"]]
            shown = [(s["trial"], s["side"], s["rep"], s["status"]) for s in steps.steps(key) if s["trial"]]
            assert sorted(shown) == sorted(in_file)
            for t in g["trials"]:  # visual feedback is stored with each recorded trial
                if g["trials"][t].attrs["status"] != "skipped":
                    assert g["trials"][t].attrs["visual_feedback"] in (False, np.False_)
        hip_trials = tests[hip_key]["trials"]
        assert "rejected" in [hip_trials[t].attrs["status"] for t in hip_trials]  # the redo
        pain_in_file = [int(hip_trials[t].attrs["pain_0_10"]) for t in hip_trials if "pain_0_10" in hip_trials[t].attrs]
        assert pain_in_file and pain_in_file == pains[: len(pain_in_file)]
        landing_trials = tests[landing_key]["trials"]
        assert "interrupted" in [landing_trials[t].attrs["status"] for t in landing_trials]  # the unplug
        summaries = {k: json.loads(g.attrs["summary"]) for k, g in tests.items()}

    # results tables and LSI on the summary page match the file
    clinical = {"best (N·m)": ("torque_nm", ".1f"), "best (N/kg)": ("force_n_per_kg", ".2f"),
                "best (N·m/kg)": ("torque_nm_per_kg", ".2f"), "best (× BW)": ("force_bw", ".2f")}
    for key, s in summaries.items():
        rows = table_texts(w.summary_page.tables[key])
        headers = header_texts(w.summary_page.tables[key])
        assert headers[:5] == ["side", "reps", "best (N)", "mean (N)", "CV (%)"]
        assert headers[5:] == (["best (N·m)", "best (N/kg)", "best (N·m/kg)"] if key.endswith(HIP) else ["best (× BW)"])
        for row in rows:
            side = row[0].lower()
            fs = s["sides"][side]
            assert row[1:5] == [str(fs["reps"]), fmt(fs["best_n"]), fmt(fs["mean_n"]), fmt(fs["cv_pct"])]
            for header, cell in zip(headers[5:], row[5:], strict=True):  # the best rep in clinical units
                name, spec = clinical[header]
                assert cell == fmt(fs["clinical"].get(name), spec), (header, cell, fs["clinical"])
        assert {r[0].lower() for r in rows} == set(s["sides"])
    hip = summaries[hip_key]["symmetry"]
    label = w.summary_page.symmetry[hip_key]
    assert hip["kind"] == "lsi" and f"LSI {hip['value_pct']:.1f} %" in label.text()
    expected_band = "green" if hip["value_pct"] >= 90 else "amber" if hip["value_pct"] >= 80 else "red"
    assert label.band == expected_band and band_colour(expected_band) in label.styleSheet()
    assert hip["value_pct"] < 90  # the simulated involved (left) side is weaker
    landing = summaries[landing_key]["symmetry"]
    llabel = w.summary_page.symmetry[landing_key]
    assert f"{landing['value_pct']:+.1f} %" in llabel.text() and llabel.band == "neutral"
    assert "no pass mark" in llabel.text()
    assert w.summary_page.pain[hip_key].text().startswith("Pain: L") or "R" in w.summary_page.pain[hip_key].text()
    # the summary's Report button writes the PDF next to the session file (on a worker thread)
    qtbot.mouseClick(w.summary_page.report_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: w.summary_page.export_note.isVisible(), 60)
    assert w.summary_page.export_note.text().startswith("Written: "), w.summary_page.export_note.text()
    assert e.path.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"


def test_a_stalled_gui_loses_no_sample_and_no_file_write(qtbot, tmp_path: Path) -> None:
    """The GUI thread is blocked through a whole two-plate trial (and a modal dialog stays open
    over the next one): the session thread never waits on the GUI, so every sample the plates
    sent (they number them) reaches the file."""
    protocol = quick(LANDING, reps=2, duration_s=3.0)
    w = make_window(qtbot, tmp_path, [protocol])
    rate = 1000
    config = B.SessionConfig(protocols=[protocol], patient=B.Patient("P-STALL", 70.0, involved_side="right"),
                             device_args=[B.DeviceArg(("plate_left",), f"sim:sfp?channels=4&serial=PL-L&rate={rate}"),
                                          B.DeviceArg(("plate_right",), f"sim:sfp?channels=4&serial=PL-R&rate={rate}")],
                             out_dir=tmp_path / "sessions", countdown_s=0.5, rest_s=0.5)
    w.start_session(config)
    wait_for(qtbot, lambda: w.phase == "ready")
    press(qtbot, w, Qt.Key.Key_P)  # the patient view (visual feedback) for the first trial only
    assert w.patient_view.isVisible()
    press(qtbot, w, Qt.Key.Key_Space)
    time.sleep(5.0)  # a frozen GUI thread for countdown + trial + tail + rest: no event, timer or repaint
    wait_for(qtbot, lambda: w.phase == "ready")
    w.patient_view_action.setChecked(False)
    assert not w.patient_view.isVisible()

    def answer_no_later() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        qtbot.wait(4500)  # the abort confirmation stays open while the next trial records
        box.button(QMessageBox.StandardButton.No).click()

    from PySide6.QtCore import QTimer

    press(qtbot, w, Qt.Key.Key_Space)
    QTimer.singleShot(50, answer_no_later)
    press(qtbot, w, Qt.Key.Key_Escape)
    wait_for(qtbot, lambda: w.phase == "closed", 60)
    assert w.closed_event.status == "complete"
    plot_t, _ = w.session_page.plot.window_data(0)
    with h5py.File(w.closed_event.path, "r") as f:
        trials = f[f"tests/01_{LANDING}/trials"]
        assert len(trials) == 2
        assert [bool(trials[n].attrs["visual_feedback"]) for n in trials] == [True, False]
        for name in trials:
            assert trials[name].attrs["status"] == "complete"
            for plate in ("plate_left", "plate_right"):
                t_dev = trials[name][f"{plate}/t_device_s"][:]
                # the plate's own clock: one sample every 1/rate s, none missing
                assert t_dev.size > 3.5 * rate
                assert np.allclose(np.diff(t_dev), 1.0 / rate, atol=1e-6)
        stats = json.loads(f.attrs["device_stats"])
        assert stats["plate_left"]["lost_samples"] == 0 and stats["plate_right"]["lost_samples"] == 0
        assert json.loads(f.attrs["reader_events"]) == []
    # the plot caught up after the stall: its window holds the latest samples without a gap
    assert np.max(np.diff(plot_t)) < 0.05
