"""``--wide``: one row per test with per-side columns (``left_peak_force_n``, …, ``lsi_pct``),
the shape vendor exports use. Per side: best, mean, CV and reps of the peak force, and the
best rep's normalised values, torque, RFD, time to peak and impulse; the highest pain."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from station.export import ExportContext, ExportFormat, register
from station.export.csv_tidy import write_rows
from station.export.source import SessionData

PER_SIDE = ["peak_force_n", "mean_peak_force_n", "cv_pct", "reps", "peak_force_n_per_kg", "peak_torque_nm",
            "peak_torque_nm_per_kg", "rfd_0_100_n_per_s", "rfd_0_200_n_per_s", "time_to_peak_s",
            "impulse_0_200_n_s", "peak_force_bw", "loading_rate_bw_per_s", "time_to_stabilisation_s", "pain_max_0_10"]
HEAD = ["session_id", "patient_id", "date_utc", "protocol", "test", "kind", "status", "involved_side", "body_mass_kg"]
COLUMNS = HEAD + [f"{side}_{c}" for side in ("left", "right") for c in PER_SIDE] + [
    "lsi_pct", "asymmetry_pct", "passed", "algorithm_version"]


def wide_rows(s: SessionData) -> Iterator[dict[str, Any]]:
    for t in s.record.tests:
        out: dict[str, Any] = {
            "session_id": s.record.session.session_id, "patient_id": s.patient_id, "date_utc": s.date_utc,
            "protocol": t.protocol_id, "test": t.test, "kind": t.kind, "status": t.status,
            "involved_side": s.record.session.involved_side, "body_mass_kg": s.record.session.body_mass_kg,
            "lsi_pct": t.lsi_pct, "asymmetry_pct": t.asymmetry_pct, "passed": t.passed,
            "algorithm_version": s.record.session.algorithm_version}
        for side in ("left", "right"):
            sr = next((x for x in s.record.sides if x.test == t.test and x.side == side), None)
            trials = [r for r in s.record.trials if r.test == t.test and r.side == side and r.status == "complete"
                      and r.peak_force_n is not None]
            best = max(trials, key=lambda r: r.peak_force_n or 0.0) if trials else None
            if sr is not None:
                out.update({f"{side}_peak_force_n": sr.best_n, f"{side}_mean_peak_force_n": sr.mean_n,
                            f"{side}_cv_pct": sr.cv_pct, f"{side}_reps": sr.n_reps,
                            f"{side}_pain_max_0_10": sr.pain_max_0_10})
            if best is not None:
                out.setdefault(f"{side}_peak_force_n", best.peak_force_n)
                for c in ("peak_force_n_per_kg", "peak_torque_nm", "peak_torque_nm_per_kg", "rfd_0_100_n_per_s",
                          "rfd_0_200_n_per_s", "time_to_peak_s", "impulse_0_200_n_s", "peak_force_bw",
                          "loading_rate_bw_per_s", "time_to_stabilisation_s"):
                    out[f"{side}_{c}"] = getattr(best, c)
        yield out


def write(sessions: Sequence[SessionData], dest: Path, ctx: ExportContext) -> None:
    write_rows(dest, COLUMNS, (r for s in sessions for r in wide_rows(s)))


register(ExportFormat("wide", "file", "CSV, one row per test with left_/right_ columns and the LSI", write,
                      suffix=".csv"))
