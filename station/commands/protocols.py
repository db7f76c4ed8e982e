"""``station protocols``: list, show and validate test protocols (TOML files).

    station protocols list [--protocols-dir DIR]
    station protocols show ID [--json | --toml] [--first-side left|right] [--protocols-dir DIR]
    station protocols validate FILE [--protocols-dir DIR]
"""
from __future__ import annotations

from collections.abc import Sequence

import argparse
import json
import sys
import textwrap
from typing import Any

from protocols import (
    ProtocolError,
    builtin_protocols,
    find_protocols,
    get_protocol,
    load_protocol,
    user_protocols,
    user_protocols_dir,
)
from protocols.model import Protocol
from station.errors import UserError

_DIR_HELP = ("folder of the clinic's own protocol files (default: $FORCE_STATION_PROTOCOLS_DIR, "
             "else the per-user data folder; see `station protocols list`)")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--protocols-dir", metavar="DIR", default=None, help=_DIR_HELP)

    parser = subparsers.add_parser(
        "protocols",
        help="list, show and validate test protocols",
        description="Test protocols are TOML files: the built-in ones plus the clinic's own in "
                    "the protocols folder (a file with the id of a built-in replaces it). "
                    "Schema: docs/protocols.md.",
    )
    parser.set_defaults(func=run, protocols_parser=parser)
    sub = parser.add_subparsers(dest="protocols_command", metavar="SUBCOMMAND")

    sub.add_parser(
        "list", parents=[common], help="list the available protocols",
        description="List built-in and user protocols: id, kind, sides/order, reps, name and "
                    "where each comes from. Invalid user files are reported on stderr.",
    )

    show = sub.add_parser(
        "show", parents=[common], help="show one protocol and its trial plan",
        description="Show a protocol (after defaults are filled in) and its planned trials.",
    )
    show.add_argument("id", metavar="ID", help="protocol id, or a path to a .toml file")
    fmt = show.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print as JSON (with the plan)")
    fmt.add_argument("--toml", action="store_true",
                     help="print the protocol's TOML file verbatim (a template for your own)")
    show.add_argument("--first-side", choices=("left", "right"), default="left",
                      help="side tested first in the plan (default: left)")

    validate = sub.add_parser(
        "validate", parents=[common], help="check a protocol file",
        description="Check a protocol file; prints 'OK: <id> (<name>)' or the first problem "
                    "with its line number.",
    )
    validate.add_argument("file", metavar="FILE", help="protocol .toml file")


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "protocols_command", None)
    if command is None:
        args.protocols_parser.print_help()
        return 2
    try:
        if command == "list":
            return _list(args)
        if command == "show":
            return _show(args)
        if command == "validate":
            return _validate(args)
    except ProtocolError as exc:
        raise UserError(str(exc)) from None
    raise UserError(f"unknown protocols subcommand {command!r}")  # pragma: no cover


# --- list --------------------------------------------------------------------------------------
def _sides_order(p: Protocol) -> str:
    return f"{'+'.join(p.sides)} {p.order}"


def _source(p: Protocol, builtin_ids: set[str]) -> str:
    if p.builtin:
        return "built-in"
    if p.id in builtin_ids:
        return f"{p.source_path} (overrides built-in)"
    return str(p.source_path)


def _list(args: argparse.Namespace) -> int:
    errors: list[ProtocolError] = []
    protocols = find_protocols(args.protocols_dir, errors=errors)
    builtin_ids = set(builtin_protocols())
    header = ("ID", "KIND", "SIDES/ORDER", "REPS", "NAME", "SOURCE")
    rows = [(p.id, p.kind, _sides_order(p), str(p.reps), p.name, _source(p, builtin_ids))
            for p in protocols.values()]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    directory = user_protocols_dir(args.protocols_dir)
    state = "" if directory.is_dir() else " (does not exist yet)"
    print(f"\nUser protocols folder: {directory}{state}")
    for exc in errors:
        print(f"station: error: {exc}", file=sys.stderr)
    return 2 if errors else 0


# --- show --------------------------------------------------------------------------------------
def _num(x: float) -> str:
    return f"{x:g}"


def _plan_text(plan: Sequence[tuple[str, int]]) -> str:
    short = {"left": "L", "right": "R", "both": "B"}
    return " ".join(f"{short[s]}{r}" for s, r in plan)


