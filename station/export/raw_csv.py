"""``--raw-csv DIR``: each trial's force-time samples, one CSV per trial and device.

File ``<test>_<trial>_<device>.csv``; columns ``time_s`` (from the trial's first sample),
``t_host_s`` (the station's monotonic clock), ``t_device_s`` when the device has a clock,
``force_n_ch<i>`` and ``raw_ch<i>`` per channel, and ``<side>_force_n`` (the side's channels
summed) for each side the trial measured on this device. A ``trials.csv`` index lists them.
"""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from station.export import ExportContext, ExportFormat, register
from station.export.source import SessionData


def write(sessions: Sequence[SessionData], dest: Path, ctx: ExportContext) -> None:
    index_rows = []
    for s in sessions:
        prefix = f"{s.date_utc[:10]}_" if len(sessions) > 1 else ""
        for (test, trial), traces in s.traces.items():
            a = s.trials.get((test, trial), {})
            for tr in traces:
                name = f"{prefix}{test}_{trial}_{tr.device}.csv"
                n, ch = tr.force_n.shape if tr.force_n.ndim == 2 else (tr.force_n.shape[0], 1)
                cols = ["time_s", "t_host_s"] + (["t_device_s"] if tr.t_device_s is not None else [])
                cols += [f"force_n_ch{i}" for i in range(ch)] + [f"raw_ch{i}" for i in range(ch)]
                cols += [f"{side}_force_n" for side in tr.sides]
                parts = [tr.t_host_s - (tr.t_host_s[0] if n else 0.0), tr.t_host_s]
                if tr.t_device_s is not None:
                    parts.append(tr.t_device_s)
                parts += [tr.force_n.reshape(n, ch)[:, i] for i in range(ch)]
                parts += [tr.raw.reshape(n, ch)[:, i] for i in range(ch)]
                parts += [tr.side_force(side) for side in tr.sides]
                table = np.column_stack(parts) if n else np.empty((0, len(cols)))
                with (dest / name).open("w", newline="", encoding="utf-8") as fh:
                    fh.write(",".join(cols) + "\n")
                    np.savetxt(fh, table, delimiter=",", fmt="%.9g")
                index_rows.append([name, s.record.session.session_id, s.patient_id, test, trial, a.get("side", ""),
                                   a.get("rep", ""), a.get("status", ""), tr.device, n])
    with (dest / "trials.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["file", "session_id", "patient_id", "test", "trial", "side", "rep", "status", "device", "samples"])
        w.writerows(index_rows)


register(ExportFormat("raw-csv", "dir", "each trial's force-time samples, one CSV per trial and device", write,
                      needs_traces=True))
