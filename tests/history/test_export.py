"""Exports: CSV against the session file trial by trial, pandas dtypes, wide, raw, JSON, PDF,
overwrite protection, patient export."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

from station.cli import main
from station.export.csv_tidy import COLUMNS
from station.index.update import rebuild


def export(*args: str) -> int:
    return main(["export", *args])


def test_tidy_csv_matches_the_session_file_trial_by_trial(recovery_dir: Path, tmp_path: Path):
    import pandas as pd

    src = recovery_dir / "P-0042_2.h5"
    out = tmp_path / "s.csv"
    assert export(str(src), "--csv", str(out)) == 0
    df = pd.read_csv(out)
    assert list(df.columns) == COLUMNS
    with h5py.File(src, "r") as f:
        trials = f["tests/01_knee-extension-60/trials"]
        assert len(df) == len(trials) == 6  # one row per trial
        created = f.attrs["created_utc"]
        session_id = f.attrs["session_id"]
        lsi = json.loads(f["tests/01_knee-extension-60"].attrs["summary"])["symmetry"]["value_pct"]
        for _, row in df.iterrows():
            a = trials[f"{row['trial']:03d}"].attrs
            results = json.loads(a["results"])
            assert row["side"] == a["side"] and row["rep"] == a["rep"] and row["attempt"] == a["attempt"]
            assert row["status"] == a["status"]
            assert row["peak_force_n"] == pytest.approx(results["peak_force_n"], rel=1e-12)
            assert row["peak_force_n_per_kg"] == pytest.approx(results["peak_force_n_per_kg"], rel=1e-12)
            assert row["peak_torque_nm"] == pytest.approx(results["peak_torque_nm"], rel=1e-12)
            assert row["rfd_0_100_n_per_s"] == pytest.approx(results["rfd_n_per_s"]["0-100"], rel=1e-12)
            assert row["impulse_0_200_n_s"] == pytest.approx(results["impulse_n_s"]["0-200"], rel=1e-12)
            assert row["time_to_peak_s"] == pytest.approx(results["time_to_peak_s"], rel=1e-12)
            assert row["lsi_pct"] == pytest.approx(lsi, rel=1e-12)
            assert row["session_id"] == session_id and row["date_utc"] == created
            if row["side"] == "right":
                assert row["pain_0_10"] == a["pain_0_10"]
    for c in ["rep", "attempt", "peak_force_n", "peak_force_n_per_kg", "peak_torque_nm_per_kg", "rfd_0_50_n_per_s",
              "time_to_peak_s", "lsi_pct", "pain_0_10", "body_mass_kg", "peak_force_bw", "asymmetry_pct"]:
        assert pd.api.types.is_numeric_dtype(df[c]), c
    ts = pd.to_datetime(df["date_utc"], utc=True, format="ISO8601")
    assert (ts == pd.Timestamp("2026-10-01T09:00:00Z")).all()


def test_wide_csv_one_row_per_test(recovery_dir: Path, tmp_path: Path):
    import pandas as pd

    out = tmp_path / "w.csv"
    assert export(str(recovery_dir / "P-0042_1.h5"), "--wide", str(out)) == 0
    df = pd.read_csv(out)
    assert len(df) == 1
    r = df.iloc[0]
    assert r["left_peak_force_n"] > r["right_peak_force_n"]
    assert r["lsi_pct"] == pytest.approx(100 * r["right_peak_force_n"] / r["left_peak_force_n"])
    assert r["right_pain_max_0_10"] == 5 and r["left_reps"] == 3


def test_raw_csv_holds_every_sample(recovery_dir: Path, tmp_path: Path):
    import pandas as pd

    src = recovery_dir / "P-0042_1.h5"
    out = tmp_path / "raw"
    assert export(str(src), "--raw-csv", str(out)) == 0
    index = pd.read_csv(out / "trials.csv")
    assert len(index) == 6
    with h5py.File(src, "r") as f:
        g = f["tests/01_knee-extension-60/trials/002/dynamometer"]
        raw = pd.read_csv(out / "01_knee-extension-60_002_dynamometer.csv")
        assert len(raw) == g["force_n"].shape[0]
        np.testing.assert_allclose(raw["force_n_ch0"], g["force_n"][:, 0], rtol=1e-8, atol=1e-7)
        np.testing.assert_allclose(raw["right_force_n"], g["force_n"][:, 0], rtol=1e-8, atol=1e-7)
        assert raw["time_s"].iloc[0] == 0.0


def test_json_full_results(recovery_dir: Path, tmp_path: Path):
    out = tmp_path / "r.json"
    assert export(str(recovery_dir / "P-0042_3.h5"), "--json", str(out)) == 0
    doc = json.loads(out.read_text())
    (s,) = doc["sessions"]
    assert s["session"]["patient_id"] == "P-0042"
    (t,) = s["tests"]
    assert len(t["trials"]) == 6 and "peak_force_n" in t["trials"][0]["results"]
    assert len(s["rows"]["trials"]) == 6


def test_patient_export_all_sessions(recovery_dir: Path, tmp_path: Path):
    import pandas as pd

    rebuild(recovery_dir)
    out = tmp_path / "all.csv"
    assert export("--patient", "P-0042", "--dir", str(recovery_dir), "--csv", str(out)) == 0
    df = pd.read_csv(out)
    assert len(df) == 18 and df["session_id"].nunique() == 3
    assert list(df["date_utc"].unique()) == sorted(df["date_utc"].unique())


def test_never_overwrites_without_force(recovery_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "s.csv"
    out.write_text("precious")
    assert export(str(recovery_dir / "P-0042_1.h5"), "--csv", str(out), "--json", str(tmp_path / "new.json")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists (use --force" in err and "s.csv" in err
    assert out.read_text() == "precious" and not (tmp_path / "new.json").exists()  # nothing written
    assert export(str(recovery_dir / "P-0042_1.h5"), "--csv", str(out), "--force") == 0
    assert out.read_text().startswith("session_id,")


@pytest.mark.parametrize("args, message", [
    ([], "nothing to export"),
    (["--csv", "x.csv"], "give a session file"),
    (["MISSING.h5", "--csv", "x.csv"], "MISSING.h5: no such file"),
    (["--patient", "P-9", "--csv", "x.csv"], "no such directory"),
])
def test_one_line_errors(args, message, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert export(*args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_pdf_report_pages(recovery_dir: Path, tmp_path: Path, _isolated_config: Path):
    logo = Path(__file__).resolve().parents[2] / "docs" / "images" / "example-clinic-logo.png"
    _isolated_config.write_text(f'[clinic]\nname = "Physio Nord"\nlogo = "{logo}"\n')
    rebuild(recovery_dir)
    out = tmp_path / "r.pdf"
    assert export(str(recovery_dir / "P-0042_3.h5"), "--pdf", str(out)) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True).stdout
        assert "Physio Nord" in text and "Strength assessment report" in text and "P-0042" in text
        assert "LSI 9" in text and "improved beyond MDC" in text and "Best peak force" in text
        assert "algorithm 1.0.0" in text
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
        pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
        assert 1 <= pages <= 3
