"""The session state machine: tests in order; per test tare, then per trial countdown,
record, live onset/peak, auto-stop, rest; acceptance rules; results; summary with LSI.

The runner talks to people only through a :class:`SessionUI` (terminal, GUI or a script)
and to devices only through the :class:`~station.pipeline.Pipeline`. An optional *actor*
plays the patient in simulated runs (``--auto``, the demo).
"""
from __future__ import annotations

import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol as TypingProtocol

import numpy as np

from protocols.model import Protocol
from station import __version__
from station.analysis import ALGORITHM_VERSION
from station.analysis.isometric import IsometricParams, analyze_isometric
from station.analysis.reps import summarize_reps
from station.analysis.symmetry import asymmetry_index, limb_symmetry_index, relative_to_baseline
from station.calibration_link import TareTracker
from station.session import lever_arm as lever_arms
from station.session import validity
from station.session.tare_policy import ZeroPolicy, beyond_range, calibrated_range_n, judge_zero
from station.live import LiveState
from station.pipeline import BoundDevice, Pipeline, TrialData, trial_spec
from station.session.model import Patient, SideSummary, TestSummary, TrialOutcome
from station.storage import layout
from station.storage.writer import SessionWriter

STANDARD_GRAVITY = 9.80665  # m/s²

#: (protocol, side, cue time on the host monotonic clock (s), duration (s)) → None
Actor = Callable[[Protocol, str, float, float], None]


class SessionAborted(Exception):
    """The operator ended the session (``q``, Ctrl-C or SIGTERM)."""


class SessionUI(TypingProtocol):
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
    lever_arms_m: dict[str, float] | None = None  # protocol id → lever arm (m), from --lever-arm
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


