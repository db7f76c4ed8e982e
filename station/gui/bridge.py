"""The window's only link to a running session: typed events out, commands in.

The window never calls session logic. It receives the events below (on the GUI thread, through
a Qt signal) and sends commands (``go``, ``redo``, ``skip``, ``tare``, ``stop_trial``,
``abort``, ``pain``). Live traces come from the pipeline's ring buffers, read on a timer.

The session runs on the session engine (:func:`station.session.engine.open_session`): this
module opens it on a worker thread, subscribes to the engine's events (they arrive on the
engine's thread), turns them into the window's view events below (adding what a view needs:
the protocol, the ring buffers, each trial's trace from the rings), and passes commands on
to ``engine.send``. It never blocks the engine: a callback only reads memory and queues.

Nothing here imports Qt: the bridge calls ``emit(event)`` on whatever thread the session runs,
and the window marshals it to the GUI thread (see :class:`station.gui.window.EventRelay`).
"""
from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drivers.registry import parse_uri
from protocols.model import Protocol
from station.errors import UserError
from station.live import LiveState
from station.pipeline import BoundDevice, Pipeline
from station.ringbuffer import RingBuffer
from station.session import events as E
from station.session.commands import Command
from station.session.engine import OpenSession, RunnerOptions, open_session
from station.session.model import Patient, TestSummary, TrialOutcome
from station.session.runner import side_channels
from station.session.setup import DeviceArg, open_session_devices

COMMANDS = ("go", "redo", "skip", "tare", "stop_trial", "abort", "pain")

#: Simulated devices the window offers with ``--simulate`` (role → URI)
SIMULATED_DEVICES: dict[str, str] = {
    "dynamometer": "sim:mark10?rate=500",
    "plate_left": "sim:sfp?channels=4&serial=PL-L&rate=2000",
    "plate_right": "sim:sfp?channels=4&serial=PL-R&rate=2000",
}


def simulator_uri(device: Any) -> str:
    """The built-in simulator for a protocol's device role (a :class:`~protocols.model.DeviceRole`):
    the one of :data:`SIMULATED_DEVICES` for its role name, else by device kind and channels —
    a plate of its channels, a multi-channel dynamometer (a fixed frame: one load cell per leg)
    as raw-count load cells, a one-channel dynamometer as the Mark-10 gauge."""
    role = str(device.role)
    channels = int(getattr(device, "channels", 1) or 1)
    serial = "".join(c for c in role.upper() if c.isalnum())[:12] + "-SIM"
    if role in SIMULATED_DEVICES:
        return SIMULATED_DEVICES[role]
    if device.kind == "force_plate" or channels > 1:
        rate = 2000 if device.kind == "force_plate" else 1000
        return f"sim:sfp?channels={max(channels, 1)}&serial={serial}&rate={rate}"
    return SIMULATED_DEVICES["dynamometer"]


# -- events (the window's vocabulary) -------------------------------------------------------
@dataclass(frozen=True)
class DeviceView:
    """What the window shows of a bound device: its identity, ring buffer and calibration."""

    device_id: str
    uri: str
    family: str
    model: str
    serial: str
    rate_hz: float
    channels: int
    unit: str
    ring: RingBuffer
    calibration: dict[str, Any]


@dataclass(frozen=True)
class SessionOpened:
    path: Path
    patient: Patient
    protocols: tuple[Protocol, ...]
    devices: dict[str, DeviceView]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class TestStarted:
    index: int
    test: str
    protocol: Protocol
    plan: tuple[tuple[str, int], ...]
    sides: dict[str, tuple[str, tuple[int, ...]]]  # side → (device id, channels summed)
    countdown_s: float
    duration_s: float


@dataclass(frozen=True)
class AwaitingStart:
    """The next trial is ready; the window waits for go / redo / skip / tare / abort."""

    test: str
    side: str
    rep: int
    attempt: int
    cue: str
    last: TrialOutcome | None


@dataclass(frozen=True)
class TrialStarting:
    """``go`` (or a redo) armed trial ``trial``: the step that now records (a redo records the
    previous step again, with no :class:`AwaitingStart` before it)."""

    test: str
    trial: str
    side: str
    rep: int
    attempt: int


