"""``station demo``: a full simulated hip-abduction session, no hardware needed."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from protocols import get_protocol
from station import validate
from station.session.model import Patient
from station.session.run import run_session
from station.session.runner import RunnerOptions, SessionAborted, replace_timing
from station.session.setup import DeviceArg
from station.session.terminal import TerminalUI

DEMO_PROTOCOL = "hip-abduction-hhd"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run a full simulated hip-abduction session (no hardware)",
        description="Runs isometric hip abduction, 3 reps per side, on a simulated Mark-10 dynamometer "
                    "that speaks the real ASCII protocol on a pseudo-terminal, and writes one HDF5 session "
                    "file. Countdown and rests are shortened so the demo ends in under a minute. With a "
                    "display (DISPLAY or WAYLAND_DISPLAY set) and the gui extra installed it runs in the "
                    "clinic window with live plots; otherwise, or with --no-window, in the terminal.",
    )
    p.add_argument("--out", type=Path, default=Path("sessions"), help="directory for the session file (default: sessions)")
    p.add_argument("--patient", default="DEMO-001", help="pseudonymous patient id (default: DEMO-001)")
    p.add_argument("--body-mass", default="72", metavar="KG", help="body mass in kg (default: 72)")
    p.add_argument("--lever-arm", default="0.82", metavar="M",
                   help="greater trochanter to pad distance in m (default: 0.82)")
    p.add_argument("--involved", choices=("left", "right", "none"), default="right",
                   help="involved side; the simulated patient is weaker there (default: right)")
    p.add_argument("--weaker", default="0.82", metavar="RATIO",
                   help="involved-side strength as a fraction of the other side (default: 0.82)")
    p.add_argument("--rate", default="500", metavar="HZ", help="gauge output rate (default: 500)")
    p.add_argument("--sim-speed", default=None, metavar="FACTOR",
                   help="simulated time runs FACTOR times faster than real time (1 to 20; a quick look, tests); "
                        "runs in the terminal")
    p.add_argument("--no-window", action="store_true",
                   help="run in the terminal even when a display is available (without DISPLAY or "
                        "WAYLAND_DISPLAY the demo always runs in the terminal)")
    p.set_defaults(func=run)


def station_command() -> str:
    """How the user can call ``station`` again: its name if it is on PATH, else its path."""
    import shutil
    from pathlib import Path as _Path

    script = _Path(sys.argv[0]).resolve()
    on_path = shutil.which("station")
    if on_path and _Path(on_path).resolve() == script:
        return "station"
    if script.name == "station":
        try:
            return str(script.relative_to(_Path.cwd()))
        except ValueError:
            return str(script)
    return "station"


def check_options(args: argparse.Namespace) -> None:
    """Every option, before anything starts (one-line UserError naming the option)."""
    from drivers.mark10 import MAX_AOUT_HZ
    from protocols.loader import MAX_LEVER_ARM_M
    from station.commands.session import MAX_BODY_MASS_KG

    args.body_mass = validate.number(args.body_mass, "--body-mass", unit="kg", gt=0, lt=MAX_BODY_MASS_KG)
    args.lever_arm = validate.number(args.lever_arm, "--lever-arm", unit="m", gt=0, le=MAX_LEVER_ARM_M)
    args.weaker = validate.number(args.weaker, "--weaker", ge=0.1, le=1.5)
    args.rate = validate.number(args.rate, "--rate", unit="readings/s", integer=True, ge=1, le=MAX_AOUT_HZ)
    validate.patient_id(args.patient)
    validate.output_dir(args.out)
    if args.sim_speed is not None:
        from station.commands.session import MAX_SIM_SPEED

        args.sim_speed = validate.number(args.sim_speed, "--sim-speed", ge=1, le=MAX_SIM_SPEED)


def run(args: argparse.Namespace) -> int:
    check_options(args)
    protocol = replace_timing(get_protocol(DEMO_PROTOCOL), countdown_s=1.0, rest_s=1.0)
    if not args.no_window and args.sim_speed is None and window_wanted():
        return run_in_window(args, protocol)
    ui = TerminalUI(interactive=False)
    ui.print(f"Force Station demo — {protocol.name}, simulated Mark-10 gauge at {args.rate} Hz on a pseudo-terminal")
    patient = Patient(args.patient, body_mass_kg=args.body_mass, involved_side=args.involved,
                      lever_arm_m=args.lever_arm)
    try:
        result = run_session(
            protocols=[protocol],
            device_args=[DeviceArg(("dynamometer",), f"sim:mark10?rate={args.rate}")],
            patient=patient, out_dir=args.out, ui=ui, options=RunnerOptions(operator="demo"), auto=True,
            involved_ratio=args.weaker if args.involved != "none" else 1.0,
            session_attrs={"mode": "auto", "command": "station demo",
                           **({"simulation_speed": args.sim_speed} if args.sim_speed is not None else {})},
            simulation={"speed": args.sim_speed} if args.sim_speed is not None else None,
        )
    except SessionAborted as exc:
        print(f"station: {exc}; the session file is closed with status aborted", file=sys.stderr)
        return 130
    ui.print(f"Session file: {result.path}")
    ui.print(f"Inspect it with: {station_command()} inspect {result.path}")
    return 0


def window_wanted() -> bool:
    """A display is set: try the window. When it cannot start (no gui extra, a missing system
    library), say why in one line and run in the terminal."""
    import os

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    from station.gui.qtcheck import window_problem

    problem = window_problem()
    if problem is not None:
        print(f"station: {problem}; running in the terminal", file=sys.stderr)
        return False
    return True


def run_in_window(args: argparse.Namespace, protocol) -> int:  # type: ignore[no-untyped-def]
    """The demo session in the clinic window (auto: the simulated patient performs)."""
    from station.gui.app import run_window
    from station.gui.bridge import SessionConfig

    patient = Patient(args.patient, body_mass_kg=args.body_mass, involved_side=args.involved,
                      lever_arm_m=args.lever_arm)
    config = SessionConfig(protocols=[protocol], patient=patient,
                           device_args=[DeviceArg(("dynamometer",), f"sim:mark10?rate={args.rate}")],
                           out_dir=args.out, auto=True, operator="demo",
                           involved_ratio=args.weaker if args.involved != "none" else 1.0,
                           session_attrs={"mode": "auto", "command": "station demo"})
    print(f"Force Station demo — {protocol.name} in the window (station demo --no-window: in the terminal)")
    return run_window(protocols={protocol.id: protocol}, sessions_dir=args.out, simulate=True, auto=config)
