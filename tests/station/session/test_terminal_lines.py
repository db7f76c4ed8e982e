"""Terminal lines: the prompt while a device is disconnected (ui_bridge), the per-trial line (terminal)."""
from __future__ import annotations

import io
import os
import threading
import time
from types import SimpleNamespace

from station.session import events as ev
from station.session.ui_bridge import ask_paused


def test_paused_prompt_ends_by_itself_when_the_device_is_back() -> None:
    """The reconnect is shown live: the prompt returns "wait" and says the device is back as
    soon as the engine sees it, with no key pressed (before, nothing showed until Enter)."""
    r, w = os.pipe()
    inp = os.fdopen(r, "r")
    out = io.StringIO()
    ui = SimpleNamespace(interactive=True, inp=inp, out=out)
    engine = SimpleNamespace(disconnected={"dynamometer"})
    event = ev.Paused(0.0, "01_hip", ("dynamometer",), "left", 1, "dynamometer disconnected")
    answer: list[str] = []
    t = threading.Thread(target=lambda: answer.append(ask_paused(ui, event, engine)))  # type: ignore[arg-type]
    t.start()
    time.sleep(0.5)
    assert t.is_alive() and not answer  # still waiting: the device is gone
    engine.disconnected.discard("dynamometer")  # the reader reconnected
    t.join(5)
    try:
        assert answer == ["wait"]
        assert "dynamometer reconnected" in out.getvalue()
    finally:
        os.close(w)
        inp.close()


def test_paused_prompt_still_takes_a_key() -> None:
    r, w = os.pipe()
    inp = os.fdopen(r, "r")
    ui = SimpleNamespace(interactive=True, inp=inp, out=io.StringIO())
    engine = SimpleNamespace(disconnected={"plate_left"})
    event = ev.Paused(0.0, "01_land", ("plate_left",), "left", 1, "plate_left disconnected")
    os.write(w, b"s\n")
    try:
        assert ask_paused(ui, event, engine) == "skip"  # type: ignore[arg-type]
    finally:
        os.close(w)
        inp.close()


def test_terminal_flags_a_trial_whose_analysis_is_not_valid() -> None:
    """A landing on plates without calibration (forces NaN) showed "LR1  complete  peak —" with
    no flag; inspect called it invalid. The terminal now says so, with the first reason."""
    from station.session.model import TrialOutcome
    from station.session.terminal import TerminalUI

    out = io.StringIO()
    ui = TerminalUI(interactive=False, out=out)
    results = {"status": "invalid", "notes": ["trace contains 6594 non-finite sample(s)"],
               "left": {"peak_force_n": None}, "right": {"peak_force_n": None}}
    ui.trial_done(TrialOutcome(test="01_land", trial="001", side="both", rep=1, attempt=1, status="complete",
                               peak_force_n=None, results=results, flags=[]))
    assert "⚠ analysis invalid, not counted: trace contains 6594 non-finite sample(s)" in out.getvalue()
    out.seek(0)
    out.truncate()
    ui.trial_done(TrialOutcome(test="01_hip", trial="002", side="left", rep=1, attempt=1, status="complete",
                               peak_force_n=None, results={"status": "no_rise"}, flags=["no rise"]))
    assert out.getvalue().count("no rise") == 1  # said once, not twice
