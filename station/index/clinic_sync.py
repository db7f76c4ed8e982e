"""Offline-first sync between one station's session folder and the clinic's PostgreSQL store.

``sync(session_dir, url)``:

1. **Push.** Every closed session file in ``session_dir`` that this station has not pushed to
   this store yet (the files are the queue: nothing can be lost from it) is written to the
   store, one transaction per session: a sync cut off mid-way leaves no half-written session,
   and the next sync writes the rest. Optionally the file is first copied to the clinic's
   shared folder; the store keeps its SHA-256 either way. Pushed sessions also go into the
   station's own SQLite index.
2. **Pull.** Sessions the other stations pushed (or re-analysed, or marked as baseline) since
   the last pull are copied into the station's SQLite index, so ``station history`` shows
   every session of a patient, and keeps showing them while the store is unreachable.

With the store unreachable nothing fails: sessions run and are indexed as usual, and the
report says how many are pending. The queue drains by itself once the network is back: the
station retries (:func:`retry_sync`, in a :class:`BackgroundSync` thread, short timeout) at the
start of each ``station session run`` and after each session closes; a window may call
:func:`retry_sync` periodically on a worker thread. :func:`sync_status` says what is pending
and how the last attempt went, without the network (``station sync --status``).

What the station remembers lives in ``.station-sync.sqlite3`` beside the session files: its
own UUID and name, which files it pushed to which store (by store UUID, so a recreated
database gets everything again), which sessions it pulled, and the pull cursor.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from station.errors import StationError, StorageError
from station.index.postgres import (
    CalibrationUse,
    FileInfo,
    PostgresStore,
    Station,
    StoreError,
    StoreUnreachable,
)
from station.index.store import SessionRecord

log = logging.getLogger(__name__)

STATE_NAME = ".station-sync.sqlite3"
PULL_BATCH = 500
FINAL_STATUSES = ("complete", "aborted", "interrupted")

Event = Callable[[str, str], None]   # (kind, text): "pushed", "pulled", "skipped", "pending", …


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


# -- the station's own sync state ----------------------------------------------------------
class SyncState:
    """The small SQLite file beside the sessions that remembers what was synced where."""

    def __init__(self, session_dir: Path) -> None:
        self.path = Path(session_dir) / STATE_NAME
        try:
            self.db = sqlite3.connect(self.path, timeout=10.0)
            with self.db:
                self.db.executescript("""
                    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE IF NOT EXISTS pushed (
                        store_id TEXT NOT NULL, file TEXT NOT NULL, size INTEGER NOT NULL,
                        mtime_ns INTEGER NOT NULL, session_id TEXT, algorithm_version TEXT, sha256 TEXT,
                        outcome TEXT NOT NULL, at_utc TEXT NOT NULL, PRIMARY KEY (store_id, file));
                    CREATE TABLE IF NOT EXISTS pulled (
                        store_id TEXT NOT NULL, session_id TEXT NOT NULL, at_utc TEXT NOT NULL,
                        PRIMARY KEY (store_id, session_id));
                """)
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path}: cannot open the sync state ({exc})") from None

    def close(self) -> None:
        self.db.close()

    def get(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str | None) -> None:
        with self.db:
            if value is None:
                self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def station(self, name: str | None = None) -> Station:
        """This station: a UUID made once per session folder, and a display name (given, else
        the last one given, else ``<host name>/<session folder name>``)."""
        sid = self.get("station_id")
        if sid is None:
            sid = str(uuid.uuid4())
            self.set("station_id", sid)
        wanted = name or self.get("station_name") or \
            f"{socket.gethostname() or 'station'}/{self.path.parent.resolve().name}"
        if self.get("station_name") != wanted:
            self.set("station_name", wanted)
        return Station(sid, wanted)

    def last_store(self) -> str | None:
        return self.get("last_store_id")

    def done(self, store_id: str, path: Path, st: os.stat_result) -> bool:
        row = self.db.execute("SELECT size, mtime_ns FROM pushed WHERE store_id = ? AND file = ?",
                              (store_id, path.name)).fetchone()
        return row is not None and row[0] == st.st_size and row[1] == st.st_mtime_ns

    def mark(self, store_id: str, path: Path, st: os.stat_result, outcome: str, record: SessionRecord | None = None,
             sha256: str | None = None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO pushed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (store_id, path.name, st.st_size, st.st_mtime_ns,
                             record.session.session_id if record else None,
                             record.session.algorithm_version if record else None, sha256, outcome, _now()))

    def mark_pulled(self, store_id: str, session_ids: list[str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO pulled VALUES (?, ?, ?)",
                                [(store_id, sid, _now()) for sid in session_ids])


# -- reading a session file for the store ----------------------------------------------------
def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def calibrations_used(path: Path) -> list[CalibrationUse]:
    """The calibration record behind each device channel of a session (from ``/calibration``):
    ids, serials, models, coefficients and dates; no operator names, notes or folder paths."""
    from station.storage.reader import open_session
    out: list[CalibrationUse] = []
    with open_session(path) as f:
        raw = f["calibration"].attrs.get("snapshot") if "calibration" in f else None
    if raw is None:
        return out
    try:
        snapshot = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return out
    for device, snap in sorted((snapshot or {}).items()):
        if not isinstance(snap, dict):
            continue
        records = {r.get("record_id"): r for r in snap.get("records", []) if isinstance(r, dict)}
        for ch in snap.get("channels", []):
            if not isinstance(ch, dict) or ch.get("channel") is None:
                continue
            rec = records.get(ch.get("record_id"), {})
            out.append(CalibrationUse(
                device=device, channel=int(ch["channel"]), record_id=ch.get("record_id"), state=ch.get("state"),
                applied=ch.get("applied"), device_serial=rec.get("device_serial") or snap.get("device_serial"),
                model=rec.get("model") or ch.get("model"), source=rec.get("source") or ch.get("source"),
                load_unit=rec.get("load_unit"), calibrated_utc=rec.get("calibrated_at"),
                expires_utc=rec.get("expires_at"), coefficients=rec.get("coefficients_n_per_count_k"),
                offset_counts=rec.get("offset_counts")))
    return out


def copy_to_shared(path: Path, shared: Path, patient_id: str, sha256: str) -> str:
    """Copy a session file into the clinic's shared folder (``<patient>/<file name>``), safely:
    a temporary name, fsync, rename; never overwriting a different file. Returns the path
    relative to ``shared``. :class:`~station.errors.StorageError` naming the folder if it cannot be written."""
    folder = shared / _safe_name(patient_id)
    target = folder / path.name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if target.exists():
            if file_sha256(target) == sha256:
                return str(target.relative_to(shared))
            target = folder / f"{path.stem}-{sha256[:8]}{path.suffix}"
            if target.exists() and file_sha256(target) == sha256:
                return str(target.relative_to(shared))
        part = target.with_name(target.name + ".part")
        with open(path, "rb") as src, open(part, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        if file_sha256(part) != sha256:
            part.unlink(missing_ok=True)
            raise StorageError(f"{target}: copy in the shared folder does not match the session file")
        os.replace(part, target)
    except OSError as exc:
        raise StorageError(f"shared folder {shared}: cannot copy {path.name} ({exc.strerror or exc})") from None
    return str(target.relative_to(shared))


def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "_"


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


# -- sync -----------------------------------------------------------------------------------
@dataclass
class SyncReport:
    session_dir: Path
    where: str = ""
    pushed: list[str] = field(default_factory=list)        # file names written to the store
    already: list[str] = field(default_factory=list)       # file names the store had already
    pulled: list[str] = field(default_factory=list)        # session ids copied into the local index
    pending: list[str] = field(default_factory=list)       # file names still to push
    skipped: list[str] = field(default_factory=list)       # one line each: file and reason
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def lines(self) -> list[str]:
        head = f"clinic store ({self.where})" if self.where else "clinic store"
        out = []
        if self.error:
            out.append(f"{head}: not synced: {self.error}")
        else:
            out.append(f"{head}: pushed {len(self.pushed)} session(s) ({len(self.already)} already there), "
                       f"pulled {len(self.pulled)} from other stations")
        if self.pending:
            out.append(f"{len(self.pending)} session(s) pending, kept here and pushed on the next sync: "
                       + ", ".join(self.pending[:5]) + (" …" if len(self.pending) > 5 else ""))
        elif not self.error:
            out.append("nothing pending")
        out += [f"  skipped {s}" for s in self.skipped]
        return out


def _candidates(session_dir: Path, state: SyncState, store_id: str | None) -> list[tuple[Path, os.stat_result]]:
    """Session files not yet pushed to ``store_id`` (every file when it is not known yet)."""
    from station.storage.writer import is_in_use
    out = []
    for path in sorted(session_dir.glob("*.h5")):
        try:
            st = path.stat()
        except OSError:
            continue
        if store_id is not None and state.done(store_id, path, st):
            continue
        if is_in_use(path):
            continue               # being recorded now: pushed once it closes
        out.append((path, st))
    return out


def pending_sessions(session_dir: str | Path) -> list[str]:
    """File names that the last store synced with does not have yet (no network needed)."""
    session_dir = Path(session_dir)
    state = SyncState(session_dir)
    try:
        return [p.name for p, _ in _candidates(session_dir, state, state.last_store())]
    finally:
        state.close()


def _read(path: Path) -> SessionRecord:
    from station.index.extract import read_record
    return read_record(path)


def _local_index(session_dir: Path) -> Any:
    from station.index.sqlite import SqliteStore
    return SqliteStore.beside(session_dir)


def sync(session_dir: str | Path, url: str, *, shared_folder: str | Path | None = None,
         station_name: str | None = None, push: bool = True, pull: bool = True, timeout_s: float = 5.0,
         on_event: Event | None = None, before_commit: Callable[[str], None] | None = None) -> SyncReport:
    """Push this station's closed sessions to the store at ``url`` and pull the others'.

    Never raises for an unreachable or refusing store: the report carries the one-line error
    and the pending files. ``before_commit(session_id)`` runs inside each session's
    transaction (the tests cut the server off there)."""
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise StorageError(f"{session_dir}: no such session folder")
    with _folder_lock(session_dir):      # one sync of a folder at a time in this process
        return _sync(session_dir, url, shared_folder=shared_folder, station_name=station_name, push=push,
                     pull=pull, timeout_s=timeout_s, on_event=on_event, before_commit=before_commit)


_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _folder_lock(session_dir: Path) -> threading.Lock:
    key = session_dir.resolve()
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _sync(session_dir: Path, url: str, *, shared_folder: str | Path | None, station_name: str | None, push: bool,
          pull: bool, timeout_s: float, on_event: Event | None,
          before_commit: Callable[[str], None] | None) -> SyncReport:
    emit = on_event or (lambda kind, text: None)
    state = SyncState(session_dir)
    report = SyncReport(session_dir)
    try:
        report = _sync_with_state(session_dir, url, state, report, shared_folder, station_name, push, pull,
                                  timeout_s, emit, before_commit)
        _remember(state, report)
        return report
    finally:
        state.close()


def _remember(state: SyncState, report: SyncReport) -> None:
    """What ``station sync --status`` tells without the network: when the last attempt was, how it ended."""
    now = _now()
    state.set("last_attempt_utc", now)
    if report.where:
        state.set("last_store_where", report.where)
    if report.ok:
        state.set("last_ok_utc", now)
        state.set("last_error", None)
        state.set("last_result", f"pushed {len(report.pushed)}, pulled {len(report.pulled)}")
    else:
        state.set("last_error", report.error)


def _sync_with_state(session_dir: Path, url: str, state: SyncState, report: SyncReport,
                     shared_folder: str | Path | None, station_name: str | None, push: bool, pull: bool,
                     timeout_s: float, emit: Event, before_commit: Callable[[str], None] | None) -> SyncReport:
    station = state.station(station_name)
    try:
        store = PostgresStore.open(url, station=station, timeout_s=timeout_s)
    except StoreError as exc:
        report.error = str(exc)
        report.pending = [p.name for p, _ in _candidates(session_dir, state, state.last_store())]
        return report
    report.where = store.where
    try:
        store_id = store.store_id()
        state.set("last_store_id", store_id)
        store.register_station()
        if push:
            _push(session_dir, store, store_id, state, report, shared_folder, emit, before_commit)
        if pull and report.error is None:
            _pull(session_dir, store, store_id, state, station, report, shared_folder, emit)
    except StoreError as exc:
        report.error = str(exc)
    finally:
        try:
            store.close()
        except Exception:  # noqa: BLE001 - the connection may be gone already
            pass
    if report.error:
        known = set(report.pending)
        report.pending += [p.name for p, _ in _candidates(session_dir, state, state.last_store())
                           if p.name not in known]
    return report


def _push(session_dir: Path, store: PostgresStore, store_id: str, state: SyncState, report: SyncReport,
          shared_folder: str | Path | None, emit: Event, before_commit: Callable[[str], None] | None) -> None:
    local = None
    try:
        for path, st in _candidates(session_dir, state, store_id):
            try:
                record = _read(path)
            except StationError as exc:
                report.skipped.append(str(exc))
                state.mark(store_id, path, st, "unreadable")
                emit("skipped", str(exc))
                continue
            s = record.session
            if s.status not in FINAL_STATUSES:
                reason = f"{path}: unfinished session (status {s.status}); run `station session recover {path}`"
                report.skipped.append(reason)   # not marked: pushed once recovered
                emit("skipped", reason)
                continue
            if not _is_uuid(s.session_id) or not s.patient_id:
                reason = f"{path}: not a patient session (session id {s.session_id!r}), not for the clinic store"
                report.skipped.append(reason)
                state.mark(store_id, path, st, "not-a-session")
                emit("skipped", reason)
                continue
            try:
                sha = file_sha256(path)
                shared_rel = None
                if shared_folder:
                    shared_rel = copy_to_shared(path, Path(shared_folder), s.patient_id, sha)
                file = FileInfo(path.name, sha, st.st_size, shared_rel)
                calibrations = calibrations_used(path)
            except StationError as exc:
                report.pending.append(path.name)
                report.skipped.append(str(exc))
                emit("pending", str(exc))
                continue
            try:
                written = store.put_session(record, file=file, calibrations=calibrations, before_commit=before_commit)
                known, baseline = store.session_baseline(s.session_id)
                if known and baseline != s.baseline:
                    store.set_baseline(s.session_id, s.baseline)
            except StoreUnreachable as exc:
                report.error = str(exc)
                report.pending.append(path.name)
                return
            state.mark(store_id, path, st, "pushed" if written else "already", record, sha)
            (report.pushed if written else report.already).append(path.name)
            emit("pushed" if written else "already", f"{path.name} ({s.patient_id}, {s.started_utc})")
            try:
                local = local or _local_index(session_dir)
                local.put_session(record)
            except StationError as exc:  # the local index is a cache: rebuild fixes it
                log.warning("%s", exc)
    finally:
        if local is not None:
            local.close()


def _pull(session_dir: Path, store: PostgresStore, store_id: str, state: SyncState, station: Station,
          report: SyncReport, shared_folder: str | Path | None, emit: Event) -> None:
    local = _local_index(session_dir)
    try:
        cursor_key, last_key = f"pull_cursor:{store_id}", f"last_pulled:{store_id}"
        cursor = state.get(cursor_key)
        last = state.get(last_key)
        if last is not None and local.get_session(last) is None:
            cursor = None                          # the local index was rebuilt from the files: pull all
        next_cursor = store.pull_cursor()          # taken before reading: nothing slips between
        ids = store.changed_since(int(cursor) if cursor is not None else None, exclude_station=station.station_id)
        for start in range(0, len(ids), PULL_BATCH):
            batch = store.get_sessions(ids[start:start + PULL_BATCH])
            localised = [_localise(record, shared_folder) for record in batch]
            if hasattr(local, "put_sessions"):       # one transaction for the batch, where the index offers it
                local.put_sessions(localised)
            else:
                for record in localised:
                    local.put_session(record)
            state.mark_pulled(store_id, [r.session.session_id for r in batch])
            if batch:
                state.set(last_key, batch[-1].session.session_id)
            report.pulled += [r.session.session_id for r in batch]
            for r in batch:
                emit("pulled", f"{r.session.path or r.session.session_id} ({r.session.patient_id}, "
                               f"{r.session.started_utc})")
        state.set(cursor_key, str(next_cursor))
    finally:
        local.close()


def _localise(record: SessionRecord, shared_folder: str | Path | None) -> SessionRecord:
    """A pulled record's path: its copy in the shared folder when there is one, else
    ``<station name>:<file name>`` (the file stays on the station that recorded it)."""
    import dataclasses
    path = record.session.path
    if shared_folder and path and ":" not in path:
        path = str(Path(shared_folder) / path)
    return dataclasses.replace(record, session=dataclasses.replace(record.session, path=path))


def retry_sync(session_dir: str | Path, *, timeout_s: float = 3.0, settings: Any = None) -> SyncReport | None:
    """One unattended sync of ``session_dir`` with the clinic store named in the config file:
    pushes what is queued, pulls what the other stations added. For the station's own retries
    (at the start of a session, after each close, and a window's periodic background retry on a
    worker thread). Blocks for at most about ``timeout_s`` when the store is unreachable; never
    raises. None when the config names no clinic store (or the folder does not exist yet)."""
    from station.index.clinic_config import clinic_settings
    session_dir = Path(session_dir)
    try:
        settings = settings or clinic_settings()
        if not settings.store_url or not session_dir.is_dir():
            return None
        return sync(session_dir, settings.store_url, shared_folder=settings.shared_folder,
                    station_name=settings.station_name, timeout_s=timeout_s)
    except Exception as exc:  # noqa: BLE001 - see docstring
        report = SyncReport(session_dir, error=f"{exc}".splitlines()[0] if str(exc) else type(exc).__name__)
        try:
            report.pending = pending_sessions(session_dir)
        except Exception:  # noqa: BLE001
            pass
        log.warning("clinic store: not synced: %s", report.error)
        return report


def retry_lines(report: SyncReport | None, session_dir: str | Path) -> list[str]:
    """The lines a station shows after an unattended sync ([] when no store is configured)."""
    if report is None:
        return []
    lines = report.lines()
    if report.error:
        lines = [f"clinic store unreachable, sessions kept here and queued: {report.error}"] + lines[1:]
        lines.append(f"retried by itself at the next session and after each one; or run "
                     f"`station sync --dir {session_dir}`")
    return lines


def sync_after_close(path: str | Path, *, say: Callable[[str], None] | None = None,
                     timeout_s: float = 3.0) -> list[str]:
    """After a session closes: if the config names a clinic store, sync its folder (this
    session and anything queued before), quickly. Never raises: a session never fails because
    of the network. Returns (and passes to ``say``) the report's lines; [] when no store is set."""
    path = Path(path)
    lines = retry_lines(retry_sync(path.parent, timeout_s=timeout_s), path.parent)
    if say is not None:
        for line in lines:
            say(line)
    return lines


