"""The pages of the window: start, live session (trial, after-trial, after-test) and summary.

Pages only show what events say and turn clicks into commands (signals); no session logic.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from protocols.model import Protocol
from station.gui import format as F
from station.gui.plot import LivePlot
from station.gui.theme import LEFT, RIGHT, Theme, band_colour, big_font, side_colour, status_colour

ROLE_DATA = Qt.ItemDataRole.UserRole
#: the driver families a device role of each device kind is offered on a detected port
FAMILIES_BY_DEVICE_KIND: dict[str, tuple[str, ...]] = {"force_plate": ("sfp",),
                                                       "dynamometer": ("mark10", "loadstar", "openscale")}


def _label(text: str = "", *, size: int | None = None, bold: bool = False, role: str | None = None,
           wrap: bool = False, align: Qt.AlignmentFlag | None = None) -> QLabel:
    w = QLabel(text)
    if size:
        w.setFont(big_font(size, bold))
    elif bold:
        f = w.font()
        f.setBold(True)
        w.setFont(f)
    if role:
        w.setProperty("role", role)
    w.setWordWrap(wrap)
    if align is not None:
        w.setAlignment(align)
    return w


def _table(headers: list[str], rows: list[list[str]], table: QTableWidget | None = None) -> QTableWidget:
    t = table or QTableWidget()
    t.clear()
    t.setColumnCount(len(headers))
    t.setRowCount(len(rows))
    # a header's unit goes on a second line ("best (N·m)" → "best\n(N·m)"): narrow columns, nothing clipped
    t.setHorizontalHeaderLabels([h.replace(" (", "\n(", 1) for h in headers])
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            if c and headers[c] != "metric":
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            t.setItem(r, c, item)
    t.verticalHeader().setVisible(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    for c, h in enumerate(headers):
        if h == "metric":
            t.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    t.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    return t


def fit_height(t: QTableWidget) -> None:
    t.setFixedHeight(t.horizontalHeader().sizeHint().height() + 6 + sum(t.rowHeight(r) for r in range(t.rowCount())))


def table_texts(t: QTableWidget) -> list[list[str]]:
    """The cell texts of a table, row by row (tests compare them with the session file)."""
    out = []
    for r in range(t.rowCount()):
        items = [t.item(r, c) for c in range(t.columnCount())]
        out.append([i.text() if i is not None else "" for i in items])
    return out


def header_texts(t: QTableWidget) -> list[str]:
    """A table's column headers on one line each ("best (N)")."""
    out = []
    for c in range(t.columnCount()):
        item = t.horizontalHeaderItem(c)
        out.append(item.text().replace("\n", " ") if item is not None else "")
    return out


#: an after-trial table of one value column with more rows than this is shown in two halves side by side
FOLD_ROWS = 7


def fold(headers: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """A long (metric, value) table as two (metric, value) halves side by side, so it fits beside
    the trace without squeezing the live plot; other tables unchanged."""
    if headers != ["metric", "value"] or len(rows) <= FOLD_ROWS:
        return headers, rows
    half = (len(rows) + 1) // 2
    return headers * 2, [rows[i] + (rows[i + half] if i + half < len(rows) else ["", ""]) for i in range(half)]


def unfold(headers: list[str], rows: list[list[str]]) -> list[list[str]]:
    """The logical rows of a table shown by :func:`fold` (tests read the widget back)."""
    if headers != ["metric", "value"] * 2:
        return rows
    return [r[:2] for r in rows] + [r[2:] for r in rows if r[2]]


def side_rows(summary: Any, protocol: Any = None) -> tuple[list[str], list[list[str]]]:
    """A test's per-side table, with the clinical units its protocol's ``metrics`` list."""
    return F.side_summary_rows(summary, getattr(protocol, "metrics", None))


def style_axes(plot: pg.PlotWidget, theme: Theme) -> None:
    """Axis lines and text in the theme's plot foreground; forces stay in N (no kN prefix)."""
    for name in ("left", "bottom"):
        ax = plot.plotItem.getAxis(name)
        ax.setPen(theme.plot_fg)
        ax.setTextPen(theme.plot_fg)
        ax.enableAutoSIPrefix(False)
    plot.plotItem.getAxis("bottom").enableAutoSIPrefix(False)


class SymmetryLabel(QLabel):
    """The LSI (or landing asymmetry) line on its colour band; ``band`` is kept for tests."""

    def __init__(self) -> None:
        super().__init__("")
        self.band = "none"
        self.setFont(big_font(18))
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)

    def show_symmetry(self, symmetry: dict[str, Any], protocol: Any, kind: str | None = None) -> None:
        """The comparison of the sides; hidden when the protocol's ``metrics`` list has neither
        ``lsi`` nor (landings) ``asymmetry`` (``kind``: the test kind, default the protocol's)."""
        kind = kind or getattr(protocol, "kind", None)
        if kind is not None and protocol is not None and not F.shows_symmetry(kind, protocol.metrics):
            self.band = "none"
            self.setText("")
            self.setStyleSheet("")
            self.hide()
            return
        if self.parent() is not None:  # (showing a widget without a parent would open it as a window)
            self.setVisible(True)
        st = F.symmetry_text(symmetry, protocol)
        self.band = st.band
        self.setText(st.text)
        if st.band in ("green", "amber", "red"):
            self.setStyleSheet(f"background: {band_colour(st.band)}; color: white; padding: 12px; border-radius: 8px;")
        else:
            self.setStyleSheet("padding: 12px; border-radius: 8px; border: 2px solid #777;")


