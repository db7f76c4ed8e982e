"""``--csv``: a tidy table, one row per trial (and side measured), ISO 8601 UTC dates.

Empty cells are missing values; every measurement column is numeric, so ``pandas.read_csv``
gives float64/int64 columns without options. A bilateral landing trial is one row (side
"both": the plates summed, with the asymmetry); a simultaneous two-sided isometric trial gives
one row per side. Columns: :data:`COLUMNS`.
"""
from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from station.export import ExportContext, ExportFormat, register
from station.export.source import SessionData

IDENTITY = ["session_id", "patient_id", "date_utc", "protocol", "test", "side", "rep", "attempt", "status",
            "trial", "trial_started_utc", "body_mass_kg"]
STRENGTH = ["peak_force_n", "peak_force_n_per_kg", "peak_torque_nm", "peak_torque_nm_per_kg",
            "rfd_0_50_n_per_s", "rfd_0_100_n_per_s", "rfd_0_200_n_per_s", "time_to_peak_s", "impulse_0_200_n_s"]
SYMMETRY = ["lsi_pct", "pain_0_10", "algorithm_version"]
LANDING = ["peak_force_bw", "loading_rate_bw_per_s", "time_to_stabilisation_s", "asymmetry_pct"]
COLUMNS = IDENTITY + STRENGTH + SYMMETRY + LANDING


def cell(v: Any) -> Any:
    """CSV cell: None → empty, floats with full precision (repr), bools as 0/1."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return repr(v)
    return v


def tidy_rows(s: SessionData) -> Iterator[dict[str, Any]]:
    tests = {t.test: t for t in s.record.tests}
    for row in s.record.trials:
        t = tests.get(row.test)
        if row.side != "both" and any(
                r.side == "both" and r.test == row.test and r.trial == row.trial for r in s.record.trials):
            continue  # the per-plate parts of a summed "both" row (a two-plate landing; see
            # TestKind.index_rows): --wide and --json carry them
        a = s.trials.get((row.test, row.trial), {})
        out = {
            "session_id": s.record.session.session_id, "patient_id": s.patient_id, "date_utc": s.date_utc,
            "protocol": t.protocol_id if t else "", "test": row.test, "side": row.side, "rep": row.rep,
            "attempt": row.attempt, "status": row.status, "trial": row.trial,
            "trial_started_utc": a.get("started_utc"), "body_mass_kg": s.record.session.body_mass_kg,
            "lsi_pct": t.lsi_pct if t else None,
        }
        for c in STRENGTH + ["pain_0_10", "algorithm_version"] + LANDING:
            out[c] = getattr(row, c)
        yield out


def write_rows(path: Path, columns: list[str], rows: Iterator[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow([cell(r.get(c)) for c in columns])


def write(sessions: Sequence[SessionData], dest: Path, ctx: ExportContext) -> None:
    write_rows(dest, COLUMNS, (r for s in sessions for r in tidy_rows(s)))


register(ExportFormat("csv", "file", "tidy CSV, one row per trial (and side measured)", write, suffix=".csv"))
