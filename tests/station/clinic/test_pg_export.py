"""`station export --patient` on a station that holds another station's sessions only as results
(pulled by `station sync`, the file not in a shared folder here): exported from the index rows,
with a note; never a failure."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

from clinic_sessions import write_session
from station.cli import main
from station.index.clinic_sync import sync
from station.index.extract import read_record

# less than 30 days apart: the de-identified dates (shifted 30-364 days back) can never equal either
T1, T2 = "2026-03-02T09:00:00.000+00:00", "2026-03-23T08:15:00.000+00:00"


def _synced(pg_db, tmp_path: Path, shared: Path | None = None) -> tuple[Path, Path, Path, Path]:
    room1, room2 = tmp_path / "room1", tmp_path / "room2"
    f1 = write_session(room1, "P-001", T1, right_n=160.0, seed=1)
    f2 = write_session(room2, "P-001", T2, right_n=205.0, seed=3)
    for room, role in ((room1, "room1"), (room2, "room2"), (room1, "room1")):
        report = sync(room, pg_db.url(role), shared_folder=shared)
        assert report.ok, report.error
    return room1, room2, Path(f1), Path(f2)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_patient_export_uses_the_index_rows_of_another_stations_session(pg_db, tmp_path, capsys):
    room1, room2, f1, f2 = _synced(pg_db, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    code = main(["export", "--patient", "P-001", "--dir", str(room1), "--csv", str(out / "all.csv"),
                 "--wide", str(out / "wide.csv"), "--json", str(out / "all.json"), "--raw-csv", str(out / "raw")])
    text = capsys.readouterr().out
    assert code == 0
    notes = [ln for ln in text.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and f2.name in notes[0] and "results index" in notes[0]
    rows = _csv(out / "all.csv")
    # every trial of both sessions, the remote one value for value as its file says
    for f in (f1, f2):
        rec = read_record(f)
        mine = [r for r in rows if r["session_id"] == rec.session.session_id]
        assert [(r["test"], r["trial"], r["side"]) for r in mine] == [(t.test, t.trial, t.side) for t in rec.trials]
        assert [float(r["peak_force_n"]) for r in mine] == [t.peak_force_n for t in rec.trials]
        assert {r["date_utc"] for r in mine} == {rec.session.started_utc}
    assert len(_csv(out / "wide.csv")) == 2
    doc = json.loads((out / "all.json").read_text())
    assert [s["rows"]["session"]["session_id"] for s in doc["sessions"]] == \
           [read_record(f).session.session_id for f in (f1, f2)]
    # raw samples only for the session whose file is here
    raw = _csv(out / "raw" / "trials.csv")
    assert raw and {r["session_id"] for r in raw} == {read_record(f1).session.session_id}


def test_deidentified_patient_export_of_a_remote_session_holds_no_identifier(pg_db, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(tmp_path / "config.toml"))
    room1, room2, f1, f2 = _synced(pg_db, tmp_path)
    out = tmp_path / "shared.json"
    assert main(["export", "--patient", "P-001", "--dir", str(room1), "--deidentify", "--json", str(out)]) == 0
    capsys.readouterr()
    text = out.read_text()
    values = ("P-001", f1.name, f2.name, str(room2), T1[:10], T2[:10], read_record(f2).session.session_id)
    assert [v for v in values if v in text] == []


def test_h5_copy_of_a_remote_session_is_a_one_line_error(pg_db, tmp_path, capsys):
    room1, room2 = tmp_path / "room1", tmp_path / "room2"
    room1.mkdir()
    write_session(room2, "P-009", T2, seed=5)                       # only room 2 tested this patient
    assert sync(room2, pg_db.url("room2")).ok and sync(room1, pg_db.url("room1")).ok
    code = main(["export", "--patient", "P-009", "--dir", str(room1), "--csv", str(tmp_path / "y.csv"),
                 "--h5", str(tmp_path / "y.h5")])
    err = capsys.readouterr().err
    assert code != 0 and "--h5" in err and "not on this station" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "y.csv").exists() and not (tmp_path / "y.h5").exists()
    # a PDF of it still works: tables from the results, no curves
    assert main(["export", "--patient", "P-009", "--dir", str(room1), "--pdf", str(tmp_path / "r.pdf")]) == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True).stdout
        assert "recorded on another station" in " ".join(text.split()) and "Best peak force" in text


def test_shared_folder_copy_is_read_as_the_file(pg_db, tmp_path, capsys):
    room1, room2, f1, f2 = _synced(pg_db, tmp_path, shared=tmp_path / "shared")
    out = tmp_path / "raw"
    assert main(["export", "--patient", "P-001", "--dir", str(room1), "--raw-csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "note:" not in text
    raw = _csv(out / "trials.csv")
    assert {r["session_id"] for r in raw} == {read_record(f).session.session_id for f in (f1, f2)}