# -- start page -----------------------------------------------------------------------------
class DeviceRow(QWidget):
    """One device: status light, name, live reading, Zero, calibration status, Verify."""

    zero_clicked = Signal(str)
    verify_clicked = Signal(str)

    def __init__(self, role: str, uri: str) -> None:
        super().__init__()
        self.role = role
        lay = QGridLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.light = QLabel("●")
        self.light.setFont(big_font(20))
        self.set_status("idle")
        self.name = _label(role, bold=True)
        self.uri = QComboBox()
        self.uri.setEditable(True)
        self.uri.addItem(uri)
        self.uri.setMinimumWidth(320)
        self.uri.setToolTip(uri)
        self.uri.currentTextChanged.connect(self._show_uri_start)
        self._show_uri_start(uri)
        self.reading = _label("— N", size=18, align=Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.reading.setMinimumWidth(140)
        self.zero = QPushButton("Zero")
        self.zero.setToolTip("zero this device now (nothing on the plate / pad)")
        self.zero.clicked.connect(lambda: self.zero_clicked.emit(self.role))
        self.zero.setEnabled(False)
        self.calibration = _label("calibration: not checked", role="muted")
        self.description = _label("", role="muted")
        self.verify = QPushButton("Verify…")
        self.verify.setToolTip("check this device with a known load, or calibrate it (the calibration page)")
        self.verify.clicked.connect(lambda: self.verify_clicked.emit(self.role))
        lay.addWidget(self.light, 0, 0, 3, 1)
        lay.addWidget(self.name, 0, 1)
        lay.addWidget(self.uri, 0, 2)
        lay.addWidget(self.reading, 0, 3)
        lay.addWidget(self.zero, 0, 4)
        lay.addWidget(self.description, 1, 1, 1, 2)
        lay.addWidget(self.calibration, 2, 1, 1, 3)
        lay.addWidget(self.verify, 1, 4)
        lay.setColumnStretch(2, 1)

    def _show_uri_start(self, uri: str) -> None:
        """A long URI shows its beginning (the device family), not its tail."""
        edit = self.uri.lineEdit()
        if edit is not None and not edit.hasFocus():
            edit.setCursorPosition(0)
        self.uri.setToolTip(uri)

    def set_status(self, status: str) -> None:
        """idle (grey), ok (green), warning (amber), error (red); the tooltip says which."""
        colour = status_colour({"ok": "ok", "warning": "warning", "error": "bad"}.get(status, "muted"))
        self.status = status
        self.light.setStyleSheet(f"color: {colour};")
        self.light.setToolTip(status)

    def set_calibration(self, snapshot: dict[str, Any]) -> None:
        """Calibration status of the channels in use: valid until …, expired, missing (from the snapshot)."""
        self.calibration.setText(calibration_status(snapshot))
        self.calibration.setToolTip(snapshot.get("note", ""))
        bad = bool(snapshot.get("overrides")) or any(
            c.get("in_use") and c.get("state") not in ("ok", None) for c in snapshot.get("channels") or [])
        if bad:
            self.set_status("warning")
            self.calibration.setStyleSheet(f"color: {status_colour('bad')}; font-weight: bold;")
        else:
            self.calibration.setStyleSheet("")


def calibration_status(snapshot: dict[str, Any]) -> str:
    channels = [c for c in snapshot.get("channels") or [] if c.get("in_use")]
    if not channels:
        return "calibration: not checked"
    if all(c.get("source") == "factory-default" for c in channels):
        return "calibration: device reports newtons (factory)"
    states = {c.get("state") for c in channels}
    expiries = [r.get("expires_at", "") for r in snapshot.get("records") or [] if r.get("expires_at")]
    if states == {"ok"}:
        until = min(expiries)[:10] if expiries else "?"
        return f"calibration: valid until {until} ({len(channels)} channel{'s' if len(channels) > 1 else ''})"
    parts = [f"ch{c['channel']} {c.get('state')}" for c in channels if c.get("state") != "ok"]
    return "calibration: " + ", ".join(parts) + (" — used anyway (recorded)" if snapshot.get("overrides") else "")


class StartPage(QWidget):
    """Devices, patient and protocols; Start begins the session."""

    start_requested = Signal()
    check_devices = Signal()
    zero_device = Signal(str)
    history_requested = Signal()
    verify_device = Signal(str)  # role: open the calibration page on its device

    def __init__(self, protocols: dict[str, Protocol], device_uris: dict[str, str]) -> None:
        super().__init__()
        self.protocols = protocols
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 16)
        title = _label("New session", size=26)
        outer.addWidget(title)
        body = QHBoxLayout()
        outer.addLayout(body, 1)

        left = QVBoxLayout()
        body.addLayout(left, 3)
        pbox = QGroupBox("Patient")
        form = QFormLayout(pbox)
        self.patient = QComboBox()
        self.patient.setEditable(True)
        edit = self.patient.lineEdit()
        if edit is not None:
            edit.setPlaceholderText("pseudonymous id, e.g. P-042")
        self.patient.setMinimumWidth(260)
        completer = self.patient.completer()
        if completer is not None:  # a list to pick from, not an id completed inline while a new one is typed
            completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self.patient.currentTextChanged.connect(self._patient_changed)
        self.body_mass = QDoubleSpinBox()
        self.body_mass.setRange(10.0, 400.0)
        self.body_mass.setDecimals(1)
        self.body_mass.setSuffix(" kg")
        self.body_mass.setValue(70.0)
        self.involved = QComboBox()
        self.involved.addItems(["left", "right", "none"])
        self.lever_arm = QDoubleSpinBox()
        self.lever_arm.setRange(0.0, 2.0)
        self.lever_arm.setDecimals(2)
        self.lever_arm.setSingleStep(0.01)
        self.lever_arm.setSuffix(" m")
        self.lever_arm.setSpecialValueText("protocol default")
        self.lever_arm.setValue(0.0)
        form.addRow("Patient id", self.patient)
        form.addRow("Body mass", self.body_mass)
        form.addRow("Involved side", self.involved)
        form.addRow("Lever arm", self.lever_arm)
        self.known_note = _label("", role="muted", wrap=True)
        form.addRow("", self.known_note)
        self.history_button = QPushButton("Patient history…  (Ctrl+H)")
        self.history_button.setToolTip("the patient's results over time: trend per side with the MDC band, LSI")
        self.history_button.clicked.connect(self.history_requested.emit)
        form.addRow("", self.history_button)
        left.addWidget(pbox)

        rbox = QGroupBox("Protocols (in order)")
        rl = QVBoxLayout(rbox)
        self.protocol_list = QListWidget()
        self._ticked: list[str] = []  # the order the protocols were ticked in = the session's order
        for pid, p in protocols.items():
            item = QListWidgetItem(p.name)
            item.setToolTip(f"{pid}: {p.description.strip()}")
            item.setData(ROLE_DATA, pid)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.protocol_list.addItem(item)
        self.protocol_list.itemChanged.connect(self._protocol_ticked)
        rl.addWidget(self.protocol_list)
        rl.addWidget(_label("Tick the tests in the order to run them.", role="muted"))
        left.addWidget(rbox, 1)

        right = QVBoxLayout()
        body.addLayout(right, 4)
        dbox = QGroupBox("Devices")
        self.device_layout = QVBoxLayout(dbox)
        self.device_rows: dict[str, DeviceRow] = {}
        self.default_uris = dict(device_uris)
        self.no_devices = _label("Tick a protocol to see the devices it needs.", role="muted")
        self.device_layout.addWidget(self.no_devices)
        self.device_layout.addStretch(1)
        buttons = QHBoxLayout()
        self.check = QPushButton("Connect && check devices")
        self.check.clicked.connect(self.check_devices.emit)
        buttons.addWidget(self.check)
        buttons.addStretch(1)
        self.device_layout.addLayout(buttons)
        right.addWidget(dbox, 1)
        self.message = _label("", role="notice", wrap=True)
        self.message.hide()
        right.addWidget(self.message)
        self.start = QPushButton("Start session  ▶   (Ctrl+Enter)")
        self.start.setFont(big_font(18))
        self.start.setDefault(True)
        self.start.clicked.connect(self.start_requested.emit)
        right.addWidget(self.start)
        self.known: dict[str, dict[str, Any]] = {}

    # -- patients ------------------------------------------------------------------------
    def set_known_patients(self, known: dict[str, dict[str, Any]]) -> None:
        """Patients found in earlier session files: id → latest body mass, involved side, lever arm."""
        self.known = known
        current = self.patient.currentText()
        self.patient.blockSignals(True)
        self.patient.clear()
        self.patient.addItems(sorted(known))
        self.patient.setEditText(current)
        self.patient.blockSignals(False)
        self.known_note.setText(f"{len(known)} patient(s) in earlier session files" if known else "")
        if current.strip():  # an id typed before the folder was read: known or new
            self._patient_changed(current)

    def _patient_changed(self, text: str) -> None:
        info = self.known.get(text.strip())
        if not info:
            self.known_note.setText("new patient (no earlier session file)" if text.strip() and self.known else
                                    (f"{len(self.known)} patient(s) in earlier session files" if self.known else ""))
            return
        if info.get("body_mass_kg"):
            self.body_mass.setValue(float(info["body_mass_kg"]))
        if info.get("involved_side") in ("left", "right", "none"):
            self.involved.setCurrentText(info["involved_side"])
        if info.get("lever_arm_m"):
            self.lever_arm.setValue(float(info["lever_arm_m"]))
        self.known_note.setText(f"known patient: {info.get('sessions', 1)} earlier session(s), "
                                f"last {str(info.get('created_utc', ''))[:10]}")

    # -- protocols and devices -------------------------------------------------------------
    def set_ports(self, ports: list[str]) -> None:
        """Detected serial ports, offered in every device's URI list by device kind."""
        self.ports = list(ports)
        for row in self.device_rows.values():
            self._offer_ports(row)

    def _offer_ports(self, row: DeviceRow) -> None:
        kind = next((d.kind for p in self.protocols.values() for d in p.devices if d.role == row.role), "")
        families = FAMILIES_BY_DEVICE_KIND.get(kind, FAMILIES_BY_DEVICE_KIND["dynamometer"])
        have = {row.uri.itemText(i) for i in range(row.uri.count())}
        for port in getattr(self, "ports", []):
            for fam in families:
                if f"{fam}:{port}" not in have:
                    row.uri.addItem(f"{fam}:{port}")

    def selected_protocols(self) -> list[str]:
        """Ticked protocol ids, in the order they were ticked."""
        return list(self._ticked)

    def select_protocols(self, ids: list[str]) -> None:
        items = {self.protocol_list.item(i).data(ROLE_DATA): self.protocol_list.item(i)
                 for i in range(self.protocol_list.count())}
        for pid, item in items.items():
            if pid not in ids:
                item.setCheckState(Qt.CheckState.Unchecked)
        for pid in ids:
            if pid in items:
                items[pid].setCheckState(Qt.CheckState.Checked)

    def _protocol_ticked(self, item: QListWidgetItem) -> None:
        pid = item.data(ROLE_DATA)
        checked = item.checkState() == Qt.CheckState.Checked
        if checked and pid not in self._ticked:
            self._ticked.append(pid)
        elif not checked and pid in self._ticked:
            self._ticked.remove(pid)
        self.protocol_list.blockSignals(True)
        for i in range(self.protocol_list.count()):
            it = self.protocol_list.item(i)
            p = self.protocols[it.data(ROLE_DATA)]
            n = self._ticked.index(p.id) + 1 if p.id in self._ticked else None
            it.setText(f"{n}.  {p.name}" if n else p.name)
        self.protocol_list.blockSignals(False)
        self.protocols_changed()

    def protocols_changed(self) -> None:
        roles: list[str] = []
        for pid in self.selected_protocols():
            for d in self.protocols[pid].devices:
                if d.role not in roles:
                    roles.append(d.role)
        for role in list(self.device_rows):
            if role not in roles:
                row = self.device_rows.pop(role)
                row.setParent(None)
        for i, role in enumerate(roles):
            if role not in self.device_rows:
                row = DeviceRow(role, self.default_uris.get(role, ""))
                row.zero_clicked.connect(self.zero_device.emit)
                row.verify_clicked.connect(self.verify_device.emit)
                self._offer_ports(row)
                self.device_rows[role] = row
                self.device_layout.insertWidget(i + 1, row)
        self.no_devices.setVisible(not roles)

    def device_uris(self) -> dict[str, str]:
        return {role: row.uri.currentText().strip() for role, row in self.device_rows.items()}

    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))


