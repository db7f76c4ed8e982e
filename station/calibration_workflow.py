"""Calibration and verification as step-driven workflows any front end can run.

A workflow is a small state machine over a :class:`ReadingSource` (the device's fresh raw
readings) and the pure procedures of the ``calibration`` package
(:class:`~calibration.MultiPointProcedure`, :class:`~calibration.VerificationProcedure`).
It talks through a small UI protocol, like the session engine:

* **commands in** — :meth:`take` (the load is on: read it), :meth:`redo_previous`,
  :meth:`abort`; thread-safe (they go through a queue and act at the next :meth:`poll`);
* **events out** — typed :class:`WorkflowEvent` s to every :meth:`subscribe` r, each with a
  one-line ``text`` for a person (the terminal prints it, a window shows it);
* **state** — :attr:`state` (``ready``: waiting for the operator to place the load;
  ``reading``: collecting readings; ``waiting_device``: unplugged, waiting for the reader
  to reconnect; ``finished``; ``failed``; ``aborted``), :attr:`step` (what to do now) and
  :meth:`live` (the live reading and whether it is steady).

The front end drives time: a window calls :meth:`poll` on a timer, the terminal and tests
call :meth:`wait` (blocks until the operator is needed again; waits on the injected
:class:`~station.clock.Clock`, so a :class:`~station.clock.FakeClock` runs the steps
without real time). Nothing here prints, opens a port or reads the keyboard.

Usage (terminal style)::

    wf = CalibrationWorkflow(device.readings(), channel=2, settings=CalibrationSettings([0, 5, 10, 20, 40]),
                             store=CalibrationStore(), load=device.load)
    wf.subscribe(print_event)
    wf.start()
    while wf.state == "ready":
        input(wf.step.prompt)
        wf.take()
        wf.wait()                       # raises the workflow's error if it failed
    record = wf.record                  # fitted; wf.save() stores it

Units: forces N, readings in the device's unit (counts, or N), times s.
"""
from __future__ import annotations

import math
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from calibration import (
    DEFAULT_EXPIRY_MONTHS,
    DEFAULT_TOLERANCE_MIN_N,
    DEFAULT_TOLERANCE_PCT,
    PLATE_POSITIONS,
    STANDARD_GRAVITY_M_S2,
    CalibrationError,
    CalibrationRecord,
    CalibrationState,
    CalibrationStore,
    MultiPointProcedure,
    SaveResult,
    StabilityCriteria,
    VerificationProcedure,
    VerificationReport,
    assess_stability,
    check_usable,
    factory_record,
    loads_to_n,
)
from calibration.procedure import StepResult
from calibration.verification import VerificationStepResult
from drivers.base import DeviceInfo
from station.clock import Clock, SystemClock
from station.errors import CalibrationDeviceError, StationError

#: Attempts per step before giving up on an unsettled reading when no one is at the
#: prompts (``--yes``); ``None`` in a window (the operator decides).
AUTO_ATTEMPTS: int = 3
#: Extra reading time before the settle window, s: interactive (the mass may still swing
#: after the operator confirms) and automatic (the simulator's load changes at once).
LEAD_IN_INTERACTIVE_S: float = 1.0
LEAD_IN_AUTO_S: float = 0.2
#: How long an unplugged device is waited for before the workflow fails, s.
RECONNECT_TIMEOUT_S: float = 120.0
#: How far behind the clock the newest readings may be stamped (transport), s.
LIVE_LAG_S: float = 2.0
#: Poll period of :meth:`_Workflow.wait`, s.
POLL_S: float = 0.01

State = Literal["idle", "ready", "reading", "waiting_device", "finished", "failed", "aborted"]


class CalibrationWorkflowError(StationError):
    """A calibration or verification could not be completed (one line: channel, serial, why)."""


# ======================================================================================
# Readings
# ======================================================================================


class ReadingSource(Protocol):
    """Fresh raw readings of one opened device (see :meth:`CalibrationDevice.readings`)."""

    text: str
    info: DeviceInfo

    def since(self, t0: float) -> np.ndarray:
        """Readings ``(n, channels)`` stamped at or after ``t0`` (the clock's time base)."""
        ...

    @property
    def connected(self) -> bool: ...

    @property
    def disconnects(self) -> int: ...

    @property
    def failure(self) -> str | None:
        """One line when the device's reader or pipeline died for good, else None."""
        ...


class SimulatedLoad(Protocol):
    """What the workflow needs of a simulator's force source (``StaticLoad``)."""

    def set(self, channel: int, load_n: float) -> None: ...


@dataclass(frozen=True)
class LiveReading:
    """The live reading of the channel(s) over the last settle window.

    value: mean raw reading (device unit; the sum for several channels). force_n: the same
    in N when a gain is known (estimated, or the calibration's), else None. sd / slope_per_s:
    noise and trend of the reading (device unit). steady: met the settle limits (None while
    the limits are not known yet). reason: why not steady. n: readings in the window.
    """

    value: float
    force_n: float | None
    sd: float
    slope_per_s: float
    steady: bool | None
    reason: str
    n: int


