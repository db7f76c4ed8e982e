"""`station sync` between real session folders and a real PostgreSQL server: two stations, the
union of their files, re-syncs, concurrency, a server killed mid-sync, offline queueing."""
from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import h5py

from clinic_sessions import write_session
from station.cli import main
from station.index.clinic_sync import STATE_NAME, SyncState, pending_sessions, sync
from station.index.extract import read_record
from station.index.postgres import PostgresStore
from station.index.sqlite import SqliteStore

T1, T2, T3, T4 = ("2026-03-02T09:00:00.000+00:00", "2026-04-06T10:30:00.000+00:00",
                  "2026-05-04T08:15:00.000+00:00", "2026-06-01T14:00:00.000+00:00")


def _two_stations(tmp_path: Path) -> tuple[Path, Path]:
    room1, room2 = tmp_path / "room1", tmp_path / "room2"
    write_session(room1, "P-001", T1, right_n=160.0, seed=1)
    write_session(room1, "P-002", T2, seed=2)
    write_session(room2, "P-001", T3, right_n=205.0, seed=3)
    write_session(room2, "P-003", T4, seed=4)
    return room1, room2


def _ids(folder: Path, patient: str | None = None) -> set[str]:
    out = set()
    for p in folder.glob("*.h5"):
        r = read_record(p)
        if patient is None or r.session.patient_id == patient:
            out.add(r.session.session_id)
    return out


def _local(folder: Path) -> SqliteStore:
    return SqliteStore.beside(folder)


def test_history_on_either_station_is_the_union_of_both_folders(pg_db, tmp_path):
    room1, room2 = _two_stations(tmp_path)
    r1 = sync(room1, pg_db.url("room1"), station_name="Room 1")
    r2 = sync(room2, pg_db.url("room2"), station_name="Room 2")
    r1b = sync(room1, pg_db.url("room1"), station_name="Room 1")
    assert r1.ok and r2.ok and r1b.ok, (r1.error, r2.error, r1b.error)
    assert len(r1.pushed) == 2 and len(r2.pushed) == 2 and r1b.pushed == []
    assert len(r2.pulled) == 2 and len(r1b.pulled) == 2
    everyone = _ids(room1) | _ids(room2)
    with PostgresStore.open(pg_db.url("room1")) as store:
        assert {s.session_id for s in store.sessions()} == everyone
        pg_history = store.history("P-001")
    for folder in (room1, room2):
        with _local(folder) as local:
            assert {s.session_id for s in local.sessions()} == everyone
            assert {s.session_id for s in local.sessions("P-001")} == _ids(room1, "P-001") | _ids(room2, "P-001")
            hist = local.history("P-001")
        # the same rows, value for value, as the store (and so as the two files)
        assert [(h.session_id, h.side, h.best_n, h.lsi_pct) for h in hist] == \
               [(h.session_id, h.side, h.best_n, h.lsi_pct) for h in pg_history]
        assert [h.started_utc for h in hist][::2] == [T1, T3]
    from_files = {}
    for p in [*room1.glob("*.h5"), *room2.glob("*.h5")]:
        rec = read_record(p)
        if rec.session.patient_id == "P-001":
            from_files.update({(rec.session.session_id, s.side): s.best_n for s in rec.sides})
    assert {(h.session_id, h.side): h.best_n for h in pg_history} == from_files


def test_resync_never_duplicates_even_with_the_sync_state_lost(pg_db, tmp_path):
    room1, _ = _two_stations(tmp_path)
    first = sync(room1, pg_db.url())
    counts = pg_db.query("SELECT (SELECT count(*) FROM force_station.sessions), "
                         "(SELECT count(*) FROM force_station.analyses), (SELECT count(*) FROM force_station.trials)")
    again = sync(room1, pg_db.url())
    assert len(first.pushed) == 2 and again.pushed == [] and again.already == []   # nothing even re-read
    station_id = SyncState(room1).station().station_id
    (room1 / STATE_NAME).unlink()                       # state lost: every file is offered again
    lost = sync(room1, pg_db.url())
    assert lost.ok and lost.pushed == [] and len(lost.already) == 2
    assert pg_db.query("SELECT (SELECT count(*) FROM force_station.sessions), "
                       "(SELECT count(*) FROM force_station.analyses), "
                       "(SELECT count(*) FROM force_station.trials)") == counts
    assert SyncState(room1).station().station_id != station_id    # a new station id, same sessions


