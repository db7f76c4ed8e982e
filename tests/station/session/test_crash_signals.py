"""Ctrl-C (SIGINT) and SIGTERM during a trial of ``station session run``: non-zero exit,
the file closed cleanly (plain h5py opens it), the trial and the session marked aborted."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest

from protocols import ENV_VAR, builtin_protocols
from station.storage.recovery import find_unfinished
from station.storage.writer import is_in_use

#: a real session process signalled: real pty, real time
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
TRIAL = "tests/01_hip-abduction-hhd/trials/001"


def protocol_file(tmp_path: Path) -> Path:
    text = builtin_protocols()["hip-abduction-hhd"].source_text
    text, n = re.subn(r"(?m)^duration_s = 5\b", "duration_s = 4", text)
    assert n == 1
    path = tmp_path / "hip.toml"
    path.write_text(text, encoding="utf-8")
    return path


def recorded_s(path: Path) -> float:
    try:
        with h5py.File(path, "r", swmr=True, locking=False) as f:
            t = f[f"{TRIAL}/dynamometer/t_host_s"]
            n = t.shape[0]
            return float(t[n - 1] - t[0]) if n > 1 else 0.0
    except (OSError, KeyError, RuntimeError):
        return 0.0


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_a_trial(tmp_path: Path, sig: int, code: int) -> None:
    out = tmp_path / "sessions"
    env = {**os.environ, ENV_VAR: str(tmp_path / "none"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "station.cli", "session", "run", "--protocol", str(protocol_file(tmp_path)),
         "--patient", "SIG-1", "--body-mass", "70", "--involved", "left", "--device", "sim:mark10",
         "--out", str(out), "--auto", "--fast"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # a shell may start background jobs with SIGINT ignored; a station started by a person has it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        path = None
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(out.glob("*.h5")) if out.exists() else []
            if files and recorded_s(files[0]) > 1.5:  # countdown over, contraction under way
                path = files[0]
                break
            time.sleep(0.05)
        assert path is not None, "the trial never got going"
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.endswith(f"session file closed with status aborted: {path}")
    assert ("SIGTERM" in last) == (sig == signal.SIGTERM)

    assert not is_in_use(path) and find_unfinished(out) == []
    with h5py.File(path, "r") as f:  # closed cleanly: no SWMR flag left
        assert f.attrs["status"] == "aborted" and "closed_utc" in f.attrs
        trial = f[TRIAL]
        n = trial["dynamometer/t_host_s"].shape[0]
        assert trial.attrs["status"] == "aborted"
        assert json.loads(trial.attrs["samples"]) == {"dynamometer": n} and n > 500 * 1.5
        assert f["tests/01_hip-abduction-hhd"].attrs["status"] == "aborted"
        assert list(f["tests/01_hip-abduction-hhd/trials"]) == ["001"]
