"""The patient view: a second window (for a monitor facing the patient) with a force bar and the target.

Whether it was shown during a trial is stored with the trial (``visual_feedback``), because
visual feedback changes the force people produce.
"""
from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QWidget


class ForceBar(QWidget):
    """A tall bar: current force, the running peak tick and the target line (all N)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.force_n = 0.0
        self.peak_n: float | None = None
        self.target_n: float | None = None
        self.colour = "#0072B2"
        self.label = ""
        self.setMinimumSize(240, 400)

    def set_values(self, force_n: float, peak_n: float | None, target_n: float | None, colour: str,
                   label: str) -> None:
        self.force_n, self.peak_n, self.target_n, self.colour, self.label = force_n, peak_n, target_n, colour, label
        self.update()

    def full_scale(self) -> float:
        top = max(v for v in (self.force_n, self.peak_n or 0.0, self.target_n or 0.0, 50.0))
        return top * 1.2

    def paintEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt name
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        w, h = self.width(), self.height()
        p.fillRect(self.rect(), QColor("#111418"))
        margin_top, margin_bottom = 90, 30
        bar = QRectF(w * 0.3, margin_top, w * 0.4, h - margin_top - margin_bottom)
        p.setPen(QPen(QColor("#5b6270"), 2))
        p.drawRect(bar)
        scale = self.full_scale()

        def y(v: float) -> float:
            return bar.bottom() - bar.height() * max(0.0, min(v, scale)) / scale

        p.fillRect(QRectF(bar.left() + 2, y(self.force_n), bar.width() - 4, bar.bottom() - y(self.force_n)),
                   QColor(self.colour))
        if self.target_n:
            p.setPen(QPen(QColor("#4dac26"), 6))
            p.drawLine(int(bar.left() - 30), int(y(self.target_n)), int(bar.right() + 30), int(y(self.target_n)))
        if self.peak_n:
            p.setPen(QPen(QColor("#ffffff"), 3))
            p.drawLine(int(bar.left()), int(y(self.peak_n)), int(bar.right()), int(y(self.peak_n)))
        p.setPen(QColor("#ffffff"))
        f = QFont()
        f.setPointSize(40)
        f.setBold(True)
        p.setFont(f)
        p.drawText(QRectF(0, 0, w, margin_top), Qt.AlignmentFlag.AlignCenter, f"{self.force_n:.0f} N")
        f.setPointSize(16)
        p.setFont(f)
        p.drawText(QRectF(0, h - margin_bottom, w, margin_bottom), Qt.AlignmentFlag.AlignCenter, self.label)
        p.end()


class PatientView(QWidget):
    """A frameless-looking second window; emits ``shown_changed`` so each trial can record it."""

    shown_changed = Signal(bool)

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Force Station — patient view")
        self.bar = ForceBar(self)
        self.resize(420, 800)

    def resizeEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt name
        self.bar.setGeometry(self.rect())
        super().resizeEvent(event)

    def showEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt name
        super().showEvent(event)
        self.shown_changed.emit(True)

    def hideEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt name
        super().hideEvent(event)
        self.shown_changed.emit(False)