@dataclass(frozen=True)
class Countdown:
    side: str
    rep: int
    seconds_left: float


@dataclass(frozen=True)
class Recording:
    side: str
    rep: int
    elapsed_s: float
    duration_s: float
    live: LiveState
    cue_host_s: float


@dataclass(frozen=True)
class TrialRecorded:
    outcome: TrialOutcome
    traces: dict[str, tuple[np.ndarray, np.ndarray]]  # side → (time s from trace start, force N)
    visual_feedback: bool


@dataclass(frozen=True)
class Resting:
    seconds_left: float


@dataclass(frozen=True)
class PainAsked:
    side: str


@dataclass(frozen=True)
class TestDone:
    summary: TestSummary
    protocol: Protocol


@dataclass(frozen=True)
class Info:
    text: str


@dataclass(frozen=True)
class DeviceWarning:
    """A device event: ``kind`` is disconnected, reconnected, overflow, error or lost."""

    kind: str
    device_id: str
    message: str


@dataclass(frozen=True)
class Saturated:
    """A channel in use saturated during the trial being recorded (engine ``Saturation``):
    ``kind`` "range" (``value`` N beyond the calibrated ``limit`` N) or "adc" (raw ``value``
    counts at the ADC limit). ``side``: the side that channel measures (None if not one)."""

    side: str | None
    device_id: str
    channel: int
    kind: str
    value: float
    limit: float

    @property
    def text(self) -> str:
        where = f"{self.device_id} channel {self.channel}" + (f" ({self.side})" if self.side else "")
        if self.kind == "range":
            return f"{where} read {self.value:.0f} N, beyond its calibrated range of {self.limit:.0f} N"
        return f"{where}: raw reading at the ADC limit ({self.value:.0f} counts)"


@dataclass(frozen=True)
class HistoryLoaded:
    """The patient's trend from the results index (worker thread): before the session
    (``final`` False: earlier sessions only) or after it closed and was indexed (``final``
    True; ``session_id`` is this session's). ``trend``: a
    :class:`~station.history.trend.PatientTrend`, or None with ``error`` when unavailable."""

    patient_id: str
    trend: Any
    final: bool
    session_id: str | None = None
    error: str = ""


@dataclass(frozen=True)
class SessionClosed:
    path: Path | None
    status: str  # complete | aborted | interrupted | failed
    summaries: tuple[TestSummary, ...]
    error: str = ""


Event = (SessionOpened | TestStarted | AwaitingStart | TrialStarting | Countdown | Recording | TrialRecorded | Resting
         | PainAsked | TestDone | Info | DeviceWarning | Saturated | HistoryLoaded | SessionClosed)


def load_trend(directory: Path, patient_id: str) -> Any:
    """The patient's :class:`~station.history.trend.PatientTrend` from the results index beside
    the session files (built first if missing). Reads files: call it on a worker thread."""
    from station.history.trend import patient_trend
    from station.index.update import open_or_build

    if not directory.is_dir() or not any(directory.glob("*.h5")):
        return None
    store = open_or_build(directory)
    try:
        return patient_trend(store, patient_id)
    finally:
        store.close()


def history_event(directory: Path, patient_id: str, *, final: bool = False, session_id: str | None = None) -> HistoryLoaded:
    """:func:`load_trend` as a :class:`HistoryLoaded` event (never raises: the window goes on without it)."""
    try:
        return HistoryLoaded(patient_id, load_trend(directory, patient_id), final, session_id)
    except Exception as exc:  # noqa: BLE001 - the history is an extra; the session never fails for it
        return HistoryLoaded(patient_id, None, final, session_id, f"{type(exc).__name__}: {exc}")


# -- configuration --------------------------------------------------------------------------
@dataclass
class SessionConfig:
    """Everything needed to start a session from the window."""

    protocols: list[Protocol]
    patient: Patient
    device_args: list[DeviceArg]
    out_dir: Path
    auto: bool = False  # the window presses go itself; a simulated patient performs
    countdown_s: float | None = None
    rest_s: float | None = None
    ask_pain: bool = False
    operator: str = ""
    involved_ratio: float = 0.82
    calibration_dir: Path | None = None
    allow_uncalibrated: bool = False
    first_side: str = "left"
    session_attrs: dict[str, Any] = field(default_factory=dict)
    #: simulated devices only: the simulated patient and time (``strength``, ``seed``, ``speed``:
    #: simulated time that many times faster than real time; see :func:`open_session`)
    simulation: dict[str, Any] = field(default_factory=dict)


