"""The ``station`` console script: a thin dispatcher over ``station.commands.*``."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from typing import NoReturn

from station import __version__
from station.errors import UserError
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


def _present(name: str) -> bool:
    return importlib.util.find_spec(f"station.commands.{name}") is not None


#: The subcommands this installation has.
COMMAND_MODULES: tuple[str, ...] = tuple(name for name in PLANNED_COMMANDS if _present(name))


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``station acquire: error: … (see … --help)``)
    instead of the usage block plus the error; subcommand parsers inherit it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="station",
        description="Force Station: isometric strength and landing tests on load cells and force plates.",
    )
    parser.add_argument("--version", action="version", version=f"station {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"station.commands.{name}").register(sub)
    return parser


def _chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser the arguments selected, e.g. the one of ``session run``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(args, action.dest, None) if isinstance(action.dest, str) else None
            if name in action.choices:
                return _chosen_parser(action.choices[name], args)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports numpy, scipy, h5py: seconds on a busy machine
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
    except UserError as exc:
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