class BackgroundSync:
    """:func:`retry_sync` of a session folder in its own thread, so the caller never waits on
    the network (a window stays responsive; a session starts at once). :meth:`wait` returns
    the report's lines, :attr:`report` the report (None: no store configured). The thread is
    not a daemon: a station that exits right after a session still finishes this sync (bounded
    by the connect timeout). Syncs of one folder run one at a time."""

    def __init__(self, session_dir: str | Path, *, timeout_s: float = 3.0, name: str = "clinic-sync") -> None:
        self.session_dir = Path(session_dir)
        self.report: SyncReport | None = None
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(timeout_s,), name=name)
        self._thread.start()

    def _run(self, timeout_s: float) -> None:
        self.report = retry_sync(self.session_dir, timeout_s=timeout_s)
        self.lines = retry_lines(self.report, self.session_dir)

    def done(self) -> bool:
        return not self._thread.is_alive()

    def news(self, when: str = "") -> list[str]:
        """One line if this sync moved sessions (pushed queued ones, pulled others'), else []:
        for a retry whose failure the next sync reports anyway. Waits for the sync to end."""
        self.wait()
        r = self.report
        if r is None or not r.ok or not (r.pushed or r.pulled):
            return []
        return [f"clinic store{' ' + when if when else ''}: pushed {len(r.pushed)} queued session(s), "
                f"pulled {len(r.pulled)} from other stations"]

    def wait(self, timeout_s: float | None = None) -> list[str]:
        self._thread.join(timeout_s)
        return list(self.lines)


