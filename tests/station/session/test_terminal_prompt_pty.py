"""A prompt on a real pty: keys typed during a trial are dropped, but an answer typed the
moment the prompt shows is kept (the typeahead is flushed before the prompt, not after)."""
from __future__ import annotations

import io
import os
import threading

import pytest

from station.session.model import TrialOutcome
from station.session.terminal import TerminalUI

termios = pytest.importorskip("termios")


class TypesOnPrompt(io.StringIO):
    """The terminal's output; whenever a prompt (ending in "> ") is shown, the operator's
    answer is typed at once on the pty (an instant typist, or a foot pedal)."""

    def __init__(self, master: int, answer: bytes) -> None:
        super().__init__()
        self.master, self.answer = master, answer

    def write(self, text: str) -> int:
        n = super().write(text)
        if text.endswith("> "):
            os.write(self.master, self.answer)
        return n

    def isatty(self) -> bool:
        return False


def ask_with_timeout(fn, timeout_s: float = 5.0):
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    t.join(timeout_s)
    assert out, "the prompt never got the answer typed as it appeared"
    return out[0]


def test_an_answer_typed_as_the_prompt_shows_is_kept_and_earlier_keys_dropped() -> None:
    master, slave = os.openpty()
    try:
        inp = os.fdopen(slave, "r", encoding="utf-8", closefd=False)
        ui = TerminalUI(interactive=True, out=TypesOnPrompt(master, b"3\n"), inp=inp)
        ui.trial_done(TrialOutcome("01_hip", "001", "left", 1, 1, "complete", 230.0))
        os.write(master, b"9\n")  # typed during the trial: nobody asked
        assert ask_with_timeout(lambda: ui.ask_pain("left")) == 3
        ui.trial_done(TrialOutcome("01_hip", "002", "right", 1, 1, "complete", 190.0))
        ui.out = TypesOnPrompt(master, b"s\n")
        os.write(master, b"q\n")  # an early q during the trial must not end the session
        assert ask_with_timeout(lambda: ui.before_trial(None, "left", 2, 2, "")) == "skip"  # type: ignore[arg-type]
    finally:
        os.close(master)
        os.close(slave)
