"""The console script: every subcommand listed and documented; the demo end to end."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from station.cli import COMMAND_MODULES, build_parser, main


def test_help_lists_every_subcommand(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for name in COMMAND_MODULES:
        assert re.search(rf"^\s+{name}\s", text, re.MULTILINE), f"{name} missing from station --help"


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_every_subcommand_has_help(name: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    assert f"usage: station {name}" in capsys.readouterr().out


def test_every_subcommand_is_registered() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMAND_MODULES)  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.integration
def test_demo_end_to_end(tmp_path: Path) -> None:
    """The README's main job: a full simulated session (``make demo``'s command), here with simulated
    time 4x faster than real time; a whole CLI session in real time:
    tests/station/session/test_session_cli.py::test_auto_session_with_a_notice_about_an_unfinished_file."""
    proc = subprocess.run([sys.executable, "-m", "station.cli", "demo", "--out", str(tmp_path), "--sim-speed", "4"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert re.search(r"^\s+left\s+3\s", out, re.MULTILINE) and re.search(r"^\s+right\s+3\s", out, re.MULTILINE)
    lsi = float(re.search(r"LSI \(involved / uninvolved\) = ([\d.]+) %", out).group(1))
    assert 70 < lsi < 95  # the simulated involved side is ~82 % of the other
    path = Path(re.search(r"Session file: (\S+)", out).group(1))
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "complete"
        (test,) = f["tests"].values()
        assert len(test["trials"]) >= 6
        assert test.attrs["symmetry_value_pct"] == pytest.approx(lsi, abs=0.05)
        assert f["session"].attrs["simulation_speed"] == 4.0  # the file says its times ran 4x faster


@pytest.mark.parametrize("speed", ["0", "0.5", "21", "fast"])
def test_demo_sim_speed_out_of_range_is_one_line(speed: str, tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path), "--sim-speed", speed]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("station: error: --sim-speed ") and speed in err and "\n" not in err
    assert list(tmp_path.iterdir()) == []  # nothing started
