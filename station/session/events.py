"""Events the session engine emits: what happened, typed, for any front end.

Subscribe with ``engine.subscribe(callback)``; the callback gets every :class:`Event`
in order, **in the engine's thread** (a Qt window re-posts them to its GUI thread, e.g.
through a queued signal; a terminal puts them on a queue). Callbacks must be quick and
must not block; one that raises is removed and reported as a :class:`HealthWarning`.

Every event carries ``t_s``, the engine clock's time when it was emitted (the host
monotonic clock in a real session, the same clock as the samples' ``t_host_s``).

Order of a normal session::

    SessionStarted
      TestStarted → Tared
        TrialReady → (command go) → TrialArmed → Countdown… → Recording → LiveUpdate…
        [Saturation]… → TrialRecorded → [PainRequested → (command pain)] → [RepAdded] → Resting…
        … (next trial)
      TestDone
      … (next test)
    SessionClosed

Progress events (:class:`Countdown`, :class:`LiveUpdate`, :class:`Resting`) come about
every ``RunnerOptions.ui_period_s`` (0.1 s). Live values for a plot are better read from
the pipeline's ring buffers and detectors (``session.pipeline.rings``,
``session.pipeline.watched``) on a timer; the events say what state the session is in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.live import LiveState
from station.session.commands import Command, EngineState
from station.session.model import TestSummary, TrialOutcome


@dataclass(frozen=True)
class Event:
    """Base of every engine event; ``t_s`` is the engine clock's time (s)."""

    t_s: float


# -- session -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionStarted(Event):
    """The session file is open and the devices stream. ``tests``: the protocol names in order."""

    session_id: str
    path: Path | None
    patient_id: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class SessionClosed(Event):
    """The session ended and its file is closed (``status``: complete, aborted, interrupted).
    ``error``: the one-line reason when the session ended on an error, else None."""

    status: str
    path: Path | None
    summaries: tuple[TestSummary, ...]
    error: str | None = None


@dataclass(frozen=True)
class StateChanged(Event):
    """The engine moved to ``state`` (see :data:`~station.session.commands.EngineState`)."""

    state: EngineState


@dataclass(frozen=True)
class Info(Event):
    """A line for the operator (a setup cue, a note, a warning already worded for people)."""

    text: str


@dataclass(frozen=True)
class CommandIgnored(Event):
    """``command`` means nothing in ``state`` (or cannot be done now: ``reason``)."""

    command: Command
    state: EngineState
    reason: str = ""


# -- tests ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestStarted(Event):
    """A protocol's test begins. ``index``: 1-based position in the session; ``test``: its
    key in the file (``01_hip-abduction-hhd``); ``setup``: the protocol's setup cue;
    ``planned``: the (side, rep) plan before acceptance rules add reps."""

    __test__ = False  # not a pytest test class

    index: int
    test: str
    protocol_id: str
    name: str
    kind: str
    setup: str
    planned: tuple[tuple[str, int], ...]
    countdown_s: float
    duration_s: float
    rest_s: float


@dataclass(frozen=True)
class Tared(Event):
    """Devices zeroed: ``offsets_n`` device id → zero per channel (N; None = channel not
    zeroed). ``on_demand``: asked with the ``tare`` command (else the test's own zeroing)."""

    test: str
    offsets_n: dict[str, list[float | None]]
    on_demand: bool = False


@dataclass(frozen=True)
class TestDone(Event):
    """A test ended (complete or aborted) with its per-side summary and symmetry."""

    __test__ = False

    summary: TestSummary


# -- trials ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialReady(Event):
    """The engine waits for ``go`` (or ``redo``, ``skip``, ``tare``, ``abort``) before the
    trial ``side`` rep ``rep`` (``attempt`` > ``rep`` after redos and added reps).
    ``can_redo``: a trial of this test was recorded, so ``redo`` applies. ``retry``: this
    trial repeats one interrupted by a device disconnect."""

    test: str
    side: str
    rep: int
    attempt: int
    cue: str
    can_redo: bool
    retry: bool = False