def simulated_device_args(protocols: list[Protocol]) -> list[DeviceArg]:
    """The built-in simulators for every role the protocols need (:func:`simulator_uri`)."""
    devices: dict[str, Any] = {}
    for p in protocols:
        for d in p.devices:
            devices.setdefault(d.role, d)
    return [DeviceArg((role,), simulator_uri(d)) for role, d in devices.items()]


class SessionBridge:
    """Runs one session on the engine; ``emit`` receives every view :data:`Event`."""

    def __init__(self, config: SessionConfig, emit: Callable[[Any], None]) -> None:
        self.config = config
        self.emit = emit
        self.session: OpenSession | None = None
        self.pipeline: Pipeline | None = None
        self.devices: dict[str, BoundDevice] = {}
        self.path: Path | None = None
        self.feedback_visible = False  # set by the window while the patient view is shown
        self._feedback_this_trial = False
        self._lost_seen: dict[str, int] = {}
        self._protocols = {p.id: p for p in config.protocols}
        self._test: E.TestStarted | None = None
        self._sides: dict[str, tuple[str, tuple[int, ...]]] = {}
        self._armed: E.TrialArmed | None = None
        self._last: TrialOutcome | None = None
        self._cue_t = 0.0
        self._pending: list[Command] = []  # commands sent before the engine exists
        self.notes: dict[str, list[str]] = {}  # test key ("" = the whole session) → clinician notes
        self._unsaved: set[str] = set()
        self._closing = False  # set (under the notes lock) before the last flush of the notes
        self._notes_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="session-bridge", daemon=True)
        self.closed = threading.Event()

    # -- commands (any thread) --------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def send(self, command: str, value: Any = None) -> None:
        """Pass a command to the engine (it ignores what means nothing in its state)."""
        cmd = Command(command, value) if command == "pain" else Command(command)  # type: ignore[arg-type]
        s = self.session
        if s is None:
            if command == "abort":
                self._pending.append(cmd)
            return
        if command == "abort":
            s.engine.request_abort("aborted in the window")
        s.engine.send(cmd)

    def add_note(self, text: str, test: str | None) -> bool:
        """A clinician's note for ``test`` (None: the whole session). It is stored in the session
        file through its facade (``notes`` on the test group, or on the ``session`` group) by the
        engine's thread at the session's next step, at the latest when the file closes (the file
        is only ever written from the session's threads). False when the session is over."""
        text = " ".join(text.split())
        if not text or self.session is None:
            return False
        with self._notes_lock:
            if self._closing:
                return False
            self.notes.setdefault(test or "", []).append(text)
            self._unsaved.add(test or "")
        return True

    def _flush_notes(self) -> None:
        """Write the notes added since the last flush (a session thread: engine or bridge)."""
        s = self.session
        if s is None or not self._unsaved:
            return
        with self._notes_lock:
            todo = {k: list(self.notes[k]) for k in self._unsaved}
            self._unsaved.clear()
        for key, notes in todo.items():
            try:
                if key:
                    s.engine.file.update_test(key, notes=notes)
                else:
                    s.engine.file.set_session(notes=notes)
            except Exception:  # noqa: BLE001 - the writer failed: its error reaches the engine anyway; try again later
                with self._notes_lock:
                    self._unsaved.add(key)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def poll_device_events(self) -> list[DeviceWarning]:
        """Lost-sample counts that grew since the last call (driver and reader counters, read from memory)."""
        out: list[DeviceWarning] = []
        p = self.pipeline
        if p is None:
            return out
        for device_id, d in self.devices.items():
            reader = p.readers.get(device_id)
            lost = d.driver.stats.lost_samples + (reader.status.overflow_samples if reader is not None else 0)
            if lost > self._lost_seen.get(device_id, 0):
                out.append(DeviceWarning("lost", device_id, f"{lost} samples lost so far"))
                self._lost_seen[device_id] = lost
        return out

    # -- the worker thread: open, run, close -------------------------------------------------
    def _run(self) -> None:
        c = self.config
        try:
            simulated = any(parse_uri(a.uri).simulated for a in c.device_args)
            options = RunnerOptions(countdown_s=c.countdown_s, rest_s=c.rest_s, operator=c.operator,
                                    ask_pain=c.ask_pain, first_side=c.first_side)
            c.out_dir.mkdir(parents=True, exist_ok=True)
            session = open_session(protocols=c.protocols, device_args=c.device_args, patient=c.patient,
                                   out_dir=c.out_dir, options=options, auto=simulated,
                                   involved_ratio=c.involved_ratio, calibration_dir=c.calibration_dir,
                                   allow_uncalibrated=c.allow_uncalibrated,
                                   session_attrs={"front_end": "window", **c.session_attrs},
                                   simulation=c.simulation or None)
        except UserError as exc:
            self.closed.set()
            self.emit(SessionClosed(None, "failed", (), str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - shown in the window
            traceback.print_exc()
            self.closed.set()
            self.emit(SessionClosed(None, "failed", (), f"{type(exc).__name__}: {exc}"))
            return
        self.session, self.pipeline, self.devices, self.path = session, session.pipeline, session.devices, session.path
        threading.Thread(target=lambda: self.emit(history_event(c.out_dir, c.patient.patient_id)),
                         name="history-before", daemon=True).start()
        self.emit(SessionOpened(session.path, c.patient, tuple(c.protocols), {
            k: DeviceView(k, d.uri, d.info.family, d.info.model, d.info.serial, d.info.rate_hz, d.info.channels,
                          d.info.unit, session.pipeline.rings[k], d.calibration_snapshot)
            for k, d in session.devices.items()}, tuple(w.removeprefix("WARNING: ") for w in session.warnings)))
        session.engine.subscribe(self._on_engine_event, name="window")
        if self._pending:  # abort was asked while the devices were opening
            session.engine.request_abort("aborted in the window")
        session.engine.start()
        try:
            session.engine.join()
        finally:
            try:
                with self._notes_lock:
                    self._closing = True
                self._flush_notes()
                session.close()
            finally:
                self.closed.set()
        # the session is in the index now (session.close): its change since the last session
        self.emit(history_event(c.out_dir, c.patient.patient_id, final=True,
                                session_id=getattr(session.engine, "session_id", None)))

    # -- engine events → view events (the engine's thread: quick, memory only) --------------
    def _on_engine_event(self, e: E.Event) -> None:  # noqa: C901 - one dispatch
        c = self.config
        if self._unsaved and not isinstance(e, E.SessionClosed):
            self._flush_notes()
        if isinstance(e, E.TestStarted):
            protocol = self._protocols[e.protocol_id]
            roles = self.session.roles if self.session is not None else {}
            self._sides = {s: (sc.device_id, sc.channels) for s, sc in side_channels(protocol, roles).items()}
            self._last = None
            self.emit(TestStarted(e.index, e.test, protocol, e.planned, self._sides, e.countdown_s, e.duration_s))
        elif isinstance(e, E.TrialReady):
            self.emit(AwaitingStart(e.test, e.side, e.rep, e.attempt, e.cue, self._last if e.can_redo else None))
            if c.auto:
                self.session.engine.go()  # type: ignore[union-attr]
        elif isinstance(e, E.TrialArmed):
            self._armed = e
            self._feedback_this_trial = self.feedback_visible  # shown at any time from go to the trial's end
            self.emit(TrialStarting(e.test, e.trial, e.side, e.rep, e.attempt))
        elif isinstance(e, E.Countdown):
            self._feedback_this_trial |= self.feedback_visible
            self.emit(Countdown(e.side, e.rep, e.seconds_left))
        elif isinstance(e, E.Recording):
            self._cue_t = e.cue_t_s
        elif isinstance(e, E.LiveUpdate):
            self._feedback_this_trial |= self.feedback_visible
            self.emit(Recording(e.side, e.rep, e.elapsed_s, e.duration_s, e.state, self._cue_t))
        elif isinstance(e, E.TrialRecorded):
            self._trial_recorded(e.outcome)
        elif isinstance(e, E.PainRequested):
            if c.auto:
                self.session.engine.pain(None)  # type: ignore[union-attr]
            else:
                self.emit(PainAsked(e.side))
        elif isinstance(e, E.RepAdded):
            self.emit(Info(f"{e.side}: one more rep — {e.reason}"))
        elif isinstance(e, E.Resting):
            self.emit(Resting(e.seconds_left))
        elif isinstance(e, E.TestDone):
            self.emit(TestDone(e.summary, self._protocols[e.summary.protocol_id]))
        elif isinstance(e, E.Tared):
            offsets = ", ".join(f"{d} {', '.join('—' if v is None else f'{v:+.1f}' for v in vals)} N"
                                for d, vals in e.offsets_n.items())
            self.emit(Info(("zeroed on demand: " if e.on_demand else "zeroed: ") + offsets))
        elif isinstance(e, E.Info):
            self.emit(Info(e.text))
        elif isinstance(e, E.CommandIgnored):
            self.emit(Info(f"{e.command.name} ignored while {e.state}" + (f": {e.reason}" if e.reason else "")))
        elif isinstance(e, E.DeviceWarning):
            self.emit(DeviceWarning(e.kind, e.device_id, e.message))
        elif isinstance(e, E.Saturation):
            side = next((s for s, (d, ch) in self._sides.items() if d == e.device_id and e.channel in ch), None)
            self.emit(Saturated(side, e.device_id, e.channel, e.kind, e.value, e.limit))
        elif isinstance(e, E.Paused):
            self.emit(DeviceWarning("paused", ", ".join(e.devices), e.message))
        elif isinstance(e, E.HealthWarning):
            self.emit(DeviceWarning("health", e.source, e.message))
        elif isinstance(e, E.HealthError):
            self.emit(DeviceWarning("failed", e.source, e.message))
        elif isinstance(e, E.SessionClosed):
            self.emit(SessionClosed(e.path, e.status, e.summaries, e.error or ""))

    def _trial_recorded(self, o: TrialOutcome) -> None:
        if o.status in ("skipped", "rejected"):
            self.emit(TrialRecorded(o, {}, False))
            return
        traces: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        armed = self._armed
        measured = ["left", "right"] if o.side == "both" else [o.side]
        if armed is not None and self.pipeline is not None:
            parts = {}
            for s in measured:
                if s not in self._sides:
                    continue
                device_id, channels = self._sides[s]
                ring = self.pipeline.rings[device_id]
                rate = self.devices[device_id].info.rate_hz
                seconds = armed.countdown_s + armed.duration_s + 2.0
                t, v = ring.latest(int(seconds * rate))
                keep = t >= armed.t_s
                parts[s] = (t[keep], v[keep][:, list(channels)].sum(axis=1))
            starts = [t[0] for t, _ in parts.values() if t.size]
            t0 = max(starts) if starts else 0.0  # the analysis runs on the devices' common span
            traces = {s: (t - t0, f) for s, (t, f) in parts.items() if t.size}
        if self.session is not None:
            self.session.engine.file.set_trial(o.test, o.trial, visual_feedback=bool(self._feedback_this_trial),
                                               visual_feedback_display="patient view window (force bar and target)")
        self._last = o
        self.emit(TrialRecorded(o, traces, bool(self._feedback_this_trial)))


# -- before a session: the start page's device check -----------------------------------------
def simulator_calibration_dir(directory: Path, device_args: list[DeviceArg]) -> Path:
    """Factory calibration records for the simulated raw-count plates (``sim:sfp``) in ``directory``,
    for the channels that have no record file there yet (see :func:`write_simulator_calibration`)."""
    for a in device_args:
        uri = parse_uri(a.uri)
        if uri.simulated and uri.family == "sfp":
            write_simulator_calibration(directory, uri.options.get("serial", "SFP-SIM"),
                                        int(uri.options.get("channels", "8")))
    return directory


def write_simulator_calibration(directory: Path, serial: str, channels: int, max_load_n: float = 2000.0) -> list[Path]:
    """Records fitted to the SFP simulator's own load-cell model, as `station calibrate` would
    measure them: the simulator's factory sheet, with reference loads up to ``max_load_n`` (N;
    the calibrated range of each cell).

    Only a channel whose record file is missing gets one: an existing file (an earlier factory
    sheet, or a calibration the user made of the simulated plate) is never replaced. Returns
    the files written."""
    from calibration import CalibrationStore
    from calibration.fitting import fit_calibration
    from calibration.record import CalibrationPoint
    from simulation.sfp import default_cells

    store = CalibrationStore(directory)
    loads = np.array([0.0, 0.1, 0.25, 0.5, 1.0]) * max_load_n
    written: list[Path] = []
    for ch, cell in enumerate(default_cells(channels)):
        if store.path_for(serial, ch).exists():
            continue
        counts = cell.offset_counts + cell.gain_counts_per_n * (loads + cell.quadratic_per_n * np.square(loads))
        points = [CalibrationPoint(load_n=float(x), direction="loading", cycle=1, mean_counts=float(c))
                  for x, c in zip(loads, counts, strict=True)]
        written.append(store.save(fit_calibration(points, device_serial=serial, channel=ch,
                                                  operator="simulator factory sheet"), on_corrupt="refuse").path)
    return written


def idle_source(uri_text: str) -> Any:
    """What a simulated device feels during the start page's check: nothing on the pad or plate
    (its noise only), as an idle real device reads; None for a real device."""
    uri = parse_uri(uri_text)
    if not uri.simulated:
        return None
    from simulation.forces import ScheduledForces

    channels = int(uri.options.get("channels", "8" if uri.family == "sfp" else "1"))
    return ScheduledForces(channels=channels, noise_n=0.3)


@dataclass(frozen=True)
class PreviewState:
    """One device of the start page's check: open or not, its ring buffer and calibration."""

    role: str
    uri: str
    ok: bool
    message: str
    ring: RingBuffer | None = None
    rate_hz: float = 0.0
    calibration: dict[str, Any] = field(default_factory=dict)


class DevicePreview:
    """Opens devices before a session (worker thread) so the start page shows live readings and
    can zero them; closed before the session opens them again."""

    def __init__(self, device_args: list[DeviceArg], *, calibration_dir: Path | None, allow_uncalibrated: bool,
                 emit: Callable[[Any], None]) -> None:
        self.args = device_args
        self.calibration_dir = calibration_dir
        self.allow_uncalibrated = allow_uncalibrated
        self.emit = emit
        self.pipeline: Pipeline | None = None
        self.devices: dict[str, BoundDevice] = {}
        self._thread = threading.Thread(target=self._open, name="device-check", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _open(self) -> None:
        states: list[PreviewState] = []
        for a in self.args:
            role = a.roles[0] if a.roles else a.uri
            try:
                bound = {role: a}
                idle = idle_source(a.uri)
                devices, _ = open_session_devices(bound, calibration_dir=self.calibration_dir,
                                                  allow_uncalibrated=self.allow_uncalibrated,
                                                  sources={role: idle} if idle is not None else None)
            except UserError as exc:
                states.append(PreviewState(role, a.uri, False, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - shown on the device row
                states.append(PreviewState(role, a.uri, False, f"{type(exc).__name__}: {exc}"))
                continue
            self.devices.update(devices)
        if self.devices:
            self.pipeline = Pipeline(list(self.devices.values()), None, ring_seconds=5.0)
            self.pipeline.start()
            for k, d in self.devices.items():
                states.append(PreviewState(k, d.uri, True, f"{d.info.family} {d.info.model} {d.info.serial} "
                                           f"{d.info.rate_hz:g} Hz", self.pipeline.rings[k], d.info.rate_hz,
                                           d.calibration_snapshot))
        self.emit(states)

    def zero(self, role: str) -> None:
        if self.pipeline is not None and role in self.devices:
            self.pipeline.tare(role, 0.5)

    def close(self) -> None:
        self._thread.join(timeout=30)
        if self.pipeline is not None:
            self.pipeline.stop()
        for d in self.devices.values():
            d.close()
        self.devices = {}
        self.pipeline = None