# ======================================================================================
# Events
# ======================================================================================


@dataclass(frozen=True)
class WorkflowEvent:
    """Something the workflow did; ``text``: one line for a person. ``detail``: a line about
    the current step (the terminal indents it) rather than a heading."""

    text: str
    detail: ClassVar[bool] = True


@dataclass(frozen=True)
class Info(WorkflowEvent):
    """A heading: what is calibrated or verified, the plan, the settle limits."""

    detail: ClassVar[bool] = False


@dataclass(frozen=True)
class Note(WorkflowEvent):
    """A detail of the current step (zero kept for the gain estimate, a redo, settle limits)."""


@dataclass(frozen=True)
class StepShown(WorkflowEvent):
    """A step is waiting for the operator (``step``: what to do; its ``retry`` says it is a new try)."""

    step: WorkflowStep | None = None


@dataclass(frozen=True)
class ReadingStarted(WorkflowEvent):
    """The operator confirmed the load; readings are being collected for ``seconds``."""

    seconds: float = 0.0


@dataclass(frozen=True)
class ReadingAccepted(WorkflowEvent):
    """The step's reading settled and was stored. ``result``: the procedure's step result."""

    result: StepResult | VerificationStepResult | None = None


@dataclass(frozen=True)
class ReadingRefused(WorkflowEvent):
    """The reading did not settle (or the channel did not respond); the step stays current."""

    attempts: int = 0


@dataclass(frozen=True)
class DeviceLost(WorkflowEvent):
    """The device disconnected during a reading; the reader is reconnecting."""


@dataclass(frozen=True)
class DeviceBack(WorkflowEvent):
    """The device is back; the step's reading starts again."""


@dataclass(frozen=True)
class Fitted(WorkflowEvent):
    """Every step has its reading and the model is fitted (not saved yet: :meth:`CalibrationWorkflow.save`)."""

    record: CalibrationRecord | None = None
    summary: FitSummary | None = None


@dataclass(frozen=True)
class Verified(WorkflowEvent):
    """Every check position was read; ``report`` passed or failed (not saved yet)."""

    report: VerificationReport | None = None


@dataclass(frozen=True)
class Saved(WorkflowEvent):
    """The result was saved: ``paths`` written."""

    paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Failed(WorkflowEvent):
    """The workflow cannot go on (nothing saved); ``text`` says why."""


@dataclass(frozen=True)
class Aborted(WorkflowEvent):
    """The operator aborted; nothing saved."""


@dataclass(frozen=True)
class WorkflowStep:
    """What the operator does now. index/total: 1-based position in the plan and its length.
    prompt: one line. load_n: the reference load on the sensor, N (0 for a zero step).
    retry: the previous reading of this step was refused. can_redo: the previous step's
    reading may be discarded and taken again. automatic: a simulator places the load itself.
    position: where the load goes on a plate (verification), else None."""

    index: int
    total: int
    prompt: str
    load_n: float
    retry: bool = False
    can_redo: bool = False
    automatic: bool = False
    position: str | None = None


@dataclass(frozen=True)
class FitSummary:
    """The fit in a few numbers for a screen: gain N/count, zero counts, r² of reference
    against fitted force, residual RMS and max N, per-point (load N, direction, residual N)."""

    model: str
    gain_n_per_count: float
    offset_counts: float
    r_squared: float | None
    residual_rms_n: float | None
    residual_max_n: float | None
    points: tuple[tuple[float, str, float | None], ...]

    @classmethod
    def of(cls, record: CalibrationRecord) -> FitSummary:
        pts = tuple((p.load_n, p.direction, p.residual_n) for p in record.points)
        loads = np.array([p.load_n for p in record.points], dtype=np.float64)
        res = np.array([np.nan if p.residual_n is None else p.residual_n for p in record.points], dtype=np.float64)
        r2: float | None = None
        if loads.size >= 2 and np.all(np.isfinite(res)):
            ss_tot = float(np.sum(np.square(loads - loads.mean())))
            if ss_tot > 0:
                r2 = 1.0 - float(np.sum(np.square(res))) / ss_tot
        f = record.figures
        return cls(record.model, record.gain_n_per_count, record.offset_counts, r2,
                   None if f is None else f.residual_rms_n, None if f is None else f.residual_max_n, pts)


Listener = Callable[[WorkflowEvent], None]


# ======================================================================================
# The shared machinery
# ======================================================================================


@dataclass
class _Cmd:
    name: Literal["take", "redo", "abort"]


