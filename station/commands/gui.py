"""``station gui``: the clinic window (start page → live trials → per-test results → summary).

    station gui [--simulate] [--sessions DIR] [--theme light|dark] [--fast]
    station gui --simulate --auto --protocol ID … --patient ID [--body-mass KG] [--involved SIDE]
                [--close-when-done]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from station.errors import UserError

_EPILOG = """\
keys (no mouse needed): on the start page Tab moves, Space ticks a protocol or presses a
button, Ctrl+Enter starts the session; then Space start the trial / accept · R redo the last
trial · S skip · T zero the devices · 0-10 pain rating after a trial · P patient view (second
screen) · Esc abort the session (asks first; the file is kept, status aborted) · Ctrl+Q quit.

--simulate adds the built-in simulators (a Mark-10 dynamometer and two 4-cell SFP plates at
2 kHz on pseudo-terminals, and for other protocol roles a board of their channels, e.g. a 2-cell
one for the fixed frame; raw-count boards carry their factory calibration) and a simulated
patient who performs when cued. --auto runs a whole session by itself and shows the summary.

Needs the gui extra (PySide6, pyqtgraph; `make` installs it) and a display. Without one the
command says what is missing in one line; the terminal station (station session run,
station demo --no-window) needs neither.

exit status: 0 session complete (or window closed on the start page); 1 session aborted or
interrupted; 2 usage error or the window cannot start.

example:
  station gui --simulate --auto --protocol hip-abduction-hhd --protocol drop-landing-bilateral \\
      --patient P-042 --body-mass 68 --involved left --fast --close-when-done
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("gui", help="the clinic window: guided session with live force plots (--simulate: no hardware)",
                       description="Open the Force Station window: pick devices, patient and protocols, run the "
                                   "trials with a live force trace, see per-side results and the LSI, and a summary.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--simulate", action="store_true", help="offer the built-in simulated devices (no hardware)")
    p.add_argument("--sessions", type=Path, default=Path("sessions"), metavar="DIR",
                   help="folder of session files: new files go there, earlier ones list known patients "
                        "(default: sessions)")
    p.add_argument("--theme", choices=("light", "dark"), default="light", help="colour theme (default: light)")
    p.add_argument("--fast", action="store_true", help="countdown 1 s and rest 1 s (rehearsals, demos)")
    p.add_argument("--auto", action="store_true",
                   help="run the session by itself (simulated patient; needs --protocol and --patient)")
    p.add_argument("--protocol", action="append", default=[], metavar="ID",
                   help="protocol id or .toml path, in order (with --auto; without it, pre-ticks the start page)")
    p.add_argument("--patient", metavar="ID", help="pseudonymous patient id (with --auto)")
    p.add_argument("--body-mass", type=float, default=70.0, metavar="KG", help="body mass in kg (default: 70)")
    p.add_argument("--involved", choices=("left", "right", "none"), default="right",
                   help="involved side (default: right; the simulated patient is weaker there)")
    p.add_argument("--lever-arm", type=float, default=None, metavar="M", help="lever arm in m (torque)")
    p.add_argument("--device", action="append", default=[], metavar="ROLE=URI",
                   help="device for a protocol role (default with --simulate: the simulators)")
    p.add_argument("--close-when-done", action="store_true", help="close the window after the summary (with --auto)")
    p.add_argument("--calibration-dir", type=Path, default=None, metavar="DIR",
                   help="calibration folder (default: $FORCE_STATION_CALIBRATION_DIR or the user data folder); "
                        "with --simulate the simulated plates' factory records are added there for channels "
                        "that have none (an existing file is never replaced); without it they go to a "
                        "temporary folder")
    p.add_argument("--allow-uncalibrated", action="store_true",
                   help="start even if a channel has no usable calibration (recorded in the session file)")
    p.add_argument("--protocols-dir", metavar="DIR", default=None, help="folder of the clinic's own protocol files")
    p.set_defaults(func=run)


def build_auto_config(args: argparse.Namespace, protocols: list, *, mode: str = "window auto"):  # type: ignore[no-untyped-def]
    from station.gui.bridge import SessionConfig, simulated_device_args
    from station.session.model import Patient
    from station.session.setup import parse_device_arg

    if not 0 < args.body_mass < 400:
        raise UserError(f"--body-mass {args.body_mass:g}: expected kg between 0 and 400")
    if args.lever_arm is not None and not 0 < args.lever_arm <= 2.0:
        raise UserError(f"--lever-arm {args.lever_arm:g}: expected metres between 0 and 2")
    devices = [parse_device_arg(d) for d in args.device] if args.device else simulated_device_args(protocols)
    patient = Patient(args.patient, body_mass_kg=args.body_mass, involved_side=args.involved,
                      lever_arm_m=args.lever_arm)
    return SessionConfig(protocols=protocols, patient=patient, device_args=devices, out_dir=args.sessions,
                         auto=True, countdown_s=1.0 if args.fast else None, rest_s=1.0 if args.fast else None,
                         calibration_dir=args.calibration_dir, allow_uncalibrated=args.allow_uncalibrated,
                         involved_ratio=0.82 if args.involved != "none" else 1.0,
                         session_attrs={"mode": mode, "command": "station " + " ".join(sys.argv[1:])})


def run(args: argparse.Namespace) -> int:
    import re

    from protocols import ProtocolError, find_protocols, get_protocol

    try:
        available = find_protocols(args.protocols_dir)
        chosen = [get_protocol(p, args.protocols_dir) for p in args.protocol]
    except ProtocolError as exc:
        raise UserError(str(exc)) from None
    auto = None
    if args.auto:
        if not chosen:
            raise UserError("--auto needs at least one --protocol ID")
        if not args.patient:
            raise UserError("--auto needs --patient ID")
        if not args.simulate and not args.device:
            raise UserError("--auto needs --simulate (simulated devices and patient) or --device ROLE=URI")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", args.patient):
            raise UserError(f"--patient {args.patient!r}: letters, digits, '.', '_' or '-' (max 64), "
                            "starting with a letter or digit")
        auto = build_auto_config(args, chosen)
    elif args.close_when_done:
        raise UserError("--close-when-done goes with --auto")
    for p in chosen:
        available.setdefault(p.id, p)
    from station.gui.app import run_window

    return run_window(protocols=available, sessions_dir=args.sessions, simulate=args.simulate, theme=args.theme,
                      auto=auto, close_when_done=args.close_when_done, fast=args.fast,
                      calibration_dir=args.calibration_dir, allow_uncalibrated=args.allow_uncalibrated,
                      preselect=[p.id for p in chosen])
