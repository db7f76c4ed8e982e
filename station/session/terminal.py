"""Headless terminal front end of a session: prompts, a live progress line, result tables."""
from __future__ import annotations

import sys
import time
from typing import TextIO

from station.live import LiveState
from station.session.model import TestSummary, TrialOutcome

SIDE_CODE = {"left": "L", "right": "R", "both": "LR"}
KEYS = {"": "go", "r": "redo", "s": "skip", "t": "tare", "q": "abort"}


def fmt(value: float | None, spec: str = ".1f", unit: str = "") -> str:
    return "—" if value is None else f"{value:{spec}}{(' ' + unit) if unit else ''}"


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
            self._end_line()
            self.out.write(f"{label}: Enter = start, r = redo last, s = skip, t = zero now, q = quit > ")
            self.out.flush()
            answer = self.inp.readline()
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
            self._end_line()
            self.out.write(f"  pain during the {side} trial, 0–10 (Enter = not asked) > ")
            self.out.flush()
            answer = self.inp.readline().strip()
            if answer == "":
                return None
            if answer.isdigit() and 0 <= int(answer) <= 10:
                return int(answer)
            self.out.write("  please type a whole number from 0 to 10, or press Enter\n")

    def countdown(self, side: str, rep: int, seconds_left: float) -> None:
        self._line(f"  {SIDE_CODE.get(side, side)}{rep}  get ready … {seconds_left:3.1f} s")

    def live(self, side: str, rep: int, state: LiveState, elapsed_s: float, duration_s: float) -> None:
        onset = "onset ✓" if state.onset_t_s is not None else "waiting for onset"
        self._line(
            f"  {SIDE_CODE.get(side, side)}{rep}  ▶ {min(elapsed_s, duration_s):3.1f}/{duration_s:.1f} s"
            f"   force {state.force_n - state.baseline_n:7.1f} N   peak {state.peak_n - state.baseline_n:7.1f} N   {onset}"
        )

    def trial_done(self, outcome: TrialOutcome) -> None:
        r = outcome.results
        code = f"{SIDE_CODE.get(outcome.side, outcome.side)}{outcome.rep}"
        if outcome.status == "skipped":
            self.print(f"  {code}  skipped")
            return
        parts = [f"  {code}  {outcome.status:<9}", f"peak {fmt(outcome.peak_force_n, '.1f', 'N')}"]
        if "time_to_peak_s" in r:
            parts.append(f"time to peak {fmt(r.get('time_to_peak_s'), '.2f', 's')}")
        rfd = (r.get("rfd_n_per_s") or {}).get("0-200")
        if rfd is not None:
            parts.append(f"RFD 0–200 ms {rfd:.0f} N/s")
        if outcome.flags:
            parts.append("⚠ " + "; ".join(outcome.flags))
        self.print("   ".join(parts))

    def rest(self, seconds_left: float) -> None:
        self._line(f"  rest … {seconds_left:4.1f} s")

    def test_done(self, summary: TestSummary) -> None:
        self.print()
        self.print(f"{summary.name} — results ({summary.status})")
        self.print(f"  {'side':<6} {'reps':>4} {'best (N)':>10} {'mean (N)':>10} {'CV (%)':>7}")
        for side in ("left", "right"):
            s = summary.sides.get(side)
            if s is None:
                continue
            self.print(f"  {side:<6} {s.reps:>4} {fmt(s.best_n):>10} {fmt(s.mean_n):>10} {fmt(s.cv_pct):>7}")
        sym = summary.symmetry
        if sym.get("kind") == "lsi" and sym.get("value_pct") is not None:
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