def test_two_stations_sync_the_same_patient_concurrently(pg_db, tmp_path):
    folders = []
    for n in range(2):
        folder = tmp_path / f"room{n + 1}"
        for k in range(3):
            write_session(folder, "P-NEW", f"2026-0{k + 2}-0{n + 1}T09:00:00.000+00:00", seed=10 * n + k)
        folders.append(folder)
    # the same file on both stations too (copied across by hand): still one session in the store
    shared_file = write_session(tmp_path / "usb", "P-NEW", "2026-08-01T09:00:00.000+00:00", seed=99)
    for folder in folders:
        (folder / shared_file.name).write_bytes(shared_file.read_bytes())
    barrier = threading.Barrier(2)
    reports = [None, None]

    def run(i: int) -> None:
        barrier.wait()
        reports[i] = sync(folders[i], pg_db.url(f"room{i + 1}"), station_name=f"Room {i + 1}")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(r is not None and r.ok for r in reports), [r and r.error for r in reports]
    assert sum(len(r.pushed) for r in reports) == 7 and sum(len(r.already) for r in reports) == 1
    assert pg_db.query("SELECT count(*), count(DISTINCT session_id) FROM force_station.sessions") == [(7, 7)]
    assert pg_db.query("SELECT count(*) FROM force_station.patients") == [(1,)]
    for i in range(2):                                  # after one more round both see all seven
        assert sync(folders[i], pg_db.url(f"room{i + 1}")).ok
        with _local(folders[i]) as local:
            assert len(local.sessions("P-NEW")) == 7


def test_server_killed_mid_sync_leaves_no_half_session_and_next_sync_completes(pg_db, tmp_path):
    room = tmp_path / "room1"
    for k in range(3):
        write_session(room, "P-001", f"2026-0{k + 3}-01T09:00:00.000+00:00", seed=k)
    calls = []

    def crash_on_second(session_id: str) -> None:
        calls.append(session_id)
        if len(calls) == 2:          # rows of the 2nd session written, not yet committed
            pg_db.server.kill()

    cut = sync(room, pg_db.url(), before_commit=crash_on_second, timeout_s=2)
    assert not cut.ok and "connection" in cut.error and "\n" not in cut.error
    assert len(cut.pushed) == 1 and len(cut.pending) == 2
    pg_db.server.start()
    # exactly the first session, complete; nothing of the second
    assert pg_db.query("SELECT session_id::text FROM force_station.sessions") == [(calls[0],)]
    first = read_record(next(p for p in room.glob("*.h5") if read_record(p).session.session_id == calls[0]))
    assert pg_db.query("SELECT count(*) FROM force_station.trials") == [(len(first.trials),)]
    assert pg_db.query("SELECT count(*) FROM force_station.analyses") == [(1,)]
    assert len(pending_sessions(room)) == 2
    done = sync(room, pg_db.url())
    assert done.ok and len(done.pushed) == 2 and done.already == []
    assert pg_db.query("SELECT count(*) FROM force_station.sessions") == [(3,)]
    assert pending_sessions(room) == []


def test_offline_sessions_are_queued_and_pushed_when_the_store_is_back(pg_db, tmp_path, capsys):
    room = tmp_path / "room1"
    write_session(room, "P-001", T1)
    write_session(room, "P-001", T2)
    dead = "postgresql://room1@127.0.0.1:9/clinic?sslmode=disable"
    code = main(["sync", "--store", dead, "--dir", str(room)])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.strip().count("\n") == 0 and "host 127.0.0.1:9, database clinic" in err
    assert "2 session(s) pending" in out
    assert main(["sync", "--pending", "--dir", str(room)]) == 0
    assert "2 session(s) pending" in capsys.readouterr().out
    assert main(["sync", "--store", pg_db.url(), "--dir", str(room)]) == 0
    out = capsys.readouterr().out
    assert "pushed 2 session(s)" in out and "nothing pending" in out
    assert pending_sessions(room) == []


def test_wrong_credentials_one_line_naming_host_and_database_no_password(pg_db, tmp_path, capsys, no_pg_env,
                                                                        monkeypatch):
    room = tmp_path / "room1"
    write_session(room, "P-001", T1)
    monkeypatch.setenv("PGPASSWORD", "wrong-secret-7431")
    code = main(["sync", "--store", pg_db.tcp_url("room1"), "--dir", str(room)])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.count("\n") == 1
    assert f"host 127.0.0.1:{pg_db.server.port}" in err and f"database {pg_db.name}" in err
    assert "password authentication failed" in err
    assert "wrong-secret-7431" not in out + err
    assert "1 session(s) pending" in out
    for f in room.iterdir():          # nor in any file the station wrote
        assert b"wrong-secret-7431" not in f.read_bytes()


