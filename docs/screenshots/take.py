"""Takes the README's screenshots of the window on the current display (Xvfb is fine).

    DISPLAY=:99 .venv/bin/python docs/screenshots/take.py [--out docs/screenshots] [--theme light]

Runs a simulated session (hip abduction, then a two-plate drop landing; shortened countdown
and rests) through the window, pressing Space and answering the pain question as a clinician
would, and saves: the start page after the device check, a live two-plate trial, the
per-test results, an after-trial panel, the session summary and the patient's trend page.
For the trend, two earlier hip-abduction sessions of the same patient are written first into
the (temporary) sessions folder, synthetic traces through the real writer and analysis
(``tests/history/history_sessions.py``).
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
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "history"))
    from history_sessions import Spec, write_session

    for i, (date, left, right) in enumerate([("2026-09-01T09:00:00.000+00:00", [150.0, 146.0, 149.0], [224.0, 220.0, 226.0]),
                                             ("2026-10-13T09:00:00.000+00:00", [168.0, 171.0, 165.0], [229.0, 225.0, 231.0])],
                                            start=1):
        write_session(Path(tmp.name) / f"P-042_earlier_{i}.h5", patient_id="P-042", created_utc=date, seed=i,
                      involved="left", body_mass_kg=68.0,
                      tests=[Spec("hip-abduction-hhd", {"left": left, "right": right}, lever_arm_m=0.8,
                                  name="Hip abduction, supine, hand-held dynamometer")])
    w = MainWindow(protocols=find_protocols(), sessions_dir=Path(tmp.name), simulate=True, fast=True, theme=args.theme)
    w.resize(1600, 1000)
    w.show()
    shots: set[str] = set()
    suffix = "" if args.theme == "light" else f"-{args.theme}"

    def shot(name: str) -> None:
        if name not in shots:
            shots.add(name)
            w.grab().save(str(args.out / f"{name}{suffix}.png"))
            print("saved", name, flush=True)

    sp = w.start_page
    sp.patient.setEditText("P-042")
    sp.body_mass.setValue(68.0)
    sp.involved.setCurrentText("left")
    sp.lever_arm.setValue(0.80)
    sp.select_protocols(["hip-abduction-hhd", "drop-landing-bilateral"])
    sp.check.click()
    state: dict = {"t": time.monotonic(), "started": False, "pain": 0}

    def tick() -> None:
        now = time.monotonic()
        if not state["started"]:
            if all(r.status == "ok" for r in sp.device_rows.values()) and now - state["t"] > 4:
                shot("start-page")
                sp.start.click()
                state["started"] = True
            return
        a = w.awaiting
        if w.phase == "ready":
            if a is not None and a.test.endswith("drop-landing-bilateral") and a.rep == 1 \
                    and w.session_page.panels.currentWidget() is w.session_page.test_panel:
                shot("test-results")
            if a is not None and a.test.endswith("hip-abduction-hhd") and a.side == "left" and a.rep == 2:
                shot("after-trial")
            w.key_space()
        elif w.phase == "pain":
            state["pain"] += 1
            if not w._pain_digits:  # noqa: SLF001 - a "1" waits for a possible "0"
                w.key_digit([2, 3, 5, 4][state["pain"] % 4])
        elif w.phase == "recording" and w.test is not None and w.test.protocol.kind == "landing" \
                and w.awaiting is not None and w.awaiting.rep == 2:
            state.setdefault("rec_start", now)
            if now - state["rec_start"] > 3.0:
                shot("live-two-plates")
        elif w.phase == "closed" and "summary" not in shots:
            if state.setdefault("closed_at", now) and now - state["closed_at"] > 3.0:  # the change since last
                shot("summary")
                w.summary_page.history_button.click()
        elif "summary" in shots and w.patient_page.views:
            state.setdefault("trend_at", now)
            if now - state["trend_at"] > 1.5:
                shot("patient-trend")
                timer.stop()
                app.quit()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(100)
    app.exec()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
