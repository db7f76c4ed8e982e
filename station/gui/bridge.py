"""The window's only link to a running session: typed events out, commands in.

The window never calls session logic. It receives the events below (on the GUI thread, through
a Qt signal) and sends commands (``go``, ``redo``, ``skip``, ``tare``, ``stop_trial``,
``abort``, ``pain``). Live traces come from the pipeline's ring buffers, read on a timer.

This adapter drives the existing :class:`~station.session.runner.SessionRunner` on a worker
thread through its :class:`SessionUI` protocol: each blocking UI call becomes an event, and a
blocking question waits on a command queue. It is the one module to swap when the session
engine (commands in, events out, ``open_session``) replaces the runner; the event classes
are the window's vocabulary and stay.

Nothing here imports Qt: the bridge calls ``emit(event)`` on whatever thread the session runs,
and the window marshals it to the GUI thread (see :class:`station.gui.window.EventRelay`).
"""
from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drivers.registry import parse_uri
from protocols.model import Protocol
from station.acquisition import ReaderEvent
from station.errors import UserError
from station.live import LiveState
from station.pipeline import BoundDevice, Pipeline, TrialData
from station.ringbuffer import RingBuffer
from station.session.model import Patient, TestSummary, TrialOutcome
from station.session.run import check_rates, simulated_actors, used_channels
from station.session.runner import RunnerOptions, SessionAborted, SessionRunner, session_path, side_channels
from station.session.setup import DeviceArg, bind_roles, open_session_devices
from station.storage import layout
from station.storage.writer import SessionWriter

COMMANDS = ("go", "redo", "skip", "tare", "stop_trial", "abort", "pain")

#: Simulated devices the window offers with ``--simulate`` (role → URI)
SIMULATED_DEVICES: dict[str, str] = {
    "dynamometer": "sim:mark10?rate=500",
    "plate_left": "sim:sfp?channels=4&serial=PL-L&rate=2000",
    "plate_right": "sim:sfp?channels=4&serial=PL-R&rate=2000",
}


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
class SessionClosed:
    path: Path | None
    status: str  # complete | aborted | interrupted | failed
    summaries: tuple[TestSummary, ...]
    error: str = ""


Event = (SessionOpened | TestStarted | AwaitingStart | Countdown | Recording | TrialRecorded | Resting
         | PainAsked | TestDone | Info | DeviceWarning | SessionClosed)


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


def simulated_device_args(protocols: list[Protocol]) -> list[DeviceArg]:
    """The built-in simulators for every role the protocols need."""
    roles: list[str] = []
    for p in protocols:
        for d in p.devices:
            if d.role not in roles:
                roles.append(d.role)
    args = []
    for role in roles:
        uri = SIMULATED_DEVICES.get(role)
        if uri is None:
            kind = next(d.kind for p in protocols for d in p.devices if d.role == role)
            uri = SIMULATED_DEVICES["plate_left" if kind == "force_plate" else "dynamometer"]
        args.append(DeviceArg((role,), uri))
    return args


