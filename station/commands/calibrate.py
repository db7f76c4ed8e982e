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

import numpy as np

from calibration import (
    DEFAULT_EXPIRY_MONTHS,
    MIN_DISTINCT_LOADS,
    STANDARD_GRAVITY_M_S2,
    CalibrationError,
    CalibrationRecord,
    CalibrationStore,
    MultiPointProcedure,
    SaveResult,
    StabilityCriteria,
    assess_stability,
    loads_to_n,
)
from calibration.units import normalize_load_unit
from station.calibration_link import (
    CalibrationAborted,
    CalibrationDevice,
    Console,
    simulator_cells,
    stability_criteria,
)
from station import validate
from station.errors import UserError

#: Attempts per step with ``--yes`` before giving up on an unsettled reading.
AUTO_ATTEMPTS: int = 3
#: Extra reading time before the settle window, s: interactive (the mass may still swing
#: after Enter) and automatic (the simulator's load changes at once).
LEAD_IN_INTERACTIVE_S: float = 1.0
LEAD_IN_AUTO_S: float = 0.2


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


class _StepReader:
    """Places a step's load (simulators), waits for the operator, reads a fresh block."""

    def __init__(self, device: CalibrationDevice, channel: int, console: Console, readings_s: float) -> None:
        self.device = device
        self.channel = channel
        self.console = console
        self.readings_s = readings_s

    def take(self, prompt: str, load_n: float, *, retry: bool = False, can_redo: bool = False) -> np.ndarray | None:
        """The step's readings (counts, shape (n,)), or None when the operator typed ``r``
        (redo the previous step; only offered when ``can_redo``)."""
        if self.device.load is not None:
            self.device.load.set(self.channel, load_n)
        note = " [simulator: placed automatically]" if self.device.load is not None else ""
        if self.console.interactive:
            keys = "r: redo the previous step, q: abort" if can_redo else "q: abort"
            action = "read again" if retry else "take the reading"
            answer = self.console.ask(f"{prompt}{note}\n  Press Enter to {action} ({keys}):")
            if answer == "r" and can_redo:
                return None
        else:
            self.console.ask(prompt, auto_note=note)
        return self.device.collect(self.readings_s)[:, self.channel]


class _NoResponse(Exception):
    """The channel's reading did not change when the first load was placed."""


