"""Reading session files: open safely (also while being written, or after a crash) and summarise.

Every failure to open is a :class:`~station.errors.StorageError` with a one-line message that
names the file and says what is wrong (missing, a directory, empty, not HDF5, truncated,
damaged, not a Force Station file, a newer format version).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station.errors import StorageError
from station.storage import layout
from station.storage.damage import Damage
from station.storage.writer import is_in_use

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def attrs_of(obj: h5py.HLObject) -> dict[str, Any]:
    """An object's attributes as plain Python values (JSON attributes decoded)."""
    return {k: _plain(v) for k, v in obj.attrs.items()}


def _short(exc: BaseException) -> str:
    """HDF5's error text without h5py's boilerplate, on one line."""
    text = " ".join(str(exc).split())
    for prefix in ("Unable to synchronously open file ", "Unable to open file "):
        if text.startswith(prefix):
            text = text[len(prefix):]
    return text.strip("() ") or type(exc).__name__


@dataclass(frozen=True)
class OpenState:
    """How a file was opened. ``swmr_flagged``: the file still says "open for SWMR write"
    (a station is recording it now, or one died while recording it), so it could only be
    opened in SWMR read mode. ``in_use``: a live writer (or a locking HDF5 tool) holds it."""

    swmr_flagged: bool
    in_use: bool


def check_file(path: str | Path) -> Path:
    """Raise :class:`StorageError` unless ``path`` is an existing, readable, non-empty HDF5 file."""
    path = Path(path)
    if not path.exists():
        raise StorageError(f"{path}: no such file")
    if path.is_dir():
        raise StorageError(f"{path}: is a directory, expected a session file (.h5)")
    if not os.access(path, os.R_OK):
        raise StorageError(f"{path}: permission denied")
    size = path.stat().st_size
    if size == 0:
        raise StorageError(f"{path}: empty file (0 bytes), not a session file")
    with path.open("rb") as fh:
        head = fh.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE and not h5py.is_hdf5(path):
        raise StorageError(f"{path}: not an HDF5 file")
    return path


@dataclass(frozen=True)
class Superblock:
    """The fields of an HDF5 version 2/3 superblock at offset 0 that opening depends on."""

    version: int
    flags: int  # file consistency flags: bit 0 open for write, bit 2 open for SWMR write
    eof: int    # end-of-file address the library last recorded


def read_superblock(path: str | Path) -> Superblock | None:
    """The superblock of a file like ours (version 2 or 3 at offset 0, 8-byte addresses);
    None for anything else (older superblocks cannot be in SWMR mode anyway)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(44)
    except OSError:
        return None
    if len(head) < 44 or head[:8] != HDF5_SIGNATURE or head[8] not in (2, 3) or head[9] != 8:
        return None
    eof = int.from_bytes(head[28:36], "little")
    return Superblock(head[8], head[11], eof)


def open_file(path: str | Path) -> tuple[h5py.File, OpenState]:
    """Open any HDF5 file read-only: normally, else — when the superblock says a writer has
    it (or had it when it died) in SWMR mode — in SWMR read mode. Raises :class:`StorageError`
    with a one-line reason.

    SWMR read mode skips HDF5's end-of-file check, so it is used only on a flagged file that
    is not shorter than its recorded end of file (a truncated file could make HDF5 loop)."""
    path = check_file(path)
    try:
        return h5py.File(path, "r", libver=layout.LIBVER, locking=False), OpenState(False, is_in_use(path))
    except OSError as exc:
        reason = _short(exc)
    size = path.stat().st_size
    sb = read_superblock(path)
    if "truncated file" in reason or (sb is not None and size < sb.eof):
        shown = f"{size} of {sb.eof} bytes" if sb is not None else f"{size} bytes"
        raise StorageError(f"{path}: truncated HDF5 file ({shown} present); it cannot be opened or recovered")
    if sb is None or not sb.flags:
        raise StorageError(f"{path}: damaged HDF5 file, cannot be opened ({reason})")
    try:
        f = h5py.File(path, "r", libver=layout.LIBVER, locking=False, swmr=True)
    except OSError as exc:
        raise StorageError(f"{path}: damaged HDF5 file, cannot be opened ({_short(exc)})") from None
    return f, OpenState(True, is_in_use(path))


def check_session(f: h5py.File, path: str | Path) -> int:
    """The file's format version; :class:`StorageError` for a foreign or too new file."""
    fmt = _plain(f.attrs.get("format"))
    if fmt == "force-station-spill":  # station.storage.writer: what did not fit on a full disk
        session = _plain(f.attrs.get("session_file")) or "?"
        raise StorageError(f"{path}: a spill file, not a session file: the samples of {session} that did not fit "
                        "on a full disk, in tests/<test>/trials/<trial>/<device> (datasets t_host_s, raw, force_n; "
                        "attribute rows_already_in_session_file); open it with h5py or any HDF5 tool")
    if fmt != layout.FORMAT:
        raise StorageError(f"{path}: not a Force Station session file (no format={layout.FORMAT!r} attribute)")
    try:
        version = int(f.attrs.get("format_version", 0))
    except (TypeError, ValueError):
        raise StorageError(f"{path}: bad format_version attribute {f.attrs.get('format_version')!r}") from None
    if version > layout.FORMAT_VERSION:
        raise StorageError(f"{path}: session format version {version} is newer than this station reads "
                        f"({layout.FORMAT_VERSION}); update Force Station")
    return version


