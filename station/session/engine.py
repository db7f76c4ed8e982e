"""The session engine's public face: one import for a front end, a script or a test.

    from station.session.engine import open_session, SessionEngine, Command, events

- :func:`open_session` opens devices, file and pipeline and returns an
  :class:`OpenSession` (``.pipeline``, ``.engine``, ``.close()``).
- :class:`SessionEngine`: the state machine; commands in (``go``, ``redo``, ``skip``,
  ``tare``, ``stop_trial``, ``abort``, ``pain(n)``; :mod:`station.session.commands`),
  typed events out (:mod:`station.session.events`), ``request_abort()`` from any thread,
  an injectable clock (:mod:`station.clock`).
- :class:`SessionRunner` / :func:`run_with_ui`: the engine answered by a blocking UI (the terminal).
"""
from __future__ import annotations

from station.clock import Clock, FakeClock, SystemClock
from station.session import events
from station.session.commands import COMMANDS, Command, EngineState, pain
from station.session.control import AbortRequested, EventSubscription, PipelineFailed
from station.session.run import OpenSession, open_session, run_session
from station.session.runner import RunnerOptions, SessionAborted, SessionEngine, SessionRunner, SessionUI
from station.session.ui_bridge import run_with_ui

__all__ = [
    "COMMANDS", "AbortRequested", "Clock", "Command", "EngineState", "EventSubscription", "FakeClock",
    "OpenSession", "PipelineFailed", "RunnerOptions", "SessionAborted", "SessionEngine", "SessionRunner",
    "SessionUI", "SystemClock", "events", "open_session", "pain", "run_session", "run_with_ui",
]
