"""``station analyze``: analyse a recorded force trace (CSV/TXT or a session file trial).

Reads a delimited text file (comma, tab or semicolon; header optional; a time column named
like ``Time``/``t``/``time_s`` or ``--rate``) or a trial group of an HDF5 session file, runs
:mod:`station.analysis` and prints a text summary or one JSON object (``--json``).
Times in the output are seconds from the first sample.
"""
from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from station.errors import UserError

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


# ------------------------------------------------------------------------------ argparse
def register(subparsers: argparse._SubParsersAction) -> None:  # noqa: SLF001 (argparse API)
    p = subparsers.add_parser(
        "analyze",
        help="analyse a recorded isometric or landing trace (CSV/TXT or session .h5)",
        description=(
            "Analyse a force trace. TRACE is a delimited text file (comma, tab or semicolon; "
            "header optional; time column Time/t/time_s or --rate) or a session file FILE.h5 "
            "with --trial PATH. Times are reported in seconds from the first sample."),
    )
    p.add_argument("trace", metavar="TRACE", help="CSV/TXT trace or session file (.h5)")
    p.add_argument("--test", required=True, choices=("isometric", "landing"), help="kind of trial")
    p.add_argument("--rate", type=float, metavar="HZ", help="sample rate (overrides the time column)")
    p.add_argument("--column", metavar="NAME", help="force column: name or 1-based column number")
    p.add_argument("--left", metavar="COL", help="left plate column (landing on two plates)")
    p.add_argument("--right", metavar="COL", help="right plate column (landing on two plates)")
    p.add_argument("--unit", choices=tuple(UNIT_TO_N), default="N", help="force unit in the file (default N)")
    p.add_argument("--trial", metavar="PATH", help="HDF5 path of the trial group in a session file")
    p.add_argument("--json", action="store_true", help="print one JSON object (SI units)")
    iso = p.add_argument_group("isometric options")
    iso.add_argument("--onset-k", type=float, metavar="K", help="onset threshold = baseline + K * SD (default 3)")
    iso.add_argument("--onset-threshold-n", type=float, metavar="N",
                     help="onset threshold = baseline + N newtons (instead of K * SD)")
    iso.add_argument("--onset-s", type=float, metavar="S", help="manual onset, s from the first sample")
    iso.add_argument("--lever-arm-m", type=float, metavar="M", help="lever arm for torque (m)")
    iso.add_argument("--body-mass-kg", type=float, metavar="KG", help="body mass for N/kg and N*m/kg")
    iso.add_argument("--filter-hz", type=float, metavar="HZ",
                     help="zero-lag low-pass of the whole trace (default: none; landing too)")
    iso.add_argument("--rfd-filter-hz", type=float, metavar="HZ",
                     help="low-pass for onset/RFD/impulse (default 50; 0 = none)")
    land = p.add_argument_group("landing options")
    land.add_argument("--body-weight-n", type=float, metavar="N", help="body weight from the patient record")
    land.add_argument("--contact", choices=("first", "last"), default="first",
                      help="landing contact to analyse (default first: the landing from the box)")
    land.add_argument("--bw-from", choices=("after", "before"), default="after",
                      help="quiet standing after the last landing, or a weigh-in at the start")
    p.set_defaults(func=run)


# ------------------------------------------------------------------------------- loading
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
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise UserError(f"{path} is empty")
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
        raise UserError(f"{path} has duplicate column names: {', '.join(names)}")
    body = rows[1:] if header else rows
    if not body:
        raise UserError(f"{path} has a header but no data")
    for i, row in enumerate(body):
        if len(row) != width:
            line_no = i + (2 if header else 1)
            raise UserError(f"{path}: line {line_no} has {len(row)} fields, expected {width}")
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        cells = [row[j] for row in body]
        try:
            columns[name] = np.array(cells, dtype=np.float64)
        except ValueError:
            bad = next(k for k, c in enumerate(cells) if not _is_number(c))
            line_no = bad + (2 if header else 1)
            raise UserError(
                f"column {name!r} in {path} is not numeric (line {line_no}: {cells[bad]!r})") from None
    time_col = next((n for n in names if _TIME_RE.fullmatch(n.strip())), None) if header else None
    return Trace(path, columns, time_col, None)


