"""The ``station`` console script: a thin dispatcher over ``station.commands.*``."""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from station import __version__
from station.errors import UserError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="station",
        description="Force Station: isometric strength and landing tests on load cells and force plates.",
    )
    parser.add_argument("--version", action="version", version=f"station {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"station.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
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
