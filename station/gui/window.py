"""The main window: start page → live session → summary, keyboard control, unmissable warnings.

Threads: the session runs on the bridge's worker thread; its events arrive on that thread and
are re-emitted through :class:`EventRelay`'s Qt signal, so every widget is touched on the GUI
thread only. The GUI thread reads ring buffers on timers and never opens a port or a file.
"""
from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from protocols.model import Protocol
from station.gui import bridge as B
from station.gui import format as F
from station.gui.pages import SessionPage, StartPage, SummaryPage
from station.gui.patient_page import PatientPage
from station.gui.patient_view import PatientView
from station.gui.plot import TraceSource
from station.gui.theme import DARK, THEMES, Theme, apply_theme, side_colour, status_colour
from station.session.kinds import get_kind
from station.session.model import Patient
from station.session.setup import DeviceArg

TITLE = "Force Station"


#: how often an open window retries the clinic-store sync (queued sessions, others' results), ms
SYNC_RETRY_MS = 5 * 60 * 1000


class EventRelay(QObject):
    """Carries events from the session's thread to the GUI thread (queued signal)."""

    session_event = Signal(object)
    preview = Signal(object)
    patients = Signal(object)
    exported = Signal(str)
    ports = Signal(object)
    history = Signal(object)  # HistoryLoaded for the patient page
    sync_lines = Signal(object)  # lines of a background clinic-store sync (list[str])


def scan_patients(directory: Path) -> dict[str, dict[str, Any]]:
    """Patients of earlier session files in ``directory`` (run on a worker thread: it reads files)."""
    from station.storage.reader import summarize

    out: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.h5")):
        try:
            info = summarize(path)
        except Exception:  # noqa: BLE001 - unreadable files are simply not listed
            continue
        s = info.get("session") or {}
        pid = s.get("patient_id")
        if not pid:
            continue
        entry = out.setdefault(pid, {"sessions": 0})
        entry["sessions"] += 1
        created = info.get("created_utc") or ""
        if created >= entry.get("created_utc", ""):
            entry.update({k: s.get(k) for k in ("body_mass_kg", "involved_side", "lever_arm_m")}, created_utc=created)
    return out


def list_ports() -> list[str]:
    """Serial ports the OS lists (worker thread; nothing is opened)."""
    try:
        from serial.tools import list_ports as lp

        return sorted(p.device for p in lp.comports())
    except Exception:  # noqa: BLE001 - no port listing on this system: the URIs are typed instead
        return []


