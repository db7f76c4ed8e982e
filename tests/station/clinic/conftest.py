"""A real PostgreSQL server for the clinic-store tests, started once per test run.

The server comes from the ``pgserver`` package's binaries (:mod:`station.index.pg_local`):
Unix socket plus TCP on 127.0.0.1 with SCRAM passwords. As root (CI) it runs as an
unprivileged user. Each test gets a fresh database cloned from a migrated template, and two
least-privilege station roles (members of ``force_station_sync``) exist for the whole run.
"""
from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import psycopg

from station.index.pg_local import LocalPostgres
from station.index.postgres import migrate

TEMPLATE = "fs_template"
#: station login roles and their passwords (test-only secrets, handed over via PGPASSWORD)
STATION_ROLES = {"room1": "pw-room1-secret", "room2": "pw-room2-secret"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    base = Path(tempfile.mkdtemp(prefix="fs-pg-"))
    base.chmod(0o711)                     # the server user (when we are root) must enter it
    server = LocalPostgres(base / "data", tcp=True).start()
    try:
        with psycopg.connect(server.admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        with psycopg.connect(server.socket_url("postgres", TEMPLATE), autocommit=True) as conn:
            migrate(conn)
            for role, password in STATION_ROLES.items():
                conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}' IN ROLE force_station_sync")
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@dataclass
class Db:
    server: LocalPostgres
    name: str

    @property
    def admin_url(self) -> str:
        return self.server.socket_url("postgres", self.name)

    def url(self, role: str = "room1") -> str:
        """A station's URL over the local socket (no TLS on a socket; trusted locally)."""
        return self.server.socket_url(role, self.name)

    def tcp_url(self, role: str = "room1") -> str:
        """A station's URL over TCP (password required; the URL says sslmode=disable since
        the test server has no TLS)."""
        return self.server.tcp_url(role, self.name) + "?sslmode=disable"

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()


@pytest.fixture
def pg_db(pg_server: LocalPostgres) -> Iterator[Db]:
    """A fresh, migrated database for one test."""
    if pg_server.pid is None:             # a test killed it
        pg_server.start()
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield Db(pg_server, name)
    if pg_server.pid is None:
        pg_server.start()
    with psycopg.connect(pg_server.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def no_pg_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No password or service from the developer's environment leaks into a test."""
    for var in ("PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGHOST", "PGUSER", "PGDATABASE", "PGSSLMODE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
