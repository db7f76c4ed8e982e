"""The clinic's shared results store on PostgreSQL, behind :class:`~station.index.store.ResultsStore`.

Stations push their closed sessions here and pull everyone else's (:mod:`station.index.clinic_sync`).
What differs from the embedded SQLite index, and why:

- **Sessions are immutable**, keyed by the UUID the recording station wrote into the file.
  :meth:`PostgresStore.put_session` writes a session once; writing it again (a re-sync, two
  stations pushing the same file) changes nothing (``INSERT … ON CONFLICT DO NOTHING``).
- **Results are kept per algorithm version.** A session re-analysed under a new algorithm
  version is written as a new *analysis* beside the old one; history and exports read the
  newest (highest version) analysis of each session; :meth:`PostgresStore.analyses` lists them all.
- **One transaction per session**: a sync cut off mid-way leaves either the whole session or
  nothing of it, and the next sync writes it.
- **Incremental pull**: every session and analysis row records the transaction that wrote it
  (``xid8``). A pull asks for rows written by transactions at or after the oldest transaction
  still running at the previous pull (``pg_snapshot_xmin``), so a transaction that committed late
  is never skipped; re-reading a few rows twice is harmless.

Connections (:func:`connect`): the URL may not hold a password (it lives in ``~/.pgpass`` or
``PGPASSWORD``, never in the config file, the repo or the session files); TLS is required
(``sslmode=require``) unless the URL sets ``sslmode``; every failure is a one-line
:class:`StoreError` naming the host and database, never the password.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from station.errors import ClinicStoreError
from station.index.pg_migrations import BOOKKEEPING, LATEST, MIGRATIONS, SCHEMA
from station.index.store import (
    HistoryRow,
    SessionRecord,
    SessionRow,
    SideRow,
    TestRow,
    TrialRow,
)

T = TypeVar("T")
S = SCHEMA
ISO = "YYYY-MM-DD\"T\"HH24:MI:SS.MS\"+00:00\""
CONNECT_TIMEOUT_S = 5


class StoreError(ClinicStoreError):
    """The results store could not be used (one line: host, database, reason)."""


class StoreUnreachable(StoreError):
    """The server could not be reached (network, server down): sessions stay queued."""


# -- connections ----------------------------------------------------------------------------
def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        raise ClinicStoreError("the clinic store needs psycopg: pip install 'psycopg[binary]'") from None
    return psycopg


def parse_url(url: str) -> dict[str, str]:
    """The URL's connection parameters; :class:`~station.errors.ClinicStoreError` for a malformed URL or one that
    holds a password."""
    psycopg = _psycopg()
    if not re.match(r"^postgres(ql)?://", url or ""):
        raise ClinicStoreError(f"store URL must start with postgresql:// (got {redact(url)!r})")
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ClinicStoreError(f"bad store URL {redact(url)!r}: {str(exc).splitlines()[0]}") from None
    if params.get("password"):
        raise ClinicStoreError(f"store URL {redact(url)!r} holds a password: put it in ~/.pgpass or the "
                        f"PGPASSWORD environment variable instead, never in a URL or config file")
    return {k: str(v) for k, v in params.items()}


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    url = re.sub(r"(://[^:/@?#]*):[^@/?#]*@", r"\1:***@", url or "")
    return re.sub(r"(?i)(password=)[^&\s]*", r"\1***", url)


def describe(params: dict[str, str]) -> str:
    """``host HOST, database DB`` as libpq would resolve them (defaults included)."""
    import os
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    user = params.get("user") or os.environ.get("PGUSER") or _login()
    dbname = params.get("dbname") or os.environ.get("PGDATABASE") or user
    if host.startswith("/"):
        where = f"socket {host}"
    else:
        where = f"host {host}:{port}"
    return f"{where}, database {dbname}"


def _login() -> str:
    import getpass
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def _reason(exc: BaseException) -> tuple[str, bool]:
    """A one-line reason from a libpq error, and whether the server was unreachable (as opposed
    to refusing us: credentials, missing database or role, TLS)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    failed = [ln for ln in lines if "FATAL:" in ln or "failed:" in ln or "fe_sendauth" in ln]
    line = failed[-1] if failed else (lines[0] if lines else type(exc).__name__)
    line = re.sub(r"^.*?failed:\s*", "", line)
    line = re.sub(r"^(FATAL|ERROR):\s*", "", line).strip()
    low = line.lower()
    if "ssl" in low and "not support" in low:
        return line + " (TLS is required: add sslmode=disable to the URL only on a trusted network)", False
    refused = ("authentication failed", "no password supplied", "does not exist", "pg_hba.conf",
               "permission denied", "password")
    if any(p in low for p in refused):
        return line, False
    return f"cannot reach the server ({line})", True


