"""The embedded results index: one SQLite file beside the session files.

Tables mirror the row dataclasses of :mod:`station.index.store` column for column (the DDL is
generated from them, so the two cannot drift). Every write is one transaction; readers never
block the station (WAL journal). The index is a cache of the files: delete it and
``station index rebuild DIR`` recreates it.
"""
from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from station.errors import StorageError
from station.index.store import (
    SCHEMA_VERSION,
    HistoryRow,
    SessionRecord,
    SessionRow,
    SideRow,
    TestRow,
    TrialRow,
)

#: File name of the index inside a session directory.
INDEX_NAME = "station-index.sqlite3"

T = TypeVar("T")

_TABLES: dict[str, tuple[type, tuple[str, ...]]] = {
    "sessions": (SessionRow, ("session_id",)),
    "tests": (TestRow, ("session_id", "test")),
    "sides": (SideRow, ("session_id", "test", "side")),
    "trials": (TrialRow, ("session_id", "test", "trial", "side")),
}


def _sql_type(annotation: Any) -> str:
    text = str(annotation)
    if "bool" in text or "int" in text:
        return "INTEGER"
    if "float" in text:
        return "REAL"
    return "TEXT"


def _ddl() -> list[str]:
    out = ["CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"]
    for table, (cls, key) in _TABLES.items():
        cols = ", ".join(f"{f.name} {_sql_type(f.type)}" for f in dataclasses.fields(cls))
        ref = "" if table == "sessions" else \
            ", FOREIGN KEY (session_id) REFERENCES sessions(session_id) ON DELETE CASCADE"
        out.append(f"CREATE TABLE IF NOT EXISTS {table} ({cols}, PRIMARY KEY ({', '.join(key)}){ref})")
    out.append("CREATE INDEX IF NOT EXISTS sessions_patient ON sessions (patient_id, started_utc)")
    return out


def _columns(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _bools(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if "bool" in str(f.type)}


def _row(cls: type[T], values: sqlite3.Row) -> T:
    data = dict(values)
    for name in _bools(cls):
        if data.get(name) is not None:
            data[name] = bool(data[name])
    return cls(**{k: data[k] for k in _columns(cls)})


class SqliteStore:
    """:class:`~station.index.store.ResultsStore` on one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"{self.path}: cannot open the results index ({exc})") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            with self._db:
                for stmt in _ddl():
                    self._db.execute(stmt)
                found = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                if found is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif int(found[0]) > SCHEMA_VERSION:
                    raise StorageError(f"{self.path}: results index schema {found[0]} is newer than this station "
                                    f"reads ({SCHEMA_VERSION}); update Force Station")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StorageError(f"{self.path}: damaged results index ({exc}); "
                            f"delete it and run `station index rebuild {self.path.parent}`") from None

    @classmethod
    def beside(cls, session_dir: str | Path) -> SqliteStore:
        """The index of the session files in ``session_dir``."""
        return cls(Path(session_dir) / INDEX_NAME)

    # -- writes ------------------------------------------------------------------------
    def put_session(self, record: SessionRecord) -> None:
        with self._db:
            self._db.execute("DELETE FROM sessions WHERE session_id = ?", (record.session.session_id,))
            self._insert("sessions", [record.session])
            self._insert("tests", record.tests)
            self._insert("sides", record.sides)
            self._insert("trials", record.trials)

    def put_sessions(self, records: Sequence[SessionRecord]) -> None:
        """:meth:`put_session` for many sessions in one transaction (a station's first pull of a
        whole clinic): all or none of them."""
        with self._db:
            self._db.executemany("DELETE FROM sessions WHERE session_id = ?",
                                 [(r.session.session_id,) for r in records])
            self._insert("sessions", [r.session for r in records])
            self._insert("tests", [t for r in records for t in r.tests])
            self._insert("sides", [s for r in records for s in r.sides])
            self._insert("trials", [t for r in records for t in r.trials])

    def _insert(self, table: str, rows: Iterable[Any]) -> None:
        cls = _TABLES[table][0]
        cols = _columns(cls)
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        self._db.executemany(sql, [tuple(getattr(r, c) for c in cols) for r in rows])

    def remove_session(self, session_id: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))

    def set_baseline(self, session_id: str, label: str | None) -> None:
        with self._db:
            self._db.execute("UPDATE sessions SET baseline = ? WHERE session_id = ?", (label, session_id))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads -------------------------------------------------------------------------
    def _select(self, cls: type[T], sql: str, params: tuple[Any, ...] = ()) -> list[T]:
        return [_row(cls, r) for r in self._db.execute(sql, params)]

    def get_session(self, session_id: str) -> SessionRecord | None:
        found = self._select(SessionRow, "SELECT * FROM sessions WHERE session_id = ?", (session_id,))
        if not found:
            return None
        p = (session_id,)
        return SessionRecord(
            found[0],
            tuple(self._select(TestRow, "SELECT * FROM tests WHERE session_id = ? ORDER BY test", p)),
            tuple(self._select(SideRow, "SELECT * FROM sides WHERE session_id = ? ORDER BY test, side", p)),
            tuple(self._select(TrialRow, "SELECT * FROM trials WHERE session_id = ? ORDER BY test, trial, side", p)))

    def sessions(self, patient_id: str | None = None) -> list[SessionRow]:
        where, params = ("WHERE patient_id = ?", (patient_id,)) if patient_id is not None else ("", ())
        return self._select(SessionRow, f"SELECT * FROM sessions {where} ORDER BY started_utc, session_id", params)

    def patients(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT patient_id FROM sessions ORDER BY patient_id")]

    def history(self, patient_id: str, protocol_id: str | None = None, side: str | None = None) -> list[HistoryRow]:
        sql = """SELECT s.session_id, s.started_utc, s.baseline, s.body_mass_kg, s.involved_side,
                        t.test, t.protocol_id, t.kind, d.side, d.best_n, d.best_n_per_kg, d.best_torque_nm,
                        d.best_torque_nm_per_kg, d.n_reps, t.lsi_pct, d.pain_max_0_10
                 FROM sessions s JOIN tests t ON t.session_id = s.session_id
                      JOIN sides d ON d.session_id = t.session_id AND d.test = t.test
                 WHERE s.patient_id = ? AND t.status = 'complete'"""
        params: list[Any] = [patient_id]
        if protocol_id is not None:
            sql += " AND t.protocol_id = ?"
            params.append(protocol_id)
        if side is not None:
            sql += " AND d.side = ?"
            params.append(side)
        sql += " ORDER BY s.started_utc, s.session_id, t.test, d.side"
        return self._select(HistoryRow, sql, tuple(params))

    def trials(self, patient_id: str, protocol_id: str | None = None, side: str | None = None) -> list[TrialRow]:
        sql = """SELECT r.* FROM trials r JOIN sessions s ON s.session_id = r.session_id
                 JOIN tests t ON t.session_id = r.session_id AND t.test = r.test WHERE s.patient_id = ?"""
        params: list[Any] = [patient_id]
        if protocol_id is not None:
            sql += " AND t.protocol_id = ?"
            params.append(protocol_id)
        if side is not None:
            sql += " AND r.side = ?"
            params.append(side)
        sql += " ORDER BY s.started_utc, s.session_id, r.test, r.trial, r.side"
        return self._select(TrialRow, sql, tuple(params))

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table, sorted: two indexes hold the same data iff equal dumps."""
        out = {}
        for table, (cls, key) in _TABLES.items():
            cols = ", ".join(_columns(cls))
            out[table] = [tuple(r) for r in self._db.execute(f"SELECT {cols} FROM {table} ORDER BY {', '.join(key)}")]
        return out
