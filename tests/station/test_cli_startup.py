"""`station --help` and light commands start without the heavy stack (issue 12/17):
the help imports no numpy, h5py, scipy or Qt; `station acquire` no scipy and no session or
analysis code. Checked with `python -X importtime` in a fresh interpreter."""
from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from station.cli import COMMAND_HELP

ROOT = Path(__file__).resolve().parents[2]


def imported(*argv: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "station.cli", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert "station.errors" in names  # the CLI ran (as __main__)
    return names


def test_station_help_imports_no_heavy_module() -> None:
    names = imported("--help")
    heavy = {n for n in names if n.split(".")[0] in {"numpy", "h5py", "scipy", "PySide6", "pyqtgraph", "serial"}}
    assert not heavy, sorted(heavy)[:10]


def test_acquire_imports_no_session_analysis_or_scipy() -> None:
    names = imported("acquire", "--help")
    unwanted = {n for n in names if n.split(".")[0] in {"scipy", "PySide6", "pyqtgraph"}
                or n.startswith(("station.session", "station.analysis"))}
    assert not unwanted, sorted(unwanted)[:10]


@pytest.mark.parametrize("name", sorted(COMMAND_HELP))
def test_the_help_table_matches_each_command(name: str) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(f"station.commands.{name}").register(sub)
    (action,) = [a for a in sub._choices_actions if a.dest == name]
    assert COMMAND_HELP[name] == action.help
