"""The patient page: a patient's results over time, per protocol.

Per protocol: the best peak force per session of each side (left blue, right orange) with its
MDC band (best ± MDC95: a later session outside the band of the one before changed beyond
measurement error), the LSI per session (and the EPIC view: involved side against the
uninvolved side at the baseline) with the pass mark, and each side's latest change in words.

The page only draws a :class:`~station.history.trend.PatientTrend`; the window loads it from the
results index on a worker thread (:func:`station.gui.bridge.load_trend`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget

from station.gui import format as F
from station.gui.theme import AMBER, GREEN, Theme, big_font, side_colour
from station.history.trend import date_labels
from station.session.kinds import KINDS, get_kind


def _label(text: str = "", *, size: int | None = None, role: str | None = None) -> QLabel:
    w = QLabel(text)
    if size:
        w.setFont(big_font(size))
    if role:
        w.setProperty("role", role)
    w.setWordWrap(True)
    return w


def _plot(theme: Theme, left: str, units: str | None) -> pg.PlotWidget:
    p = pg.PlotWidget(background=theme.plot_bg)
    p.setMouseEnabled(x=False, y=False)
    p.plotItem.setMenuEnabled(False)
    p.plotItem.hideButtons()
    p.plotItem.setLabel("left", left, units=units)
    p.plotItem.showGrid(y=True, alpha=0.25)
    for name in ("left", "bottom"):
        ax = p.plotItem.getAxis(name)
        ax.setPen(theme.plot_fg)
        ax.setTextPen(theme.plot_fg)
        ax.enableAutoSIPrefix(False)
    p.plotItem.addLegend(offset=(10, 10), labelTextColor=theme.plot_fg)
    p.setMinimumHeight(260)
    return p


class ProtocolTrendView(QGroupBox):
    """One protocol: force trend per side with MDC bands, LSI/EPIC per session, change in words.
    ``bands``: side → (low, high) arrays of the drawn MDC band; ``lsi``: the LSI values drawn."""

    def __init__(self, trend: Any, name: str, theme: Theme, pass_pct: float) -> None:
        super().__init__(name)
        self.trend = trend
        self.bands: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.lsi: list[float | None] = []
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        lay.addLayout(row)
        dates = [s.date_utc for s in trend.sessions]
        x_of = {s.session_id: i for i, s in enumerate(trend.sessions)}
        ticks = [list(enumerate(date_labels(dates)))]

        self.force = _plot(theme, "best peak force", "N")
        for side in ("left", "right"):
            pts = [p for p in trend.sides.get(side, []) if p.best_n is not None]
            if not pts:
                continue
            colour = side_colour(side)
            x = np.array([x_of[p.session_id] for p in pts], dtype=float)
            y = np.array([p.best_n for p in pts], dtype=float)
            mdc = np.array([trend.error.mdc_n(p.best_n) or np.nan for p in pts], dtype=float)
            if np.isfinite(mdc).any():
                lo, hi = y - np.nan_to_num(mdc), y + np.nan_to_num(mdc)
                self.bands[side] = (lo, hi)
                c_lo = pg.PlotDataItem(x, lo, pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine))
                c_hi = pg.PlotDataItem(x, hi, pen=pg.mkPen(colour, width=1, style=Qt.PenStyle.DotLine))
                self.force.addItem(c_lo)
                self.force.addItem(c_hi)
                self.force.addItem(pg.FillBetweenItem(c_lo, c_hi, brush=pg.mkBrush(colour + "38")))
            involved = any(p.involved for p in pts)
            label = F.SIDE_NAME[side] + (" (involved)" if involved else "")
            self.force.plot(x, y, pen=pg.mkPen(colour, width=3), symbol="o", symbolSize=11, symbolBrush=colour,
                            symbolPen=pg.mkPen(colour), name=label)
        self.force.getAxis("bottom").setTicks(ticks)
        self.force.setXRange(-0.3, max(len(dates) - 1, 1) + 0.3)
        row.addWidget(self.force, 3)

        self.symmetry = _plot(theme, "LSI", "%")
        self.lsi = [s.lsi_pct for s in trend.sessions]
        xs = [i for i, v in enumerate(self.lsi) if v is not None]
        if xs:
            self.symmetry.plot(xs, [self.lsi[i] for i in xs], pen=pg.mkPen(theme.plot_fg, width=3), symbol="s",
                               symbolSize=10, symbolBrush=theme.plot_fg, name="LSI (involved / uninvolved)")
        epic = [(i, s.epic_pct) for i, s in enumerate(trend.sessions) if s.epic_pct is not None]
        if epic:
            self.symmetry.plot([i for i, _ in epic], [v for _, v in epic],
                               pen=pg.mkPen(theme.plot_fg, width=2, style=Qt.PenStyle.DashLine), symbol="t",
                               symbolSize=10, symbolBrush=theme.plot_fg, name="EPIC (vs uninvolved at baseline)")
        kind = get_kind(trend.kind) if trend.kind in KINDS else None
        if kind is None or kind.pass_mark:  # a landing load has no pass mark
            self.symmetry.addItem(pg.InfiniteLine(pass_pct, angle=0, pen=pg.mkPen(GREEN, width=2),
                                                  label=f"pass {pass_pct:g} %",
                                                  labelOpts={"position": 0.97, "color": GREEN,
                                                             "anchors": [(1, 1), (1, 1)]}))
            self.symmetry.addItem(pg.InfiniteLine(pass_pct - 10, angle=0, pen=pg.mkPen(AMBER, width=1,
                                                                                       style=Qt.PenStyle.DashLine)))
        values = [v for v in self.lsi if v is not None] + [v for _, v in epic]
        self.symmetry.setYRange(min([pass_pct - 25] + values) - 5, max([105.0] + values) + 5)
        self.symmetry.getAxis("bottom").setTicks(ticks)
        self.symmetry.setXRange(-0.3, max(len(dates) - 1, 1) + 0.3)
        if kind is not None and not kind.pass_mark:
            self.symmetry.plotItem.setLabel("left", "LSI (landing load)", units="%")
        row.addWidget(self.symmetry, 2)

        lines = []
        for side in ("left", "right"):
            pts = trend.sides.get(side) or []
            change = F.change_since_last(trend, side, session_id=pts[-1].session_id) if pts else None
            if change is not None:
                lines.append(f'<span style="color:{side_colour(side)}">■</span> {change.text}')
        self.changes = _label("<br>".join(lines) or "Only one session so far: no change to judge yet.")
        self.changes.setTextFormat(Qt.TextFormat.RichText)
        self.changes.setFont(big_font(14, False))
        lay.addWidget(self.changes)
        self.error = _label(f"Measurement error: {trend.error.description}", role="muted")
        lay.addWidget(self.error)


class PatientPage(QWidget):
    """A patient's history: one :class:`ProtocolTrendView` per protocol, newest results last."""

    back = Signal()

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 16, 24, 16)
        head = QHBoxLayout()
        self.title = _label("Patient", size=26)
        head.addWidget(self.title, 1)
        self.back_button = QPushButton("◀ Back  (Esc)")
        self.back_button.clicked.connect(self.back.emit)
        head.addWidget(self.back_button)
        lay.addLayout(head)
        self.subtitle = _label("", role="muted")
        lay.addWidget(self.subtitle)
        self.area = QScrollArea()
        self.area.setWidgetResizable(True)
        lay.addWidget(self.area, 1)
        self.views: dict[str, ProtocolTrendView] = {}
        self.patient_id = ""

    def show_loading(self, patient_id: str) -> None:
        self.patient_id = patient_id
        self.title.setText(f"Patient {patient_id}")
        self.subtitle.setText("Reading the results index …")
        self._set_body(QWidget())

    def _set_body(self, w: QWidget) -> None:
        old = self.area.takeWidget()
        if old is not None:
            old.deleteLater()
        self.area.setWidget(w)

    def show_trend(self, patient_id: str, trend: Any, protocols: dict[str, Any], error: str = "") -> None:
        """Draw ``trend`` (a PatientTrend, or None: no session of this patient in the folder)."""
        self.patient_id = patient_id
        self.title.setText(f"Patient {patient_id}")
        self.views.clear()
        body = QWidget()
        col = QVBoxLayout(body)
        if trend is None or not trend.protocols:
            self.subtitle.setText(error or "No earlier session of this patient in the sessions folder.")
            col.addStretch(1)
            self._set_body(body)
            return
        n = len(trend.sessions)
        self.subtitle.setText(
            f"{n} session{'s' if n != 1 else ''} · involved side: {trend.involved_side or 'not given'} · "
            f"reference values {trend.reference_version or '—'} · band = best ± MDC95 (1.96 × √2 × SEM)")
        for pt in trend.protocols:
            protocol = protocols.get(pt.protocol_id)
            name = getattr(protocol, "name", None) or pt.protocol_id
            pass_pct, _ = F.bands_for(protocol, {}) if protocol is not None else (F.DEFAULT_PASS_PCT, 0.0)
            view = ProtocolTrendView(pt, name, self.theme, pass_pct)
            self.views[pt.protocol_id] = view
            col.addWidget(view)
        col.addStretch(1)
        self._set_body(body)
