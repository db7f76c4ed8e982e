"""Takes the screenshots of the calibration page on the current display (Xvfb is fine).

    DISPLAY=:99 .venv/bin/python docs/screenshots/take_calibration.py [--out docs/screenshots] [--theme light]

Opens the window with the simulated devices, goes to the calibration page from the left
plate's Verify button, calibrates channel 1 (loads placed by the simulator, Enter pressed
at each step), saves, and takes ``calibration-fit.png`` (the fit and its residuals); then
verifies the channel with 20 kg and takes ``calibration-verify.png`` (PASS and the check).
Nothing is written outside a temporary folder.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from protocols import find_protocols
from station.calibration_workflow import VerificationWorkflow
from station.gui.theme import THEMES, apply_theme
from station.gui.window import MainWindow


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--theme", default="light", choices=sorted(THEMES))
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    apply_theme(app, THEMES[args.theme])
    tmp = tempfile.TemporaryDirectory()
    w = MainWindow(protocols=find_protocols(), sessions_dir=Path(tmp.name), simulate=True, fast=True, theme=args.theme)
    w.resize(1600, 1000)
    w.show()
    suffix = "" if args.theme == "light" else f"-{args.theme}"
    sp = w.start_page
    sp.select_protocols(["drop-landing-bilateral"])
    sp.device_rows["plate_left"].verify.click()
    page = w.calibration_page
    page.calibrate_mode.setChecked(True)
    page.channel.setValue(1)
    page.operator.setText("A. Physio")
    page.window_s.setValue(0.5)
    page.start()
    state = {"phase": "calibrate", "t": time.monotonic(), "live_shot": False}

    def shot(name: str) -> None:
        w.grab().save(str(args.out / f"{name}{suffix}.png"))
        print("saved", name, flush=True)

    def tick() -> None:
        wf = page.workflow
        if time.monotonic() - state["t"] > 120:
            print("timed out", file=sys.stderr)
            app.exit(1)
            return
        if wf is None:
            return
        if state["phase"] == "calibrate":
            if wf.state == "ready":
                step = wf.step
                if step is not None and step.index == 6 and not state["live_shot"]:
                    state["live_shot"] = True  # the 20 kg unloading step, live reading steady
                    QTimer.singleShot(1500, lambda: (shot("calibration-live"), page.take()))
                    return
                if not (step is not None and step.index == 6):
                    page.take()
            elif wf.state == "finished":
                if wf.saved is None and page.save_button.isEnabled():
                    page.save()
                elif page.saved_paths:
                    shot("calibration-fit")
                    state["phase"] = "verify"
                    page.verify_mode.setChecked(True)
                    page.plate.setChecked(False)
                    page.check_load.setValue(20.0)
                    page.start()
        elif state["phase"] == "verify" and wf.state == "ready" and isinstance(wf, VerificationWorkflow):
            page.take()
        elif state["phase"] == "verify" and page.verdict.text() in ("PASS", "FAIL") and page.saved_paths \
                and wf.state == "finished":
            shot("calibration-verify")
            app.exit(0)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(200)
    code = app.exec()
    page.shutdown()
    tmp.cleanup()
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
