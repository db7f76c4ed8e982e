"""A real simulated bilateral landing session through the index, the tidy CSV and history."""
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

STANDARD_GRAVITY = 9.80665
LOADS_N = [0.0, 100.0, 200.0, 400.0, 800.0]


def calibrate_from_truth(directory: Path, serial: str, channels: int = 4) -> None:
    """Records fitted to the simulator's own cell model (what `station calibrate` measures)."""
    store = CalibrationStore(directory)
    for ch, cell in enumerate(default_cells(channels)):
        counts = cell.offset_counts + cell.gain_counts_per_n * (np.array(LOADS_N) + cell.quadratic_per_n * np.square(LOADS_N))
        points = [CalibrationPoint(load_n=f, direction="loading", cycle=1, mean_counts=float(c))
                  for f, c in zip(LOADS_N, counts, strict=True)]
        store.save(fit_calibration(points, device_serial=serial, channel=ch, operator="test"))


@pytest.mark.slow
def test_bilateral_landing_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch):
    import pandas as pd

    cal = tmp_path / "cal"
    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(cal))
    calibrate_from_truth(cal, "PL-L")
    calibrate_from_truth(cal, "PL-R")
    p = dataclasses.replace(replace_timing(get_protocol("drop-landing-bilateral"), countdown_s=0.5, rest_s=0.1,
                                           duration_s=2.5), reps=2)
    result = run_session(
        protocols=[p], device_args=[parse_device_arg("plate_left=sim:sfp?channels=4&serial=PL-L"),
                                    parse_device_arg("plate_right=sim:sfp?channels=4&serial=PL-R")],
        patient=Patient("P-5", body_mass_kg=70.0, involved_side="left"),  # type: ignore[arg-type]
        out_dir=tmp_path, ui=TerminalUI(interactive=False, out=io.StringIO()), options=RunnerOptions(tail_s=0.3),
        auto=True, simulation={"speed": 4.0})  # simulated time 4x faster than real time
    assert result.status == "complete"
    out = tmp_path / "landing.csv"
    assert main(["export", str(result.path), "--csv", str(out)]) == 0
    capsys.readouterr()
    df = pd.read_csv(out)
    bw = 70.0 * STANDARD_GRAVITY
    with h5py.File(result.path, "r") as f:
        trials = f["tests/01_drop-landing-bilateral/trials"]
        assert len(df) == len(trials)  # one row per trial: the plates summed
        for _, row in df.iterrows():
            res = json.loads(trials[f"{row['trial']:03d}"].attrs["results"])
            assert row["side"] == "both"
            assert row["peak_force_n"] == pytest.approx(res["peak_force_n"], rel=1e-12)
            assert row["peak_force_bw"] == pytest.approx(res["peak_force_bw"], rel=1e-12)
            assert row["loading_rate_bw_per_s"] == pytest.approx(res["loading_rate_n_per_s"] / res["body_weight_n"]
                                                                 if res.get("body_weight_n") else
                                                                 res["loading_rate_n_per_s"] / bw, rel=1e-9)
            assert row["asymmetry_pct"] == pytest.approx(res["asymmetry_pct"]["peak_force"], rel=1e-12)
            tts = res.get("tts_s")
            assert (pd.isna(row["time_to_stabilisation_s"]) if tts is None
                    else row["time_to_stabilisation_s"] == pytest.approx(tts))
    assert df["asymmetry_pct"].gt(0).all()  # the involved left foot is offloaded: right higher
    assert main(["history", "P-5", "--dir", str(tmp_path), "--json"]) == 0  # the session was indexed as it closed
    (trend,) = json.loads(capsys.readouterr().out)["protocols"]
    assert trend["kind"] == "landing" and trend["error"]["source"] is None
    assert set(trend["sides"]) == {"left", "right"}
