"""``station devices``: list serial ports with their USB ids and, with ``--probe``, which
device family answers on each."""
from __future__ import annotations

import argparse
import json
import os
import stat
from typing import Any

from station.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    from drivers.registry import FAMILIES

    parser = subparsers.add_parser(
        "devices",
        help="list serial ports; --probe asks which device answers",
        description=(
            "List serial ports with their USB ids (vendor:product, serial number, manufacturer). "
            "With --probe, try each device family on each port with a short timeout and report "
            "which answers. Probing closes every port again and leaves no device streaming."
        ),
    )
    parser.add_argument("--probe", action="store_true", help="identify the device on each port")
    parser.add_argument(
        "--port",
        action="append",
        metavar="PATH",
        help="only this port (repeatable); also ports the OS does not list, e.g. a simulator's pty",
    )
    parser.add_argument(
        "--family",
        action="append",
        choices=list(FAMILIES),
        help="with --probe, try only this family (repeatable; default: all)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1.0,
        metavar="S",
        help="with --probe, seconds each family gets to answer (default 1)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from drivers.base import DeviceError
    from drivers.probe import describe_port, list_ports, probe_port

    if args.timeout <= 0:
        raise UserError(f"--timeout must be positive, got {args.timeout:g}")
    if args.port:
        for path in args.port:
            if "://" not in path and not os.path.exists(path):
                raise UserError(f"{path}: port not found (`station devices` without --port lists ports)")
            if "://" not in path and not stat.S_ISCHR(os.stat(path).st_mode):
                raise UserError(f"{path}: not a serial port (a {'directory' if os.path.isdir(path) else 'file'}); "
                                "`station devices` without --port lists ports")
        entries = [describe_port(path) for path in dict.fromkeys(args.port)]
    else:
        entries = list_ports()
    rows: list[dict[str, Any]] = []
    for entry in entries:
        row: dict[str, Any] = entry.as_dict()
        if args.probe:
            try:
                row["probe"] = probe_port(entry.device, args.family, args.timeout).as_dict()
            except DeviceError as exc:
                raise UserError(str(exc)) from None
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no serial ports found (a simulator's pty can be given with --port PATH)")
        return 0
    print(_table(rows, args.probe))
    return 0


def _answer(probe: dict[str, Any]) -> tuple[str, str, str]:
    if probe["family"]:
        return probe["family"], probe["model"] or "-", probe["serial"] or "-"
    return "no answer" if not probe["port_error"] else probe["port_error"], "-", "-"


def _table(rows: list[dict[str, Any]], probed: bool) -> str:
    header = ["PORT", "DESCRIPTION", "VID:PID", "USB SERIAL", "MANUFACTURER"]
    if probed:
        header += ["FAMILY", "MODEL", "DEVICE SERIAL"]
    lines = [header]
    for row in rows:
        cells = [row["device"], row["description"], row["vid_pid"], row["serial_number"], row["manufacturer"]]
        if probed:
            cells += list(_answer(row["probe"]))
        lines.append([c if c else "-" for c in cells])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)
