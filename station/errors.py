"""Errors meant for the user: one line, naming the port, file or field; no traceback."""
from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix (bad file, bad option, missing port).

    The CLI prints ``station: error: <message>`` on one line and exits with status 2.
    """