class SessionRunner:
    """Runs protocols for one patient and writes the session file.

    ``roles`` maps each protocol device role to a bound device id in ``pipeline``.
    """

    def __init__(self, *, patient: Patient, protocols: list[Protocol], pipeline: Pipeline, writer: SessionWriter,
                 roles: dict[str, str], ui: SessionUI, options: RunnerOptions = RunnerOptions(),
                 actor: Actor | None = None, session_attrs: dict[str, Any] | None = None,
                 history_dir: Path | None = None) -> None:
        self.patient = patient
        self.protocols = protocols
        self.pipeline = pipeline
        self.writer = writer
        self.roles = roles
        self.ui = ui
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

    # -- the whole session ------------------------------------------------------------------
    def write_header(self, devices: dict[str, BoundDevice], calibration: dict[str, Any]) -> None:
        self.writer.create(
            {"session_id": self.session_id, "algorithm_version": ALGORITHM_VERSION,
             "station_version": __version__},
            {**self.patient.as_dict(), "operator": self.options.operator, **self.session_attrs},
        )
        for device_id, d in devices.items():
            self.writer.set_attrs(f"devices/{device_id}", {
                **{k: v for k, v in d.info.as_dict().items() if k != "settings"},
                "uri": d.uri, "settings": d.info.settings,
                "calibration": d.calibration_snapshot,
            })
        self.writer.set_attrs("calibration", {"snapshot": calibration})
        for p in self.protocols:
            self.writer.set_attrs(f"protocols/{p.id}", {
                "name": p.name, "kind": p.kind, "version": p.version, "source": p.source_path or "",
                "text": p.source_text, "timing": asdict(p.timing)})

    def run(self) -> list[TestSummary]:
        """Run every protocol in order; returns the test summaries. Raises SessionAborted."""
        for index, protocol in enumerate(self.protocols, start=1):
            summary = self.run_test(index, protocol)
            self.summaries.append(summary)
            self.ui.test_done(summary)
            if summary.status == layout.STATUS_ABORTED:
                raise SessionAborted(f"session aborted during {protocol.name}")
        return self.summaries

    # -- one test -----------------------------------------------------------------------------
    def _timing(self, protocol: Protocol) -> tuple[float, float, float]:
        t = protocol.timing
        countdown = self.options.countdown_s if self.options.countdown_s is not None else t.countdown_s
        rest = self.options.rest_s if self.options.rest_s is not None else t.rest_s
        return countdown, t.duration_s, rest

    def run_test(self, index: int, protocol: Protocol) -> TestSummary:
        test = layout.test_key(index, protocol.id)
        summary = TestSummary(test=test, protocol_id=protocol.id, name=protocol.name, kind=protocol.kind)
        by_side = side_channels(protocol, self.roles)
        used = sorted({sc.device_id for sc in by_side.values()})
        self.ui.info(f"{protocol.name}: {protocol.cues.setup}".rstrip(": "))
        lever = self._lever_arm(protocol)
        in_use = self._channels_in_use(by_side)
        tare, tare_log = self._tare(used, in_use)
        on_demand: list[dict[str, Any]] = []
        self.writer.set_attrs(f"tests/{test}", {
            "protocol_id": protocol.id, "name": protocol.name, "kind": protocol.kind, "index": index,
            "status": layout.STATUS_RECORDING, "tare_n": tare, "tare_log": tare_log,
            "zero_policy": self.options.zero_policy.as_dict(), "lever_arm": lever.as_dict(),
            "lsi_pass_pct": self._pass_pct(protocol),
            "involved_side": self.patient.involved_side})
        plan = deque(protocol.trial_plan(self.options.first_side))  # type: ignore[arg-type]
        countdown_s, duration_s, rest_s = self._timing(protocol)
        trial_no = 0
        attempts: dict[str, int] = {}
        last: TrialOutcome | None = None
        while plan:
            side, rep = plan.popleft()
            attempt = attempts.get(side, 0) + 1
            choice = self.ui.before_trial(summary, side, rep, attempt, protocol.cues.start)
            if choice == "abort":
                summary.status = layout.STATUS_ABORTED
                break
            if choice == "tare":  # zero on demand (limb off the pad / plates empty), then ask again
                tare_now, log_now = self._tare(used, in_use)
                on_demand.append({"before_trial": layout.trial_key(trial_no + 1), "tare_n": tare_now, "log": log_now})
                self.writer.set_attrs(f"tests/{test}", {"tare_on_demand": on_demand})
                accepted = {d: vals for d, vals in tare_now.items() if log_now[d]["decision"]["accepted"]}
                if accepted:
                    self.ui.info("zeroed: " + ", ".join(
                        f"{d} {', '.join('—' if v is None else f'{v:+.1f}' for v in vals)} N"
                        for d, vals in accepted.items()))
                plan.appendleft((side, rep))
                continue
            if choice == "redo" and last is None:
                self.ui.info("nothing to redo yet: no trial of this test has been recorded")
                plan.appendleft((side, rep))
                continue
            if choice == "redo" and last is not None:
                last.status = "rejected"
                self.writer.set_attrs(f"tests/{test}/trials/{last.trial}", {"status": "rejected"})
                plan.appendleft((side, rep))
                side, rep = last.side, last.rep
                attempt = attempts.get(side, 0) + 1
            trial_no += 1
            if choice == "skip":
                outcome = TrialOutcome(test, layout.trial_key(trial_no), side, rep, attempt, "skipped")
                self.writer.set_attrs(f"tests/{test}/trials/{outcome.trial}",
                                      {"side": side, "rep": rep, "attempt": attempt, "status": "skipped"})
            else:
                outcome = self.record_trial(protocol, test, trial_no, side, rep, attempt, by_side,
                                            countdown_s, duration_s)
            attempts[side] = attempt
            summary.trials.append(outcome)
            last = outcome
            self.ui.trial_done(outcome)
            if self.options.ask_pain and outcome.status in (layout.STATUS_COMPLETE, layout.STATUS_INTERRUPTED):
                outcome.pain_0_10 = self.ui.ask_pain(side)
                if outcome.pain_0_10 is not None:
                    self.writer.set_attrs(f"tests/{test}/trials/{outcome.trial}", {"pain_0_10": outcome.pain_0_10})
            if outcome.status == layout.STATUS_ABORTED:
                summary.status = layout.STATUS_ABORTED
                break
            self._maybe_add_rep(protocol, summary, plan, side, rep, attempts)
            if plan:
                switching = plan[0][0] != side and protocol.order == "blocked"
                between = protocol.timing.rest_between_sides_s
                self._rest(between if switching and between is not None and self.options.rest_s is None else rest_s)
        self._summarise(protocol, summary)
        self.writer.set_attrs(f"tests/{test}", {
            "status": summary.status, "summary": summary.as_dict(),
            **self._headline_attrs(summary)})
        return summary

    def _tare(self, used: list[str], in_use: dict[str, list[int]] | None = None
              ) -> tuple[dict[str, list[float | None]], dict[str, Any]]:
        """Zero ``used`` devices on their last 0.5 s when the load is steady and small
        (:mod:`station.session.tare_policy`), else keep the zero in force and say why in one
        line. Returns the zero in force per device (N) and the log (decision, drift)."""
        policy = self.options.zero_policy
        tare: dict[str, list[float | None]] = {}
        tare_log: dict[str, Any] = {}
        for device_id in used:
            device = self.pipeline.devices[device_id]
            rate = device.info.rate_hz
            n = int(policy.window_s * rate)
            self.pipeline.wait_for_samples(device_id, self.pipeline.rings[device_id].total + n + 1)
            _, window = self.pipeline.rings[device_id].latest(max(2, n))
            channels = (in_use or {}).get(device_id) or list(range(device.info.channels))
            decision = judge_zero(device_id, window, self.pipeline.tare_n[device_id], channels,
                                  self._range(device_id), policy)
            entry: dict[str, Any] = {"decision": decision.as_dict()}
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
        """The lever arm of this test: given, fixed by the protocol, or asked; else a visible note."""
        choice = lever_arms.resolve(protocol, self.options.lever_arms_m or {}, self.patient.lever_arm_m,
                                    self.protocols)
        if choice is None:
            ask = getattr(self.ui, "ask_lever_arm", None)
            value = ask(protocol) if ask is not None else None
            if value is not None:
                choice = lever_arms.LeverArmChoice(value, "asked")
            else:
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
            self.ui.info(f"{side}: one more rep — {why} (acceptance rule, max {protocol.acceptance.max_reps})")
        else:
            self.ui.info(f"{side}: {why}, and the {protocol.acceptance.max_reps} reps allowed are done")

    def _rest(self, rest_s: float) -> None:
        end = time.monotonic() + rest_s
        while (left := end - time.monotonic()) > 0:
            self.ui.rest(left)
            time.sleep(min(self.options.ui_period_s * 5, left))

    # -- one trial ----------------------------------------------------------------------------
    def record_trial(self, protocol: Protocol, test: str, trial_no: int, side: str, rep: int, attempt: int,
                     by_side: dict[str, SideChannels], countdown_s: float, duration_s: float) -> TrialOutcome:
        trial = layout.trial_key(trial_no)
        measured = ["left", "right"] if side == "both" else [side]
        live = by_side[measured[0]]
        devices = {sc.device_id: self.pipeline.devices[sc.device_id] for s, sc in by_side.items() if s in measured}
        self.pipeline.watch(live.device_id, live.channels)
        attrs = {"side": side, "rep": rep, "attempt": attempt, "protocol_id": protocol.id,
                 "channels": {s: {"device": by_side[s].device_id, "channels": list(by_side[s].channels)}
                              for s in measured},
                 # the zero (N per channel) subtracted from force_n in this trial
                 "zero_offset_n": {d: [v if math.isfinite(v) else None for v in self.pipeline.tare_n[d].tolist()]
                                   for d in devices},
                 # the host monotonic clock of t_host_s paired with UTC at the trial's start
                 **clock_pair()}
        self.pipeline.begin_recording(trial_spec(test, trial, devices, attrs), list(devices))
        status = layout.STATUS_COMPLETE
        cue_s = onset = None
        try:
            start = time.monotonic()
            while (left := start + countdown_s - time.monotonic()) > 0:
                self.ui.countdown(side, rep, left)
                time.sleep(min(self.options.ui_period_s, left))
            self.pipeline.live.arm()
            cue_s = time.monotonic()
            if self.actor is not None:
                self.actor(protocol, side, cue_s, duration_s)
            end = cue_s + duration_s + self.options.tail_s
            while (now := time.monotonic()) < end:
                self.ui.live(side, rep, self.pipeline.live.state(), now - cue_s, duration_s)
                time.sleep(self.options.ui_period_s)
            onset = self.pipeline.live.state().onset_t_s
        except KeyboardInterrupt:
            status = layout.STATUS_ABORTED
        data, events = self.pipeline.end_recording()
        flags = [f"{e.kind}: {e.message}" for e in events if e.kind in ("disconnected", "overflow", "error")]
        if any(e.kind == "disconnected" for e in events) and status == layout.STATUS_COMPLETE:
            status = layout.STATUS_INTERRUPTED
        outcome = TrialOutcome(test, trial, side, rep, attempt, status, flags=flags)
        over = self._beyond_range(data, by_side, measured)
        for o in over:
            outcome.flags.append(f"beyond calibrated range: {o['device']} channel {o['channel']} read "
                                 f"{o['max_abs_n']:.0f} N, calibrated to {o['range_n']:.0f} N")
        if status != layout.STATUS_ABORTED:
            self._analyse(protocol, outcome, data, by_side, measured, cue_s)
        self.pipeline.writer.end_trial({  # type: ignore[union-attr]
            "status": outcome.status, "cue_host_s": cue_s, "live_onset_host_s": onset,
            "quality_flags": outcome.flags, "results": outcome.results,
            "peak_force_n": outcome.peak_force_n, "algorithm_version": ALGORITHM_VERSION,
            "beyond_calibrated_range": bool(over), "beyond_calibrated_range_detail": over or None,
            **outcome.side_peaks_attrs(),
        })
        self._write_plate_forces(protocol, test, trial, data, by_side, measured)
        if status == layout.STATUS_ABORTED:
            raise SessionAborted(f"trial {side} rep {rep} aborted")
        return outcome

    def _write_plate_forces(self, protocol: Protocol, test: str, trial: str, data: dict[str, TrialData],
                            by_side: dict[str, SideChannels], measured: list[str]) -> None:
        """Each force plate's summed vertical force (N), stored beside its cells as ``fz_n``."""
        if protocol.kind != "landing":
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
            if protocol.kind == "isometric":
                self._analyse_isometric(protocol, outcome, forces, rates)
            else:
                self._analyse_landing(outcome, forces, rates)
            if alignment:
                outcome.results["time_alignment"] = alignment
        except (ValueError, FloatingPointError) as exc:  # the raw data is saved; a bad trace must not end the session
            outcome.results = {}
            outcome.peak_force_n = None
            outcome.flags.append(f"analysis failed: {exc}")

    def _analyse_isometric(self, protocol: Protocol, outcome: TrialOutcome, forces: dict[str, np.ndarray],
                           rates: dict[str, float]) -> None:
        lever = self._lever_arm_m
        mass = self.patient.body_mass_kg if protocol.normalisation.body_mass else None
        per_side = {}
        for s, f in forces.items():
            r = analyze_isometric(f, rates[s], IsometricParams(), body_mass_kg=mass, lever_arm_m=lever)
            per_side[s] = r.to_dict()
            outcome.flags.extend(f"{s}: {flag}" if len(forces) > 1 else flag for flag in r.flags)
            if not r.rise_found:
                what = r.status.replace("_", " ")
                outcome.flags.append(f"{s}: {what}" if len(forces) > 1 else what)
        if len(per_side) == 1:
            (only,) = per_side.values()
            outcome.results = only
            outcome.peak_force_n = only.get("peak_force_n")
        else:
            # both sides in one effort: each side's peak, labelled; no single unlabelled "peak"
            outcome.results = {"per_side": per_side}
            outcome.peak_force_n = None

    def _analyse_landing(self, outcome: TrialOutcome, forces: dict[str, np.ndarray], rates: dict[str, float]) -> None:
        from station.analysis import landing

        bw = self.patient.body_mass_kg * STANDARD_GRAVITY if self.patient.body_mass_kg else None
        if len(forces) == 2:
            r = landing.analyze_dual_landing(forces["left"], forces["right"], rates["left"], body_weight_n=bw)
        else:
            (s, f), = forces.items()
            r = landing.analyze_landing(f, rates[s], body_weight_n=bw)
        outcome.results = r.to_dict()
        outcome.flags.extend(getattr(r, "flags", ()))
        # one definition: the peak of the summed vertical force (each plate's own peak is in
        # results["left"/"right"] and shown labelled as a per-plate peak)
        outcome.peak_force_n = outcome.results.get("peak_force_n")

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
            note = verdict.note or "no LSI: the test measured one side only"
            if protocol.kind == "landing":
                note = note.replace("no LSI", "no asymmetry")
            summary.symmetry = {"kind": "none", "value_pct": None, "passed": None, "note": note,
                                "pass_pct": pass_pct, "valid_reps": verdict.valid_reps,
                                "min_reps": min_reps(protocol)}
            return
        involved = self.patient.involved_side
        if protocol.kind == "landing":
            # a higher landing load is not better: report the signed asymmetry and its direction,
            # and the involved/uninvolved ratio without a pass verdict
            summary.symmetry = asymmetry_index(left.best_n, right.best_n, label="higher").to_dict()
            if involved in ("left", "right"):
                inv, uninv = (left, right) if involved == "left" else (right, left)
                summary.symmetry["involved_ratio_pct"] = 100.0 * inv.best_n / uninv.best_n
        elif involved in ("left", "right"):
            inv, uninv = (left, right) if involved == "left" else (right, left)
            summary.symmetry = limb_symmetry_index(inv.best_n, uninv.best_n, pass_pct).to_dict()
            summary.symmetry["relative_to_first_session"] = self._relative_to_first(
                protocol, involved, inv.best_n, pass_pct)
        else:
            summary.symmetry = asymmetry_index(left.best_n, right.best_n).to_dict()
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


