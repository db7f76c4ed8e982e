"""``station calibrate``: multi-point calibration of one channel of a device.

    station calibrate --device sfp:/dev/ttyUSB0 --channel 2 --loads 0,5,10,20,40 --unit kg

The operator is asked for each load in turn (loading from zero to the largest, then
unloading back to zero; ``--cycles`` repeats it) and presses Enter once the load is on.
The command then reads the device; a reading that has not settled (noise or drift over the
limits) is refused and taken again. At the end the model is fitted, a report is printed
and the record is saved to the calibration folder (the previous one kept in ``history/``).

With a simulated device (``sim:…``) the command places each load on the simulated load
cell itself; ``--yes`` also answers every prompt, for scripts and tests.
"""
from __future__ import annotations

import argparse
import getpass
import math
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO


from calibration import (
    DEFAULT_EXPIRY_MONTHS,
    MIN_DISTINCT_LOADS,
    STANDARD_GRAVITY_M_S2,
    CalibrationError,
    CalibrationRecord,
    CalibrationStore,
    SaveResult,
    loads_to_n,
)
from calibration.units import normalize_load_unit
from station.calibration_link import (
    CalibrationAborted,
    CalibrationDevice,
    Console,
    simulator_cells,
)
from station.calibration_workflow import (
    AUTO_ATTEMPTS,
    LEAD_IN_AUTO_S,
    LEAD_IN_INTERACTIVE_S,
    CalibrationSettings,
    CalibrationWorkflow,
    run_at_console,
)
from station import validate
from station.clock import ScaledClock
from station.errors import UserError



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="multi-point calibration of one channel (known loads, loading then unloading)",
        description=(
            "Calibrate one channel of a device with known loads: at least 5 different loads "
            "(zero is added if missing), placed in turn from zero to the largest and back. At "
            "each step you place the load and press Enter; the reading is taken once it has "
            "settled (several readings averaged). The fitted record is saved to the calibration "
            "folder. With a simulated device (sim:...) the loads are placed for you."
        ),
        epilog="example: station calibrate --device sim:sfp?channels=4 --channel 0 --loads 0,5,10,20,40 --unit kg --yes",
    )
    p.add_argument("--device", required=True, metavar="URI",
                   help="device URI, e.g. sfp:/dev/ttyUSB0 or sim:sfp?channels=4")
    p.add_argument("--channel", required=True, metavar="N", help="channel to calibrate (0-based, as the driver numbers it)")
    p.add_argument("--loads", required=True, metavar="L1,L2,...",
                   help=f"reference loads, comma-separated, at least {MIN_DISTINCT_LOADS} different ones (zero included)")
    p.add_argument("--unit", default="kg", help="unit of --loads: kg (masses) or N (forces); default kg")
    p.add_argument("--operator", default=None, help="who calibrates (default: your login name)")
    p.add_argument("--cycles", default="1", metavar="K",
                   help="loading/unloading cycles (2 or more also gives repeatability); default 1")
    p.add_argument("--yes", action="store_true",
                   help="do not wait for Enter (simulated devices only: the loads are placed automatically)")
    p.add_argument("--calibration-dir", type=Path, default=None, metavar="DIR",
                   help="calibration folder (default: $FORCE_STATION_CALIBRATION_DIR or the user data folder)")
    p.add_argument("--readings-s", type=float, default=None, metavar="S",
                   help="seconds of readings per step; the last --window-s must have settled "
                        f"(default: window + {LEAD_IN_INTERACTIVE_S:g} s, or + {LEAD_IN_AUTO_S:g} s with --yes)")
    p.add_argument("--window-s", type=float, default=1.0, metavar="S",
                   help="settle window, s: its readings are averaged and must be steady (default 1)")
    p.add_argument("--sim-speed", default=None, metavar="FACTOR",
                   help="simulated devices only: simulated time runs FACTOR times faster than real time "
                        "(1 to 20; quick rehearsals and tests)")
    p.add_argument("--max-noise-n", type=float, default=None, metavar="N",
                   help="settle limit: SD of the readings in the window, N (default 0.05 %% of the largest load, min 0.02)")
    p.add_argument("--max-drift-n-per-s", type=float, default=None, metavar="N_PER_S",
                   help="settle limit: trend in the window, N/s (default 0.05 %% of the largest load per s, min 0.02)")
    p.add_argument("--nominal-gain", type=float, default=None, metavar="N_PER_COUNT",
                   help="nominal sensitivity to express the settle limits in counts (default: previous calibration "
                        "of the channel, else estimated from the first load)")
    p.add_argument("--max-order", type=int, choices=(1, 2, 3), default=2,
                   help="highest model order tried (1 linear, 2 quadratic, 3 cubic); default 2")
    p.add_argument("--expiry-months", type=int, default=DEFAULT_EXPIRY_MONTHS, metavar="M",
                   help=f"validity of the calibration, calendar months (default {DEFAULT_EXPIRY_MONTHS})")
    p.add_argument("--gravity", type=float, default=STANDARD_GRAVITY_M_S2, metavar="M_S2",
                   help=f"local gravity to turn kg into N (default standard {STANDARD_GRAVITY_M_S2})")
    p.add_argument("--temperature", type=float, default=None, metavar="C", help="device temperature, °C (recorded)")
    p.add_argument("--notes", default="", help="free text kept in the record")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------------------