class _Workflow:
    """Readings, reconnects, attempts, commands and events; subclasses judge the readings."""

    def __init__(self, source: ReadingSource, columns: Sequence[int], *, clock: Clock | None, window_s: float,
                 readings_s: float, max_attempts: int | None, reconnect_timeout_s: float,
                 load: SimulatedLoad | None) -> None:
        self.source = source
        self.info = source.info
        self.columns = list(columns)
        self.clock: Clock = clock or SystemClock()
        self.window_s = float(window_s)
        self.readings_s = float(readings_s)
        self.max_attempts = max_attempts
        self.reconnect_timeout_s = float(reconnect_timeout_s)
        self.load = load
        self.rate_hz = float(self.info.rate_hz)
        self.state: State = "idle"
        self.error: StationError | None = None
        self.events: list[WorkflowEvent] = []
        self._listeners: list[Listener] = []
        self._inbox: queue.Queue[_Cmd] = queue.Queue()
        self._attempts = 0
        self._t0 = 0.0
        self._deadline = 0.0
        self._seen_disconnects = 0
        self._lost_at = 0.0

    # -- events ----------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Listener:
        """Call ``listener`` with every event from now on (in the thread that polls)."""
        self._listeners.append(listener)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _emit(self, event: WorkflowEvent) -> None:
        self.events.append(event)
        for listener in list(self._listeners):
            listener(event)

    # -- commands (any thread) -------------------------------------------------------------
    def take(self) -> None:
        """The load is in place: collect and judge this step's reading."""
        self._inbox.put(_Cmd("take"))

    def redo_previous(self) -> None:
        """Discard the previous step's reading and take that step again (when ``step.can_redo``)."""
        self._inbox.put(_Cmd("redo"))

    def abort(self) -> None:
        """Stop here; nothing is saved."""
        self._inbox.put(_Cmd("abort"))

    # -- driving ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """True until the workflow finished, failed or was aborted."""
        return self.state in ("idle", "ready", "reading", "waiting_device")

    @property
    def busy(self) -> bool:
        """True while readings are being collected (or the device is awaited)."""
        return self.state in ("reading", "waiting_device")

    def start(self) -> None:
        """Emit the headings and show the first step."""
        if self.state != "idle":
            return
        for line in self._headings():
            self._emit(Info(line))
        self.state = "ready"
        self._show()

    def poll(self) -> None:
        """Handle queued commands and collect readings; never blocks (a window's timer)."""
        while True:
            try:
                cmd = self._inbox.get_nowait()
            except queue.Empty:
                break
            self._command(cmd)
        self._advance()

    def wait(self) -> None:
        """Poll until the operator is needed again (or the end); raises :attr:`error` on failure."""
        self.poll()
        while self.busy:
            cmd = self.clock.wait(self._inbox, POLL_S)
            if cmd is not None:
                self._command(cmd)
            self._advance()
        if self.state == "failed" and self.error is not None:
            raise self.error

    def _command(self, cmd: _Cmd) -> None:
        if not self.active:
            return
        if cmd.name == "abort":
            self.state = "aborted"
            self._emit(Aborted("aborted; nothing saved"))
        elif cmd.name == "take" and self.state == "ready":
            self._begin_reading()
        elif cmd.name == "redo" and self.state == "ready":
            self._redo()

    def _begin_reading(self) -> None:
        self.state = "reading"
        self._t0 = self.clock.now()
        self._deadline = self._t0 + self._reading_limit_s()
        self._seen_disconnects = self.source.disconnects
        self._emit(ReadingStarted(f"reading for {self.readings_s:g} s", seconds=self.readings_s))

    def _reading_limit_s(self) -> float:
        # the slack is real time (a busy machine delivers late), so simulated time faster than
        # real time (ScaledClock) gets proportionally more of it
        return self.readings_s + (3.0 + 20.0 / self.rate_hz) * self._speed()

    def _speed(self) -> float:
        """How many times faster than real time the clock runs (1 unless a ScaledClock)."""
        return float(getattr(self.clock, "speed", 1.0))

    def _need(self) -> int:
        return max(3, int(math.ceil(self.readings_s * self.rate_hz)))

    def _advance(self) -> None:
        if self.state not in ("reading", "waiting_device"):
            return
        failure = self.source.failure
        if failure is not None:
            self._fail(CalibrationDeviceError(f"{self.source.text}: {failure}"))
            return
        now = self.clock.now()
        if self.state == "reading":
            if self.source.disconnects != self._seen_disconnects or not self.source.connected:
                self.state = "waiting_device"
                self._lost_at = now
                self._emit(DeviceLost(f"{self.source.text} disconnected; waiting for it to come back "
                                      f"(up to {self.reconnect_timeout_s:g} s)"))
                return
            values = self.source.since(self._t0)
            if values.shape[0] >= self._need():
                self.state = "ready"
                self._judge(values[:, self.columns])
                if self.state == "ready":
                    self._show()
            elif now > self._deadline:
                limit = self._reading_limit_s()
                self._fail(CalibrationDeviceError(
                    f"{self.source.text}: only {values.shape[0]} of {self._need()} readings arrived in "
                    f"{limit:.1f} s (is the device streaming?)"))
            return
        # waiting for the device
        if self.source.connected:
            self._emit(DeviceBack(f"{self.source.text} back; reading again"))
            self.state = "reading"
            self._seen_disconnects = self.source.disconnects
            self._t0 = now
            self._deadline = now + self._reading_limit_s()
        elif now > self._lost_at + self.reconnect_timeout_s:
            self._fail(CalibrationDeviceError(f"{self.source.text}: disconnected and did not come back within "
                                              f"{self.reconnect_timeout_s:g} s; nothing saved"))

    def _fail(self, error: StationError) -> None:
        self.state = "failed"
        self.error = error
        self._emit(Failed(str(error)))

    def _refused(self, message: str, what: str) -> None:
        """A reading that did not settle: counted; too many without an operator ends the workflow."""
        self._attempts += 1
        self._emit(ReadingRefused(message, attempts=self._attempts))
        if self.max_attempts is not None and self._attempts >= self.max_attempts:
            self._fail(CalibrationWorkflowError(
                f"{what}: reading did not settle after {self._attempts} attempts "
                f"({message.removesuffix(' — hold still and try again')}); nothing saved"))

    def _show(self) -> None:
        step = self.step
        if step is None:
            return
        self._place(step)
        self._emit(StepShown(step.prompt, step=step))

    def live(self, seconds: float | None = None) -> LiveReading | None:
        """The reading over the last ``seconds`` (default: the settle window), or None without readings."""
        span = self.window_s if seconds is None else float(seconds)
        # the newest ``span`` worth of readings (their host stamps may lag the clock a little)
        values = self.source.since(self.clock.now() - span - LIVE_LAG_S * self._speed())[-max(3, int(span * self.rate_hz)):]
        if values.shape[0] < 3:
            return None
        series = values[:, self.columns].sum(axis=1)
        criteria = self._criteria()
        judged = assess_stability(series, self.rate_hz, criteria or StabilityCriteria(
            max_sd_counts=1e300, max_slope_counts_per_s=1e300, window_s=span))
        if not math.isfinite(judged.mean_counts):
            return None
        return LiveReading(value=judged.mean_counts, force_n=self._force_of(values[:, self.columns]),
                           sd=judged.sd_counts, slope_per_s=judged.slope_counts_per_s,
                           steady=None if criteria is None else judged.settled,
                           reason="" if criteria is None else judged.reason, n=judged.n_samples)

    # -- for subclasses --------------------------------------------------------------------
    @property
    def step(self) -> WorkflowStep | None:
        raise NotImplementedError

    def _headings(self) -> list[str]:
        return []

    def _place(self, step: WorkflowStep) -> None:
        """Put the step's load on a simulator."""

    def _judge(self, block: np.ndarray) -> None:
        raise NotImplementedError

    def _redo(self) -> None:
        """Discard the previous reading (when allowed)."""

    def _criteria(self) -> StabilityCriteria | None:
        return None

    def _force_of(self, values: np.ndarray) -> float | None:
        return None