@dataclass(frozen=True)
class TrialArmed(Event):
    """``go`` was given: trial ``trial`` is being written; the countdown of
    ``countdown_s`` runs, then the cue ``cue`` is shown for ``duration_s``. ``sides``:
    the sides measured (one, or left and right for a bilateral trial)."""

    test: str
    trial: str
    side: str
    rep: int
    attempt: int
    cue: str
    countdown_s: float
    duration_s: float
    sides: tuple[str, ...]


@dataclass(frozen=True)
class Countdown(Event):
    """``seconds_left`` to the cue of the armed trial."""

    side: str
    rep: int
    seconds_left: float


@dataclass(frozen=True)
class Recording(Event):
    """The cue: the patient pushes (lands) now. ``cue_t_s``: the cue time on the sample clock.
    ``during`` and ``stop``: the protocol's ``[cues]`` to show (or say) while the patient
    pushes and at the end of the ``duration_s``."""

    test: str
    trial: str
    side: str
    rep: int
    cue_t_s: float
    duration_s: float
    during: str = ""
    stop: str = ""


@dataclass(frozen=True)
class LiveUpdate(Event):
    """Progress of the recording: ``elapsed_s`` since the cue of ``duration_s``; ``live``:
    side → the live detector's state (force, running peak, baseline, onset), one per
    measured side (two plates give two live peaks)."""

    side: str
    rep: int
    elapsed_s: float
    duration_s: float
    live: dict[str, LiveState]

    @property
    def state(self) -> LiveState:
        """The first measured side's live state."""
        return next(iter(self.live.values()))


@dataclass(frozen=True)
class TrialRecorded(Event):
    """A trial ended: recorded (``complete``, ``interrupted``, ``aborted``), ``skipped`` or
    ``rejected`` by a redo. ``outcome`` holds its results and quality flags."""

    outcome: TrialOutcome


@dataclass(frozen=True)
class Saturation(Event):
    """While trial ``trial`` records, a channel in use saturated: ``kind`` ``"range"``, its
    absolute force ``value`` (N) went beyond its calibrated range ``limit`` (N); ``"adc"``, its
    raw reading ``value`` reached the ADC's limit ``limit`` (counts). Emitted once per device,
    channel and kind per trial, at the next UI tick; the trial's quality flags repeat it
    (see :mod:`station.session.saturation`)."""

    test: str
    trial: str
    device_id: str
    channel: int
    kind: str
    value: float
    limit: float


@dataclass(frozen=True)
class LeverArmRequested(Event):
    """Waiting for ``lever_arm(m)`` (or None) of the test about to start: what to measure
    (``label``) and the plausible range for its joint (m). Only with ``RunnerOptions.ask_lever_arm``."""

    test: str
    protocol_id: str
    label: str
    min_m: float
    max_m: float


@dataclass(frozen=True)
class PainRequested(Event):
    """Waiting for ``pain(n)`` (0–10, or None) for the trial just recorded."""

    test: str
    trial: str
    side: str


@dataclass(frozen=True)
class RepAdded(Event):
    """The acceptance rule added a rep to ``side`` (``reason`` in words)."""

    test: str
    side: str
    rep: int
    reason: str


@dataclass(frozen=True)
class Resting(Event):
    """Rest between reps: ``seconds_left`` of ``seconds`` (``go`` ends it early)."""

    seconds: float
    seconds_left: float


# -- devices and health ---------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceWarning(Event):
    """Something happened on a device: ``kind`` is ``disconnected``, ``reconnected``,
    ``overflow`` (samples lost because the queue was full) or ``error``."""

    device_id: str
    kind: str
    message: str


@dataclass(frozen=True)
class Paused(Event):
    """A device the test uses is disconnected: the trial being recorded (if any) was kept
    and marked interrupted, and the engine waits for the device to come back (then
    ``TrialReady`` with ``retry``), or for ``skip`` (skip that trial) or ``abort``."""

    test: str
    devices: tuple[str, ...]
    side: str
    rep: int
    message: str


@dataclass(frozen=True)
class HealthWarning(Event):
    """A non-critical part failed and was removed (a plot listener, an event subscriber);
    acquisition goes on."""

    source: str
    message: str


@dataclass(frozen=True)
class HealthError(Event):
    """A critical part failed (the pipeline or a reader thread died, the file writer
    failed): the session ends now with status ``interrupted``; ``message`` says why."""

    source: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
