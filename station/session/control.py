"""Commands in, events out: the plumbing of the session engine, apart from session logic.

:class:`EngineControl` owns the engine's inbox (a thread-safe queue of commands and of
pipeline news), its event subscribers, its clock and its state. Every wait of the engine
goes through :meth:`EngineControl.wait`, which takes the next command, turns pipeline news
(device warnings, health) into events, and checks for an abort request: so
:meth:`request_abort` works from any thread, at every wait, without polling sleeps.
"""
from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from station.acquisition import ReaderEvent
from station.clock import Clock, SystemClock
from station.pipeline import HealthEvent, Pipeline
from station.session import events as ev
from station.session.commands import Command, CommandName, EngineState, pain

log = logging.getLogger(__name__)

EventCallback = Callable[[ev.Event], None]


class AbortRequested(Exception):
    """Raised inside the engine at a wait once an abort was requested (never escapes it)."""


class PipelineFailed(Exception):
    """The pipeline can no longer record (a fatal :class:`~station.pipeline.HealthEvent`)."""

    def __init__(self, event: HealthEvent) -> None:
        super().__init__(event.describe())
        self.event = event


@dataclass(frozen=True)
class EventSubscription:
    """Token of :meth:`EngineControl.subscribe`, for :meth:`EngineControl.unsubscribe`."""

    id: int
    name: str


@dataclass(frozen=True)
class _PipelineNews:
    event: ReaderEvent | HealthEvent


