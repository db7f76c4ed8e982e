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


def _groups(g: h5py.Group) -> list[tuple[str, h5py.Group]]:
    """The subgroups of ``g`` by name (others skipped; [] if ``g`` is not a group)."""
    return Damage().groups(g, getattr(g, "name", "?"))


def _samples(trial: h5py.Group, live: bool, damage: Damage | None = None) -> dict[str, int]:
    damage = damage if damage is not None else Damage()
    out = {}
    for k, d in damage.groups(trial, trial.name):
        if "t_host_s" in d:
            ds = d["t_host_s"]
            if live and isinstance(ds, h5py.Dataset):
                ds.refresh()
            n = damage.rows(ds, ds.name)
            if n is not None:
                out[k] = n
    return out


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
    """Everything ``station inspect`` shows, as one JSON-ready dict.

    Besides the file's own fields: ``recording_now`` (a live station holds the file),
    ``unfinished`` (its status is still ``recording`` but no station holds it: the station
    stopped without closing it; ``station session recover`` repairs it), ``swmr_flagged``,
    and ``damaged``: what could not be read as expected (an attribute of the wrong type,
    JSON garbage, a group replaced by a dataset), one short text per problem; the rest of
    the summary holds what is still readable (see :mod:`station.storage.damage`).
    """
    states: list[OpenState] = []
    with open_session(path, state=states) as f:
        st = states[0]
        try:
            out = _summarize(f, path, st)
        except (OSError, KeyError, ValueError, RuntimeError, TypeError, AttributeError, IndexError) as exc:
            raise StorageError(f"{path}: damaged session file, cannot be read ({_short(exc)})") from None
    return out


_SESSION_NUMBERS = ("body_mass_kg", "height_m", "lever_arm_m")
_SESSION_TEXTS = ("patient_id", "involved_side", "operator")
_SIDE_NUMBERS = ("best_n", "mean_n", "cv_pct")


