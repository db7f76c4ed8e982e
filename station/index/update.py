"""Keeping the index in step with the files: after each session, on rebuild, on a baseline mark."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from station.errors import OptionError, StationError, StorageError
from station.index.extract import read_record
from station.index.sqlite import INDEX_NAME, SqliteStore
from station.index.store import ResultsStore
from station.storage import layout
from station.storage.reader import check_session
from station.storage.writer import is_in_use

log = logging.getLogger(__name__)


def open_store(session_dir: str | Path) -> ResultsStore:
    """The results store for the sessions in ``session_dir`` (the SQLite index beside them)."""
    return SqliteStore.beside(session_dir)


def open_or_build(session_dir: str | Path, notes: list[str] | None = None) -> ResultsStore:
    """The store of ``session_dir``; when the folder has session files but no index yet
    (sessions recorded before the index existed, or a deleted index), build it first."""
    directory = Path(session_dir)
    if not (directory / INDEX_NAME).exists() and any(directory.glob("*.h5")):
        report = rebuild(directory)
        if notes is not None:
            notes.append(f"{directory}: built the results index ({len(report.indexed)} session(s))")
    return open_store(directory)


def index_closed_session(path: str | Path) -> str | None:
    """Add (or refresh) one closed session file in the index beside it. Never raises: a
    session must not fail because of its index (which ``station index rebuild`` can redo).
    Returns a one-line warning, or None when indexed."""
    path = Path(path)
    try:
        record = read_record(path)
        store = open_store(path.parent)
        try:
            store.put_session(record)
        finally:
            store.close()
    except Exception as exc:  # noqa: BLE001 - see docstring
        msg = f"{path}: not added to the results index ({exc}); run `station index rebuild {path.parent}`"
        log.warning(msg)
        return msg
    return None


@dataclass
class RebuildReport:
    directory: Path
    indexed: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: file and reason

    def lines(self) -> list[str]:
        out = [f"{self.directory / INDEX_NAME}: {len(self.indexed)} session(s) indexed"]
        out += [f"  skipped {s}" for s in self.skipped]
        return out


def rebuild(session_dir: str | Path) -> RebuildReport:
    """Recreate the index of ``session_dir`` from its ``*.h5`` files (the source of truth).

    Builds a fresh index next to the old one and swaps it in atomically, so a failure leaves
    the old index. Files being recorded, damaged or foreign are skipped and reported."""
    directory = Path(session_dir)
    if not directory.is_dir():
        raise StorageError(f"{directory}: no such directory")
    report = RebuildReport(directory)
    tmp = directory / (INDEX_NAME + ".rebuild")
    for suffix in ("", "-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    store = SqliteStore(tmp)
    try:
        for path in sorted(directory.glob("*.h5")):
            if is_in_use(path):
                report.skipped.append(f"{path}: being recorded now (indexed when it closes)")
                continue
            try:
                store.put_session(read_record(path))
            except StationError as exc:
                report.skipped.append(str(exc))
                continue
            report.indexed.append(path)
    finally:
        store.close()
    os.replace(tmp, directory / INDEX_NAME)
    for suffix in ("-wal", "-shm"):  # the old index's journal must not be applied to the new file
        Path(str(directory / INDEX_NAME) + suffix).unlink(missing_ok=True)
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    return report


BASELINE_LABELS = ("pre-injury", "pre-operative", "baseline")


def mark_baseline(path: str | Path, label: str | None) -> str:
    """Mark the session file ``path`` as its patient's baseline (``label``, e.g. "pre-operative"),
    or unmark it (None): the file's root attribute ``baseline``, so a rebuild keeps the mark,
    and the index beside it. Returns the session id."""
    path = Path(path)
    if label is not None and label not in BASELINE_LABELS:
        raise OptionError(f"--label {label}: expected one of {', '.join(BASELINE_LABELS)}")
    read_record(path)  # one-line error for a missing, damaged or foreign file
    if is_in_use(path):
        raise StorageError(f"{path}: being recorded now; mark it once the session is closed")
    try:
        with h5py.File(path, "r+", libver=layout.LIBVER, locking=False) as f:
            check_session(f, path)
            if label is None:
                if "baseline" in f.attrs:
                    del f.attrs["baseline"]
            else:
                f.attrs["baseline"] = label
    except OSError as exc:
        raise StorageError(f"{path}: cannot mark the file ({' '.join(str(exc).split())})") from None
    record = read_record(path)
    store = open_store(path.parent)
    try:
        store.put_session(record)
    finally:
        store.close()
    return record.session.session_id
