"""The ``station`` console script: a thin dispatcher over ``station.commands.*``.

Only the module of the command being run is imported, so ``station --help`` and a light
command start without numpy, h5py, scipy or Qt (``tests/station/test_cli_startup.py``
checks it; ``benchmarks/bench_startup.py`` measures it).
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import NoReturn

from station import __version__
from station.errors import StationError
from station.validate import non_finite_options

#: Subcommand modules, in the order ``station --help`` lists them. A name whose module is not
#: there (yet) is left out of :data:`COMMAND_MODULES`.
PLANNED_COMMANDS: tuple[str, ...] = (
    "demo",
    "gui",
    "session",
    "protocols",
    "acquire",
    "devices",
    "simulate",
    "calibrate",
    "calibration",
    "analyze",
    "inspect",
    "history",
    "export",
    "index",
    "store",
    "sync",
)

#: The one-line help of each command, shown by ``station --help`` without importing the
#: command modules (tests/station/test_cli_startup.py checks it against each module's own).
#: A command missing here is imported for ``station --help`` (slower, still correct).
COMMAND_HELP: dict[str, str] = {
    "demo": "run a full simulated hip-abduction session (no hardware)",
    "gui": "the clinic window: guided session with live force plots (--simulate: no hardware)",
    "session": "run a test session in the terminal, or recover unfinished session files",
    "protocols": "list, show and validate test protocols",
    "acquire": "record raw samples from one or more devices into HDF5",
    "devices": "list serial ports; --probe asks which device answers",
    "simulate": "run a device simulator on a new pseudo-terminal",
    "calibrate": "multi-point calibration of one channel (known loads, loading then unloading)",
    "calibration": "list, show, verify and export calibration records",
    "analyze": "analyse a recorded isometric or landing trace (CSV/TXT or session .h5)",
    "inspect": "summarise a session file (patient, tests, reps, results, LSI)",
    "history": "a patient's results over time (trend, LSI, MDC verdicts, EPIC)",
    "export": "export a session or a patient's sessions (CSV, JSON, PDF report, …)",
    "index": "rebuild or list the results index; mark a baseline session",
    "store": "create or check the clinic's shared results store (PostgreSQL)",
    "sync": "share sessions with the clinic's other stations (PostgreSQL store)",
}


def _present(name: str) -> bool:
    return importlib.util.find_spec(f"station.commands.{name}") is not None


#: The subcommands this installation has.
COMMAND_MODULES: tuple[str, ...] = tuple(name for name in PLANNED_COMMANDS if _present(name))


def _requested(argv: Sequence[str]) -> str | None:
    """The command named on the command line, if it is one of ours."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMAND_MODULES else None
    return None


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``station acquire: error: … (see … --help)``)
    instead of the usage block plus the error; subcommand parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``only``, that command is imported and registered in full and the
    others are listed by name and help without importing them."""
    parser = OneLineParser(
        prog="station",
        description="Force Station: isometric strength and landing tests on load cells and force plates.",
    )
    parser.add_argument("--version", action="version", version=f"station {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if only is not None and name != only or only is None and name in COMMAND_HELP:
            sub.add_parser(name, help=COMMAND_HELP.get(name, f"see `station {name} --help`"), add_help=False)
            continue
        importlib.import_module(f"station.commands.{name}").register(sub)
    return parser


def _chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser the arguments selected, e.g. the one of ``session run``."""
    for action in parser._actions:  # noqa: SLF001 - argparse offers no public walk of subparsers
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            name = getattr(args, action.dest, None) if isinstance(action.dest, str) else None
            if name in action.choices:
                return _chosen_parser(action.choices[name], args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(_requested(argv))  # imports only the command's own modules
        args, unknown = parser.parse_known_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while starting: nothing was opened yet
        print("station: interrupted", file=sys.stderr)
        return 130
    if unknown:  # the usage of the subcommand that was typed, not only the top level's
        _chosen_parser(parser, args).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        non_finite_options(args)
        return int(args.func(args) or 0)
    except StationError as exc:  # every package's user-facing errors
        print(f"station: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("station: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
