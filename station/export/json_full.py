"""``--json``: the full results of the session(s) as JSON (no samples): the file's attributes,
the patient, protocols, devices, every test and trial with its stored results, and the index
rows (session, tests, sides, trials) that the CSV exports are made of."""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from station.export import ExportContext, ExportFormat, register
from station.export.source import SessionData

FORMAT = "force-station-results"
FORMAT_VERSION = 1


def session_json(s: SessionData) -> dict[str, Any]:
    tests = []
    for key, attrs in s.tests.items():
        trials = [{"trial": trial, **a} for (test, trial), a in s.trials.items() if test == key]
        tests.append({"test": key, **attrs, "trials": trials})
    rec = s.record
    return {
        "file": dict(s.root),
        "session": dict(s.session),
        "protocols": s.protocols,
        "devices": s.devices,
        "tests": tests,
        "rows": {"session": dataclasses.asdict(rec.session),
                 "tests": [dataclasses.asdict(r) for r in rec.tests],
                 "sides": [dataclasses.asdict(r) for r in rec.sides],
                 "trials": [dataclasses.asdict(r) for r in rec.trials]},
    }


def write(sessions: Sequence[SessionData], dest: Path, ctx: ExportContext) -> None:
    doc = {"format": FORMAT, "format_version": FORMAT_VERSION, "deidentified": ctx.deidentified,
           "sessions": [session_json(s) for s in sessions]}
    dest.write_text(json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False, default=str) + "\n",
                    encoding="utf-8")


register(ExportFormat("json", "file", "the full results as JSON (no samples)", write, suffix=".json"))
