"""A blocking front end (the terminal's :class:`~station.session.runner.SessionUI`) on the engine.

The engine runs in a worker thread; the calling thread (the main thread, which receives
Ctrl-C and SIGTERM) takes its events from a queue and hands each to the UI. A prompt's
answer goes back as a command. So the terminal is a subscriber plus a command source and
holds no session logic.
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from station.session import events as ev
from station.session.model import TestSummary

if TYPE_CHECKING:
    from station.session.runner import SessionEngine, SessionUI

log = logging.getLogger(__name__)

_DONE = object()


def show(ui: SessionUI, engine: SessionEngine, event: ev.Event) -> None:
    """Hand one event to ``ui``; prompts send the answer to ``engine`` as a command."""
    if isinstance(event, ev.Info):
        ui.info(event.text)
    elif isinstance(event, ev.TestStarted):
        started = getattr(ui, "test_started", None)
        if started is not None:
            started(next(p for p in engine.protocols if p.id == event.protocol_id))
    elif isinstance(event, ev.Recording):
        recording = getattr(ui, "recording", None)
        if recording is not None:
            recording(event.during)
    elif isinstance(event, ev.TrialReady):
        summary = engine.current or TestSummary(event.test, "", "", "")
        choice = ui.before_trial(summary, event.side, event.rep, event.attempt, event.cue)
        if choice == "abort":
            engine.request_abort("quit at the trial prompt")
        else:
            engine.send(choice)  # type: ignore[arg-type]
    elif isinstance(event, ev.Countdown):
        ui.countdown(event.side, event.rep, event.seconds_left)
    elif isinstance(event, ev.LiveUpdate):
        ui.live(event.side, event.rep, event.state, event.elapsed_s, event.duration_s)
    elif isinstance(event, ev.TrialRecorded):
        ui.trial_done(event.outcome)
    elif isinstance(event, ev.LeverArmRequested):
        from station.session.commands import lever_arm

        protocol = next(p for p in engine.protocols if p.id == event.protocol_id)
        ask = getattr(ui, "ask_lever_arm", None)
        engine.send(lever_arm(ask(protocol) if ask is not None else None))
    elif isinstance(event, ev.PainRequested):
        engine.pain(ui.ask_pain(event.side))
    elif isinstance(event, ev.Resting):
        ui.rest(event.seconds_left)
    elif isinstance(event, ev.TestDone):
        ui.test_done(event.summary)
    elif isinstance(event, ev.Paused):  # its message came as an Info line already: not twice
        answer = ask_paused(ui, event, engine)
        if answer == "skip":
            engine.skip()
        elif answer == "abort":
            engine.request_abort("ended while a device was disconnected")
    elif isinstance(event, ev.Saturation):
        what = (f"read {event.value:.0f} N, beyond its calibrated range of {event.limit:.0f} N" if event.kind == "range"
                else f"raw reading at the ADC limit ({event.value:.0f} counts)")
        ui.info(f"WARNING: SATURATION: {event.device_id} channel {event.channel} {what}")
    elif isinstance(event, (ev.HealthWarning, ev.HealthError)):
        ui.info(f"{'ERROR' if isinstance(event, ev.HealthError) else 'WARNING'}: {event.message}")


PAUSE_KEYS = {"": "wait", "s": "skip", "q": "abort"}


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def ask_paused(ui: SessionUI, event: ev.Paused, engine: Any = None) -> str:
    """The clinician's choice while a device is disconnected: "wait" (for it to come back,
    then the trial is repeated), "skip" (this trial) or "abort" (end the session).

    A UI with ``ask_paused(event)`` answers itself; an interactive terminal (``interactive``,
    ``inp``, ``out``) gets one prompt; anything else waits. At a terminal whose input can be
    polled, the prompt also ends by itself, saying so, as soon as ``engine`` sees every device
    back (the reconnect is shown live, no key needed)."""
    own = getattr(ui, "ask_paused", None)
    if own is not None:
        return str(own(event))
    inp, out = getattr(ui, "inp", None), getattr(ui, "out", None)
    if not getattr(ui, "interactive", False) or inp is None or out is None:
        return "wait"
    fd = _fileno(inp)
    gone = getattr(engine, "disconnected", None)
    while True:
        out.write(f"  {', '.join(event.devices)} disconnected: Enter = wait for it (the trial is repeated once it is "
                  "back), s = skip this trial, q = end the session > ")
        out.flush()
        if fd is not None and isinstance(gone, set):
            import select

            while not select.select([fd], [], [], 0.2)[0]:
                if not gone & set(event.devices):
                    out.write(f"\n  {', '.join(event.devices)} reconnected\n")
                    out.flush()
                    return "wait"
        line = inp.readline()
        if line == "":
            return "abort"
        choice = PAUSE_KEYS.get(line.strip().lower())
        if choice:
            return choice
        out.write("  please press Enter, s or q\n")


def run_with_ui(engine: SessionEngine, ui: SessionUI, *,
                run: Callable[[], list[TestSummary]] | None = None) -> list[TestSummary]:
    """Run ``engine`` (``run()``, default ``engine.run``) in a worker thread while ``ui``
    answers its events here; returns the summaries or raises what the engine raised.
    KeyboardInterrupt here (Ctrl-C, SIGTERM mapped to it) aborts the session, waits for the
    engine to close the trial and test, and is re-raised."""
    inbox: queue.Queue[Any] = queue.Queue()
    token = engine.subscribe(inbox.put, name="terminal")
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["summaries"] = (run or engine.run)()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc
        finally:
            inbox.put(_DONE)

    worker = threading.Thread(target=work, name="session-engine", daemon=True)
    worker.start()
    try:
        while True:
            try:
                event = inbox.get(timeout=0.5)
            except queue.Empty:
                continue
            if event is _DONE:
                break
            show(ui, engine, event)
    except BaseException:
        engine.request_abort("interrupted")
        _finish(engine, ui, inbox, worker)
        raise
    finally:
        engine.unsubscribe(token)
    if "error" in result:
        raise result["error"]
    return result["summaries"]


def _finish(engine: SessionEngine, ui: SessionUI, inbox: queue.Queue[Any], worker: threading.Thread) -> None:
    """After an interrupt: let the engine close the trial and test; show their results but
    ask nothing. A further Ctrl-C meanwhile is ignored (it takes a moment)."""
    while worker.is_alive() or not inbox.empty():
        try:
            event = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        except KeyboardInterrupt:
            continue
        if event is _DONE:
            continue
        if isinstance(event, (ev.TrialRecorded, ev.TestDone, ev.Info)):
            try:
                show(ui, engine, event)
            except BaseException:  # noqa: BLE001 - the output may be gone (SIGHUP)
                log.debug("could not show %r after an interrupt", event, exc_info=True)
