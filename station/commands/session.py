"""``station session``: run a test session in the terminal, or recover unfinished session files.

    station session run --protocol ID [--protocol ID …] --patient ID --body-mass KG
                        --involved left|right|none --device [ROLE=]URI … [options]
    station session recover FILE|DIR [--keep-original]
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

from drivers.base import DeviceError
from drivers.registry import parse_uri
from protocols import ProtocolError, get_protocol
from protocols.loader import MAX_LEVER_ARM_M
from protocols.model import Protocol
from station import validate
from station.errors import UserError
from station.session.model import Patient
from station.session.run import sigterm_as_interrupt, run_session
from station.session.runner import RunnerOptions, SessionAborted, replace_timing
from station.session.lever_arm import parse_lever_arms
from station.session.setup import bind_roles, parse_device_arg
from station.session.terminal import TerminalUI
from station.storage.recovery import RecoveryError, find_unfinished, recover
from station.storage.spill_merge import SpillMergeError, find_spill, merge_spill, spill_dirs
from station.storage.writer import is_in_use

#: ``--fast``: countdown and rest between reps (and at a side switch), seconds
FAST_COUNTDOWN_S = 1.0
FAST_REST_S = 1.0

#: exit statuses of ``station session run``
EXIT_COMPLETE = 0
EXIT_QUIT = 1        # the operator pressed q (or stdin ended) at a trial prompt
EXIT_USAGE = 2       # a bad option, protocol, device, … (``station: error: …``)
EXIT_SIGINT = 130    # Ctrl-C (128 + SIGINT)
EXIT_SIGTERM = 143   # SIGTERM (128 + SIGTERM)

MAX_BODY_MASS_KG = 400.0
MAX_HEIGHT_M = 3.0
#: --sim-speed: the fastest simulated time, a factor of real time
MAX_SIM_SPEED = 20.0

_RUN_EPILOG = f"""\
interactive (default): before each trial press Enter to start it, r to redo the last trial,
s to skip this one, t to zero the devices now (limb off the pad, plates empty), q to quit the session (the file is kept, status aborted).

--auto: no prompts; a simulated patient pushes on every sim: device when cued (scripted runs,
demos, tests). Real devices are recorded as they are.

--fast: countdown {FAST_COUNTDOWN_S:g} s and rest {FAST_REST_S:g} s between reps and at a side switch, instead of the
protocol's (e.g. 3 s and 30 s); trial durations are unchanged.

At start, unfinished session files in --out (left by a station that stopped while recording)
are offered for recovery (interactive) or named with the command that repairs them (--auto).

exit status: 0 session complete; 1 quit with q; 2 usage error (one line on stderr, nothing
written); 130 Ctrl-C; 143 SIGTERM. After q, Ctrl-C or SIGTERM the session file is closed
cleanly with status aborted; a trial that was being recorded keeps its samples, status aborted.

--lever-arm PROTOCOL=M: the lever arm measured on this patient for one protocol's joint, in m
(each protocol says what to measure, e.g. greater trochanter to pad centre for the hip, lateral
knee joint line to pad centre for the knee); a value implausible for that joint is refused.
Not given: asked at that test's start (interactive, at a terminal), else torque is not
computed and a note says so.

Simulators (sim: devices): a simulated patient follows the cues, also in interactive mode,
so a clinic can rehearse; --sim-strength, --sim-weaker and --sim-seed change the patient.

example:
  station session run --protocol hip-abduction-hhd --protocol knee-extension-60 \\
      --patient P-0042 --body-mass 71.5 --involved right \\
      --lever-arm hip-abduction-hhd=0.84 --lever-arm knee-extension-60=0.36 \\
      --device dynamometer=mark10:/dev/ttyUSB0 --operator AB
"""

_RECOVER_DESCRIPTION = """\
A station killed while recording (power loss of the PC, SIGKILL, a crash) leaves a session
file whose status is still 'recording'; killed during a trial, the file is also still flagged
as open for writing and ordinary HDF5 tools refuse it. Recovery copies everything into a
fresh file, marks the trial that was being recorded (and the session) 'interrupted', keeps
every sample that reached the disk, verifies the copy, and replaces the original atomically.

