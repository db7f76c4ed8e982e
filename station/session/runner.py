"""The session engine: tests in order; per test tare, then per trial countdown, record,
live onset/peak, auto-stop, rest; acceptance rules; results; summary with LSI.

:class:`SessionEngine` is a state machine that takes **commands** (go, redo, skip, tare,
stop_trial, abort, pain) from a thread-safe queue and emits typed **events**
(:mod:`station.session.events`); it never asks a front end anything and never sleeps
outside its clock's waits, so a terminal, a Qt window, a script or a test drive the same
engine. It talks to devices only through the :class:`~station.pipeline.Pipeline`. An
optional *actor* plays the patient in simulated runs (``--auto``, the demo).

:class:`SessionRunner` runs the engine for a blocking :class:`SessionUI` (the terminal):
the engine in a worker thread, the UI answering its events in the calling thread.
"""
from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol as TypingProtocol

import numpy as np

from protocols.model import Protocol
from station import __version__
from station.analysis import ALGORITHM_VERSION
from station.analysis.alignment import common_grid  # noqa: F401 - re-exported (older imports)
from station.analysis.reps import summarize_reps
from station.analysis.symmetry import relative_to_baseline
from station.calibration_link import TareTracker
from station.session import lever_arm as lever_arms
from station.session import validity
from station.session.saturation import SaturationWatch, raw_limits
from station.session.tare_policy import ZeroPolicy, beyond_range, calibrated_range_n, judge_zero, still_changing
from station.clock import Clock
from station.live import LiveState
from station.pipeline import BoundDevice, Pipeline, TrialData, trial_spec
from station.session import events as ev
from station.session.control import AbortRequested, EngineControl, PipelineFailed
from station.session.kinds import Subject, get_kind
from station.session.model import Patient, SideSummary, TestSummary, TrialOutcome
from station.storage import layout
from station.storage.session_file import SessionFile
from station.storage.writer import SessionWriter

STANDARD_GRAVITY = 9.80665  # m/s²

#: (protocol, side, cue time on the host monotonic clock (s), duration (s)) → None
Actor = Callable[[Protocol, str, float, float], None]


class SessionAborted(Exception):
    """The operator ended the session (``q``, Ctrl-C or SIGTERM)."""


class _DeviceLost(Exception):
    """A device of the trial being recorded disconnected (engine internal)."""


class SessionUI(TypingProtocol):
    """A blocking front end (the terminal) as :class:`SessionRunner` drives it: each method
    answers one engine event; ``before_trial`` returns a command name, ``ask_pain`` a rating."""

    def info(self, text: str) -> None: ...
    def before_trial(self, test: TestSummary, side: str, rep: int, attempt: int, cue: str) -> str: ...
    def countdown(self, side: str, rep: int, seconds_left: float) -> None: ...
    def live(self, side: str, rep: int, state: LiveState, elapsed_s: float, duration_s: float) -> None: ...
    def trial_done(self, outcome: TrialOutcome) -> None: ...
    def rest(self, seconds_left: float) -> None: ...
    def test_done(self, summary: TestSummary) -> None: ...
    def ask_pain(self, side: str) -> int | None: ...


@dataclass(frozen=True)
class RunnerOptions:
    """How to run: timing overrides (demo), first side, pass mark, record tail."""

    countdown_s: float | None = None
    rest_s: float | None = None
    first_side: str = "left"
    tail_s: float = 0.6
    pass_pct: float | None = None  # None: each protocol's own pass mark ([acceptance] lsi_pass_pct)
    operator: str = ""
    ui_period_s: float = 0.1
    ask_pain: bool = False  # ask the patient's pain (0–10) after each recorded trial
    wait_for_go: bool = True  # False: start each trial without waiting for 'go' (scripts, --auto)
    sample_timeout_s: float = 5.0  # how long zeroing waits for a device's samples
    lever_arms_m: dict[str, float] | None = None  # protocol id → lever arm (m), from --lever-arm
    lever_arms_asked: tuple[str, ...] = ()  # protocols whose lever arm the operator typed when asked
    ask_lever_arm: bool = False  # a missing lever arm is asked at its test's start (LeverArmRequested)
    zero_policy: ZeroPolicy = ZeroPolicy()


@dataclass(frozen=True)
class SideChannels:
    device_id: str
    channels: tuple[int, ...]


def side_channels(protocol: Protocol, roles: dict[str, str]) -> dict[str, SideChannels]:
    """Which device channels measure each side; a mapping without a side serves every side."""
    out: dict[str, SideChannels] = {}
    shared: SideChannels | None = None
    for m in protocol.channel_map:
        sc = SideChannels(roles[m.role], tuple(m.channels))
        if m.side in (None, "both"):
            shared = sc
        else:
            out[m.side] = sc
    for side in ("left", "right"):
        if side not in out and shared is not None:
            out[side] = shared
    return out


class _InfoEvents:
    """``engine.ui.info(text)`` → an :class:`~station.session.events.Info` event."""

    def __init__(self, engine: SessionEngine) -> None:
        self._engine = engine

    def info(self, text: str) -> None:
        self._engine.emit(ev.Info(self._engine.clock.now(), text))


