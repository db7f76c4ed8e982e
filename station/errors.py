"""Errors meant for the user: one line, naming the port, file or field; no traceback.

Every package's user-facing errors derive from one base,
:class:`force_errors.ForceStationError` (re-exported here as :class:`StationError`):
``drivers.base.DeviceError``, ``calibration.CalibrationError``, ``protocols.ProtocolError``,
and the station's own kinds below. The CLI catches that base, prints
``station: error: <message>`` on one line and exits with status 2; a window shows the line.
Library code raises the specific kind; :class:`UserError` is what the CLI's commands raise
for a bad option, and the name older code catches (it is the base itself, so
``except UserError`` catches every kind).
"""
from __future__ import annotations

from force_errors import ForceStationError

#: the base of every user-facing error of every package
StationError = ForceStationError

#: A mistake the user can fix (bad file, bad option, missing port). The base itself, so that
#: ``except UserError`` (and ``pytest.raises(UserError)``) catch every kind.
UserError = ForceStationError


class StorageError(ForceStationError):
    """A session file cannot be created, read or written (names the file)."""


class SessionError(ForceStationError):
    """A session cannot start or go on as asked (a role without a device, a device too slow,
    a device that stopped delivering); names the device, role or protocol."""


class CalibrationDeviceError(ForceStationError):
    """A device being calibrated stopped delivering or was never usable (names the device)."""


__all__ = ["CalibrationDeviceError", "SessionError", "StationError", "StorageError", "UserError"]
