"""``station calibration list|show|verify|export``: the calibration records and check loads.

* ``list`` — one row per stored (serial, channel): model, date, operator, expiry, status
  (ok / expired / failed verification / unreadable file with its error); ``--json``.
* ``show SERIAL CHANNEL`` — everything in one record, with its verifications and history.
* ``verify`` — a check load on one channel (``--channel N``), or for a force plate the sum of
  its 4 cells with the mass at the centre and at each corner (``--plate --channels
  0,1,2,3``); the result is saved into the record(s); a failure exits with status 1.
* ``export`` — the snapshot JSON of every record (stdout, or ``--out FILE``).

Every action takes ``--calibration-dir DIR`` (default: ``$FORCE_STATION_CALIBRATION_DIR``,
else the user data folder).
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO


from calibration import (
    DEFAULT_TOLERANCE_MIN_N,
    DEFAULT_TOLERANCE_PCT,
    CalibrationError,
    CalibrationRecord,
    CalibrationState,
    CalibrationStore,
    StoredEntry,
    VerificationReport,
    check_usable,
    loads_to_n,
    snapshot_dict,
)
from calibration.store import atomic_write_text
from station.calibration_link import (
    CalibrationAborted,
    CalibrationDevice,
    Console,
)
from station.calibration_workflow import (
    AUTO_ATTEMPTS,
    LEAD_IN_AUTO_S,
    LEAD_IN_INTERACTIVE_S,
    VerificationSettings,
    VerificationWorkflow,
    run_at_console,
)
from station.commands.calibrate import (
    default_operator,
    parse_int,
    parse_unit,
    positive,
    report_lines,
    sim_clock,
)
from station import validate
from station.errors import UserError

STATUS_TEXT = {
    CalibrationState.OK: "ok",
    CalibrationState.EXPIRED: "expired",
    CalibrationState.FAILED_VERIFICATION: "failed verification",
    CalibrationState.MISSING: "missing",
}


def _dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calibration-dir", type=Path, default=None, metavar="DIR",
                   help="calibration folder (default: $FORCE_STATION_CALIBRATION_DIR or the user data folder)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibration",
        help="list, show, verify and export calibration records",
        description="Calibration records: list them, show one, verify a channel (or a force plate) with a "
                    "known load, export them all as JSON.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    a = actions.add_parser("list", help="one row per stored calibration with its status",
                           description="One row per stored (device serial, channel): model, date, operator, "
                                       "expiry, status (ok, expired, failed verification, unreadable).")
    a.add_argument("--json", action="store_true", help="machine-readable output")
    _dir_option(a)
    a.set_defaults(func=cmd_list)

    a = actions.add_parser("show", help="all details of one calibration, with its checks and history",
                           description="All details of the current calibration of one channel: model, "
                                       "figures, points, verifications and the records it replaced.")
    a.add_argument("serial", metavar="SERIAL", help="device serial number (as `calibration list` shows it)")
    a.add_argument("channel", metavar="CHANNEL", help="channel number")
    a.add_argument("--json", action="store_true", help="the record as JSON, with its history")
    _dir_option(a)
    a.set_defaults(func=cmd_show)

    a = actions.add_parser(
        "verify", help="check a channel (or a force plate) with a known load; saves the result",
        description="Check a calibration with a known load: first a zero (nothing on the sensor), then the\n"
                    "check load. With --plate the mass goes at the centre and at each corner and the sum of\n"
                    "the 4 cells must read it. Pass within max(0.5 % of the load, 1 N) by default. The result\n"
                    "is saved into the record; a failure exits with status 1 and tests on the channel are\n"
                    "refused until it is recalibrated or passes a later check.",
        epilog="examples: station calibration verify --device sfp:/dev/ttyUSB0 --channel 2 --load 20 --unit kg\n"
               "          station calibration verify --device sfp:/dev/ttyUSB0 --plate --channels 0,1,2,3 --load 50",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument("--device", required=True, metavar="URI", help="device URI, e.g. sfp:/dev/ttyUSB0 or sim:sfp?channels=4")
    a.add_argument("--channel", default=None, metavar="N", help="the channel to check")
    a.add_argument("--plate", action="store_true", help="force-plate check: centre and 4 corners, sum of --channels")
    a.add_argument("--channels", default=None, metavar="FL,FR,BR,BL",
                   help="with --plate: the plate's 4 cells, in the order front-left, front-right, back-right, back-left")
    a.add_argument("--load", required=True, metavar="VALUE", help="the check load (in --unit)")
    a.add_argument("--unit", default="kg", help="kg (a mass) or N (a force); default kg")
    a.add_argument("--operator", default=None, help="who checks (default: your login name)")
    a.add_argument("--yes", action="store_true",
                   help="do not wait for Enter (simulated devices only: the load is placed automatically)")
    a.add_argument("--tolerance-pct", type=float, default=DEFAULT_TOLERANCE_PCT, metavar="PCT",
                   help=f"tolerance, %% of the check load (default {DEFAULT_TOLERANCE_PCT:g})")
    a.add_argument("--tolerance-min-n", type=float, default=DEFAULT_TOLERANCE_MIN_N, metavar="N",
                   help=f"smallest tolerance, N (default {DEFAULT_TOLERANCE_MIN_N:g})")
    a.add_argument("--readings-s", type=float, default=None, metavar="S", help="seconds of readings per step")
    a.add_argument("--window-s", type=float, default=1.0, metavar="S", help="settle window, s (default 1)")
    a.add_argument("--sim-speed", default=None, metavar="FACTOR",
                   help="simulated devices only: simulated time runs FACTOR times faster than real time "
                        "(1 to 20; quick rehearsals and tests)")
    # Testing/demo hook: the load the simulator really feels (a wrong check mass).
    a.add_argument("--sim-actual-load", type=float, default=None, help=argparse.SUPPRESS)
    _dir_option(a)
    a.set_defaults(func=cmd_verify)

    a = actions.add_parser("export", help="the snapshot JSON of every record",
                           description="Write every current record as one calibration snapshot (JSON), as "
                                       "stored in session files.")
    a.add_argument("--out", type=Path, default=None, metavar="FILE", help="write to FILE instead of standard output")
    a.add_argument("--force", action="store_true", help="replace FILE if it exists (default: refuse)")
    a.add_argument("--skip-unreadable", action="store_true",
                   help="leave out unreadable files (reported on standard error) instead of failing")
    _dir_option(a)
    a.set_defaults(func=cmd_export)

    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


# --------------------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------------------

_FILE_NAME = re.compile(r"^(?P<serial>.+)_ch(?P<channel>\d+)\.json$")


def entry_row(entry: StoredEntry, now: datetime) -> dict[str, Any]:
    """One listing row (JSON-ready) for a stored file."""
    record = entry.record
    if record is None:
        m = _FILE_NAME.match(entry.path.name)
        return {
            "file": str(entry.path), "device_serial": m["serial"] if m else None,
            "channel": int(m["channel"]) if m else None, "status": "unreadable", "error": entry.error,
            "model": None, "source": None, "calibrated_at": None, "operator": None, "expires_at": None,
            "days_left": None, "last_check": None, "record_id": None, "reason": entry.error,
        }
    status = check_usable(record, now)
    last = record.latest_verification
    return {
        "file": str(entry.path), "device_serial": record.device_serial, "channel": record.channel,
        "status": STATUS_TEXT[status.state], "error": None, "model": record.model, "source": record.source,
        "calibrated_at": record.calibrated_at.astimezone(timezone.utc).isoformat(),
        "operator": record.operator,
        "expires_at": record.expires_at.astimezone(timezone.utc).isoformat(),
        "days_left": None if status.days_left is None else math.floor(status.days_left),
        "last_check": None if last is None else {"at": last.at.astimezone(timezone.utc).isoformat(),
                                                 "passed": last.passed, "summary": last.describe()},
        "record_id": record.record_id, "reason": status.reason,
    }


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip()  # noqa: E731
    return [fmt(headers), *(fmt(r) for r in rows)]


def cmd_list(args: argparse.Namespace) -> int:
    store = CalibrationStore(args.calibration_dir)
    now = datetime.now(timezone.utc)
    rows = [entry_row(e, now) for e in store.entries()]
    if args.json:
        print(json.dumps({"calibration_dir": str(store.directory), "records": rows}, indent=2, ensure_ascii=False))
        return 0
    print(f"Calibration folder: {store.directory}")
    if not rows:
        print("No calibrations yet. Calibrate a channel with: station calibrate --device URI --channel N "
              "--loads 0,5,10,20,40 --unit kg")
        return 0
    table = []
    for r in rows:
        if r["status"] == "unreadable":
            table.append([str(r["device_serial"] or "?"), "?" if r["channel"] is None else str(r["channel"]),
                          "?", "?", "?", "?", "?", "—", f"unreadable: {r['error']}"])
            continue
        last = r["last_check"]
        table.append([
            r["device_serial"], str(r["channel"]), r["model"], r["calibrated_at"][:10], r["operator"] or "?",
            r["expires_at"][:10], str(r["days_left"]),
            "—" if last is None else ("PASS " if last["passed"] else "FAIL ") + last["at"][:10], r["status"],
        ])
    for line in _table(["SERIAL", "CH", "MODEL", "CALIBRATED", "OPERATOR", "EXPIRES", "DAYS LEFT", "LAST CHECK",
                        "STATUS"], table):
        print(line)
    return 0


# --------------------------------------------------------------------------------------
# show
# --------------------------------------------------------------------------------------


def _load_record(store: CalibrationStore, serial: str, channel: int) -> CalibrationRecord:
    try:
        record = store.load(serial, channel)
    except CalibrationError as exc:
        raise UserError(str(exc)) from None
    if record is None:
        raise UserError(f"no calibration of device {serial} channel {channel} in {store.directory} "
                        "(`station calibration list` shows what there is)")
    return record


def cmd_show(args: argparse.Namespace) -> int:
    channel = parse_int(args.channel, "CHANNEL")
    store = CalibrationStore(args.calibration_dir)
    record = _load_record(store, args.serial, channel)
    history = store.history(args.serial, channel)
    now = datetime.now(timezone.utc)
    status = check_usable(record, now)
    if args.json:
        print(json.dumps({
            "file": str(store.path_for(args.serial, channel)), "status": STATUS_TEXT[status.state],
            "reason": status.reason, "record": record.to_dict(),
            "history": [{"file": str(h.path), "record": None if h.record is None else h.record.to_dict(),
                         "error": h.error} for h in history],
        }, indent=2, ensure_ascii=False))
        return 0
    print(record.describe())
    print(f"  file             {store.path_for(args.serial, channel)}")
    print(f"  status           {STATUS_TEXT[status.state]}: {status.reason}")
    left = "" if status.days_left is None else f" ({math.floor(status.days_left)} days left)"
    print(f"  valid            {record.calibrated_at.date().isoformat()} to {record.expires_at.date().isoformat()}{left}")
    print(f"  source           {record.source}; loads entered in {record.load_unit}, g = {record.gravity_m_s2:g} m/s²"
          + ("" if record.temperature_c is None else f", {record.temperature_c:g} °C"))
    if record.notes:
        print(f"  notes            {record.notes}")
    for line in report_lines(record):
        print(line)
    print(f"Verifications ({len(record.verifications)}):" if record.verifications else "Verifications: none")
    for v in record.verifications:
        print(f"  {v.at.astimezone(timezone.utc).isoformat(timespec='seconds')}  {v.describe()}"
              + (f"  by {v.operator}" if v.operator else ""))
    print(f"History ({len(history)} earlier records):" if history else "History: no earlier records")
    for h in history:
        print(f"  {h.path.name}: {h.record.describe() if h.record is not None else 'unreadable: ' + str(h.error)}")
    return 0


# --------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------


@dataclass
class VerificationOutcome:
    """What :func:`verify_device` did: the run's report, the updated records, where they were saved."""

    report: VerificationReport
    records: list[CalibrationRecord]
    saved: list[Path]
    device_serial: str

    @property
    def passed(self) -> bool:
        return self.report.passed