# ======================================================================================
# Calibration
# ======================================================================================


@dataclass
class CalibrationSettings:
    """How to calibrate one channel. loads: reference loads in ``unit`` (kg or N; zero is
    added); cycles: loading/unloading runs; window_s: settle window, s; readings_s: seconds
    read per step (default window + lead-in); max_noise_n / max_drift_n_per_s: settle limits
    (default 0.05 % of the largest load); nominal_gain_n_per_count: for the settle limits
    (default: the channel's previous calibration, else estimated from zero and the first
    load); max_order: highest model order tried; the rest is recorded with the result."""

    loads: Sequence[float]
    unit: str = "kg"
    cycles: int = 1
    operator: str = ""
    window_s: float = 1.0
    readings_s: float | None = None
    max_noise_n: float | None = None
    max_drift_n_per_s: float | None = None
    nominal_gain_n_per_count: float | None = None
    max_order: int = 2
    expiry_months: int = DEFAULT_EXPIRY_MONTHS
    gravity_m_s2: float = STANDARD_GRAVITY_M_S2
    temperature_c: float | None = None
    notes: str = ""
    automatic: bool = False  # nobody at the prompts (--yes): a short lead-in and a limit on attempts
    max_attempts: int | None = field(default=None)

    def reading_seconds(self) -> float:
        lead = LEAD_IN_AUTO_S if self.automatic else LEAD_IN_INTERACTIVE_S
        return self.readings_s if self.readings_s is not None else self.window_s + lead


class _NoResponse(Exception):
    """The channel's reading did not change when the first load was placed."""


def gain_estimate(zero_block: np.ndarray, load_block: np.ndarray, load_n: float, rate_hz: float,
                  window_s: float, channel: int) -> float:
    """Sensitivity (N/count) from the zero reading and the first load's reading."""
    loose = StabilityCriteria(max_sd_counts=1e300, max_slope_counts_per_s=1e300, window_s=window_s)
    zero = assess_stability(zero_block, rate_hz, loose)
    loaded = assess_stability(load_block, rate_hz, loose)
    if not (math.isfinite(zero.mean_counts) and math.isfinite(loaded.mean_counts)):
        raise CalibrationWorkflowError("too few readings to judge the first steps; increase --readings-s")
    change = loaded.mean_counts - zero.mean_counts
    noise = max(zero.sd_counts, loaded.sd_counts, 1e-9)
    if abs(change) < max(20.0 * noise, 1e-9):
        raise _NoResponse(
            f"the reading of channel {channel} changed by only {change:+.4g} (noise SD {noise:.3g}) when "
            f"{load_n:.4g} N was placed: is the load on this channel's load cell?"
        )
    return load_n / change