A disk that filled during a recording leaves a closed file (status 'interrupted') and the
samples that did not fit in a spill file, FILE's name + .spill.h5, in --spill-dir or the user
data folder (~/.local/share/force-station/spill on Linux). Once there is room again, recover
merges that spill file back into FILE (appended, verified, replaced atomically; the spill file
is kept as .spill.h5.merged). If it cannot, one line says where the samples are.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "session", help="run a test session in the terminal, or recover unfinished session files",
        description="Run a session of one or more test protocols headless in the terminal, writing one "
                    "HDF5 session file; or recover session files a crashed station left unfinished.")
    parser.set_defaults(func=run, session_parser=parser)
    ss = parser.add_subparsers(dest="session_command", metavar="SUBCOMMAND")

    r = ss.add_parser(
        "run", help="run a test session (interactive prompts, or --auto)",
        description="Run the given protocols in order for one patient, with the given devices, and write "
                    "one HDF5 session file into --out.",
        epilog=_RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--protocol", action="append", default=[], metavar="ID",
                   help="protocol id or path to a .toml file; repeat for several tests in one session (required)")
    r.add_argument("--patient", metavar="ID", help="pseudonymous patient id, becomes part of the file name (required)")
    r.add_argument("--body-mass", metavar="KG", help="body mass in kg, > 0 and < 400 (required)")
    r.add_argument("--involved", metavar="SIDE", help="involved side: left, right or none (required)")
    r.add_argument("--device", action="append", default=[], metavar="[ROLE=]URI",
                   help="device for a protocol role, e.g. dynamometer=mark10:/dev/ttyUSB0 or sim:mark10; "
                        "repeat for several roles (required)")
    r.add_argument("--height", metavar="M", help="body height in m")
    r.add_argument("--lever-arm", action="append", default=[], metavar="PROTOCOL=M",
                   help="lever arm measured on this patient for one protocol, in m (torque); repeat per "
                        "protocol; a bare M only when one protocol of the session computes torque")
    r.add_argument("--operator", metavar="NAME", default="", help="who runs the session (stored in the file)")
    r.add_argument("--out", type=Path, default=Path("sessions"), metavar="DIR",
                   help="directory for the session file (default: sessions)")
    r.add_argument("--spill-dir", type=Path, default=None, metavar="DIR",
                   help="where samples that do not fit go if the disk of --out fills up (default: the user data "
                        "folder, ~/.local/share/force-station/spill on Linux)")
    r.add_argument("--auto", action="store_true", help="no prompts; simulated patient on sim: devices")
    r.add_argument("--fast", action="store_true",
                   help=f"countdown {FAST_COUNTDOWN_S:g} s, rest {FAST_REST_S:g} s (demos, rehearsals)")
    r.add_argument("--ask-pain", action="store_true",
                   help="after each trial ask the patient's pain, 0-10 (stored as pain_0_10 on the trial)")
    r.add_argument("--sim-strength", metavar="FACTOR", default=None,
                   help="simulators: the simulated patient's strength, a factor of a typical adult's "
                        "(default 1; 0.2 to 3)")
    r.add_argument("--sim-weaker", metavar="RATIO", default=None,
                   help="simulators: involved-side strength as a fraction of the other side (default 0.82)")
    r.add_argument("--sim-seed", metavar="N", default=None,
                   help="simulators: random seed of the simulated patient (default 1); change it between "
                        "rehearsal sessions for different results")
    r.add_argument("--sim-speed", metavar="FACTOR", default=None,
                   help="simulators: simulated time runs FACTOR times faster than real time (default 1; 1 to "
                        f"{MAX_SIM_SPEED:g}; every --device must be sim:); quick rehearsals and tests")
    r.add_argument("--first-side", choices=("left", "right"), default="left",
                   help="side tested first (default: left)")
    r.add_argument("--calibration-dir", type=Path, default=None, metavar="DIR",
                   help="calibration folder (default: $FORCE_STATION_CALIBRATION_DIR or the user data folder)")
    r.add_argument("--allow-uncalibrated", action="store_true",
                   help="start even if a channel has no usable calibration (missing, expired, failed check); "
                        "the override is recorded in the session file")
    r.add_argument("--protocols-dir", metavar="DIR", default=None,
                   help="folder of the clinic's own protocol files (default: $FORCE_STATION_PROTOCOLS_DIR, "
                        "else the per-user data folder)")
    r.set_defaults(session_func=cmd_run)

    rc = ss.add_parser(
        "recover", help="repair session files left unfinished by a crashed station",
        description=_RECOVER_DESCRIPTION,
        epilog="exit status: 0 done (also when there was nothing to recover); 1 some files in DIR\n"
               "could not be recovered; 2 FILE could not be recovered (one line on stderr).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    rc.add_argument("target", type=Path, metavar="FILE|DIR",
                    help="a session file, or a directory whose unfinished *.h5 files are all recovered")
    rc.add_argument("--keep-original", action="store_true",
                    help="keep the original file as FILE.h5.unrecovered (default: deleted once the copy is verified)")
    rc.add_argument("--spill-dir", type=Path, default=None, metavar="DIR",
                    help="also look for spill files (samples a full disk kept apart) in DIR (default: only the "
                         "user data folder's spill folder)")
    rc.set_defaults(session_func=cmd_recover)