class SessionEngine(EngineControl):
    """Runs protocols for one patient and writes the session file: commands in, events out.

    ``roles`` maps each protocol device role to a bound device id in ``pipeline``; the
    pipeline is started by the caller (:func:`station.session.run.open_session` does it all).
    ``clock`` defaults to the host monotonic clock; tests pass a
    :class:`~station.clock.FakeClock`. Call :meth:`run` in the thread that should run the
    session (it returns when the session ends), or :meth:`start` for a thread of its own;
    send commands and :meth:`request_abort` from any thread; :meth:`subscribe` to its events.
    """

    def __init__(self, *, patient: Patient, protocols: list[Protocol], pipeline: Pipeline, writer: SessionWriter,
                 roles: dict[str, str], options: RunnerOptions = RunnerOptions(),
                 actor: Actor | None = None, session_attrs: dict[str, Any] | None = None,
                 history_dir: Path | None = None, clock: Clock | None = None) -> None:
        super().__init__(pipeline, clock)
        self.patient = patient
        self.protocols = protocols
        self.writer = writer
        self.file = SessionFile(writer)  # every write of the session layout goes through it
        self.roles = roles
        self.ui = _InfoEvents(self)  # the engine's only "UI": lines for people, as Info events
        self.options = options
        self.actor = actor
        self.session_attrs = session_attrs or {}
        self.history_dir = history_dir
        self._history: Any = None  # PatientHistory, read on first use
        self.summaries: list[TestSummary] = []
        self.tare_trackers: dict[str, TareTracker] = {}  # device id → tares of the session, drift between them
        self._ranges: dict[str, list[float | None]] = {}  # device id → calibrated range per channel (N)
        self._lever_arm_m: float | None = None  # the lever arm of the test being run
        self.session_id = str(uuid.uuid4())
        self.current: TestSummary | None = None  # the test being run
        self._trial_devices: frozenset[str] = frozenset()  # devices of the trial being recorded
        self._lost: str | None = None  # a device of that trial disconnected
        self._queued_choice: str | None = None  # a choice made while paused, for the next prompt
        self._retry = False  # the next trial repeats one a disconnect interrupted
        self._health_reported = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None  # what ended a run() started with start()

    # -- the whole session ------------------------------------------------------------------
    def write_header(self, devices: dict[str, BoundDevice], calibration: dict[str, Any] | None = None) -> None:
        """Create the session file: session, patient, devices, calibrations, protocols.
        (``calibration`` is ignored: the snapshot is taken from ``devices``.)"""
        self.file.write_header(
            root={"session_id": self.session_id, "algorithm_version": ALGORITHM_VERSION,
                  "station_version": __version__},
            patient=self.patient, session={"operator": self.options.operator, **self.session_attrs},
            devices=devices, protocols=self.protocols)

    def run(self) -> list[TestSummary]:
        """Run every protocol in order, in the calling thread; returns the test summaries.

        Raises :class:`SessionAborted` after an abort (command, :meth:`request_abort`, Ctrl-C
        in this thread) and :class:`~station.session.control.PipelineFailed` when the pipeline
        can no longer record (a :class:`~station.session.events.HealthError` is emitted first).
        """
        self.emit(ev.SessionStarted(self.clock.now(), self.session_id, self.writer.path, self.patient.patient_id,
                                    tuple(p.name for p in self.protocols)))
        try:
            for index, protocol in enumerate(self.protocols, start=1):
                summary = self.run_test(index, protocol)
                self.summaries.append(summary)
                self.emit(ev.TestDone(self.clock.now(), summary))
                if summary.status == layout.STATUS_ABORTED:
                    raise SessionAborted(f"session aborted during {protocol.name}")
            if self.abort_requested:
                raise SessionAborted("session aborted")
        except AbortRequested as exc:
            raise SessionAborted(f"session aborted ({exc})") from None
        except PipelineFailed as exc:
            if not self._health_reported:
                self._health_reported = True
                self.emit(ev.HealthError(self.clock.now(), exc.event.source, str(exc)))
            raise
        finally:
            self._set_state("done")
        return self.summaries

    def start(self) -> threading.Thread:
        """Run the session in a thread of its own ("session-engine"); returns the thread.
        What ended it is in :attr:`error` (None: complete)."""
        def work() -> None:
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - kept for whoever joins
                self.error = exc

        self._thread = threading.Thread(target=work, name="session-engine", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout_s: float | None = None) -> bool:
        """Wait for a session started with :meth:`start`; True once it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    # -- one test -----------------------------------------------------------------------------
    def _timing(self, protocol: Protocol) -> tuple[float, float, float]:
        t = protocol.timing
        countdown = self.options.countdown_s if self.options.countdown_s is not None else t.countdown_s
        rest = self.options.rest_s if self.options.rest_s is not None else t.rest_s
        return countdown, t.duration_s, rest

    def run_test(self, index: int, protocol: Protocol) -> TestSummary:
        test = layout.test_key(index, protocol.id)
        summary = TestSummary(test=test, protocol_id=protocol.id, name=protocol.name, kind=protocol.kind)
        self.current = summary
        by_side = side_channels(protocol, self.roles)
        used = sorted({sc.device_id for sc in by_side.values()})
        countdown_s, duration_s, rest_s = self._timing(protocol)
        self.emit(ev.TestStarted(self.clock.now(), index, test, protocol.id, protocol.name, protocol.kind,
                                 protocol.cues.setup, tuple(protocol.trial_plan(self.options.first_side)),  # type: ignore[arg-type]
                                 countdown_s, duration_s, rest_s))
        self.ui.info(f"{protocol.name}: {protocol.cues.setup}".rstrip(": "))
        lever = self._lever_arm(protocol)
        in_use = self._channels_in_use(by_side)
        self._set_state("taring")
        tare, tare_log = self._tare(used, in_use, settle=True)
        self.emit(ev.Tared(self.clock.now(), test, tare))
        on_demand: list[dict[str, Any]] = []
        self.file.begin_test(test, protocol_id=protocol.id, name=protocol.name, kind=protocol.kind, index=index,
                             tare_n=tare, tare_log=tare_log, involved_side=self.patient.involved_side,
                             zero_policy=self.options.zero_policy.as_dict(), lever_arm=lever.as_dict(),
                             lsi_pass_pct=self._pass_pct(protocol))
        plan: deque[tuple[str, int]] = deque(protocol.trial_plan(self.options.first_side))  # type: ignore[arg-type]
        trial_no = 0
        attempts: dict[str, int] = {}
        last: TrialOutcome | None = None
        while plan:
            side, rep = plan.popleft()
            attempt = attempts.get(side, 0) + 1
            choice = self._await_choice(test, side, rep, attempt, protocol.cues.start, can_redo=last is not None)
            if choice == "go" and not self._devices_present(used):
                choice = self._pause(test, used, side, rep, None)
            if choice == "retry":
                plan.appendleft((side, rep))
                continue
            if choice == "abort":
                summary.status = layout.STATUS_ABORTED
                break
            if choice == "tare":  # zero on demand (limb off the pad / plates empty), then ask again
                self._set_state("taring")
                tare_now, log_now = self._tare(used, in_use)
                self.emit(ev.Tared(self.clock.now(), test, tare_now, on_demand=True))
                on_demand.append({"before_trial": layout.trial_key(trial_no + 1), "tare_n": tare_now, "log": log_now})
                self.file.update_test(test, tare_on_demand=on_demand)
                accepted = {d: vals for d, vals in tare_now.items() if log_now[d]["decision"]["accepted"]}
                if accepted:
                    self.ui.info("zeroed: " + ", ".join(
                        f"{d} {', '.join('—' if v is None else signed_n(v) for v in vals)} N"
                        for d, vals in accepted.items()))
                plan.appendleft((side, rep))
                continue
            if choice == "redo" and last is None:
                self.ui.info("nothing to redo yet: no trial of this test has been recorded")
                plan.appendleft((side, rep))
                continue
            if choice == "redo" and last is not None:
                # a new record: the event already emitted for this trial keeps its outcome
                rejected = replace(last, status="rejected", flags=list(last.flags))
                summary.trials[next(i for i, t in enumerate(summary.trials) if t is last)] = rejected
                last = rejected
                self.file.set_trial(test, last.trial, status="rejected")
                self.emit(ev.TrialRecorded(self.clock.now(), last))
                plan.appendleft((side, rep))
                side, rep = last.side, last.rep  # type: ignore[assignment]  # a side of the plan
                attempt = attempts.get(side, 0) + 1
            trial_no += 1
            if choice == "skip":
                outcome = TrialOutcome(test, layout.trial_key(trial_no), side, rep, attempt, "skipped")
                self.file.skipped_trial(outcome)
            else:
                outcome = self.record_trial(protocol, test, trial_no, side, rep, attempt, by_side,
                                            countdown_s, duration_s)
            attempts[side] = attempt
            summary.trials.append(outcome)
            last = outcome
            self.emit(ev.TrialRecorded(self.clock.now(), outcome))
            if self.options.ask_pain and outcome.status in (layout.STATUS_COMPLETE, layout.STATUS_INTERRUPTED):
                outcome.pain_0_10 = self._ask_pain(outcome)
                if outcome.pain_0_10 is not None:
                    self.file.set_trial(test, outcome.trial, pain_0_10=outcome.pain_0_10)
            if outcome.status == layout.STATUS_ABORTED:
                summary.status = layout.STATUS_ABORTED
                break
            if self._lost is not None:  # a device went away mid-trial: pause, then retry or not
                lost, self._lost = self._lost, None
                again = self._pause(test, used, side, rep, lost)
                if again in ("retry", "skip"):
                    plan.appendleft((side, rep))
                    self._queued_choice = "skip" if again == "skip" else None
                    self._retry = again == "retry"
                    continue
                summary.status = layout.STATUS_ABORTED
                break
            self._maybe_add_rep(protocol, summary, plan, side, rep, attempts)  # type: ignore[arg-type]  # sides are str
            if plan:
                switching = plan[0][0] != side and protocol.order == "blocked"
                between = protocol.timing.rest_between_sides_s
                self._rest(between if switching and between is not None and self.options.rest_s is None else rest_s)
        self._summarise(protocol, summary)
        self.file.end_test(summary, **self._headline_attrs(summary))
        return summary

    def _tare(self, used: list[str], in_use: dict[str, list[int]] | None = None, *, settle: bool = False
              ) -> tuple[dict[str, list[float | None]], dict[str, Any]]:
        """Zero ``used`` devices on their last 0.5 s when the load is steady and small
        (:mod:`station.session.tare_policy`), else keep the zero in force and say why in one
        line. ``settle``: first wait up to ``settle_s`` of samples for the load to become
        steady and small, sliding the window by 0.1 s (the automatic zero at the start of a
        test, taken right after the previous test's last effort). Returns the zero in force per
        device (N) and the log (decision, drift, and how long it waited to settle)."""
        policy = self.options.zero_policy
        tare: dict[str, list[float | None]] = {}
        tare_log: dict[str, Any] = {}
        for device_id in used:
            device = self.pipeline.devices[device_id]
            ring = self.pipeline.rings[device_id]
            n = int(policy.window_s * device.info.rate_hz)
            first = ring.total
            self._wait_for_samples(device_id, first + n + 1)
            channels = (in_use or {}).get(device_id) or list(range(device.info.channels))
            step = max(1, int(0.1 * device.info.rate_hz))
            while True:
                _, window = ring.latest(max(2, n))
                decision = judge_zero(device_id, window, self.pipeline.tare_n[device_id], channels,
                                      self._range(device_id), policy)
                waited = ring.total - first - n - 1
                settling = still_changing(window, channels, falling=not decision.accepted)
                if (not settling or not settle or waited >= policy.settle_s * device.info.rate_hz
                        or device_id in self.disconnected
                        or not self._wait_for_samples(device_id, ring.total + step)):
                    break
            entry: dict[str, Any] = {"decision": decision.as_dict()}
            if settle:
                entry["settled_after_s"] = round(max(waited, 0) / device.info.rate_hz, 3)
            if decision.accepted:
                current = self.pipeline.tare(device_id, policy.window_s)
                tracker = self.tare_trackers.get(device_id)
                if tracker is None:
                    tracker = self.tare_trackers[device_id] = TareTracker.from_snapshot(device.calibration_snapshot)
                entry["drift"] = tracker.add([v if math.isfinite(v) else None for v in current.tolist()])
            else:
                current = self.pipeline.tare_n[device_id]
                self.ui.info(decision.message)
            for w in decision.warnings:
                self.ui.info("WARNING: " + w)
            # a channel used without calibration (--allow-uncalibrated) reads NaN: no tare (null)
            tare[device_id] = [v if math.isfinite(v) else None for v in np.asarray(current).tolist()]
            tare_log[device_id] = entry
        return tare, tare_log

    def _saturation(self, watch: SaturationWatch, test: str, trial: str) -> None:
        """Emit :class:`~station.session.events.Saturation` for what the watch saw since the last tick."""
        for h in watch.take_new():
            self.emit(ev.Saturation(self.clock.now(), test, trial, h.device_id, h.channel, h.kind, h.value, h.limit))

    def _range(self, device_id: str) -> list[float | None]:
        if device_id not in self._ranges:
            d = self.pipeline.devices[device_id]
            self._ranges[device_id] = calibrated_range_n(d.calibration_snapshot, d.info)
        return self._ranges[device_id]

    @staticmethod
    def _channels_in_use(by_side: dict[str, SideChannels]) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for sc in by_side.values():
            out.setdefault(sc.device_id, [])
            out[sc.device_id].extend(c for c in sc.channels if c not in out[sc.device_id])
        return out

    def _pass_pct(self, protocol: Protocol) -> float:
        return self.options.pass_pct if self.options.pass_pct is not None else protocol.acceptance.lsi_pass_pct

    def _lever_arm(self, protocol: Protocol) -> lever_arms.LeverArmChoice:
        """The lever arm of this test (given, or fixed by the protocol); else a visible note."""
        choice = lever_arms.resolve(protocol, self.options.lever_arms_m or {}, self.patient.lever_arm_m,
                                    self.protocols)
        if choice is not None and protocol.id in self.options.lever_arms_asked:
            choice = lever_arms.LeverArmChoice(choice.value_m, "asked")
        if choice is None and self.options.ask_lever_arm:
            value = self._ask_lever_arm(protocol)
            if value is not None:
                choice = lever_arms.LeverArmChoice(value, "asked")
        if choice is None:
            choice = lever_arms.LeverArmChoice(None, "missing", lever_arms.missing_note(protocol))
            self.ui.info("note: " + choice.note)
        self._lever_arm_m = choice.value_m
        return choice

    def _maybe_add_rep(self, protocol: Protocol, summary: TestSummary, plan: deque[tuple[str, int]], side: str,
                       rep: int, attempts: dict[str, int]) -> None:
        """Acceptance rule (:func:`station.session.validity.needs_another_rep`): once a side's
        planned reps are done, add a rep while it has fewer than ``min_reps`` valid reps or its
        latest valid rep is more than ``max_drop_pct`` below its best, up to ``max_reps``."""
        if any(s == side for s, _ in plan):
            return
        sides = ["left", "right"] if side == "both" else [side]
        why = validity.needs_another_rep(summary.trials, sides, min_reps=min_reps(protocol),
                                         max_drop_pct=protocol.acceptance.max_drop_pct)
        if why is None:
            return
        if attempts.get(side, 0) < protocol.acceptance.max_reps:
            plan.append((side, rep + 1))
            self.emit(ev.RepAdded(self.clock.now(), summary.test, side, rep + 1, why))
            self.ui.info(f"{side}: one more rep — {why} (acceptance rule, max {protocol.acceptance.max_reps})")
        else:
            self.ui.info(f"{side}: {why}, and the {protocol.acceptance.max_reps} reps allowed are done")

    # -- waits: every one takes commands and honours an abort ----------------------------------
    def _await_choice(self, test: str, side: str, rep: int, attempt: int, cue: str, *, can_redo: bool) -> str:
        """``ready``: emit TrialReady, then the clinician's choice: go, redo, skip, tare or abort."""
        queued, self._queued_choice = self._queued_choice, None
        retry, self._retry = self._retry, False
        if queued is not None:
            return queued
        self._set_state("ready")
        self.emit(ev.TrialReady(self.clock.now(), test, side, rep, attempt, cue, can_redo, retry))
        try:
            if not self.options.wait_for_go:
                self.check()
                return "go"
            while True:
                cmd = self.wait(None)
                assert cmd is not None
                if cmd.name in ("go", "redo", "skip", "tare"):
                    return cmd.name
                self.ignored(cmd)
        except AbortRequested:
            return "abort"

    def _timed(self, deadline: float, tick: Callable[[float], None]) -> bool:
        """Wait until ``deadline`` on the engine clock, calling ``tick(seconds_left)`` every
        ``ui_period_s``; False if ``stop_trial`` came first. Raises on abort, on a pipeline
        failure and when a device of the trial disconnects."""
        while (left := deadline - self.clock.now()) > 0:
            tick(left)
            cmd = self.wait(min(self.options.ui_period_s, left))
            if self._lost is not None:
                raise _DeviceLost(self._lost)
            if cmd is None:
                continue
            if cmd.name == "stop_trial":
                return False
            self.ignored(cmd)
        return True

    def _rest(self, rest_s: float) -> None:
        """``resting`` for ``rest_s`` (``go`` ends it early). An abort ends it at once; the
        next prompt then ends the test."""
        self._set_state("resting")
        end = self.clock.now() + rest_s
        try:
            while (left := end - self.clock.now()) > 0:
                self.emit(ev.Resting(self.clock.now(), rest_s, left))
                cmd = self.wait(min(self.options.ui_period_s * 5, left))
                if cmd is None:
                    continue
                if cmd.name == "go":
                    return
                self.ignored(cmd)
        except AbortRequested:
            return

    def _ask_lever_arm(self, protocol: Protocol) -> float | None:
        """``lever_arm``: wait for the lever arm of ``protocol`` (None: none, or on abort); a
        value implausible for its joint is refused with a line and asked again."""
        from station.errors import StationError

        lo, hi = lever_arms.plausible_range_m(protocol)
        test = self.current.test if self.current is not None else protocol.id
        try:
            while True:
                self._set_state("lever_arm")
                self.emit(ev.LeverArmRequested(self.clock.now(), test, protocol.id,
                                               lever_arms.what_to_measure(protocol), lo, hi))
                while True:
                    cmd = self.wait(None)
                    assert cmd is not None
                    if cmd.name == "lever_arm":
                        break
                    self.ignored(cmd)
                if cmd.value is None:
                    return None
                try:
                    return lever_arms.check_value(protocol, float(cmd.value), option="lever arm")
                except StationError as exc:
                    self.ui.info(str(exc))
        except AbortRequested:
            return None

    def _ask_pain(self, outcome: TrialOutcome) -> int | None:
        """``pain``: wait for the patient's rating of the trial just recorded (None on abort)."""
        self._set_state("pain")
        self.emit(ev.PainRequested(self.clock.now(), outcome.test, outcome.trial, outcome.side))
        try:
            while True:
                cmd = self.wait(None)
                assert cmd is not None
                if cmd.name == "pain":
                    return None if cmd.value is None else int(cmd.value)
                self.ignored(cmd)
        except AbortRequested:
            return None

    def _wait_for_samples(self, device_id: str, n: int) -> bool:
        """Wait (engine clock) until ``device_id`` has delivered ``n`` samples in total."""
        ring = self.pipeline.rings[device_id]
        return self.wait_until(lambda: ring.total >= n, self.options.sample_timeout_s)

    def _sampled_until(self, device_ids: list[str], t_s: float) -> bool:
        """True once every device's newest sample is stamped within a sample period of ``t_s``
        (or a device is disconnected: nothing more will come)."""
        if self._lost is not None or self.disconnected & set(device_ids):
            return True
        for device_id in device_ids:
            t, _ = self.pipeline.rings[device_id].latest(1)
            if not t.size or t[-1] < t_s - 1.0 / self.pipeline.devices[device_id].info.rate_hz:
                return False
        return True

    def _devices_present(self, used: list[str]) -> bool:
        return not (self.disconnected & set(used))

    def _pause(self, test: str, used: list[str], side: str, rep: int, lost: str | None) -> str:
        """``paused``: a device of this test is disconnected. Wait for every one to come back
        (then "retry"), or for ``skip`` ("skip") or ``abort`` ("abort")."""
        missing = sorted(self.disconnected & set(used)) or ([lost] if lost else [])
        self._set_state("paused")
        message = (f"{', '.join(missing)} disconnected: waiting for it to come back "
                   "(the trial will be repeated; skip it or end the session meanwhile)")
        self.ui.info(message)  # first: a terminal shows this line, then its prompt for the Paused event
        self.emit(ev.Paused(self.clock.now(), test, tuple(missing), side, rep, message))
        try:
            while not self._devices_present(used):
                cmd = self.wait(self.options.ui_period_s * 5)
                if cmd is None:
                    continue
                if cmd.name == "skip":
                    return "skip"
                self.ignored(cmd, f"{', '.join(sorted(self.disconnected & set(used)))} still disconnected")
        except AbortRequested:
            return "abort"
        self.ui.info(f"{', '.join(missing)} back: the trial will be repeated")
        return "retry"

    def on_device_event(self, event: Any) -> None:
        if event.kind == "disconnected" and event.device_id in self._trial_devices:
            self._lost = event.device_id

    # -- one trial ----------------------------------------------------------------------------
    def record_trial(self, protocol: Protocol, test: str, trial_no: int, side: str, rep: int, attempt: int,
                     by_side: dict[str, SideChannels], countdown_s: float, duration_s: float) -> TrialOutcome:
        trial = layout.trial_key(trial_no)
        measured = ["left", "right"] if side == "both" else [side]
        devices = {sc.device_id: self.pipeline.devices[sc.device_id] for s, sc in by_side.items() if s in measured}
        self.pipeline.watch_sides({s: (by_side[s].device_id, by_side[s].channels) for s in measured})
        attrs = {"side": side, "rep": rep, "attempt": attempt, "protocol_id": protocol.id,
                 "channels": {s: {"device": by_side[s].device_id, "channels": list(by_side[s].channels)}
                              for s in measured},
                 # the zero (N per channel) subtracted from force_n in this trial
                 "zero_offset_n": {d: [v if math.isfinite(v) else None for v in self.pipeline.tare_n[d].tolist()]
                                   for d in devices},
                 # the host monotonic clock of t_host_s paired with UTC at the trial's start
                 **clock_pair(self.clock.now())}
        self._trial_devices, self._lost = frozenset(devices), None
        self.pipeline.begin_recording(trial_spec(test, trial, devices, attrs), list(devices))
        watch = SaturationWatch(self._channels_in_use({s: by_side[s] for s in measured}),
                                {d: self._range(d) for d in devices}, {d: raw_limits(x.info) for d, x in devices.items()},
                                self.pipeline.tare_n)
        watching = self.pipeline.subscribe(watch, name="saturation watch") if watch.active else None
        status = layout.STATUS_COMPLETE
        cue_s = onset = None
        failure: PipelineFailed | None = None
        stopped_early = False
        try:
            self._set_state("countdown")
            self.emit(ev.TrialArmed(self.clock.now(), test, trial, side, rep, attempt, protocol.cues.start,
                                    countdown_s, duration_s, tuple(measured)))
            start = self.clock.now()
            def counting(left: float) -> None:
                self._saturation(watch, test, trial)
                self.emit(ev.Countdown(self.clock.now(), side, rep, left))

            if self._timed(start + countdown_s, counting):
                for detector in self.pipeline.watched.values():
                    detector.arm()
                cue_s = self.clock.now()
                self._set_state("recording")
                self.emit(ev.Recording(cue_s, test, trial, side, rep, cue_s, duration_s,
                                       protocol.cues.during, protocol.cues.stop))
                if self.actor is not None:
                    self.actor(protocol, side, cue_s, duration_s)
                end = cue_s + duration_s + self.options.tail_s
                def live(left: float, cue_s: float = cue_s) -> None:
                    self._saturation(watch, test, trial)
                    self.emit(ev.LiveUpdate(self.clock.now(), side, rep, self.clock.now() - cue_s, duration_s,
                                            {s: d.state() for s, d in self.pipeline.watched.items()}))

                stopped_early = not self._timed(end, live)
                if not stopped_early:  # the tail's last samples may still be on their way from the readers:
                    # wait up to tail + 1 s of real time (reader lag is real, whatever the clock's speed)
                    self.wait_until(lambda: self._sampled_until(list(devices), end),
                                    (self.options.tail_s + 1.0) * getattr(self.clock, "speed", 1.0))
                onset = self.pipeline.live.state().onset_t_s
            else:
                stopped_early = True
        except (KeyboardInterrupt, AbortRequested):
            status = layout.STATUS_ABORTED
        except _DeviceLost:
            status = layout.STATUS_INTERRUPTED
        except PipelineFailed as exc:
            status = layout.STATUS_INTERRUPTED
            failure = exc
        finally:
            self._trial_devices = frozenset()
            if watching is not None:
                self.pipeline.unsubscribe(watching)
        data, events = self.pipeline.end_recording()
        self._saturation(watch, test, trial)
        flags = [f"{e.kind}: {e.message}" for e in events if e.kind in ("disconnected", "overflow", "error")]
        if any(e.kind == "disconnected" for e in events) and status == layout.STATUS_COMPLETE:
            status = layout.STATUS_INTERRUPTED
        if status == layout.STATUS_COMPLETE and any(data.get(d) is None or data[d].samples == 0 for d in devices):
            status = layout.STATUS_INTERRUPTED  # never a complete trial without samples
        outcome = TrialOutcome(test, trial, side, rep, attempt, status, flags=flags)
        if failure is not None:
            outcome.flags.append(str(failure))
        if stopped_early and status == layout.STATUS_COMPLETE:
            outcome.flags.append("stopped early by the operator")
        over = self._beyond_range(data, by_side, measured)
        for o in over:
            outcome.flags.append(f"beyond calibrated range: {o['device']} channel {o['channel']} read "
                                 f"{o['max_abs_n']:.0f} N, calibrated to {o['range_n']:.0f} N")
        outcome.flags.extend(f"raw counts at the ADC limit: {h.device_id} channel {h.channel} read {h.value:.0f} counts"
                             for h in watch.hits() if h.kind == "adc")
        if status != layout.STATUS_ABORTED:
            self._analyse(protocol, outcome, data, by_side, measured, cue_s)
        self.file.end_trial(outcome, cue_host_s=cue_s, live_onset_host_s=onset, algorithm_version=ALGORITHM_VERSION,
                            beyond_calibrated_range=bool(over), beyond_calibrated_range_detail=over or None,
                            **outcome.side_peaks_attrs())
        self._write_plate_forces(protocol, test, trial, data, by_side, measured)
        if failure is not None:
            self.emit(ev.TrialRecorded(self.clock.now(), outcome))
            raise failure
        return outcome

    def _write_plate_forces(self, protocol: Protocol, test: str, trial: str, data: dict[str, TrialData],
                            by_side: dict[str, SideChannels], measured: list[str]) -> None:
        """Each force plate's summed vertical force (N), stored beside its cells as ``fz_n``."""
        if not get_kind(protocol.kind).plate_force:
            return
        plates: dict[str, list[tuple[str, tuple[int, ...]]]] = {}
        for s in measured:
            sc = by_side[s]
            plates.setdefault(sc.device_id, []).append((s, sc.channels))
        for device_id, items in plates.items():
            d = data.get(device_id)
            if d is None or d.samples == 0:
                continue
            fz = np.stack([d.force_n[:, list(ch)].sum(axis=1) for _, ch in items], axis=1)
            self.writer.add_dataset(f"{layout.trial_path(test, trial)}/{device_id}", "fz_n",
                                    fz[:, 0] if fz.shape[1] == 1 else fz,
                                    {"unit": "N", "cells": [list(ch) for _, ch in items],
                                     "sides": [s for s, _ in items],
                                     "definition": "sum of the plate's cells of force_n (vertical force)"})

    def _beyond_range(self, data: dict[str, TrialData], by_side: dict[str, SideChannels],
                      measured: list[str]) -> list[dict[str, Any]]:
        """Channels in use whose force (with the zero added back) exceeded their calibrated range."""
        out: list[dict[str, Any]] = []
        for device_id, channels in self._channels_in_use({s: by_side[s] for s in measured}).items():
            d = data.get(device_id)
            if d is None or d.samples == 0:
                continue
            absolute = d.force_n + self.pipeline.tare_n[device_id]
            out.extend({"device": device_id, **o} for o in beyond_range(absolute, self._range(device_id), channels))
        return out

    def _analyse(self, protocol: Protocol, outcome: TrialOutcome, data: dict[str, TrialData],
                 by_side: dict[str, SideChannels], measured: list[str], cue_s: float | None) -> None:
        forces: dict[str, np.ndarray] = {}
        times: dict[str, np.ndarray] = {}
        rates: dict[str, float] = {}
        for s in measured:
            sc = by_side[s]
            d = data.get(sc.device_id)
            if d is None or d.samples == 0:
                outcome.flags.append(f"no samples from {sc.device_id}")
                continue
            forces[s] = d.force_n[:, list(sc.channels)].sum(axis=1)
            times[s] = d.t_host_s
            rates[s] = self.pipeline.devices[sc.device_id].info.rate_hz
        alignment = None
        if len({by_side[s].device_id for s in forces}) > 1:
            forces, rates = common_grid(forces, times, rates)
            alignment = {"method": "linear interpolation of each device onto their common host-time grid",
                         "rate_hz": next(iter(rates.values()))}
        try:
            kind = get_kind(protocol.kind)
            mass = self.patient.body_mass_kg if protocol.normalisation.body_mass else None
            subject = Subject(body_mass_kg=mass, lever_arm_m=self._lever_arm_m,
                              body_weight_n=(self.patient.body_mass_kg * STANDARD_GRAVITY
                                             if self.patient.body_mass_kg else None))
            analysed = kind.analyse(forces, rates, kind.params(protocol.analysis), subject)
            outcome.results, outcome.peak_force_n = analysed.results, analysed.peak_force_n
            outcome.flags.extend(analysed.flags)
            if alignment:
                outcome.results["time_alignment"] = alignment
        except (ValueError, FloatingPointError) as exc:  # the raw data is saved; a bad trace must not end the session
            outcome.results = {}
            outcome.peak_force_n = None
            outcome.flags.append(f"analysis failed: {exc}")

    # -- summaries ----------------------------------------------------------------------------
    def _summarise(self, protocol: Protocol, summary: TestSummary) -> None:
        """Per-side best/mean/CV of the valid reps, and the symmetry only when it is earned
        (:func:`station.session.validity.verdict_allowed`)."""
        sides = [s for s in ("left", "right") if any(t.side in (s, "both") for t in summary.trials)]
        for side in sides:
            reps = validity.reps_of(summary.trials, side)
            stats = summarize_reps([r.peak_n for r in reps if r.valid], protocol.acceptance.max_drop_pct)
            summary.sides[side] = SideSummary(side, stats.best, stats.mean, stats.cv_pct, len(reps),
                                              list(stats.flagged), valid_reps=stats.n_valid,
                                              clinical=validity.best_clinical(reps))
        pass_pct = self._pass_pct(protocol)
        verdict = validity.verdict_allowed(summary.trials, ["left", "right"] if len(sides) == 2 else sides or ["left"],
                                           min_reps=min_reps(protocol),
                                           aborted=summary.status == layout.STATUS_ABORTED)
        left, right = summary.sides.get("left"), summary.sides.get("right")
        if not verdict.allowed or not (left and right and left.best_n and right.best_n):
            note = get_kind(protocol.kind).no_symmetry_note(verdict.note or "no LSI: the test measured one side only")
            summary.symmetry = {"kind": "none", "value_pct": None, "passed": None, "note": note,
                                "pass_pct": pass_pct, "valid_reps": verdict.valid_reps,
                                "min_reps": min_reps(protocol)}
            return
        involved = self.patient.involved_side
        summary.symmetry = get_kind(protocol.kind).symmetry(
            left.best_n, right.best_n, involved, pass_pct,
            lambda best_n: self._relative_to_first(protocol, involved, best_n, pass_pct))
        summary.symmetry["valid_reps"] = verdict.valid_reps
        summary.symmetry["min_reps"] = min_reps(protocol)

    def _relative_to_first(self, protocol: Protocol, involved: str, best_n: float,
                           pass_pct: float) -> dict[str, Any] | None:
        """The involved side now vs the patient's first session of this protocol (EPIC-style)."""
        if self.history_dir is None:
            return None
        if self._history is None:
            from station.session.history import PatientHistory

            self._history = PatientHistory(self.history_dir, self.patient.patient_id, exclude=self.writer.path)
        earlier = self._history.earliest(protocol.id)
        if earlier is None or involved not in earlier.best_n:
            return None
        result = relative_to_baseline(best_n, earlier.best_n[involved], pass_pct,
                                      baseline_label=f"involved side, first session ({earlier.created_utc[:10]})")
        return {**result.to_dict(), "baseline_file": earlier.path.name}

    @staticmethod
    def _headline_attrs(summary: TestSummary) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for side, s in summary.sides.items():
            if s.best_n is not None:
                out[f"best_{side}_n"] = s.best_n
        for key in ("kind", "value_pct", "passed", "asymmetry_pct", "direction"):
            if key in summary.symmetry and summary.symmetry[key] is not None:
                out[f"symmetry_{key}"] = summary.symmetry[key]
        return out


class SessionRunner(SessionEngine):
    """A :class:`SessionEngine` answered by a blocking :class:`SessionUI` (the terminal).

    :meth:`run` runs the engine in a worker thread and, in the calling thread, hands each
    event to ``ui`` (``before_trial``'s answer becomes the command; Ctrl-C there aborts the
    session cleanly and is re-raised). Same arguments as :class:`SessionEngine`, plus ``ui``.
    """

    def __init__(self, *, ui: SessionUI, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.front_end = ui

    def run(self) -> list[TestSummary]:
        from station.session.ui_bridge import run_with_ui

        return run_with_ui(self, self.front_end, run=lambda: SessionEngine.run(self))


def min_reps(protocol: Protocol) -> int:
    """Valid reps needed per side: ``[acceptance] min_reps`` (never more than the planned reps)."""
    return max(1, min(protocol.acceptance.min_reps, protocol.reps))


def clock_pair(mono: float | None = None) -> dict[str, Any]:
    """UTC now beside the host monotonic clock that stamps ``t_host_s`` (both read together),
    so any sample time converts to UTC: utc = start_utc + (t_host_s - start_host_s).
    ``mono``: the engine clock's now (a simulated clock stamps ``t_host_s`` itself)."""
    from datetime import datetime, timezone

    mono = time.monotonic() if mono is None else mono
    return {"start_utc": datetime.now(timezone.utc).isoformat(timespec="microseconds"), "start_host_s": mono}


def replace_timing(protocol: Protocol, **changes: float) -> Protocol:
    """A copy of ``protocol`` with some timing fields changed (demo mode)."""
    return replace(protocol, timing=replace(protocol.timing, **changes))


def signed_n(value: float) -> str:
    """A force with its sign and one decimal, as the terminal shows a zero: ``+12.3``,
    ``-4.0``, and ``0.0`` for anything that rounds to zero (never ``-0.0``)."""
    text = f"{value:+.1f}"
    return "0.0" if float(text) == 0.0 else text


def session_path(out_dir: Path, patient_id: str, session_id: str | None = None) -> Path:
    """``<patient>_<YYYYmmddTHHMMSSZ>_<first 8 characters of the session UUID>.h5``: UTC (no
    repeated hour when the clock goes back) and unique (two stations sharing a folder, two
    sessions in one second). The writer still creates it exclusively."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    sid = (session_id or str(uuid.uuid4())).replace("-", "")[:8]
    return out_dir / f"{patient_id}_{stamp}_{sid}.h5"
