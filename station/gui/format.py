"""Pure presentation rules of the window (no Qt): LSI colour bands, metric rows, step labels.

Kept apart from the widgets so they are unit-tested without a display.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STANDARD_GRAVITY = 9.80665
SIDE_CODE = {"left": "L", "right": "R", "both": "L+R"}
SIDE_NAME = {"left": "Left", "right": "Right", "both": "Both"}
DEFAULT_PASS_PCT = 90.0
DEFAULT_AMBER_PCT = 80.0


def fmt(value: Any, spec: str = ".1f", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{value:{spec}}{(' ' + unit) if unit else ''}"


def bands_for(protocol: Any, symmetry: dict[str, Any]) -> tuple[float, float]:
    """(pass mark %, amber from %) of a test: the protocol's when it declares them, else the
    pass mark the session used (90 %) and 10 points below it."""
    pass_pct = None
    for holder in (protocol, getattr(protocol, "acceptance", None), getattr(protocol, "symmetry", None)):
        for name in ("pass_pct", "lsi_pass_pct", "pass_mark_pct"):
            value = getattr(holder, name, None) if holder is not None else None
            if isinstance(value, (int, float)):
                pass_pct = float(value)
                break
        if pass_pct is not None:
            break
    if pass_pct is None:
        pass_pct = float((symmetry.get("parameters") or {}).get("pass_pct", DEFAULT_PASS_PCT))
    amber = None
    for holder in (protocol, getattr(protocol, "acceptance", None), getattr(protocol, "symmetry", None)):
        for name in ("amber_pct", "lsi_amber_pct", "warn_pct"):
            value = getattr(holder, name, None) if holder is not None else None
            if isinstance(value, (int, float)):
                amber = float(value)
        if amber is not None:
            break
    return pass_pct, amber if amber is not None else pass_pct - (DEFAULT_PASS_PCT - DEFAULT_AMBER_PCT)


def lsi_band(value_pct: float | None, pass_pct: float = DEFAULT_PASS_PCT, amber_pct: float = DEFAULT_AMBER_PCT) -> str:
    """green (≥ pass mark), amber (≥ amber_pct), red (below), or none."""
    if value_pct is None:
        return "none"
    if value_pct >= pass_pct:
        return "green"
    if value_pct >= amber_pct:
        return "amber"
    return "red"


@dataclass(frozen=True)
class SymmetryText:
    text: str
    band: str  # green | amber | red | neutral | none


def symmetry_text(symmetry: dict[str, Any], protocol: Any = None) -> SymmetryText:
    """The LSI line of a test summary and its colour band (landings: signed asymmetry, no band)."""
    value = symmetry.get("value_pct")
    if not symmetry or value is None:
        note = str(symmetry.get("note") or "").strip()  # why not, as the session stored it
        return SymmetryText(note[:1].upper() + note[1:] if note else "No symmetry: both sides need a valid rep", "none")
    if symmetry.get("kind") == "lsi":
        pass_pct, amber = bands_for(protocol, symmetry)
        band = lsi_band(value, pass_pct, amber)
        verdict = {"green": "PASS", "amber": "below pass mark", "red": "well below pass mark"}[band]
        return SymmetryText(f"LSI {value:.1f} %  ·  pass mark {pass_pct:.0f} %  ·  {verdict}", band)
    text = f"Asymmetry {value:+.1f} % ({symmetry.get('direction', '')})"
    if symmetry.get("involved_ratio_pct") is not None:
        text += f"  ·  involved/uninvolved {symmetry['involved_ratio_pct']:.1f} %"
    return SymmetryText(text + "  ·  landing load: no pass mark", "neutral")


def step_label(side: str, rep: int, attempt: int | None = None, status: str | None = None,
               trial: str | None = None, peak_n: float | dict[str, float] | None = None) -> str:
    """A step of the step list, e.g. ``L rep 2 (attempt 3)  ✓ 231 N``; ``peak_n`` per side
    ({"left": …, "right": …}) for a trial of both sides at once: ``L+R rep 1  ✓ L 228 / R 188 N``."""
    text = f"{SIDE_CODE.get(side, side)} rep {rep}"
    if attempt and attempt > rep:
        text += f" (attempt {attempt})"
    if status:
        mark = {"complete": "✓", "skipped": "– skipped", "rejected": "✗ rejected", "interrupted": "⚠ interrupted",
                "aborted": "✗ aborted"}.get(status, status)
        text += f"   {mark}"
        if isinstance(peak_n, dict) and peak_n and status in ("complete", "interrupted"):
            text += " " + " / ".join(f"{SIDE_CODE.get(k, k)} {v:.0f}" for k, v in peak_n.items()) + " N"
        elif isinstance(peak_n, (int, float)) and status in ("complete", "interrupted"):
            text += f" {peak_n:.0f} N"
    return text


#: a results table's column headers: a side, the sum of two plates, or the one value
COLUMN_NAME = {"left": "Left", "right": "Right", "both": "Both plates", "value": "value"}


def trial_metric_rows(kind: str, results: dict[str, Any], body_mass_kg: float | None,
                      metrics: tuple[str, ...] | None = None,
                      settings: dict[str, Any] | None = None) -> tuple[list[str], list[list[str]]]:
    """(column headers, rows) of one trial's metrics for the after-trial table: the metrics the
    protocol lists (``metrics``; None: all of the kind's), in its order, as the test kind
    declares them (:meth:`station.session.kinds.TestKind.result_rows`). ``settings``: the
    protocol's ``[analysis]`` table (its RFD windows). × body weight comes from the result, or
    from ``body_mass_kg`` when the result has none."""
    from station.session.kinds import get_kind

    k = get_kind(kind)
    columns = k.result_columns(results)
    bw = body_mass_kg * STANDARD_GRAVITY if body_mass_kg else None
    if bw:
        columns = {c: r if r.get("peak_force_bw") is not None or not r.get("peak_force_n")
                   else {**r, "peak_force_bw": r["peak_force_n"] / bw} for c, r in columns.items()}
    rows = k.result_rows(columns, metrics, settings)
    headers = ["metric"] + [COLUMN_NAME.get(c, c) for c in columns]
    return headers, [[label, *cells] for label, cells in rows]


def side_summary_rows(summary: Any, metrics: tuple[str, ...] | None = None) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of a test's per-side table: reps, best, mean and CV in N, then the best
    rep in the clinical units the protocol's ``metrics`` list (N·m, N/kg, × BW; the test kind's
    :meth:`~station.session.kinds.TestKind.summary_columns`)."""
    from station.session.kinds import get_kind

    extra = get_kind(summary.kind).summary_columns(metrics)
    headers = ["side", "reps", "best (N)", "mean (N)", "CV (%)"] + [h for h, _, _ in extra]
    rows = []
    for side in ("left", "right", "both"):
        s = summary.sides.get(side)
        if s is None:
            continue
        clinical = getattr(s, "clinical", None) or {}
        rows.append([SIDE_NAME[side], str(s.reps), fmt(s.best_n), fmt(s.mean_n), fmt(s.cv_pct)]
                    + [fmt(clinical.get(key), spec) for _, key, spec in extra])
    return headers, rows


def shows_symmetry(kind: str, metrics: tuple[str, ...] | None) -> bool:
    """Whether the protocol's ``metrics`` list shows the comparison of the sides (LSI / asymmetry)."""
    from station.session.kinds import get_kind

    return get_kind(kind).shows_symmetry(metrics)


def flag_reason(flags: list[str]) -> str:
    """A readable sentence for a trial's quality flags ('' when none)."""
    words = {
        "peak_at_trace_end": "the peak is at the end of the recording (still rising?)",
        "pretension": "force before the cue (pre-tension)",
        "baseline_shift": "the baseline shifted",
        "baseline_window_shortened": "short quiet baseline",
        "body_weight_window_shortened": "short quiet standing",
    }
    out = []
    for f in flags:
        key = f.split(": ", 1)[-1]
        out.append(words.get(key, f))
    return "; ".join(out)


def saturated(flags: list[str]) -> bool:
    """A trial flag saying the force was under-read: beyond the calibrated range, raw counts at
    the ADC limit (the engine's wording), or a device's own saturation / clipping flag."""
    return any(k in f for f in flags for k in ("beyond calibrated range", "ADC limit", "saturat", "clip"))


@dataclass(frozen=True)
class SideChange:
    """One side's change since the patient's last session, judged against the MDC
    (:mod:`station.history.trend` computes it; this only picks and words it)."""

    side: str
    change_n: float
    change_pct: float | None
    mdc_n: float | None
    verdict: str | None   # "improved beyond MDC" | "within measurement error" | "declined beyond MDC" | None
    since_utc: str

    @property
    def text(self) -> str:
        pct = f" ({self.change_pct:+.0f} %)" if self.change_pct is not None else ""
        judged = (f"{self.verdict} (MDC {self.mdc_n:.0f} N)" if self.verdict and self.mdc_n is not None
                  else self.verdict or "no MDC to judge it")
        return f"{SIDE_NAME.get(self.side, self.side)}: {self.change_n:+.0f} N{pct} since {self.since_utc[:10]} — {judged}"


def change_since_last(trend: Any, side: str, *, best_now_n: float | None = None,
                      session_id: str | None = None) -> SideChange | None:
    """This side's change since the last session of a :class:`~station.history.trend.ProtocolTrend`.

    With ``session_id`` (a session already in the index): that session's own change since the
    previous one, as ``station history`` reports it. Else ``best_now_n`` (N) against the latest
    session in the trend, with the trend's MDC. None when there is no earlier value."""
    from station.history.trend import pct_change, verdict

    points = list((getattr(trend, "sides", None) or {}).get(side) or [])
    if session_id is not None:
        i = next((k for k, p in enumerate(points) if p.session_id == session_id), None)
        if i is None or points[i].change_prev_n is None:
            return None
        before = next((p for p in reversed(points[:i]) if p.best_n is not None), None)
        p = points[i]
        return SideChange(side, p.change_prev_n, p.change_prev_pct, p.mdc_prev_n, p.verdict_prev,
                          before.date_utc if before else "")
    last = next((p for p in reversed(points) if p.best_n is not None), None)
    if last is None or best_now_n is None:
        return None
    change = best_now_n - last.best_n
    mdc = trend.error.mdc_n(last.best_n)
    return SideChange(side, change, pct_change(best_now_n, last.best_n), mdc, verdict(change, mdc), last.date_utc)
