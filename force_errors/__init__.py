"""The one base class of every error meant for a person, shared by all Force Station packages.

``drivers``, ``calibration``, ``protocols`` and ``simulation`` may not import ``station``, so
the base lives here, in a package that imports nothing. Every user-facing error derives
from :class:`ForceStationError`: a device problem (``drivers.base.DeviceError``), a bad
calibration (``calibration.CalibrationError``), a protocol file (``protocols.ProtocolError``),
a session file or option (``station.errors.UserError`` and its kinds). Its message is one
line naming the port, file, field or host; the CLI catches this base, prints
``station: error: <message>`` and exits with status 2. A window shows the message as is.
"""
from __future__ import annotations

__all__ = ["ForceStationError"]


class ForceStationError(Exception):
    """An error a person can act on; ``str()`` is one line naming the port, file, field or host."""
