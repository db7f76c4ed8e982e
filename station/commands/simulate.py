"""``station simulate FAMILY``: run one device simulator standalone on a new pseudo-terminal.

The first line of standard output is the port path (``/dev/pts/5``), the second a device URI
for it (``sfp:/dev/pts/5``); then the simulator serves until Ctrl-C or SIGTERM (exit 0). Any
program can open the port as it would open a USB serial device.
"""
from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
from typing import Any

from drivers.base import DeviceError
from drivers.registry import FAMILIES
from station.errors import UserError


class _HelpWithOptions(argparse.Action):
    """``--help`` that lists every family's declared options (imported only when asked, so
    ``station --help`` stays fast)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest=dest, nargs=0, help="show this help, with each family's options, "
                         "and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        parser.epilog = options_help()
        parser.print_help()
        parser.exit()


def options_help() -> str:
    """Each family's simulator options (``-o KEY=VALUE``) and driver options (URI query)."""
    from drivers.registry import family_options
    from simulation.registry import SIMULATORS, simulator_module

    lines = ["family options (simulator: -o KEY=VALUE; driver: in the device URI, e.g. mark10:/dev/ttyUSB0?rate=500):"]
    for family in FAMILIES:
        lines.append(f"  {family}")
        if family in SIMULATORS:
            for option in getattr(simulator_module(family), "OPTIONS", ()):
                lines.append(f"    simulator {option.describe()}")
        for option in family_options(family):
            lines.append(f"    driver    {option.describe()}")
    lines.append("example: station simulate sfp --channels 8 --rate 2000; "
                 "station simulate mark10 -o commands=reading (a gauge that answers only ?)")
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="run a device simulator on a new pseudo-terminal",
        description=(
            "Run one simulated device on a new pseudo-terminal until Ctrl-C. Prints the port path "
            "on the first line and a device URI on the second."
        ),
        epilog=f"families: {', '.join(FAMILIES)}. Example: station simulate sfp --channels 8 --rate 2000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action=_HelpWithOptions)
    parser.add_argument("family", metavar="FAMILY", help=f"device family ({', '.join(FAMILIES)})")
    parser.add_argument("--channels", type=int, help="number of channels (families with several)")
    parser.add_argument("--rate", type=float, help="sample rate, Hz")
    parser.add_argument("--seed", type=int, help="random seed of the simulated signals")
    parser.add_argument("--scenario", help="what the load cells feel, e.g. efforts (default) or landing (sfp)")
    parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                        help="a family-specific simulator option (repeatable), e.g. -o seq_offset=65000")
    parser.set_defaults(func=run)


def simulator_options(args: argparse.Namespace) -> dict[str, str]:
    """The simulator's option dict from the command line (``--option`` wins over nothing)."""
    options: dict[str, str] = {}
    if args.channels is not None:
        options["channels"] = str(args.channels)
    if args.rate is not None:
        if not (math.isfinite(args.rate) and args.rate > 0):
            raise UserError(f"--rate {args.rate:g}: expected a sample rate above 0 Hz")
        options["rate"] = f"{args.rate:g}"
    if args.seed is not None:
        options["seed"] = str(args.seed)
    if args.scenario:
        options["scenario"] = args.scenario
    for item in args.option:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UserError(f"--option {item!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def run(args: argparse.Namespace) -> int:
    family = args.family
    if family not in FAMILIES:
        raise UserError(f"unknown device family {family!r} (expected one of {', '.join(FAMILIES)})")
    from simulation.registry import SIMULATORS, simulator_module

    module_name = SIMULATORS.get(family, f"simulation.{family}")
    try:
        module = simulator_module(family)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UserError(f"{family}: no simulator in this installation ({module_name} is missing)") from None
    except DeviceError:
        raise UserError(f"{family}: no simulator in this installation") from None
    options = simulator_options(args)
    known = {o.name for o in getattr(module, "OPTIONS", ())}
    given = [item.partition("=")[0].strip() for item in args.option]  # the common flags may not apply: ignored
    unknown = [k for k in given if known and k not in known]
    if unknown:
        raise UserError(f"simulate {family}: unknown option {unknown[0]!r} (options: {', '.join(sorted(known))})")
    try:
        simulator = module.make_simulator(options, None)
        port = simulator.start()
    except (DeviceError, ValueError, OSError) as exc:
        raise UserError(f"simulate {family}: {exc}") from None
    stop = threading.Event()
    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
            except ValueError:  # not the main thread: only stop() ends it
                break
        uri = f"{family}:{port}" + (f"?rate={options['rate']}" if "rate" in options else "")
        print(port, flush=True)
        print(uri, flush=True)
        print(f"station: simulating {family} on {port} ({', '.join(f'{k}={v}' for k, v in options.items()) or 'defaults'}); "
              "Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stop.wait(0.2):
            pass
    finally:
        simulator.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if simulator.overflow_bytes:
        print(f"station: the host did not read {simulator.overflow_bytes} bytes in time (the pty was full; "
              "they were dropped)", file=sys.stderr, flush=True)
    return 0