# -- the live session page ------------------------------------------------------------------
class StepList(QListWidget):
    """Tests and their trials in order; the current step is highlighted. Each trial item keeps
    ``{"test", "side", "rep", "attempt", "trial", "status"}`` as its data."""

    def __init__(self) -> None:
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFixedWidth(330)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.setWordWrap(True)

    def add_test(self, test: str, name: str, plan: tuple[tuple[str, int], ...]) -> None:
        header = QListWidgetItem(name)
        header.setFont(big_font(13))
        header.setFlags(Qt.ItemFlag.ItemIsEnabled)
        header.setData(ROLE_DATA, {"test": test, "header": True})
        self.addItem(header)
        for side, rep in plan:
            self._add_step(test, side, rep)

    def _add_step(self, test: str, side: str, rep: int, attempt: int | None = None) -> QListWidgetItem:
        item = QListWidgetItem(F.step_label(side, rep, attempt))
        item.setData(ROLE_DATA, {"test": test, "side": side, "rep": rep, "attempt": attempt, "trial": None,
                                 "status": None})
        item.setForeground(QColor(side_colour(side)))
        row = self._last_row_of(test) + 1
        self.insertItem(row, item)
        return item

    def _last_row_of(self, test: str) -> int:
        last = -1
        for i in range(self.count()):
            if (self.item(i).data(ROLE_DATA) or {}).get("test") == test:
                last = i
        return last

    def steps(self, test: str | None = None) -> list[dict[str, Any]]:
        out = []
        for i in range(self.count()):
            d = self.item(i).data(ROLE_DATA) or {}
            if not d.get("header") and (test is None or d.get("test") == test):
                out.append(d)
        return out

    def current_step(self, test: str, side: str, rep: int, attempt: int) -> QListWidgetItem:
        """Highlight the step about to run (a planned one, else a new row: added rep or repeat)."""
        for i in range(self.count()):  # no other step stays marked "now"
            other = self.item(i)
            od = other.data(ROLE_DATA) or {}
            if not od.get("header") and od.get("status") is None and other.text().endswith("◀ now"):
                other.setText(F.step_label(od["side"], od["rep"], od.get("attempt")))
        for i in range(self.count()):
            item = self.item(i)
            d = item.data(ROLE_DATA) or {}
            if d.get("test") == test and not d.get("header") and d.get("status") is None \
                    and d.get("side") == side and d.get("rep") == rep:
                break
        else:
            item = self._add_step(test, side, rep, attempt)
        d = dict(item.data(ROLE_DATA))
        d["attempt"] = attempt
        item.setData(ROLE_DATA, d)
        item.setText(F.step_label(side, rep, attempt) + "   ◀ now")
        self.setCurrentItem(item)
        self.scrollToItem(item)
        return item

    def mark(self, outcome: Any) -> None:
        """Record a trial's outcome on its step (the highlighted one, else a new row)."""
        target = None
        for i in range(self.count()):
            item = self.item(i)
            d = item.data(ROLE_DATA) or {}
            if d.get("test") == outcome.test and d.get("status") is None and not d.get("header") \
                    and d.get("side") == outcome.side and d.get("rep") == outcome.rep:
                target = item
                break
        if target is None:
            target = self._add_step(outcome.test, outcome.side, outcome.rep, outcome.attempt)
        peak: float | dict[str, float] | None = outcome.peak_force_n
        per_side = (outcome.results or {}).get("per_side") if isinstance(outcome.results, dict) else None
        if peak is None and isinstance(per_side, dict):  # both sides in one effort: each side's peak
            peak = {s: float(r["peak_force_n"]) for s, r in per_side.items()
                    if isinstance(r, dict) and isinstance(r.get("peak_force_n"), (int, float))}
        self._set(target, outcome.trial, outcome.status, outcome.attempt, peak)

    def mark_rejected(self, test: str, trial: str) -> None:
        for i in range(self.count()):
            item = self.item(i)
            d = item.data(ROLE_DATA) or {}
            if d.get("test") == test and d.get("trial") == trial:
                self._set(item, trial, "rejected", d.get("attempt"), None)

    def _set(self, item: QListWidgetItem, trial: str, status: str, attempt: int | None,
             peak: float | dict[str, float] | None) -> None:
        d = dict(item.data(ROLE_DATA))
        d.update(trial=trial, status=status, attempt=attempt)
        item.setData(ROLE_DATA, d)
        item.setText(f"#{trial}  " + F.step_label(d["side"], d["rep"], attempt, status, trial, peak))