def run(args: argparse.Namespace) -> int:
    fn = getattr(args, "session_func", None)
    if fn is None:
        args.session_parser.print_help()
        return EXIT_USAGE
    return int(fn(args))


# -- option checks -------------------------------------------------------------------------
def number(text: str | None, option: str, *, unit: str, above: float = 0.0, below: float | None = None,
           at_most: float | None = None) -> float | None:
    """``text`` as a finite number ``> above`` and ``< below`` (or ``<= at_most``); a one-line
    :class:`UserError` naming ``option`` otherwise. None stays None."""
    if text is None:
        return None
    return validate.number(text, option, unit=unit, gt=above, lt=below, le=at_most)


def _required(args: argparse.Namespace) -> None:
    missing = [opt for opt, value in (("--protocol ID", args.protocol), ("--patient ID", args.patient),
                                      ("--body-mass KG", args.body_mass), ("--involved SIDE", args.involved),
                                      ("--device [ROLE=]URI", args.device)) if not value]
    if missing:
        raise UserError(f"session run: missing {', '.join(missing)} (see station session run --help)")


def patient_from_args(args: argparse.Namespace) -> Patient:
    validate.patient_id(args.patient)
    if args.involved not in ("left", "right", "none"):
        raise UserError(f"--involved {args.involved!r}: expected left, right or none")
    if "\n" in args.operator or len(args.operator) > 100:
        raise UserError("--operator: expected one line of at most 100 characters")
    bare = [t for t in args.lever_arm if "=" not in t]
    return Patient(
        args.patient,
        body_mass_kg=number(args.body_mass, "--body-mass", unit="kg", below=MAX_BODY_MASS_KG),
        height_m=number(args.height, "--height", unit="m", below=MAX_HEIGHT_M),
        involved_side=args.involved,
        # a bare --lever-arm M (one torque protocol): also kept as the patient's, as before
        lever_arm_m=number(bare[0], "--lever-arm", unit="m", at_most=MAX_LEVER_ARM_M) if len(bare) == 1 else None,
    )


def simulation_from_args(args: argparse.Namespace) -> dict[str, float | int]:
    """``--sim-strength``, ``--sim-weaker``, ``--sim-seed``, ``--sim-speed`` checked (one line each)."""
    out: dict[str, float | int] = {}
    strength = number(args.sim_strength, "--sim-strength", unit="(factor)", above=0.0)
    if strength is not None:
        if not 0.2 <= strength <= 3.0:
            raise UserError(f"--sim-strength {args.sim_strength}: expected a factor from 0.2 to 3")
        out["strength"] = strength
    weaker = number(args.sim_weaker, "--sim-weaker", unit="(ratio)", above=0.0)
    if weaker is not None:
        if not 0.1 <= weaker <= 1.5:
            raise UserError(f"--sim-weaker {args.sim_weaker}: expected a ratio from 0.1 to 1.5")
        out["involved_ratio"] = weaker
    if args.sim_seed is not None:
        if not re.fullmatch(r"\d{1,9}", args.sim_seed):
            raise UserError(f"--sim-seed {args.sim_seed!r}: expected a whole number from 0 to 999999999")
        out["seed"] = int(args.sim_seed)
    speed_text = getattr(args, "sim_speed", None)
    speed = number(speed_text, "--sim-speed", unit="(factor)", above=0.0)
    if speed is not None:
        if not 1.0 <= speed <= MAX_SIM_SPEED:
            raise UserError(f"--sim-speed {speed_text}: expected a factor from 1 to {MAX_SIM_SPEED:g}")
        real = [d for d in getattr(args, "device", []) if not parse_device_arg(d).uri.startswith("sim:")]
        if real:
            raise UserError(f"--sim-speed: only simulated devices (sim:) run faster than real time, not {real[0]}")
        out["speed"] = speed
    return out


def fast_timing(protocol: Protocol) -> Protocol:
    """``--fast``: the protocol with countdown and rests shortened (durations unchanged)."""
    between = protocol.timing.rest_between_sides_s
    return replace_timing(protocol, countdown_s=FAST_COUNTDOWN_S, rest_s=FAST_REST_S,
                          rest_between_sides_s=None if between is None else FAST_REST_S)  # type: ignore[arg-type]


