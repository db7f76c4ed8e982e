"""The calibration wizard page, offscreen: from the start page's Verify button, calibrate a
channel of the simulated plate with keys and clicks (one step redone), save, then verify it
with a known load. What the page shows (steps, fit, residuals, PASS) is checked against the
record written to the calibration store."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import QPoint, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from calibration import CalibrationStore  # noqa: E402
from protocols import get_protocol  # noqa: E402
from simulation.sfp import default_cells  # noqa: E402
from station.gui.calibration_page import CalibrationPage, table_rows  # noqa: E402
from station.gui.theme import THEMES, apply_theme  # noqa: E402
from station.gui.window import MainWindow  # noqa: E402

pytestmark = [pytest.mark.gui]

LANDING = "drop-landing-bilateral"
SERIAL = "PL-L"
CHANNEL = 1


def wait_for(qtbot, predicate, timeout_s: float = 30.0) -> None:
    qtbot.waitUntil(predicate, timeout=int(timeout_s * 1000))


def key(qtbot, page: CalibrationPage, k: Qt.Key) -> None:
    """Press ``k`` with the keyboard focus inside the page (its keys are page shortcuts)."""
    page.window().activateWindow()
    page.steps.setFocus()
    wait_for(qtbot, lambda: QApplication.focusWidget() is page.steps, 5)
    qtbot.keyClick(page.steps, k)


def ready(page: CalibrationPage) -> bool:
    return page.workflow is not None and page.workflow.state == "ready" and page.take_button.isEnabled()


def test_calibrate_then_verify_a_plate_channel_through_the_page(qtbot, tmp_path: Path) -> None:
    app = QApplication.instance()
    apply_theme(app, THEMES["light"])
    w = MainWindow(protocols={LANDING: get_protocol(LANDING)}, sessions_dir=tmp_path / "sessions", simulate=True,
                   fast=True)
    qtbot.addWidget(w)
    w.show()
    sp = w.start_page
    sp.select_protocols([LANDING])
    row = sp.device_rows["plate_left"]
    assert row.verify.isEnabled()
    qtbot.mouseClick(row.verify, Qt.MouseButton.LeftButton)
    page = w.calibration_page
    assert w.stack.currentWidget() is page
    assert page.verify_mode.isChecked() and page.plate.isChecked()
    assert page.device_uri.currentText() == sp.device_uris()["plate_left"]

    # -- calibrate channel 1 -------------------------------------------------------------
    qtbot.mouseClick(page.calibrate_mode, Qt.MouseButton.LeftButton)
    assert page.calibrate_mode.isChecked() and page.title.text() == "Calibration"
    page.channel.setValue(CHANNEL)
    page.loads.setText("0,5,10,20,40")
    page.window_s.setValue(0.3)
    page.operator.setText("A. Physio")
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: ready(page))
    assert page.steps.count() == 9
    assert "Remove all load" in page.prompt.text()
    redone = False
    while page.workflow is not None and page.workflow.state != "finished":
        wait_for(qtbot, lambda: ready(page) or page.workflow.state in ("finished", "failed"))
        if page.workflow.state != "ready":
            break
        step = page.workflow.step
        assert step is not None
        assert page.steps.currentRow() == step.index - 1  # the current step is highlighted
        if step.index == 5 and not redone:
            assert page.redo_button.isEnabled()
            key(qtbot, page, Qt.Key.Key_R)  # redo step 4 (20 kg)
            redone = True
            assert page.workflow.step is not None and page.workflow.step.index == 4
            assert "✓" not in page.steps.item(3).text()
            continue
        key(qtbot, page, Qt.Key.Key_Return)
        wait_for(qtbot, lambda: page.workflow.state != "reading")
        # the live reading is in newtons once zero and the first load gave the sensitivity
        wait_for(qtbot, lambda: page.reading.text().endswith(" N") or page.workflow.points_done < 2
                 or page.workflow.state != "ready", 5)
        if page.workflow.state == "ready" and page.workflow.points_done >= 2:  # and whether it is steady
            wait_for(qtbot, lambda: page.stability.text() in ("● steady", "● settling"), 5)
    assert redone
    assert page.workflow.state == "finished", page.status.text()
    assert all("✓" in page.steps.item(i).text() for i in range(9))
    fit = dict(table_rows(page.fit_table))
    points = table_rows(page.points_table)
    assert page.verdict.text() == "Fitted — not saved yet"
    store_dir = page.store.directory if page.store else None
    assert store_dir is not None
    before = CalibrationStore(store_dir).load(SERIAL, CHANNEL)  # the simulator's factory sheet
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: bool(page.saved_paths))
    assert page.verdict.text() == "Saved ✓"
    record = CalibrationStore(store_dir).load(SERIAL, CHANNEL)
    assert record is not None and record.operator == "A. Physio"
    assert before is None or record.record_id != before.record_id
    assert page.saved_paths == [store_dir / f"{SERIAL}_ch{CHANNEL}.json"]
    # what the page showed is what was written
    assert fit["model"] == record.model
    assert fit["gain"] == f"{record.gain_n_per_count:.6g} N/count"
    assert fit["zero (offset)"] == f"{record.offset_counts:.6g} counts"
    assert record.figures is not None and fit["residual RMS"] == f"{record.figures.residual_rms_n:.4f} N"
    assert float(fit["r²"]) > 0.99999
    assert [[f"{p.load_n:.2f}", p.direction, f"{p.residual_n:+.4f}"] for p in record.points] == points
    # and it recovers the simulated load cell
    cell = default_cells(4)[CHANNEL]
    assert record.gain_n_per_count == pytest.approx(1.0 / cell.gain_counts_per_n, rel=5e-3)

    # -- verify it with 20 kg ------------------------------------------------------------
    qtbot.mouseClick(page.verify_mode, Qt.MouseButton.LeftButton)
    assert page.plate.isVisible() and not page.loads.isVisible()
    qtbot.mouseClick(page.plate, Qt.MouseButton.LeftButton, pos=QPoint(8, page.plate.height() // 2))  # one channel
    assert not page.plate.isChecked() and page.channel.isEnabled()
    page.check_load.setValue(20.0)
    key(qtbot, page, Qt.Key.Key_Return)  # Enter starts
    wait_for(qtbot, lambda: ready(page))
    assert page.title.text() == "Verification" and page.steps.count() == 2
    for _ in range(2):
        wait_for(qtbot, lambda: ready(page))
        key(qtbot, page, Qt.Key.Key_Return)
        wait_for(qtbot, lambda: page.workflow.state != "reading")
    wait_for(qtbot, lambda: page.verdict.text() in ("PASS", "FAIL") and bool(page.saved_paths))
    assert page.verdict.text() == "PASS"
    shown = table_rows(page.points_table)
    checked = CalibrationStore(store_dir).load(SERIAL, CHANNEL)
    assert checked is not None and checked.record_id == record.record_id
    v = checked.verifications[-1]
    assert v.passed
    assert shown == [["check load", f"{v.reference_n:.2f}", f"{v.measured_n:.2f}",
                      f"{v.measured_n - v.reference_n:+.2f}", f"±{v.tolerance_n:.2f}", "PASS"]]

    # -- Esc goes back to the start page, whose keys work again -----------------------------
    key(qtbot, page, Qt.Key.Key_Escape)
    assert w.stack.currentWidget() is sp
    assert page.device is None  # closed


def test_verification_of_a_newton_device_survives_an_unplug(qtbot, tmp_path: Path) -> None:
    """The dynamometer (reports newtons, no record yet: its factory calibration is checked);
    its cable is pulled during the check load's reading: the page says so in red, says when
    it is back, reads the step again and passes."""
    page = CalibrationPage(THEMES["light"], devices={"dynamometer": "sim:mark10?rate=500"},
                           calibration_dir_for=lambda uri: tmp_path / "cal")
    qtbot.addWidget(page)
    page.show()
    page.open_for("sim:mark10?rate=500", verify=True)
    page.window_s.setValue(0.3)
    page.check_load.setValue(10.0)
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    wait_for(qtbot, lambda: ready(page))
    assert "reports newtons and has no record yet" in page.headings.text()
    key(qtbot, page, Qt.Key.Key_Return)  # zero
    wait_for(qtbot, lambda: ready(page) and page.workflow.step is not None and page.workflow.step.index == 2)
    sim = page.device.simulator
    key(qtbot, page, Qt.Key.Key_Return)  # the check load …
    sim.unplug()  # … and the cable is pulled
    wait_for(qtbot, lambda: "disconnected; waiting for it to come back" in page.status.text())
    assert page.take_button.text() == "Waiting for the device…" and not page.take_button.isEnabled()
    sim.replug()
    wait_for(qtbot, lambda: page.verdict.text() in ("PASS", "FAIL") and bool(page.saved_paths))
    assert any(line.endswith("back; reading again") for line in page.log_lines)
    assert page.verdict.text() == "PASS"
    record = CalibrationStore(tmp_path / "cal").load("SIM-M10-0001", 0)
    assert record is not None and record.source == "factory" and record.verifications[-1].passed
    assert table_rows(page.points_table)[0][2] == f"{record.verifications[-1].measured_n:.2f}"
    page.shutdown()
