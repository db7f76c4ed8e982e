"""The isometric test kind: a push against a dynamometer, one side per trial or both at once
(a fixed frame), compared by the limb symmetry index (LSI, involved / uninvolved)."""
from __future__ import annotations

from typing import Any

import numpy as np

from station.analysis.isometric import STATUS_OK, IsometricParams, analyze_isometric
from station.analysis.results import window_label
from station.analysis.symmetry import asymmetry_index, limb_symmetry_index
from station.session.kinds import (
    RelativeToFirst,
    ReportRow,
    Row,
    Subject,
    TestKind,
    TrialAnalysis,
    cell,
    fmt,
    num,
    shown,
    table,
    window_rows,
)

#: the RFD window the terminal prints after a trial (s from onset), when the protocol measures it
HEADLINE_RFD_WINDOW_S = 0.2


class Isometric(TestKind):
    name = "isometric"
    title = "Isometric"
    params_type = IsometricParams
    symmetry_word = "LSI"
    live_word = "Push!"
    pass_mark = True
    curve_after_onset_s = 4.0
    curve_axis_label = "time from onset (s)"
    report_rows = (
        ReportRow("Best peak force (N)", "side", "best_n"),
        ReportRow("Mean of reps (N)", "side", "mean_n"),
        ReportRow("CV between reps (%)", "side", "cv_pct"),
        ReportRow("Valid reps", "reps"),
        ReportRow("Best (N/kg)", "side", "best_n_per_kg", ".2f"),
        ReportRow("Peak torque (N·m/kg)", "side", "best_torque_nm_per_kg", ".2f"),
        ReportRow("Time to peak (s)", "best", "time_to_peak_s", ".2f"),
        ReportRow("RFD 0–200 ms (N/s)", "best", "rfd_0_200_n_per_s", ".0f"),
        ReportRow("Pain, highest (0–10)", "pain"),
    )
    report_note = "Time to peak and RFD are those of the best rep."
    mdc_verdicts = True

    def analyse(self, forces: dict[str, np.ndarray], rates: dict[str, float], params: Any,
                subject: Subject) -> TrialAnalysis:
        per_side: dict[str, dict[str, Any]] = {}
        flags: list[str] = []
        for s, f in forces.items():
            r = analyze_isometric(f, rates[s], params, body_mass_kg=subject.body_mass_kg,
                                  lever_arm_m=subject.lever_arm_m)
            per_side[s] = r.to_dict()
            flags.extend(f"{s}: {flag}" if len(forces) > 1 else flag for flag in r.flags)
            if not r.rise_found:
                what = r.status.replace("_", " ")
                flags.append(f"{s}: {what}" if len(forces) > 1 else what)
        if len(per_side) == 1:
            (only,) = per_side.values()
            return TrialAnalysis(only, only.get("peak_force_n"), flags)
        # both sides in one effort: each side's peak, labelled; no single unlabelled "peak"
        return TrialAnalysis({"per_side": per_side}, None, flags)

    def symmetry(self, left_best_n: float, right_best_n: float, involved: str, pass_pct: float,
                 relative_to_first: RelativeToFirst) -> dict[str, Any]:
        if involved not in ("left", "right"):
            return asymmetry_index(left_best_n, right_best_n).to_dict()
        inv, uninv = (left_best_n, right_best_n) if involved == "left" else (right_best_n, left_best_n)
        out = limb_symmetry_index(inv, uninv, pass_pct).to_dict()
        out["relative_to_first_session"] = relative_to_first(inv)
        return out

    def index_rows(self, results: dict[str, Any], side: str, body_mass_kg: float | None,
                   peak_force_n: float | None) -> list[tuple[str, dict[str, Any]]]:
        per_side = results.get("per_side")
        if isinstance(per_side, dict):  # both sides in one effort (a fixed frame): one row per side
            rows = [(s, _index_fields(per_side[s])) for s in ("left", "right") if isinstance(per_side.get(s), dict)]
            return rows or [(side, {})]
        fields = _index_fields(results)
        if fields["peak_force_n"] is None:
            fields["peak_force_n"] = peak_force_n
        return [(side, fields)]

    def trial_parts(self, results: dict[str, Any], metrics: tuple[str, ...] | None) -> list[str]:
        parts = []
        if "time_to_peak_s" in results and shown("time_to_peak", metrics):
            v = results.get("time_to_peak_s")
            parts.append(f"time to peak {'—' if v is None else f'{v:.2f} s'}")
        rfd = results.get("rfd_n_per_s") or {}
        if rfd and shown("rfd", metrics):
            key = window_label(HEADLINE_RFD_WINDOW_S)
            if key not in rfd:  # the protocol's own windows: the longest up to 200 ms, else the first
                by_ms = sorted(rfd, key=lambda k: int(k.split("-")[1]))
                early = [k for k in by_ms if int(k.split("-")[1]) <= HEADLINE_RFD_WINDOW_S * 1e3]
                key = early[-1] if early else by_ms[0]
            if rfd.get(key) is not None:
                parts.append(f"RFD {key.replace('-', '–')} ms {rfd[key]:.0f} N/s")
        return parts

    def metric_rows(self, metric: str, columns: dict[str, dict[str, Any]],
                    metrics: tuple[str, ...] | None, params: Any) -> list[Row]:
        def row(label: str, key: str, spec: str, unit: str) -> list[Row]:
            return [(label, [cell(r.get(key), spec, unit) for r in columns.values()])]

        windows = tuple(window_label(w) for w in params.rfd_windows_s)
        if metric == "peak_force":
            return row("Peak force", "peak_force_n", ".1f", "N")
        if metric == "time_to_peak":
            return row("Time to peak", "time_to_peak_s", ".2f", "s")
        if metric == "rfd":
            return window_rows("RFD", "rfd_n_per_s", columns, ".0f", "N/s", windows)
        if metric == "peak_rfd":
            return row("Peak RFD", "peak_rfd_n_per_s", ".0f", "N/s")
        if metric == "impulse":
            return window_rows("Impulse", "impulse_n_s", columns, ".1f", "N·s", windows)
        if metric == "mean_best_1s":
            return row("Mean of best 1 s", "mean_best_1s_n", ".1f", "N")
        if metric == "torque":
            return row("Peak torque", "peak_torque_nm", ".1f", "N·m")
        if metric == "normalised":
            rows = row("Peak force / body mass", "peak_force_n_per_kg", ".2f", "N/kg")
            if shown("torque", metrics):
                rows += row("Peak torque / body mass", "peak_torque_nm_per_kg", ".2f", "N·m/kg")
            return rows
        return []  # lsi: the test's, not a trial's

    def summary_columns(self, metrics: tuple[str, ...] | None) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        for m in self.shown_metrics(metrics):
            if m == "torque":
                out.append(("best (N·m)", "torque_nm", ".1f"))
            elif m == "normalised":
                out.append(("best (N/kg)", "force_n_per_kg", ".2f"))
                if shown("torque", metrics):
                    out.append(("best (N·m/kg)", "torque_nm_per_kg", ".2f"))
        return out

    def analyse_trace(self, columns: dict[str, np.ndarray], rate_hz: float, params: Any,
                      subject: Subject) -> tuple[Any, str, tuple[str, ...]]:
        (force,) = columns.values()
        r = analyze_isometric(force, rate_hz, params, body_mass_kg=subject.body_mass_kg,
                              lever_arm_m=subject.lever_arm_m)
        return r, r.status, r.notes

    def report_text(self, d: dict[str, Any]) -> str:
        p = d["parameters"]
        if p["onset_method"] == "manual":
            method = "manual"
        elif p["onset_method"] == "threshold_n":
            method = f"baseline + {p['onset_threshold_n']:g} N"
        else:
            method = f"baseline + {p['onset_k']:g} SD"
        bw = d["baseline_window_s"]
        rows = [
            ("sample rate", fmt(d["rate_hz"], "Hz", 0)),
            ("baseline", f"{fmt(d['baseline_n'], 'N')}  (SD {fmt(d['baseline_sd_n'], 'N', 2)}, "
                         f"window {bw[0]:.3f}-{bw[1]:.3f} s)"),
            ("onset", f"{fmt(d['onset_s'], 's', 3)}  ({method})"),
            ("peak force", f"{fmt(d['peak_force_n'], 'N')}  (absolute {fmt(d['peak_force_abs_n'], 'N')}, "
                           f"at {fmt(d['peak_s'], 's', 3)})"),
            ("time to peak", fmt(d["time_to_peak_s"], "s", 3)),
            ("mean of best 1 s", fmt(d["mean_best_1s_n"], "N")),
        ]
        for key, v in d["rfd_n_per_s"].items():
            rows.append((f"RFD {key} ms", fmt(v, "N/s", 0)))
        rows.append((f"peak RFD ({p['peak_rfd_window_s'] * 1e3:g} ms)", fmt(d["peak_rfd_n_per_s"], "N/s", 0)))
        for key, v in d["impulse_n_s"].items():
            rows.append((f"impulse {key} ms", fmt(v, "N·s", 2)))
        if d["peak_torque_nm"] is not None:
            rows.append(("peak torque", fmt(d["peak_torque_nm"], "N·m")))
        if d["peak_force_n_per_kg"] is not None:
            rows.append(("peak force / mass", fmt(d["peak_force_n_per_kg"], "N/kg", 2)))
        if d["peak_torque_nm_per_kg"] is not None:
            rows.append(("peak torque / mass", fmt(d["peak_torque_nm_per_kg"], "N·m/kg", 2)))
        filt = f"RFD signal low-pass {d['rfd_filter_hz']:g} Hz" if d["rfd_filter_hz"] else "RFD signal unfiltered"
        rows.append(("filter", filt + (f", peak signal {d['filter_hz']:g} Hz" if d["filter_hz"] else "")))
        src = d["source"]
        return table(f"{self.title} analysis of {src['file']} (column {src['column']})", rows, d)


def _window(d: Any, key: str) -> float | None:
    return num(d.get(key)) if isinstance(d, dict) else None


def _index_fields(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "peak_force_n": num(r.get("peak_force_n")),
        "peak_force_n_per_kg": num(r.get("peak_force_n_per_kg")),
        "peak_torque_nm": num(r.get("peak_torque_nm")),
        "peak_torque_nm_per_kg": num(r.get("peak_torque_nm_per_kg")),
        "time_to_peak_s": num(r.get("time_to_peak_s")),
        "rfd_0_50_n_per_s": _window(r.get("rfd_n_per_s"), "0-50"),
        "rfd_0_100_n_per_s": _window(r.get("rfd_n_per_s"), "0-100"),
        "rfd_0_200_n_per_s": _window(r.get("rfd_n_per_s"), "0-200"),
        "impulse_0_200_n_s": _window(r.get("impulse_n_s"), "0-200"),
    }


__all__ = ["STATUS_OK", "Isometric"]
