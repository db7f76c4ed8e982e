"""The calibration wizard page: calibrate a channel with known loads, or verify it with one.

The page runs the library workflows of :mod:`station.calibration_workflow` (the same steps
as ``station calibrate`` and ``station calibration verify``) and only shows what their
events and state say: the live reading and whether it is steady, the step list with the
current step, the fit (gain, zero, r², residuals) with Save, and the verification's
PASS/FAIL against its tolerance.

Threads: the device is opened and closed, and records are saved, on short worker threads
(a port or a file is never touched on the GUI thread); their results come back through a
queued Qt signal. A QTimer polls the workflow, which only reads the collector's memory.

Keys: Enter starts / takes the reading, R redoes the previous step, Esc aborts (then goes
back to the start page), Ctrl+S saves the fit.
"""
from __future__ import annotations

import getpass
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from calibration import CalibrationStore
from station.calibration_workflow import (
    CalibrationSettings,
    CalibrationWorkflow,
    DeviceBack,
    DeviceLost,
    Failed,
    Fitted,
    FitSummary,
    Info,
    ReadingAccepted,
    ReadingRefused,
    StepShown,
    VerificationSettings,
    Verified,
    VerificationWorkflow,
    WorkflowEvent,
)
from station.errors import StationError
from station.gui.theme import AMBER, BOTH, GREEN, RED, Theme, big_font

#: The loads offered by default (kg): zero is added by the procedure.
DEFAULT_LOADS = "0,5,10,20,40"
PLOT_SECONDS = 10.0


def _label(text: str = "", *, size: int | None = None, bold: bool = False, role: str | None = None,
           wrap: bool = False) -> QLabel:
    w = QLabel(text)
    if size:
        w.setFont(big_font(size, bold))
    if role:
        w.setProperty("role", role)
    w.setWordWrap(wrap)
    return w