def stability_limits(full_scale_n: float, gain_n_per_count: float, *, window_s: float,
                     max_noise_n: float | None, max_drift_n_per_s: float | None) -> StabilityCriteria:
    from station.calibration_link import stability_criteria

    return stability_criteria(full_scale_n, gain_n_per_count, window_s=window_s, max_noise_n=max_noise_n,
                              max_drift_n_per_s=max_drift_n_per_s)


class CalibrationWorkflow(_Workflow):
    """The multi-point calibration of one channel, step by step (see the module docstring).

    ``source``: the device's readings; ``channel``: 0-based; ``store``: where the previous
    calibration (its gain sets the settle limits) is found and the result saved; ``load``:
    a simulator's force source, to place each step's load automatically; ``uri``: named in
    the record's notes. Raises :class:`CalibrationWorkflowError` (one line) when the channel
    or device cannot be calibrated as asked.
    """

    def __init__(self, source: ReadingSource, channel: int, settings: CalibrationSettings, *,
                 store: CalibrationStore, clock: Clock | None = None, load: SimulatedLoad | None = None,
                 uri: str = "", reconnect_timeout_s: float = RECONNECT_TIMEOUT_S) -> None:
        info = source.info
        if not 0 <= channel < info.channels:
            raise CalibrationWorkflowError(f"--channel {channel}: out of range, {info.family} {info.model} "
                                           f"{info.serial} has channels 0..{info.channels - 1}")
        serial = (info.serial or "").strip()
        if not serial:
            raise CalibrationWorkflowError(f"{uri or source.text}: the device reports no serial number; "
                                           "calibrations are kept per serial")
        s = settings
        readings_s = s.reading_seconds()
        super().__init__(source, [channel], clock=clock, window_s=s.window_s, readings_s=readings_s,
                         max_attempts=s.max_attempts, reconnect_timeout_s=reconnect_timeout_s, load=load)
        self.settings = s
        self.channel = int(channel)
        self.serial = serial
        self.store = store
        self.uri = uri or source.text
        self.loads = list(s.loads)
        try:
            self.plan = MultiPointProcedure(serial, channel, self.loads, unit=s.unit, sample_rate_hz=self.rate_hz,
                                            cycles=s.cycles, gravity_m_s2=s.gravity_m_s2,
                                            stability=StabilityCriteria(1.0, 1.0, window_s=s.window_s))
        except CalibrationError as exc:
            raise CalibrationWorkflowError(str(exc)) from None
        self.full_scale_n = max(step.load_n for step in self.plan.steps)
        self.gain: float | None = s.nominal_gain_n_per_count
        self.gain_source = "--nominal-gain"
        if self.gain is None:
            try:
                previous = store.load(serial, channel)
            except CalibrationError:
                previous = None
            if previous is not None:
                self.gain = previous.gain_n_per_count
                self.gain_source = f"previous calibration of {previous.calibrated_at.date()}"
        self.proc: MultiPointProcedure | None = None if self.gain is None else self._procedure(self.gain)
        self._zero_block: np.ndarray | None = None  # bootstrap: zero kept until the gain is known
        self._retry = False
        self._retry_zero = False
        self.record: CalibrationRecord | None = None
        self.saved: SaveResult | None = None

    def _procedure(self, gain: float) -> MultiPointProcedure:
        s = self.settings
        return MultiPointProcedure(self.serial, self.channel, self.loads, unit=s.unit, sample_rate_hz=self.rate_hz,
                                   cycles=s.cycles, gravity_m_s2=s.gravity_m_s2, stability=self._limits(gain))

    def _limits(self, gain: float) -> StabilityCriteria:
        s = self.settings
        return stability_limits(self.full_scale_n, gain, window_s=s.window_s, max_noise_n=s.max_noise_n,
                                max_drift_n_per_s=s.max_drift_n_per_s)

    @property
    def _what(self) -> str:
        return f"channel {self.channel} of {self.serial}"

    def _headings(self) -> list[str]:
        info, s = self.info, self.settings
        lines = [
            f"Calibrating channel {self.channel} of {info.family} {info.model} serial {self.serial} ({self.uri}), "
            f"{info.rate_hz:g} samples/s, readings in {info.unit}",
            f"{len(self.plan.steps)} steps: {', '.join(f'{v:g}' for v in self.plan.load_values)} {s.unit}, loading "
            f"then unloading{f', {s.cycles} cycles' if s.cycles > 1 else ''}; each reading averages the last "
            f"{s.window_s:g} s once steady",
        ]
        if self.gain is not None:
            lines.append(f"Settle limits from the nominal gain {self.gain:.6g} N/count ({self.gain_source}).")
        return lines

    @property
    def step(self) -> WorkflowStep | None:
        if not self.active or self.state == "idle":
            return None
        auto = self.load is not None
        if self.proc is None:  # bootstrap: zero, then the first load gives the gain
            which = 0 if self._zero_block is None else 1
            st = self.plan.steps[which]
            retry = self._retry_zero if which == 0 else self._retry
            return WorkflowStep(st.index + 1, st.total, st.prompt, st.load_n, retry, False, auto)
        nxt = self.proc.next_step()
        if nxt is None:
            return None
        return WorkflowStep(nxt.index + 1, nxt.total, nxt.prompt, nxt.load_n, self._retry,
                            len(self.proc.points) > 2, auto)

    @property
    def points_done(self) -> int:
        """Steps with an accepted reading."""
        return 0 if self.proc is None else len(self.proc.points)

    def _place(self, step: WorkflowStep) -> None:
        if self.load is not None:
            self.load.set(self.channel, step.load_n)

    def _redo(self) -> None:
        if self.proc is None or len(self.proc.points) <= 2:
            return
        back = self.proc.retake_previous()
        self._emit(Note(f"redoing step {back.index + 1 if back else '?'}: the previous reading is discarded"))
        self._retry = False
        self._show()

    def _judge(self, block: np.ndarray) -> None:
        column = block[:, 0]
        if self.proc is None:
            self._judge_bootstrap(column)
            return
        result = self.proc.submit(column)
        if result.accepted:
            self._emit(ReadingAccepted(result.message, result=result))
            self._attempts, self._retry = 0, False
        else:
            self._retry = True
            self._refused(result.message, self._what)
        if self.state == "ready" and self.proc.done:
            self._fit()

    def _judge_bootstrap(self, column: np.ndarray) -> None:
        if self._zero_block is None:
            self._zero_block = column
            self._retry = False
            self._emit(Note("zero read; it is judged with the first load, which gives the sensitivity"))
            return
        step1 = self.plan.steps[1]
        try:
            gain = gain_estimate(self._zero_block, column, step1.load_n, self.rate_hz, self.window_s, self.channel)
        except _NoResponse as exc:
            self._zero_block, self._retry_zero, self._retry = None, False, False
            self._refused(str(exc), self._what)
            return
        except CalibrationWorkflowError as exc:
            self._fail(exc)
            return
        proc = self._procedure(gain)
        first = proc.submit(self._zero_block)
        if not first.accepted:
            self._zero_block, self._retry_zero, self._retry = None, True, False
            self._refused(f"zero reading: {first.message}; starting again from zero", self._what)
            return
        self._emit(ReadingAccepted(first.message, result=first))
        second = proc.submit(column)
        if not second.accepted:
            # Keep the zero; the next reading of the load gives a new estimate and both
            # readings are judged again with it.
            self._retry = True
            self._refused(second.message, self._what)
            return
        self._emit(ReadingAccepted(second.message, result=second))
        self._emit(Note(f"Settle limits from the estimated gain {gain:.6g} N/count."))
        self.gain, self.gain_source = gain, "estimated from zero and the first load"
        self.proc = proc
        self._attempts = 0
        self._retry = False

    def _fit(self) -> None:
        assert self.proc is not None
        s = self.settings
        try:
            self.record = self.proc.fit(operator=s.operator, expiry_months=s.expiry_months,
                                        temperature_c=s.temperature_c, max_order=s.max_order,
                                        notes=s.notes or f"calibrated with {self.uri}")
        except CalibrationError as exc:
            self._fail(CalibrationWorkflowError(f"{self._what}: {exc}; nothing saved"))
            return
        self.state = "finished"
        summary = FitSummary.of(self.record)
        r2 = "" if summary.r_squared is None else f", r² {summary.r_squared:.6f}"
        self._emit(Fitted(f"fitted {self.record.model} model: gain {self.record.gain_n_per_count:.6g} N/count, "
                          f"zero {self.record.offset_counts:.6g} counts{r2}", record=self.record, summary=summary))

    def save(self) -> SaveResult:
        """Save the fitted record (the previous one goes to history); raises a one-line error."""
        if self.record is None:
            raise CalibrationWorkflowError(f"{self._what}: nothing to save, the calibration is not finished")
        try:
            saved = self.store.save(self.record)
        except CalibrationError:
            raise
        except OSError as exc:
            raise CalibrationWorkflowError(f"{self.store.directory}: cannot save the calibration: "
                                           f"{exc.strerror or exc}") from None
        self.saved = saved
        self._emit(Saved(f"Saved: {saved.path}", paths=(saved.path,)))
        return saved

    def _criteria(self) -> StabilityCriteria | None:
        return None if self.gain is None else self._limits(self.gain)

    def _force_of(self, values: np.ndarray) -> float | None:
        mean = float(np.mean(values[-max(1, int(self.window_s * self.rate_hz)):, 0]))
        if self.record is not None:
            return float(self.record.force_n(np.array([mean]))[0])
        if self.info.unit == "N":
            return mean
        if self.gain is None:
            return None
        zero = None
        if self.proc is not None and self.proc.points:
            zero = self.proc.points[0].mean_counts
        elif self._zero_block is not None and self._zero_block.size:
            zero = float(np.mean(self._zero_block))
        return None if zero is None else (mean - zero) * self.gain


