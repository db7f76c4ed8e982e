"""PostgresStore against a real server: migrations, immutable sessions, algorithm versions,
history queries, least privilege and connection errors."""
from __future__ import annotations

import dataclasses
import uuid

import psycopg
import pytest

from clinic_records import make_record
from station.index.pg_migrations import LATEST
from station.index.postgres import (
    PostgresStore,
    Station,
    StoreError,
    StoreUnreachable,
    connect,
    migrate,
    parse_url,
    schema_version,
)
from station.index.store import ResultsStore, SessionRow, SideRow, TrialRow
import station.index.store as rows
from station.errors import UserError

ROOM1 = Station(str(uuid.uuid4()), "Room 1")


def test_migrations_are_idempotent_and_versioned(pg_db):
    with connect(pg_db.admin_url) as conn:
        assert schema_version(conn) == LATEST
        assert migrate(conn) == []            # the template was migrated: nothing to do
        assert migrate(conn) == []
    rows = pg_db.query("SELECT version FROM force_station.schema_migrations ORDER BY version")
    assert [r[0] for r in rows] == list(range(1, LATEST + 1))


def test_fresh_database_is_migrated_once(pg_server):
    name = f"t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_server.socket_url("postgres", name)
    with connect(url) as conn:
        assert schema_version(conn) is None
        assert [v for v, _ in migrate(conn)] == list(range(1, LATEST + 1))
        assert migrate(conn) == []
        assert schema_version(conn) == LATEST
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_every_interface_field_has_a_column(pg_db):
    """A field added to the row dataclasses needs a new migration: this fails until it has one."""
    cols = {(t, c) for t, c in pg_db.query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'force_station'")}
    for table, cls in (("tests", rows.TestRow), ("sides", SideRow), ("trials", TrialRow)):
        for f in dataclasses.fields(cls):
            if f.name != "session_id":
                assert (table, f.name) in cols, f"force_station.{table} lacks {f.name}"
    for f in dataclasses.fields(SessionRow):
        if f.name not in ("path", "algorithm_version"):
            assert ("sessions", f.name) in cols, f"force_station.sessions lacks {f.name}"


def test_put_get_roundtrip_and_resync_does_not_duplicate(pg_db):
    rec = make_record("P-001")
    with PostgresStore.open(pg_db.url("room1"), station=ROOM1) as store:
        assert isinstance(store, ResultsStore)
        assert store.put_session(rec) is True
        assert store.put_session(rec) is False        # re-sync: nothing written
        got = store.get_session(rec.session.session_id)
    assert got.tests == rec.tests and got.sides == rec.sides and got.trials == rec.trials
    assert dataclasses.replace(got.session, path=rec.session.path) == rec.session
    counts = pg_db.query("SELECT (SELECT count(*) FROM force_station.sessions), "
                         "(SELECT count(*) FROM force_station.trials)")[0]
    assert counts == (1, len(rec.trials))


def test_new_algorithm_version_is_kept_beside_the_old(pg_db):
    old = make_record("P-001", right_n=190.0)
    sid = old.session.session_id
    new = make_record("P-001", session_id=sid, algorithm_version="1.10.0", right_n=200.0)
    newer_text_but_older = make_record("P-001", session_id=sid, algorithm_version="1.9.0", right_n=195.0)
    with PostgresStore.open(pg_db.url(), station=ROOM1) as store:
        store.put_session(old)
        store.put_session(new)
        store.put_session(newer_text_but_older)      # "1.9.0" > "1.10.0" as text, not as a version
        assert [a.algorithm_version for a in store.analyses(sid)] == ["1.0.0", "1.9.0", "1.10.0"]
        current = store.get_session(sid)
        assert current.session.algorithm_version == "1.10.0"
        assert {s.side: s.best_n for s in current.sides} == {"left": 230.0, "right": 200.0}
        first = store.get_session(sid, algorithm_version="1.0.0")
        assert {s.side: s.best_n for s in first.sides} == {"left": 230.0, "right": 190.0}
        hist = store.history("P-001")
        assert [(h.side, h.best_n) for h in hist] == [("left", 230.0), ("right", 200.0)]
        assert len(store.sessions("P-001")) == 1


def test_session_id_reused_for_another_patient_is_refused(pg_db):
    rec = make_record("P-001")
    other = make_record("P-002", session_id=rec.session.session_id, algorithm_version="2.0.0")
    with PostgresStore.open(pg_db.url(), station=ROOM1) as store:
        store.put_session(rec)
        with pytest.raises(StoreError, match="another patient"):
            store.put_session(other)
        assert store.analyses(rec.session.session_id)[-1].algorithm_version == "1.0.0"


def test_history_sessions_patients_and_trials(pg_db):
    a = make_record("P-001", started_utc="2026-03-02T09:00:00.000+00:00", right_n=160.0,
                    protocols=("hip-abduction-hhd", "knee-extension-hhd"))
    b = make_record("P-001", started_utc="2026-05-04T10:15:00.250+00:00", right_n=215.0)
    c = make_record("P-002", started_utc="2026-04-01T08:00:00.000+00:00")
    with PostgresStore.open(pg_db.url(), station=ROOM1) as store:
        for rec in (b, c, a):
            store.put_session(rec)
        assert store.patients() == ["P-001", "P-002"]
        assert [s.session_id for s in store.sessions("P-001")] == [a.session.session_id, b.session.session_id]
        assert store.sessions("P-001")[1].started_utc == "2026-05-04T10:15:00.250+00:00"
        hist = store.history("P-001")
        assert [(h.session_id, h.protocol_id, h.side) for h in hist] == [
            (a.session.session_id, "hip-abduction-hhd", "left"), (a.session.session_id, "hip-abduction-hhd", "right"),
            (a.session.session_id, "knee-extension-hhd", "left"), (a.session.session_id, "knee-extension-hhd", "right"),
            (b.session.session_id, "hip-abduction-hhd", "left"), (b.session.session_id, "hip-abduction-hhd", "right")]
        right = store.history("P-001", protocol_id="hip-abduction-hhd", side="right")
        assert [h.best_n for h in right] == [160.0, 215.0]
        assert right[0].lsi_pct == pytest.approx(160.0 / 230.0 * 100.0)
        trials = store.trials("P-001", protocol_id="knee-extension-hhd")
        assert len(trials) == 6 and {t.session_id for t in trials} == {a.session.session_id}


def test_baseline_label_is_the_one_thing_a_station_may_change(pg_db):
    rec = make_record("P-001")
    sid = rec.session.session_id
    with PostgresStore.open(pg_db.url(), station=ROOM1) as store:
        store.put_session(rec)
        cursor = store.pull_cursor()
        assert store.changed_since(cursor) == []
        store.set_baseline(sid, "pre-operative")
        assert store.changed_since(cursor) == [sid]
        assert store.sessions("P-001")[0].baseline == "pre-operative"
        with pytest.raises(StoreError, match="permission denied"):
            store.remove_session(sid)
        with pytest.raises(StoreError, match="permission denied"):
            store._run(store.conn.execute, "UPDATE force_station.trials SET peak_force_n = 1")
        with pytest.raises(StoreError, match="must be owner"):
            store._run(store.conn.execute, "DROP TABLE force_station.trials")  # must be owner
    assert pg_db.query("SELECT count(*) FROM force_station.trials")[0][0] == len(rec.trials)


def test_store_without_schema_says_run_init(pg_server):
    url = pg_server.socket_url("postgres", "postgres")
    with pytest.raises(StoreError, match=r"no Force Station schema; run `station store init URL`"):
        PostgresStore.open(url)


def test_url_with_a_password_is_refused():
    with pytest.raises(UserError) as err:
        parse_url("postgresql://room1:hunter2@db.clinic.lan/clinic")
    assert "hunter2" not in str(err.value) and "~/.pgpass" in str(err.value)


def test_wrong_password_is_one_line_naming_host_and_database(pg_db, no_pg_env, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "not-the-password-xyz")
    with pytest.raises(StoreError) as err:
        PostgresStore.open(pg_db.tcp_url("room1"))
    msg = str(err.value)
    assert not isinstance(err.value, StoreUnreachable)
    assert "\n" not in msg
    assert f"host 127.0.0.1:{pg_db.server.port}" in msg and f"database {pg_db.name}" in msg
    assert "password authentication failed" in msg
    assert "not-the-password-xyz" not in msg


def test_right_password_over_tcp_from_pgpass(pg_db, no_pg_env, tmp_path, monkeypatch):
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_db.server.port}:{pg_db.name}:room1:pw-room1-secret\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with PostgresStore.open(pg_db.tcp_url("room1")) as store:
        assert store.patients() == []