def load_protocols(ids: list[str], protocols_dir: str | None, fast: bool) -> list[Protocol]:
    protocols = []
    for pid in ids:
        try:
            p = get_protocol(pid, protocols_dir)
        except ProtocolError as exc:
            raise UserError(str(exc) if str(exc).startswith(pid) else f"--protocol {pid}: {exc}") from None
        protocols.append(fast_timing(p) if fast else p)
    return protocols


# -- the terminal ----------------------------------------------------------------------------
class SessionTerminal(TerminalUI):
    """The terminal UI, remembering whether the operator quit at a prompt."""

    quit_requested = False

    def before_trial(self, *args: Any, **kwargs: Any) -> str:
        choice = super().before_trial(*args, **kwargs)
        if choice == "abort":
            self.quit_requested = True
        return choice

    def ask_yes_no(self, question: str) -> bool:
        self._end_line()
        self.out.write(f"{question} [y/N] > ")
        self.out.flush()
        return self.inp.readline().strip().lower() in ("y", "yes")


class SignalLog:
    """Which signals reached Python handlers, whoever installed them (``signal.set_wakeup_fd``).

    ``run_session`` turns SIGTERM into KeyboardInterrupt like Ctrl-C; this tells them apart.
    """

    def __init__(self) -> None:
        self.seen: list[int] = []
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._previous: int | None = None

    def __enter__(self) -> SignalLog:
        try:
            self._previous = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        except ValueError:  # not the main thread: signals are not ours to watch
            self._previous = None
        return self

    def read(self) -> list[int]:
        try:
            while data := os.read(self._r, 256):
                self.seen.extend(data)
        except BlockingIOError:
            pass
        return self.seen

    def __exit__(self, *exc: object) -> None:
        self.read()
        try:
            signal.set_wakeup_fd(self._previous if self._previous is not None else -1)
        except ValueError:
            pass
        os.close(self._r)
        os.close(self._w)


def offer_recovery(out_dir: Path, ui: SessionTerminal, interactive: bool) -> None:
    """Unfinished files in ``out_dir``: ask to recover each (interactive) or name them."""
    for path in find_unfinished(out_dir):
        if not interactive:
            print(f"station: note: unfinished session file {path} (a station stopped while recording it); "
                  f"repair it with: station session recover {path}", file=sys.stderr, flush=True)
            continue
        ui.print(f"Unfinished session file: {path} (a station stopped while recording it).")
        if not ui.ask_yes_no("Recover it now?"):
            ui.print(f"  left as it is; later: station session recover {path}")
            continue
        try:
            report = recover(path)
        except RecoveryError as exc:
            ui.print(f"  could not recover it: {exc}")
            continue
        for line in report.lines():
            ui.print("  " + line)


def _at_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# -- station session run -------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    _required(args)
    patient = patient_from_args(args)
    protocols = load_protocols(args.protocol, args.protocols_dir, args.fast)
    device_args = [parse_device_arg(text) for text in args.device]
    for d in device_args:
        try:
            parse_uri(d.uri)
        except DeviceError as exc:
            raise UserError(f"--device {d.uri}: {exc}") from None
    bind_roles(protocols, device_args)  # a missing or unknown role, or one channel for two sides, fails here
    lever_arms_m = parse_lever_arms(args.lever_arm, protocols)
    simulation = simulation_from_args(args)
    validate.output_dir(args.out)
    if args.spill_dir is not None:
        validate.output_dir(args.spill_dir, "--spill-dir")
    interactive = not args.auto
    ui = SessionTerminal(interactive=interactive)
    offer_recovery(args.out, ui, interactive)

    paths: list[Path] = []
    names = ", ".join(p.name for p in protocols)
    ui.print(f"Force Station session — {patient.patient_id}: {names}")
    # a missing lever arm is asked at its test's start, of an operator at a terminal
    options = RunnerOptions(first_side=args.first_side, operator=args.operator.strip(), ask_pain=args.ask_pain,
                            lever_arms_m=lever_arms_m, ask_lever_arm=interactive and _at_terminal(sys.stdin))
    extra: dict[str, Any] = {"session_attrs": {
        "mode": "auto" if args.auto else "interactive", "fast": bool(args.fast), "command": "station session run",
        **({"lever_arms_m": lever_arms_m} if lever_arms_m else {}),
        **({"simulated_patient": patient_sim} if (patient_sim := {k: v for k, v in simulation.items() if k != "speed"})
           else {}),
        **({"simulation_speed": simulation["speed"]} if "speed" in simulation else {})}, "simulation": simulation}
    with sigterm_as_interrupt(), SignalLog() as signals:
        try:
            result = run_session(protocols=protocols, device_args=device_args, patient=patient, out_dir=args.out,
                                 ui=ui, options=options, auto=args.auto, on_path=paths.append,
                                 calibration_dir=args.calibration_dir,
                                 allow_uncalibrated=args.allow_uncalibrated, spill_dir=args.spill_dir, **extra)
        except (SessionAborted, KeyboardInterrupt):
            ui.end_line()  # the message goes on its own line, not after a live progress line
            seen = signals.read()
            where = f"; session file closed with status aborted: {paths[0]}" if paths else ""
            for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):  # SIGHUP: once run_session maps it
                if sig is not None and sig in seen:
                    print(f"station: stopped by {signal.Signals(sig).name}{where}", file=sys.stderr)
                    return 128 + int(sig)
            if signal.SIGINT in seen or not ui.quit_requested:
                print(f"station: interrupted (Ctrl-C){where}", file=sys.stderr)
                return EXIT_SIGINT
            ui.print("Session ended by the operator (q)"
                     + (f"; session file closed with status aborted: {paths[0]}" if paths else ""))
            return EXIT_QUIT
    ui.print(f"Session file: {result.path}")
    ui.print(f"Inspect it with: station inspect {result.path}")
    return EXIT_COMPLETE


