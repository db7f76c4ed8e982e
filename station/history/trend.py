"""A patient's results over time: per protocol and side, the best value per session, its change
since the previous and the first session judged against the minimal detectable change, the LSI
per session, pain, and the EPIC view.

Definitions (docs/history-and-exports.md):

- best value: the highest peak force (N) of the side's valid reps in the session (the highest of
  several tests of the same protocol in one session), also per kg and as torque (N·m, N·m/kg).
- change: now − previous, and now − first session, in N and in % of the earlier value.
- MDC95 = 1.96 × √2 × SEM. A change larger than the MDC is "improved beyond MDC" or "declined
  beyond MDC", otherwise "within measurement error". The SEM is the station's own (pooled
  within-session SD of the patient's reps of that protocol, when it has at least
  ``MIN_OWN_DF`` degrees of freedom), else the protocol's reference entry. When the reference
  is in % of the measured value, the MDC in N is that % of the earlier value of the change.
- LSI = involved / uninvolved × 100 (best values of the same session).
- EPIC = involved now / uninvolved at the baseline × 100; the baseline is the latest session
  marked as baseline on or before this one (``station index baseline``), else the first
  session (Wellsandt et al. 2017: LSI alone overestimates recovery when both sides weakened).

Pure functions over :class:`~station.index.store.HistoryRow` and :class:`TrialRow` lists; the
window's trend plot and ``station history`` both call :func:`patient_trend`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from station.history.reference import ReferenceEntry, ReferenceSet, mdc95_from_sem, references_for
from station.index.store import HistoryRow, ResultsStore, SessionRow, TrialRow
from station.session.kinds import DEFAULT_KIND, stored_kind

IMPROVED = "improved beyond MDC"
WITHIN = "within measurement error"
DECLINED = "declined beyond MDC"

#: Degrees of freedom (Σ reps − 1 per session and side) needed before the station's own SEM is used.
MIN_OWN_DF = 4


def verdict(change: float | None, mdc: float | None) -> str | None:
    """Plain-words verdict of a change against the MDC (same unit); None when either is unknown."""
    if change is None or mdc is None or not math.isfinite(change) or not math.isfinite(mdc):
        return None
    if change > mdc:
        return IMPROVED
    if change < -mdc:
        return DECLINED
    return WITHIN


def pct_change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return 100.0 * (now - before) / before


def pooled_sem(groups: Sequence[Sequence[float]]) -> tuple[float | None, int]:
    """SEM from repeated measures: the pooled within-group SD, sqrt(Σ(x − x̄_g)² / Σ(n_g − 1)),
    and its degrees of freedom. Groups with fewer than two values add nothing."""
    ss, df = 0.0, 0
    for g in groups:
        vals = [float(v) for v in g if v is not None and math.isfinite(v)]
        if len(vals) < 2:
            continue
        m = sum(vals) / len(vals)
        ss += sum((v - m) ** 2 for v in vals)
        df += len(vals) - 1
    return (math.sqrt(ss / df) if df else None), df


@dataclass(frozen=True)
class MeasurementError:
    """The SEM behind the verdicts, and where it came from."""

    source: str | None          # "station" (own repeated measures) | "reference" | None (no MDC)
    sem: float | None
    mdc95: float | None
    unit: str | None            # "N" or "%" (of the earlier value of a change)
    description: str            # one line for people
    reference_id: str | None = None
    reference_checked: bool | None = None
    own_sem_n: float | None = None   # always reported when computable, even if not used
    own_df: int = 0

    def mdc_n(self, before_n: float | None) -> float | None:
        """The MDC in newtons for a change from ``before_n``."""
        if self.mdc95 is None:
            return None
        if self.unit == "%":
            return None if before_n is None else self.mdc95 / 100.0 * before_n
        return self.mdc95


def measurement_error(trials: Sequence[TrialRow], references: Sequence[ReferenceEntry]) -> MeasurementError:
    """The station's own SEM when it has enough repeated measures, else the first reference
    entry with a peak-force SEM or MDC; says which was used."""
    groups: dict[tuple[str, str, str], list[float]] = {}
    for t in trials:
        if t.status == "complete" and t.peak_force_n is not None and t.side in ("left", "right"):
            groups.setdefault((t.session_id, t.test, t.side), []).append(t.peak_force_n)
    own, df = pooled_sem(list(groups.values()))
    ref = next((r for r in references if r.is_error and r.metric == "peak_force" and r.unit in ("N", "%")), None)
    if own is not None and df >= MIN_OWN_DF:
        text = (f"SEM {own:.1f} N from this station's repeated measures of this patient "
                f"({df} degrees of freedom, within-session reps)")
        if ref is not None:
            text += f"; reference {ref.short_citation}: SEM {ref.sem_value:.1f} {ref.unit}"
        return MeasurementError("station", own, mdc95_from_sem(own), "N", text, ref.id if ref else None,
                                ref.checked if ref else None, own, df)
    if ref is not None:
        sem = ref.sem_value
        assert sem is not None
        unit = "% of the earlier value" if ref.unit == "%" else ref.unit
        text = (f"SEM {sem:.1f} {unit} from {ref.short_citation} ({ref.population}; "
                + ("checked against the source" if ref.checked else "NOT checked against the source") + ")")
        if own is not None:
            text += f"; this station's own SEM {own:.1f} N has only {df} degrees of freedom (needs {MIN_OWN_DF})"
        return MeasurementError("reference", sem, mdc95_from_sem(sem), ref.unit, text, ref.id, ref.checked, own, df)
    return MeasurementError(None, None, None, None,
                            "no MDC: too few repeated measures and no reference value for this protocol",
                            own_sem_n=own, own_df=df)


@dataclass(frozen=True)
class TrendPoint:
    """One side of one session."""

    session_id: str
    date_utc: str
    best_n: float | None
    best_n_per_kg: float | None
    best_torque_nm: float | None
    best_torque_nm_per_kg: float | None
    pain_max_0_10: int | None
    involved: bool
    change_prev_n: float | None = None
    change_prev_pct: float | None = None
    mdc_prev_n: float | None = None
    verdict_prev: str | None = None
    change_first_n: float | None = None
    change_first_pct: float | None = None
    mdc_first_n: float | None = None
    verdict_first: str | None = None


@dataclass(frozen=True)
class SessionPoint:
    """Per session: symmetry and the EPIC view."""

    session_id: str
    date_utc: str
    baseline: str | None
    involved_side: str | None
    lsi_pct: float | None
    epic_pct: float | None
    epic_reference: str | None   # "uninvolved side at first session (2026-10-01)" …


@dataclass
class ProtocolTrend:
    protocol_id: str
    kind: str
    error: MeasurementError
    sides: dict[str, list[TrendPoint]] = field(default_factory=dict)
    sessions: list[SessionPoint] = field(default_factory=list)
    norms: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None


@dataclass
class PatientTrend:
    patient_id: str
    involved_side: str | None
    sessions: list[SessionRow]
    protocols: list[ProtocolTrend]
    reference_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def protocol(self, protocol_id: str) -> ProtocolTrend | None:
        return next((p for p in self.protocols if p.protocol_id == protocol_id), None)


def _best_per_session(rows: Sequence[HistoryRow]) -> dict[tuple[str, str], HistoryRow]:
    """(session, side) → the row with the highest best value (several tests of one protocol)."""
    out: dict[tuple[str, str], HistoryRow] = {}
    for r in rows:
        key = (r.session_id, r.side)
        if r.best_n is None:
            out.setdefault(key, r)
            continue
        cur = out.get(key)
        if cur is None or cur.best_n is None or r.best_n > cur.best_n:
            out[key] = r
    return out


def protocol_trend(protocol_id: str, rows: Sequence[HistoryRow], trials: Sequence[TrialRow],
                   sessions: Sequence[SessionRow], references: Sequence[ReferenceEntry]) -> ProtocolTrend:
    """The trend of one protocol from its history rows (oldest first) and trial rows."""
    kind = rows[0].kind if rows else DEFAULT_KIND
    spec = stored_kind(kind)  # the test kind says whether changes are judged against the MDC
    error = measurement_error(trials, references) if spec.mdc_verdicts else MeasurementError(
        None, None, None, None, spec.no_mdc_note)
    best = _best_per_session(rows)
    order = sorted({(r.started_utc, r.session_id) for r in rows})
    involved_by_session = {r.session_id: r.involved_side for r in rows}
    trend = ProtocolTrend(protocol_id, kind, error)
    trend.norms = [{"id": r.id, "metric": r.metric, "unit": r.unit, "low": r.normative_low, "high": r.normative_high,
                    "population": r.population, "note": r.normative_note, "citation": r.short_citation,
                    "doi": r.doi, "checked": r.checked} for r in references if r.is_normative]
    for side in ("left", "right"):
        first: HistoryRow | None = None
        prev: HistoryRow | None = None
        points: list[TrendPoint] = []
        for date, sid in order:
            r = best.get((sid, side))
            if r is None:
                continue
            fields: dict[str, Any] = {}
            if r.best_n is not None:
                for which, before in (("prev", prev), ("first", first)):
                    if before is None or before.best_n is None:
                        continue
                    change = r.best_n - before.best_n
                    mdc = error.mdc_n(before.best_n)
                    fields[f"change_{which}_n"] = change
                    fields[f"change_{which}_pct"] = pct_change(r.best_n, before.best_n)
                    fields[f"mdc_{which}_n"] = mdc
                    fields[f"verdict_{which}"] = verdict(change, mdc)
            points.append(TrendPoint(sid, date, r.best_n, r.best_n_per_kg, r.best_torque_nm, r.best_torque_nm_per_kg,
                                     r.pain_max_0_10, involved_by_session.get(sid) == side, **fields))
            if r.best_n is not None:
                prev = r
                if first is None:
                    first = r
        if points:
            trend.sides[side] = points
    for n in trend.norms:  # the latest session's values in the norm's unit
        n["latest"] = {side: norm_value(n["metric"], pts[-1], body_mass_of(rows, pts[-1].session_id))
                       for side, pts in trend.sides.items() if pts}
    marks = {s.session_id: s.baseline for s in sessions}
    for date, sid in order:
        inv = involved_by_session.get(sid)
        lsi: float | None = None
        epic: float | None = None
        label: str | None = None
        if inv in ("left", "right"):
            uninv = "left" if inv == "right" else "right"
            i_row, u_row = best.get((sid, inv)), best.get((sid, uninv))
            if i_row and u_row and i_row.best_n is not None and u_row.best_n:
                lsi = 100.0 * i_row.best_n / u_row.best_n
            base_sid, base_date, base_label = _baseline(order, marks, date, sid, best, uninv)
            if base_sid is not None and i_row is not None and i_row.best_n is not None:
                b = best[(base_sid, uninv)]
                if b.best_n:
                    epic = 100.0 * i_row.best_n / b.best_n
                    label = (f"uninvolved side at the {base_label} session ({base_date[:10]})" if base_label
                             else f"uninvolved side at the first session ({base_date[:10]})")
        trend.sessions.append(SessionPoint(sid, date, marks.get(sid), inv, lsi, epic, label))
    return trend


def date_labels(dates: list[str]) -> list[str]:
    """Dates as YYYY-MM-DD, with the UTC time where one day has several sessions."""
    days = [d[:10] for d in dates]
    return [d[:16].replace("T", " ") if days.count(d[:10]) > 1 else d[:10] for d in dates]


STANDARD_GRAVITY = 9.80665  # m/s²


def body_mass_of(rows: Sequence[HistoryRow], session_id: str) -> float | None:
    return next((r.body_mass_kg for r in rows if r.session_id == session_id), None)


def norm_value(metric: str, p: TrendPoint, body_mass_kg: float | None) -> float | None:
    """A trend point in a normative entry's metric (N·m/kg, N/kg, % body weight, N)."""
    if metric == "peak_torque_per_kg":
        return p.best_torque_nm_per_kg
    if metric == "peak_force_per_kg":
        return p.best_n_per_kg
    if metric == "peak_force_pct_bw":
        return None if p.best_n is None or not body_mass_kg else 100.0 * p.best_n / (body_mass_kg * STANDARD_GRAVITY)
    return p.best_n


