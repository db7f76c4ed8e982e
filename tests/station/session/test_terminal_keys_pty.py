"""The operator at a real terminal (a pty): the lever arm is asked at the test's start, keys
typed during a recording are discarded at the next prompt, and Ctrl-C's message gets its own line."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from protocols import ENV_VAR, builtin_protocols

#: an operator at a real terminal: real pty, real time
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


class Terminal:
    def __init__(self, args: list[str]) -> None:
        self.master, slave = os.openpty()
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "station.cli", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, cwd=ROOT, close_fds=True,
                                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        os.close(slave)
        self.text = ""

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.05))
            if ready:
                try:
                    self.text += os.read(self.master, 65536).decode("utf-8", "replace")
                except OSError:
                    return

    def expect(self, pattern: str, timeout: float = 30.0, start: int = 0) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.text[start:])
            if m:
                return start + m.end()
            self.read(0.1)
        raise AssertionError(f"{pattern!r} not seen; output:\n{self.text[-3000:]}")

    def send(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self.master)


@pytest.mark.slow
def test_operator_at_a_terminal(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-user-protocols"))
    text = builtin_protocols()["hip-abduction-hhd"].source_text
    for key, value in (("duration_s", "1.5"), ("reps", "1"), ("min_reps", "1"), ("max_reps", "1")):
        text = re.sub(rf"(?m)^{key} = \d+\b", f"{key} = {value}", text)
    protocol = tmp_path / "hip-short.toml"
    protocol.write_text(text, encoding="utf-8")
    out = tmp_path / "sessions"
    term = Terminal(["session", "run", "--protocol", str(protocol), "--patient", "TTY-1", "--body-mass", "70",
                     "--involved", "right", "--device", "sim:mark10", "--out", str(out), "--fast", "--ask-pain"])
    try:
        at = term.expect(r"lever arm for .*greater trochanter to pad centre, in m \(0\.4–1\.1")  # at the test's start
        term.send("0.2\n")  # a knee-sized lever arm for the hip: refused, asked again
        at = term.expect(r"implausible for .*expected 0\.4 to 1\.1 m", start=at)
        term.send("0.8\n")
        at = term.expect(r"left rep 1: Enter = start", start=at)
        term.send("\n")
        at = term.expect("▶", start=at)
        term.send("\n\n\n")  # stray Enters during the recording
        at = term.expect(r"pain during the left trial", start=at)
        term.read(1.5)
        assert "right rep 1" not in term.text[at:], term.text[at:]  # the strays were thrown away
        term.send("3\n")
        at = term.expect(r"right rep 1: Enter = start", start=at)
        term.read(1.0)
        assert "R1  get ready" not in term.text[at:]  # nothing started the trial on its own
        term.send("\n")
        at = term.expect("▶", start=at)
        term.read(0.3)
        term.proc.send_signal(signal.SIGINT)  # Ctrl-C while the live line is on screen
        assert term.proc.wait(timeout=30) == 130
        term.read(0.5)
    finally:
        term.close()
    assert re.search(r"\n\r?station: interrupted \(Ctrl-C\)", term.text), term.text[-500:]
    (path,) = out.glob("*.h5")
    with h5py.File(path, "r") as f:
        (test,) = f["tests"].values()
        first = test["trials/001"]
        assert int(first.attrs["pain_0_10"]) == 3
        assert json.loads(first.attrs["results"])["lever_arm_m"] == 0.8
        assert json.loads(test.attrs["lever_arm"])["source"] == "asked"