class MainWindow(QMainWindow):
    session_finished = Signal(str)

    def __init__(self, *, protocols: dict[str, Protocol], sessions_dir: Path, simulate: bool = False,
                 theme: str = "light", auto: B.SessionConfig | None = None, close_when_done: bool = False,
                 fast: bool = False, calibration_dir: Path | None = None, allow_uncalibrated: bool = False) -> None:
        super().__init__()
        self.setWindowTitle(f"{TITLE} — new session")
        self.protocols = protocols
        self.sessions_dir = sessions_dir
        self.simulate = simulate
        self.fast = fast
        self.calibration_dir = calibration_dir
        self.allow_uncalibrated = allow_uncalibrated
        self.close_when_done = close_when_done
        self.theme: Theme = THEMES[theme]
        self.relay = EventRelay()
        self.relay.session_event.connect(self.on_event)
        self.relay.preview.connect(self.on_preview)
        self.relay.patients.connect(self._known_patients)
        self.bridge: B.SessionBridge | None = None
        self.preview: B.DevicePreview | None = None
        self.preview_rows: dict[str, B.PreviewState] = {}
        self.opened: B.SessionOpened | None = None
        self.test: B.TestStarted | None = None
        self.awaiting: B.AwaitingStart | None = None
        self.phase = "idle"  # idle | ready | countdown | recording | trial_done | rest | pain | closed
        self.last_outcome: Any = None
        self.best: dict[tuple[str, str], float] = {}  # (test, side) → best peak so far (N)
        self.pains: dict[str, list[tuple[str, int]]] = {}
        self.notes: dict[str, list[str]] = {}  # test → what happened (rep added, zeroed on demand): the session log
        self.history_before: B.HistoryLoaded | None = None  # the patient's trend before this session
        self.history_after: B.HistoryLoaded | None = None  # … and with this session, once it is indexed
        self.warnings: list[tuple[str, str, bool]] = []  # (key, text, persistent)
        self.closed_event: B.SessionClosed | None = None
        self.exit_status = 0
        self._pain_digits = ""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        banner_row = QHBoxLayout()
        banner_row.setContentsMargins(12, 6, 12, 0)
        self.banner = QLabel("")
        self.banner.setProperty("role", "warning")
        self.banner.setWordWrap(True)
        self.banner.setFont(_font(16, True))
        self.banner_close = QPushButton("✕")
        self.banner_close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.banner_close.setToolTip("dismiss the warnings")
        self.banner_close.clicked.connect(self.clear_warnings)
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(self.banner_close)
        self.banner.hide()
        self.banner_close.hide()
        outer.addLayout(banner_row)
        self.stack = QStackedWidget()
        outer.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        uris = ({**B.SIMULATED_DEVICES, **{d.role: B.simulator_uri(d) for p in protocols.values() for d in p.devices}}
                if simulate else {})
        self.start_page = StartPage(protocols, uris)
        self.start_page.start_requested.connect(self.start_from_page)
        self.start_page.check_devices.connect(self.check_devices)
        self.start_page.zero_device.connect(self.zero_preview)
        self.session_page = SessionPage(self.theme)
        self.session_page.trial_panel.accept.connect(lambda: self.command("go"))
        self.session_page.trial_panel.redo.connect(lambda: self.command("redo"))
        self.session_page.notes_entered.connect(self.add_note)
        self.summary_page = SummaryPage(self.theme)
        self.summary_page.history_requested.connect(
            lambda: self.show_patient(self.opened.patient.patient_id if self.opened else ""))
        self.start_page.history_requested.connect(lambda: self.show_patient(self.start_page.patient.currentText().strip()))
        self.patient_page = PatientPage(self.theme)
        self.patient_page.back.connect(self.patient_back)
        self.relay.history.connect(self.on_patient_history)
        self._before_patient: QWidget | None = None
        self.summary_page.open_folder.connect(self.open_folder)
        self.summary_page.new_session.connect(self.new_session)
        self.summary_page.export_requested.connect(self.export)
        self.relay.exported.connect(self._exported)
        for page in (self.start_page, self.session_page, self.summary_page, self.patient_page):
            self.stack.addWidget(page)
        self._build_calibration_page(uris)
        self.session_page.plot.peaks_changed.connect(self.on_peaks)

        self.patient_view = PatientView()
        self.patient_view.shown_changed.connect(self._patient_view_shown)
        self._build_menu()
        self._build_shortcuts()
        self.statusBar().showMessage("simulated devices available (--simulate)" if simulate else "ready")

        self.poll = QTimer(self)
        self.poll.setInterval(100)
        self.poll.timeout.connect(self.on_poll)
        self.poll.start()
        self.resize(1500, 950)
        if auto is not None:
            QTimer.singleShot(0, lambda: self.start_session(auto))
        else:
            threading.Thread(target=lambda: self.relay.patients.emit(scan_patients(sessions_dir)),
                             name="patient-scan", daemon=True).start()
            threading.Thread(target=lambda: self.relay.ports.emit(list_ports()), name="port-scan", daemon=True).start()
        self.relay.ports.connect(self.start_page.set_ports)
        # offline first: queued sessions reach the clinic store by themselves while the window is
        # open (a worker thread; the GUI thread never waits on the network)
        self.sync_runs = 0
        self._sync_thread: threading.Thread | None = None
        self.relay.sync_lines.connect(self._sync_done)
        self.sync_timer = QTimer(self)
        self.sync_timer.setInterval(SYNC_RETRY_MS)
        self.sync_timer.timeout.connect(self.background_sync)
        self.sync_timer.start()
        QTimer.singleShot(0, self.background_sync)

    def background_sync(self) -> None:
        """One unattended sync of the sessions folder with the clinic store (if the config names
        one) on a worker thread; what it moved or why it failed goes to the status bar."""
        if self._sync_thread is not None and self._sync_thread.is_alive():
            return

        def run() -> None:
            from station.index.clinic_sync import retry_lines, retry_sync

            report = retry_sync(self.sessions_dir)
            self.relay.sync_lines.emit(retry_lines(report, self.sessions_dir) if report is not None else [])

        self._sync_thread = threading.Thread(target=run, name="clinic-sync-retry", daemon=True)
        self._sync_thread.start()

    def _sync_done(self, lines: list[str]) -> None:
        self.sync_runs += 1
        if lines:
            self.statusBar().showMessage(lines[0], 15000)

    def _known_patients(self, known: dict[str, dict[str, Any]]) -> None:
        self.start_page.set_known_patients(known)

    # -- the calibration page (station/gui/calibration_page.py) ----------------------------
    def _build_calibration_page(self, uris: dict[str, str]) -> None:
        from station.gui.calibration_page import CalibrationPage

        folders: dict[str, Path | None] = {}  # once per device: a simulator's folder is seeded only once

        def folder_for(uri: str) -> Path | None:
            if uri not in folders:
                folders[uri] = self._calibration_dir([DeviceArg(("calibration",), uri)])
            return folders[uri]

        self.calibration_page = CalibrationPage(self.theme, devices=uris, calibration_dir_for=folder_for)
        self.calibration_page.back.connect(self.close_calibration)
        self.stack.addWidget(self.calibration_page)
        self.start_page.verify_device.connect(
            lambda role: self.open_calibration(self.start_page.device_uris().get(role, ""), verify=True))
        tools = self.menuBar().addMenu("&Calibration")
        act = QAction("Calibrate or verify a device…", self)
        act.triggered.connect(lambda: self.open_calibration("", verify=False))
        tools.addAction(act)

    def open_calibration(self, uri: str, *, verify: bool) -> None:
        """Show the calibration page (not during a session); the window's session keys rest meanwhile."""
        if self.stack.currentWidget() is not self.start_page:
            return
        self.close_preview()  # the page opens the device itself
        self.calibration_page.set_devices({**self.start_page.device_uris(), **(
            dict(B.SIMULATED_DEVICES) if self.simulate else {})})
        self.calibration_page.open_for(uri, verify=verify)
        self.stack.setCurrentWidget(self.calibration_page)  # (its own keys: the window's rest, _sync_shortcuts)
        self.setWindowTitle(f"{TITLE} — calibration")

    def close_calibration(self) -> None:
        self.stack.setCurrentWidget(self.start_page)
        self.setWindowTitle(f"{TITLE} — new session")

    # -- menus and keys ---------------------------------------------------------------------
    def _build_menu(self) -> None:
        from PySide6.QtWidgets import QMenu

        session_menu = QMenu("&Session", self)  # first in the bar: Quit (Ctrl+Q) for keyboard users
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)  # a running session asks first (closeEvent)
        session_menu.addAction(quit_action)
        first = self.menuBar().actions()[0] if self.menuBar().actions() else None
        if first is not None:
            self.menuBar().insertMenu(first, session_menu)
        else:
            self.menuBar().addMenu(session_menu)
        view = self.menuBar().addMenu("&View")
        for name in THEMES:
            act = QAction(f"{name.capitalize()} theme", self)
            act.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            view.addAction(act)
        self.units_action = QAction("Forces in body weights (× BW)", self, checkable=True)
        self.units_action.toggled.connect(self._units_changed)
        view.addAction(self.units_action)
        pv = QAction("Patient view (second screen)", self, checkable=True)
        pv.setShortcut(QKeySequence("P"))
        pv.toggled.connect(lambda on: self.patient_view.setVisible(on))
        self.patient_view_action = pv
        view.addAction(pv)

    def _build_shortcuts(self) -> None:
        keys = {
            "Space": self.key_space, "R": lambda: self.command("redo"), "S": lambda: self.command("skip"),
            "T": lambda: self.command("tare"), "Escape": self.key_escape, "Return": self.key_enter,
            "N": self.session_page.focus_notes, "Ctrl+H": self.key_history,
        }
        self.session_keys: list[QShortcut] = []  # only on the live session page (see _sync_shortcuts)
        self.page_keys: list[QShortcut] = []     # Esc and Ctrl+H: every page but the calibration page
        for key, slot in keys.items():
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(slot)
            (self.page_keys if key in ("Escape", "Ctrl+H") else self.session_keys).append(sc)
        for d in range(10):
            sc = QShortcut(QKeySequence(str(d)), self)
            sc.activated.connect(lambda d=d: self.key_digit(d))
            self.session_keys.append(sc)
        self.start_keys: list[QShortcut] = []  # the start page: Ctrl+Enter starts the session
        for key in ("Ctrl+Return", "Ctrl+Enter"):
            sc = QShortcut(QKeySequence(key), self)
            sc.activated.connect(self.start_from_page)
            self.start_keys.append(sc)
        self.stack.currentChanged.connect(lambda _i: self._sync_shortcuts())
        self._sync_shortcuts()

    def _sync_shortcuts(self) -> None:
        """The session keys (Space, R, S, T, Enter, N, digits) act on the session page only, so on
        the start page Space ticks the protocol under the cursor and Enter presses the focused
        button; the calibration page has keys of its own, so none of the window's act there."""
        page = self.stack.currentWidget()
        for sc in self.session_keys:
            sc.setEnabled(page is self.session_page)
        for sc in self.page_keys:
            sc.setEnabled(page is not getattr(self, "calibration_page", None))
        for sc in self.start_keys:
            sc.setEnabled(page is self.start_page)

    def set_theme(self, name: str) -> None:
        self.theme = THEMES[name]
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, self.theme)
        self.session_page.plot.restyle(self.theme)
        for plot in (self.session_page.trial_panel.plot, self.session_page.test_panel.bars):
            plot.setBackground(self.theme.plot_bg)

    def _units_changed(self, on: bool) -> None:
        bw = self.opened.patient.body_mass_kg * F.STANDARD_GRAVITY if (
            on and self.opened and self.opened.patient.body_mass_kg) else None
        self.session_page.plot.set_body_weight(bw)
        if self.test is not None:
            self._configure_plot(self.test)

    # -- start ------------------------------------------------------------------------------
    def _calibration_dir(self, args: list[DeviceArg]) -> Path | None:
        """The calibration folder for ``args``. With ``--simulate`` the simulated plates need their
        factory records: they go to ``--calibration-dir`` when one was given, else to a folder of
        this window's own, and only where a channel has no record file yet (an existing file, such
        as a calibration made on the wizard page, is never replaced)."""
        sims = [a for a in args if a.uri.startswith("sim:")]
        if self.simulate and sims and (self.calibration_dir is not None or len(sims) == len(args)):
            if self.calibration_dir is not None:
                return B.simulator_calibration_dir(self.calibration_dir, sims)
            if self._tmp is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="force-station-sim-calibration-")
            return B.simulator_calibration_dir(Path(self._tmp.name), sims)
        return self.calibration_dir

    def check_devices(self) -> None:
        self.close_preview()
        uris = self.start_page.device_uris()
        if not uris:
            self.start_page.show_message("Tick a protocol first: the devices follow from its roles.")
            return
        args = [DeviceArg((role,), uri) for role, uri in uris.items() if uri]
        for row in self.start_page.device_rows.values():
            row.set_status("idle")
            row.reading.setText("…")
        self.preview = B.DevicePreview(args, calibration_dir=self._calibration_dir(args),
                                       allow_uncalibrated=self.allow_uncalibrated, emit=self.relay.preview.emit)
        self.preview.start()

    def on_preview(self, states: list[B.PreviewState]) -> None:
        self.preview_rows = {s.role: s for s in states}
        for s in states:
            row = self.start_page.device_rows.get(s.role)
            if row is None:
                continue
            row.set_status("ok" if s.ok else "error")
            row.zero.setEnabled(s.ok)
            if s.ok:
                row.set_calibration(s.calibration)
                row.light.setToolTip(s.message)
                row.description.setText(s.message)
            else:
                row.calibration.setText(s.message)
                row.reading.setText("—")

    def zero_preview(self, role: str) -> None:
        if self.preview is not None:
            self.preview.zero(role)

    def close_preview(self) -> None:
        if self.preview is not None:
            self.preview.close()
            self.preview = None
            self.preview_rows = {}

    def start_from_page(self) -> None:
        sp = self.start_page
        pid = sp.patient.currentText().strip()
        ids = sp.selected_protocols()
        if not pid:
            sp.show_message("Enter or pick a patient id.")
            return
        if not ids:
            sp.show_message("Tick at least one protocol.")
            return
        uris = sp.device_uris()
        missing = [r for r, u in uris.items() if not u]
        if missing:
            sp.show_message(f"No device for {', '.join(missing)}.")
            return
        protocols = [self.protocols[i] for i in ids]
        patient = Patient(pid, body_mass_kg=sp.body_mass.value(), involved_side=sp.involved.currentText(),  # type: ignore[arg-type]
                          lever_arm_m=sp.lever_arm.value() or None)
        args = [DeviceArg((role,), uri) for role, uri in uris.items()]
        config = B.SessionConfig(protocols=protocols, patient=patient, device_args=args, out_dir=self.sessions_dir,
                                 countdown_s=1.0 if self.fast else None, rest_s=1.0 if self.fast else None,
                                 ask_pain=True, allow_uncalibrated=self.allow_uncalibrated,
                                 session_attrs={"mode": "window"})
        self.start_session(config)

    def start_session(self, config: B.SessionConfig) -> None:
        self.close_preview()
        if config.calibration_dir is None:
            config.calibration_dir = self._calibration_dir(config.device_args)
        self.stack.setCurrentWidget(self.session_page)
        self.session_page.set_status("Opening devices…")
        self.session_page.patient.setText(
            f"Patient {config.patient.patient_id}\n{F.fmt(config.patient.body_mass_kg, '.1f', 'kg')} · "
            f"involved {config.patient.involved_side}")
        self.phase = "opening"
        self.bridge = B.SessionBridge(config, self.relay.session_event.emit)
        self.bridge.feedback_visible = self.patient_view.isVisible()
        self.bridge.start()

    # -- commands ---------------------------------------------------------------------------
    def command(self, name: str, value: Any = None) -> None:
        """Send a command to the session; the engine ignores what means nothing in its state."""
        b = self.bridge
        if b is None or self.phase in ("closed", "opening", "idle"):
            return
        if name == "pain" and self.phase != "pain":
            return
        b.send(name, value)
        if name in ("go", "skip") and self.phase == "ready":
            self.clear_warnings(keep_persistent=True)

    def key_space(self) -> None:
        """Space: start the trial (ready), end the rest early, stop the recording, or skip the pain question."""
        if self.phase in ("ready", "rest", "paused"):
            self.command("go")
        elif self.phase in ("countdown", "recording"):
            self.command("stop_trial")
        elif self.phase == "pain":
            self.command("pain", None)
            self.phase = "trial_done"

    def key_enter(self) -> None:
        if self.session_page.notes.hasFocus():  # the window's Return shortcut comes before the field's own
            self.session_page.enter_note()
        elif self.phase == "pain":
            self._commit_pain()
        elif self.phase == "ready":
            self.command("go")

    def key_digit(self, d: int) -> None:
        if self.phase != "pain":
            return
        if self._pain_digits == "1" and d != 0:  # "1" then not "0": the 1 stands, the new key is ignored
            self._commit_pain()
            return
        self._pain_digits += str(d)
        if self._pain_digits == "1":
            QTimer.singleShot(900, self._commit_pain)  # wait for the 0 of a 10
            self.session_page.pain_question.setText(self._pain_prompt + "\n\n1 …")
            return
        self._commit_pain()

    def _commit_pain(self) -> None:
        if self.phase != "pain" or not self._pain_digits:
            return
        value = min(int(self._pain_digits), 10)
        self._pain_digits = ""
        if self.test is not None and self.last_outcome is not None:
            self.pains.setdefault(self.test.test, []).append((self.last_outcome.side, value))
        self.command("pain", value)
        self.session_page.pain_question.setText(f"Pain {value}/10 recorded")
        self.phase = "trial_done"

    def confirm_abort(self) -> None:
        if self.bridge is None or self.phase in ("closed", "idle"):
            return
        box = QMessageBox(QMessageBox.Icon.Warning, TITLE, "Abort the session?\n\nThe trial in progress is kept and "
                          "marked aborted; the session file is closed with status aborted.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)
        self.abort_dialog = box
        if box.exec() == QMessageBox.StandardButton.Yes:
            self.bridge.send("abort")
            self.session_page.set_status("Aborting…")

    # -- events -----------------------------------------------------------------------------
    def on_event(self, e: Any) -> None:  # noqa: C901 - one dispatch
        page = self.session_page
        if isinstance(e, B.SessionOpened):
            self.opened = e
            self.setWindowTitle(f"{TITLE} — {e.patient.patient_id} — {e.path.name}")
            self.statusBar().showMessage(f"recording to {e.path}")
            for w in e.warnings:
                self.warn("calibration", f"Calibration: {w}", persistent=True)
            page.plot.start()
        elif isinstance(e, B.TestStarted):
            self.test = e
            page.steps.add_test(e.test, e.protocol.name, e.plan)
            page.test_title.setText(f"Test {e.index}: {e.protocol.name}")
            setup = " ".join(e.protocol.cues.setup.split())
            first = setup.split(". ")[0].rstrip(".")
            page.setup.setText(first + (". …" if len(first) < len(setup) - 1 else "."))
            page.setup.setToolTip(setup)
            self._configure_plot(e)
        elif isinstance(e, B.AwaitingStart):
            self.awaiting = e
            self.phase = "ready"
            self._show_step(e.test, e.side, e.rep, e.attempt)
            page.set_status("Ready", None)
            page.set_live(False)
            page.show_saturation(None)
            page.cue.setText(e.cue)
            page.plot.disarm()
            page.plot.clear_markers()
            page.set_peak(None)
            if page.panels.currentWidget() is page.pain_panel:
                page.panels.setCurrentWidget(page.trial_panel)
        elif isinstance(e, B.TrialStarting):
            a = self.awaiting
            if a is None or (a.test, a.side, a.rep, a.attempt) != (e.test, e.side, e.rep, e.attempt):
                self._show_step(e.test, e.side, e.rep, e.attempt)  # a redo: the previous step again
        elif isinstance(e, B.Countdown):
            self.phase = "countdown"
            page.set_live(True)
            page.set_status(f"{e.seconds_left:.0f}" if e.seconds_left >= 0.5 else "…", status_colour("muted"))
        elif isinstance(e, B.Recording):
            if self.phase != "recording":
                self.phase = "recording"
                page.plot.arm(e.cue_host_s)
                page.set_peak(0.0)
            left = max(0.0, e.duration_s - e.elapsed_s)
            word = get_kind(self.test.protocol.kind).live_word if self.test else "Go!"
            page.set_status(f"{word}  {left:.0f}", status_colour("ok"))
            page.plot.set_onset(e.live.onset_t_s)
        elif isinstance(e, B.TrialRecorded) and e.outcome.status == "rejected":
            page.steps.mark_rejected(e.outcome.test, e.outcome.trial)
            self.statusBar().showMessage(f"trial {e.outcome.trial} rejected (redo): recording it again", 8000)
        elif isinstance(e, B.TrialRecorded):
            self.phase = "trial_done"
            page.set_live(False)
            o = e.outcome
            self.last_outcome = o if o.status != "skipped" else None
            page.steps.mark(o)
            page.plot.disarm()
            page.set_status("Done" if o.status == "complete" else o.status.capitalize(),
                            status_colour("ok" if o.status == "complete" else "bad"))
            if o.status != "skipped" and self.test is not None:
                page.trial_panel.show_trial(e, self.test.protocol,
                                            self.opened.patient.body_mass_kg if self.opened else None)
                page.panels.setCurrentWidget(page.trial_panel)
                self._remember_best(o)
            if o.status == "interrupted":
                self.warn("interrupted", f"Trial {o.trial} ({o.side} rep {o.rep}) interrupted: "
                          f"{'; '.join(o.flags) or 'device problem'} — samples kept, the rep will be repeated")
            if F.saturated(o.flags):
                self.warn("saturation", f"SATURATION in trial {o.trial} ({o.side} rep {o.rep}): "
                          f"{'; '.join(f for f in o.flags if F.saturated([f]))} — the peak may be under-read: "
                          "redo it (R) with less load on that cell, or calibrate to a higher load")
        elif isinstance(e, B.Resting):
            self.phase = "rest" if self.phase != "pain" else "pain"
            if self.phase == "rest":
                m, s = divmod(int(round(e.seconds_left)), 60)
                page.set_status(f"Rest {m}:{s:02d}", status_colour("info"))
        elif isinstance(e, B.PainAsked):
            self.phase = "pain"
            self._pain_digits = ""
            self._pain_prompt = f"Pain during the {e.side} trial? Press 0–10 (Space: not asked)"
            page.pain_question.setText(self._pain_prompt)
            page.panels.setCurrentWidget(page.pain_panel)
        elif isinstance(e, B.TestDone):
            page.set_live(False)
            page.test_panel.show_test(e.summary, e.protocol, self.opened.patient.body_mass_kg if self.opened else None)
            page.test_panel.show_changes(self.changes_before(e.summary))
            page.panels.setCurrentWidget(page.test_panel)
        elif isinstance(e, B.Info):
            if "one more rep" in e.text:
                self.warn("redo", f"Rep flagged: {e.text}")
                if self.test is not None:
                    self.notes.setdefault(self.test.test, []).append(e.text)
            elif e.text.startswith("zeroed on demand"):
                self.statusBar().showMessage(e.text, 8000)
                if self.test is not None:
                    self.notes.setdefault(self.test.test, []).append(e.text)
            else:
                self.statusBar().showMessage(e.text, 8000)
        elif isinstance(e, B.DeviceWarning):
            self.on_device_warning(e)
        elif isinstance(e, B.Saturated):
            page.show_saturation(f"SATURATION — {e.text}")
            self.warn(f"saturation:{e.device_id}:{e.channel}", f"SATURATION live: {e.text} — the peak may be under-read")
        elif isinstance(e, B.HistoryLoaded):
            self.on_history(e)
        elif isinstance(e, B.SessionClosed):
            self.on_closed(e)

    def on_device_warning(self, e: B.DeviceWarning) -> None:
        if e.kind == "disconnected":
            self.warn(f"disconnect:{e.device_id}", f"Device {e.device_id} DISCONNECTED — the trial is kept and marked "
                      "interrupted; reconnecting… (check the cable)", persistent=True)
        elif e.kind == "reconnected":
            self.drop_warning(f"disconnect:{e.device_id}")
            for key in [w[0] for w in self.warnings if w[0].startswith("paused:") and e.device_id in w[0]]:
                self.drop_warning(key)
            self.warn(f"reconnect:{e.device_id}", f"Device {e.device_id} reconnected ({e.message})")
        elif e.kind == "lost":
            self.warn(f"lost:{e.device_id}", f"Samples lost on {e.device_id}: {e.message}", persistent=True)
        elif e.kind == "paused":
            self.phase = "paused"
            self.warn(f"paused:{e.device_id}", f"Session paused: {e.message} — it goes on when the device is back "
                      "(S skips the trial, Esc aborts)", persistent=True)
            self.session_page.set_status("Paused", status_colour("bad"))
        elif e.kind in ("failed", "health"):
            self.warn(f"{e.kind}:{e.device_id}", f"{e.device_id}: {e.message}", persistent=e.kind == "failed")
        elif e.kind in ("overflow", "error"):
            self.warn(f"{e.kind}:{e.device_id}", f"{e.device_id}: {e.kind}: {e.message}")

    def on_closed(self, e: B.SessionClosed) -> None:
        self.phase = "closed"
        self.closed_event = e
        self.session_page.plot.stop()
        if e.status == "failed" and not e.summaries:
            self.exit_status = 2
            self.stack.setCurrentWidget(self.start_page)
            self.start_page.show_message(f"Could not start: {e.error}")
            self.warn("failed", f"Could not start the session: {e.error}")
            self.session_finished.emit(e.status)
            if self.close_when_done:
                QTimer.singleShot(0, self.close)
            return
        self.exit_status = 0 if e.status == "complete" else 1
        protocols = {p.id: p for p in (self.opened.protocols if self.opened else ())}
        self.summary_page.show_summary(e, protocols, self.opened.patient.body_mass_kg if self.opened else None,
                                       self.pains, self.notes, self.bridge.notes if self.bridge else {})
        self.session_page.notes_box.setEnabled(False)
        if self.history_after is not None:
            self.on_history(self.history_after)
        self.stack.setCurrentWidget(self.summary_page)
        self.setWindowTitle(f"{TITLE} — summary — {e.path.name if e.path else ''}")
        self.session_finished.emit(e.status)
        if self.close_when_done:
            QTimer.singleShot(1500, self.close)

    # -- helpers ----------------------------------------------------------------------------
    def _configure_plot(self, e: B.TestStarted) -> None:
        if self.opened is None:
            return
        sources = []
        for side in (s for s in ("left", "right") if s in e.sides):
            device_id, channels = e.sides[side]
            d = self.opened.devices[device_id]
            label = F.SIDE_NAME[side] if len({v for v in e.sides.values()}) > 1 else d.device_id
            sources.append(TraceSource(label, d.ring, channels, side_colour(side) if label != d.device_id else side_colour("both"),
                                       d.rate_hz))
            if label == d.device_id:
                break
        self.session_page.plot.set_sources(sources)

    def _show_step(self, test: str, side: str, rep: int, attempt: int) -> None:
        """The step about to run: highlighted in the step list, its title in its side's colour,
        the trace in that colour and the target at this side's best so far."""
        page = self.session_page
        page.steps.current_step(test, side, rep, attempt)
        page.step_title.setText(f"{F.SIDE_NAME.get(side, side)} · rep {rep}"
                                + (f" · attempt {attempt}" if attempt > rep else ""))
        page.step_title.setStyleSheet(f"color: {side_colour(side)};")
        if self.test is not None and len(page.plot.sources) == 1 and side in ("left", "right"):
            page.plot.recolour(0, side_colour(side), f"{F.SIDE_NAME[side]} ({page.plot.sources[0].label})")
        self._set_target(test, side)

    def _remember_best(self, o: Any) -> None:
        if o.status != "complete":
            return
        r = o.results
        if o.side == "both":
            for s in ("left", "right"):
                per = r.get(s) if isinstance(r.get(s), dict) else (r.get("per_side") or {}).get(s) or {}
                if per.get("peak_force_n"):
                    key = (o.test, s)
                    self.best[key] = max(self.best.get(key, 0.0), per["peak_force_n"])
        elif o.peak_force_n:
            key = (o.test, o.side)
            self.best[key] = max(self.best.get(key, 0.0), o.peak_force_n)

    def _set_target(self, test: str, side: str) -> None:
        best = self.best.get((test, side)) if side != "both" else None
        self.session_page.plot.set_target(best, f"best {F.SIDE_CODE.get(side, side)}")
        self._target_n = best

    def on_peaks(self, peaks: dict[str, float]) -> None:
        if not peaks:
            return
        bw = self.session_page.plot.body_weight_n
        label, value = max(peaks.items(), key=lambda kv: kv[1])
        side = self.awaiting.side if self.awaiting else "both"
        if len(peaks) > 1:
            self.session_page.set_peaks({k.lower(): (v / bw if bw else v) for k, v in peaks.items()},
                                        "× BW" if bw else "N")
            return
        self.session_page.set_peak(value / bw if bw else value, "× BW" if bw else "N", side_colour(side))

    def on_poll(self) -> None:
        if self.bridge is not None:
            for w in self.bridge.poll_device_events():
                self.on_device_warning(w)
        for role, s in self.preview_rows.items():
            row = self.start_page.device_rows.get(role)
            if row is None or s.ring is None:
                continue
            t, v = s.ring.latest(max(1, int(s.rate_hz * 0.1)))
            if v.size:
                finite = v[:, ~(v != v).any(axis=0)] if v.ndim == 2 else v
                # (rounded first, then + 0.0: a reading at rest shows 0.0, not -0.0)
                row.reading.setText(f"{round(float(finite.sum(axis=1).mean()), 1) + 0.0:.1f} N" if finite.size
                                    else "no calibration")
        if self.patient_view.isVisible() and self.opened is not None and self.session_page.plot.sources:
            src = self.session_page.plot.sources[0]
            _, v = src.ring.latest(1)
            force = float(v[0, list(src.channels)].sum()) if v.size else 0.0
            peak = max(self.session_page.plot.peaks.values()) if self.session_page.plot.peaks else None
            colour = side_colour(self.awaiting.side, DARK) if self.awaiting is not None else src.colour  # a dark view
            self.patient_view.bar.set_values(force, peak, getattr(self, "_target_n", None), colour,
                                             self.session_page.step_title.text())

    def _patient_view_shown(self, shown: bool) -> None:
        if self.bridge is not None:
            self.bridge.feedback_visible = shown
        if self.patient_view_action.isChecked() != shown:
            self.patient_view_action.setChecked(shown)

    def warn(self, key: str, text: str, *, persistent: bool = False) -> None:
        self.warnings = [(k, t, p) for k, t, p in self.warnings if k != key] + [(key, text, persistent)]
        self._show_warnings()
        QApplication.beep()

    def drop_warning(self, key: str) -> None:
        self.warnings = [w for w in self.warnings if w[0] != key]
        self._show_warnings()

    def clear_warnings(self, keep_persistent: bool = False) -> None:
        self.warnings = [w for w in self.warnings if keep_persistent and w[2]]
        self._show_warnings()

    def _show_warnings(self) -> None:
        text = "\n".join(f"⚠  {w[1]}" for w in self.warnings)
        self.banner.setText(text)
        self.banner.setVisible(bool(text))
        self.banner_close.setVisible(bool(text))

    def warning_texts(self) -> list[str]:
        return [w[1] for w in self.warnings]

    def open_folder(self) -> None:
        e = self.closed_event
        if e is not None and e.path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(e.path.parent.resolve())))

    def export(self, fmt: str, force: bool = False) -> None:
        """Report (PDF) or CSV next to the session file, written by a worker thread (station.export)."""
        e = self.closed_event
        if e is None or e.path is None:
            return
        path = e.path
        target = path.with_suffix(".pdf" if fmt == "pdf" else ".csv")
        self.summary_page.report_button.setEnabled(False)
        self.summary_page.export_button.setEnabled(False)

        def work() -> None:
            from station.errors import UserError
            from station.export import export

            notes: list[str] = []
            try:
                if target.exists() and not force:
                    self.relay.exported.emit(f"exists:{fmt}:{target}")
                    return
                written = export([path], {fmt: target}, force=force, session_dir=path.parent, notes=notes)
                self.relay.exported.emit("Written: " + ", ".join(str(w) for w in written)
                                         + "".join(f"\n{n}" for n in notes))
            except UserError as exc:
                self.relay.exported.emit(f"Export failed: {exc}")
            except Exception as exc:  # noqa: BLE001 - shown, never a crash of the window
                self.relay.exported.emit(f"Export failed: {type(exc).__name__}: {exc}")

        threading.Thread(target=work, name="export", daemon=True).start()

    def _exported(self, text: str) -> None:
        sp = self.summary_page
        if text.startswith("exists:"):
            _, fmt, target = text.split(":", 2)
            sp.report_button.setEnabled(True)
            sp.export_button.setEnabled(True)
            if QMessageBox.question(self, TITLE, f"{target} exists. Replace it?") == QMessageBox.StandardButton.Yes:
                self.export(fmt, force=True)
            return
        sp.export_note.setText(text)
        sp.export_note.show()
        sp.report_button.setEnabled(True)
        sp.export_button.setEnabled(True)

    # -- notes, history and the patient page ----------------------------------------------------
    def add_note(self, text: str, whole_session: bool) -> None:
        """The clinician's note: for the test in progress (or the whole session), into the file."""
        test = None if whole_session or self.test is None else self.test.test
        if self.bridge is not None and self.bridge.add_note(text, test):
            where = "the session" if test is None else (self.test.protocol.name if self.test else test)
            self.session_page.note_added(text, where)
        else:
            self.statusBar().showMessage("the note was not stored: no session is open", 8000)

    def changes_before(self, summary: Any) -> list[str]:
        """Each side's change since the last session, from the trend read before this session."""
        h = self.history_before
        pt = h.trend.protocol(summary.protocol_id) if h is not None and h.trend is not None else None
        if pt is None:
            return []
        out = []
        for side in ("left", "right"):
            s = summary.sides.get(side)
            ch = F.change_since_last(pt, side, best_now_n=s.best_n if s else None)
            if ch is not None:
                out.append(ch.text)
        return out

    def on_history(self, e: B.HistoryLoaded) -> None:
        if not e.final:
            self.history_before = e
            return
        self.history_after = e
        closed = self.closed_event
        if closed is None or e.trend is None:
            return
        changes: dict[str, list[str]] = {}
        for summary in closed.summaries:
            pt = e.trend.protocol(summary.protocol_id)
            lines = []
            for side in ("left", "right"):
                ch = F.change_since_last(pt, side, session_id=e.session_id) if pt is not None else None
                if ch is not None:
                    lines.append(ch.text)
            changes[summary.test] = lines
        self.summary_page.show_changes(changes)

    def show_patient(self, patient_id: str) -> None:
        """The patient page: the trend per protocol, read from the index on a worker thread."""
        if not patient_id:
            self.start_page.show_message("Enter or pick a patient id to see the history.")
            return
        if self.stack.currentWidget() is not self.patient_page:
            self._before_patient = self.stack.currentWidget()
        self.patient_page.show_loading(patient_id)
        self.stack.setCurrentWidget(self.patient_page)
        directory = self.sessions_dir
        threading.Thread(target=lambda: self.relay.history.emit(B.history_event(directory, patient_id)),
                         name="patient-history", daemon=True).start()

    def on_patient_history(self, e: B.HistoryLoaded) -> None:
        if e.patient_id != self.patient_page.patient_id:
            return
        self.patient_page.show_trend(e.patient_id, e.trend, self.protocols, e.error)

    def patient_back(self) -> None:
        self.stack.setCurrentWidget(self._before_patient or self.start_page)

    def key_escape(self) -> None:
        if self.stack.currentWidget() is self.patient_page:
            self.patient_back()
        elif self.session_page.notes.hasFocus():
            self.session_page.notes.clear()
            self.session_page.notes.clearFocus()
        else:
            self.confirm_abort()

    def key_history(self) -> None:
        if self.stack.currentWidget() is self.summary_page and self.opened is not None:
            self.show_patient(self.opened.patient.patient_id)
        elif self.stack.currentWidget() is self.start_page:
            self.show_patient(self.start_page.patient.currentText().strip())

    def new_session(self) -> None:
        self.bridge = None
        self.history_before = self.history_after = None
        self.session_page.reset_notes()
        self.opened = self.test = self.awaiting = self.closed_event = None
        self.phase = "idle"
        self.best.clear()
        self.pains.clear()
        self.session_page.steps.clear()
        self.clear_warnings()
        self.stack.setCurrentWidget(self.start_page)
        self.setWindowTitle(f"{TITLE} — new session")

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]  # noqa: N802 - Qt name
        if self.bridge is not None and self.phase not in ("closed",):
            answer = QMessageBox.question(self, TITLE, "A session is running. Abort it and close the window?\n"
                                          "The file is kept, status aborted.") if not self.close_when_done else \
                QMessageBox.StandardButton.Yes
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.bridge.send("abort")
            self.bridge.closed.wait(30)
        self.close_preview()
        self.calibration_page.shutdown()
        self.patient_view.close()
        if self._tmp is not None:
            self._tmp.cleanup()
        super().closeEvent(event)


def _font(size: int, bold: bool = False):  # type: ignore[no-untyped-def]
    from station.gui.theme import big_font

    return big_font(size, bold)