def _two(value: float) -> str:
    """Two decimals, without a minus sign on a zero ("-0.00")."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _set_table(table: QTableWidget, headers: list[str], rows: list[list[str]]) -> None:
    table.clear()
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter if c else
                                  Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)
    table.resizeColumnsToContents()


def table_rows(table: QTableWidget) -> list[list[str]]:
    """The texts of a table, row by row (tests and screenshots read what is shown)."""
    rows = []
    for r in range(table.rowCount()):
        cells = [table.item(r, c) for c in range(table.columnCount())]
        rows.append([item.text() if item is not None else "" for item in cells])
    return rows


def default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return ""


class _Relay(QObject):
    """Results of the worker threads, delivered on the GUI thread."""

    opened = Signal(object)   # (token, CalibrationDevice) or (token, error text)
    workflow_event = Signal(object)  # a workflow event (the save's Saved comes from its worker thread)
    saved = Signal(object)    # (token, text, ok)


class CalibrationPage(QWidget):
    """Calibrate or verify one device channel (see the module docstring).

    ``devices``: name → device URI offered in the list (the start page's devices and the
    simulators); ``calibration_dir_for(uri)``: the calibration folder for a device (None:
    the default folder). ``back`` is emitted when the operator leaves the page.
    """

    back = Signal()

    def __init__(self, theme: Theme, *, devices: dict[str, str] | None = None,
                 calibration_dir_for: Callable[[str], Path | None] | None = None) -> None:
        super().__init__()
        self.theme = theme
        self.calibration_dir_for = calibration_dir_for or (lambda uri: None)
        self.device: Any = None          # CalibrationDevice, opened on a worker thread
        self.workflow: CalibrationWorkflow | VerificationWorkflow | None = None
        self.store: CalibrationStore | None = None
        self.summary: FitSummary | None = None
        self.saved_paths: list[Path] = []
        self.log_lines: list[str] = []
        self._token = 0                  # which open/save request a worker's answer belongs to
        self._relay = _Relay()
        self._relay.opened.connect(self._on_opened)
        self._relay.saved.connect(self._on_saved)
        self._relay.workflow_event.connect(self.on_event)  # direct on the GUI thread, queued from a worker

        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 16, 24, 16)
        top = QHBoxLayout()
        self.title = _label("Calibration", size=26)
        top.addWidget(self.title)
        top.addStretch(1)
        self.back_button = QPushButton("◀  Back to the start page")
        self.back_button.clicked.connect(self.leave)
        top.addWidget(self.back_button)
        outer.addLayout(top)
        body = QHBoxLayout()
        outer.addLayout(body, 1)

        # -- setup -----------------------------------------------------------------------------
        left = QVBoxLayout()
        body.addLayout(left, 3)
        setup = QGroupBox("What to do")
        form = QFormLayout(setup)
        self.form = form
        mode_row = QHBoxLayout()
        self.calibrate_mode = QRadioButton("Calibrate")
        self.verify_mode = QRadioButton("Verify")
        self.calibrate_mode.setChecked(True)
        self._modes = QButtonGroup(self)
        self._modes.addButton(self.calibrate_mode)
        self._modes.addButton(self.verify_mode)
        mode_row.addWidget(self.calibrate_mode)
        mode_row.addWidget(self.verify_mode)
        mode_row.addStretch(1)
        self.calibrate_mode.toggled.connect(self._mode_changed)
        form.addRow("Task", mode_row)
        self.device_uri = QComboBox()
        self.device_uri.setEditable(True)
        self.device_uri.setMinimumWidth(300)
        self.device_uri.setToolTip("device URI, e.g. sfp:/dev/ttyUSB0 or sim:sfp?channels=4")
        self.device_uri.currentTextChanged.connect(self._show_uri_start)
        form.addRow("Device", self.device_uri)
        self.channel = QSpinBox()
        self.channel.setRange(0, 63)
        self.channel.setToolTip("channel to calibrate or verify (0-based, as the driver numbers it)")
        form.addRow("Channel", self.channel)
        self.plate = QCheckBox("whole plate: channels 0–3 (centre and corners)")
        self.plate.toggled.connect(lambda _on: self._mode_changed())
        form.addRow("", self.plate)
        self.loads = QLineEdit(DEFAULT_LOADS)
        self.loads.setToolTip("reference loads, comma-separated, at least 5 different ones (zero is added)")
        form.addRow("Known loads", self.loads)
        self.check_load = QDoubleSpinBox()
        self.check_load.setRange(0.1, 5000.0)
        self.check_load.setDecimals(2)
        self.check_load.setValue(20.0)
        form.addRow("Check load", self.check_load)
        self.unit = QComboBox()
        self.unit.addItems(["kg", "N"])
        form.addRow("Unit", self.unit)
        self.cycles = QSpinBox()
        self.cycles.setRange(1, 5)
        self.cycles.setToolTip("loading/unloading cycles (2 or more also gives repeatability)")
        form.addRow("Cycles", self.cycles)
        self.operator = QLineEdit(default_operator())
        form.addRow("Operator", self.operator)
        self.window_s = QDoubleSpinBox()
        self.window_s.setRange(0.1, 10.0)
        self.window_s.setDecimals(1)
        self.window_s.setSingleStep(0.1)
        self.window_s.setValue(1.0)
        self.window_s.setSuffix(" s")
        self.window_s.setToolTip("settle window: its readings are averaged and must be steady")
        form.addRow("Settle window", self.window_s)
        self.start_button = QPushButton("Start  ▶")
        self.start_button.setFont(big_font(16))
        self.start_button.clicked.connect(self.start)
        form.addRow("", self.start_button)
        left.addWidget(setup)

        steps_box = QGroupBox("Steps")
        sl = QVBoxLayout(steps_box)
        self.steps = QListWidget()
        self.steps.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.steps.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        sl.addWidget(self.steps)
        left.addWidget(steps_box, 1)

        # -- live, step, result ------------------------------------------------------------------
        right = QVBoxLayout()
        body.addLayout(right, 5)
        live_box = QGroupBox("Live reading")
        ll = QVBoxLayout(live_box)
        row = QHBoxLayout()
        self.reading = _label("—", size=40)
        self.reading.setMinimumWidth(320)
        self.raw = _label("", role="muted")
        self.stability = _label("", size=18)
        col = QVBoxLayout()  # the reading, its raw value and stability beside the trace: room for the result below
        col.addWidget(self.reading)
        col.addWidget(self.raw)
        col.addWidget(self.stability)
        col.addStretch(1)
        row.addLayout(col)
        ll.addLayout(row)
        self.plot = pg.PlotWidget()
        self.plot.setBackground(theme.plot_bg)
        self.plot.setMinimumHeight(170)
        self.plot.setLabel("bottom", "time", units="s")
        self.plot.setLabel("left", "reading")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMouseEnabled(x=False, y=False)
        self.curve = self.plot.plot(pen=pg.mkPen(BOTH, width=2))
        row.addWidget(self.plot, 1)
        right.addWidget(live_box, 2)

        step_box = QGroupBox("Now")
        stl = QVBoxLayout(step_box)
        self.prompt = _label("Choose the device and channel, then Start.", size=20, wrap=True)
        stl.addWidget(self.prompt)
        self.status = _label("", wrap=True)
        stl.addWidget(self.status)
        self.headings = _label("", role="muted", wrap=True)  # what is checked, the plan, notes
        stl.addWidget(self.headings)
        buttons = QHBoxLayout()
        self.take_button = QPushButton("Take reading  (Enter)")
        self.take_button.setFont(big_font(16))
        self.take_button.clicked.connect(self.take)
        self.redo_button = QPushButton("Redo previous step  (R)")
        self.redo_button.clicked.connect(self.redo)
        self.abort_button = QPushButton("Abort  (Esc)")
        self.abort_button.clicked.connect(self.abort)
        for b in (self.take_button, self.redo_button, self.abort_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        stl.addLayout(buttons)
        right.addWidget(step_box)

        result_box = QGroupBox("Result")
        rl = QVBoxLayout(result_box)
        head = QHBoxLayout()
        self.verdict = _label("", size=26)
        head.addWidget(self.verdict)
        self.check_note = _label("", role="muted")
        head.addWidget(self.check_note)
        head.addStretch(1)
        self.save_button = QPushButton("Save calibration  (Ctrl+S)")
        self.save_button.setFont(big_font(16))
        self.save_button.clicked.connect(self.save)
        head.addWidget(self.save_button)
        rl.addLayout(head)
        tables = QHBoxLayout()
        self.fit_table = QTableWidget()
        self.points_table = QTableWidget()
        for t in (self.fit_table, self.points_table):
            t.verticalHeader().setVisible(False)
            t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            t.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        tables.addWidget(self.fit_table, 2)
        tables.addWidget(self.points_table, 3)
        for t in (self.fit_table, self.points_table):
            t.setMinimumHeight(190)  # the fit's rows and the residuals readable without scrolling
        for t in (self.fit_table, self.points_table):
            t.horizontalHeader().setStretchLastSection(True)
        rl.addLayout(tables)
        self.saved_label = _label("", role="muted", wrap=True)
        rl.addWidget(self.saved_label)
        right.addWidget(result_box, 3)

        shortcuts: dict[str, Callable[[], None]] = {
            "Return": self.key_enter, "Enter": self.key_enter, "R": self.redo, "Escape": self.abort,
            "Ctrl+S": self.save,
        }
        self.shortcuts = []
        for key, slot in shortcuts.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
            self.shortcuts.append(sc)

        self.timer = QTimer(self)
        self.timer.setInterval(50)
        self.timer.timeout.connect(self.on_timer)
        self.set_devices(devices or {})
        self._mode_changed()
        self._buttons()

    # -- set up ------------------------------------------------------------------------------
    def set_devices(self, devices: dict[str, str]) -> None:
        """The URIs offered in the device list (name → URI; duplicates once)."""
        current = self.device_uri.currentText()
        self.device_uri.clear()
        seen: list[str] = []
        for uri in devices.values():
            if uri and uri not in seen:
                seen.append(uri)
        self.device_uri.addItems(seen)
        if current:
            self.device_uri.setEditText(current)

    def open_for(self, uri: str, *, verify: bool) -> None:
        """Show the page for ``uri`` in calibrate or verify mode (the start page's Verify button)."""
        if self.workflow is not None and self.workflow.active:
            return  # a workflow is running: the operator finishes or aborts it first
        if uri:
            if self.device_uri.findText(uri) < 0:
                self.device_uri.addItem(uri)
            self.device_uri.setCurrentText(uri)
        (self.verify_mode if verify else self.calibrate_mode).setChecked(True)
        self.plate.setChecked(verify and uri.startswith(("sfp:", "sim:sfp")))
        self._mode_changed()

    def _show_uri_start(self, _uri: str = "") -> None:
        """A long device URI shows its beginning (the device family), not its tail."""
        edit = self.device_uri.lineEdit()
        if edit is not None and not edit.hasFocus():
            edit.setCursorPosition(0)

    def _mode_changed(self) -> None:
        calibrate = self.calibrate_mode.isChecked()
        rows: list[tuple[QWidget, bool]] = [(self.loads, calibrate), (self.cycles, calibrate),
                                            (self.check_load, not calibrate), (self.plate, not calibrate)]
        for w, shown in rows:
            w.setEnabled(shown)
            self.form.setRowVisible(w, shown)
        self.channel.setEnabled(calibrate or not self.plate.isChecked())
        self.title.setText("Calibration" if calibrate else "Verification")
        self.save_button.setVisible(calibrate)

    @property
    def running(self) -> bool:
        return self.workflow is not None and self.workflow.active

    def start(self) -> None:
        """Open the chosen device (worker thread); the workflow starts once it is open."""
        if self.running or self.device is not None:
            return
        uri = self.device_uri.currentText().strip()
        if not uri:
            self._say("Choose a device first.", RED)
            return
        self._clear_result()
        self._token += 1
        token = self._token
        self._say(f"Opening {uri}…")
        self.start_button.setEnabled(False)

        def work() -> None:
            from station.calibration_device import CalibrationDevice

            try:
                device = CalibrationDevice(uri)
            except StationError as exc:
                self._relay.opened.emit((token, str(exc)))
                return
            except Exception as exc:  # noqa: BLE001 - shown on the page, never a crash
                self._relay.opened.emit((token, f"{uri}: {type(exc).__name__}: {exc}"))
                return
            self._relay.opened.emit((token, device))

        threading.Thread(target=work, name="calibration-open", daemon=True).start()

    def _on_opened(self, answer: tuple[int, Any]) -> None:
        token, device = answer
        if token != self._token or isinstance(device, str):
            if isinstance(device, str):
                self._say(device, RED)
            else:
                self._close_device(device)
            self.start_button.setEnabled(True)
            return
        self.device = device
        try:
            self.workflow = self._make_workflow(device)
        except (StationError, ValueError) as exc:
            self._say(str(exc), RED)
            self._close_device(device)
            self.device = None
            self.start_button.setEnabled(True)
            return
        self.workflow.subscribe(self._relay.workflow_event.emit)
        self._say("")
        self.headings.setText("")
        self.plot.setLabel("left", device.info.unit)
        self._fill_steps()
        self.workflow.start()
        self.timer.start()
        self._buttons()

    def _make_workflow(self, device: Any) -> CalibrationWorkflow | VerificationWorkflow:
        uri = device.text
        self.store = CalibrationStore(self.calibration_dir_for(uri))
        unit = self.unit.currentText()
        automatic = device.simulated  # the simulator places the loads at once: a short lead-in
        if self.calibrate_mode.isChecked():
            try:
                loads = [float(x) for x in self.loads.text().split(",") if x.strip()]
            except ValueError:
                raise StationError(f"known loads {self.loads.text()!r}: expected numbers separated by commas, "
                                   f"e.g. {DEFAULT_LOADS}") from None
            settings = CalibrationSettings(loads, unit=unit, cycles=self.cycles.value(),
                                           operator=self.operator.text().strip(), window_s=self.window_s.value(),
                                           automatic=automatic, notes=f"calibrated in the window with {uri}")
            return CalibrationWorkflow(device.readings(), self.channel.value(), settings, store=self.store,
                                       load=device.load, uri=uri)
        plate = self.plate.isChecked()
        channels = [0, 1, 2, 3] if plate else [self.channel.value()]
        vs = VerificationSettings(self.check_load.value(), unit=unit, plate=plate,
                                  operator=self.operator.text().strip(), window_s=self.window_s.value(),
                                  automatic=automatic)
        return VerificationWorkflow(device.readings(), channels, vs, store=self.store, load=device.load, uri=uri)

    def _fill_steps(self) -> None:
        self.steps.clear()
        wf = self.workflow
        labels: list[str] = []
        if isinstance(wf, CalibrationWorkflow):
            cycles = wf.settings.cycles
            labels = [f"{st.load_value:g} {st.load_unit}, {st.direction}" + (f" (cycle {st.cycle})" if cycles > 1 else "")
                      for st in wf.plan.steps]
        elif isinstance(wf, VerificationWorkflow):
            load = f"{wf.settings.load:g} {wf.settings.unit}"
            labels = ["zero (nothing on it)" if st.is_zero else f"{load} at the {st.position}" if st.position else load
                      for st in wf.proc.steps]
        for i, text in enumerate(labels, start=1):
            item = QListWidgetItem(f"{i}. {text}")
            item.setData(Qt.ItemDataRole.UserRole, "todo")
            self.steps.addItem(item)

    # -- commands ----------------------------------------------------------------------------
    def key_enter(self) -> None:
        if self.workflow is None or not self.workflow.active:
            if self.device is None and self.start_button.isEnabled():
                self.start()
            return
        self.take()

    def take(self) -> None:
        if self.workflow is not None and self.workflow.state == "ready":
            self.workflow.take()
            self.workflow.poll()
            self._buttons()

    def redo(self) -> None:
        wf = self.workflow
        if wf is not None and wf.state == "ready" and wf.step is not None and wf.step.can_redo:
            wf.redo_previous()
            wf.poll()
            self._buttons()

    def abort(self) -> None:
        """Esc: abort a running workflow (nothing saved); with none running, go back."""
        if self.running:
            assert self.workflow is not None
            self.workflow.abort()
            self.workflow.poll()
            self._finish_device()
            self.prompt.setText("Aborted; nothing saved.")
            self._buttons()
            return
        self.leave()

    def leave(self) -> None:
        if self.running:
            self.abort()
        self._finish_device()
        self.back.emit()

    def save(self) -> None:
        """Save the fitted calibration (worker thread)."""
        wf = self.workflow
        if not isinstance(wf, CalibrationWorkflow) or wf.record is None or wf.saved is not None:
            return
        self.save_button.setEnabled(False)
        self._save_async(wf)

    def _save_async(self, wf: CalibrationWorkflow | VerificationWorkflow) -> None:
        token = self._token

        def work() -> None:
            try:
                wf.save()
            except (StationError, OSError) as exc:
                self._relay.saved.emit((token, str(exc), False))
                return
            self._relay.saved.emit((token, "", True))

        threading.Thread(target=work, name="calibration-save", daemon=True).start()

    def _on_saved(self, answer: tuple[int, str, bool]) -> None:
        token, error, ok = answer
        wf = self.workflow
        if not ok:
            self._say(f"Not saved: {error}", RED)
            self.save_button.setEnabled(True)
            return
        if token != self._token or wf is None:
            return
        if isinstance(wf, CalibrationWorkflow) and wf.saved is not None:
            self.saved_paths = [wf.saved.path]
            extra = f" (previous record kept in {wf.saved.history_path.parent})" if wf.saved.history_path else ""
            self.saved_label.setText(f"Saved to {wf.saved.path}{extra}")
            self.verdict.setText("Saved ✓")
            self.prompt.setText("Calibration saved.")
            self.verdict.setStyleSheet(f"color: {GREEN};")
            self._say("Calibration saved. Verify it with a known load: choose Verify, then Start.", GREEN)
        elif isinstance(wf, VerificationWorkflow):
            self.saved_paths = list(wf.saved)
            self.saved_label.setText("Result saved into " + ", ".join(str(p) for p in wf.saved))
        self._buttons()

    # -- events and the timer ----------------------------------------------------------------
    def on_event(self, e: WorkflowEvent) -> None:
        self.log_lines.append(e.text)
        wf = self.workflow
        if isinstance(e, Info):
            self.headings.setText("\n".join(x for x in (self.headings.text(), e.text) if x))
        elif isinstance(e, StepShown) and e.step is not None:
            retry = "Again: " if e.step.retry else ""
            auto = "  [simulator: placed automatically]" if e.step.automatic else ""
            self.prompt.setText(f"{retry}{e.step.prompt}{auto}")
            self._mark_current(e.step.index - 1)
        elif isinstance(e, ReadingAccepted):
            self._say(e.text, GREEN)
            result = e.result
            if result is not None:
                self._mark_done(result.step.index, e.text)
        elif isinstance(e, ReadingRefused):
            self._say(f"Not steady: {e.text}. Hold still, then take the reading again.", AMBER)
        elif isinstance(e, DeviceLost):
            self._say(e.text, RED)
        elif isinstance(e, DeviceBack):
            self._say(e.text, GREEN)
        elif isinstance(e, Failed):
            self._say(e.text, RED)
            self.prompt.setText("Stopped; nothing saved.")
            self._finish_device()
        elif isinstance(e, Fitted) and e.summary is not None:
            self.summary = e.summary
            self._show_fit(e.summary)
            self.prompt.setText("All steps done. Check the fit, then Save.")
            self._finish_device()
        elif isinstance(e, Verified) and isinstance(wf, VerificationWorkflow) and wf.report is not None:
            self._show_verification(wf)
            self.prompt.setText("Check done; the result is saved into the record(s).")
            self._finish_device()
            self._save_async(wf)
        self._buttons()

    def on_timer(self) -> None:
        wf = self.workflow
        if wf is None:
            return
        if wf.active:
            wf.poll()
        self._show_live()
        self._buttons()

    def _show_live(self) -> None:
        wf = self.workflow
        if wf is None or self.device is None:
            return
        live = wf.live()
        if live is None:
            self.reading.setText("—")
            self.stability.setText("")
            return
        unit = self.device.info.unit if self.device.info is not None else "counts"
        if live.force_n is not None:
            estimated = isinstance(wf, CalibrationWorkflow) and wf.record is None and self.device.info.unit != "N"
            self.reading.setText(f"{'≈ ' if estimated else ''}{_two(live.force_n)} N")
            self.reading.setToolTip("estimated from the readings so far; the fit gives the calibrated value"
                                    if estimated else "")
            self.raw.setText(f"reading {live.value:.6g} {unit}, noise SD {live.sd:.3g}, drift {live.slope_per_s:+.3g}/s")
        else:
            self.reading.setText(f"{live.value:.6g} {unit}")
            self.raw.setText(f"noise SD {live.sd:.3g}, drift {live.slope_per_s:+.3g}/s "
                             "(newtons once zero and the first load give the sensitivity)")
        if live.steady is None:
            self.stability.setText("…")
            self.stability.setStyleSheet("")
        elif live.steady:
            self.stability.setText("● steady")
            self.stability.setStyleSheet(f"color: {GREEN};")
        else:
            self.stability.setText("● settling")
            self.stability.setStyleSheet(f"color: {AMBER};")
        self.stability.setToolTip(live.reason)
        values = wf.source.since(wf.clock.now() - PLOT_SECONDS)  # the newest 10 s
        if values.shape[0] > 1:
            series = values[:, wf.columns].sum(axis=1)
            step = max(1, series.size // 2000)  # a few thousand points are plenty for 10 s
            t = (np.arange(series.size)[::step] - series.size) / wf.rate_hz
            self.curve.setData(t, series[::step])

    # -- showing -----------------------------------------------------------------------------
    def _say(self, text: str, colour: str | None = None) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {colour}; font-weight: bold;" if colour else "")

    def _mark_current(self, row: int) -> None:
        if 0 <= row < self.steps.count():
            for i in range(self.steps.count()):
                item = self.steps.item(i)
                if i >= row and item.data(Qt.ItemDataRole.UserRole) == "done":
                    item.setData(Qt.ItemDataRole.UserRole, "todo")  # a redo discarded it
                    item.setText(item.text().split("  ✓")[0])
            self.steps.setCurrentRow(row)
            self.steps.scrollToItem(self.steps.item(row))

    def _mark_done(self, row: int, text: str) -> None:
        if 0 <= row < self.steps.count():
            item = self.steps.item(row)
            base = item.text().split("  ✓")[0]
            value = text.split(": ", 1)[1] if ": " in text else text
            value = value.split(" (SD")[0].split(", error")[0]
            item.setText(f"{base}  ✓ {value}")
            item.setData(Qt.ItemDataRole.UserRole, "done")

    def _show_fit(self, s: FitSummary) -> None:
        r2 = "—" if s.r_squared is None else f"{s.r_squared:.6f}"
        rows = [
            ["model", s.model],
            ["gain", f"{s.gain_n_per_count:.6g} N/count"],
            ["zero (offset)", f"{s.offset_counts:.6g} counts"],
            ["r²", r2],
            ["residual RMS", "—" if s.residual_rms_n is None else f"{s.residual_rms_n:.4f} N"],
            ["residual max", "—" if s.residual_max_n is None else f"{s.residual_max_n:.4f} N"],
        ]
        _set_table(self.fit_table, ["fit", "value"], rows)
        _set_table(self.points_table, ["load N", "direction", "residual N"],
                   [[f"{load:.2f}", d, "—" if r is None else f"{r:+.4f}"] for load, d, r in s.points])
        self.verdict.setText("Fitted — not saved yet")
        self.verdict.setStyleSheet("")

    def _show_verification(self, wf: VerificationWorkflow) -> None:
        report = wf.report
        assert report is not None
        rows = [[r.position or "check load", f"{r.reference_n:.2f}", f"{r.measured_n:.2f}",
                 f"{r.measured_n - r.reference_n:+.2f}", f"±{r.tolerance_n:.2f}", "PASS" if r.passed else "FAIL"]
                for r in report.results]
        _set_table(self.points_table, ["position", "reference N", "read N", "error N", "tolerance N", "result"], rows)
        self.fit_table.hide()
        self.check_note.setText(f"{wf.settings.load:g} {wf.settings.unit} ({wf.reference_n:.2f} N) on channel"
                                f"{'s' if len(wf.columns) > 1 else ''} {', '.join(str(c) for c in wf.columns)}, "
                                f"tolerance ±{wf.tolerance_n:.2f} N")
        self.verdict.setText("PASS" if report.passed else "FAIL")
        self.verdict.setStyleSheet(f"color: {GREEN if report.passed else RED};")

    def _clear_result(self) -> None:
        self.summary = None
        self.saved_paths = []
        self.log_lines = []
        self.verdict.setText("")
        self.check_note.setText("")
        self.fit_table.show()
        self.saved_label.setText("")
        for t in (self.fit_table, self.points_table):
            t.clear()
            t.setRowCount(0)
            t.setColumnCount(0)

    def _buttons(self) -> None:
        wf = self.workflow
        ready = wf is not None and wf.state == "ready"
        self.take_button.setEnabled(ready)
        step = wf.step if ready and wf is not None else None
        self.redo_button.setEnabled(bool(step is not None and step.can_redo))
        self.abort_button.setEnabled(self.running)
        idle = not self.running and self.device is None
        self.start_button.setEnabled(idle)
        inputs: list[QWidget] = [self.device_uri, self.channel, self.calibrate_mode, self.verify_mode, self.unit,
                                 self.operator, self.window_s]
        for w in inputs:
            w.setEnabled(idle)
        if idle:
            self._mode_changed()
        else:
            for w in (self.loads, self.cycles, self.check_load, self.plate):
                w.setEnabled(False)
        self.save_button.setEnabled(isinstance(wf, CalibrationWorkflow) and wf.record is not None
                                    and wf.saved is None)
        if wf is not None and wf.state == "reading":
            self.take_button.setText("Reading…")
        elif wf is not None and wf.state == "waiting_device":
            self.take_button.setText("Waiting for the device…")
        else:
            self.take_button.setText("Take reading  (Enter)")

    # -- device ------------------------------------------------------------------------------
    def _finish_device(self) -> None:
        """Stop the live reading and close the device (worker thread); the result stays shown."""
        self.timer.stop()
        device, self.device = self.device, None
        if device is not None:
            self._close_device(device)
            self.reading.setText("—")
            self.raw.setText("device closed (Start opens it again)")
            self.stability.setText("")

    @staticmethod
    def _close_device(device: Any) -> None:
        threading.Thread(target=device.close, name="calibration-close", daemon=True).start()

    def shutdown(self) -> None:
        """The window closes: abort and close the device."""
        if self.running and self.workflow is not None:
            self.workflow.abort()
            self.workflow.poll()
        self._finish_device()
