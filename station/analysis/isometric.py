"""Isometric trace analysis: baseline, onset, peak force, RFD, impulse, torque.

Definitions, defaults and sources are in ``docs/metrics.md``. Pure functions, no I/O.
Times are seconds from the first sample of the trace; forces in N.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from station.analysis import onset as _on
from station.analysis.filters import try_lowpass
from station.analysis.results import ALGORITHM_VERSION, jsonable, window_label

#: Result status values. Only "ok" carries onset-dependent metrics.
STATUS_OK = "ok"
STATUS_NO_RISE = "no_rise"
STATUS_TOO_SHORT = "too_short"
STATUS_INVALID = "invalid"


@dataclass(frozen=True)
class IsometricParams:
    """Parameters of :func:`analyze_isometric` (stored with every result). SI units.

    baseline_window_s: length of the quiet baseline window searched for before the rise.
    baseline_search_s: the window is searched within this span before the rise (keeps the
        baseline next to the contraction, e.g. after a pre-tension set-up phase).
    min_baseline_s: shortest acceptable baseline window when the trace has less quiet time.
    onset_k: onset threshold = baseline mean + k * SD (SD floored, see sd_floor_*).
    onset_threshold_n: if set, onset threshold = baseline mean + this many newtons instead.
    onset_s: manual onset (s from the first sample); overrides automatic detection.
    sd_floor_n, sd_floor_fraction: baseline SD used for the threshold is at least
        max(sd_floor_n, sd_floor_fraction * (peak - baseline)) (guards quantised/noise-free data).
    min_rise_n, min_rise_s: a rise must exceed the baseline by at least min_rise_n and stay above
        the onset threshold for at least min_rise_s, otherwise the result status is "no_rise".
    pre_onset_window_s, baseline_shift_k: flag "baseline_shift" when the mean of the window
        before onset differs from the baseline mean by more than baseline_shift_k * SD.
    plateau_sd_k: flag "pretension" when, between onset and the half-way point of the rise, a
        window of pre_onset_window_s is as steady as the baseline (SD <= plateau_sd_k * SD):
        a held force above threshold before the main rise.
    rfd_windows_s: RFD / impulse windows measured from onset.
    peak_rfd_window_s: sliding window for peak RFD.
    min_rfd_rate_hz: below this sample rate RFD and impulse are reported as unavailable.
    filter_hz: optional low-pass cut-off applied to the whole trace (peak force, best 1 s).
    rfd_filter_hz: low-pass cut-off of the signal used for baseline, onset, RFD and impulse
        (only applied when the rate is at least min_rfd_rate_hz; None = unfiltered).
    filter_order: Butterworth design order (run forward and backward: zero lag).
    best_window_s: window for the mean force over the best (highest-mean) window.
    """

    baseline_window_s: float = 0.5
    baseline_search_s: float = 3.0
    min_baseline_s: float = 0.1
    onset_k: float = 3.0
    onset_threshold_n: float | None = None
    onset_s: float | None = None
    sd_floor_n: float = 0.1
    sd_floor_fraction: float = 0.0001
    min_rise_n: float = 5.0
    min_rise_s: float = 0.05
    pre_onset_window_s: float = 0.2
    baseline_shift_k: float = 2.0
    plateau_sd_k: float = 3.0
    rfd_windows_s: tuple[float, ...] = (0.05, 0.10, 0.15, 0.20)
    peak_rfd_window_s: float = 0.02
    min_rfd_rate_hz: float = 500.0
    filter_hz: float | None = None
    rfd_filter_hz: float | None = 50.0
    filter_order: int = 4
    best_window_s: float = 1.0

    @property
    def onset_method(self) -> str:
        """``"manual"``, ``"threshold_n"`` (fixed newtons) or ``"sd"`` (baseline + k * SD)."""
        if self.onset_s is not None:
            return "manual"
        if self.onset_threshold_n is not None:
            return "threshold_n"
        return "sd"


@dataclass(frozen=True)
class IsometricResult:
    """Result of :func:`analyze_isometric`. Forces N, times s (from the first sample), RFD N/s,
    impulse N*s, torque N*m. None where unavailable; ``notes`` says why."""

    rate_hz: float
    n_samples: int
    status: str
    baseline_n: float | None = None
    baseline_sd_n: float | None = None
    baseline_window_s: tuple[float, float] | None = None
    onset_threshold_n: float | None = None
    onset_s: float | None = None
    onset_method: str = "sd"
    pre_onset_shift_n: float | None = None
    peak_force_n: float | None = None
    peak_force_abs_n: float | None = None
    peak_s: float | None = None
    time_to_peak_s: float | None = None
    mean_best_1s_n: float | None = None
    mean_best_1s_abs_n: float | None = None
    rfd_n_per_s: dict[str, float | None] = field(default_factory=dict)
    peak_rfd_n_per_s: float | None = None
    peak_rfd_s: float | None = None
    impulse_n_s: dict[str, float | None] = field(default_factory=dict)
    body_mass_kg: float | None = None
    lever_arm_m: float | None = None
    peak_torque_nm: float | None = None
    peak_force_n_per_kg: float | None = None
    peak_torque_nm_per_kg: float | None = None
    filter_hz: float | None = None
    rfd_filter_hz: float | None = None
    flags: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    parameters: IsometricParams = field(default_factory=IsometricParams)
    algorithm_version: str = ALGORITHM_VERSION

    @property
    def rise_found(self) -> bool:
        return self.status == STATUS_OK

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: SI values, None where unavailable, with parameters and notes."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["parameters"] = dataclasses.asdict(self.parameters)
        out["parameters"]["onset_method"] = self.parameters.onset_method
        return jsonable(out)


def _empty_windows(p: IsometricParams) -> dict[str, float | None]:
    return {window_label(w): None for w in p.rfd_windows_s}


def _baseline(sig: np.ndarray, limit: int, rate_hz: float, p: IsometricParams) -> tuple[_on.Window | None, bool]:
    """Quietest window ending at or before sample ``limit``; (window, shortened?)."""
    width = max(2, round(p.baseline_window_s * rate_hz))
    wmin = max(2, round(p.min_baseline_s * rate_hz))
    if limit < wmin:
        return None, False
    shortened = limit < width
    if shortened:  # half the available time: the quietest half avoids the start of the rise
        width = min(limit, max(wmin, limit // 2))
    span = max(round(p.baseline_search_s * rate_hz), width)
    return _on.quietest_window(sig, width, max(0, limit - span), limit), shortened


def analyze_isometric(
    force_n: np.ndarray,
    rate_hz: float,
    params: IsometricParams = IsometricParams(),
    *,
    body_mass_kg: float | None = None,
    lever_arm_m: float | None = None,
) -> IsometricResult:
    """Analyse one isometric contraction (force in N, sampled at ``rate_hz`` Hz).

    Never raises on a valid-but-odd trace (flat, no rise, too short, NaN): the result then has
    ``status`` != "ok", None for the missing metrics and a note. Raises ValueError only for
    misuse (not 1-D, non-positive rate).
    """
    p = params
    x = np.asarray(force_n, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"force_n must be 1-D, got shape {x.shape}")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")
    rate_hz = float(rate_hz)
    n = x.size
    notes: list[str] = []
    flags: list[str] = []
    r: dict[str, Any] = {
        "rate_hz": rate_hz, "n_samples": n, "status": STATUS_OK, "parameters": p,
        "onset_method": p.onset_method,
        "rfd_n_per_s": _empty_windows(p), "impulse_n_s": _empty_windows(p),
    }

    def done(status: str | None = None) -> IsometricResult:
        if status is not None:
            r["status"] = status
        return IsometricResult(**r, flags=tuple(flags), notes=tuple(notes))

    # -- subject data ---------------------------------------------------------------------
    for name, value in (("body_mass_kg", body_mass_kg), ("lever_arm_m", lever_arm_m)):
        if value is None:
            continue
        if math.isfinite(value) and value > 0:
            r[name] = float(value)
        else:
            notes.append(f"{name} = {value!r} ignored: must be a positive number")

    if n < 2:
        notes.append(f"trace too short: {n} sample(s)")
        return done(STATUS_TOO_SHORT)
    if not np.isfinite(x).all():
        notes.append(f"trace contains {int((~np.isfinite(x)).sum())} non-finite sample(s)")
        return done(STATUS_INVALID)

    # -- signals --------------------------------------------------------------------------
    peak_sig, r["filter_hz"] = try_lowpass(x, rate_hz, p.filter_hz, p.filter_order, "peak-force", notes)
    rfd_rate_ok = rate_hz >= p.min_rfd_rate_hz
    if rfd_rate_ok and p.rfd_filter_hz is not None:
        sig, r["rfd_filter_hz"] = try_lowpass(x, rate_hz, p.rfd_filter_hz, p.filter_order, "RFD", notes)
        if r["rfd_filter_hz"] is None:
            sig, r["rfd_filter_hz"] = peak_sig, r["filter_hz"]
    else:
        sig = peak_sig
        r["rfd_filter_hz"] = r["filter_hz"]

    # -- rough rise and baseline ----------------------------------------------------------
    p_on = int(np.argmax(sig))
    lo = float(sig[: p_on + 1].min())
    half = lo + 0.5 * (float(sig[p_on]) - lo)
    r50 = _on.last_crossing(sig, half, p_on) if p_on > 0 else None
    limit = r50 if r50 is not None else 0
    manual_pos: float | None = None
    if p.onset_s is not None:
        manual_pos = float(p.onset_s) * rate_hz
        if not (math.isfinite(manual_pos) and 0 <= manual_pos <= n - 1):
            notes.append(f"manual onset {p.onset_s!r} s lies outside the trace (0 to {(n - 1) / rate_hz:.3f} s)")
            return done(STATUS_INVALID)
        limit = math.ceil(manual_pos - 1e-9)

    if manual_pos is None and float(sig[p_on]) - lo < p.min_rise_n:
        # Flat or falling: nothing rises above the level that precedes the peak.
        base, _ = _baseline(sig, n, rate_hz, p)
        if base is not None:
            r["baseline_n"], r["baseline_sd_n"] = base.mean, base.sd
            r["baseline_window_s"] = (base.start / rate_hz, (base.start + base.length) / rate_hz)
        r["peak_force_abs_n"] = float(peak_sig.max())
        notes.append(
            f"no rise found: the force never rises more than {p.min_rise_n:g} N above the level before its peak")
        return done(STATUS_NO_RISE)
    base, shortened = _baseline(sig, limit, rate_hz, p)
    if base is None:
        notes.append(
            f"trace too short: needs at least {p.min_baseline_s:g} s of quiet baseline before the rise "
            f"(has {limit / rate_hz:.3f} s)")
        r["peak_force_abs_n"] = float(peak_sig.max())
        return done(STATUS_TOO_SHORT)

    onset_idx: int | None = None
    for attempt in range(3):  # re-search the baseline if it overlaps the detected onset
        amp = float(sig[p_on]) - base.mean
        sd_eff = max(base.sd, p.sd_floor_n, p.sd_floor_fraction * max(amp, 0.0))
        margin = p.onset_threshold_n if p.onset_threshold_n is not None else p.onset_k * sd_eff
        threshold = base.mean + margin
        if manual_pos is not None:
            break
        onset_idx = _on.last_crossing(sig, threshold, p_on)
        if onset_idx is None or onset_idx >= base.start + base.length or attempt == 2:
            break
        new_base, new_short = _baseline(sig, onset_idx, rate_hz, p)
        if new_base is None:
            break
        base, shortened = new_base, new_short

    r["baseline_n"] = base.mean
    r["baseline_sd_n"] = base.sd
    r["baseline_window_s"] = (base.start / rate_hz, (base.start + base.length) / rate_hz)
    r["onset_threshold_n"] = threshold
    r["peak_force_abs_n"] = float(peak_sig.max())
    if shortened:
        flags.append("baseline_window_shortened")
        notes.append(f"baseline window shortened to {base.length / rate_hz:.3f} s (less quiet time before the rise)")
    if sd_eff > base.sd and p.onset_threshold_n is None:
        # informational, not a quality problem: a filtered or quantised baseline is very quiet
        notes.append(f"baseline SD {base.sd:.3g} N below the floor; threshold uses SD = {sd_eff:.3g} N")

    # -- is there a rise? -------------------------------------------------------------------
    if not (amp > margin and amp >= p.min_rise_n):
        notes.append(
            f"no rise found: peak exceeds baseline by {amp:.3g} N, needs more than the onset margin "
            f"{margin:.3g} N and at least {p.min_rise_n:g} N")
        return done(STATUS_NO_RISE)
    if manual_pos is None:
        if onset_idx is None:
            notes.append("no rise found: no sample at or below the onset threshold before the peak")
            return done(STATUS_TOO_SHORT)
        end = _on.run_end(sig, threshold, onset_idx)
        if (end - onset_idx) / rate_hz < p.min_rise_s:
            notes.append(
                f"no rise found: force stays above the onset threshold for only {(end - onset_idx) / rate_hz * 1e3:.0f} ms "
                f"(minimum {p.min_rise_s * 1e3:.0f} ms)")
            return done(STATUS_NO_RISE)
        onset_pos = float(onset_idx)
        rise_end = end
    else:
        onset_pos = manual_pos
        onset_idx = min(math.ceil(manual_pos - 1e-9), n - 1)
        rise_end = _on.run_end(sig, threshold, onset_idx) if sig[onset_idx] > threshold else n
        rise_end = max(rise_end, onset_idx + 1)
        notes.append(f"manual onset at {p.onset_s:g} s")
    r["onset_s"] = onset_pos / rate_hz

    # -- pre-onset baseline shift (pre-tension / countermovement) ---------------------------
    pre_w = max(1, round(p.pre_onset_window_s * rate_hz))
    pre_lo = max(0, onset_idx - pre_w)
    if onset_idx - pre_lo >= 1:
        shift = float(sig[pre_lo:onset_idx].mean()) - base.mean
        r["pre_onset_shift_n"] = shift
        if abs(shift) > p.baseline_shift_k * sd_eff:
            flags.append("baseline_shift")
            kind = "pre-tension" if shift > 0 else "countermovement"
            notes.append(
                f"baseline shifts by {shift:+.3g} N in the {(onset_idx - pre_lo) / rate_hz * 1e3:.0f} ms before onset "
                f"(possible {kind}); consider repeating the trial")

    # -- pre-tension plateau: a steady level above the threshold before the main rise ---------
    if manual_pos is None and r50 is not None and r50 - onset_idx >= pre_w:
        plateau = _on.quietest_window(sig, pre_w, onset_idx, r50)
        if plateau is not None and plateau.sd <= p.plateau_sd_k * sd_eff:
            flags.append("pretension")
            notes.append(
                f"steady force {plateau.mean - base.mean:+.3g} N above baseline at "
                f"{plateau.start / rate_hz:.3f} s, before the main rise (pre-tension): onset and RFD "
                f"describe the whole rise; consider repeating the trial")

    # -- peak force, time to peak, best window ----------------------------------------------
    seg_hi = max(rise_end, onset_idx + 1)
    p_pk = onset_idx + int(np.argmax(peak_sig[onset_idx:seg_hi]))
    peak_abs = float(peak_sig[p_pk])
    r["peak_force_abs_n"] = peak_abs
    r["peak_force_n"] = peak_abs - base.mean
    r["peak_s"] = p_pk / rate_hz
    ttp = p_pk / rate_hz - r["onset_s"]
    if ttp >= 0:
        r["time_to_peak_s"] = ttp
    else:
        notes.append("time to peak unavailable: the peak precedes the onset")
    if p_pk == n - 1:
        flags.append("peak_at_trace_end")
        notes.append("peak is the last sample: the trace may have been cut before the true peak")

    best = _on.best_mean_window(peak_sig, round(p.best_window_s * rate_hz))
    if best is None:
        notes.append(f"mean over best {p.best_window_s:g} s unavailable: trace shorter than the window")
    else:
        r["mean_best_1s_abs_n"] = best[1]
        r["mean_best_1s_n"] = best[1] - base.mean

    # -- RFD and impulse -------------------------------------------------------------------
    if not rfd_rate_ok:
        notes.append(
            f"RFD and impulse unavailable: sample rate {rate_hz:g} Hz is below {p.min_rfd_rate_hz:g} Hz, "
            f"too coarse to resolve the early (0-50 ms) phase")
    else:
        windows = np.asarray(p.rfd_windows_s, dtype=np.float64)
        ends = _on.snap(onset_pos + windows * rate_hz)
        ok = ends <= n - 1 + 1e-9
        if ok.any():
            f0 = float(_on.interp_at(sig, onset_pos))
            f1 = _on.interp_at(sig, ends[ok])
            rfd = (f1 - f0) / windows[ok]
            imp = _on.trapz_between(sig - base.mean, onset_pos, ends[ok], 1.0 / rate_hz)
            for w, v_rfd, v_imp in zip(windows[ok], rfd, imp, strict=False):
                r["rfd_n_per_s"][window_label(w)] = float(v_rfd)
                r["impulse_n_s"][window_label(w)] = float(v_imp)
        for w in windows[~ok]:
            notes.append(
                f"RFD and impulse {window_label(w)} ms unavailable: trace ends "
                f"{(n - 1 - onset_pos) / rate_hz * 1e3:.0f} ms after onset")
        width = max(1, round(p.peak_rfd_window_s * rate_hz))
        p_sig_pk = onset_idx + int(np.argmax(sig[onset_idx:seg_hi]))
        slope = _on.max_slope(sig, onset_idx, p_sig_pk, width, rate_hz)
        if slope is None:
            notes.append(f"peak RFD unavailable: onset to peak is shorter than the {p.peak_rfd_window_s * 1e3:g} ms window")
        else:
            r["peak_rfd_n_per_s"] = slope[0]
            r["peak_rfd_s"] = (slope[1] + 0.5 * width) / rate_hz

    # -- torque and normalisation ------------------------------------------------------------
    peak = r["peak_force_n"]
    if r.get("lever_arm_m") is not None:
        r["peak_torque_nm"] = peak * r["lever_arm_m"]
    if r.get("body_mass_kg") is not None:
        r["peak_force_n_per_kg"] = peak / r["body_mass_kg"]
        if r.get("peak_torque_nm") is not None:
            r["peak_torque_nm_per_kg"] = r["peak_torque_nm"] / r["body_mass_kg"]
    return done()


__all__ = ["IsometricParams", "IsometricResult", "analyze_isometric"]