# -- station session recover ---------------------------------------------------------------
def _merge_spill(path: Path, spill_dir: Path | None) -> str | None:
    """Merge the spill file of ``path`` if there is one; the error line if it cannot."""
    spill = find_spill(path, spill_dir)
    if spill is None:
        if _disk_filled(path):
            where = " or ".join(str(d) for d in spill_dirs(spill_dir))
            print(f"note: {path}: the disk filled while it was recorded, but no spill file {path.stem}.spill.h5 is "
                  f"in {where}; if its samples were saved elsewhere, pass --spill-dir DIR", file=sys.stderr)
        return None
    try:
        report = merge_spill(path, spill)
    except SpillMergeError as exc:
        return str(exc)
    print("\n".join(report.lines()))
    return None


def _disk_filled(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r", locking=False) as f:
            return "disk_full" in f.attrs and "spill_merged_utc" not in f.attrs
    except OSError:
        return False


def cmd_recover(args: argparse.Namespace) -> int:
    target: Path = args.target
    spill_dir: Path | None = getattr(args, "spill_dir", None)
    if spill_dir is not None and not spill_dir.is_dir():
        raise UserError(f"--spill-dir {spill_dir}: " + ("not a directory" if spill_dir.exists() else "no such directory"))
    if target.is_dir():
        for p in sorted(target.glob("*.h5")):
            if is_in_use(p):
                print(f"{p}: in use by a running station, skipped")
        files = find_unfinished(target)
        spilled = [p for p in sorted(target.glob("*.h5")) if p not in files and not is_in_use(p)
                   and find_spill(p, spill_dir) is not None]
        if not files and not spilled:
            print(f"{target}: no unfinished session files")
            return 0
        if not files:
            failed = 0
            for path in spilled:
                error = _merge_spill(path, spill_dir)
                if error:
                    print(f"station: error: {error}", file=sys.stderr)
                    failed += 1
            return 1 if failed else 0
        try:  # one line for a read-only folder, not one per file
            validate.writable_folder_of(files[0])
        except UserError as exc:
            raise UserError(f"{exc}; {len(files)} unfinished session file(s) there are left untouched "
                            "(recovery writes its copy beside each file)") from None
        failed = 0
        for path in files:
            try:
                report = recover(path, keep_original=args.keep_original)
            except RecoveryError as exc:
                print(f"station: error: {exc}", file=sys.stderr)
                failed += 1
                continue
            print("\n".join(report.lines()))
        for path in [*files, *spilled]:
            error = _merge_spill(path, spill_dir)
            if error:
                print(f"station: error: {error}", file=sys.stderr)
                failed += 1
        return 1 if failed else 0
    report = recover(target, keep_original=args.keep_original)
    spill = find_spill(target, spill_dir) if target.is_file() else None
    if not (spill is not None and not report.recovered):  # "nothing to recover" is not the news when a spill merges
        print("\n".join(report.lines()))
    error = _merge_spill(target, spill_dir)
    if error:
        raise UserError(error)
    return 0
