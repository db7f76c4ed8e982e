"""``station analyze``: analyse a recorded force trace (CSV/TXT or a session file trial).

Parses the options, loads the trace through :mod:`station.storage.traces` (a delimited text
file, or a trial group of an HDF5 session file read through its SessionReader), runs the
test kind's analysis (:mod:`station.session.kinds`) and prints its text summary or one JSON
object (``--json``). Times in the output are seconds from the first sample.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Any

from station.errors import UserError
from station.session.kinds import KINDS, Subject, TestKind, get_kind
from station.storage.traces import UNIT_TO_N, Trace, auto_column, column, load_trace

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
    p.add_argument("--test", required=True, choices=tuple(KINDS), help="kind of trial")
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


#: option (argparse dest) → the analysis parameter it sets, for the kinds whose parameters have it
_OPTION_PARAMS = {"onset_k": "onset_k", "onset_threshold_n": "onset_threshold_n", "onset_s": "onset_s",
                  "filter_hz": "filter_hz", "rfd_filter_hz": "rfd_filter_hz", "contact": "contact",
                  "bw_from": "body_weight_from"}


def _parameters(args: argparse.Namespace, kind: TestKind) -> dict[str, Any]:
    """The analysis parameters the options set, for the options ``kind``'s parameters have
    (a filter of 0 turns it off)."""
    known = {f.name for f in dataclasses.fields(kind.params_type)}
    return {param: getattr(args, option) for option, param in _OPTION_PARAMS.items()
            if param in known and getattr(args, option) is not None}


def run(args: argparse.Namespace) -> int:
    check_options(args)
    trace = load_trace(args.trace, args.trial, args.rate, args.unit)
    rate = float(trace.rate_hz)  # type: ignore[arg-type]
    _check_against_trace(args, rate, trace)
    if (args.left is None) != (args.right is None):
        raise UserError("--left and --right go together")
    if args.left is not None and args.column is not None:
        raise UserError("use either --column or --left/--right")

    kind = get_kind(args.test)
    source: dict[str, Any] = {"file": str(trace.path)}
    if not kind.paired_columns:
        if args.left is not None:
            raise UserError(f"--left/--right are for --test {', '.join(k for k, v in KINDS.items() if v.paired_columns)}")
        hint = "choose one with --column"
    else:
        hint = "choose one with --column, or two plates with --left COL --right COL"
        if args.left is None and args.column is None and set(trace.force_names) == {"left", "right"}:
            args.left, args.right = "left", "right"  # a two-plate trial group: analysed as a whole
    if args.left is not None:
        lcol, rcol = column(trace, args.left), column(trace, args.right)
        columns = {"left": trace.columns[lcol], "right": trace.columns[rcol]}
        source.update(left=lcol, right=rcol)
        where = str(trace.path)
    else:
        col = column(trace, args.column) if args.column else auto_column(trace, hint)
        columns = {col: trace.columns[col]}
        source["column"] = col
        where = f"{trace.path} column {col!r}" if not kind.paired_columns else str(trace.path)
    source["unit"] = args.unit
    subject = Subject(body_mass_kg=args.body_mass_kg, lever_arm_m=args.lever_arm_m, body_weight_n=args.body_weight_n)
    settings = _parameters(args, kind)
    if trace.analysis and trace.kind == kind.name:  # a session trial: its protocol's [analysis], options over it
        from_protocol = dict(trace.analysis)
        if "onset_k" in settings or "onset_s" in settings:
            from_protocol.pop("onset_threshold_n", None)
        settings = {**from_protocol, **settings}
        trace.notes.append("the protocol's [analysis] settings as in the session: " + ", ".join(
            f"{k} = {v if not isinstance(v, tuple) else list(v)}" for k, v in sorted(trace.analysis.items())))
    result, status, notes = kind.analyse_trace(columns, rate, kind.params(settings), subject)
    if status != "ok":
        raise UserError(_failure(status, kind.name, where, notes))
    out = result.to_dict()
    if args.trial:
        source["trial"] = args.trial
    out["source"] = source
    out["notes"] = trace.notes + list(out["notes"])
    if args.json:
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(kind.report_text(out))
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


__all__ = ["UNIT_TO_N", "Trace", "load_trace", "register", "run"]
