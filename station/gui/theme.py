"""Colours, fonts and the light and dark themes of the window.

Left and right are blue and orange, which people with the common colour-vision deficiencies
(deutan, protan, tritan) tell apart (Okabe & Ito's palette); every colour is paired with text
(L/R, PASS). Each theme has its own shades so that, on its backgrounds, side and status colours
meet WCAG 2.1 contrast: ≥ 4.5:1 where they colour text (step titles, the big peak, the status),
≥ 3:1 for graphics (curves, bars). Light: Okabe–Ito blue #0072B2 and a dark orange; dark:
Okabe–Ito sky blue #56B4E9 and orange #E69F00 (the darker blue has only ~3:1 on a dark
background). ``tests/gui/test_theme.py`` checks the ratios and the colour-vision simulation.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

#: Okabe & Ito (2008), "Color Universal Design": blue and orange (the light theme's shades;
#: :func:`side_colour` gives the active theme's)
LEFT = "#0072B2"
RIGHT = "#A35200"  # Okabe–Ito orange #E69F00 darkened to 5:1 on white (the bright one is 2.3:1)
BOTH = "#007A5A"  # bluish green (Okabe–Ito #009E73, darkened for text on white): a summed or single trace

#: clinical reading of the LSI (and of side-to-side bands): ≥ pass green, ≥ amber_from amber, else red
GREEN, AMBER, RED = "#1b7837", "#b35806", "#b2182b"


def side_colour(side: str, theme: Theme | None = None) -> str:
    """The colour of ``side`` (left, right, anything else: both) in ``theme`` (default: the active one)."""
    t = theme or _active
    return {"left": t.left, "right": t.right}.get(side, t.both)


def status_colour(kind: str, theme: Theme | None = None) -> str:
    """Text colour of the big status line: ``ok`` (Push!, Done), ``bad`` (Paused, failed),
    ``warning``, ``info`` (Rest), ``muted`` (countdown)."""
    t = theme or _active
    return {"ok": t.ok, "bad": t.bad, "warning": t.warn, "info": t.left}.get(kind, t.muted)


def band_colour(band: str) -> str:
    return {"green": GREEN, "amber": AMBER, "red": RED}.get(band, "#777777")


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    panel: str
    text: str
    muted: str
    plot_bg: str
    plot_fg: str
    highlight: str
    warning_bg: str
    warning_text: str
    left: str = LEFT
    right: str = RIGHT
    both: str = BOTH
    ok: str = GREEN
    bad: str = RED
    warn: str = "#A35200"  # amber text on the light backgrounds (the band colour is 4.46:1 there)


LIGHT = Theme("light", window="#f4f5f7", panel="#ffffff", text="#1d1f23", muted="#5b6270", plot_bg="#ffffff",
              plot_fg="#30343b", highlight="#d7e7f6", warning_bg="#b2182b", warning_text="#ffffff")
DARK = Theme("dark", window="#1e2126", panel="#272b31", text="#eceff3", muted="#a7afbb", plot_bg="#15181c",
             plot_fg="#d5d9e0", highlight="#2f4a66", warning_bg="#d6604d", warning_text="#111111",
             left="#56B4E9", right="#E69F00", both="#2EC4A0", ok="#4CC47A", bad="#FF6B6B", warn="#E69F00")
THEMES = {"light": LIGHT, "dark": DARK}
_active: Theme = LIGHT

BASE_POINT_SIZE = 14  # readable from a couple of metres with the big numbers; tables and lists stay dense


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Palette, base font and a small stylesheet for the whole application; ``theme`` becomes the
    active one (:func:`side_colour`)."""
    global _active
    _active = theme
    app.setStyle("Fusion")
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor(theme.window))
    pal.setColor(QPalette.ColorRole.Base, QColor(theme.panel))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor(theme.window))
    pal.setColor(QPalette.ColorRole.Text, QColor(theme.text))
    pal.setColor(QPalette.ColorRole.WindowText, QColor(theme.text))
    pal.setColor(QPalette.ColorRole.Button, QColor(theme.panel))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor(theme.text))
    pal.setColor(QPalette.ColorRole.Highlight, QColor(theme.highlight))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor(theme.text))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor(theme.panel))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor(theme.text))
    pal.setColor(QPalette.ColorRole.PlaceholderText, QColor(theme.muted))
    app.setPalette(pal)
    font = QFont(app.font())
    font.setPointSize(BASE_POINT_SIZE)
    app.setFont(font)
    app.setStyleSheet(f"""
        QGroupBox {{ font-weight: bold; border: 1px solid {theme.muted}; border-radius: 6px; margin-top: 14px;
                     padding: 10px 8px 8px 8px; }}
        QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}
        QPushButton {{ padding: 8px 16px; border-radius: 6px; border: 1px solid {theme.muted}; }}
        QPushButton:default {{ border: 2px solid {theme.left}; }}
        QPushButton:disabled {{ color: {theme.muted}; }}
        QLabel[role="muted"] {{ color: {theme.muted}; }}
        QLabel[role="warning"] {{ background: {theme.warning_bg}; color: {theme.warning_text}; font-weight: bold;
                                  padding: 10px; border-radius: 6px; }}
        QLabel[role="notice"] {{ background: {theme.highlight}; padding: 8px; border-radius: 6px; }}
        QListWidget::item:selected {{ background: {theme.highlight}; color: {theme.text}; font-weight: bold; }}
    """)


def big_font(point_size: int, bold: bool = True) -> QFont:
    f = QFont()
    f.setPointSize(point_size)
    f.setBold(bold)
    return f