def _baseline(order: list[tuple[str, str]], marks: dict[str, str | None], date: str, sid: str,
              best: dict[tuple[str, str], HistoryRow], uninv: str) -> tuple[str | None, str, str | None]:
    """The EPIC baseline for the session (date, sid): the latest marked session up to it that
    has the uninvolved side, else the first session with the uninvolved side."""
    have = [(d, s) for d, s in order if best.get((s, uninv)) is not None and best[(s, uninv)].best_n]
    marked = [(d, s) for d, s in have if marks.get(s) and (d, s) <= (date, sid)]
    if marked:
        d, s = marked[-1]
        return s, d, marks[s]
    if have:
        d, s = have[0]
        return s, d, None
    return None, "", None


def patient_trend(store: ResultsStore, patient_id: str, protocol_id: str | None = None,
                  refs: ReferenceSet | None = None) -> PatientTrend:
    """Everything ``station history`` shows (and the window's trend plot needs) for a patient."""
    from station.history.reference import load_reference_values

    refs = refs or load_reference_values()
    sessions = store.sessions(patient_id)
    rows = store.history(patient_id, protocol_id)
    trials = store.trials(patient_id, protocol_id)
    by_protocol: dict[str, list[HistoryRow]] = {}
    for r in rows:
        by_protocol.setdefault(r.protocol_id, []).append(r)
    tests_of = {(r.session_id, r.test): r.protocol_id for r in rows}
    protocols = []
    for pid, prow in by_protocol.items():
        ptrials = [t for t in trials if tests_of.get((t.session_id, t.test)) == pid]
        protocols.append(protocol_trend(pid, prow, ptrials, sessions, references_for(pid, refs)))
    involved = next((s.involved_side for s in reversed(sessions) if s.involved_side), None)
    return PatientTrend(patient_id, involved, sessions, protocols, refs.version)


def trend_data(store: ResultsStore, patient_id: str, protocol_id: str) -> ProtocolTrend | None:
    """The window's trend plot: one protocol of one patient (None if never tested)."""
    return patient_trend(store, patient_id, protocol_id).protocol(protocol_id)
