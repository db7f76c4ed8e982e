"""Force traces from files: a delimited text export (CSV/TXT) or a trial of an HDF5 file.

:func:`load_trace` reads a comma, tab or semicolon delimited file (header optional; a time
column named like ``Time``/``t``/``time_s``, or a given rate) or a trial group of an HDF5
session file, converts forces to newtons and settles the sample rate. A Force Station
session trial is read through :class:`~station.storage.session_reader.SessionReader` (the
force the session analysed, one column per measured side); any other HDF5 file as plain
datasets. Every problem is a one-line :class:`~station.errors.StorageError` naming the file
and, where it applies, the column, line or option.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from station.errors import StationError, StorageError

#: Force unit conversion factors to newtons.
UNIT_TO_N = {"N": 1.0, "kgf": 9.80665, "lbf": 4.4482216152605}

_TIME_RE = re.compile(r"(t|time|times|timestamp)(\s*_?\s*(s|sec|\(s\)|\[s\]))?|seconds|sec|secs", re.IGNORECASE)
_FORCE_NAMES = ("fz", "force", "force_n", "f", "load", "force (n)", "fz (n)", "force_z", "vgrf")
_H5_SUFFIXES = (".h5", ".hdf5", ".hdf")


@dataclass
class Trace:
    """Loaded columns (N after unit conversion), their order, sample rate and loader notes."""

    path: Path
    columns: dict[str, np.ndarray]
    time_column: str | None
    rate_hz: float | None
    notes: list[str] = field(default_factory=list)

    @property
    def force_names(self) -> list[str]:
        return [c for c in self.columns if c != self.time_column]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff_delimiter(lines: list[str]) -> str | None:
    """Tab, semicolon or comma: the first that splits every sample line into the same
    number (> 1) of fields. Semicolon before comma so decimal-comma files work."""
    sample = lines[:50]
    for delim in ("\t", ";", ","):
        counts = {ln.count(delim) for ln in sample}
        if len(counts) == 1 and counts.pop() > 0:
            return delim
    for delim in ("\t", ";", ","):  # ragged or messy: most frequent in the first line
        if delim in sample[0]:
            return delim
    return None


def _read_text(path: Path) -> Trace:
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise StorageError(f"{path} is empty")
    delim = _sniff_delimiter(lines)
    rows = [[c.strip() for c in ln.split(delim)] if delim else [ln] for ln in lines]
    if delim == ";" and any("," in c for c in rows[-1]):
        rows = [[c.replace(",", ".") for c in row] for row in rows]  # decimal comma
    while all(row and row[-1] == "" for row in rows):  # trailing delimiter
        rows = [row[:-1] for row in rows]
    header = not all(_is_number(c) for c in rows[0])
    width = len(rows[0])
    names = [c or str(i + 1) for i, c in enumerate(rows[0])] if header else [str(i + 1) for i in range(width)]
    if len(set(names)) != len(names):
        raise StorageError(f"{path} has duplicate column names: {', '.join(names)}")
    body = rows[1:] if header else rows
    if not body:
        raise StorageError(f"{path} has a header but no data")
    for i, row in enumerate(body):
        if len(row) != width:
            line_no = i + (2 if header else 1)
            raise StorageError(f"{path}: line {line_no} has {len(row)} fields, expected {width}")
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        cells = [row[j] for row in body]
        try:
            columns[name] = np.array(cells, dtype=np.float64)
        except ValueError:
            bad = next(k for k, c in enumerate(cells) if not _is_number(c))
            line_no = bad + (2 if header else 1)
            raise StorageError(
                f"column {name!r} in {path} is not numeric (line {line_no}: {cells[bad]!r})") from None
    time_col = next((n for n in names if _TIME_RE.fullmatch(n.strip())), None) if header else None
    return Trace(path, columns, time_col, None)


def _read_session_trial(path: Path, trial: str) -> Trace | None:
    """A trial group of a Force Station session file (``tests/<test>/trials/<nnn>``): one
    column per measured side, the force the session analysed. None for anything else."""
    from station.storage.session_reader import SessionReader

    try:
        reader = SessionReader(path)
    except StationError:
        return None  # not a session file: read it as plain HDF5
    with reader:
        try:
            return _find_session_trial(reader, path, trial)
        except (AttributeError, TypeError, KeyError, ValueError, IndexError, OSError, RuntimeError):
            return None  # a damaged session file: read the trial as plain HDF5 (one-line errors)


def _find_session_trial(reader: Any, path: Path, trial: str) -> Trace | None:
    wanted = trial.strip("/")
    if len(wanted.split("/")) == 2 and not wanted.startswith("tests/"):  # TEST/TRIAL short form
        test_key, trial_key = wanted.split("/")
        wanted = f"tests/{test_key}/trials/{trial_key}"
    for test in reader.session().tests:
        for stored in test.trials:
            if stored.h5_path.strip("/") == wanted and stored.channels:
                columns, times, rates = {}, {}, {}
                for side in stored.channels:
                    times[side], columns[side], rates[side] = reader.side_force(stored, side)
                notes = [f"session trial {wanted}: {', '.join(columns)} force as the session analysed it"]
                if len({stored.channels[s][0] for s in columns}) > 1 and None not in rates.values():
                    # two devices (two plates): on their common host-time grid, as in the session
                    from station.analysis.alignment import common_grid

                    columns, rates = common_grid(columns, times, rates)
                    notes.append("devices aligned by linear interpolation on their common host-time grid")
                known = [r for r in rates.values() if r is not None]
                return Trace(path, columns, None, min(known) if known else None, notes)
    return None


def _read_h5(path: Path, trial: str | None) -> Trace:
    if not trial:
        raise StorageError(f"{path} is a session file: choose a trial with --trial PATH")
    session_trial = _read_session_trial(path, trial)
    if session_trial is not None:
        return session_trial
    import h5py  # local import: only needed for session files

    from station.storage.reader import open_file

    fh, _ = open_file(path)  # one-line StorageError: not HDF5, truncated, damaged, …
    with fh:
        node = _trial_node(fh, path, trial)
        if isinstance(node, h5py.Dataset):
            ds = node
        elif "force_n" in node and isinstance(node["force_n"], h5py.Dataset):
            ds = node["force_n"]
        else:
            raise StorageError(f"trial {trial!r} in {path} has no dataset 'force_n'")
        try:
            data = np.asarray(ds[()], dtype=np.float64)
        except (TypeError, ValueError, OSError):
            raise StorageError(f"dataset {ds.name!r} in {path} is not numeric") from None
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[0] == 0:
            raise StorageError(f"dataset {ds.name!r} in {path} must have shape (samples, channels), got {data.shape}")
        rate = None
        obj: Any = ds
        while obj is not None:  # dataset, its trial group, then parents (device/session)
            if "rate_hz" in obj.attrs:
                rate = _rate_attr(obj, path)
                break
            obj = obj.parent if obj.name != "/" else None
        device = ds.parent.name.rsplit("/", 1)[-1]
        if rate is None and f"devices/{device}" in fh and "rate_hz" in fh[f"devices/{device}"].attrs:
            # session layout: /tests/T/trials/N/<device>/force_n, rate on /devices/<device>
            rate = _rate_attr(fh[f"devices/{device}"], path)
        names = [str(i + 1) for i in range(data.shape[1])]
        for key in ("channel_names", "channels"):
            if key in ds.attrs:
                raw = [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(ds.attrs[key]).reshape(-1)]
                if len(raw) == data.shape[1] and len(set(raw)) == len(raw):
                    names = raw
                break
    return Trace(path, {n: data[:, i].copy() for i, n in enumerate(names)}, None, rate)


def _rate_attr(obj: Any, path: Path) -> float:
    """An object's ``rate_hz`` attribute as a positive finite number (StorageError otherwise)."""
    value = obj.attrs["rate_hz"]
    try:
        rate = float(np.asarray(value).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        rate = float("nan")
    if not (math.isfinite(rate) and rate > 0):
        raise StorageError(f"{path}: attribute 'rate_hz' of {obj.name} is {value!r:.40}, expected a rate in Hz "
                        "(damaged file? pass --rate HZ)")
    return rate


def _trial_node(fh: Any, path: Path, trial: str) -> Any:
    """The object ``--trial`` names: an HDF5 path, or ``TEST/TRIAL`` of the session layout
    (``01_hip-abduction-hhd/003``); a trial group with one device stands for that device."""
    import h5py

    candidates = [trial]
    parts = trial.strip("/").split("/")
    if len(parts) in (2, 3) and not trial.startswith("/tests/"):
        candidates.append("/tests/" + parts[0] + "/trials/" + "/".join(parts[1:]))
    name = next((c for c in candidates if _has(fh, c)), None)
    if name is None:
        raise StorageError(f"no trial {trial!r} in {path}")
    node = fh[name]
    if isinstance(node, h5py.Group) and "force_n" not in node:
        devices = sorted(k for k, v in node.items() if isinstance(v, h5py.Group) and "force_n" in v)
        if len(devices) == 1:
            return node[devices[0]]
        if devices:
            raise StorageError(f"trial {trial!r} in {path} holds several devices ({', '.join(devices)}): "
                            f"choose one, e.g. --trial {name.rstrip('/')}/{devices[0]}")
    return node


def _has(fh: Any, name: str) -> bool:
    try:
        return name in fh
    except (KeyError, ValueError, RuntimeError, OSError):
        return False


def load_trace(path_text: str, trial: str | None, rate: float | None, unit: str) -> Trace:
    """Load a trace file, convert forces to N and settle the sample rate (StorageError on problems)."""
    path = Path(path_text)
    if not path.exists():
        raise StorageError(f"no such file: {path}")
    if path.is_dir():
        raise StorageError(f"{path} is a directory, not a trace file")
    if path.suffix.lower() in _H5_SUFFIXES:
        trace = _read_h5(path, trial)
    else:
        if trial:
            raise StorageError(f"--trial is for session files (.h5); {path} is a text trace")
        trace = _read_text(path)
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise StorageError(f"--rate must be a positive number of Hz, got {rate:g}")
    file_rate = trace.rate_hz
    if trace.time_column is not None:
        t = trace.columns[trace.time_column]
        dt = np.diff(t)
        med = float(np.median(dt)) if dt.size else float("nan")
        if not (math.isfinite(med) and med > 0):
            if rate is None:
                raise StorageError(f"time column {trace.time_column!r} in {path} is not increasing; pass --rate HZ")
        else:
            file_rate = 1.0 / med
            if abs(file_rate - round(file_rate)) < 1e-6 * file_rate:
                file_rate = float(round(file_rate))
            if np.any(np.abs(dt - med) > 0.5 * med):
                trace.notes.append(f"time column {trace.time_column!r} is irregular; rate {file_rate:g} Hz from its median step")
    if rate is not None:
        if file_rate is not None and abs(rate - file_rate) > 0.01 * file_rate:
            trace.notes.append(f"--rate {rate:g} Hz overrides the file's {file_rate:g} Hz")
        trace.rate_hz = float(rate)
    elif file_rate is not None:
        trace.rate_hz = file_rate
    else:
        raise StorageError(f"{path} has no time column and no sample rate: pass --rate HZ")
    factor = UNIT_TO_N[unit]
    for name in trace.force_names:
        trace.columns[name] = trace.columns[name] * factor
    if not trace.force_names:
        raise StorageError(f"{path} has no force column (only time)")
    return trace


def column(trace: Trace, name: str) -> str:
    """The name of the force column ``name`` of ``trace``: exact name, case-insensitive name
    or 1-based number; a :class:`StorageError` if it is missing, the time or not all finite."""
    if name in trace.columns:
        found = name
    else:
        lower = {c.lower(): c for c in trace.columns}
        found = lower.get(name.strip().lower())  # type: ignore[assignment]  # None handled below
        if found is None and name.strip().isdigit():
            k = int(name.strip())
            if 1 <= k <= len(trace.columns):
                found = list(trace.columns)[k - 1]
    if found is None:
        raise StorageError(f"no column {name!r} in {trace.path} (columns: {', '.join(trace.columns)})")
    if found == trace.time_column:
        raise StorageError(f"column {found!r} in {trace.path} is the time column, not a force")
    values = trace.columns[found]
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise StorageError(f"column {found!r} in {trace.path} has non-finite values (first at sample {bad[0] + 1})")
    return found


def auto_column(trace: Trace, hint: str) -> str:
    """The trace's only force column, or the one with a usual force name; else a
    :class:`StorageError` listing the columns and ending with ``hint``."""
    names = trace.force_names
    if len(names) == 1:
        return column(trace, names[0])
    for pref in _FORCE_NAMES:
        for n in names:
            if n.strip().lower() == pref:
                trace.notes.append(f"using column {n!r}")
                return column(trace, n)
    raise StorageError(f"{trace.path} has several columns ({', '.join(names)}): {hint}")




__all__ = ["UNIT_TO_N", "Trace", "auto_column", "column", "load_trace"]
