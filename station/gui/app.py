"""Starting the window: the display check, the QApplication, the theme, the main window."""
from __future__ import annotations

import sys
from pathlib import Path

from protocols.model import Protocol
from station.errors import DisplayError
from station.gui import qtcheck
from station.gui.bridge import SessionConfig


def ensure_window_possible() -> None:
    """Raise a one-line :class:`~station.errors.DisplayError` when Qt could not show a window here (before importing Qt)."""
    problem = qtcheck.window_problem()
    if problem is not None:
        raise DisplayError(problem)


def run_window(*, protocols: dict[str, Protocol], sessions_dir: Path, simulate: bool, theme: str = "light",
               auto: SessionConfig | None = None, close_when_done: bool = False, fast: bool = False,
               calibration_dir: Path | None = None, allow_uncalibrated: bool = False,
               preselect: list[str] | None = None) -> int:
    """Show the window until it is closed; returns the exit status (0 complete, 1 aborted, 2 failed)."""
    ensure_window_possible()
    from PySide6.QtWidgets import QApplication

    from station.gui.theme import THEMES, apply_theme
    from station.gui.window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Force Station")
    apply_theme(app, THEMES[theme])  # type: ignore[arg-type]
    window = MainWindow(protocols=protocols, sessions_dir=sessions_dir, simulate=simulate, theme=theme, auto=auto,
                        close_when_done=close_when_done, fast=fast, calibration_dir=calibration_dir,
                        allow_uncalibrated=allow_uncalibrated)
    if preselect:
        window.start_page.select_protocols(preselect)
    window.show()
    app.exec()
    return window.exit_status