# ======================================================================================
# Verification
# ======================================================================================


@dataclass
class VerificationSettings:
    """A check with a known load. load / unit: the check load (kg or N). plate: the channels
    are a plate's 4 cells (front-left, front-right, back-right, back-left), checked at the
    centre and each corner. tolerance: max(pct of the load, min N). actual_load: the load a
    simulator really feels (a wrong check mass, in ``unit``; simulators only)."""

    load: float
    unit: str = "kg"
    plate: bool = False
    operator: str = ""
    window_s: float = 1.0
    readings_s: float | None = None
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT
    tolerance_min_n: float = DEFAULT_TOLERANCE_MIN_N
    actual_load: float | None = None
    automatic: bool = False
    max_attempts: int | None = None

    def reading_seconds(self) -> float:
        lead = LEAD_IN_AUTO_S if self.automatic else LEAD_IN_INTERACTIVE_S
        return self.readings_s if self.readings_s is not None else self.window_s + lead


class VerificationWorkflow(_Workflow):
    """A check of one channel (or a plate's cells) with a known load, step by step.

    The channels' stored records are loaded from ``store`` (a device reporting newtons
    without a record gets a factory record, checked and saved with the result). After the
    last step the report is ready (:attr:`report`); :meth:`save` appends it to every record.
    """

    def __init__(self, source: ReadingSource, channels: Sequence[int], settings: VerificationSettings, *,
                 store: CalibrationStore, clock: Clock | None = None, load: SimulatedLoad | None = None,
                 uri: str = "", now: datetime | None = None,
                 reconnect_timeout_s: float = RECONNECT_TIMEOUT_S) -> None:
        s = settings
        info = source.info
        columns = list(channels)
        if s.plate and len(columns) != 4:
            raise CalibrationWorkflowError(
                f"--plate needs the plate's 4 cells in --channels (front-left, front-right, back-right, "
                f"back-left), got {len(columns)}")
        if not s.plate and len(columns) != 1:
            raise CalibrationWorkflowError("give one --channel (or --plate with --channels)")
        for c in columns:
            if not 0 <= c < info.channels:
                raise CalibrationWorkflowError(f"channel {c}: out of range, {info.family} {info.model} "
                                               f"{info.serial} has channels 0..{info.channels - 1}")
        serial = (info.serial or "").strip()
        if not serial:
            raise CalibrationWorkflowError(f"{uri or source.text}: the device reports no serial number; "
                                           "calibrations are kept per serial")
        try:
            self.reference_n = loads_to_n([s.load], s.unit)[0]
            self.actual_n = self.reference_n if s.actual_load is None else loads_to_n([s.actual_load], s.unit)[0]
        except CalibrationError as exc:
            raise CalibrationWorkflowError(f"--load: {exc}") from None
        super().__init__(source, columns, clock=clock, window_s=s.window_s, readings_s=s.reading_seconds(),
                         max_attempts=s.max_attempts, reconnect_timeout_s=reconnect_timeout_s, load=load)
        self.settings = s
        self.serial = serial
        self.store = store
        self.uri = uri or source.text
        when = now or datetime.now(timezone.utc)
        self._notes: list[str] = []
        records: list[CalibrationRecord] = []
        for c in columns:
            record = store.load(serial, c)  # CalibrationError (unreadable file) names the file
            if record is None:
                if info.unit != "N":
                    raise CalibrationWorkflowError(
                        f"channel {c} of device {serial} has no calibration to verify; run "
                        f"`station calibrate --device {self.uri} --channel {c}` first")
                record = factory_record(
                    serial, c, operator="factory", calibrated_at=when,
                    notes=f"{info.family} {info.model} reports newtons; factory calibration confirmed by check loads",
                )
                self._notes.append(f"Channel {c} reports newtons and has no record yet: checking its factory "
                                   "calibration.")
            state = check_usable(record, when)
            if state.state is CalibrationState.EXPIRED:
                self._notes.append(f"Note: {state.reason}; a passing check does not renew it — recalibrate.")
            records.append(record)
        self.records = records
        full_scale_n = max([self.reference_n] + [r.figures.full_scale_n for r in records if r.figures is not None])
        gain = float(np.mean([abs(r.gain_n_per_count) for r in records]))
        self.criteria = stability_limits(full_scale_n, gain, window_s=s.window_s, max_noise_n=None,
                                         max_drift_n_per_s=None)
        common: dict[str, Any] = dict(unit=s.unit, sample_rate_hz=self.rate_hz, stability=self.criteria,
                                      operator=s.operator, tolerance_pct=s.tolerance_pct,
                                      tolerance_min_n=s.tolerance_min_n)
        try:
            if s.plate:
                self.proc = VerificationProcedure.plate(records, s.load, positions=PLATE_POSITIONS, **common)
            else:
                self.proc = VerificationProcedure.check_load(records[0], s.load, **common)
        except CalibrationError as exc:
            raise CalibrationWorkflowError(str(exc)) from None
        self.what = (f"force plate cells {','.join(map(str, columns))}" if s.plate else f"channel {columns[0]}")
        self._retry = False
        self.report: VerificationReport | None = None
        self.updated: list[CalibrationRecord] = []
        self.saved: list[Path] = []

    def _headings(self) -> list[str]:
        info, s = self.info, self.settings
        return [*self._notes,
                f"Verifying {self.what} of {info.family} {info.model} serial {self.serial} ({self.uri}) with "
                f"{s.load:g} {s.unit} ({self.reference_n:.2f} N)"]

    @property
    def tolerance_n(self) -> float:
        """The pass band around the check load, N."""
        from calibration import verification_tolerance_n

        return verification_tolerance_n(self.reference_n, tolerance_pct=self.settings.tolerance_pct,
                                        tolerance_min_n=self.settings.tolerance_min_n)

    @property
    def step(self) -> WorkflowStep | None:
        if not self.active or self.state == "idle":
            return None
        st = self.proc.next_step()
        if st is None:
            return None
        return WorkflowStep(st.index + 1, st.total, st.prompt, 0.0 if st.is_zero else self.reference_n,
                            self._retry, False, self.load is not None, st.position)

    def _place(self, step: WorkflowStep) -> None:
        if self.load is None:
            return
        from station.calibration_link import plate_load_shares

        total = 0.0 if step.load_n == 0 else self.actual_n
        if self.settings.plate:
            for c, share in zip(self.columns, plate_load_shares(step.position), strict=False):
                self.load.set(c, total * share)
        else:
            self.load.set(self.columns[0], total)

    def _judge(self, block: np.ndarray) -> None:
        try:
            result = self.proc.submit(block)
        except CalibrationError as exc:
            self._fail(CalibrationWorkflowError(str(exc)))
            return
        if result.accepted:
            self._emit(ReadingAccepted(result.message, result=result))
            self._attempts, self._retry = 0, False
        else:
            self._retry = True
            self._refused(result.message, f"{self.what} of {self.serial}")
        if self.state == "ready" and self.proc.done:
            self.report = self.proc.report()
            self.updated = self.report.apply_to(self.records)
            self.state = "finished"
            self._emit(Verified(f"verification {'PASSED' if self.report.passed else 'FAILED'}", report=self.report))

    def save(self) -> list[Path]:
        """Append the result to every record and save them (pass or fail: the evidence is kept)."""
        if self.report is None:
            raise CalibrationWorkflowError(f"{self.what} of {self.serial}: the verification is not finished")
        saved: list[Path] = []
        for record in self.updated:
            try:
                saved.append(self.store.save(record).path)
            except CalibrationError:
                raise
            except OSError as exc:
                raise CalibrationWorkflowError(f"{self.store.directory}: cannot save the verification: "
                                               f"{exc.strerror or exc}") from None
        self.saved = saved
        self._emit(Saved(f"Verification {'PASSED' if self.report.passed else 'FAILED'}; saved to "
                         + ", ".join(str(p) for p in saved), paths=tuple(saved)))
        return saved

    def _criteria(self) -> StabilityCriteria | None:
        return self.criteria

    def _force_of(self, values: np.ndarray) -> float | None:
        n = max(1, int(self.window_s * self.rate_hz))
        means = values[-n:].mean(axis=0)
        tare = self.proc._tare  # noqa: SLF001 - the zero the check uses
        return float(np.sum(self.proc.calibrations.with_tare(tare).apply(means)))


