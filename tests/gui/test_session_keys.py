"""The session keys the whole-session test does not press, checked against the session file:
T zeroes the devices on demand, S skips the step, 1 then 0 rates pain 10, and Esc aborts after
its confirmation (Yes) with the file closed as aborted."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import h5py
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from protocols import get_protocol  # noqa: E402
from station.gui import bridge as B  # noqa: E402
from station.gui.theme import THEMES, apply_theme  # noqa: E402
from station.gui.window import MainWindow  # noqa: E402
from station.session.runner import replace_timing  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.integration]
HIP = "hip-abduction-hhd"


@pytest.fixture(autouse=True)
def _no_modal_question_at_teardown(monkeypatch) -> None:
    """A failing test leaves its session running: closing the window must not wait on a question."""
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)


def test_zero_skip_pain_ten_and_abort_from_the_keyboard(qtbot, tmp_path: Path) -> None:
    p = replace_timing(get_protocol(HIP), duration_s=2.0)
    protocol = dataclasses.replace(p, reps=2, acceptance=dataclasses.replace(p.acceptance, min_reps=1))
    apply_theme(QApplication.instance(), THEMES["light"])
    w = MainWindow(protocols={protocol.id: protocol}, sessions_dir=tmp_path / "sessions", simulate=True, fast=True)
    qtbot.addWidget(w)
    w.show()
    w.start_session(B.SessionConfig(protocols=[protocol], patient=B.Patient("P-KEYS", 70.0, involved_side="right"),
                                    device_args=B.simulated_device_args([protocol]), out_dir=tmp_path / "sessions",
                                    countdown_s=0.3, rest_s=0.3, ask_pain=True))
    qtbot.waitUntil(lambda: w.phase == "ready", timeout=30_000)
    test = w.awaiting.test
    first = w.awaiting
    assert w.session_page.panels.isHidden()  # no result yet: the live trace has the room
    qtbot.keyClick(w, Qt.Key.Key_T)  # zero now
    qtbot.waitUntil(lambda: any(n.startswith("zeroed on demand") for n in w.notes.get(test, [])), timeout=15_000)
    qtbot.waitUntil(lambda: w.phase == "ready" and w.awaiting is not first, timeout=15_000)
    assert (w.awaiting.side, w.awaiting.rep) == ("left", 1)  # the same step, asked again
    qtbot.keyClick(w, Qt.Key.Key_S)  # skip it
    qtbot.waitUntil(lambda: w.phase == "ready" and w.awaiting.side == "right", timeout=15_000)
    skipped = [w.session_page.steps.item(i).text() for i in range(w.session_page.steps.count())]
    assert any("L rep 1" in t and "skipped" in t for t in skipped), skipped
    qtbot.keyClick(w, Qt.Key.Key_Space)  # record R1
    qtbot.waitUntil(lambda: w.phase == "pain", timeout=30_000)
    qtbot.keyClick(w, Qt.Key.Key_1)
    qtbot.keyClick(w, Qt.Key.Key_0)  # "1" then "0": pain 10, not 1
    assert w.pains[test] == [("right", 10)]
    qtbot.waitUntil(lambda: w.phase == "ready", timeout=30_000)
    assert not w.session_page.panels.isHidden()  # the right rep's result below the trace
    assert w.session_page.panels.currentWidget() is w.session_page.trial_panel

    answered: list[str] = []

    def confirm() -> None:
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox) and "Abort the session?" in box.text()
        answered.append(box.text())
        box.button(QMessageBox.StandardButton.Yes).click()

    QTimer.singleShot(100, confirm)
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    assert answered  # it asked first
    qtbot.waitUntil(lambda: w.phase == "closed", timeout=30_000)
    e = w.closed_event
    assert e.status == "aborted" and w.stack.currentWidget() is w.summary_page
    with h5py.File(e.path, "r") as f:
        assert f.attrs["status"] == "aborted"
        trials = f[f"tests/{test}/trials"]
        by_status = {trials[n].attrs["status"]: n for n in trials}
        assert set(by_status) >= {"skipped", "complete"}
        assert (trials[by_status["skipped"]].attrs["side"], int(trials[by_status["skipped"]].attrs["rep"])) == ("left", 1)
        done = trials[by_status["complete"]]
        assert done.attrs["side"] == "right" and int(done.attrs["pain_0_10"]) == 10
        tare = json.loads(f[f"tests/{test}"].attrs["tare_on_demand"])
        assert len(tare) == 1 and tare[0]["before_trial"] == "001"
