"""The terminal station, acquire, analyze and the session runner import nothing from Qt, and
work with Qt blocked from import (a machine without the gui extra)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BLOCK_QT = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'PyQt5', 'PyQt6'):
            raise ImportError(f'blocked for this test: {name}')
        return None
sys.meta_path.insert(0, Block())
"""


def run_blocked(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", BLOCK_QT + code], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def test_modules_of_the_terminal_station_import_no_qt() -> None:
    code = """
import sys
import station.cli, station.session.run, station.session.terminal, station.pipeline, station.analysis
import station.commands.acquire, station.commands.analyze, station.commands.session, station.commands.demo
import station.commands.gui, station.gui, station.gui.qtcheck, station.gui.bridge
station.cli.build_parser()
qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'))
print(qt)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_acquire_and_analyze_work_with_qt_blocked(tmp_path: Path) -> None:
    code = """
from station.cli import main
import sys
rc = main(['acquire', '--device', 'sim:mark10?rate=500', '--seconds', '0.5', '--out', 'a.h5'])
rc2 = main(['inspect', 'a.h5'])
print('RC', rc, rc2)
"""
    out = run_blocked(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "RC 0 0" in out.stdout
    assert (tmp_path / "a.h5").stat().st_size > 0


def test_gui_without_the_extra_says_so_in_one_line(tmp_path: Path) -> None:
    code = """
import os, sys
os.environ['DISPLAY'] = ':0'
from station.cli import main
sys.exit(main(['gui', '--simulate']))
"""
    out = run_blocked(code, tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "gui extra" in lines[0] and "--no-window" in lines[0]


def test_demo_with_a_display_but_no_qt_falls_back_to_the_terminal_note(tmp_path: Path) -> None:
    pytest.importorskip("h5py")
    code = """
import os
os.environ['DISPLAY'] = ':0'
from station.commands.demo import window_wanted
print('WINDOW', window_wanted())
"""
    out = run_blocked(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "WINDOW False" in out.stdout
    assert "running in the terminal" in out.stderr