class SessionBridge:
    """Runs one session on a worker thread; ``emit`` receives every :data:`Event`."""

    def __init__(self, config: SessionConfig, emit: Callable[[Any], None]) -> None:
        self.config = config
        self.emit = emit
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, name="session", daemon=True)
        self.pipeline: Pipeline | None = None
        self.devices: dict[str, BoundDevice] = {}
        self.path: Path | None = None
        self.feedback_visible = False  # set by the window while the patient view is shown
        self._feedback_this_trial = False
        self._events_seen = 0
        self._lost_seen: dict[str, int] = {}
        self._test: str | None = None
        self._last: TrialOutcome | None = None
        self._trial_data: dict[str, TrialData] = {}
        self._sides: dict[str, tuple[str, tuple[int, ...]]] = {}
        self.closed = threading.Event()

    # -- commands (any thread) --------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def send(self, command: str, value: Any = None) -> None:
        """Queue a command for the session; ``abort`` also interrupts any wait at once."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}")
        if command == "abort":
            self._abort.set()
        self._commands.put((command, value))

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def poll_device_events(self) -> list[DeviceWarning]:
        """New reader events and lost-sample counts since the last call (read from memory only)."""
        out: list[DeviceWarning] = []
        p = self.pipeline
        if p is None:
            return out
        events: list[ReaderEvent] = p.events
        while self._events_seen < len(events):
            e = events[self._events_seen]
            self._events_seen += 1
            out.append(DeviceWarning(e.kind, e.device_id, e.message))
        for device_id, d in self.devices.items():
            lost = d.driver.stats.lost_samples + p.readers[device_id].status.overflow_samples
            if lost > self._lost_seen.get(device_id, 0):
                out.append(DeviceWarning("lost", device_id, f"{lost} samples lost so far"))
                self._lost_seen[device_id] = lost
        return out

    # -- the worker thread -------------------------------------------------------------------
    def _run(self) -> None:
        c = self.config
        status, summaries, error = layout.STATUS_INTERRUPTED, (), ""
        writer: SessionWriter | None = None
        pipeline: Pipeline | None = None
        runner: SessionRunner | None = None
        devices: dict[str, BoundDevice] = {}
        try:
            bound = bind_roles(c.protocols, c.device_args)
            sources, actor = simulated_actors(c.protocols, bound, c.patient, involved_ratio=c.involved_ratio)
            simulated = any(parse_uri(a.uri).simulated for a in bound.values())
            devices, roles = open_session_devices(bound, sources=sources, calibration_dir=c.calibration_dir,
                                                  allow_uncalibrated=c.allow_uncalibrated,
                                                  channels=used_channels(c.protocols, bound))
            self.devices = devices
            check_rates(c.protocols, devices, roles)
            warnings = tuple(f"{o['reason']} — used anyway (recorded in the session file)"
                             for d in devices.values() for o in d.calibration_snapshot.get("overrides", []))
            c.out_dir.mkdir(parents=True, exist_ok=True)
            self.path = session_path(c.out_dir, c.patient.patient_id)
            writer = SessionWriter(self.path)
            pipeline = Pipeline(list(devices.values()), writer)
            self._capture_trial_data(pipeline)
            options = RunnerOptions(countdown_s=c.countdown_s, rest_s=c.rest_s, operator=c.operator,
                                    ask_pain=c.ask_pain, first_side=c.first_side)
            runner = SessionRunner(patient=c.patient, protocols=c.protocols, pipeline=pipeline, writer=writer,
                                   roles=roles, ui=_RunnerUI(self, roles), options=options,
                                   actor=actor if simulated else None, history_dir=c.out_dir,
                                   session_attrs={"front_end": "window", **c.session_attrs})
            runner.write_header(devices, {k: d.calibration_snapshot for k, d in devices.items()})
            pipeline.start()
            self.pipeline = pipeline
            self.emit(SessionOpened(self.path, c.patient, tuple(c.protocols), {
                k: DeviceView(k, d.uri, d.info.family, d.info.model, d.info.serial, d.info.rate_hz,
                              d.info.channels, d.info.unit, pipeline.rings[k], d.calibration_snapshot)
                for k, d in devices.items()}, warnings))
            runner.run()
            status = layout.STATUS_COMPLETE
        except (KeyboardInterrupt, SessionAborted):
            status = layout.STATUS_ABORTED
        except UserError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - shown in the window; the file is closed below
            status, error = layout.STATUS_INTERRUPTED, f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            if runner is not None:
                summaries = tuple(runner.summaries)
            try:
                if pipeline is not None:
                    pipeline.stop()
                for d in devices.values():
                    d.close()
            finally:
                if writer is not None:
                    writer.close({
                        "status": status if status != "failed" else layout.STATUS_INTERRUPTED,
                        "summary": [s.as_dict() for s in summaries],
                        "device_stats": {k: d.driver.stats.as_dict() for k, d in devices.items()},
                        "reader_events": [f"{e.device_id} {e.kind}: {e.message}"
                                          for e in (pipeline.events if pipeline else [])],
                    })
                    from station.index.update import index_closed_session

                    index_closed_session(self.path)  # the results index beside the files (never raises)
                self.closed.set()
                self.emit(SessionClosed(self.path if writer is not None else None, status, summaries, error))

    def _capture_trial_data(self, pipeline: Pipeline) -> None:
        """Keep each trial's recorded samples for the after-trial plot (the runner does not pass them on)."""
        end_recording = pipeline.end_recording

        def capturing() -> tuple[dict[str, TrialData], list[ReaderEvent]]:
            data, events = end_recording()
            self._trial_data = data
            return data, events

        pipeline.end_recording = capturing  # type: ignore[method-assign]

    # -- helpers for the SessionUI adapter (worker thread) -----------------------------------
    def check_abort(self) -> None:
        """Called at every wait of the runner: an abort from the window ends the wait."""
        if self._abort.is_set():
            raise KeyboardInterrupt

    def wait_command(self, accept: tuple[str, ...]) -> tuple[str, Any]:
        while True:
            if self._abort.is_set():
                return "abort", None
            try:
                command, value = self._commands.get(timeout=0.05)
            except queue.Empty:
                continue
            if command in accept or command == "abort":
                return command, value

    def drain(self, keep: tuple[str, ...] = ()) -> None:
        """Drop commands sent before the question was asked (except those in ``keep``)."""
        kept = []
        while True:
            try:
                item = self._commands.get_nowait()
            except queue.Empty:
                break
            if item[0] in keep or item[0] == "abort":
                kept.append(item)
        for item in kept:
            self._commands.put(item)