def test_reanalysed_session_is_pushed_beside_the_old_values(pg_db, tmp_path):
    room = tmp_path / "room1"
    path = write_session(room, "P-001", T1)
    assert sync(room, pg_db.url()).ok
    with h5py.File(path, "r+") as f:              # re-analysed under a new algorithm version
        f.attrs["algorithm_version"] = "1.1.0"
        for test in f["tests"].values():
            for trial in test["trials"].values():
                trial.attrs["algorithm_version"] = "1.1.0"
    again = sync(room, pg_db.url())
    assert again.ok and len(again.pushed) == 1
    sid = read_record(path).session.session_id
    with PostgresStore.open(pg_db.url()) as store:
        assert [a.algorithm_version for a in store.analyses(sid)] == ["1.0.0", "1.1.0"]
        assert store.get_session(sid).session.algorithm_version == "1.1.0"
        assert {t.algorithm_version for t in store.get_session(sid, "1.0.0").trials} == {"1.0.0"}
    assert pg_db.query("SELECT count(*) FROM force_station.sessions") == [(1,)]


def test_shared_folder_copy_and_checksum(pg_db, tmp_path):
    room, shared = tmp_path / "room1", tmp_path / "share"
    path = write_session(room, "P-001", T1)
    report = sync(room, pg_db.url(), shared_folder=shared)
    assert report.ok
    copy = shared / "P-001" / path.name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert copy.read_bytes() == path.read_bytes()
    assert pg_db.query("SELECT file_sha256, file_size_bytes, shared_path FROM force_station.sessions") == \
        [(digest, path.stat().st_size, f"P-001/{path.name}")]
    # calibrations used: ids and coefficients, never the operator or folders
    assert pg_db.query("SELECT record_id, device_serial, coefficients FROM force_station.calibrations") == \
        [("cal-0001", "SIM-1", [1.0])]
    dump = str(pg_db.query("SELECT * FROM force_station.calibrations")) + \
        str(pg_db.query("SELECT * FROM force_station.sessions"))
    assert "Jane" not in dump and "/home/jane" not in dump


def test_unreachable_shared_folder_keeps_the_session_pending(pg_db, tmp_path):
    room = tmp_path / "room1"
    write_session(room, "P-001", T1)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    report = sync(room, pg_db.url(), shared_folder=blocker)
    assert report.pushed == [] and len(report.pending) == 1
    assert any(str(blocker) in s for s in report.skipped)
    assert sync(room, pg_db.url(), shared_folder=tmp_path / "share").pushed != []


def test_baseline_mark_travels_and_rebuilt_index_is_pulled_again(pg_db, tmp_path):
    room1, room2 = _two_stations(tmp_path)
    assert sync(room1, pg_db.url("room1")).ok
    first = next(p for p in room1.glob("P-001_*.h5"))
    from station.index.update import mark_baseline, rebuild
    sid = mark_baseline(first, "pre-operative")
    assert sync(room1, pg_db.url("room1")).ok
    assert sync(room2, pg_db.url("room2")).ok
    with _local(room2) as local:
        assert {s.session_id: s.baseline for s in local.sessions("P-001")}[sid] == "pre-operative"
    rebuild(room2)                                   # the index again holds only room 2's files
    with _local(room2) as local:
        assert sid not in {s.session_id for s in local.sessions()}
    again = sync(room2, pg_db.url("room2"))
    assert again.ok and sid in again.pulled
    with _local(room2) as local:
        assert len(local.sessions()) == 4


def test_unfinished_and_foreign_files_are_not_pushed(pg_db, tmp_path):
    room = tmp_path / "room1"
    write_session(room, "P-001", T1)
    (room / "junk.h5").write_bytes(b"not hdf5 at all")
    report = sync(room, pg_db.url())
    assert len(report.pushed) == 1 and any("junk.h5" in s for s in report.skipped)
    assert sync(room, pg_db.url()).skipped == []           # not re-read every time
    assert os.path.exists(room / STATE_NAME)