class EngineControl:
    """Inbox, subscribers, clock and state of a session engine (see the module docstring)."""

    def __init__(self, pipeline: Pipeline, clock: Clock | None = None) -> None:
        self.pipeline = pipeline
        self.clock: Clock = clock or SystemClock()
        self._inbox: queue.Queue[Command | _PipelineNews] = queue.Queue()
        self._subscribers: tuple[tuple[EventSubscription, EventCallback], ...] = ()
        self._sub_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._abort = threading.Event()
        self._abort_reason = ""
        self.state: EngineState = "idle"
        #: device ids currently disconnected (from the readers' events)
        self.disconnected: set[str] = set()
        self._pipeline_token = pipeline.subscribe(_NewsForwarder(self._inbox), name="session engine")

    # -- subscribers ------------------------------------------------------------------------
    def subscribe(self, callback: EventCallback, *, name: str | None = None) -> EventSubscription:
        """Call ``callback(event)`` for every :class:`~station.session.events.Event` from now
        on, in the engine's thread. Returns the token for :meth:`unsubscribe`. Any thread."""
        token = EventSubscription(next(self._ids), str(name or getattr(callback, "__qualname__", "subscriber")))
        with self._sub_lock:
            self._subscribers = (*self._subscribers, (token, callback))
        return token

    def unsubscribe(self, token: EventSubscription) -> bool:
        """Stop sending events to the subscriber of ``token``; False if it was not subscribed."""
        with self._sub_lock:
            before = self._subscribers
            self._subscribers = tuple(s for s in before if s[0] != token)
            return len(self._subscribers) != len(before)

    def emit(self, event: ev.Event) -> None:
        """Send ``event`` to every subscriber (engine thread). A subscriber that raises is
        removed and reported with a :class:`~station.session.events.HealthWarning`."""
        failed = []
        for token, callback in self._subscribers:
            try:
                callback(event)
            except Exception as exc:  # noqa: BLE001 - a broken display must not stop a session
                log.error("event subscriber %r failed and was removed", token.name, exc_info=exc)
                failed.append((token, exc))
        for token, error in failed:
            self.unsubscribe(token)
            self.emit(ev.HealthWarning(self.clock.now(), token.name,
                                       f"event subscriber {token.name!r} failed and was removed: "
                                       f"{type(error).__name__}: {error}"))

    def _set_state(self, state: EngineState) -> None:
        if state != self.state:
            self.state = state
            self.emit(ev.StateChanged(self.clock.now(), state))

    # -- commands (any thread) ----------------------------------------------------------------
    def send(self, command: Command | CommandName) -> None:
        """Queue a command (a :class:`~station.session.commands.Command` or its name). Any thread."""
        cmd = Command(command) if isinstance(command, str) else command
        if cmd.name == "abort":
            self.request_abort("abort command")
            return
        self._inbox.put(cmd)

    def go(self) -> None:
        """Start the trial (``ready``), end the rest (``resting``), retry (``paused``)."""
        self.send("go")

    def redo(self) -> None:
        """Reject the last trial of this test and record it again (``ready``)."""
        self.send("redo")

    def skip(self) -> None:
        """Skip this trial (``ready``) or the interrupted one (``paused``)."""
        self.send("skip")

    def tare(self) -> None:
        """Zero the test's devices now (``ready``)."""
        self.send("tare")

    def stop_trial(self) -> None:
        """End the recording now (``countdown``/``recording``); what was recorded is analysed."""
        self.send("stop_trial")

    def pain(self, value: int | None) -> None:
        """The patient's pain during the trial just recorded, 0–10 or None (``pain``)."""
        self.send(pain(value))

    def abort(self) -> None:
        """End the session; same as :meth:`request_abort`."""
        self.request_abort("abort command")

    def request_abort(self, reason: str = "abort requested") -> None:
        """End the session as soon as possible: from any thread (a signal handler's thread,
        a GUI button, a watchdog). The engine checks it at every wait; the trial being
        recorded is kept with status ``aborted``, the test is summarised, the file closed
        with status ``aborted``."""
        if not self._abort.is_set():
            self._abort_reason = reason
            self._abort.set()
        self._inbox.put(Command("abort"))  # wake a wait

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    # -- waiting (engine thread) ----------------------------------------------------------------
    def check(self) -> None:
        """Raise :class:`AbortRequested` or :class:`PipelineFailed` if the session must end."""
        if self._abort.is_set():
            raise AbortRequested(self._abort_reason)
        failure = self.pipeline.failure
        if failure is not None:
            raise PipelineFailed(failure)

    def wait(self, timeout_s: float | None) -> Command | None:
        """The next command, or None once ``timeout_s`` passed on the engine clock (None: no
        time limit). Pipeline news met meanwhile become events; an abort or a pipeline
        failure raises (:meth:`check`)."""
        self.check()
        deadline = None if timeout_s is None else self.clock.now() + timeout_s
        while True:
            left = None if deadline is None else max(deadline - self.clock.now(), 0.0)
            item = self.clock.wait(self._inbox, left)
            self.check()
            if item is None:
                return None
            if isinstance(item, _PipelineNews):
                self._news(item.event)
                self.check()
                if deadline is not None and self.clock.now() >= deadline:
                    return None
                continue
            if item.name == "abort":
                continue  # a wake-up of request_abort, already seen by check()
            return item

    def wait_until(self, condition: Callable[[], bool], timeout_s: float, step_s: float = 0.01) -> bool:
        """Wait (taking no commands: they are dropped as ignored) until ``condition()`` or
        ``timeout_s``; True if the condition held."""
        deadline = self.clock.now() + timeout_s
        while not condition():
            left = deadline - self.clock.now()
            if left <= 0:
                return False
            cmd = self.wait(min(step_s, left))
            if cmd is not None:
                self.ignored(cmd)
        return True

    def ignored(self, cmd: Command, reason: str = "") -> None:
        self.emit(ev.CommandIgnored(self.clock.now(), cmd, self.state, reason))

    def _news(self, event: ReaderEvent | HealthEvent) -> None:
        now = self.clock.now()
        if isinstance(event, HealthEvent):
            if event.fatal:
                self.emit(ev.HealthError(now, event.source, event.describe()))
            else:
                self.emit(ev.HealthWarning(now, event.source, event.describe()))
            return
        if event.kind == "disconnected":
            self.disconnected.add(event.device_id)
        elif event.kind == "reconnected":
            self.disconnected.discard(event.device_id)
        if event.kind != "died":  # a dead reader arrives as a fatal HealthEvent too
            self.emit(ev.DeviceWarning(now, event.device_id, event.kind, event.message))
        self.on_device_event(event)

    def on_device_event(self, event: ReaderEvent) -> None:
        """Hook for the engine: a device event was turned into an event (engine thread)."""

    def detach(self) -> None:
        """Stop taking news from the pipeline (when the session is closed)."""
        self.pipeline.unsubscribe(self._pipeline_token)


class _NewsForwarder:
    """A pipeline listener passing device and health events to the engine's inbox."""

    def __init__(self, inbox: queue.Queue[Any]) -> None:
        self.inbox = inbox

    def on_event(self, event: ReaderEvent | HealthEvent) -> None:
        self.inbox.put(_PipelineNews(event))
