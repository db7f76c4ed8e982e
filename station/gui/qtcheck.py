"""Can the window start here? Answered before any Qt module is imported.

Qt aborts the whole process (``qt.qpa.plugin: Could not load the Qt platform plugin "xcb"``)
when its platform plugin misses a system library or cannot reach the display. The station
checks first and prints one line instead: the missing library with the Debian/Ubuntu package
that provides it, and the terminal alternative.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: shared library → the Debian/Ubuntu package that provides it (Qt's xcb plugin and friends)
DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
}

#: the packages the README lists for a bare Debian machine
XCB_PACKAGES = ("libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-shape0",
                "libxcb-randr0", "libxcb-render-util0", "libxcb-image0", "libegl1", "libgl1")

TERMINAL_HINT = "the terminal station works without it: station demo --no-window, station session run …"


def platform_name() -> str:
    """The Qt platform plugin Qt would load: $QT_QPA_PLATFORM, else wayland or xcb from the display."""
    explicit = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if explicit:
        return explicit
    if sys.platform == "darwin":
        return "cocoa"
    if sys.platform == "win32":
        return "windows"
    if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY"):
        return "wayland"
    return "xcb"


def display_available() -> bool:
    """True when a window can be shown: a display is set, or Qt is told to render elsewhere."""
    if sys.platform in ("darwin", "win32"):
        return True
    if os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal", "vnc")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _findable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def qt_installed() -> bool:
    """PySide6 and pyqtgraph are installed (found without importing them)."""
    return _findable("PySide6") and _findable("pyqtgraph")


def missing_from_ldd(output: str) -> list[str]:
    """Library names ``ldd`` reports as ``not found``, in order, without repeats."""
    out: list[str] = []
    for line in output.splitlines():
        name, sep, rest = line.strip().partition(" => ")
        if sep and rest.strip() == "not found" and name not in out:
            out.append(name)
    return out


def missing_libraries(platform: str = "xcb") -> list[str]:
    """System libraries the Qt platform plugin ``platform`` needs but cannot find (Linux; ``ldd``)."""
    spec = importlib.util.find_spec("PySide6") if _findable("PySide6") else None
    ldd = shutil.which("ldd")
    if spec is None or spec.origin is None or ldd is None or not sys.platform.startswith("linux"):
        return []
    qt = Path(spec.origin).parent / "Qt"
    files = [qt / "plugins" / "platforms" / f"libq{platform}.so"]
    if platform == "xcb":
        files.append(qt / "lib" / "libQt6XcbQpa.so.6")
    missing: list[str] = []
    for f in files:
        if not f.exists():
            continue
        try:
            result = subprocess.run([ldd, str(f)], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        missing += [m for m in missing_from_ldd(result.stdout) if m not in missing]
    return missing


def describe_missing(libraries: list[str], platform: str = "xcb") -> str:
    """One line naming the missing libraries and the packages that provide them."""
    packages = list(dict.fromkeys(DEBIAN_PACKAGES.get(lib, lib) for lib in libraries))
    return (f"the window cannot start: Qt's {platform} platform plugin needs {', '.join(libraries)} "
            f"(Debian/Ubuntu: sudo apt install {' '.join(packages)}); {TERMINAL_HINT}")


_PROBE = ("import sys\nfrom PySide6.QtGui import QGuiApplication\napp = QGuiApplication(sys.argv[:1])\n"
          "print(app.platformName())\n")


def probe(timeout_s: float = 30.0) -> str | None:
    """Start a QGuiApplication in a child process; None if it worked, else its last error line."""
    try:
        result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"Qt did not start within {timeout_s:g} s"
    if result.returncode == 0:
        return None
    lines = [ln.strip() for ln in result.stderr.splitlines() if ln.strip()]
    useful = [ln for ln in lines if "could not connect" in ln.lower() or "could not load" in ln.lower()]
    return (useful or lines or [f"exit status {result.returncode}"])[0]


def window_problem(*, run_probe: bool = True) -> str | None:
    """None when the window can start, else one line saying why not and what to do instead."""
    if not qt_installed():
        return ("the window needs the gui extra (PySide6, pyqtgraph): pip install 'force-station[gui]' "
                f"(make installs it); {TERMINAL_HINT}")
    if not display_available():
        return f"no display (DISPLAY and WAYLAND_DISPLAY are not set); {TERMINAL_HINT}"
    platform = platform_name()
    if platform in ("xcb", "wayland"):
        missing = missing_libraries(platform)
        if missing:
            return describe_missing(missing, platform)
    if run_probe and platform not in ("offscreen", "minimal"):
        error = probe()
        if error is not None:
            return f"the window cannot start ({platform}): {error}; {TERMINAL_HINT}"
    return None