def _describe(p: Protocol, plan: Sequence[tuple[str, int]], builtin_ids: set[str]) -> str:
    t, a, n, c = p.timing, p.acceptance, p.normalisation, p.cues
    lines = [
        f"{p.id}  (version {p.version}, {_source(p, builtin_ids)})",
        p.name,
        "",
    ]
    if p.description:
        lines += [textwrap.fill(" ".join(p.description.split()), 88), ""]
    lines.append(f"kind:          {p.kind}")
    lines.append(f"sides:         {', '.join(p.sides)} ({p.order}), {p.reps} reps per side")
    timing = (f"countdown {_num(t.countdown_s)} s, duration {_num(t.duration_s)} s, "
              f"rest {_num(t.rest_s)} s")
    if t.rest_between_sides_s is not None:
        timing += f", {_num(t.rest_between_sides_s)} s between sides"
    lines.append(f"timing:        {timing}")
    drop = ("off" if a.max_drop_pct >= 100
            else f"repeat a rep more than {_num(a.max_drop_pct)} % below the best")
    lines.append(f"acceptance:    {drop}; {a.min_reps} valid reps per side needed, at most {a.max_reps}"
                 + (f"; LSI pass mark {_num(a.lsi_pass_pct)} %" if "lsi" in p.metrics else ""))
    lines.append(f"metrics:       {', '.join(p.metrics)}")
    norm = ["body mass" if n.body_mass else "no body-mass normalisation"]
    if n.lever_arm_m is not None:
        norm.append(f"lever arm {_num(n.lever_arm_m)} m" +
                    (f" ({n.lever_arm_label})" if n.lever_arm_label else ""))
    elif n.lever_arm_label:
        norm.append(f"lever arm measured per patient ({n.lever_arm_label})")
    if n.lever_arm_min_m is not None or n.lever_arm_max_m is not None:
        norm.append(f"plausible lever arm {_num(n.lever_arm_min_m or 0)} to {_num(n.lever_arm_max_m or 1.5)} m")
    lines.append(f"normalisation: {'; '.join(norm)}")
    if p.analysis:  # the protocol's own [analysis] values; the rest are the station's defaults
        shown = [f"{k} = {_num(v) if not isinstance(v, tuple) else '[' + ', '.join(_num(x) for x in v) + ']'}"
                 for k, v in p.analysis.items()]
        lines.append(f"analysis:      {', '.join(shown)} (other parameters: defaults, docs/metrics.md)")
    lines.append("devices:")
    for d in p.devices:
        rate = f", at least {_num(d.min_rate_hz)} Hz" if d.min_rate_hz else ""
        plural = "s" if d.channels != 1 else ""
        lines.append(f"  {d.role}: {d.kind}, {d.channels} channel{plural}{rate}")
    lines.append("channel map:")
    for m in p.channel_map:
        chans = ", ".join(str(ch) for ch in m.channels)
        side = m.side if m.side is not None else "the side being tested"
        summed = " (summed)" if len(m.channels) > 1 else ""
        lines.append(f"  {m.role} channel{'s' if len(m.channels) > 1 else ''} {chans}{summed} -> {side}")
    lines.append("cues:")
    for label, text in (("setup", c.setup), ("start", c.start), ("during", c.during), ("stop", c.stop)):
        if text:
            lines.append(textwrap.fill(" ".join(text.split()), 88, initial_indent=f"  {label + ':':8}",
                                       subsequent_indent=" " * 10))
    lines.append(f"plan ({len(plan)} trials): {_plan_text(plan)}")
    return "\n".join(lines)


def _show(args: argparse.Namespace) -> int:
    p = get_protocol(args.id, args.protocols_dir)
    if args.toml:
        sys.stdout.write(p.source_text if p.source_text.endswith("\n") else p.source_text + "\n")
        return 0
    plan = p.trial_plan(args.first_side)
    builtin_ids = set(builtin_protocols())
    if args.json:
        data: dict[str, Any] = p.as_dict(include_source_text=False)
        data["overrides_builtin"] = (not p.builtin) and p.id in builtin_ids
        data["plan"] = [{"side": s, "rep": r} for s, r in plan]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    print(_describe(p, plan, builtin_ids))
    return 0


# --- validate ----------------------------------------------------------------------------------
def _validate(args: argparse.Namespace) -> int:
    p = load_protocol(args.file)
    print(f"OK: {p.id} ({p.name})")
    if p.id in builtin_protocols():
        print(f'note: in the protocols folder this file replaces the built-in "{p.id}"')
    others = user_protocols(args.protocols_dir, errors=[])
    other = others.get(p.id)
    if other is not None and other.source_path != p.source_path:
        print(f'note: the protocols folder already has id "{p.id}" in {other.source_path}')
    if not str(args.file).lower().endswith(".toml"):
        print("note: only files ending in .toml are read from the protocols folder")
    return 0