def parse_channel_list(text: str, option: str = "--channels") -> list[int]:
    items = [s.strip() for s in str(text).split(",")]
    if any(not s for s in items):
        raise UserError(f"{option} {text!r}: expected channel numbers separated by commas, e.g. 0,1,2,3")
    values = [parse_int(s, option) for s in items]
    if len(set(values)) != len(values):
        raise UserError(f"{option} {text!r}: a channel is listed twice")
    return values


def verify_device(
    uri: str,
    channels: Sequence[int],
    load: float,
    unit: str = "kg",
    *,
    plate: bool = False,
    yes: bool = False,
    calibration_dir: Path | str | None = None,
    operator: str = "",
    readings_s: float | None = None,
    window_s: float = 1.0,
    tolerance_pct: float = DEFAULT_TOLERANCE_PCT,
    tolerance_min_n: float = DEFAULT_TOLERANCE_MIN_N,
    sim_actual_load: float | None = None,
    out: TextIO | None = None,
    inp: TextIO | None = None,
    on_simulator: Callable[[Any], None] | None = None,
    sim_speed: float | None = None,
) -> VerificationOutcome:
    """Check the calibration of ``channels`` (one, or a plate's 4 cells with ``plate``) with ``load``.

    The result is appended to each record and saved (history kept), pass or fail. A device
    reporting newtons without a stored record gets a factory record, saved with the result.
    ``sim_actual_load`` (simulators): the load the simulated sensor really feels, in ``unit``.
    ``sim_speed`` (simulators): simulated time runs that many times faster than real time.
    """
    unit = parse_unit(unit)
    try:
        reference_n = loads_to_n([load], unit)[0]
    except CalibrationError as exc:
        raise UserError(f"--load: {exc}") from None
    if reference_n <= 0:
        raise UserError(f"--load {load:g}: the check load must be > 0")
    if yes and not uri.startswith("sim:"):
        raise UserError(f"--device {uri}: --yes places the load automatically and only works with a simulated "
                        "device (sim:...); a real device needs an operator at the prompts")
    if sim_actual_load is not None and not uri.startswith("sim:"):
        raise UserError("--sim-actual-load only works with a simulated device")
    if plate and len(channels) != 4:
        raise UserError(f"--plate needs the plate's 4 cells in --channels (front-left, front-right, back-right, "
                        f"back-left), got {len(channels)}")
    if not plate and len(channels) != 1:
        raise UserError("give one --channel (or --plate with --channels)")
    window_s = positive(window_s, "--window-s") or 1.0
    readings_s = positive(readings_s, "--readings-s") or window_s + (LEAD_IN_AUTO_S if yes else LEAD_IN_INTERACTIVE_S)
    if readings_s < window_s:
        raise UserError(f"--readings-s {readings_s:g} is shorter than the settle window --window-s {window_s:g}")
    clock = sim_clock(uri, sim_speed)
    store = CalibrationStore(calibration_dir)
    validate.output_dir(store.directory, "calibration folder")  # the result is saved there: check first
    console = Console(interactive=not yes, out=out, inp=inp)
    settings = VerificationSettings(
        load, unit=unit, plate=plate, operator=operator, window_s=window_s, readings_s=readings_s,
        tolerance_pct=tolerance_pct, tolerance_min_n=tolerance_min_n, actual_load=sim_actual_load,
        automatic=yes, max_attempts=AUTO_ATTEMPTS if yes else None,
    )

    with CalibrationDevice(uri, on_simulator=on_simulator, clock=clock) as device:
        workflow = VerificationWorkflow(device.readings(), channels, settings, store=store, load=device.load, uri=uri,
                                        clock=clock)
        run_at_console(workflow, console)

    report = workflow.report
    assert report is not None
    saved = workflow.save()
    if len(report.results) > 1:  # each position was printed as it was read: a one-line summary here
        worst = max(report.results, key=lambda r: abs(r.measured_n - r.reference_n))
        good = sum(1 for r in report.results if r.passed)
        console.say(f"{good} of {len(report.results)} positions within tolerance; largest error "
                    f"{worst.measured_n - worst.reference_n:+.2f} N at {worst.position or 'the check load'}")
    console.say(f"Verification {'PASSED' if report.passed else 'FAILED'}; saved to "
                + ", ".join(str(p) for p in saved))
    return VerificationOutcome(report, workflow.updated, saved, workflow.serial)