def test_tls_is_required_unless_the_url_says_otherwise(pg_db, no_pg_env, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "pw-room1-secret")
    plain = pg_db.server.tcp_url("room1", pg_db.name)          # no sslmode: TLS required
    with pytest.raises(StoreError) as err:
        PostgresStore.open(plain)
    assert "SSL" in str(err.value) and "sslmode=disable" in str(err.value)
    assert "pw-room1-secret" not in str(err.value)
    msg = str(err.value)
    assert "\n" not in msg and f"host 127.0.0.1:{pg_db.server.port}" in msg and f"database {pg_db.name}" in msg
    assert not isinstance(err.value, StoreUnreachable)     # a refusal to fix, not a network outage to queue
    monkeypatch.setenv("PGSSLMODE", "disable")               # the environment does not lower it: only the URL
    with pytest.raises(StoreError, match="TLS is required"):
        PostgresStore.open(plain)
    monkeypatch.delenv("PGSSLMODE")
    for mode in ("prefer", "allow"):                         # the URL says otherwise: TLS if the server has it
        with PostgresStore.open(f"{plain}?sslmode={mode}") as store:
            assert store.patients() == []
    with PostgresStore.open(plain + "?sslmode=disable") as store:     # the URL says otherwise
        assert store.patients() == []


def test_server_down_is_unreachable_one_line(no_pg_env):
    with pytest.raises(StoreUnreachable) as err:
        PostgresStore.open("postgresql://room1@127.0.0.1:9/clinic?sslmode=disable", timeout_s=2)
    assert "host 127.0.0.1:9, database clinic" in str(err.value) and "\n" not in str(err.value)