# ======================================================================================
# Terminal front end
# ======================================================================================


def run_at_console(workflow: _Workflow, console: Any) -> None:
    """Drive ``workflow`` from a :class:`~station.calibration_link.Console`: each step's prompt
    waits for Enter (``r`` redoes the previous step where allowed, ``q`` raises
    ``CalibrationAborted``); with a non-interactive console the prompts are answered at once.
    Every event's line is printed (details indented). Returns when the workflow finished;
    raises its error if it failed."""

    def show(event: WorkflowEvent) -> None:
        if isinstance(event, (StepShown, ReadingStarted, Fitted, Verified, Saved, Aborted, Failed)):
            return  # the prompt is asked below; the result and errors are the command's to print
        console.say(f"  {event.text}" if event.detail else event.text)

    token = workflow.subscribe(show)
    try:
        workflow.start()
        while workflow.state == "ready":
            step = workflow.step
            assert step is not None
            note = " [simulator: placed automatically]" if step.automatic else ""
            if console.interactive:
                keys = "r: redo the previous step, q: abort" if step.can_redo else "q: abort"
                action = "read again" if step.retry else "take the reading"
                answer = console.ask(f"{step.prompt}{note}\n  Press Enter to {action} ({keys}):")
                if answer == "r" and step.can_redo:
                    workflow.redo_previous()
                    workflow.poll()
                    continue
            else:
                console.ask(step.prompt, auto_note=note)
            workflow.take()
            workflow.wait()
    finally:
        workflow.unsubscribe(token)
