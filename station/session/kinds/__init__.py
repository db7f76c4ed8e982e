"""Test kinds as a registry: each kind declares, in one module, how its trials are analysed,
how a test's sides are compared, and the rows the terminal and ``station analyze`` print.

The session engine, ``station analyze`` and the terminal ask :func:`get_kind` instead of
testing ``protocol.kind``. What a protocol *file* of a kind may declare (device kind,
metric names, ``[analysis]`` keys) is the stdlib half in :mod:`protocols.kinds`.

The index, the exports (PDF report, CSV) and the history trend ask the kind too: the
flat index rows of a trial (:meth:`TestKind.index_rows`), the report's curve window, axis
label, per-side table and notes, and whether measurement-error (MDC) verdicts apply.

To add a test kind: a :class:`~protocols.kinds.ProtocolKind` in :mod:`protocols.kinds`, a
module here with a :class:`TestKind` subclass, and one line in :data:`KINDS`.
"""
from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from protocols.kinds import PROTOCOL_KINDS, ProtocolKind

#: (involved side's best, in N) → the comparison with the patient's first session, or None
RelativeToFirst = Callable[[float], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Subject:
    """What the analysis needs to know of the patient (SI units; None = unknown)."""

    body_mass_kg: float | None = None
    lever_arm_m: float | None = None
    body_weight_n: float | None = None


@dataclass
class TrialAnalysis:
    """A trial's analysed results (the dict stored in the file), its headline peak (N) and flags."""

    results: dict[str, Any]
    peak_force_n: float | None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReportRow:
    """One row of the PDF report's per-side table. ``source``: ``"side"`` an attribute of the
    side's summary row (:class:`~station.index.store.SideRow`), ``"best"`` an attribute of the
    side's best trial (:class:`~station.index.store.TrialRow`), ``"reps"`` the number of valid
    reps, ``"pain"`` the highest pain score; ``spec``: the number format."""

    label: str
    source: Literal["side", "best", "reps", "pain"]
    attr: str = ""
    spec: str = ".1f"


def num(value: Any) -> float | None:
    """A finite float, else None (missing, NaN, text, a bool)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


class TestKind(ABC):
    """One test kind: analysis, summary and printed rows. Subclasses set :attr:`name` (a key of
    :data:`protocols.kinds.PROTOCOL_KINDS`), :attr:`title` and :attr:`params_type`."""

    name: ClassVar[str]
    title: ClassVar[str]            # "Isometric", "Landing": heads ``station analyze``'s text
    params_type: ClassVar[type]     # the analysis parameters dataclass (stored with every result)
    symmetry_word: ClassVar[str]    # "LSI" / "asymmetry": what "no …" notes call the comparison
    plate_force: ClassVar[bool] = False  # the session stores each plate's summed force (fz_n)
    paired_columns: ClassVar[bool] = False  # ``station analyze`` takes a --left/--right pair
    live_word: ClassVar[str] = "Go!"  # what a front end shows while a trial of this kind records
    pass_mark: ClassVar[bool] = False  # the sides' comparison has a pass mark (an LSI; a landing load has none)
    symmetry_metrics: ClassVar[tuple[str, ...]] = ("lsi",)  # protocol metrics that show the sides' comparison

    # -- reports, exports and the history trend -------------------------------------------
    curve_after_onset_s: ClassVar[float]  # s of the best trial's curve after onset the report draws
    curve_axis_label: ClassVar[str]       # the report's time axis: from what the curve is aligned
    report_rows: ClassVar[tuple[ReportRow, ...]]  # the report's per-side table, in order
    report_note: ClassVar[str]            # under that table: which trial the per-trial values are from
    symmetry_note: ClassVar[str] = ""     # added to the report's asymmetry box (e.g. why no pass mark)
    mdc_verdicts: ClassVar[bool] = True   # the trend judges changes against the measurement error (MDC)
    no_mdc_note: ClassVar[str] = ""       # the trend's note when it does not

    @property
    def spec(self) -> ProtocolKind:
        """The protocol-file half: device kind, metric names, ``[analysis]`` keys."""
        return PROTOCOL_KINDS[self.name]

    # -- parameters ------------------------------------------------------------------------
    def params(self, settings: Mapping[str, Any] | None = None) -> Any:
        """The analysis parameters: the defaults with ``settings`` (a protocol's ``[analysis]``
        table, or command-line options) applied. A filter cut-off of 0 means no filter."""
        values: dict[str, Any] = {}
        known = {f.name for f in dataclasses.fields(self.params_type)}
        for key, value in (settings or {}).items():
            if key not in known:
                raise KeyError(f"{self.name} analysis has no parameter {key!r}")
            try:
                off = self.spec.setting(key).zero_means_off
            except KeyError:
                off = False
            values[key] = None if off and not value else value
        return dataclasses.replace(self.params_type(), **values)

    # -- a session trial -------------------------------------------------------------------
    @abstractmethod
    def analyse(self, forces: dict[str, np.ndarray], rates: dict[str, float], params: Any,
                subject: Subject) -> TrialAnalysis:
        """Analyse one trial: side → force (N) at ``rates[side]`` (Hz). Raises ValueError or
        FloatingPointError for a trace it cannot analyse (the session keeps the raw data)."""

    # -- a test summary --------------------------------------------------------------------
    @abstractmethod
    def symmetry(self, left_best_n: float, right_best_n: float, involved: str, pass_pct: float,
                 relative_to_first: RelativeToFirst) -> dict[str, Any]:
        """The comparison of the two sides' best reps, stored as the test's ``symmetry``."""

    def no_symmetry_note(self, note: str) -> str:
        """The reason no comparison is reported, in this kind's word for it."""
        return note.replace("no LSI", f"no {self.symmetry_word}")

    # -- the results index -----------------------------------------------------------------
    @abstractmethod
    def index_rows(self, results: dict[str, Any], side: str, body_mass_kg: float | None,
                   peak_force_n: float | None) -> list[tuple[str, dict[str, Any]]]:
        """A stored trial's flat index rows: (side, fields of :class:`~station.index.store.TrialRow`)
        from its ``results`` (the trial's side, the patient's body mass in kg and the trial's
        stored headline peak in N for what the results lack). A trial of both sides may give
        one row per side, or a summed ``"both"`` row followed by its per-side parts (which the
        tidy CSV leaves to the summed row)."""

    # -- printed rows ----------------------------------------------------------------------
    @abstractmethod
    def trial_parts(self, results: dict[str, Any], metrics: tuple[str, ...] | None) -> list[str]:
        """The metrics the terminal prints after a trial, besides its peak: only those the
        protocol's ``metrics`` lists (all when ``metrics`` is None)."""

    # -- a window's tables ------------------------------------------------------------------
    def shown_metrics(self, metrics: tuple[str, ...] | None) -> list[str]:
        """The metrics a protocol listing ``metrics`` shows, in its order (all of the kind's when
        None); the peak force always, first when the list leaves it out (it is every trial's headline)."""
        order = [m for m in (self.spec.metrics if metrics is None else metrics) if m in self.spec.metrics]
        return order if "peak_force" in order else ["peak_force", *order]

    def result_columns(self, results: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """A trial's results dict as table columns: side ("left", "right", "both") → its results,
        or ``{"value": results}`` for one side."""
        per_side = results.get("per_side")
        return dict(per_side) if isinstance(per_side, dict) else {"value": results}

    def result_rows(self, columns: dict[str, dict[str, Any]], metrics: tuple[str, ...] | None,
                    settings: Mapping[str, Any] | None = None) -> list[Row]:
        """A trial's rows for a results table: per metric a protocol listing ``metrics`` shows
        (:meth:`shown_metrics`), its label and one cell per column of ``columns``
        (:meth:`result_columns`), in the list's order. ``settings``: the protocol's
        ``[analysis]`` table (e.g. its RFD windows: a row each, even where a result has no value)."""
        params = self.params(settings)
        rows: list[Row] = []
        for m in self.shown_metrics(metrics):
            rows.extend(self.metric_rows(m, columns, metrics, params))
        return rows

    @abstractmethod
    def metric_rows(self, metric: str, columns: dict[str, dict[str, Any]],
                    metrics: tuple[str, ...] | None, params: Any) -> list[Row]:
        """The rows of one metric (none for a metric of the test, not of a trial, e.g. ``lsi``);
        ``params``: the analysis parameters (:meth:`params`)."""

    @abstractmethod
    def summary_columns(self, metrics: tuple[str, ...] | None) -> list[tuple[str, str, str]]:
        """The best rep in clinical units that a per-test table shows beside best, mean and CV
        (N), for a protocol listing ``metrics``: (header, key of ``SideSummary.clinical``, format)."""

    def shows_symmetry(self, metrics: tuple[str, ...] | None) -> bool:
        """Whether a protocol listing ``metrics`` shows the comparison of the sides (LSI or asymmetry)."""
        return metrics is None or any(m in metrics for m in self.symmetry_metrics)

    # -- station analyze -------------------------------------------------------------------
    @abstractmethod
    def analyse_trace(self, columns: dict[str, np.ndarray], rate_hz: float, params: Any,
                      subject: Subject) -> tuple[Any, str, tuple[str, ...]]:
        """A loaded trace's result, its status ("ok" or why not) and notes. ``columns``: one
        force column, or ``left`` and ``right`` (:attr:`paired_columns`)."""

    @abstractmethod
    def report_text(self, d: dict[str, Any]) -> str:
        """``station analyze``'s text for a result dict (with its ``source``)."""


#: a results table's row: its label and one cell per column
Row = tuple[str, list[str]]


def cell(value: Any, spec: str = ".1f", unit: str = "") -> str:
    """A table cell: the value with its unit, or ``—`` when there is none."""
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{value:{spec}}" + (f" {unit}" if unit else "")


def window_rows(label: str, key: str, columns: dict[str, dict[str, Any]], spec: str, unit: str,
                windows: tuple[str, ...] = ()) -> list[Row]:
    """One row per window of a windowed result (``key`` → {"0-50": v, …}), shortest window first:
    ``windows`` (labels such as "0-50") and any other a column has."""
    windows_: set[str] = set(windows)
    for r in columns.values():
        windows_.update((r.get(key) or {}).keys())
    ordered = sorted(windows_, key=lambda w: (int(w.split("-")[1]), w))
    return [(f"{label} {w.replace('-', '–')} ms", [cell((r.get(key) or {}).get(w), spec, unit)
                                                  for r in columns.values()]) for w in ordered]


def shown(metric: str, metrics: tuple[str, ...] | None) -> bool:
    """Whether a protocol listing ``metrics`` (None: any) shows ``metric``."""
    return metrics is None or metric in metrics


def fmt(value: float | None, unit: str, digits: int = 1) -> str:
    """A value with its unit, or ``n/a``."""
    if value is None:
        return "n/a"
    return f"{value:.{digits}f} {unit}"


def table(title: str, rows: list[tuple[str, str]], d: dict[str, Any]) -> str:
    """A titled two-column text table, then the result's flags, notes and algorithm version."""
    width = max(len(label) for label, _ in rows)
    lines = [title]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    if d.get("flags"):
        lines.append(f"flags: {', '.join(d['flags'])}")
    if d.get("notes"):
        lines.append("notes:")
        lines += [f"  - {n}" for n in d["notes"]]
    lines.append(f"algorithm version {d['algorithm_version']}")
    return "\n".join(lines)


def _registry() -> dict[str, TestKind]:
    from station.session.kinds.isometric import Isometric
    from station.session.kinds.landing import Landing

    return {k.name: k for k in (Isometric(), Landing())}


#: every test kind, by name (the same names as :data:`protocols.kinds.PROTOCOL_KINDS`)
KINDS: dict[str, TestKind] = _registry()


#: the kind a stored test of no known kind (empty in an index-only record, or a kind this
#: station does not know) is shown and exported as
DEFAULT_KIND = "isometric"


def get_kind(name: str) -> TestKind:
    """The test kind called ``name`` (a protocol's ``kind``); KeyError if there is none."""
    return KINDS[name]


def stored_kind(name: str | None) -> TestKind:
    """The kind of a stored test (its ``kind`` attribute or index column), for reading back:
    :data:`DEFAULT_KIND` when ``name`` is empty or unknown."""
    return KINDS.get(name or "", KINDS[DEFAULT_KIND])


__all__ = ["DEFAULT_KIND", "KINDS", "ReportRow", "Row", "Subject", "TestKind", "TrialAnalysis", "cell", "fmt",
           "get_kind", "num", "shown", "stored_kind", "table", "window_rows"]
