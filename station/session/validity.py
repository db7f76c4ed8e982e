"""Which reps count, when to ask for another, and when a test earns a verdict.

A clinician acts on the LSI and its PASS, so the rules are strict and stated:

* A rep is **valid** for a side when the trial was recorded to its end (status
  ``complete``) and its analysis found what it measures on that side: a rise (isometric,
  status ``ok``) or a landing (status ``ok``). Skipped, rejected, aborted, interrupted,
  no-rise and failed analyses are not valid.
* Each side needs ``min_reps`` valid reps. Once a side's planned reps are done, another rep
  is asked for while it has fewer, or while its latest valid rep is more than
  ``max_drop_pct`` below its best; never beyond ``max_reps`` recorded reps per side.
* A side's best, mean and CV come from its valid reps only. The LSI (and its PASS or
  FAIL) is given only when both sides have ``min_reps`` valid reps and the test was not
  aborted; otherwise the summary says why there is none (``no LSI: left has 1 valid rep of 3``).

Pure functions on plain data; no I/O.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from station.analysis.reps import summarize_reps

STATUS_COMPLETE = "complete"
ANALYSIS_OK = "ok"


@dataclass(frozen=True)
class SideRep:
    """One rep as seen from one side: its peak (N) when valid, else why not."""

    trial: str
    peak_n: float | None
    valid: bool
    why_not: str = ""
    result: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # this side's analysis


def _side_result(results: dict[str, Any], side: str, trial_side: str) -> dict[str, Any]:
    """The analysis result of ``side`` within a trial's results (one side, both sides, plates)."""
    if trial_side != "both":
        return results
    per = results.get("per_side")
    if isinstance(per, dict):
        return per.get(side) or {}
    return results.get(side) or {}


def side_reps(trial: Any, side: str) -> SideRep | None:
    """``trial`` (a :class:`~station.session.model.TrialOutcome`) as a rep of ``side``; None if
    the trial does not measure that side or was never recorded (skipped, rejected)."""
    if trial.side not in (side, "both") or trial.status in ("skipped", "rejected"):
        return None
    if trial.status != STATUS_COMPLETE:
        return SideRep(trial.trial, None, False, trial.status)
    r = _side_result(trial.results or {}, side, trial.side)
    if not r:
        return SideRep(trial.trial, None, False, "not analysed")
    status = r.get("status")
    peak = r.get("peak_force_n")
    if status != ANALYSIS_OK or peak is None:
        return SideRep(trial.trial, None, False, str(status or "invalid").replace("_", " "))
    return SideRep(trial.trial, float(peak), True, result=r)


def reps_of(trials: Iterable[Any], side: str) -> list[SideRep]:
    return [r for t in trials if (r := side_reps(t, side)) is not None]


def valid_peaks(trials: Iterable[Any], side: str) -> list[float]:
    return [r.peak_n for r in reps_of(trials, side) if r.valid and r.peak_n is not None]


def needs_another_rep(trials: Sequence[Any], sides: Sequence[str], *, min_reps: int, max_drop_pct: float) -> str | None:
    """Why another rep of this side (or both sides, for ``sides=("left", "right")`` in a
    simultaneous test) is needed, or None. The caller enforces ``max_reps``."""
    for side in sides:
        reps = reps_of(trials, side)
        valid = [r for r in reps if r.valid]
        if len(valid) < min_reps:
            last = reps[-1] if reps else None
            why = f" (last rep: {last.why_not})" if last is not None and not last.valid else ""
            return f"{side} has {len(valid)} valid rep{'s' if len(valid) != 1 else ''} of {min_reps}{why}"
        summary = summarize_reps([r.peak_n for r in valid], max_drop_pct)
        if (len(valid) - 1) in summary.flagged:
            return f"{side}: latest rep more than {max_drop_pct:g} % below the best"
    return None


@dataclass
class Verdict:
    """Whether a test's symmetry may be reported, and if not, why (shown and stored)."""

    allowed: bool
    note: str = ""
    valid_reps: dict[str, int] = field(default_factory=dict)


def verdict_allowed(trials: Sequence[Any], sides: Sequence[str], *, min_reps: int, aborted: bool) -> Verdict:
    """An LSI / asymmetry only with ``min_reps`` valid reps on each side of a finished test."""
    counts = {s: sum(1 for r in reps_of(trials, s) if r.valid) for s in sides}
    if aborted:
        return Verdict(False, "incomplete: the test was stopped before its end; no verdict", counts)
    short = [s for s in sides if counts[s] < min_reps]
    if short:
        parts = [f"{s} has {counts[s]} valid rep{'s' if counts[s] != 1 else ''} of {min_reps}" for s in short]
        return Verdict(False, "no LSI: " + ", ".join(parts), counts)
    return Verdict(True, "", counts)


#: clinical units of a side's best rep, from its analysis result: key in the summary → result key
CLINICAL_UNITS = {
    "force_n_per_kg": "peak_force_n_per_kg",
    "torque_nm": "peak_torque_nm",
    "torque_nm_per_kg": "peak_torque_nm_per_kg",
    "force_bw": "peak_force_bw",
}


def best_clinical(reps: Sequence[SideRep]) -> dict[str, float]:
    """N/kg, N·m, N·m/kg or × body weight of the side's best valid rep (what is available)."""
    valid = [r for r in reps if r.valid and r.peak_n is not None]
    if not valid:
        return {}
    best = max(valid, key=lambda r: r.peak_n)  # type: ignore[arg-type,return-value]
    return {k: float(best.result[src]) for k, src in CLINICAL_UNITS.items() if best.result.get(src) is not None}