def connect(url: str, *, autocommit: bool = True, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A psycopg connection to the store at ``url``. TLS required unless the URL sets ``sslmode``.

    Raises :class:`StoreUnreachable` (server down, network gone) or :class:`StoreError` (wrong
    credentials, no such database, TLS refused), one line naming the host and database."""
    psycopg = _psycopg()
    params = parse_url(url)
    kwargs: dict[str, Any] = {"connect_timeout": max(1, int(round(timeout_s))),
                              "application_name": "force-station"}
    if "sslmode" not in params:
        kwargs["sslmode"] = "require"
    try:
        conn = psycopg.connect(url, autocommit=autocommit, **kwargs)
    except psycopg.Error as exc:
        reason, unreachable = _reason(exc)
        cls = StoreUnreachable if unreachable else StoreError
        raise cls(f"results store ({describe(params)}): {reason}") from None
    conn.info_text = describe(params)  # type: ignore[attr-defined]
    return conn


def wrap_error(exc: BaseException, where: str) -> StoreError:
    """A psycopg error raised mid-work as a one-line :class:`StoreError`/:class:`StoreUnreachable`."""
    psycopg = _psycopg()
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
            exc, psycopg.errors.InsufficientPrivilege):
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreUnreachable(f"results store ({where}): connection lost ({reason})")
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return StoreError(f"results store ({where}): {str(exc).splitlines()[0]} "
                          f"(the station's role lacks this privilege; see docs/clinic-network.md)")
    return StoreError(f"results store ({where}): {str(exc).strip().splitlines()[0]}")


# -- migrations -----------------------------------------------------------------------------
def schema_version(conn: Any) -> int | None:
    """The highest applied migration, or None when the database has no Force Station schema."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{S}.schema_migrations",)).fetchone()
    if row[0] is None:
        return None
    return conn.execute(f"SELECT max(version) FROM {S}.schema_migrations").fetchone()[0]


def migrate(conn: Any) -> list[tuple[int, str]]:
    """Apply the migrations this database lacks, in one transaction under an advisory lock
    (so two stations running ``store init`` at once do it once). Returns those applied."""
    applied_now: list[tuple[int, str]] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('force_station.migrate'))")
        conn.execute(BOOKKEEPING)
        done = {r[0] for r in conn.execute(f"SELECT version FROM {S}.schema_migrations")}
        newest = max(done, default=0)
        if newest > LATEST:
            raise StoreError(f"results store schema version {newest} is newer than this station knows "
                             f"({LATEST}); update Force Station")
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            conn.execute(sql)
            conn.execute(f"INSERT INTO {S}.schema_migrations (version, name) VALUES (%s, %s)", (version, name))
            applied_now.append((version, name))
    return applied_now


# -- rows -----------------------------------------------------------------------------------
def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def version_key(version: str | None) -> list[int]:
    """``"1.10.2"`` → ``[1, 10, 2]``: algorithm versions ordered numerically (non-numbers → 0)."""
    out = []
    for part in re.split(r"[.\-+]", version or "0"):
        m = re.match(r"\d+", part)
        out.append(int(m.group()) if m else 0)
    return out[:6] or [0]


@dataclass(frozen=True)
class Station:
    """This station in the clinic store."""

    station_id: str   # UUID
    name: str


@dataclass(frozen=True)
class FileInfo:
    """The session file a record was read from (the store keeps its checksum, not its samples)."""

    name: str
    sha256: str
    size_bytes: int
    shared_path: str | None = None   # relative to the clinic's shared folder, if copied there


