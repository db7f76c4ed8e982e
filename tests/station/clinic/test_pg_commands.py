"""`station store init|status`, the [clinic] config keys and the sync after a session closes."""
from __future__ import annotations

import uuid

import psycopg
import pytest

from clinic_sessions import write_session
from station.cli import main
from station.errors import UserError
from station.index.clinic_config import clinic_settings
from station.index.clinic_sync import pending_sessions, sync_after_close
from station.index.pg_migrations import LATEST


@pytest.fixture
def fresh_db(pg_server):
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield name
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_store_init_twice_then_status(pg_server, fresh_db, capsys):
    owner = pg_server.socket_url("postgres", fresh_db)
    role = f"room_{uuid.uuid4().hex[:6]}"
    assert main(["store", "init", owner, "--grant", role]) == 0
    out = capsys.readouterr().out
    assert "applied migration 1" in out and f"version {LATEST}" in out and f"created login role {role}" in out
    assert main(["store", "init", owner, "--grant", role]) == 0
    out = capsys.readouterr().out
    assert "nothing to do" in out and "created" not in out
    assert main(["store", "status", "--store", pg_server.socket_url(role, fresh_db)]) == 0
    out = capsys.readouterr().out
    assert f"schema version {LATEST}" in out and "0 sessions" in out and "PostgreSQL 16" in out


def test_store_init_refuses_a_password_in_the_url(capsys):
    assert main(["store", "init", "postgresql://owner:s3cret-pw@db.example/clinic"]) == 2
    err = capsys.readouterr().err
    assert "~/.pgpass" in err and "s3cret-pw" not in err and err.count("\n") == 1


def test_sync_without_a_store_says_how_to_configure_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(tmp_path / "config.toml"))
    (tmp_path / "s").mkdir()
    assert main(["sync", "--dir", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "no clinic store" in err and "config.toml" in err


def test_clinic_config_keys(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[clinic]\nname = "Clinique du Lac"\nstore_url = "postgresql://room1@db/clinic"\n'
                   'shared_folder = "~/share"\nstation_name = "Room 1"\n')
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(cfg))
    s = clinic_settings()
    assert s.store_url == "postgresql://room1@db/clinic" and s.station_name == "Room 1"
    assert s.shared_folder is not None and s.shared_folder.name == "share" and "~" not in str(s.shared_folder)
    cfg.write_text('[clinic]\nstore_url = "postgresql://room1:pw123@db/clinic"\n')
    with pytest.raises(UserError) as err:
        clinic_settings()
    assert str(cfg) in str(err.value) and "pw123" not in str(err.value)


def test_sync_after_close_pushes_and_queues_by_itself(pg_db, tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(cfg))
    room = tmp_path / "room1"
    first = write_session(room, "P-001", "2026-03-02T09:00:00.000+00:00")
    assert sync_after_close(first) == []                     # no store configured: nothing happens
    cfg.write_text('[clinic]\nstore_url = "postgresql://room1@127.0.0.1:9/clinic?sslmode=disable"\n')
    lines = sync_after_close(first, timeout_s=1)               # store down: queued, no exception
    assert "queued" in lines[0] and "1 session(s) pending" in lines[1]
    second = write_session(room, "P-001", "2026-04-02T09:00:00.000+00:00")
    assert len(pending_sessions(room)) == 2
    cfg.write_text(f'[clinic]\nstore_url = "{pg_db.url()}"\n')
    said = []
    lines = sync_after_close(second, say=said.append)        # back: both go, the queued one too
    assert said == lines and "pushed 2 session(s)" in lines[0]
    assert pending_sessions(room) == []
    assert pg_db.query("SELECT count(*) FROM force_station.sessions") == [(2,)]
