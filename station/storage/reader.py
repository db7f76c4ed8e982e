"""Reading session files: open safely (also while being written, or after a crash) and summarise.

Every failure to open is a :class:`~station.errors.UserError` with a one-line message that
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

from station.errors import UserError
from station.storage import layout
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
    """Raise :class:`UserError` unless ``path`` is an existing, readable, non-empty HDF5 file."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a session file (.h5)")
    if not os.access(path, os.R_OK):
        raise UserError(f"{path}: permission denied")
    size = path.stat().st_size
    if size == 0:
        raise UserError(f"{path}: empty file (0 bytes), not a session file")
    with path.open("rb") as fh:
        head = fh.read(len(HDF5_SIGNATURE))
    if head != HDF5_SIGNATURE and not h5py.is_hdf5(path):
        raise UserError(f"{path}: not an HDF5 file")
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
    it (or had it when it died) in SWMR mode — in SWMR read mode. Raises :class:`UserError`
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
        raise UserError(f"{path}: truncated HDF5 file ({shown} present); it cannot be opened or recovered")
    if sb is None or not sb.flags:
        raise UserError(f"{path}: damaged HDF5 file, cannot be opened ({reason})")
    try:
        f = h5py.File(path, "r", libver=layout.LIBVER, locking=False, swmr=True)
    except OSError as exc:
        raise UserError(f"{path}: damaged HDF5 file, cannot be opened ({_short(exc)})") from None
    return f, OpenState(True, is_in_use(path))


def check_session(f: h5py.File, path: str | Path) -> int:
    """The file's format version; :class:`UserError` for a foreign or too new file."""
    fmt = _plain(f.attrs.get("format"))
    if fmt != layout.FORMAT:
        raise UserError(f"{path}: not a Force Station session file (no format={layout.FORMAT!r} attribute)")
    try:
        version = int(f.attrs.get("format_version", 0))
    except (TypeError, ValueError):
        raise UserError(f"{path}: bad format_version attribute {f.attrs.get('format_version')!r}") from None
    if version > layout.FORMAT_VERSION:
        raise UserError(f"{path}: session format version {version} is newer than this station reads "
                        f"({layout.FORMAT_VERSION}); update Force Station")
    return version


@contextmanager
def open_session(path: str | Path, *, state: list[OpenState] | None = None) -> Iterator[h5py.File]:
    """Open a session file read-only; also works while a trial is being written (SWMR) and
    on a file left open by a station that died. ``state``, if given, receives the
    :class:`OpenState`. Raises :class:`UserError` for a missing, non-HDF5, damaged or
    foreign file, or one of a newer format version."""
    f, st = open_file(path)
    if state is not None:
        state.append(st)
    try:
        check_session(f, path)
        yield f
    finally:
        f.close()


def _groups(g: h5py.Group) -> list[tuple[str, h5py.Group]]:
    return sorted((k, v) for k, v in g.items() if isinstance(v, h5py.Group))


def _samples(trial: h5py.Group, live: bool) -> dict[str, int]:
    out = {}
    for k, d in _groups(trial):
        if "t_host_s" in d:
            ds = d["t_host_s"]
            if live:
                ds.refresh()
            out[k] = int(ds.shape[0])
    return out


def _duration(trial: h5py.Group) -> float | None:
    """Seconds of host time the trial's samples span (first device with samples)."""
    for _, d in _groups(trial):
        if "t_host_s" in d and d["t_host_s"].shape[0] > 1:
            t = d["t_host_s"]
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
    """Everything ``station inspect`` shows, as one JSON-ready dict.

    Besides the file's own fields: ``recording_now`` (a live station holds the file),
    ``unfinished`` (its status is still ``recording`` but no station holds it: the station
    stopped without closing it; ``station session recover`` repairs it), ``swmr_flagged``.
    """
    states: list[OpenState] = []
    with open_session(path, state=states) as f:
        st = states[0]
        try:
            out = _summarize(f, path, st)
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise UserError(f"{path}: damaged session file, cannot be read ({_short(exc)})") from None
    return out


def _summarize(f: h5py.File, path: str | Path, st: OpenState) -> dict[str, Any]:
    root = attrs_of(f)
    status = root.get("status")
    recording = status == layout.STATUS_RECORDING
    out: dict[str, Any] = {
        "file": str(path),
        "format_version": root.get("format_version"),
        "station_version": root.get("station_version"),
        "algorithm_version": root.get("algorithm_version"),
        "session_id": root.get("session_id"),
        "status": status,
        "created_utc": root.get("created_utc"),
        "closed_utc": root.get("closed_utc"),
        "recovered_utc": root.get("recovered_utc"),
        "recovery": root.get("recovery"),
        "recovered_from_status": root.get("recovered_from_status"),
        "recording_now": recording and st.in_use,
        "unfinished": (recording or st.swmr_flagged) and not st.in_use,
        "swmr_flagged": st.swmr_flagged,
        "session": attrs_of(f["session"]) if "session" in f else {},
        "devices": {},
        "protocols": [],
        "tests": [],
    }
    for name, g in _groups(f["devices"]) if "devices" in f else []:
        a = attrs_of(g)
        out["devices"][name] = {k: a.get(k) for k in ("family", "model", "serial", "firmware", "channels",
                                                       "rate_hz", "unit", "time_source", "uri")}
        cal = a.get("calibration") if isinstance(a.get("calibration"), dict) else {}
        # channels used without a usable calibration (--allow-uncalibrated): an audit fact
        out["devices"][name]["calibration_overrides"] = [
            o for o in (cal.get("overrides") or []) if isinstance(o, dict)]
    if "protocols" in f:
        out["protocols"] = [k for k, _ in _groups(f["protocols"])]
    for test_name, tg in _groups(f["tests"]) if "tests" in f else []:
        ta = attrs_of(tg)
        summary = ta.get("summary") or {}
        if not isinstance(summary, dict):
            summary = {}
        test: dict[str, Any] = {
            "test": test_name, "protocol_id": ta.get("protocol_id"), "name": ta.get("name"),
            "kind": ta.get("kind"), "status": ta.get("status"),
            "sides": summary.get("sides", {}), "symmetry": summary.get("symmetry", {}), "trials": [],
            "lever_arm": ta.get("lever_arm"), "lsi_pass_pct": ta.get("lsi_pass_pct"),
        }
        for trial_name, trg in _groups(tg["trials"]) if "trials" in tg else []:
            a = attrs_of(trg)
            results = a.get("results") or {}
            flags = a.get("quality_flags") or []
            test["trials"].append({
                "trial": trial_name, "side": a.get("side"), "rep": a.get("rep"), "attempt": a.get("attempt"),
                "status": a.get("status"), "peak_force_n": a.get("peak_force_n"),
                "time_to_peak_s": results.get("time_to_peak_s") if isinstance(results, dict) else None,
                "samples": _samples(trg, st.swmr_flagged), "duration_s": _duration(trg),
                "flags": flags if isinstance(flags, list) else [str(flags)],
                "analysis": trial_analysis(results if isinstance(results, dict) else {}, a.get("side")),
                "pain_0_10": a.get("pain_0_10"),
                "peak_force_left_n": a.get("peak_force_left_n"), "peak_force_right_n": a.get("peak_force_right_n"),
                "beyond_calibrated_range": bool(a.get("beyond_calibrated_range", False)),
                "zero_offset_n": a.get("zero_offset_n"), "start_utc": a.get("start_utc"),
            })
        out["tests"].append(test)
    return out
