"""CLI subcommands. Each module exposes ``register(subparsers)`` that adds one subcommand
whose ``func(args) -> int`` runs it. ``station.cli`` lists them in ``COMMAND_MODULES``."""