@dataclass(frozen=True)
class CalibrationUse:
    """One device channel's calibration in a session (no operator names or notes)."""

    device: str
    channel: int
    record_id: str | None
    state: str | None = None
    applied: bool | None = None
    device_serial: str | None = None
    model: str | None = None
    source: str | None = None
    load_unit: str | None = None
    calibrated_utc: str | None = None
    expires_utc: str | None = None
    coefficients: Any = None
    offset_counts: float | None = None


@dataclass(frozen=True)
class Analysis:
    algorithm_version: str
    created_utc: str
    analysed_by: str | None


_SESSION_SELECT = f"""
    s.session_id::text, s.patient_id, to_char(s.started_utc AT TIME ZONE 'UTC', '{ISO}'),
    COALESCE(s.shared_path, st.name || ':' || s.file_name, s.file_name, ''), s.status, s.station_version,
    a.algorithm_version, s.body_mass_kg, s.involved_side, s.baseline,
    to_char(s.closed_utc AT TIME ZONE 'UTC', '{ISO}')
"""

# the newest analysis of each session
_NEWEST = f"""LATERAL (SELECT a1.analysis_id, a1.algorithm_version FROM {S}.analyses a1
                        WHERE a1.session_id = s.session_id
                        ORDER BY a1.version_key DESC, a1.analysis_id DESC LIMIT 1) a"""


