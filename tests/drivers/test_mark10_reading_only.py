"""A Mark-10 that answers only ``?`` (Series 4, older firmware), tried as a new user would:
``station acquire``, ``station devices --probe`` and a session, on the simulator with
``commands=reading``. Real pty, real time (a few seconds in all): the integration layer."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from protocols import ENV_VAR, builtin_protocols
from simulation.forces import RepeatingEfforts
from simulation.mark10 import Mark10Simulator
from station.cli import main

ROOT = Path(__file__).resolve().parents[2]
URI = "sim:mark10?commands=reading&unit=lbF"
#: a session protocol needs 100 readings/s from the dynamometer: poll that fast
SESSION_URI = URI + "&rate=100"


def device_attrs(path: Path) -> dict[str, object]:
    with h5py.File(path, "r") as f:
        (name,) = list(f["devices"])
        return dict(f["devices"][name].attrs)


def test_simulator_answers_only_readings() -> None:
    sim = Mark10Simulator(RepeatingEfforts(1), commands="reading", unit="lbF")
    assert sim.handle_command(b"LIST") == b"*10\r\n"
    assert sim.handle_command(b"AOUT10") == b"*10\r\n"
    assert sim.handle_command(b"RM") == b"*10\r\n"
    assert re.fullmatch(rb"-?\d+\.\d{2} lbF\r\n", sim.handle_command(b"?") or b"")


def test_acquire_polls_the_gauge_and_the_file_says_what_was_not_identified(tmp_path: Path, capsys) -> None:
    out = tmp_path / "reading-only.h5"
    assert main(["acquire", "--device", f"{URI}&rate=40", "--seconds", "1.5", "--out", str(out), "--json"]) == 0
    (rep,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert rep["status"] == "complete"
    assert 15 <= rep["samples"] <= 72  # polled at 40/s for about 1.5 s (fewer on a busy machine)
    attrs = device_attrs(out)
    assert attrs["model"] == "unknown" and attrs["firmware"] == "unknown"
    warnings = json.loads(str(attrs["warnings"]))
    assert any("LIST" in w and "*10" in w for w in warnings)
    assert any("unit lbF taken from a ? reading" in w for w in warnings)
    settings = json.loads(str(attrs["settings"]))
    assert settings["readout"] == "poll" and settings["identified"]["model"] is False


def test_devices_probe_finds_the_gauge(capsys) -> None:
    with Mark10Simulator(RepeatingEfforts(1), commands="reading") as sim:
        assert main(["devices", "--probe", "--port", sim.port, "--json", "--timeout", "0.5"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["probe"]["family"] == "mark10" and row["probe"]["model"] == "unknown"


@pytest.mark.slow
@pytest.mark.integration
def test_a_session_runs_on_the_gauge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-user-protocols"))
    text = builtin_protocols()["hip-abduction-hhd"].source_text
    for key, value in (("duration_s", "1.0"), ("reps", "1"), ("min_reps", "1"), ("max_reps", "1")):
        text, n = re.subn(rf"(?m)^{key} = \d+\b", f"{key} = {value}", text)
        assert n == 1
    protocol = tmp_path / "hip-short.toml"
    protocol.write_text(text, encoding="utf-8")
    out = tmp_path / "sessions"
    proc = subprocess.run(
        [sys.executable, "-m", "station.cli", "session", "run", "--protocol", str(protocol), "--patient", "S4",
         "--body-mass", "70", "--involved", "right", "--device", SESSION_URI, "--out", str(out), "--auto", "--fast",
         "--sim-speed", "4"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    (path,) = out.glob("*.h5")
    attrs = device_attrs(path)
    assert attrs["model"] == "unknown"
    assert any("LIST" in w for w in json.loads(str(attrs["warnings"])))
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "complete"