def cmd_verify(args: argparse.Namespace) -> int:
    unit = parse_unit(args.unit)
    try:
        load = float(args.load)
    except ValueError:
        raise UserError(f"--load {args.load!r}: not a number") from None
    if args.plate:
        if args.channels is None:
            raise UserError("--plate needs --channels FL,FR,BR,BL (the plate's 4 cells)")
        if args.channel is not None:
            raise UserError("give either --channel or --plate --channels, not both")
        channels = parse_channel_list(args.channels)
    else:
        if args.channels is not None:
            raise UserError("--channels is for --plate; check one channel with --channel N")
        if args.channel is None:
            raise UserError("which channel? add --channel N (or --plate --channels FL,FR,BR,BL)")
        channels = [parse_int(args.channel, "--channel")]
    try:
        outcome = verify_device(
            args.device, channels, load, unit, plate=args.plate, yes=args.yes,
            calibration_dir=args.calibration_dir,
            operator=args.operator if args.operator is not None else default_operator(),
            readings_s=args.readings_s, window_s=args.window_s, tolerance_pct=args.tolerance_pct,
            tolerance_min_n=args.tolerance_min_n, sim_actual_load=args.sim_actual_load, sim_speed=args.sim_speed,
        )
    except CalibrationAborted:
        print("Verification aborted; nothing saved.", file=sys.stderr)
        return 1
    if outcome.passed:
        return 0
    failed = next(r for r in outcome.report.results if not r.passed)
    who = (f"the plate (channels {args.channels})" if args.plate else f"channel {channels[0]}")
    print(f"station: verification FAILED for {who} of {outcome.device_serial}: {failed.describe()}; tests on it "
          "are refused until it is recalibrated or passes a later check", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    if args.out is not None:  # before reading anything: an existing file is kept unless --force
        validate.output_file(args.out, force=args.force)
    store = CalibrationStore(args.calibration_dir)
    records: list[CalibrationRecord] = []
    for entry in store.entries():
        if entry.record is not None:
            records.append(entry.record)
        elif args.skip_unreadable:
            print(f"station: warning: skipped {entry.error}", file=sys.stderr)
        else:
            raise UserError(f"{entry.error} (fix or move the file, or pass --skip-unreadable)")
    text = json.dumps(snapshot_dict(records), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        atomic_write_text(args.out, text)
    except OSError as exc:
        raise UserError(f"{args.out}: cannot write: {exc.strerror or exc}") from None
    print(f"Exported {len(records)} calibration record(s) to {args.out}")
    return 0
