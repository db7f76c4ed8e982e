"""Reading session files: open safely (also while being written) and summarise."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station.errors import UserError
from station.storage import layout


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


@contextmanager
def open_session(path: str | Path) -> Iterator[h5py.File]:
    """Open a session file read-only; also works while a trial is being written (SWMR).

    Raises :class:`UserError` for a missing, non-HDF5 or foreign file.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise UserError(f"{path}: not an HDF5 file")
    try:
        f = h5py.File(path, "r", libver=layout.LIBVER, locking=False)
    except OSError:
        try:  # a writer in SWMR mode (or one that died in it) has the file
            f = h5py.File(path, "r", libver=layout.LIBVER, locking=False, swmr=True)
        except OSError as exc:
            raise UserError(f"{path}: cannot open session file ({exc}); try `station session recover {path}`") from None
    try:
        if f.attrs.get("format") != layout.FORMAT:
            raise UserError(f"{path}: not a Force Station session file (no format={layout.FORMAT!r} attribute)")
        version = int(f.attrs.get("format_version", 0))
        if version > layout.FORMAT_VERSION:
            raise UserError(f"{path}: session format version {version} is newer than this station reads "
                            f"({layout.FORMAT_VERSION}); update Force Station")
        yield f
    finally:
        f.close()


def _groups(g: h5py.Group) -> list[tuple[str, h5py.Group]]:
    return sorted((k, v) for k, v in g.items() if isinstance(v, h5py.Group))


def summarize(path: str | Path) -> dict[str, Any]:
    """Everything ``station inspect`` shows, as one JSON-ready dict."""
    with open_session(path) as f:
        root = attrs_of(f)
        out: dict[str, Any] = {
            "file": str(path),
            "format_version": root.get("format_version"),
            "station_version": root.get("station_version"),
            "algorithm_version": root.get("algorithm_version"),
            "session_id": root.get("session_id"),
            "status": root.get("status"),
            "created_utc": root.get("created_utc"),
            "closed_utc": root.get("closed_utc"),
            "session": attrs_of(f["session"]) if "session" in f else {},
            "devices": {},
            "protocols": [],
            "tests": [],
        }
        for name, g in _groups(f.get("devices", {})) if "devices" in f else []:
            a = attrs_of(g)
            out["devices"][name] = {k: a.get(k) for k in ("family", "model", "serial", "firmware", "channels",
                                                           "rate_hz", "unit", "time_source", "uri")}
        if "protocols" in f:
            out["protocols"] = [k for k, _ in _groups(f["protocols"])]
        for test_name, tg in _groups(f["tests"]) if "tests" in f else []:
            ta = attrs_of(tg)
            summary = ta.get("summary") or {}
            test: dict[str, Any] = {
                "test": test_name, "protocol_id": ta.get("protocol_id"), "name": ta.get("name"),
                "kind": ta.get("kind"), "status": ta.get("status"),
                "sides": summary.get("sides", {}), "symmetry": summary.get("symmetry", {}), "trials": [],
            }
            for trial_name, trg in _groups(tg["trials"]) if "trials" in tg else []:
                a = attrs_of(trg)
                samples = {k: int(d["t_host_s"].shape[0]) for k, d in _groups(trg) if "t_host_s" in d}
                results = a.get("results") or {}
                test["trials"].append({
                    "trial": trial_name, "side": a.get("side"), "rep": a.get("rep"), "attempt": a.get("attempt"),
                    "status": a.get("status"), "peak_force_n": a.get("peak_force_n"),
                    "time_to_peak_s": results.get("time_to_peak_s") if isinstance(results, dict) else None,
                    "samples": samples, "flags": a.get("quality_flags") or [],
                })
            out["tests"].append(test)
    return out