class _RunnerUI:
    """:class:`~station.session.runner.SessionUI` for the runner thread: events out, answers from commands."""

    def __init__(self, bridge: SessionBridge, roles: dict[str, str]) -> None:
        self.b = bridge
        self.roles = roles
        self._last_emit = 0.0
        self._index = 0

    def info(self, text: str) -> None:
        self.b.emit(Info(text))

    def before_trial(self, test: TestSummary, side: str, rep: int, attempt: int, cue: str) -> str:
        b = self.b
        if test.test != b._test:
            b._test = test.test
            b._last = None
            self._index += 1
            protocol = next(p for p in b.config.protocols if p.id == test.protocol_id)
            sides = {s: (sc.device_id, sc.channels) for s, sc in side_channels(protocol, self.roles).items()}
            b._sides = sides
            c = b.config
            b.emit(TestStarted(self._index, test.test, protocol, tuple(protocol.trial_plan(c.first_side)),  # type: ignore[arg-type]
                               sides,
                               c.countdown_s if c.countdown_s is not None else protocol.timing.countdown_s,
                               protocol.timing.duration_s))
        b.drain(keep=("redo", "skip", "tare"))
        b.emit(AwaitingStart(test.test, side, rep, attempt, cue, b._last))
        b._feedback_this_trial = b.feedback_visible
        if b.config.auto:
            return "abort" if b._abort.is_set() else "go"
        command, _ = b.wait_command(("go", "redo", "skip", "tare"))
        return command

    def countdown(self, side: str, rep: int, seconds_left: float) -> None:
        self.b.check_abort()
        self.b._feedback_this_trial |= self.b.feedback_visible
        self.b.emit(Countdown(side, rep, seconds_left))

    def live(self, side: str, rep: int, state: LiveState, elapsed_s: float, duration_s: float) -> None:
        self.b.check_abort()
        self.b._feedback_this_trial |= self.b.feedback_visible
        self.b.emit(Recording(side, rep, elapsed_s, duration_s, state, time.monotonic() - elapsed_s))

    def trial_done(self, outcome: TrialOutcome) -> None:
        b = self.b
        traces: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if outcome.status != "skipped":
            measured = ["left", "right"] if outcome.side == "both" else [outcome.side]
            data = {s: b._trial_data.get(b._sides[s][0]) for s in measured if s in b._sides}
            starts = [d.t_host_s[0] for d in data.values() if d is not None and d.samples]
            t0 = max(starts) if starts else 0.0  # the analysis runs on the common span of the devices
            for s, d in data.items():
                if d is not None and d.samples:
                    traces[s] = (d.t_host_s - t0, d.force_n[:, list(b._sides[s][1])].sum(axis=1))
            if b.pipeline is not None and b.pipeline.writer is not None:
                b.pipeline.writer.set_attrs(f"tests/{outcome.test}/trials/{outcome.trial}", {
                    "visual_feedback": bool(b._feedback_this_trial),
                    "visual_feedback_display": "patient view window (force bar and target)"})
        b._last = outcome
        b.emit(TrialRecorded(outcome, traces, bool(b._feedback_this_trial)))

    def rest(self, seconds_left: float) -> None:
        self.b.check_abort()
        self.b.emit(Resting(seconds_left))

    def test_done(self, summary: TestSummary) -> None:
        protocol = next(p for p in self.b.config.protocols if p.id == summary.protocol_id)
        self.b.emit(TestDone(summary, protocol))

    def ask_pain(self, side: str) -> int | None:
        b = self.b
        if b.config.auto:
            return None
        b.drain(keep=("pain",))
        b.emit(PainAsked(side))
        command, value = b.wait_command(("pain", "go", "skip"))
        return int(value) if command == "pain" and value is not None else None


# -- before a session: the start page's device check -----------------------------------------
def simulator_calibration_dir(directory: Path, device_args: list[DeviceArg]) -> Path:
    """Factory calibration records for the simulated raw-count plates (``sim:sfp``) in ``directory``."""
    for a in device_args:
        uri = parse_uri(a.uri)
        if uri.simulated and uri.family == "sfp":
            write_simulator_calibration(directory, uri.options.get("serial", "SFP-SIM"),
                                        int(uri.options.get("channels", "8")))
    return directory


def write_simulator_calibration(directory: Path, serial: str, channels: int) -> None:
    """Records fitted to the SFP simulator's own load-cell model, as `station calibrate` would
    measure them: the simulator's factory sheet."""
    from calibration import CalibrationStore
    from calibration.fitting import fit_calibration
    from calibration.record import CalibrationPoint
    from simulation.sfp import default_cells

    store = CalibrationStore(directory)
    loads = np.array([0.0, 200.0, 500.0, 1000.0, 2000.0])
    for ch, cell in enumerate(default_cells(channels)):
        counts = cell.offset_counts + cell.gain_counts_per_n * (loads + cell.quadratic_per_n * np.square(loads))
        points = [CalibrationPoint(load_n=float(x), direction="loading", cycle=1, mean_counts=float(c))
                  for x, c in zip(loads, counts, strict=True)]
        store.save(fit_calibration(points, device_serial=serial, channel=ch, operator="simulator factory sheet"))


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
                devices, _ = open_session_devices(bound, calibration_dir=self.calibration_dir,
                                                  allow_uncalibrated=self.allow_uncalibrated)
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
