"""Colours, fonts and the light and dark themes of the window.

Left and right use the Okabe–Ito blue and orange, which people with the common colour-vision
deficiencies (deutan, protan, tritan) tell apart; every colour is paired with text (L/R, PASS).
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

#: Okabe & Ito (2008), "Color Universal Design": blue and orange
LEFT = "#0072B2"
RIGHT = "#E69F00"
BOTH = "#009E73"  # bluish green: a summed or single trace

#: clinical reading of the LSI (and of side-to-side bands): ≥ pass green, ≥ amber_from amber, else red
GREEN, AMBER, RED = "#1b7837", "#b35806", "#b2182b"


def side_colour(side: str) -> str:
    return {"left": LEFT, "right": RIGHT}.get(side, BOTH)


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


LIGHT = Theme("light", window="#f4f5f7", panel="#ffffff", text="#1d1f23", muted="#5b6270", plot_bg="#ffffff",
              plot_fg="#30343b", highlight="#d7e7f6", warning_bg="#b2182b", warning_text="#ffffff")
DARK = Theme("dark", window="#1e2126", panel="#272b31", text="#eceff3", muted="#a7afbb", plot_bg="#15181c",
             plot_fg="#d5d9e0", highlight="#2f4a66", warning_bg="#d6604d", warning_text="#111111")
THEMES = {"light": LIGHT, "dark": DARK}

BASE_POINT_SIZE = 14  # readable from a couple of metres with the big numbers; tables and lists stay dense


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Palette, base font and a small stylesheet for the whole application."""
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
        QPushButton:default {{ border: 2px solid {LEFT}; }}
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