def _gain_estimate(zero_block: np.ndarray, load_block: np.ndarray, load_n: float, rate_hz: float,
                   window_s: float, prompt_channel: int) -> float:
    """Sensitivity (N/count) from the zero reading and the first load's reading."""
    loose = StabilityCriteria(max_sd_counts=1e300, max_slope_counts_per_s=1e300, window_s=window_s)
    zero = assess_stability(zero_block, rate_hz, loose)
    loaded = assess_stability(load_block, rate_hz, loose)
    if not (math.isfinite(zero.mean_counts) and math.isfinite(loaded.mean_counts)):
        raise UserError("too few readings to judge the first steps; increase --readings-s")
    change = loaded.mean_counts - zero.mean_counts
    noise = max(zero.sd_counts, loaded.sd_counts, 1e-9)
    if abs(change) < max(20.0 * noise, 1e-9):
        raise _NoResponse(
            f"the reading of channel {prompt_channel} changed by only {change:+.4g} (noise SD {noise:.3g}) when "
            f"{load_n:.4g} N was placed: is the load on this channel's load cell?"
        )
    return load_n / change


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
) -> CalibrationOutcome:
    """Run a multi-point calibration of ``channel`` of the device at ``uri`` and save it.

    Raises ``UserError`` (one line) for bad input, device problems and readings that would
    not settle, :class:`~station.calibration_link.CalibrationAborted` when the operator quits.
    ``on_simulator`` (tests) receives the simulator before the driver opens it.
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
    store = CalibrationStore(calibration_dir)
    validate.output_dir(store.directory, "calibration folder")  # the result is saved there: check first
    console = Console(interactive=not yes, out=out, inp=inp)

    with CalibrationDevice(uri, on_simulator=on_simulator, on_message=lambda m: console.say(f"  {m}")) as device:
        info = device.info
        assert info is not None
        if not 0 <= channel < info.channels:
            raise UserError(f"--channel {channel}: out of range, {info.family} {info.model} {info.serial} "
                            f"has channels 0..{info.channels - 1}")
        serial = (info.serial or "").strip()
        if not serial:
            raise UserError(f"{uri}: the device reports no serial number; calibrations are kept per serial")
        rate = float(info.rate_hz)
        try:
            plan = MultiPointProcedure(
                serial, channel, loads, unit=unit, sample_rate_hz=rate, cycles=cycles, gravity_m_s2=gravity_m_s2,
                stability=StabilityCriteria(1.0, 1.0, window_s=window_s),
            )
        except CalibrationError as exc:
            raise UserError(str(exc)) from None
        full_scale_n = max(s.load_n for s in plan.steps)
        gain = nominal_gain_n_per_count
        gain_source = "--nominal-gain"
        if gain is None:
            try:
                previous = store.load(serial, channel)
            except CalibrationError:
                previous = None
            if previous is not None:
                gain, gain_source = previous.gain_n_per_count, f"previous calibration of {previous.calibrated_at.date()}"

        console.say(f"Calibrating channel {channel} of {info.family} {info.model} serial {serial} ({uri}), "
                    f"{info.rate_hz:g} samples/s, readings in {info.unit}")
        console.say(f"{len(plan.steps)} steps: {', '.join(f'{v:g}' for v in plan.load_values)} {unit}, loading then "
                    f"unloading{f', {cycles} cycles' if cycles > 1 else ''}; each reading averages the last "
                    f"{window_s:g} s once steady")
        reader = _StepReader(device, channel, console, readings_s)

        def criteria_for(g: float) -> StabilityCriteria:
            return stability_criteria(full_scale_n, g, window_s=window_s, max_noise_n=max_noise_n,
                                      max_drift_n_per_s=max_drift_n_per_s)

        def make_procedure(g: float) -> MultiPointProcedure:
            return MultiPointProcedure(serial, channel, loads, unit=unit, sample_rate_hz=rate, cycles=cycles,
                                       gravity_m_s2=gravity_m_s2, stability=criteria_for(g))

        attempts = 0

        def unsettled(message: str) -> None:
            nonlocal attempts
            attempts += 1
            console.say(f"  {message}")
            if yes and attempts >= AUTO_ATTEMPTS:
                raise UserError(f"channel {channel} of {serial}: reading did not settle after {attempts} attempts "
                                f"({message.removesuffix(' — hold still and try again')}); nothing saved")

        proc: MultiPointProcedure
        if gain is not None:
            console.say(f"Settle limits from the nominal gain {gain:.6g} N/count ({gain_source}).")
            proc = make_procedure(gain)
        else:
            # The gain is unknown: take zero and the first load, estimate it, then judge both readings.
            step0, step1 = plan.steps[0], plan.steps[1]
            zero_block: np.ndarray | None = None
            retry_zero = retry_load = False
            while True:
                if zero_block is None:
                    zero_block = reader.take(step0.prompt, step0.load_n, retry=retry_zero)
                    console.say("  zero read; it is judged with the first load, which gives the sensitivity")
                load_block = reader.take(step1.prompt, step1.load_n, retry=retry_load)
                assert zero_block is not None and load_block is not None
                try:
                    gain = _gain_estimate(zero_block, load_block, step1.load_n, rate, window_s, channel)
                except _NoResponse as exc:
                    unsettled(str(exc))
                    zero_block, retry_zero, retry_load = None, False, False
                    continue
                proc = make_procedure(gain)
                first = proc.submit(zero_block)
                if not first.accepted:
                    unsettled(f"zero reading: {first.message}; starting again from zero")
                    zero_block, retry_zero, retry_load = None, True, False
                    continue
                console.say(f"  {first.message}")
                second = proc.submit(load_block)
                if not second.accepted:
                    # Keep the zero; the next reading of the load gives a new estimate and
                    # both readings are judged again with it.
                    unsettled(second.message)
                    retry_load = True
                    continue
                console.say(f"  {second.message}")
                console.say(f"  Settle limits from the estimated gain {gain:.6g} N/count.")
                attempts = 0
                break

        retry = False
        while (step := proc.next_step()) is not None:
            block = reader.take(step.prompt, step.load_n, retry=retry, can_redo=len(proc.points) > 2)
            if block is None:
                back = proc.retake_previous()
                console.say(f"  redoing step {back.index + 1 if back else '?'}: the previous reading is discarded")
                retry = False
                continue
            result = proc.submit(block)
            if result.accepted:
                console.say(f"  {result.message}")
                attempts, retry = 0, False
            else:
                unsettled(result.message)
                retry = True
        try:
            record = proc.fit(operator=operator, expiry_months=expiry_months, temperature_c=temperature_c,
                              max_order=max_order, notes=notes or f"calibrated with {uri}")
        except CalibrationError as exc:
            raise UserError(f"channel {channel} of {serial}: {exc}; nothing saved") from None
        truth = None
        cells = simulator_cells(device.simulator)
        if cells is not None and channel < len(cells):
            truth = cells[channel].truth()

    console.say("")
    for line in report_lines(record):
        console.say(line)
    try:
        saved = store.save(record)
    except CalibrationError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{store.directory}: cannot save the calibration: {exc.strerror or exc}") from None
    console.say("")
    console.say(f"Saved: {saved.path}")
    if saved.history_path is not None:
        console.say(f"Previous record kept: {saved.history_path}")
    if saved.corrupt_backup is not None:
        console.say(f"The unreadable file that was there was moved to {saved.corrupt_backup}")
    return CalibrationOutcome(record, saved, serial, truth)


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
            notes=args.notes,
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
