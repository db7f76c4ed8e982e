"""The results index: rows match the files, the live index equals the rebuilt one, baselines."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import h5py
import pytest

from history_sessions import Spec, write_session
from station.cli import main
from station.errors import UserError
from station.index.extract import read_record
from station.index.sqlite import INDEX_NAME, SqliteStore
from station.index.store import ResultsStore
from station.index.update import index_closed_session, mark_baseline, rebuild


def test_sqlite_store_is_a_results_store(tmp_path: Path):
    store = SqliteStore(tmp_path / "x.sqlite3")
    assert isinstance(store, ResultsStore)
    store.close()


def test_rows_match_the_file(recovery_dir: Path):
    path = recovery_dir / "P-0042_1.h5"
    rec = read_record(path)
    assert rec.session.patient_id == "P-0042" and rec.session.involved_side == "right"
    assert len(rec.tests) == 1 and len(rec.trials) == 6
    with h5py.File(path, "r") as f:
        trials = f["tests/01_knee-extension-60/trials"]
        for row in rec.trials:
            a = trials[row.trial].attrs
            assert row.side == a["side"] and row.rep == a["rep"]
            assert row.peak_force_n == pytest.approx(float(a["peak_force_n"]))
    (left,) = [s for s in rec.sides if s.side == "left"]
    assert left.best_n == pytest.approx(max(t.peak_force_n for t in rec.trials if t.side == "left"))
    assert left.best_n_per_kg == pytest.approx(left.best_n / 70.0)
    assert left.best_torque_nm == pytest.approx(left.best_n * 0.35, rel=1e-6)
    (right,) = [s for s in rec.sides if s.side == "right"]
    assert right.pain_max_0_10 == 5
    assert rec.tests[0].lsi_pct == pytest.approx(100 * right.best_n / left.best_n)


def test_live_index_equals_rebuilt_index(tmp_path: Path):
    d = tmp_path / "s"
    d.mkdir()
    for i in range(3):  # indexed one by one as each session closes, as the runner does
        p = write_session(d / f"P-1_{i}.h5", patient_id="P-1", created_utc=f"2026-0{i + 1}-01T10:00:00.000+00:00",
                          seed=i, tests=[Spec("hip-abduction-hhd", {"left": [200.0 + i, 190.0], "right": [150.0 + 20 * i, 149.0]})])
        assert index_closed_session(p) is None
    write_session(d / "P-2_0.h5", patient_id="P-2", created_utc="2026-01-05T10:00:00.000+00:00",
                  tests=[Spec("knee-extension-60", {"left": [300.0], "right": [280.0]})])
    assert index_closed_session(d / "P-2_0.h5") is None
    assert index_closed_session(d / "P-1_1.h5") is None  # indexing twice changes nothing
    with SqliteStore.beside(d) as live:
        before = live.dump()
        assert [s.patient_id for s in live.sessions()] == ["P-1", "P-2", "P-1", "P-1"]
        assert live.patients() == ["P-1", "P-2"]
    assert sum(len(v) for v in before.values()) > 20
    report = rebuild(d)
    assert len(report.indexed) == 4 and not report.skipped
    with SqliteStore.beside(d) as rebuilt:
        assert rebuilt.dump() == before


def test_rebuild_skips_damaged_and_foreign_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    write_session(tmp_path / "ok.h5", patient_id="P-1", created_utc="2026-01-01T10:00:00.000+00:00",
                  tests=[Spec("hip-abduction-hhd", {"left": [200.0], "right": [150.0]})])
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f.attrs["x"] = 1
    assert main(["index", "rebuild", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 session(s) indexed" in out and "junk.h5: not an HDF5 file" in out and "foreign.h5" in out


def test_index_hook_never_raises(tmp_path: Path):
    (tmp_path / "bad.h5").write_bytes(b"garbage")
    msg = index_closed_session(tmp_path / "bad.h5")
    assert msg is not None and "station index rebuild" in msg


def test_damaged_index_is_a_one_line_error(tmp_path: Path):
    (tmp_path / INDEX_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="damaged results index"):
        SqliteStore.beside(tmp_path)


def test_baseline_mark_survives_rebuild(recovery_dir: Path, capsys: pytest.CaptureFixture[str]):
    rebuild(recovery_dir)
    assert main(["index", "baseline", str(recovery_dir / "P-0042_2.h5"), "--label", "pre-operative"]) == 0
    with h5py.File(recovery_dir / "P-0042_2.h5", "r") as f:
        assert f.attrs["baseline"] == "pre-operative"
    rebuild(recovery_dir)
    with SqliteStore.beside(recovery_dir) as s:
        assert [x.baseline for x in s.sessions("P-0042")] == [None, "pre-operative", None]
    mark_baseline(recovery_dir / "P-0042_2.h5", None)
    with SqliteStore.beside(recovery_dir) as s:
        assert [x.baseline for x in s.sessions("P-0042")] == [None, None, None]
    assert main(["index", "baseline", str(recovery_dir / "nope.h5")]) == 2
    assert "nope.h5: no such file" in capsys.readouterr().err


def test_schema_newer_than_station_is_refused(tmp_path: Path):
    SqliteStore.beside(tmp_path).close()
    db = sqlite3.connect(tmp_path / INDEX_NAME)
    db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    with pytest.raises(UserError, match="newer"):
        SqliteStore.beside(tmp_path)


@pytest.mark.parametrize("symmetry, kind, lsi, asym", [
    ({"kind": "none", "value_pct": None, "passed": None, "note": "no LSI: the test measured one side only"},
     None, None, None),
    ({"kind": "lsi", "value_pct": 81.5, "passed": False}, "lsi", 81.5, None),
    ({"value_pct": -12.0, "abs_pct": 12.0, "direction": "left stronger"}, "asymmetry", None, -12.0),
    ({}, None, None, None),
])
def test_test_row_symmetry_kind(symmetry, kind, lsi, asym):
    """A test without a verdict ("kind": "none", as the runner writes it) is neither an LSI nor an asymmetry."""
    from station.index.extract import _test_row
    row = _test_row("s", "01_x", {"protocol_id": "x", "kind": "isometric", "status": "complete"},
                    {"symmetry": symmetry})
    assert (row.symmetry_kind, row.lsi_pct, row.asymmetry_pct) == (kind, lsi, asym)


def test_put_sessions_batch_equals_one_by_one(tmp_path: Path):
    """The batch write (a first pull) gives the same index as one transaction per session, and
    replaces a session already there, as put_session does."""
    records = []
    for i in range(4):
        p = write_session(tmp_path / f"P-1_{i}.h5", patient_id=f"P-{i % 2}", seed=i,
                          created_utc=f"2026-0{i + 1}-01T10:00:00.000+00:00",
                          tests=[Spec("hip-abduction-hhd", {"left": [200.0 + i, 190.0], "right": [150.0 + i, 149.0]})])
        records.append(read_record(p))
    with SqliteStore(tmp_path / "one.sqlite3") as one, SqliteStore(tmp_path / "batch.sqlite3") as batch:
        for r in records:
            one.put_session(r)
        batch.put_session(records[1])          # already there: replaced, not duplicated
        batch.put_sessions(records)
        assert batch.dump() == one.dump()
        assert len(batch.sessions()) == 4 and sum(len(v) for v in batch.dump().values()) > 20