# Argument parsing with one-line errors
# --------------------------------------------------------------------------------------


def parse_int(text: str, option: str, minimum: int = 0) -> int:
    """``text`` as an integer >= ``minimum``; UserError naming ``option`` otherwise."""
    try:
        value = int(str(text).strip())
    except ValueError:
        raise UserError(f"{option} {text!r}: expected a whole number") from None
    if value < minimum:
        raise UserError(f"{option} {value}: must be >= {minimum}")
    return value


def parse_unit(text: str) -> str:
    """``kg`` or ``N`` (case-insensitive); UserError otherwise."""
    try:
        return normalize_load_unit(text)
    except CalibrationError:
        raise UserError(f"--unit {text!r}: unknown unit (expected kg or N)") from None


def parse_loads(text: str, unit: str, *, minimum: int = MIN_DISTINCT_LOADS) -> list[float]:
    """Comma-separated loads in ``unit``: numbers >= 0, at least ``minimum`` different ones with zero."""
    items = [s.strip() for s in str(text).split(",")]
    values: list[float] = []
    for item in items:
        if not item:
            raise UserError(f"--loads {text!r}: empty item (expected numbers separated by commas, e.g. 0,5,10,20,40)")
        try:
            value = float(item)
        except ValueError:
            raise UserError(f"--loads {text!r}: {item!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise UserError(f"--loads {text!r}: {item!r} must be a finite load >= 0 {unit}")
        values.append(value)
    distinct = sorted(set(values) | {0.0})
    if len(distinct) < minimum:
        raise UserError(f"--loads {text!r}: a calibration needs at least {minimum} different loads (zero included), "
                        f"got {len(distinct)} ({', '.join(f'{v:g}' for v in distinct)} {unit})")
    return values


def positive(value: float | None, option: str) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UserError(f"{option} {value!r}: must be > 0")
    return value


# --------------------------------------------------------------------------------------
# The procedure on a device
# --------------------------------------------------------------------------------------


@dataclass
class CalibrationOutcome:
    """What :func:`calibrate_channel` did. ``truth``: the simulated cell's parameters (sim only)."""

    record: CalibrationRecord
    saved: SaveResult
    device_serial: str
    truth: dict[str, float] | None = None


def calibrate_channel(
    uri: str,
    channel: int,
    loads: Sequence[float],
    unit: str = "kg",
    *,
    operator: str = "",
    cycles: int = 1,
    yes: bool = False,
    calibration_dir: Path | str | None = None,
    readings_s: float | None = None,
    window_s: float = 1.0,
    max_noise_n: float | None = None,
    max_drift_n_per_s: float | None = None,
    nominal_gain_n_per_count: float | None = None,
    max_order: int = 2,
    expiry_months: int = DEFAULT_EXPIRY_MONTHS,
    gravity_m_s2: float = STANDARD_GRAVITY_M_S2,
    temperature_c: float | None = None,
    notes: str = "",
    out: TextIO | None = None,
    inp: TextIO | None = None,
    on_simulator: Callable[[Any], None] | None = None,
    sim_speed: float | None = None,
) -> CalibrationOutcome:
    """Run a multi-point calibration of ``channel`` of the device at ``uri`` and save it.

    The steps are a :class:`~station.calibration_workflow.CalibrationWorkflow` answered at
    the console. Raises ``UserError`` (one line) for bad input, device problems and readings
    that would not settle, :class:`~station.calibration_link.CalibrationAborted` when the
    operator quits. ``on_simulator`` (tests) receives the simulator before the driver opens it.
    ``sim_speed`` (``sim:`` only): simulated time runs that many times faster than real time.
    """
    unit = parse_unit(unit)
    loads = list(loads)
    try:
        loads_to_n(loads, unit, gravity_m_s2)
    except CalibrationError as exc:
        raise UserError(str(exc)) from None
    if yes and not uri.startswith("sim:"):
        raise UserError(f"--device {uri}: --yes places the loads automatically and only works with a simulated "
                        "device (sim:...); a real device needs an operator at the prompts")
    window_s = positive(window_s, "--window-s") or 1.0
    lead = LEAD_IN_AUTO_S if yes else LEAD_IN_INTERACTIVE_S
    readings_s = positive(readings_s, "--readings-s") or window_s + lead
    if readings_s < window_s:
        raise UserError(f"--readings-s {readings_s:g} is shorter than the settle window --window-s {window_s:g}")
    positive(max_noise_n, "--max-noise-n")
    positive(max_drift_n_per_s, "--max-drift-n-per-s")
    if nominal_gain_n_per_count is not None and not (math.isfinite(nominal_gain_n_per_count)
                                                     and nominal_gain_n_per_count != 0):
        raise UserError(f"--nominal-gain {nominal_gain_n_per_count!r}: must be a non-zero number")
    clock = sim_clock(uri, sim_speed)
    store = CalibrationStore(calibration_dir)
    validate.output_dir(store.directory, "calibration folder")  # the result is saved there: check first
    console = Console(interactive=not yes, out=out, inp=inp)
    settings = CalibrationSettings(
        loads, unit=unit, cycles=cycles, operator=operator, window_s=window_s, readings_s=readings_s,
        max_noise_n=max_noise_n, max_drift_n_per_s=max_drift_n_per_s, nominal_gain_n_per_count=nominal_gain_n_per_count,
        max_order=max_order, expiry_months=expiry_months, gravity_m_s2=gravity_m_s2, temperature_c=temperature_c,
        notes=notes, automatic=yes, max_attempts=AUTO_ATTEMPTS if yes else None,
    )

    with CalibrationDevice(uri, on_simulator=on_simulator, on_message=None, clock=clock) as device:
        workflow = CalibrationWorkflow(device.readings(), channel, settings, store=store, load=device.load, uri=uri,
                                       clock=clock)
        run_at_console(workflow, console)
        record = workflow.record
        assert record is not None
        truth = None
        cells = simulator_cells(device.simulator)
        if cells is not None and channel < len(cells):
            truth = cells[channel].truth()

    console.say("")
    for line in report_lines(record):
        console.say(line)
    saved = workflow.save()
    console.say("")
    console.say(f"Saved: {saved.path}")
    if saved.history_path is not None:
        console.say(f"Previous record kept: {saved.history_path}")
    if saved.corrupt_backup is not None:
        console.say(f"The unreadable file that was there was moved to {saved.corrupt_backup}")
    return CalibrationOutcome(record, saved, workflow.serial, truth)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _pct(value: float | None, none: str = "—") -> str:
    return none if value is None else f"{value:.3f} % FS"


def report_lines(record: CalibrationRecord) -> list[str]:
    """The calibration report: model, gain, zero, residuals, sensor figures, why this model, points."""
    f = record.figures
    c = record.coefficients_n_per_count_k
    lines = [f"Calibration of {record.device_serial} channel {record.channel} (record {record.record_id})"]
    names = {"linear": "force = c1·x", "quadratic": "force = c1·x + c2·x²", "cubic": "force = c1·x + c2·x² + c3·x³",
             "identity": "force = reading"}
    lines.append(f"  model            {record.model} ({names.get(record.model, '')}, x = counts − zero)")
    lines.append(f"  gain (c1)        {c[0]:.6g} N/count  ({1.0 / c[0]:.6g} counts/N)")
    for k, value in enumerate(c[1:], start=2):
        lines.append(f"  c{k}               {value:.6g} N/count^{k}")
    lines.append(f"  zero             {record.offset_counts:.6g} counts")
    if f is not None:
        lines.append(f"  full scale       {f.full_scale_n:.6g} N over {f.full_scale_counts:.6g} counts")
        lines.append(f"  fit residuals    RMS {f.residual_rms_n:.4f} N, max {f.residual_max_n:.4f} N "
                     f"({f.residual_max_pct_fs:.3f} % FS)")
        lines.append(f"  non-linearity    {_pct(f.nonlinearity_pct_fs)} (end-point), "
                     f"{_pct(f.nonlinearity_bfsl_pct_fs)} (best-fit line)")
        lines.append(f"  hysteresis       {_pct(f.hysteresis_pct_fs, '— (no unloading)')}")
        lines.append(f"  repeatability    {_pct(f.repeatability_pct_fs, '— (one cycle; use --cycles 2)')}")
        lines.append(f"  why this model   {f.model_choice}")
    lines.append(f"  calibrated       {record.calibrated_at.isoformat(timespec='seconds')} by {record.operator or '?'}, "
                 f"expires {record.expires_at.date().isoformat()}")
    if record.points:
        lines.append("  points:   load N    direction  cycle   reading counts   SD counts   residual N")
        for p in record.points:
            residual = "—" if p.residual_n is None else f"{p.residual_n:+.4f}"
            lines.append(f"          {p.load_n:9.3f}  {p.direction:<9}  {p.cycle:5d}  {p.mean_counts:15.2f}  "
                         f"{p.sd_counts:10.3g}  {residual:>11}")
    return lines


# --------------------------------------------------------------------------------------
# CLI entry
# --------------------------------------------------------------------------------------


def sim_clock(uri: str, speed: float | str | None) -> ScaledClock | None:
    """``--sim-speed``: the faster-than-real-time clock of a ``sim:`` device (None at real
    speed); one-line UserError for a bad factor or a real device."""
    from station.commands.session import MAX_SIM_SPEED

    if speed is None:
        return None
    factor = validate.number(speed, "--sim-speed", ge=1, le=MAX_SIM_SPEED)
    if not uri.startswith("sim:"):
        raise UserError(f"--sim-speed: only a simulated device (sim:) runs faster than real time, not {uri}")
    return None if factor == 1 else ScaledClock(factor)


def default_operator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return ""


def run(args: argparse.Namespace) -> int:
    channel = parse_int(args.channel, "--channel")
    unit = parse_unit(args.unit)
    loads = parse_loads(args.loads, unit)
    cycles = parse_int(args.cycles, "--cycles", minimum=1)
    if args.expiry_months < 1:
        raise UserError(f"--expiry-months {args.expiry_months}: must be >= 1")
    try:
        outcome = calibrate_channel(
            args.device, channel, loads, unit,
            operator=args.operator if args.operator is not None else default_operator(),
            cycles=cycles, yes=args.yes, calibration_dir=args.calibration_dir,
            readings_s=args.readings_s, window_s=args.window_s,
            max_noise_n=args.max_noise_n, max_drift_n_per_s=args.max_drift_n_per_s,
            nominal_gain_n_per_count=args.nominal_gain, max_order=args.max_order,
            expiry_months=args.expiry_months, gravity_m_s2=args.gravity, temperature_c=args.temperature,
            notes=args.notes, sim_speed=args.sim_speed,
        )
    except CalibrationAborted:
        print("Calibration aborted; nothing saved.", file=sys.stderr)
        return 1
    print(f"Check it with a known load: station calibration verify --device {shlex.quote(args.device)} "
          f"--channel {channel} --load {max(loads):g} --unit {unit}"
          + (" --yes" if args.yes else "")
          + (f" --calibration-dir {shlex.quote(str(args.calibration_dir))}" if args.calibration_dir else ""))
    del outcome
    return 0
