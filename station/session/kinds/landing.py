"""The landing test kind: a drop or single-leg landing on one or two force plates, compared by
the signed asymmetry (a higher landing load is not better: no pass mark)."""
from __future__ import annotations

from typing import Any

import numpy as np

from station.analysis import landing
from station.analysis.landing import LandingParams
from station.analysis.symmetry import asymmetry_index
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
)

STANDARD_GRAVITY = 9.80665  # m/s²


class Landing(TestKind):
    name = "landing"
    title = "Landing"
    params_type = LandingParams
    symmetry_word = "asymmetry"
    plate_force = True
    paired_columns = True
    symmetry_metrics = ("asymmetry", "lsi")
    curve_after_onset_s = 1.5
    curve_axis_label = "time from ground contact (s)"
    report_rows = (
        ReportRow("Highest peak force (N)", "side", "best_n"),
        ReportRow("Mean of trials (N)", "side", "mean_n"),
        ReportRow("CV between trials (%)", "side", "cv_pct"),
        ReportRow("Valid trials", "reps"),
        ReportRow("Peak force (body weights)", "best", "peak_force_bw", ".2f"),
        ReportRow("Loading rate (BW/s)", "best", "loading_rate_bw_per_s", ".0f"),
        ReportRow("Time to peak (s)", "best", "time_to_peak_s", ".3f"),
        ReportRow("Time to stabilisation (s)", "best", "time_to_stabilisation_s", ".2f"),
        ReportRow("Pain, highest (0–10)", "pain"),
    )
    report_note = "Per-plate values are those of the trial with the highest peak."
    symmetry_note = "no pass mark: a higher landing load is not better"
    mdc_verdicts = False
    no_mdc_note = "no MDC verdicts for landings (a higher landing load is not an improvement)"

    def analyse(self, forces: dict[str, np.ndarray], rates: dict[str, float], params: Any,
                subject: Subject) -> TrialAnalysis:
        bw = subject.body_weight_n
        if len(forces) == 2:
            r: Any = landing.analyze_dual_landing(forces["left"], forces["right"], rates["left"], params,
                                                  body_weight_n=bw)
        else:
            (s, f), = forces.items()
            r = landing.analyze_landing(f, rates[s], params, body_weight_n=bw)
        results = r.to_dict()
        # one definition: the peak of the summed vertical force (each plate's own peak is in
        # results["left"/"right"] and shown labelled as a per-plate peak)
        return TrialAnalysis(results, results.get("peak_force_n"), list(getattr(r, "flags", ())))

    def symmetry(self, left_best_n: float, right_best_n: float, involved: str, pass_pct: float,
                 relative_to_first: RelativeToFirst) -> dict[str, Any]:
        # a higher landing load is not better: the signed asymmetry and its direction, and the
        # involved/uninvolved ratio without a pass verdict
        out = asymmetry_index(left_best_n, right_best_n, label="higher").to_dict()
        if involved in ("left", "right"):
            inv, uninv = (left_best_n, right_best_n) if involved == "left" else (right_best_n, left_best_n)
            out["involved_ratio_pct"] = 100.0 * inv / uninv
        return out

    def index_rows(self, results: dict[str, Any], side: str, body_mass_kg: float | None,
                   peak_force_n: float | None) -> list[tuple[str, dict[str, Any]]]:
        if side == "both" or isinstance(results.get("left"), dict):
            # two plates: the summed force with the plates' asymmetry, then each plate
            asym = results.get("asymmetry_pct")
            total = {**_index_fields(results, body_mass_kg),
                     "asymmetry_pct": num(asym.get("peak_force")) if isinstance(asym, dict) else None}
            rows = [("both", total)]
            rows += [(s, _index_fields(results[s], body_mass_kg)) for s in ("left", "right")
                     if isinstance(results.get(s), dict)]
            return rows
        return [(side, _index_fields(results, body_mass_kg))]

    def trial_parts(self, results: dict[str, Any], metrics: tuple[str, ...] | None) -> list[str]:
        parts = []
        if "time_to_peak_s" in results and shown("time_to_peak", metrics):
            v = results.get("time_to_peak_s")
            parts.append(f"time to peak {'—' if v is None else f'{v:.2f} s'}")
        if results.get("loading_rate_n_per_s") is not None and metrics is not None and "loading_rate" in metrics:
            parts.append(f"loading rate {results['loading_rate_n_per_s']:.0f} N/s")
        if results.get("tts_s") is not None and metrics is not None and "tts" in metrics:
            parts.append(f"TTS {results['tts_s']:.2f} s")
        return parts

    def result_columns(self, results: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Two plates: each plate's own results, then their sum ("both", the trial's headline)."""
        if isinstance(results.get("left"), dict) and isinstance(results.get("right"), dict):
            plates = {"left": results["left"], "right": results["right"]}
            return {**plates, "both": results} if "peak_force_n" in results else plates
        return {"value": results}

    def metric_rows(self, metric: str, columns: dict[str, dict[str, Any]],
                    metrics: tuple[str, ...] | None, params: Any) -> list[Row]:
        def row(label: str, key: str, spec: str, unit: str) -> list[Row]:
            return [(label, [cell(r.get(key), spec, unit) for r in columns.values()])]

        if metric == "peak_force":
            return row("Peak force", "peak_force_n", ".0f", "N") + row("Peak force (× BW)", "peak_force_bw", ".2f", "")
        if metric == "time_to_peak":
            return row("Time to peak", "time_to_peak_s", ".3f", "s")
        if metric == "loading_rate":
            return row("Loading rate", "loading_rate_n_per_s", ".0f", "N/s")
        if metric == "impulse_100ms":
            return row("Impulse 0–100 ms", "impulse_100ms_n_s", ".1f", "N·s")
        if metric == "tts":
            return row("Time to stabilisation", "tts_s", ".2f", "s")
        if metric == "asymmetry" and "both" in columns:  # left vs right plate within this trial
            total = columns["both"]
            value = (total.get("asymmetry_pct") or {}).get("peak_force")
            direction = (total.get("asymmetry_direction") or {}).get("peak_force")
            text = cell(value, "+.1f", "%") + (f" ({direction})" if value is not None and direction else "")
            return [("Asymmetry (peak force)", ["" if c != "both" else text for c in columns])]
        return []  # lsi: the test's, not a trial's

    def summary_columns(self, metrics: tuple[str, ...] | None) -> list[tuple[str, str, str]]:
        return [("best (× BW)", "force_bw", ".2f")] if "peak_force" in self.shown_metrics(metrics) else []

    def analyse_trace(self, columns: dict[str, np.ndarray], rate_hz: float, params: Any,
                      subject: Subject) -> tuple[Any, str, tuple[str, ...]]:
        if set(columns) == {"left", "right"}:
            dual = landing.analyze_dual_landing(columns["left"], columns["right"], rate_hz, params,
                                                body_weight_n=subject.body_weight_n)
            return dual, dual.total.status, dual.total.notes
        (force,) = columns.values()
        r = landing.analyze_landing(force, rate_hz, params, body_weight_n=subject.body_weight_n)
        return r, r.status, r.notes

    def report_text(self, d: dict[str, Any]) -> str:
        rows = [("sample rate", fmt(d["rate_hz"], "Hz", 0))] + _rows(d)
        if d.get("flight_time_s") is not None:
            rows.append(("flight time", fmt(d["flight_time_s"], "s", 3)))
        src = d["source"]
        if "left" in d:
            for side in ("left", "right"):
                rows += [(f"{side}: {label}", value) for label, value in _rows(d[side])[2:]]
            for key, label in (("peak_force", "peak force"), ("impulse_100ms", "impulse 0-100 ms")):
                v = d["asymmetry_pct"][key]
                rows.append((f"asymmetry {label}", f"{fmt(v, '%')}  ({d['asymmetry_direction'][key] or 'n/a'})"))
            title = f"{self.title} analysis of {src['file']} (left {src['left']}, right {src['right']})"
        else:
            title = f"{self.title} analysis of {src['file']} (column {src['column']})"
        return table(title, rows, d)


def _index_fields(r: dict[str, Any], body_mass_kg: float | None) -> dict[str, Any]:
    bw = num(r.get("body_weight_n"))
    if bw is None and body_mass_kg:
        bw = body_mass_kg * STANDARD_GRAVITY
    rate = num(r.get("loading_rate_n_per_s"))
    peak = num(r.get("peak_force_n"))
    return {
        "peak_force_n": peak,
        "peak_force_n_per_kg": peak / body_mass_kg if peak is not None and body_mass_kg else None,
        "time_to_peak_s": num(r.get("time_to_peak_s")),
        "peak_force_bw": num(r.get("peak_force_bw")) if num(r.get("peak_force_bw")) is not None
        else (peak / bw if peak is not None and bw else None),
        "loading_rate_bw_per_s": rate / bw if rate is not None and bw else None,
        "time_to_stabilisation_s": num(r.get("tts_s")),
    }


def _rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("contact", f"{fmt(d['contact_s'], 's', 3)}  ({d['analysed_contact']} of {d['n_contacts']} contact(s))"),
        ("body weight", f"{fmt(d['body_weight_n'], 'N')}  ({d['body_weight_source'] or 'n/a'})"),
        ("peak force", f"{fmt(d['peak_force_n'], 'N')}  ({fmt(d['peak_force_bw'], 'x BW', 2)})"),
        ("time to peak", fmt(d["time_to_peak_s"], "s", 3)),
        ("loading rate", fmt(d["loading_rate_n_per_s"], "N/s", 0)),
        ("peak loading rate", fmt(d["peak_loading_rate_n_per_s"], "N/s", 0)),
        ("impulse 0-100 ms", fmt(d["impulse_100ms_n_s"], "N·s", 2)),
        ("time to stabilisation", fmt(d["tts_s"], "s", 3)),
    ]


__all__ = ["Landing"]