def _read_session_trial(path: Path, trial: str) -> Trace | None:
    """A trial group of a Force Station session file (``tests/<test>/trials/<nnn>``): one
    column per measured side, the force the session analysed. None for anything else."""
    from station.storage.session_reader import SessionReader

    try:
        reader = SessionReader(path)
    except UserError:
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
                    from station.session.runner import common_grid

                    columns, rates = common_grid(columns, times, rates)
                    notes.append("devices aligned by linear interpolation on their common host-time grid")
                known = [r for r in rates.values() if r is not None]
                return Trace(path, columns, None, min(known) if known else None, notes)
    return None


def _read_h5(path: Path, trial: str | None) -> Trace:
    if not trial:
        raise UserError(f"{path} is a session file: choose a trial with --trial PATH")
    session_trial = _read_session_trial(path, trial)
    if session_trial is not None:
        return session_trial
    import h5py  # local import: only needed for session files

    from station.storage.reader import open_file

    fh, _ = open_file(path)  # one-line UserError: not HDF5, truncated, damaged, …
    with fh:
        node = _trial_node(fh, path, trial)
        if isinstance(node, h5py.Dataset):
            ds = node
        elif "force_n" in node and isinstance(node["force_n"], h5py.Dataset):
            ds = node["force_n"]
        else:
            raise UserError(f"trial {trial!r} in {path} has no dataset 'force_n'")
        try:
            data = np.asarray(ds[()], dtype=np.float64)
        except (TypeError, ValueError, OSError):
            raise UserError(f"dataset {ds.name!r} in {path} is not numeric") from None
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[0] == 0:
            raise UserError(f"dataset {ds.name!r} in {path} must have shape (samples, channels), got {data.shape}")
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
    """An object's ``rate_hz`` attribute as a positive finite number (UserError otherwise)."""
    value = obj.attrs["rate_hz"]
    try:
        rate = float(np.asarray(value).reshape(-1)[0])
    except (TypeError, ValueError, IndexError):
        rate = float("nan")
    if not (math.isfinite(rate) and rate > 0):
        raise UserError(f"{path}: attribute 'rate_hz' of {obj.name} is {value!r:.40}, expected a rate in Hz "
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
        raise UserError(f"no trial {trial!r} in {path}")
    node = fh[name]
    if isinstance(node, h5py.Group) and "force_n" not in node:
        devices = sorted(k for k, v in node.items() if isinstance(v, h5py.Group) and "force_n" in v)
        if len(devices) == 1:
            return node[devices[0]]
        if devices:
            raise UserError(f"trial {trial!r} in {path} holds several devices ({', '.join(devices)}): "
                            f"choose one, e.g. --trial {name.rstrip('/')}/{devices[0]}")
    return node


def _has(fh: Any, name: str) -> bool:
    try:
        return name in fh
    except (KeyError, ValueError, RuntimeError, OSError):
        return False


def load_trace(path_text: str, trial: str | None, rate: float | None, unit: str) -> Trace:
    """Load a trace file, convert forces to N and settle the sample rate (UserError on problems)."""
    path = Path(path_text)
    if not path.exists():
        raise UserError(f"no such file: {path}")
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a trace file")
    if path.suffix.lower() in _H5_SUFFIXES:
        trace = _read_h5(path, trial)
    else:
        if trial:
            raise UserError(f"--trial is for session files (.h5); {path} is a text trace")
        trace = _read_text(path)
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise UserError(f"--rate must be a positive number of Hz, got {rate:g}")
    file_rate = trace.rate_hz
    if trace.time_column is not None:
        t = trace.columns[trace.time_column]
        dt = np.diff(t)
        med = float(np.median(dt)) if dt.size else float("nan")
        if not (math.isfinite(med) and med > 0):
            if rate is None:
                raise UserError(f"time column {trace.time_column!r} in {path} is not increasing; pass --rate HZ")
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
        raise UserError(f"{path} has no time column and no sample rate: pass --rate HZ")
    factor = UNIT_TO_N[unit]
    for name in trace.force_names:
        trace.columns[name] = trace.columns[name] * factor
    if not trace.force_names:
        raise UserError(f"{path} has no force column (only time)")
    return trace


def _column(trace: Trace, name: str) -> str:
    """Resolve a column by exact name, case-insensitive name or 1-based number."""
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
        raise UserError(f"no column {name!r} in {trace.path} (columns: {', '.join(trace.columns)})")
    if found == trace.time_column:
        raise UserError(f"column {found!r} in {trace.path} is the time column, not a force")
    values = trace.columns[found]
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise UserError(f"column {found!r} in {trace.path} has non-finite values (first at sample {bad[0] + 1})")
    return found


def _auto_column(trace: Trace, hint: str) -> str:
    names = trace.force_names
    if len(names) == 1:
        return _column(trace, names[0])
    for pref in _FORCE_NAMES:
        for n in names:
            if n.strip().lower() == pref:
                trace.notes.append(f"using column {n!r}")
                return _column(trace, n)
    raise UserError(f"{trace.path} has several columns ({', '.join(names)}): {hint}")


# ------------------------------------------------------------------------------- running
def check_options(args: argparse.Namespace) -> None:
    """Every numeric option in its range, before the trace is read (one line naming it)."""
    from protocols.loader import MAX_LEVER_ARM_M, MAX_RATE_HZ
    from station import validate

    limits: dict[str, dict[str, Any]] = {
        "--rate": {"ge": 1, "le": MAX_RATE_HZ}, "--onset-k": {"gt": 0, "le": 100},
        "--onset-threshold-n": {"gt": 0}, "--onset-s": {"ge": 0},
        "--lever-arm-m": {"gt": 0, "le": MAX_LEVER_ARM_M}, "--body-mass-kg": {"gt": 0, "lt": 400},
        "--filter-hz": {"gt": 0}, "--rfd-filter-hz": {"ge": 0}, "--body-weight-n": {"gt": 0, "lt": 400 * 9.80665},
    }
    units = {"--rate": "Hz", "--onset-threshold-n": "N", "--onset-s": "s", "--lever-arm-m": "m",
             "--body-mass-kg": "kg", "--filter-hz": "Hz", "--rfd-filter-hz": "Hz", "--body-weight-n": "N"}
    for option, bounds in limits.items():
        value = getattr(args, option[2:].replace("-", "_"))
        if value is not None:
            validate.number(value, option, unit=units.get(option, ""), **bounds)


def _check_against_trace(args: argparse.Namespace, rate: float, trace: Trace) -> None:
    """Options that depend on the trace: filter cut-offs below Nyquist, a manual onset inside it."""
    samples = max((len(c) for c in trace.columns.values()), default=0)
    end_s = (samples - 1) / rate if samples else 0.0
    if args.onset_s is not None and args.onset_s > end_s:
        raise UserError(f"--onset-s {args.onset_s:g}: after the end of the trace ({end_s:.3f} s)")
    for option in ("--filter-hz", "--rfd-filter-hz"):
        value = getattr(args, option[2:].replace("-", "_"))
        if value and value >= rate / 2:
            raise UserError(f"{option} {value:g}: must be below half the sample rate ({rate / 2:g} Hz)")


def run(args: argparse.Namespace) -> int:
    from station import analysis as an

    check_options(args)
    trace = load_trace(args.trace, args.trial, args.rate, args.unit)
    rate = float(trace.rate_hz)  # type: ignore[arg-type]
    _check_against_trace(args, rate, trace)
    if (args.left is None) != (args.right is None):
        raise UserError("--left and --right go together")
    if args.left is not None and args.column is not None:
        raise UserError("use either --column or --left/--right")

    if args.test == "isometric":
        if args.left is not None:
            raise UserError("--left/--right are for --test landing")
        col = _column(trace, args.column) if args.column else _auto_column(trace, "choose one with --column")
        params = an.IsometricParams()
        changes: dict[str, Any] = {}
        if args.onset_k is not None:
            changes["onset_k"] = args.onset_k
        if args.onset_threshold_n is not None:
            changes["onset_threshold_n"] = args.onset_threshold_n
        if args.onset_s is not None:
            changes["onset_s"] = args.onset_s
        if args.filter_hz is not None:
            changes["filter_hz"] = args.filter_hz or None
        if args.rfd_filter_hz is not None:
            changes["rfd_filter_hz"] = args.rfd_filter_hz or None
        result: Any = an.analyze_isometric(trace.columns[col], rate, replace(params, **changes),
                                      body_mass_kg=args.body_mass_kg, lever_arm_m=args.lever_arm_m)
        if result.status != "ok":
            raise UserError(_failure(result.status, "isometric", f"{trace.path} column {col!r}", result.notes))
        out = result.to_dict()
        source = {"file": str(trace.path), "column": col, "unit": args.unit}
        text = _isometric_text
    else:
        lparams = replace(an.LandingParams(), contact=args.contact, body_weight_from=args.bw_from,
                          filter_hz=args.filter_hz or None)
        if args.left is None and args.column is None and set(trace.force_names) == {"left", "right"}:
            args.left, args.right = "left", "right"  # a two-plate trial group: analysed as a whole
        if args.left is not None:
            lcol, rcol = _column(trace, args.left), _column(trace, args.right)
            result = an.analyze_dual_landing(trace.columns[lcol], trace.columns[rcol], rate, lparams,
                                             body_weight_n=args.body_weight_n)
            status, notes = result.total.status, result.total.notes
            source = {"file": str(trace.path), "left": lcol, "right": rcol, "unit": args.unit}
        else:
            col = (_column(trace, args.column) if args.column
                   else _auto_column(trace, "choose one with --column, or two plates with --left COL --right COL"))
            result = an.analyze_landing(trace.columns[col], rate, lparams, body_weight_n=args.body_weight_n)
            status, notes = result.status, result.notes
            source = {"file": str(trace.path), "column": col, "unit": args.unit}
        if status != "ok":
            raise UserError(_failure(status, "landing", str(trace.path), notes))
        out = result.to_dict()
        text = _landing_text
    if args.trial:
        source["trial"] = args.trial
    out["source"] = source
    out["notes"] = trace.notes + list(out["notes"])
    if args.json:
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(text(out))
    return 0


def _failure(status: str, test: str, where: str, notes: Any) -> str:
    """One line: what failed, where, and the analysis' own reason (without saying it twice)."""
    head = _status_text(status, test)
    why = "; ".join(list(notes)[-1:])
    if why.startswith(head):
        why = why[len(head):].lstrip(" :")
    return f"{head} in {where}" + (f": {why}" if why else "")


def _status_text(status: str, test: str) -> str:
    return {
        "no_rise": "no rise found",
        "too_short": "trace too short",
        "no_contact": "no landing contact found",
        "invalid": "cannot analyse the trace",
    }.get(status, f"{test} analysis failed ({status})")


# ------------------------------------------------------------------------------ text output
def _fmt(value: float | None, unit: str, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f} {unit}"


def _table(title: str, rows: list[tuple[str, str]], d: dict[str, Any]) -> str:
    width = max(len(label) for label, _ in rows)
    lines = [title]
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    if d.get("flags"):
        lines.append(f"flags: {', '.join(d['flags'])}")
    if d.get("notes"):
        lines.append("notes:")
        lines += [f"  - {n}" for n in d["notes"]]
    lines.append(f"algorithm version {d['algorithm_version']}")
    return "\n".join(lines)


def _isometric_text(d: dict[str, Any]) -> str:
    p = d["parameters"]
    if p["onset_method"] == "manual":
        method = "manual"
    elif p["onset_method"] == "threshold_n":
        method = f"baseline + {p['onset_threshold_n']:g} N"
    else:
        method = f"baseline + {p['onset_k']:g} SD"
    bw = d["baseline_window_s"]
    rows = [
        ("sample rate", _fmt(d["rate_hz"], "Hz", 0)),
        ("baseline", f"{_fmt(d['baseline_n'], 'N')}  (SD {_fmt(d['baseline_sd_n'], 'N', 2)}, "
                     f"window {bw[0]:.3f}-{bw[1]:.3f} s)"),
        ("onset", f"{_fmt(d['onset_s'], 's', 3)}  ({method})"),
        ("peak force", f"{_fmt(d['peak_force_n'], 'N')}  (absolute {_fmt(d['peak_force_abs_n'], 'N')}, "
                       f"at {_fmt(d['peak_s'], 's', 3)})"),
        ("time to peak", _fmt(d["time_to_peak_s"], "s", 3)),
        ("mean of best 1 s", _fmt(d["mean_best_1s_n"], "N")),
    ]
    for key, v in d["rfd_n_per_s"].items():
        rows.append((f"RFD {key} ms", _fmt(v, "N/s", 0)))
    rows.append((f"peak RFD ({p['peak_rfd_window_s'] * 1e3:g} ms)", _fmt(d["peak_rfd_n_per_s"], "N/s", 0)))
    for key, v in d["impulse_n_s"].items():
        rows.append((f"impulse {key} ms", _fmt(v, "N·s", 2)))
    if d["peak_torque_nm"] is not None:
        rows.append(("peak torque", _fmt(d["peak_torque_nm"], "N·m")))
    if d["peak_force_n_per_kg"] is not None:
        rows.append(("peak force / mass", _fmt(d["peak_force_n_per_kg"], "N/kg", 2)))
    if d["peak_torque_nm_per_kg"] is not None:
        rows.append(("peak torque / mass", _fmt(d["peak_torque_nm_per_kg"], "N·m/kg", 2)))
    filt = f"RFD signal low-pass {d['rfd_filter_hz']:g} Hz" if d["rfd_filter_hz"] else "RFD signal unfiltered"
    rows.append(("filter", filt + (f", peak signal {d['filter_hz']:g} Hz" if d["filter_hz"] else "")))
    src = d["source"]
    return _table(f"Isometric analysis of {src['file']} (column {src['column']})", rows, d)


def _landing_rows(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("contact", f"{_fmt(d['contact_s'], 's', 3)}  ({d['analysed_contact']} of {d['n_contacts']} contact(s))"),
        ("body weight", f"{_fmt(d['body_weight_n'], 'N')}  ({d['body_weight_source'] or 'n/a'})"),
        ("peak force", f"{_fmt(d['peak_force_n'], 'N')}  ({_fmt(d['peak_force_bw'], 'x BW', 2)})"),
        ("time to peak", _fmt(d["time_to_peak_s"], "s", 3)),
        ("loading rate", _fmt(d["loading_rate_n_per_s"], "N/s", 0)),
        ("peak loading rate", _fmt(d["peak_loading_rate_n_per_s"], "N/s", 0)),
        ("impulse 0-100 ms", _fmt(d["impulse_100ms_n_s"], "N·s", 2)),
        ("time to stabilisation", _fmt(d["tts_s"], "s", 3)),
    ]


def _landing_text(d: dict[str, Any]) -> str:
    rows = [("sample rate", _fmt(d["rate_hz"], "Hz", 0))] + _landing_rows(d)
    if d.get("flight_time_s") is not None:
        rows.append(("flight time", _fmt(d["flight_time_s"], "s", 3)))
    src = d["source"]
    if "left" in d:
        for side in ("left", "right"):
            rows += [(f"{side}: {label}", value) for label, value in _landing_rows(d[side])[2:]]
        for key, label in (("peak_force", "peak force"), ("impulse_100ms", "impulse 0-100 ms")):
            v = d["asymmetry_pct"][key]
            rows.append((f"asymmetry {label}", f"{_fmt(v, '%')}  ({d['asymmetry_direction'][key] or 'n/a'})"))
        title = f"Landing analysis of {src['file']} (left {src['left']}, right {src['right']})"
    else:
        title = f"Landing analysis of {src['file']} (column {src['column']})"
    return _table(title, rows, d)