class TrialPanel(QWidget):
    """After a trial: its metrics, its trace with onset and peak marked, Accept / Redo."""

    accept = Signal()
    redo = Signal()

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        col = QVBoxLayout()
        self.title = _label("", size=16, wrap=True)
        col.addWidget(self.title)
        self.table = _table(["metric", "value"], [])
        col.addWidget(self.table)
        self.flag = _label("", role="warning", wrap=True)
        self.flag.hide()
        self.saturated = False
        col.addWidget(self.flag)
        col.addStretch(1)
        row = QHBoxLayout()
        self.accept_button = QPushButton("Accept  (Space)")
        self.redo_button = QPushButton("Redo  (R)")
        for b in (self.accept_button, self.redo_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setFont(big_font(14))
            row.addWidget(b)
        self.accept_button.clicked.connect(self.accept.emit)
        self.redo_button.clicked.connect(self.redo.emit)
        col.addLayout(row)
        lay.addLayout(col, 3)
        self.plot = pg.PlotWidget(background=theme.plot_bg)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.plotItem.setMenuEnabled(False)
        self.plot.plotItem.hideButtons()
        self.plot.plotItem.setLabel("bottom", "time from the start of the recording", units="s")
        self.plot.plotItem.setLabel("left", "force", units="N")
        style_axes(self.plot, theme)
        self.plot.plotItem.addLegend(offset=(10, 10), labelTextColor=theme.plot_fg)
        lay.addWidget(self.plot, 4)

    def show_trial(self, event: Any, protocol: Any, body_mass_kg: float | None) -> None:
        """A recorded trial: the metrics ``protocol`` lists (in its order), its trace and flags."""
        o = event.outcome
        self.title.setText(f"{protocol.name} — {F.SIDE_NAME.get(o.side, o.side)} rep {o.rep}: {o.status}")
        headers, rows = F.trial_metric_rows(protocol.kind, o.results, body_mass_kg, protocol.metrics,
                                            getattr(protocol, "analysis", None))
        shown_headers, shown_rows = fold(headers, rows)
        _table(shown_headers, shown_rows, self.table)
        folded = shown_headers != headers
        lay = self.layout()
        if isinstance(lay, QHBoxLayout):  # two halves side by side need more width than the trace
            lay.setStretch(0, 5 if folded else 3)
            lay.setStretch(1, 4)
        fit_height(self.table)
        reason = F.flag_reason(o.flags)
        saturated = [f for f in o.flags if F.saturated([f])]
        self.saturated = bool(saturated)
        if saturated:
            reason = ("⚠ SATURATION — " + "; ".join(saturated) + ". The peak may be under-read: redo (R).\n"
                      + F.flag_reason([f for f in o.flags if f not in saturated])).strip()
            self.flag.setFont(big_font(15))
        else:
            self.flag.setFont(big_font(12, False))
        self.flag.setText(reason if saturated else ("Flagged: " + reason) if reason else "")
        self.flag.setVisible(bool(reason))
        self.plot.clear()
        for side, (t, f) in event.traces.items():
            step = max(1, t.size // 4000)
            self.plot.plot(t[::step], f[::step], pen=pg.mkPen(side_colour(side), width=2), name=F.SIDE_NAME[side])
            per = o.results.get(side) if isinstance(o.results.get(side), dict) else (
                (o.results.get("per_side") or {}).get(side) or o.results)
            onset = per.get("onset_s", per.get("contact_s"))
            peak_s, peak_n = per.get("peak_s"), per.get("peak_force_abs_n", per.get("peak_force_n"))
            if onset is not None:
                self.plot.addItem(pg.InfiniteLine(onset, angle=90, pen=pg.mkPen(side_colour(side), style=Qt.PenStyle.DashLine),
                                                  label="onset", labelOpts={"position": 0.6, "color": side_colour(side),
                                                                            "anchors": [(1, 0.5), (1, 0.5)]}))
            if peak_s is not None and peak_n is not None:
                i = int(np.clip(np.searchsorted(t, peak_s), 0, t.size - 1))
                self.plot.plot([t[i]], [f[i]], pen=None, symbol="o", symbolSize=12, symbolBrush=side_colour(side))
        decided = o.status in ("skipped",)
        self.accept_button.setEnabled(not decided)
        self.redo_button.setEnabled(True)


    def metric_rows(self) -> tuple[list[str], list[list[str]]]:
        """(headers, rows) of the metrics table as shown, unfolded (tests read the widget back)."""
        headers = header_texts(self.table)
        rows = unfold(headers, table_texts(self.table))
        return (headers[:2] if headers == ["metric", "value"] * 2 else headers), rows


class TestPanel(QWidget):
    """After a test: per-side bars (best and mean) with CV, and the LSI on its colour band."""

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        col = QVBoxLayout()
        self.title = _label("", size=16, wrap=True)
        col.addWidget(self.title)
        self.table = _table(["side", "reps", "best (N)", "mean (N)", "CV (%)"], [])
        col.addWidget(self.table)
        self.symmetry = SymmetryLabel()
        col.addWidget(self.symmetry)
        col.addStretch(1)
        self.change = _label("", role="muted", wrap=True)
        col.addWidget(self.change)
        self.since_last = _label("", wrap=True)
        self.since_last.setFont(big_font(13, False))
        col.addWidget(self.since_last)
        lay.addLayout(col, 3)
        self.bars = pg.PlotWidget(background=theme.plot_bg)
        self.bars.setMouseEnabled(x=False, y=False)
        self.bars.plotItem.setMenuEnabled(False)
        self.bars.plotItem.hideButtons()
        self.bars.plotItem.setLabel("left", "force", units="N")
        style_axes(self.bars, theme)
        lay.addWidget(self.bars, 2)

    def show_changes(self, lines: list[str]) -> None:
        """Each side's change since the patient's last session (with its MDC verdict)."""
        self.since_last.setText(("Since the last session:\n" + "\n".join(lines)) if lines else "")
        self.since_last.setVisible(bool(lines))

    def show_test(self, summary: Any, protocol: Any, body_mass_kg: float | None) -> None:
        self.title.setText(f"{summary.name} — results ({summary.status})")
        headers, rows = side_rows(summary, protocol)
        _table(headers, rows, self.table)
        fit_height(self.table)
        self.symmetry.show_symmetry(summary.symmetry, protocol, summary.kind)
        rel = summary.symmetry.get("relative_to_first_session")
        self.change.setText(
            f"Involved side vs first session ({rel.get('baseline_file')}): {rel['value_pct']:.1f} %"
            if rel and rel.get("value_pct") is not None else "")
        self.bars.clear()
        ticks = []
        for i, side in enumerate(s for s in ("left", "right", "both") if s in summary.sides):
            s = summary.sides[side]
            colour = side_colour(side)
            if s.best_n:
                self.bars.addItem(pg.BarGraphItem(x=[i - 0.18], height=[s.best_n], width=0.34, brush=colour))
            if s.mean_n:
                self.bars.addItem(pg.BarGraphItem(x=[i + 0.18], height=[s.mean_n], width=0.34, brush=pg.mkBrush(colour + "80"),
                                                  pen=pg.mkPen(colour, width=2)))
            cv = f"CV {s.cv_pct:.1f} %" if s.cv_pct is not None else ""
            ticks.append((i, f"{F.SIDE_NAME[side]}\nbest | mean\n{cv}"))
        self.bars.getAxis("bottom").setTicks([ticks])
        self.bars.getAxis("bottom").setHeight(80)


class CurrentPageStack(QStackedWidget):
    """A stack as big as its current page needs, not its biggest page (Qt's default): the pain
    question does not take the live trace's room because the after-test panel is tall."""

    def __init__(self) -> None:
        super().__init__()
        self.currentChanged.connect(lambda _i: self.updateGeometry())

    def sizeHint(self):  # type: ignore[no-untyped-def]  # noqa: N802 - Qt name
        w = self.currentWidget()
        return w.sizeHint() if w is not None else super().sizeHint()

    def minimumSizeHint(self):  # type: ignore[no-untyped-def]  # noqa: N802 - Qt name
        w = self.currentWidget()
        return w.minimumSizeHint() if w is not None else super().minimumSizeHint()


class SessionPage(QWidget):
    """The live trial page: step list, trace, cue, countdown and the big running peak; the
    after-trial and after-test panels below the trace; the clinician's notes."""

    notes_entered = Signal(str, bool)  # text, for the whole session (else the test in progress)

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 8, 12, 8)
        side = QVBoxLayout()
        self.patient = _label("", bold=True, wrap=True)
        side.addWidget(self.patient)
        self.steps = StepList()
        side.addWidget(self.steps, 1)
        lay.addLayout(side)

        main = QVBoxLayout()
        lay.addLayout(main, 1)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        self.test_title = _label("", size=20, wrap=True)
        self.step_title = _label("", size=16, wrap=True)
        self.cue = _label("", size=18, bold=True, wrap=True)
        self.setup = _label("", role="muted", wrap=True)
        self.setup.setMaximumHeight(70)
        titles.addWidget(self.test_title)
        titles.addWidget(self.step_title)
        titles.addWidget(self.cue)
        titles.addWidget(self.setup)
        head.addLayout(titles, 1)
        self.status = _label("", size=40, align=Qt.AlignmentFlag.AlignCenter)
        self.status.setMinimumWidth(340)
        head.addWidget(self.status)
        peak_box = QVBoxLayout()
        self.peak_caption = _label("peak", role="muted", align=Qt.AlignmentFlag.AlignRight)
        self.peak = _label("—", size=52, align=Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.peak.setMinimumWidth(300)
        self.peak.setTextFormat(Qt.TextFormat.RichText)
        peak_box.addWidget(self.peak_caption)
        peak_box.addWidget(self.peak)
        head.addLayout(peak_box)
        main.addLayout(head)

        self.saturation = _label("", size=20, role="warning", wrap=True, align=Qt.AlignmentFlag.AlignCenter)
        self.saturation.hide()
        main.addWidget(self.saturation)
        self.plot = LivePlot(foreground=theme.plot_fg, background=theme.plot_bg)
        self.plot.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.plot.setMinimumHeight(150)  # never squeezed to an unreadable strip by the panels below
        main.addWidget(self.plot, 5)

        self.panels = CurrentPageStack()
        self.empty = _label("", role="muted", align=Qt.AlignmentFlag.AlignCenter)
        self.trial_panel = TrialPanel(theme)
        self.test_panel = TestPanel(theme)
        self.pain_panel = QWidget()
        pl = QVBoxLayout(self.pain_panel)
        self.pain_question = _label("", size=22, align=Qt.AlignmentFlag.AlignCenter, wrap=True)
        pl.addWidget(self.pain_question)
        for w in (self.empty, self.trial_panel, self.test_panel, self.pain_panel):
            self.panels.addWidget(w)
        self.panels.setMinimumHeight(280)
        self.panels.currentChanged.connect(lambda _i: self._show_panels())
        main.addWidget(self.panels, 3)
        self.notes_box = QWidget()
        nl = QHBoxLayout(self.notes_box)
        nl.setContentsMargins(0, 4, 0, 0)
        nl.addWidget(_label("Note (N):"))
        self.notes = QLineEdit()
        self.notes.setPlaceholderText("clinician's note, stored in the session file — Enter saves, Esc cancels")
        self.notes.returnPressed.connect(self.enter_note)
        nl.addWidget(self.notes, 1)
        self.note_scope = QComboBox()
        self.note_scope.addItems(["for this test", "for the whole session"])
        self.note_scope.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        nl.addWidget(self.note_scope)
        self.note_button = QPushButton("Add note")
        self.note_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.note_button.clicked.connect(self.enter_note)
        nl.addWidget(self.note_button)
        main.addWidget(self.notes_box)
        self.notes_list = _label("", role="muted", wrap=True)
        self.notes_list.hide()
        main.addWidget(self.notes_list)
        self.added_notes: list[tuple[str, str]] = []  # (where, text) in the order added
        keys = _label("Space start/accept · R redo · S skip · T zero · 0–10 pain · N note · P patient view · Esc abort",
                      role="muted", align=Qt.AlignmentFlag.AlignCenter, wrap=True)
        main.addWidget(keys)

    # -- notes --------------------------------------------------------------------------------
    def focus_notes(self) -> None:
        if self.notes_box.isEnabled() and self.isVisible():
            self.notes.setFocus()

    def enter_note(self) -> None:
        text = self.notes.text().strip()
        if text:
            self.notes_entered.emit(text, self.note_scope.currentIndex() == 1)
        self.notes.clear()
        self.notes.clearFocus()  # the session keys work again

    def note_added(self, text: str, where: str) -> None:
        self.added_notes.append((where, text))
        self.notes_list.setText("Notes: " + " · ".join(f"[{w}] {t}" for w, t in self.added_notes[-4:]))
        self.notes_list.show()

    def reset_notes(self) -> None:
        self.added_notes.clear()
        self.notes_list.hide()
        self.notes_box.setEnabled(True)
        self.notes.clear()

    def show_saturation(self, text: str | None) -> None:
        """The live saturation strip above the trace (None hides it)."""
        self.saturation.setText(f"⚠  {text}" if text else "")
        self.saturation.setVisible(bool(text))

    def set_live(self, live: bool) -> None:
        """During a trial the trace takes the whole height; after it the result panels come back
        (when there is one to show: before the first result the trace keeps the room)."""
        self._live = live
        self._show_panels()

    def _show_panels(self) -> None:
        self.panels.setVisible(not getattr(self, "_live", False) and self.panels.currentWidget() is not self.empty)

    def set_status(self, text: str, colour: str | None = None) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {colour};" if colour else "")

    def set_peak(self, value: float | None, unit: str = "N", colour: str | None = None) -> None:
        self.peak.setFont(big_font(52))
        if value is None:
            self.peak.setText("—")
            colour = colour or status_colour("muted")  # no peak yet: a quiet dash, not a black bar
        else:
            self.peak.setText(f"{value:.2f} {unit}" if unit != "N" else f"{value:.0f} N")
        self.peak.setStyleSheet(f"color: {colour};" if colour else "")

    def set_peaks(self, values: dict[str, float], unit: str) -> None:
        """Two plates: each side's running peak in its colour, on two lines."""
        self.peak.setFont(big_font(34))
        self.peak.setStyleSheet("")
        lines = []
        for side, v in values.items():
            text = f"{v:.2f}" if unit != "N" else f"{v:.0f}"
            lines.append(f'<span style="color:{side_colour(side)}">{F.SIDE_CODE.get(side, side)} {text} {unit}</span>')
        self.peak.setText("<br>".join(lines))


class SummaryPage(QWidget):
    """Every test with its per-side table, LSI, pain ratings and notes; folder/report/export buttons."""

    open_folder = Signal()
    new_session = Signal()
    export_requested = Signal(str)  # "pdf" (report) or "csv"
    history_requested = Signal()

    def __init__(self, theme: Theme) -> None:
        super().__init__()
        self.theme = theme
        lay = QVBoxLayout(self)
        lay.setContentsMargins(24, 16, 24, 16)
        self.title = _label("Session summary", size=26)
        lay.addWidget(self.title)
        self.subtitle = _label("", role="muted", wrap=True)
        lay.addWidget(self.subtitle)
        self.session_notes = _label("", wrap=True)
        self.session_notes.hide()
        lay.addWidget(self.session_notes)
        self.tests_box = QVBoxLayout()
        lay.addLayout(self.tests_box, 1)
        buttons = QHBoxLayout()
        self.folder_button = QPushButton("Open session folder")
        self.folder_button.clicked.connect(self.open_folder.emit)
        self.report_button = QPushButton("Report (PDF)")
        self.export_button = QPushButton("Export (CSV)")
        self.report_button.setToolTip("write the PDF report next to the session file (station export --format pdf)")
        self.export_button.setToolTip("write the results as CSV next to the session file (station export --format csv)")
        self.report_button.clicked.connect(lambda: self.export_requested.emit("pdf"))
        self.export_button.clicked.connect(lambda: self.export_requested.emit("csv"))
        self.export_note = _label("", role="notice", wrap=True)
        self.export_note.hide()
        lay.addWidget(self.export_note)
        self.new_button = QPushButton("New session")
        self.new_button.clicked.connect(self.new_session.emit)
        self.history_button = QPushButton("Patient history  (Ctrl+H)")
        self.history_button.clicked.connect(self.history_requested.emit)
        for b in (self.folder_button, self.report_button, self.export_button, self.history_button, self.new_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        lay.addLayout(buttons)
        self.tables: dict[str, QTableWidget] = {}
        self.symmetry: dict[str, SymmetryLabel] = {}
        self.pain: dict[str, QLabel] = {}
        self.notes: dict[str, QLabel] = {}  # test → the clinician's notes
        self.changes: dict[str, QLabel] = {}  # test → change since the last session

    def show_changes(self, changes: dict[str, list[str]]) -> None:
        """Per test, each side's change since the patient's last session (MDC verdict words)."""
        for test, label in self.changes.items():
            lines = changes.get(test) or []
            label.setText(("Since the last session: " + "; ".join(lines)) if lines else
                          "Since the last session: no earlier session of this test")

    def show_summary(self, event: Any, protocols: dict[str, Any], body_mass_kg: float | None,
                     pains: dict[str, list[tuple[str, int]]], log: dict[str, list[str]],
                     notes: dict[str, list[str]] | None = None) -> None:
        """``log``: per test, what happened (rep added, zeroed); ``notes``: the clinician's notes
        per test ("" = the whole session), as stored in the session file."""
        notes = notes or {}
        while self.tests_box.count():
            item = self.tests_box.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.setParent(None)
        self.tables.clear()
        self.symmetry.clear()
        self.pain.clear()
        self.notes.clear()
        self.changes.clear()
        session_notes = notes.get("") or []
        self.session_notes.setText("Session notes: " + "; ".join(session_notes))
        self.session_notes.setVisible(bool(session_notes))
        status = event.status
        self.title.setText(f"Session summary — {status}")
        self.subtitle.setText(f"Session file: {event.path}" + (f"\n{event.error}" if event.error else ""))
        grid = QGridLayout()
        w = QWidget()
        w.setLayout(grid)
        for col, summary in enumerate(event.summaries):
            box = QGroupBox(f"{summary.name}  ({summary.status})")
            bl = QVBoxLayout(box)
            protocol = protocols.get(summary.protocol_id)
            headers, rows = side_rows(summary, protocol)
            t = _table(headers, rows)
            t.setFixedHeight(t.horizontalHeader().sizeHint().height() + 8 + sum(t.rowHeight(r) for r in range(t.rowCount())))
            bl.addWidget(t)
            sym = SymmetryLabel()
            sym.show_symmetry(summary.symmetry, protocol, summary.kind)
            bl.addWidget(sym)
            pain_text = ", ".join(f"{F.SIDE_CODE.get(s, s)} {v}/10" for s, v in pains.get(summary.test, []))
            pl = _label(f"Pain: {pain_text or 'not asked'}", wrap=True)
            bl.addWidget(pl)
            change = _label("Since the last session: …", wrap=True)
            bl.addWidget(change)
            self.changes[summary.test] = change
            note_text = "; ".join(notes.get(summary.test, []))
            if note_text:
                nl = _label(f"Notes: {note_text}", wrap=True)
                bl.addWidget(nl)
                self.notes[summary.test] = nl
            log_text = "; ".join(log.get(summary.test, []))
            if log_text:
                bl.addWidget(_label(f"Log: {log_text}", role="muted", wrap=True))
            self.tables[summary.test] = t
            self.symmetry[summary.test] = sym
            self.pain[summary.test] = pl
            grid.addWidget(box, col // 2, col % 2)
        if not event.summaries:
            grid.addWidget(_label("No test was completed.", role="muted"), 0, 0)
        self.tests_box.addWidget(w)
        self.tests_box.addStretch(1)
        self.folder_button.setEnabled(event.path is not None)
        for b in (self.report_button, self.export_button):
            b.setEnabled(event.path is not None)
        self.export_note.hide()


def divider() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    return line


__all__ = ["StartPage", "SessionPage", "SummaryPage", "table_texts", "LEFT", "RIGHT", "QCheckBox", "Path",
           "QFont"]
