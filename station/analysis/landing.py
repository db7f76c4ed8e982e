"""Landing trials on one or two force plates: contact, body weight, peak, loading rate,
impulse, time to stabilisation, left/right asymmetry.

Definitions, defaults and sources are in ``docs/metrics.md``. Pure functions, no I/O.
Times are seconds from the first sample; vertical forces in N.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from station.analysis import onset as _on
from station.analysis.filters import try_lowpass
from station.analysis.results import ALGORITHM_VERSION, jsonable
from station.analysis.symmetry import AsymmetryResult, asymmetry_index

STATUS_OK = "ok"
STATUS_NO_CONTACT = "no_contact"
STATUS_TOO_SHORT = "too_short"
STATUS_INVALID = "invalid"

#: Impulse window after contact (s); fixed because the result key names it (impulse_100ms_n_s).
IMPULSE_WINDOW_S = 0.100


@dataclass(frozen=True)
class LandingParams:
    """Parameters of :func:`analyze_landing` / :func:`analyze_dual_landing` (stored with results).

    contact_min_n, contact_sd_k: contact when force > unloaded offset + max(contact_min_n,
        contact_sd_k * SD of the unloaded plate).
    unloaded_window_s: window used to find the unloaded plate (lowest, steadiest level).
    max_unloaded_n: if even the lowest level is above this, the plate is taken as never unloaded.
    min_contact_s: shorter supra-threshold runs are ignored (spikes).
    min_gap_s: shorter sub-threshold gaps inside a contact are bridged (not a flight).
    contact: which landing contact to analyse: "first" (drop-jump landing from the box) or "last"
        (the final landing).
    body_weight_from: "after" = quiet standing after the last landing; "before" = the trace
        starts with a weigh-in (its first contact is the weigh-in, not a landing).
    body_weight_window_s, min_body_weight_window_s: quiet-standing window (shortened down to
        the minimum when less quiet standing is available).
    max_body_weight_cv_pct: the window is not quiet standing (no body weight) if its SD exceeds
        this percentage of its mean.
    loading_rate_window_s: window of the steepest slope (peak loading rate).
    tts_band_pct, tts_hold_s: time to stabilisation = first time after the peak from which the
        force stays within +-tts_band_pct % of body weight for tts_hold_s.
    filter_hz, filter_order: optional zero-lag Butterworth low-pass of the force (None = raw).
    """

    contact_min_n: float = 10.0
    contact_sd_k: float = 5.0
    unloaded_window_s: float = 0.1
    max_unloaded_n: float = 50.0
    min_contact_s: float = 0.02
    min_gap_s: float = 0.03
    contact: Literal["first", "last"] = "first"
    body_weight_from: Literal["after", "before"] = "after"
    body_weight_window_s: float = 1.0
    min_body_weight_window_s: float = 0.25
    max_body_weight_cv_pct: float = 5.0
    loading_rate_window_s: float = 0.010
    tts_band_pct: float = 5.0
    tts_hold_s: float = 1.0
    filter_hz: float | None = None
    filter_order: int = 4

    @property
    def tts_method(self) -> str:
        """Identifier of the time-to-stabilisation method, e.g. ``"bw_band_5pct_hold_1s"``."""
        return f"bw_band_{self.tts_band_pct:g}pct_hold_{self.tts_hold_s:g}s"


@dataclass(frozen=True)
class LandingResult:
    """Result for one plate (or the sum of two plates). Forces N, times s from the first sample,
    loading rates N/s, impulses N*s. None where unavailable; ``notes`` says why.

    body_weight_n is the body weight used for x BW normalisation (for a single plate of a
    two-plate trial: the total body weight); plate_load_n is this plate's quiet-standing load.
    """

    rate_hz: float
    n_samples: int
    status: str
    contact_s: float | None = None
    contact_end_s: float | None = None
    contact_time_s: float | None = None
    analysed_contact: str = "first"
    n_contacts: int = 0
    contacts_s: tuple[tuple[float, float | None], ...] = ()
    flight_time_s: float | None = None
    contact_threshold_n: float | None = None
    unloaded_offset_n: float | None = None
    unloaded_sd_n: float | None = None
    body_weight_n: float | None = None
    body_weight_source: str | None = None
    body_weight_window_s: tuple[float, float] | None = None
    body_weight_sd_n: float | None = None
    plate_load_n: float | None = None
    peak_force_n: float | None = None
    peak_force_bw: float | None = None
    peak_s: float | None = None
    time_to_peak_s: float | None = None
    loading_rate_n_per_s: float | None = None
    peak_loading_rate_n_per_s: float | None = None
    impulse_100ms_n_s: float | None = None
    net_impulse_100ms_n_s: float | None = None
    tts_s: float | None = None
    tts_method: str = "bw_band_5pct_hold_1s"
    filter_hz: float | None = None
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    parameters: LandingParams = field(default_factory=LandingParams)
    algorithm_version: str = ALGORITHM_VERSION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: SI values, None where unavailable, with parameters and notes."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["parameters"] = dataclasses.asdict(self.parameters)
        out["parameters"]["tts_method"] = self.parameters.tts_method
        out["parameters"]["impulse_window_s"] = IMPULSE_WINDOW_S
        return jsonable(out)


@dataclass(frozen=True)
class DualLandingResult:
    """Two plates: ``total`` (sum of the plates), ``left`` and ``right`` plate results, and the
    signed asymmetry (R - L) / max(R, L) * 100 of peak force and of the 100 ms impulse."""

    total: LandingResult
    left: LandingResult
    right: LandingResult
    asymmetry_peak_force: AsymmetryResult
    asymmetry_impulse_100ms: AsymmetryResult
    algorithm_version: str = ALGORITHM_VERSION

    @property
    def notes(self) -> tuple[str, ...]:
        extra = [f"peak-force asymmetry: {n}" for n in self.asymmetry_peak_force.notes]
        extra += [f"impulse asymmetry: {n}" for n in self.asymmetry_impulse_100ms.notes]
        return self.total.notes + tuple(extra)

    def to_dict(self) -> dict[str, Any]:
        """The total's keys at top level, plus ``left``, ``right``, ``asymmetry_pct`` and
        ``asymmetry_direction`` (keys "peak_force" and "impulse_100ms")."""
        out = self.total.to_dict()
        out["left"] = self.left.to_dict()
        out["right"] = self.right.to_dict()
        out["asymmetry_pct"] = {"peak_force": self.asymmetry_peak_force.value_pct,
                                "impulse_100ms": self.asymmetry_impulse_100ms.value_pct}
        out["asymmetry_direction"] = {"peak_force": self.asymmetry_peak_force.direction,
                                      "impulse_100ms": self.asymmetry_impulse_100ms.direction}
        out["notes"] = list(self.notes)
        return jsonable(out)


# ----------------------------------------------------------------------------- internals
@dataclass
class _Prepared:
    sig: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    fields: dict[str, Any]
    notes: list[str]
    flags: list[str]


def _validate(x: np.ndarray, rate_hz: float) -> None:
    if x.ndim != 1:
        raise ValueError(f"force must be 1-D, got shape {x.shape}")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")


def _prepare(x: np.ndarray, rate_hz: float, p: LandingParams) -> _Prepared | LandingResult:
    """Filter, find the unloaded plate, threshold and contact runs; or an early result."""
    notes: list[str] = []
    flags: list[str] = []
    base: dict[str, Any] = {"rate_hz": float(rate_hz), "n_samples": int(x.size), "parameters": p,
            "analysed_contact": p.contact, "tts_method": p.tts_method}
    w_unl = max(2, round(p.unloaded_window_s * rate_hz))
    if x.size < w_unl:
        return LandingResult(**base, status=STATUS_TOO_SHORT,
                             notes=(f"trace too short: {x.size} samples, needs at least {w_unl}",))
    if not np.isfinite(x).all():
        return LandingResult(**base, status=STATUS_INVALID,
                             notes=(f"trace contains {int((~np.isfinite(x)).sum())} non-finite sample(s)",))
    sig, base["filter_hz"] = try_lowpass(x, rate_hz, p.filter_hz, p.filter_order, "landing", notes)

    unl = _on.lowest_window(sig, w_unl, band=p.contact_min_n)
    assert unl is not None
    if unl.mean > p.max_unloaded_n:
        notes.append(f"plate never unloaded (lowest level {unl.mean:.1f} N): zero offset assumed")
        offset, sd = 0.0, 0.0
    else:
        offset, sd = unl.mean, unl.sd
    threshold = offset + max(p.contact_min_n, p.contact_sd_k * sd)
    base.update(unloaded_offset_n=offset, unloaded_sd_n=sd, contact_threshold_n=threshold)

    starts, ends = _on.runs_above(sig, threshold)
    if starts.size > 1:  # bridge short dips inside a contact
        keep = (starts[1:] - ends[:-1]) >= round(p.min_gap_s * rate_hz)
        starts = starts[np.concatenate(([True], keep))]
        ends = ends[np.concatenate((keep, [True]))]
    long_enough = (ends - starts) >= max(1, round(p.min_contact_s * rate_hz))
    return _Prepared(sig, starts[long_enough], ends[long_enough], base, notes, flags)


def _landing_runs(pr: _Prepared, p: LandingParams) -> tuple[int, ...]:
    """Indices (into pr.starts) of the runs that are landings (weigh-in / pre-loaded excluded)."""
    idx = list(range(pr.starts.size))
    if p.body_weight_from == "before":
        if idx:
            idx = idx[1:]
        else:
            pr.notes.append("no weigh-in found before the landing")
    elif idx and pr.starts[0] == 0:
        pr.notes.append("trace starts with the plate loaded: that contact is not analysed as a landing")
        idx = idx[1:]
    return tuple(idx)


def _quiet_window(pr: _Prepared, p: LandingParams, rate_hz: float, lo: int, hi: int) -> _on.Window | None:
    width = round(p.body_weight_window_s * rate_hz)
    wmin = max(2, round(p.min_body_weight_window_s * rate_hz))
    if hi - lo < wmin:
        return None
    if hi - lo < width:
        pr.flags.append("body_weight_window_shortened")
        pr.notes.append(f"quiet-standing window shortened to {(hi - lo) / rate_hz:.2f} s")
        width = hi - lo
    return _on.quietest_window(pr.sig, width, lo, hi)


def _body_weight_window(pr: _Prepared, p: LandingParams, rate_hz: float,
                        landings: tuple[int, ...]) -> _on.Window | None:
    """Quiet-standing window per ``p.body_weight_from`` (None with a note if unavailable)."""
    if p.body_weight_from == "before":
        if pr.starts.size == 0:
            return None
        lo, hi = int(pr.starts[0]), int(pr.ends[0])
        where = "the weigh-in"
    else:
        if not landings:
            return None
        last = landings[-1]
        s, e = int(pr.starts[last]), int(pr.ends[last])
        lo, hi = s + int(np.argmax(pr.sig[s:e])), e
        where = "quiet standing after the last landing"
    win = _quiet_window(pr, p, rate_hz, lo, hi)
    if win is None:
        pr.notes.append(
            f"body weight from {where} unavailable: only {(hi - lo) / rate_hz:.2f} s "
            f"(needs {p.min_body_weight_window_s:g} s)")
    elif win.sd > p.max_body_weight_cv_pct / 100.0 * win.mean:
        pr.notes.append(
            f"body weight from {where} unavailable: the steadiest window varies too much "
            f"(SD {win.sd:.1f} N on {win.mean:.1f} N, limit {p.max_body_weight_cv_pct:g} %)")
        return None
    return win


def _metrics(pr: _Prepared, p: LandingParams, rate_hz: float, run: int, landings: tuple[int, ...],
             bw_norm: float | None, level: float | None, tol: float | None) -> LandingResult:
    """Contact metrics for run ``run`` of ``pr``; bw_norm for x BW, level +- tol for TTS."""
    sig, n = pr.sig, pr.sig.size
    r = dict(pr.fields)
    notes, flags = pr.notes, pr.flags
    s, e = int(pr.starts[run]), int(pr.ends[run])
    r["n_contacts"] = len(landings)
    r["contacts_s"] = tuple((pr.starts[i] / rate_hz, pr.ends[i] / rate_hz if pr.ends[i] < n else None)
                            for i in landings)
    if len(landings) >= 2:
        r["flight_time_s"] = (pr.starts[landings[1]] - pr.ends[landings[0]]) / rate_hz
    r["contact_s"] = s / rate_hz
    if e < n:
        r["contact_end_s"] = e / rate_hz
        r["contact_time_s"] = (e - s) / rate_hz

    pk = s + int(np.argmax(sig[s:e]))
    peak = float(sig[pk])
    r["peak_force_n"], r["peak_s"] = peak, pk / rate_hz
    r["time_to_peak_s"] = (pk - s) / rate_hz
    if pk > s:
        r["loading_rate_n_per_s"] = peak / r["time_to_peak_s"]
    else:
        notes.append("loading rate unavailable: the peak is the first contact sample")
    width = round(p.loading_rate_window_s * rate_hz)
    slope = _on.max_slope(sig, s, pk, max(width, 1), rate_hz) if width >= 1 else None
    if slope is None:
        notes.append(
            f"peak loading rate unavailable: contact to peak shorter than the "
            f"{p.loading_rate_window_s * 1e3:g} ms window (or rate too low)")
    else:
        r["peak_loading_rate_n_per_s"] = slope[0]

    p1 = float(_on.snap(s + IMPULSE_WINDOW_S * rate_hz))
    if p1 <= n - 1 + 1e-9:
        r["impulse_100ms_n_s"] = float(_on.trapz_between(sig, float(s), np.array([p1]), 1.0 / rate_hz)[0])
        if level is not None:  # net of the (plate's share of) body weight
            r["net_impulse_100ms_n_s"] = r["impulse_100ms_n_s"] - level * IMPULSE_WINDOW_S
    else:
        notes.append("impulse over 100 ms unavailable: the trace ends less than 100 ms after contact")

    if bw_norm is not None:
        r["peak_force_bw"] = peak / bw_norm
    else:
        notes.append("x body weight values unavailable: no body weight")

    if level is None or tol is None:
        notes.append("time to stabilisation unavailable: no body weight")
    else:
        hold = max(1, round(p.tts_hold_s * rate_hz))
        bad = np.abs(sig[pk:e] - level) > tol
        cum = np.concatenate(([0], np.cumsum(bad)))
        ok = np.flatnonzero(cum[hold:] == cum[:-hold]) if bad.size >= hold else np.empty(0, dtype=np.intp)
        if ok.size:
            r["tts_s"] = (pk + int(ok[0]) - s) / rate_hz
        elif e < n:
            notes.append(
                f"time to stabilisation unavailable: the subject left the plate at {e / rate_hz:.3f} s "
                f"before staying within {p.tts_band_pct:g} % of body weight for {p.tts_hold_s:g} s")
        else:
            notes.append(
                f"time to stabilisation unavailable: force did not stay within {p.tts_band_pct:g} % of "
                f"body weight for {p.tts_hold_s:g} s before the trace ends")
    return LandingResult(**r, status=STATUS_OK, flags=tuple(flags), notes=tuple(notes))


def _no_contact(pr: _Prepared, why: str) -> LandingResult:
    return LandingResult(**pr.fields, status=STATUS_NO_CONTACT, n_contacts=0,
                         flags=tuple(pr.flags), notes=tuple(pr.notes + [why]))


def _given_bw(body_weight_n: float | None, notes: list[str]) -> float | None:
    if body_weight_n is None:
        return None
    if math.isfinite(body_weight_n) and body_weight_n > 0:
        return float(body_weight_n)
    notes.append(f"body_weight_n = {body_weight_n!r} ignored: must be a positive number")
    return None


# ------------------------------------------------------------------------------- public
def analyze_landing(
    force_n: np.ndarray,
    rate_hz: float,
    params: LandingParams = LandingParams(),
    *,
    body_weight_n: float | None = None,
) -> LandingResult:
    """Analyse a landing on one plate (vertical force N at ``rate_hz`` Hz).

    ``body_weight_n`` (e.g. from the patient record) overrides the quiet-standing estimate.
    Never raises on an odd trace (no contact, too short, NaN): the status says what happened.
    """
    x = np.asarray(force_n, dtype=np.float64)
    _validate(x, rate_hz)
    pr = _prepare(x, float(rate_hz), params)
    if isinstance(pr, LandingResult):
        return pr
    landings = _landing_runs(pr, params)
    given = _given_bw(body_weight_n, pr.notes)
    if not landings:
        return _no_contact(pr, f"no landing contact found (force never above {pr.fields['contact_threshold_n']:.1f} N "
                               f"for {params.min_contact_s * 1e3:g} ms)")
    run = landings[0] if params.contact == "first" else landings[-1]
    win = _body_weight_window(pr, params, float(rate_hz), landings)
    if win is not None:
        pr.fields.update(body_weight_window_s=(win.start / rate_hz, (win.start + win.length) / rate_hz),
                         body_weight_sd_n=win.sd, plate_load_n=win.mean)
    bw = given if given is not None else (win.mean if win is not None else None)
    source = "given" if given is not None else (f"quiet_{params.body_weight_from}" if win is not None else None)
    pr.fields.update(body_weight_n=bw, body_weight_source=source)
    tol = None if bw is None else params.tts_band_pct / 100.0 * bw
    return _metrics(pr, params, float(rate_hz), run, landings, bw, bw, tol)


def analyze_dual_landing(
    left_n: np.ndarray,
    right_n: np.ndarray,
    rate_hz: float,
    params: LandingParams = LandingParams(),
    *,
    body_weight_n: float | None = None,
) -> DualLandingResult:
    """Analyse a landing on two plates (left and right vertical force, N, same ``rate_hz``).

    The sum of the plates is analysed like one plate (contact, body weight, metrics at top
    level). Each plate is analysed on its own contact that overlaps the analysed contact of the
    sum; its x BW values use the TOTAL body weight, its TTS band is +-tts_band_pct % of total
    body weight around the plate's own quiet-standing load. Asymmetry of peak force and 100 ms
    impulse is (R - L) / max(R, L) * 100.
    """
    left = np.asarray(left_n, dtype=np.float64)
    right = np.asarray(right_n, dtype=np.float64)
    _validate(left, rate_hz)
    _validate(right, rate_hz)
    if left.shape != right.shape:
        raise ValueError(f"left and right traces differ in length ({left.size} vs {right.size})")
    rate_hz = float(rate_hz)
    total = analyze_landing(left + right, rate_hz, params, body_weight_n=body_weight_n)
    sides = []
    for x in (left, right):
        pr = _prepare(x, rate_hz, params)
        if isinstance(pr, LandingResult):
            sides.append(pr)
            continue
        if total.status != STATUS_OK or total.contact_s is None:
            sides.append(_no_contact(pr, "no landing contact on the sum of the plates"))
            continue
        t_s = round(total.contact_s * rate_hz)
        t_e = round(total.contact_end_s * rate_hz) if total.contact_end_s is not None else x.size
        overlap = np.flatnonzero((pr.starts < t_e) & (pr.ends > t_s))
        if overlap.size == 0:
            sides.append(_no_contact(pr, "no contact on this plate during the analysed landing"))
            continue
        run = int(overlap[0])
        landings = _landing_runs(pr, params)
        if run not in landings:
            landings = tuple(sorted(set(landings) | {run}))
        level = None
        if total.body_weight_window_s is not None:
            a, b = (round(t * rate_hz) for t in total.body_weight_window_s)
            level = float(pr.sig[a:b].mean())
            pr.fields["body_weight_window_s"] = total.body_weight_window_s
            pr.fields["body_weight_sd_n"] = float(pr.sig[a:b].std(ddof=1))
        pr.fields.update(body_weight_n=total.body_weight_n, body_weight_source=total.body_weight_source,
                         plate_load_n=level)
        bw = total.body_weight_n
        tol = None if bw is None or level is None else params.tts_band_pct / 100.0 * bw
        sides.append(_metrics(pr, params, rate_hz, run, landings, bw, level, tol))
    l_res, r_res = sides
    return DualLandingResult(
        total, l_res, r_res,
        asymmetry_index(l_res.peak_force_n, r_res.peak_force_n, label="higher"),
        asymmetry_index(l_res.impulse_100ms_n_s, r_res.impulse_100ms_n_s, label="higher"),
    )


__all__ = ["LandingParams", "LandingResult", "DualLandingResult", "analyze_landing", "analyze_dual_landing",
           "IMPULSE_WINDOW_S"]
