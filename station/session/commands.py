"""Commands a front end sends to the session engine (:class:`~station.session.runner.SessionEngine`).

Commands go through a thread-safe queue: any thread may send them (``engine.go()``,
``engine.send(Command("skip"))``, …) and the engine takes them at its next wait. What
each command does depends on the state the engine is in (:class:`EngineState`); a
command that means nothing in the current state is dropped with a
:class:`~station.session.events.CommandIgnored` event, never queued for later.

========== ================================================================================
command    effect
========== ================================================================================
go         ``ready``: start the trial (countdown, then recording). ``resting``: end the
           rest now. ``paused``: try the interrupted trial again once the device is back.
redo       ``ready``: mark the last trial of this test rejected and record it again.
skip       ``ready``: record this trial as skipped and go on. ``paused``: skip the trial
           that was interrupted.
tare       ``ready``: zero the devices of this test now (limb off the pad, plates empty).
stop_trial ``countdown``/``recording``: end the recording now and analyse what was recorded.
abort      any state: end the session (the trial being recorded is kept, status aborted).
           Same as :meth:`SessionEngine.request_abort`, which also works between commands.
pain       ``pain``: the patient's pain during the trial just recorded, 0–10, or None
           (not asked). Send with :func:`pain`.
lever_arm  ``lever_arm``: the lever arm (m) of the test about to start, or None (none:
           torque not computed); asked only with ``RunnerOptions.ask_lever_arm``. Send with
           :func:`lever_arm`.
========== ================================================================================
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CommandName = Literal["go", "redo", "skip", "tare", "stop_trial", "abort", "pain", "lever_arm"]
COMMANDS: tuple[str, ...] = ("go", "redo", "skip", "tare", "stop_trial", "abort", "pain", "lever_arm")

#: the states of the engine, as reported by ``SessionEngine.state`` and in events
EngineState = Literal[
    "idle",       # not started yet
    "taring",     # zeroing the devices of a test
    "ready",      # waiting for go / redo / skip / tare / abort before a trial
    "countdown",  # trial armed, counting down to the cue
    "recording",  # the patient is pushing / landing; samples go to the file
    "pain",       # waiting for the pain rating of the trial just recorded
    "lever_arm",  # waiting for the lever arm of the test about to start (only when asked for)
    "resting",    # rest between reps
    "paused",     # a device disconnected: waiting for it, or for go (retry) / skip / abort
    "done",       # the session ended (complete, aborted or interrupted)
]


@dataclass(frozen=True)
class Command:
    """One command. ``value`` is only used by ``pain`` (0–10, or None for "not asked") and
    ``lever_arm`` (metres, or None: none, torque not computed)."""

    name: CommandName
    value: float | None = None

    def __post_init__(self) -> None:
        if self.name not in COMMANDS:
            raise ValueError(f"unknown session command {self.name!r} (expected one of {', '.join(COMMANDS)})")
        if self.name == "pain" and self.value is not None and not 0 <= int(self.value) <= 10:
            raise ValueError(f"pain {self.value!r}: expected a whole number from 0 to 10, or None")
        if self.name == "lever_arm" and self.value is not None and not float(self.value) > 0:
            raise ValueError(f"lever_arm {self.value!r}: expected a length in m > 0, or None")


def lever_arm(value_m: float | None) -> Command:
    """The ``lever_arm`` command: the lever arm (m) of the test about to start, or None."""
    return Command("lever_arm", value_m)


def pain(value: int | None) -> Command:
    """The ``pain`` command: 0 (none) to 10 (worst), or None when the patient was not asked."""
    return Command("pain", value)
