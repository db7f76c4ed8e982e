"""Real session files, written fast: synthetic force traces through the real writer and the
real analysis (no devices, no real time), so history and export tests run in milliseconds."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from station import __version__
from station.analysis import ALGORITHM_VERSION
from station.analysis.isometric import IsometricParams, analyze_isometric
from station.analysis.reps import summarize_reps
from station.analysis.symmetry import limb_symmetry_index
from station.storage import layout
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec

RATE_HZ = 500.0


def trace(peak_n: float, seed: int, rate_hz: float = RATE_HZ, duration_s: float = 3.0) -> np.ndarray:
    """Rest 0.6 s, a 0.5 s smooth rise to ``peak_n``, a slightly sagging hold, then rest."""
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    rise = np.clip((t - 0.6) / 0.5, 0.0, 1.0)
    shape = 0.5 - 0.5 * np.cos(np.pi * rise)
    hold = np.where(t > 1.1, 1.0 - 0.02 * (t - 1.1), 1.0)
    off = np.where(t > 2.5, np.clip(1.0 - (t - 2.5) / 0.2, 0.0, 1.0), 1.0)
    noise = np.random.default_rng(seed).normal(0.0, 0.15, t.size)
    return peak_n * shape * hold * off + noise


@dataclass
class Spec:
    protocol_id: str
    peaks: dict[str, list[float]]          # side → peak per rep (N), in order
    pain: dict[str, list[int | None]] = field(default_factory=dict)
    lever_arm_m: float | None = None
    name: str = ""


def write_session(path: Path, *, patient_id: str, created_utc: str, tests: list[Spec],
                  body_mass_kg: float = 70.0, involved: str = "right", operator: str = "Dr Jane Example",
                  notes: str = "", seed: int = 1, baseline: str | None = None) -> Path:
    """Write a complete session file like the runner does; returns ``path``."""
    w = SessionWriter(path)
    session_id = f"{patient_id}-{created_utc}"
    w.create({"session_id": session_id, "algorithm_version": ALGORITHM_VERSION, "station_version": __version__,
              "created_utc": created_utc, **({"baseline": baseline} if baseline else {})},
             {"patient_id": patient_id, "body_mass_kg": body_mass_kg, "involved_side": involved,
              "operator": operator, **({"notes": notes} if notes else {})})
    w.set_attrs("devices/dynamometer", {"family": "mark10", "model": "M5-100", "serial": "SIM-1", "rate_hz": RATE_HZ,
                                        "channels": 1, "unit": "N", "uri": "sim:mark10"})
    summaries = []
    for index, spec in enumerate(tests, start=1):
        test = layout.test_key(index, spec.protocol_id)
        name = spec.name or spec.protocol_id
        w.set_attrs(f"protocols/{spec.protocol_id}", {"name": name, "kind": "isometric", "version": 1})
        w.set_attrs(f"tests/{test}", {"protocol_id": spec.protocol_id, "name": name, "kind": "isometric",
                                      "index": index, "status": layout.STATUS_RECORDING, "involved_side": involved})
        order = [(side, rep) for rep in range(max(len(v) for v in spec.peaks.values()))
                 for side in ("left", "right") if side in spec.peaks and rep < len(spec.peaks[side])]
        sides: dict[str, Any] = {}
        for trial_no, (side, rep) in enumerate(order, start=1):
            trial = layout.trial_key(trial_no)
            f = trace(spec.peaks[side][rep], seed=seed * 1000 + index * 100 + trial_no)
            r = analyze_isometric(f, RATE_HZ, IsometricParams(), body_mass_kg=body_mass_kg,
                                  lever_arm_m=spec.lever_arm_m)
            w.begin_trial(TrialSpec(test, trial, {"dynamometer": TrialDevice(1, False)},
                                    {"side": side, "rep": rep + 1, "attempt": rep + 1,
                                     "protocol_id": spec.protocol_id,
                                     "channels": {side: {"device": "dynamometer", "channels": [0]}}}))
            t = np.arange(f.size) / RATE_HZ + 100.0
            w.append("dynamometer", t, f[:, None].copy(), f[:, None].copy())
            w.end_trial({"status": "complete", "results": r.to_dict(), "peak_force_n": r.peak_force_n,
                         "quality_flags": [], "algorithm_version": ALGORITHM_VERSION})
            pain = spec.pain.get(side, [])
            if rep < len(pain) and pain[rep] is not None:
                w.set_attrs(f"tests/{test}/trials/{trial}", {"pain_0_10": pain[rep]})
            sides.setdefault(side, []).append(r.peak_force_n)
        summary: dict[str, Any] = {"test": test, "protocol_id": spec.protocol_id, "name": name, "kind": "isometric",
                                   "status": "complete", "sides": {}, "symmetry": {}}
        for side, peaks in sides.items():
            reps = summarize_reps(peaks, 10.0)
            summary["sides"][side] = {"side": side, "best_n": reps.best, "mean_n": reps.mean, "cv_pct": reps.cv_pct,
                                      "reps": reps.n_reps, "flagged": list(reps.flagged)}
        if involved in ("left", "right") and len(sides) == 2:
            other = "left" if involved == "right" else "right"
            summary["symmetry"] = limb_symmetry_index(summary["sides"][involved]["best_n"],
                                                      summary["sides"][other]["best_n"]).to_dict()
        w.set_attrs(f"tests/{test}", {"status": "complete", "summary": summary})
        summaries.append(summary)
    w.close({"status": "complete", "summary": summaries})
    return path
