"""Real session files for the sync tests, written in milliseconds: synthetic force traces
through the real writer and the real analysis, as the runner writes them (UUID session ids,
a calibration snapshot), without devices or real time."""
from __future__ import annotations

import json
import uuid
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
PROTOCOL = "hip-abduction-hhd"


def _trace(peak_n: float, seed: int) -> np.ndarray:
    t = np.arange(int(3.0 * RATE_HZ)) / RATE_HZ
    rise = np.clip((t - 0.6) / 0.5, 0.0, 1.0)
    off = np.where(t > 2.5, np.clip(1.0 - (t - 2.5) / 0.2, 0.0, 1.0), 1.0)
    noise = np.random.default_rng(seed).normal(0.0, 0.15, t.size)
    return peak_n * (0.5 - 0.5 * np.cos(np.pi * rise)) * off + noise


def _snapshot() -> str:
    record = {"record_id": "cal-0001", "device_serial": "SIM-1", "channel": 0, "model": "identity",
              "source": "factory", "load_unit": "N", "calibrated_at": "2026-01-05T08:00:00+00:00",
              "expires_at": "2027-01-05T08:00:00+00:00", "coefficients_n_per_count_k": [1.0],
              "offset_counts": 0.0, "operator": "Dr Jane Example", "notes": "bench in room 2"}
    return json.dumps({"dynamometer": {"device_serial": "SIM-1", "calibration_dir": "/home/jane/cal",
                                       "channels": [{"channel": 0, "record_id": "cal-0001", "state": "ok",
                                                     "applied": True, "model": "identity"}],
                                       "records": [record]}})


def write_session(folder: Path, patient_id: str, created_utc: str, *, left_n: float = 230.0,
                  right_n: float = 190.0, reps: int = 2, involved: str = "right", body_mass_kg: float = 68.0,
                  seed: int = 1) -> Path:
    """A complete one-test session file in ``folder``; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = created_utc[:19].replace("-", "").replace(":", "").replace("T", "-")
    path = folder / f"{patient_id}_{stamp}.h5"
    w = SessionWriter(path)
    w.create({"session_id": str(uuid.uuid4()), "algorithm_version": ALGORITHM_VERSION,
              "station_version": __version__, "created_utc": created_utc},
             {"patient_id": patient_id, "body_mass_kg": body_mass_kg, "involved_side": involved,
              "operator": "Dr Jane Example"})
    w.set_attrs("devices/dynamometer", {"family": "mark10", "model": "M5-100", "serial": "SIM-1",
                                        "rate_hz": RATE_HZ, "channels": 1, "unit": "N", "uri": "sim:mark10"})
    w.set_attrs("calibration", {"snapshot": _snapshot()})
    test = layout.test_key(1, PROTOCOL)
    w.set_attrs(f"protocols/{PROTOCOL}", {"name": "Hip abduction", "kind": "isometric", "version": 1})
    w.set_attrs(f"tests/{test}", {"protocol_id": PROTOCOL, "name": "Hip abduction", "kind": "isometric",
                                  "index": 1, "status": layout.STATUS_RECORDING, "involved_side": involved})
    peaks: dict[str, list[float]] = {"left": [], "right": []}
    n = 0
    for rep in range(reps):
        for side, best in (("left", left_n), ("right", right_n)):
            n += 1
            f = _trace(best - 4.0 * rep, seed * 1000 + n)
            r = analyze_isometric(f, RATE_HZ, IsometricParams(), body_mass_kg=body_mass_kg)
            w.begin_trial(TrialSpec(test, layout.trial_key(n), {"dynamometer": TrialDevice(1, False)},
                                    {"side": side, "rep": rep + 1, "attempt": rep + 1, "protocol_id": PROTOCOL}))
            w.append("dynamometer", np.arange(f.size) / RATE_HZ + 100.0, f[:, None].copy(), f[:, None].copy())
            w.end_trial({"status": "complete", "results": r.to_dict(), "peak_force_n": r.peak_force_n,
                         "quality_flags": [], "algorithm_version": ALGORITHM_VERSION})
            peaks[side].append(r.peak_force_n)
    summary: dict[str, Any] = {"test": test, "protocol_id": PROTOCOL, "name": "Hip abduction", "kind": "isometric",
                               "status": "complete", "sides": {}, "symmetry": {}}
    for side, values in peaks.items():
        s = summarize_reps(values, 10.0)
        summary["sides"][side] = {"side": side, "best_n": s.best, "mean_n": s.mean, "cv_pct": s.cv_pct,
                                  "reps": s.n_reps, "flagged": list(s.flagged)}
    other = "left" if involved == "right" else "right"
    summary["symmetry"] = limb_symmetry_index(summary["sides"][involved]["best_n"],
                                              summary["sides"][other]["best_n"]).to_dict()
    w.set_attrs(f"tests/{test}", {"status": "complete", "summary": summary})
    w.close({"status": "complete", "summary": [summary]})
    return path
