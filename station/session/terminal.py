"""Headless terminal front end of a session: prompts, a live progress line, result tables."""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from station.live import LiveState
from station.session.kinds import TestKind, get_kind, shown
from station.session.model import TestSummary, TrialOutcome

SIDE_CODE = {"left": "L", "right": "R", "both": "LR"}
KEYS = {"": "go", "r": "redo", "s": "skip", "t": "tare", "q": "abort"}


def fmt(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{(' ' + unit) if unit else ''}"


def clinical_units(r: dict[str, Any], metrics: tuple[str, ...] | None = None) -> str:
    """A result's clinical units beside N: N·m and N·m/kg, N/kg, or × body weight ('' if none);
    only those a protocol listing ``metrics`` measures (``torque``, ``normalised``; None: all)."""
    parts = []
    if r.get("peak_torque_nm") is not None and shown("torque", metrics):
        parts.append(f"{r['peak_torque_nm']:.1f} N·m")
    if r.get("peak_torque_nm_per_kg") is not None and shown("torque", metrics) and shown("normalised", metrics):
        parts.append(f"{r['peak_torque_nm_per_kg']:.2f} N·m/kg")
    if r.get("peak_force_n_per_kg") is not None and shown("normalised", metrics):
        parts.append(f"{r['peak_force_n_per_kg']:.2f} N/kg")
    if r.get("peak_force_bw") is not None:
        parts.append(f"{r['peak_force_bw']:.2f} × BW")
    return ", ".join(parts)


def side_clinical(c: dict[str, float]) -> str:
    """A side summary's clinical units (``SideSummary.clinical``)."""
    return clinical_units({"peak_torque_nm": c.get("torque_nm"), "peak_torque_nm_per_kg": c.get("torque_nm_per_kg"),
                           "peak_force_n_per_kg": c.get("force_n_per_kg"), "peak_force_bw": c.get("force_bw")})


def discard_typeahead(stream: TextIO) -> None:
    """Throw away keys typed while nobody was asking (during a countdown or a recording), so
    an extra Enter cannot start the next trial or skip a question. Only on a terminal: piped
    input (scripts, tests) is an intended sequence of answers and is kept."""
    try:
        if not stream.isatty():
            return
        import termios

        termios.tcflush(stream.fileno(), termios.TCIFLUSH)
    except (AttributeError, OSError, ValueError, ImportError):
        pass


class TerminalUI:
    """Prints to ``out``; in interactive mode reads one key line per trial from ``inp``.

    On a terminal the progress line is redrawn in place; otherwise (logs, CI) it is printed
    about once per second so the output stays readable.
    """

    def __init__(self, *, interactive: bool, out: TextIO | None = None, inp: TextIO | None = None) -> None:
        self.interactive = interactive
        self.out = out or sys.stdout
        self.inp = inp or sys.stdin
        self.tty = self.out.isatty()
        self._last_line = 0.0
        self._open_line = False
        self._asked_since_trial = True  # False after a trial: keys typed meanwhile are discarded
        self.protocol: Any = None  # the protocol of the test running (its kind and metrics)
        self._cue = ""  # the protocol's cue while the patient pushes (lands)

    def test_started(self, protocol: Any) -> None:
        """The test of ``protocol`` starts: its kind and ``metrics`` decide what each trial shows."""
        self.protocol = protocol

    def recording(self, during: str) -> None:
        """The cue, shown on the progress line while the trial records: the protocol's
        ``[cues].during``, else its ``start`` cue."""
        self._cue = during or (self.protocol.cues.start if self.protocol is not None else "")

    def _ask(self, prompt: str) -> str:
        """Show ``prompt`` and read one line. Keys typed during a trial (before the prompt) are
        dropped first — before the prompt shows, so an answer typed as soon as it appears is kept."""
        self._end_line()
        if not self._asked_since_trial:
            discard_typeahead(self.inp)
            self._asked_since_trial = True
        self.out.write(prompt)
        self.out.flush()
        return self.inp.readline()

    # -- helpers ----------------------------------------------------------------------------
    def _line(self, text: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            self.out.write("\r\x1b[2K" + text)
            self.out.flush()
            self._open_line = True
        elif force or now - self._last_line >= 1.0:
            self.out.write(text + "\n")
            self.out.flush()
            self._last_line = now

    def end_line(self) -> None:
        """End a live progress line so the next message starts on its own line."""
        self._end_line()

    def _end_line(self) -> None:
        if self._open_line:
            self.out.write("\n")
            self._open_line = False

    def print(self, text: str = "") -> None:
        self._end_line()
        self.out.write(text + "\n")
        self.out.flush()

    # -- SessionUI ------------------------------------------------------------------------
    def info(self, text: str) -> None:
        self.print(text)

    def before_trial(self, test: TestSummary, side: str, rep: int, attempt: int, cue: str) -> str:
        label = f"{side} rep {rep}" + (f" (attempt {attempt})" if attempt > rep else "")
        if not self.interactive:
            self.print(f"— {label}")
            return "go"
        while True:
            answer = self._ask(f"{label}: Enter = start, r = redo last, s = skip, t = zero now, q = quit > ")
            if answer == "":  # end of input: treat as quit
                return "abort"
            choice = KEYS.get(answer.strip().lower())
            if choice:
                return choice
            self.out.write("  please press Enter, r, s, t or q\n")

    def ask_pain(self, side: str) -> int | None:
        """The patient's pain during the trial, 0 (none) to 10 (worst); Enter skips."""
        if not self.interactive:
            return None
        while True:
            what = "this trial (both sides)" if side == "both" else f"the {side} trial"
            answer = self._ask(f"  pain during {what}, 0–10 (Enter = not asked) > ").strip()
            if answer == "":
                return None
            if answer.isdigit() and 0 <= int(answer) <= 10:
                return int(answer)
            self.out.write("  please type a whole number from 0 to 10, or press Enter\n")

    def ask_lever_arm(self, protocol: Any) -> float | None:
        """Ask the lever arm of ``protocol`` (m) at its start; Enter = none (torque not computed).
        Only an operator at a terminal is asked: piped answers (scripts) were written without
        this question, so there the missing value is a note instead."""
        try:
            at_terminal = self.inp.isatty()
        except (AttributeError, ValueError):
            at_terminal = False
        if not self.interactive or not at_terminal:
            return None
        from station.errors import StationError
        from station.session import lever_arm

        lo, hi = lever_arm.plausible_range_m(protocol)
        while True:
            answer = self._ask(f"  lever arm for {protocol.name}: {lever_arm.what_to_measure(protocol)}, in m "
                               f"({lo:g}–{hi:g}; Enter = none, no torque) > ").strip().replace(",", ".")
            if answer == "":
                return None
            try:
                return lever_arm.check_value(protocol, lever_arm.parse_value(answer, "lever arm"), option="lever arm")
            except StationError as exc:
                self.out.write(f"  {exc}\n")

    def countdown(self, side: str, rep: int, seconds_left: float) -> None:
        self._asked_since_trial = False
        self._line(f"  {SIDE_CODE.get(side, side)}{rep}  get ready … {seconds_left:3.1f} s")

    def live(self, side: str, rep: int, state: LiveState, elapsed_s: float, duration_s: float) -> None:
        onset = "onset ✓" if state.onset_t_s is not None else "waiting for onset"
        self._line(
            f"  {SIDE_CODE.get(side, side)}{rep}  ▶ {min(elapsed_s, duration_s):3.1f}/{duration_s:.1f} s"
            f"   force {state.force_n - state.baseline_n:7.1f} N   peak {state.peak_n - state.baseline_n:7.1f} N   {onset}"
            + (f"   {self._cue}" if self._cue else "")
        )

    def trial_done(self, outcome: TrialOutcome) -> None:
        self._asked_since_trial = False
        self._cue = ""
        r = outcome.results
        code = f"{SIDE_CODE.get(outcome.side, outcome.side)}{outcome.rep}"
        if outcome.status == "skipped":
            self.print(f"  {code}  skipped")
            return
        if outcome.status == "rejected":
            self.print(f"  {code}  rejected (redone)")
            return
        metrics = self.protocol.metrics if self.protocol is not None else None
        parts = [f"  {code}  {outcome.status:<9}"]
        per_side = r.get("per_side")
        if isinstance(per_side, dict):  # both sides in one effort (fixed frame): each labelled
            for s in ("left", "right"):
                sr = per_side.get(s) or {}
                units = clinical_units(sr, metrics)
                parts.append(f"{s} peak {fmt(sr.get('peak_force_n'), '.1f', 'N')}" + (f" ({units})" if units else ""))
        else:
            units = clinical_units(r, metrics)
            label = "peak (sum of plates)" if isinstance(r.get("left"), dict) else "peak"
            parts.append(f"{label} {fmt(outcome.peak_force_n, '.1f', 'N')}" + (f" ({units})" if units else ""))
            if isinstance(r.get("left"), dict):  # two plates: each plate's own peak, labelled
                parts.append("plate peaks " + ", ".join(
                    f"{s} {fmt((r.get(s) or {}).get('peak_force_n'), '.0f', 'N')}" for s in ("left", "right")))
        parts.extend(self._kind(r).trial_parts(r, metrics))
        if outcome.flags:
            parts.append("⚠ " + "; ".join(outcome.flags))
        analysis = r.get("status")
        if analysis not in (None, "ok") and not any(str(analysis).replace("_", " ") in f for f in outcome.flags):
            notes = [n for n in (r.get("notes") or []) if isinstance(n, str)]
            parts.append(f"⚠ analysis {str(analysis).replace('_', ' ')}, not counted" + (f": {notes[0]}" if notes else ""))
        self.print("   ".join(parts))

    def _kind(self, results: dict[str, Any]) -> TestKind:
        """The kind of the running test (a result's own shape when no test was announced)."""
        if self.protocol is not None:
            return get_kind(self.protocol.kind)
        return get_kind("landing" if "loading_rate_n_per_s" in results else "isometric")

    def rest(self, seconds_left: float) -> None:
        self._line(f"  rest … {seconds_left:4.1f} s")

    def test_done(self, summary: TestSummary) -> None:
        self.print()
        status = "incomplete — stopped before its end" if summary.status == "aborted" else summary.status
        self.print(f"{summary.name} — results ({status})")
        self.print(f"  {'side':<6} {'reps':>4} {'valid':>5} {'best (N)':>10} {'mean (N)':>10} {'CV (%)':>7}   "
                   "best in clinical units")
        for side in ("left", "right"):
            s = summary.sides.get(side)
            if s is None:
                continue
            self.print(f"  {side:<6} {s.reps:>4} {s.valid_reps:>5} {fmt(s.best_n):>10} {fmt(s.mean_n):>10} "
                       f"{fmt(s.cv_pct):>7}   {side_clinical(s.clinical) or '—'}")
        def pains(redone: bool) -> str:  # a redone rep's first try is named as such, not as a second reading
            return ", ".join(f"{SIDE_CODE.get(t.side, t.side)}{t.rep} {t.pain_0_10}" for t in summary.trials
                             if t.pain_0_10 is not None and (t.status == "rejected") == redone)

        kept, redone = pains(False), pains(True)
        if kept or redone:
            self.print("  pain (0–10): " + kept + (f"; redone tries: {redone}" if redone else ""))
        sym = summary.symmetry
        if sym.get("kind") == "none":
            self.print(f"  {sym.get('note')}")
        elif sym.get("kind") == "lsi" and sym.get("value_pct") is not None:
            verdict = "PASS" if sym.get("passed") else "BELOW PASS MARK"
            self.print(f"  LSI (involved / uninvolved) = {sym['value_pct']:.1f} %   "
                       f"pass mark {sym['parameters']['pass_pct']:.0f} %   → {verdict}")
            rel = sym.get("relative_to_first_session")
            if rel and rel.get("value_pct") is not None:
                self.print(f"  involved side vs first session ({rel['baseline_file']}) = {rel['value_pct']:.1f} %")
        elif sym.get("value_pct") is not None:
            self.print(f"  asymmetry (R − L) / max = {sym['value_pct']:+.1f} %   ({sym.get('direction')})")
            if sym.get("involved_ratio_pct") is not None:
                self.print(f"  involved / uninvolved = {sym['involved_ratio_pct']:.1f} %   (landing load: no pass mark)")
        self.print()