class SyncAfterClose(BackgroundSync):
    """The sync a session starts when it closes: :class:`BackgroundSync` of the file's folder."""

    def __init__(self, path: str | Path, *, timeout_s: float = 3.0) -> None:
        super().__init__(Path(path).parent, timeout_s=timeout_s, name="clinic-sync")


# -- what is pending, without the network ------------------------------------------------------
@dataclass
class SyncStatus:
    session_dir: Path
    store: str | None                 # the configured store (URL, never with a password), None if none
    pending: list[str]                # session files not in the store yet
    last_attempt_utc: str | None = None
    last_ok_utc: str | None = None
    last_error: str | None = None     # how the last attempt failed (None: it worked, or none yet)
    last_result: str | None = None
    where: str | None = None          # host and database of the last store reached

    def lines(self) -> list[str]:
        out = [f"clinic store: {self.store}" if self.store else
               "clinic store: none configured (set store_url in the config file, or pass --store URL)"]
        if self.where:
            out[0] += f" ({self.where})"
        if self.last_attempt_utc is None:
            out.append("last sync: never")
        elif self.last_error:
            out.append(f"last sync: failed {self.last_attempt_utc}: {self.last_error}")
            out.append(f"last successful sync: {self.last_ok_utc or 'never'}")
        else:
            out.append(f"last sync: {self.last_attempt_utc} ({self.last_result or 'ok'})")
        if self.pending:
            out.append(f"{len(self.pending)} session(s) pending: " + ", ".join(self.pending))
        else:
            out.append("nothing pending")
        return out


def sync_status(session_dir: str | Path, store_url: str | None = None) -> SyncStatus:
    """What is waiting to be pushed from ``session_dir`` and how the last sync went; reads only
    the folder and its sync state (no network), so a window may call it on its timer."""
    from station.index.clinic_config import clinic_settings
    from station.index.postgres import redact
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        raise StorageError(f"{session_dir}: no such session folder")
    if store_url is None:
        store_url = clinic_settings().store_url
    state = SyncState(session_dir)
    try:
        pending = [p.name for p, _ in _candidates(session_dir, state, state.last_store())]
        return SyncStatus(session_dir, redact(store_url) if store_url else None, pending,
                          state.get("last_attempt_utc"), state.get("last_ok_utc"), state.get("last_error"),
                          state.get("last_result"), state.get("last_store_where"))
    finally:
        state.close()