class PostgresStore:
    """:class:`~station.index.store.ResultsStore` on the clinic's PostgreSQL database.

    ``station``: who writes (recorded with each session pushed). Open with :meth:`open`."""

    def __init__(self, conn: Any, *, station: Station | None = None, where: str = "") -> None:
        self.conn = conn
        self.station = station
        self.where = where or getattr(conn, "info_text", "")

    @classmethod
    def open(cls, url: str, *, station: Station | None = None, timeout_s: float = CONNECT_TIMEOUT_S,
             ) -> PostgresStore:
        """Connect and check the schema (:class:`StoreError` if it is missing or too new)."""
        conn = connect(url, timeout_s=timeout_s)
        store = cls(conn, station=station)
        try:
            version = schema_version(conn)
        except _psycopg().Error as exc:
            conn.close()
            raise store._err(exc) from None
        if version is None:
            conn.close()
            raise StoreError(f"results store ({store.where}): no Force Station schema; "
                             f"run `station store init URL` with the database owner's role first")
        if version > LATEST:
            conn.close()
            raise StoreError(f"results store ({store.where}): schema version {version} is newer than this "
                             f"station knows ({LATEST}); update Force Station")
        return store

    def _err(self, exc: BaseException) -> StoreError:
        return exc if isinstance(exc, StoreError) else wrap_error(exc, self.where)

    def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        psycopg = _psycopg()
        try:
            return fn(*args, **kwargs)
        except psycopg.Error as exc:
            raise self._err(exc) from None

    # -- writes -----------------------------------------------------------------------------
    def register_station(self, station: Station | None = None) -> None:
        station = station or self.station
        if station is None:
            return
        self._run(self.conn.execute,
                  f"""INSERT INTO {S}.stations (station_id, name, last_sync_utc) VALUES (%s, %s, now())
                      ON CONFLICT (station_id) DO UPDATE SET name = EXCLUDED.name, last_sync_utc = now()""",
                  (station.station_id, station.name))

    def put_session(self, record: SessionRecord, *, file: FileInfo | None = None,
                    calibrations: Sequence[CalibrationUse] = (), before_commit: Any = None) -> bool:
        """Write a session and its results in one transaction. Returns True if anything was
        written, False if the store already had this session under this algorithm version
        (a re-sync). A new algorithm version of a known session is added beside the old one.

        ``before_commit(session_id)`` is called inside the transaction after every row is
        written (progress reporting; the tests cut the server off there)."""
        psycopg = _psycopg()
        calibrations = sorted(calibrations, key=lambda c: (c.record_id or "", c.device, c.channel))
        for attempt in range(3):   # rows are locked in one order; a deadlock can still come from outside
            try:
                return bool(self._put(record, file, calibrations, before_commit))
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == 2:
                    raise self._err(StoreError(f"results store ({self.where}): session "
                                               f"{record.session.session_id} kept conflicting; try again")) from None
            except psycopg.Error as exc:
                raise self._err(exc) from None
        return False

    def _put(self, record: SessionRecord, file: FileInfo | None, calibrations: Sequence[CalibrationUse],
             before_commit: Any) -> bool:
        s = record.session
        station_id = self.station.station_id if self.station else None
        version = s.algorithm_version or "unknown"
        with self.conn.transaction():
            cur = self.conn.cursor()
            if self.station is not None:
                cur.execute(f"""INSERT INTO {S}.stations (station_id, name) VALUES (%s, %s)
                                ON CONFLICT (station_id) DO NOTHING""", (station_id, self.station.name))
            cur.execute(f"INSERT INTO {S}.patients (patient_id) VALUES (%s) ON CONFLICT DO NOTHING",
                        (s.patient_id,))
            cur.execute(
                f"""INSERT INTO {S}.sessions (session_id, patient_id, station_id, started_utc, closed_utc, status,
                        station_version, body_mass_kg, involved_side, baseline, file_name, file_sha256,
                        file_size_bytes, shared_path)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (session_id) DO NOTHING""",
                (s.session_id, s.patient_id, station_id, s.started_utc, s.closed_utc, s.status,
                 s.station_version, s.body_mass_kg, s.involved_side, s.baseline,
                 file.name if file else None, file.sha256 if file else None,
                 file.size_bytes if file else None, file.shared_path if file else None))
            new_session = cur.rowcount == 1
            if not new_session:
                owner = cur.execute(f"SELECT patient_id FROM {S}.sessions WHERE session_id = %s",
                                    (s.session_id,)).fetchone()
                if owner and owner[0] != s.patient_id:
                    raise StoreError(f"results store ({self.where}): session {s.session_id} is already "
                                     f"stored for another patient; not overwritten")
            cur.execute(
                f"""INSERT INTO {S}.analyses (session_id, algorithm_version, version_key, analysed_by)
                    VALUES (%s, %s, %s, %s) ON CONFLICT (session_id, algorithm_version) DO NOTHING
                    RETURNING analysis_id""",
                (s.session_id, version, version_key(version), station_id))
            row = cur.fetchone()
            if row is None:           # this session under this algorithm version is already stored
                return new_session
            analysis_id = row[0]
            self._insert(cur, "tests", TestRow, analysis_id, record.tests)
            self._insert(cur, "sides", SideRow, analysis_id, record.sides)
            self._insert(cur, "trials", TrialRow, analysis_id, record.trials)
            if new_session and calibrations:
                for c in calibrations:      # sorted by record id: concurrent sessions lock in one order
                    if c.record_id:
                        cur.execute(
                            f"""INSERT INTO {S}.calibrations (record_id, device_serial, channel, model, source,
                                    load_unit, calibrated_utc, expires_utc, coefficients, offset_counts)
                                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                            (c.record_id, c.device_serial, c.channel, c.model, c.source, c.load_unit,
                             c.calibrated_utc, c.expires_utc, _jsonb(c.coefficients), c.offset_counts))
                cur.executemany(
                    f"""INSERT INTO {S}.session_calibrations (session_id, device, channel, record_id, state, applied)
                        VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                    [(s.session_id, c.device, c.channel, c.record_id, c.state, c.applied) for c in calibrations])
            if before_commit is not None:
                before_commit(s.session_id)
        return True

    @staticmethod
    def _insert(cur: Any, table: str, cls: type, analysis_id: int, rows: Iterable[Any]) -> None:
        cols = [c for c in _fields(cls) if c != "session_id"]
        rows = list(rows)
        if not rows:
            return
        with cur.copy(f"COPY {S}.{table} (analysis_id, {', '.join(cols)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row((analysis_id, *(getattr(r, c) for c in cols)))

    def remove_session(self, session_id: str) -> None:
        """Delete a session and its results. Needs the store owner's role: stations cannot delete."""
        self._run(self.conn.execute, f"DELETE FROM {S}.sessions WHERE session_id = %s", (session_id,))

    def set_baseline(self, session_id: str, label: str | None) -> None:
        self._run(self.conn.execute,
                  f"""UPDATE {S}.sessions SET baseline = %s, changed_xid = pg_current_xact_id()
                      WHERE session_id = %s AND baseline IS DISTINCT FROM %s""",
                  (label, session_id, label))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads ------------------------------------------------------------------------------
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._run(lambda: self.conn.execute(sql, params).fetchall())

    def get_session(self, session_id: str, algorithm_version: str | None = None) -> SessionRecord | None:
        """One session with the results of its newest analysis (or of ``algorithm_version``)."""
        records = self.get_sessions([session_id], algorithm_version=algorithm_version)
        return records[0] if records else None

    def get_sessions(self, session_ids: Sequence[str], algorithm_version: str | None = None,
                     ) -> list[SessionRecord]:
        """Several sessions at once (four queries whatever their number), oldest first."""
        if not session_ids:
            return []
        ids = list(session_ids)
        if algorithm_version is None:
            analysis = _NEWEST
            params: tuple[Any, ...] = (ids,)
        else:
            analysis = f"""LATERAL (SELECT a1.analysis_id, a1.algorithm_version FROM {S}.analyses a1
                           WHERE a1.session_id = s.session_id AND a1.algorithm_version = %s) a"""
            params = (algorithm_version, ids)
        heads = self._rows(
            f"""SELECT a.analysis_id, {_SESSION_SELECT}
                FROM {S}.sessions s LEFT JOIN {S}.stations st USING (station_id) JOIN {analysis} ON true
                WHERE s.session_id = ANY(%s::uuid[]) ORDER BY s.started_utc, s.session_id""", params)
        if not heads:
            return []
        by_analysis = {h[0]: SessionRow(*h[1:]) for h in heads}
        aids = list(by_analysis)
        parts: dict[str, dict[int, list[Any]]] = {}
        for table, cls, order in (("tests", TestRow, "test"), ("sides", SideRow, "test, side"),
                                  ("trials", TrialRow, "test, trial, side")):
            cols = [c for c in _fields(cls) if c != "session_id"]
            got: dict[int, list[Any]] = {}
            for row in self._rows(f"SELECT analysis_id, {', '.join(cols)} FROM {S}.{table} "
                                  f"WHERE analysis_id = ANY(%s) ORDER BY analysis_id, {order}", (aids,)):
                sid = by_analysis[row[0]].session_id
                got.setdefault(row[0], []).append(cls(sid, *row[1:]))
            parts[table] = got
        return [SessionRecord(head, tuple(parts["tests"].get(aid, ())), tuple(parts["sides"].get(aid, ())),
                              tuple(parts["trials"].get(aid, ())))
                for aid, head in by_analysis.items()]

    def analyses(self, session_id: str) -> list[Analysis]:
        """Every algorithm version a session was analysed under, oldest version first."""
        return [Analysis(*r) for r in self._rows(
            f"""SELECT algorithm_version, to_char(created_utc AT TIME ZONE 'UTC', '{ISO}'), analysed_by::text
                FROM {S}.analyses WHERE session_id = %s ORDER BY version_key, analysis_id""", (session_id,))]

    def sessions(self, patient_id: str | None = None) -> list[SessionRow]:
        where, params = ("WHERE s.patient_id = %s", (patient_id,)) if patient_id is not None else ("", ())
        return [SessionRow(*r) for r in self._rows(
            f"""SELECT {_SESSION_SELECT} FROM {S}.sessions s LEFT JOIN {S}.stations st USING (station_id)
                JOIN {_NEWEST} ON true {where} ORDER BY s.started_utc, s.session_id""", params)]

    def patients(self) -> list[str]:
        return [r[0] for r in self._rows(
            f"SELECT patient_id FROM {S}.patients p WHERE EXISTS "
            f"(SELECT 1 FROM {S}.sessions s WHERE s.patient_id = p.patient_id) ORDER BY patient_id")]

    def history(self, patient_id: str, protocol_id: str | None = None, side: str | None = None,
                ) -> list[HistoryRow]:
        sql = f"""
            SELECT s.session_id::text, to_char(s.started_utc AT TIME ZONE 'UTC', '{ISO}'), s.baseline,
                   s.body_mass_kg, s.involved_side, t.test, t.protocol_id, t.kind, d.side, d.best_n,
                   d.best_n_per_kg, d.best_torque_nm, d.best_torque_nm_per_kg, d.n_reps, t.lsi_pct,
                   d.pain_max_0_10
            FROM {S}.sessions s JOIN {_NEWEST} ON true
            JOIN {S}.tests t ON t.analysis_id = a.analysis_id
            JOIN {S}.sides d ON d.analysis_id = t.analysis_id AND d.test = t.test
            WHERE s.patient_id = %s AND t.status = 'complete'
              AND (%s::text IS NULL OR t.protocol_id = %s) AND (%s::text IS NULL OR d.side = %s)
            ORDER BY s.started_utc, s.session_id, t.test, d.side"""
        return [HistoryRow(*r) for r in self._rows(sql, (patient_id, protocol_id, protocol_id, side, side))]

    def trials(self, patient_id: str, protocol_id: str | None = None, side: str | None = None,
               ) -> list[TrialRow]:
        cols = [c for c in _fields(TrialRow) if c != "session_id"]
        sql = f"""
            SELECT s.session_id::text, {', '.join('r.' + c for c in cols)}
            FROM {S}.sessions s JOIN {_NEWEST} ON true
            JOIN {S}.trials r ON r.analysis_id = a.analysis_id
            JOIN {S}.tests t ON t.analysis_id = r.analysis_id AND t.test = r.test
            WHERE s.patient_id = %s AND (%s::text IS NULL OR t.protocol_id = %s)
              AND (%s::text IS NULL OR r.side = %s)
            ORDER BY s.started_utc, s.session_id, r.test, r.trial, r.side"""
        return [TrialRow(*r) for r in self._rows(sql, (patient_id, protocol_id, protocol_id, side, side))]

    # -- sync support -----------------------------------------------------------------------
    def pull_cursor(self) -> int:
        """A cursor for the next :meth:`changed_since`: the oldest transaction still running now."""
        return int(self._rows("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")[0][0])

    def changed_since(self, cursor: int | None, *, exclude_station: str | None = None) -> list[str]:
        """Ids of sessions written, re-analysed or re-labelled by transactions at or after
        ``cursor`` (every session when None), other than ``exclude_station``'s own."""
        cursor_s = str(cursor if cursor is not None else 0)
        return [r[0] for r in self._rows(
            f"""SELECT s.session_id::text FROM {S}.sessions s
                WHERE s.session_id IN (
                    SELECT session_id FROM {S}.sessions WHERE changed_xid >= %s::xid8
                    UNION SELECT session_id FROM {S}.analyses WHERE created_xid >= %s::xid8)
                  AND (%s::uuid IS NULL OR s.station_id IS DISTINCT FROM %s::uuid)
                ORDER BY s.started_utc, s.session_id""",
            (cursor_s, cursor_s, exclude_station, exclude_station))]

    def server_version(self) -> str:
        return str(self._rows("SHOW server_version")[0][0])

    def store_id(self) -> str:
        """The store's own UUID (made by its first migration)."""
        return str(self._rows(f"SELECT store_id::text FROM {S}.store_info")[0][0])

    def session_baseline(self, session_id: str) -> tuple[bool, str | None]:
        """(known, baseline label) of a stored session."""
        rows = self._rows(f"SELECT baseline FROM {S}.sessions WHERE session_id = %s", (session_id,))
        return (True, rows[0][0]) if rows else (False, None)

    def has_analysis(self, session_id: str, algorithm_version: str) -> bool:
        return bool(self._rows(f"SELECT 1 FROM {S}.analyses WHERE session_id = %s AND algorithm_version = %s",
                               (session_id, algorithm_version)))

    def counts(self) -> dict[str, int]:
        out = {}
        for table in ("stations", "patients", "sessions", "analyses", "tests", "sides", "trials"):
            out[table] = int(self._rows(f"SELECT count(*) FROM {S}.{table}")[0][0])
        return out


def _jsonb(value: Any) -> Any:
    if value is None:
        return None
    from psycopg.types.json import Jsonb
    return Jsonb(value)
