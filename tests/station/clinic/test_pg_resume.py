"""Sync resumes by itself: sessions queued while the clinic store was down go when it is back,
through the station's own retries (a background retry, the start of `station session run`),
and `station sync --status` says what is pending, without the network."""
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from clinic_sessions import write_session
from station.cli import main
from station.index.clinic_sync import BackgroundSync, retry_sync, sync_status

T1, T2 = "2026-03-02T09:00:00.000+00:00", "2026-04-06T10:30:00.000+00:00"


@pytest.fixture
def clinic_config(pg_db, tmp_path, monkeypatch) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[clinic]\nstore_url = "{pg_db.url()}"\nstation_name = "Room 1"\n')
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(cfg))
    return cfg


def _stored(pg_db) -> int:
    return pg_db.query("SELECT count(*) FROM force_station.sessions")[0][0]


def test_queued_sessions_go_by_themselves_when_the_server_is_back(pg_db, clinic_config, tmp_path, capsys):
    room = tmp_path / "room1"
    queued = [write_session(room, "P-001", T1), write_session(room, "P-001", T2)]
    pg_db.server.stop()                                   # the clinic server goes down
    down = retry_sync(room, timeout_s=1)
    assert down is not None and not down.ok and sorted(down.pending) == sorted(p.name for p in queued)
    status = sync_status(room)
    assert status.pending == down.pending and status.last_error == down.error and status.last_ok_utc is None
    assert main(["sync", "--status", "--dir", str(room)]) == 0
    out = capsys.readouterr().out
    assert "2 session(s) pending" in out and "last sync: failed" in out and "cannot reach the server" in out
    assert "pw" not in out.lower().replace("pushed", "")   # no password anywhere (there is none to print)

    pg_db.server.start()                                  # back: the next background retry drains the queue
    job = BackgroundSync(room)
    lines = job.wait(60)
    assert job.done() and job.report is not None and job.report.ok
    assert sorted(job.report.pushed) == sorted(p.name for p in queued) and "pushed 2 session(s)" in lines[0]
    assert _stored(pg_db) == 2
    status = sync_status(room)
    assert status.pending == [] and status.last_error is None and status.last_ok_utc is not None
    assert main(["sync", "--status", "--dir", str(room)]) == 0
    assert "nothing pending" in capsys.readouterr().out
    assert BackgroundSync(room).wait(60) == [lines[0].replace("pushed 2", "pushed 0"), "nothing pending"]


def test_without_a_configured_store_retries_do_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(tmp_path / "none.toml"))
    room = tmp_path / "room1"
    write_session(room, "P-001", T1)
    assert retry_sync(room) is None
    job = BackgroundSync(room)
    assert job.wait(30) == [] and job.news() == []
    status = sync_status(room)
    assert status.store is None and "none configured" in status.lines()[0] and len(status.pending) == 1


def test_concurrent_retries_of_one_folder_push_once(pg_db, clinic_config, tmp_path):
    room = tmp_path / "room1"
    for n in range(3):
        write_session(room, f"P-00{n}", T1, seed=n)
    jobs = [BackgroundSync(room) for _ in range(3)]
    for j in jobs:
        j.wait(60)
    assert all(j.report is not None and j.report.ok for j in jobs)
    assert sorted(len(j.report.pushed) for j in jobs if j.report) == [0, 0, 3]   # one after the other
    assert _stored(pg_db) == 3


@pytest.mark.slow
def test_session_run_start_pushes_what_was_queued(pg_db, clinic_config, tmp_path):
    """`station session run` retries at its start: a session queued while the store was down
    goes while the new one is recorded; the new one goes when it closes."""
    from protocols import get_protocol
    from station.session.model import Patient
    from station.session.run import run_session
    from station.session.runner import RunnerOptions, replace_timing
    from station.session.setup import DeviceArg
    from station.session.terminal import TerminalUI

    room = tmp_path / "room1"
    queued = write_session(room, "P-7", T1)
    pg_db.server.stop()
    assert not retry_sync(room, timeout_s=1).ok              # type: ignore[union-attr]
    pg_db.server.start()
    p = dataclasses.replace(replace_timing(get_protocol("hip-abduction-hhd"), countdown_s=0.3, rest_s=0.05,
                                           duration_s=1.2), reps=1)
    out = io.StringIO()
    result = run_session(protocols=[p], device_args=[DeviceArg((), "sim:mark10?rate=500")],
                         patient=Patient("P-7", body_mass_kg=70.0, involved_side="right"),  # type: ignore[arg-type]
                         out_dir=room, ui=TerminalUI(interactive=False, out=out, inp=io.StringIO()),
                         options=RunnerOptions(tail_s=0.2), auto=True, involved_ratio=0.7,
                         simulation={"speed": 4.0})  # simulated time 4x faster than real time
    text = out.getvalue()
    assert "clinic store at the start of this session: pushed 1 queued session(s)" in text
    assert "pushed 1 session(s) (0 already there)" in text and "nothing pending" in text
    names = {r[0] for r in pg_db.query("SELECT file_name FROM force_station.sessions")}
    assert names == {queued.name, result.path.name}


@pytest.mark.gui
def test_an_open_window_pushes_what_was_queued_by_itself(pg_db, clinic_config, tmp_path, qtbot):
    """The window retries the sync on its own timer, on a worker thread: a session queued while
    the store was down reaches it with nobody running `station sync`, and the status bar says so."""
    pytest.importorskip("PySide6")
    pytest.importorskip("pyqtgraph")
    from protocols import get_protocol
    from station.gui.window import MainWindow

    room = tmp_path / "room1"
    queued = write_session(room, "P-9", T1)
    pg_db.server.stop()
    assert not retry_sync(room, timeout_s=1).ok              # type: ignore[union-attr]
    pg_db.server.start()
    p = get_protocol("hip-abduction-hhd")
    w = MainWindow(protocols={p.id: p}, sessions_dir=room, simulate=True, theme="light")
    qtbot.addWidget(w)
    qtbot.waitUntil(lambda: w.sync_runs >= 1, timeout=60_000)   # the retry at start
    assert "pushed 1 session(s)" in w.statusBar().currentMessage()
    assert {r[0] for r in pg_db.query("SELECT file_name FROM force_station.sessions")} == {queued.name}
    runs = w.sync_runs
    w.background_sync()                                      # what the timer calls every few minutes
    qtbot.waitUntil(lambda: w.sync_runs > runs, timeout=60_000)
    assert w.sync_timer.isActive() and _stored(pg_db) == 1
    w.close()
