"""The display check that runs before any Qt import (literal ldd output; real subprocesses)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from station.gui import qtcheck

# ldd on PySide6's libqxcb.so on a bare Debian 12 (no libxcb-cursor0, libxcb-icccm4)
LDD_BARE_DEBIAN = """\
\tlinux-vdso.so.1 (0x00007ffd8b5f2000)
\tlibQt6XcbQpa.so.6 => /venv/lib/python3.11/site-packages/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f3c1b400000)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb-cursor.so.0 => not found
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f3c1b3f0000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3c1b000000)
"""


def test_missing_libraries_are_read_from_ldd_output_in_order_without_repeats() -> None:
    assert qtcheck.missing_from_ldd(LDD_BARE_DEBIAN) == ["libxcb-cursor.so.0", "libxcb-icccm.so.4"]
    assert qtcheck.missing_from_ldd("\tlibc.so.6 => /lib/libc.so.6 (0x1)\n") == []


def test_the_message_names_the_debian_package_and_the_terminal_alternative() -> None:
    line = qtcheck.describe_missing(["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    assert "\n" not in line
    assert "libxcb-cursor0" in line and "libxcb-icccm4" in line
    assert "station demo --no-window" in line


def test_every_readme_package_is_known() -> None:
    assert set(qtcheck.XCB_PACKAGES) <= set(qtcheck.DEBIAN_PACKAGES.values())


def test_no_display_is_reported_before_qt_is_touched(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    problem = qtcheck.window_problem()
    assert problem is not None and "no display" in problem


def test_station_gui_without_a_display_exits_2_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = subprocess.run([sys.executable, "-m", "station.cli", "gui", "--simulate"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith("station: error: ") and "no display" in out.stderr


def test_an_unreachable_display_is_one_line_not_a_qt_abort() -> None:
    """DISPLAY points at a server that does not exist: Qt would abort; the probe says why."""
    env = {**os.environ, "DISPLAY": ":87", "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    out = subprocess.run([sys.executable, "-m", "station.cli", "gui", "--simulate"], capture_output=True,
                         text=True, timeout=90, env=env)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "window cannot start" in lines[0] and "--no-window" in lines[0]