def min_reps(protocol: Protocol) -> int:
    """Valid reps needed per side: ``[acceptance] min_reps`` (never more than the planned reps)."""
    return max(1, min(protocol.acceptance.min_reps, protocol.reps))


def clock_pair() -> dict[str, Any]:
    """UTC now beside the host monotonic clock that stamps ``t_host_s`` (both read together),
    so any sample time converts to UTC: utc = start_utc + (t_host_s - start_host_s)."""
    from datetime import datetime, timezone

    mono = time.monotonic()
    return {"start_utc": datetime.now(timezone.utc).isoformat(timespec="microseconds"), "start_host_s": mono}


def common_grid(forces: dict[str, np.ndarray], times: dict[str, np.ndarray], rates: dict[str, float]
                ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Traces from different devices on one uniform host-time grid (their overlap, at the
    lowest rate), by linear interpolation, so the sides can be compared sample by sample."""
    rate = min(rates.values())
    start = max(float(t[0]) for t in times.values())
    stop = min(float(t[-1]) for t in times.values())
    grid = start + np.arange(max(int((stop - start) * rate) + 1, 0)) / rate
    return ({s: np.interp(grid, times[s], f) for s, f in forces.items()}, {s: rate for s in forces})


def replace_timing(protocol: Protocol, **changes: float) -> Protocol:
    """A copy of ``protocol`` with some timing fields changed (demo mode)."""
    return replace(protocol, timing=replace(protocol.timing, **changes))


def session_path(out_dir: Path, patient_id: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return out_dir / f"{patient_id}_{stamp}.h5"