def _summarize(f: h5py.File, path: str | Path, st: OpenState) -> dict[str, Any]:
    damage = Damage()
    root = attrs_of(f)
    status = damage.text(root, "status", "/")
    recording = status == layout.STATUS_RECORDING
    session = attrs_of(f["session"]) if damage.child_group(f, "session") is not None else {}
    for key in _SESSION_NUMBERS:
        if key in session:
            session[key] = damage.number(session, key, "/session")
    for key in _SESSION_TEXTS:
        if key in session:
            session[key] = damage.text(session, key, "/session")
    out: dict[str, Any] = {
        "file": str(path),
        "format_version": root.get("format_version"),
        **{key: damage.text(root, key, "/") for key in (
            "station_version", "algorithm_version", "session_id")},
        "status": status,
        **{key: damage.text(root, key, "/") for key in (
            "created_utc", "closed_utc", "recovered_utc", "recovery", "recovered_from_status")},
        "recording_now": recording and st.in_use,
        "unfinished": (recording or st.swmr_flagged) and not st.in_use,
        "swmr_flagged": st.swmr_flagged,
        "session": session,
        "devices": {},
        "protocols": [],
        "tests": [],
        "damaged": damage.problems,
    }
    devices = damage.child_group(f, "devices")
    for name, g in damage.groups(devices, "/devices") if devices is not None else []:
        a = attrs_of(g)
        where = g.name
        out["devices"][name] = {
            **{k: damage.text(a, k, where) for k in ("family", "model", "serial", "firmware", "unit",
                                                     "time_source", "uri")},
            "channels": damage.integer(a, "channels", where), "rate_hz": damage.number(a, "rate_hz", where)}
        cal: dict[str, Any] = a["calibration"] if isinstance(a.get("calibration"), dict) else {}
        # channels used without a usable calibration (--allow-uncalibrated): an audit fact
        out["devices"][name]["calibration_overrides"] = [
            o for o in (cal.get("overrides") or []) if isinstance(o, dict)]
        # what the driver could not identify, and its warnings (a gauge that answers only
        # readings, an unanswered optional command): what the file says about the device
        settings: dict[str, Any] = a["settings"] if isinstance(a.get("settings"), dict) else {}
        identified: dict[str, Any] = settings["identified"] if isinstance(settings.get("identified"), dict) else {}
        out["devices"][name]["not_identified"] = sorted(k for k, v in identified.items() if v is False)
        warnings = a.get("warnings")
        out["devices"][name]["warnings"] = [w for w in warnings if isinstance(w, str)] \
            if isinstance(warnings, list) else []
    protocols = damage.child_group(f, "protocols")
    if protocols is not None:
        out["protocols"] = [k for k, _ in damage.groups(protocols, "/protocols")]
    tests = damage.child_group(f, "tests")
    for test_name, tg in damage.groups(tests, "/tests") if tests is not None else []:
        ta = attrs_of(tg)
        where = tg.name
        summary = damage.mapping(ta, "summary", where)
        sides = summary.get("sides", {})
        if not isinstance(sides, dict):
            damage.add(f"{where} attribute 'summary' has sides {sides!r:.40}, expected a JSON object")
            sides = {}
        sides = {k: damage.numbers_in(v, _SIDE_NUMBERS, f"{where} summary side {k!r}") if isinstance(v, dict)
                 else {} for k, v in sides.items()}
        symmetry = summary.get("symmetry", {})
        if not isinstance(symmetry, dict):
            damage.add(f"{where} attribute 'summary' has symmetry {symmetry!r:.40}, expected a JSON object")
            symmetry = {}
        symmetry = damage.numbers_in(symmetry, ("value_pct",), f"{where} summary symmetry")
        test: dict[str, Any] = {
            "test": test_name, "protocol_id": damage.text(ta, "protocol_id", where),
            "name": damage.text(ta, "name", where), "kind": damage.text(ta, "kind", where),
            "status": damage.text(ta, "status", where),
            "sides": sides, "symmetry": symmetry, "trials": [],
            "lever_arm": ta.get("lever_arm") if isinstance(ta.get("lever_arm"), dict) else None,
            "lsi_pass_pct": damage.number(ta, "lsi_pass_pct", where) if "lsi_pass_pct" in ta else None,
        }
        trials = damage.child_group(tg, "trials")
        for trial_name, trg in damage.groups(trials, f"{where}/trials") if trials is not None else []:
            a = attrs_of(trg)
            tw = trg.name
            results = damage.mapping(a, "results", tw)
            raw_flags = a.get("quality_flags")
            if isinstance(raw_flags, str) and raw_flags[:1] != "[":
                flags: list[Any] = [raw_flags]  # one flag stored as plain text
            else:
                flags = damage.sequence(a, "quality_flags", tw)
            test["trials"].append({
                "trial": trial_name, "side": damage.text(a, "side", tw), "rep": damage.integer(a, "rep", tw),
                "attempt": damage.integer(a, "attempt", tw), "status": damage.text(a, "status", tw),
                "peak_force_n": damage.number(a, "peak_force_n", tw),
                "time_to_peak_s": damage.numbers_in(results, ("time_to_peak_s",), f"{tw} results").get("time_to_peak_s"),
                "samples": _samples(trg, st.swmr_flagged, damage), "duration_s": _duration(trg, damage),
                "samples_acquired": damage.mapping(a, "samples_acquired", tw) if "samples_acquired" in a else None,
                "flags": [str(x) for x in flags],
                "analysis": trial_analysis(results, a.get("side")),
                "pain_0_10": a.get("pain_0_10"),
                "peak_force_left_n": a.get("peak_force_left_n"), "peak_force_right_n": a.get("peak_force_right_n"),
                "beyond_calibrated_range": bool(a.get("beyond_calibrated_range", False)),
                "zero_offset_n": a.get("zero_offset_n"), "start_utc": a.get("start_utc"),
            })
        out["tests"].append(test)
    return out