@contextmanager
def open_session(path: str | Path, *, state: list[OpenState] | None = None) -> Iterator[h5py.File]:
    """Open a session file read-only; also works while a trial is being written (SWMR) and
    on a file left open by a station that died. ``state``, if given, receives the
    :class:`OpenState`. Raises :class:`StorageError` for a missing, non-HDF5, damaged or
    foreign file, or one of a newer format version."""
    f, st = open_file(path)
    if state is not None:
        state.append(st)
    try:
        check_session(f, path)
        yield f
    finally:
        f.close()


def _duration(trial: h5py.Group, damage: Damage | None = None) -> float | None:
    """Seconds of host time the trial's samples span (first device with samples)."""
    damage = damage if damage is not None else Damage()
    for _, d in damage.groups(trial, trial.name):
        t = d.get("t_host_s")
        if isinstance(t, h5py.Dataset) and t.ndim == 1 and t.shape[0] > 1 and t.dtype.kind in "fiu":
            first, last = float(t[0]), float(t[t.shape[0] - 1])
            if np.isfinite(first) and np.isfinite(last):
                return last - first
    return None


#: clinical units of a result: summary key → result key
_CLINICAL = {"force_n_per_kg": "peak_force_n_per_kg", "torque_nm": "peak_torque_nm",
             "torque_nm_per_kg": "peak_torque_nm_per_kg", "force_bw": "peak_force_bw"}


def trial_analysis(results: dict[str, Any], side: Any) -> dict[str, Any]:
    """A trial's analysis at a glance: status ("ok", "no_rise", "invalid", …; per side for a
    trial of both sides), its notes when not ok, and clinical units of the peak."""
    if not results:
        return {"status": None}
    parts = results.get("per_side") if isinstance(results.get("per_side"), dict) else None
    if parts is None and side == "both" and isinstance(results.get("left"), dict):
        parts = {s: results.get(s) or {} for s in ("left", "right")}
    def one(r: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"status": r.get("status")}
        if r.get("status") != "ok":
            out["notes"] = [n for n in (r.get("notes") or []) if isinstance(n, str)]
        out["clinical"] = {k: r[v] for k, v in _CLINICAL.items() if r.get(v) is not None}
        return out
    top = one(results)
    if parts and "status" not in results:  # a bilateral frame trial: only per-side results
        statuses = {(p or {}).get("status") for p in parts.values()}
        top = {"status": "ok" if statuses == {"ok"} else next(s for s in statuses if s != "ok"), "clinical": {}}
    if parts:
        top["per_side"] = {s: one(p or {}) for s, p in parts.items()}
    return top


def summarize(path: str | Path) -> dict[str, Any]:
    """Everything ``station inspect`` shows, as one JSON-ready dict, read through
    :class:`~station.storage.session_reader.SessionReader` (see
    :func:`station.storage.session_reader.summary_dict`)."""
    from station.storage.session_reader import summarize as read_summary

    return read_summary(path)
