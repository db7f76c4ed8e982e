"""A headless session on a dynamometer and two 4-cell plates (issue 6's 'done when'), with
calibration records in force, and what `station inspect` shows of it."""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from calibration import CalibrationStore
from calibration.fitting import fit_calibration
from calibration.record import CalibrationPoint
from simulation.sfp import default_cells
from protocols import get_protocol
from station.cli import main
from station.session.model import Patient
from station.session.run import run_session
from station.session.runner import RunnerOptions, replace_timing
from station.session.setup import parse_device_arg
from station.session.terminal import TerminalUI

LOADS_N = [0.0, 100.0, 200.0, 400.0, 800.0]


def calibrate_from_truth(directory: Path, serial: str, channels: int = 4) -> None:
    """Records fitted to the simulator's own cell model (what `station calibrate` measures)."""
    store = CalibrationStore(directory)
    for ch, cell in enumerate(default_cells(channels)):
        counts = cell.offset_counts + cell.gain_counts_per_n * (np.array(LOADS_N) + cell.quadratic_per_n * np.square(LOADS_N))
        points = [CalibrationPoint(load_n=f, direction="loading", cycle=1, mean_counts=float(c))
                  for f, c in zip(LOADS_N, counts, strict=True)]
        store.save(fit_calibration(points, device_serial=serial, channel=ch, operator="test"))


def fast(protocol_id: str):
    p = replace_timing(get_protocol(protocol_id), countdown_s=0.8, rest_s=0.1, duration_s=2.5)
    return dataclasses.replace(p, reps=2)


@pytest.mark.slow
def test_dynamometer_and_two_plates(tmp_path: Path, monkeypatch, capsys) -> None:
    cal = tmp_path / "cal"
    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(cal))
    calibrate_from_truth(cal, "PL-L")
    calibrate_from_truth(cal, "PL-R")
    result = run_session(
        protocols=[fast("hip-abduction-hhd"), fast("drop-landing-bilateral")],
        device_args=[parse_device_arg("dynamometer=sim:mark10"),
                     parse_device_arg("plate_left=sim:sfp?channels=4&serial=PL-L"),
                     parse_device_arg("plate_right=sim:sfp?channels=4&serial=PL-R")],
        patient=Patient("P-9", body_mass_kg=70.0, involved_side="left"),
        out_dir=tmp_path, ui=TerminalUI(interactive=False, out=io.StringIO()), options=RunnerOptions(tail_s=0.3),
        auto=True, simulation={"speed": 4.0},  # simulated time 4x faster than real time
    )
    assert result.status == "complete"
    hip, landing = result.summaries
    assert hip.symmetry["kind"] == "lsi" and hip.symmetry["value_pct"] < 90  # involved left is weaker
    left, right = landing.sides["left"], landing.sides["right"]
    body_weight = 70.0 * 9.80665
    # a 30 cm drop lands at ~3.5 body weights in total, the involved (left) foot offloaded
    assert 2.5 * body_weight < left.best_n + right.best_n < 4.5 * body_weight
    assert landing.symmetry["direction"] == "right higher" and landing.symmetry["value_pct"] > 5
    assert "passed" not in landing.symmetry  # landing load has no pass mark
    with h5py.File(result.path, "r") as f:
        snap = json.loads(f["devices/plate_left"].attrs["calibration"])
        assert snap["device_serial"] == "PL-L" and not snap["overrides"]
        trial = f["tests/02_drop-landing-bilateral/trials/001"]
        results = json.loads(trial.attrs["results"])
        assert results["left"]["peak_force_n"] > body_weight and results["right"]["peak_force_n"] > body_weight
        assert results["time_alignment"]["rate_hz"] == 1000.0
        assert trial["plate_left/raw"].shape[1] == 4 and trial["plate_right/force_n"].shape[1] == 4
    assert main(["inspect", str(result.path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    tests = {t["protocol_id"]: t for t in info["tests"]}
    assert len(tests["hip-abduction-hhd"]["trials"]) >= 4 and len(tests["drop-landing-bilateral"]["trials"]) >= 2
    assert tests["drop-landing-bilateral"]["symmetry"]["direction"] == "right higher"
