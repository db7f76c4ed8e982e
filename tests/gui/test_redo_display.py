"""R at the ready prompt records the previous step again at once (the engine sends no new
"ready" for it): the window must show that step — its side in the title, its row highlighted —
not the step it was waiting for (found trying the window on Xvfb: it said "Right · rep 1"
while the left rep was being redone)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from protocols import get_protocol  # noqa: E402
from station.gui import bridge as B  # noqa: E402
from station.gui.theme import THEMES, apply_theme, side_colour  # noqa: E402
from station.gui.window import MainWindow  # noqa: E402
from station.session.runner import replace_timing  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.integration]


@pytest.fixture(autouse=True)
def _no_modal_question_at_teardown(monkeypatch) -> None:
    """A failing test leaves its session running: closing the window must not wait on a question."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)


def test_a_redo_shows_the_step_being_redone(qtbot, tmp_path: Path) -> None:
    p = replace_timing(get_protocol("hip-abduction-hhd"), duration_s=2.0)
    protocol = dataclasses.replace(p, reps=1, acceptance=dataclasses.replace(p.acceptance, min_reps=1))
    apply_theme(QApplication.instance(), THEMES["light"])
    w = MainWindow(protocols={protocol.id: protocol}, sessions_dir=tmp_path / "sessions", simulate=True, fast=True)
    qtbot.addWidget(w)
    w.show()
    w.start_session(B.SessionConfig(protocols=[protocol], patient=B.Patient("P-REDO", 70.0, involved_side="right"),
                                    device_args=B.simulated_device_args([protocol]), out_dir=tmp_path / "sessions",
                                    countdown_s=0.3, rest_s=0.3))
    qtbot.waitUntil(lambda: w.phase == "ready", timeout=30_000)
    assert (w.awaiting.side, w.awaiting.rep) == ("left", 1)
    qtbot.keyClick(w, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: w.phase == "ready" and w.awaiting.side == "right", timeout=30_000)
    page = w.session_page
    assert page.step_title.text().startswith("Right")
    qtbot.keyClick(w, Qt.Key.Key_R)  # redo the left rep just recorded: it records again now
    qtbot.waitUntil(lambda: w.phase in ("countdown", "recording"), timeout=10_000)
    assert page.step_title.text() == "Left · rep 1 · attempt 2"
    assert side_colour("left") in page.step_title.styleSheet()
    current = page.steps.currentItem()
    assert current.data(Qt.ItemDataRole.UserRole)["side"] == "left" and current.text().endswith("◀ now")
    now = [page.steps.item(i).text() for i in range(page.steps.count()) if page.steps.item(i).text().endswith("◀ now")]
    assert len(now) == 1, now  # the right rep it was waiting for is no longer marked "now"
    assert "Left" in page.plot.legend.items[0][1].text  # the trace is labelled (and coloured) left
    w.bridge.send("abort")
    qtbot.waitUntil(lambda: w.phase == "closed", timeout=30_000)
