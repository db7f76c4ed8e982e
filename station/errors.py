"""Errors meant for the user: one line, naming the port, file or field; no traceback.

Every package's user-facing errors derive from one base,
:class:`force_errors.ForceStationError` (re-exported here as :class:`StationError`):
``drivers.base.DeviceError``, ``calibration.CalibrationError``, ``protocols.ProtocolError``,
and the station's own kinds below. The CLI catches that base, prints
``station: error: <message>`` on one line and exits with status 2; a window shows the line.
Library code raises the specific kind (below, or the package's own); only the CLI's
commands (``station/cli.py``, ``station/commands/``) raise :class:`UserError`, for a bad
option. :class:`UserError` is the base itself, so ``except UserError`` still catches every
kind; library code catches :class:`StationError`.
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


class CalibrationUseError(ForceStationError):
    """The calibration a device needs for a session is missing, unusable or does not fit the
    device (names the device URI, serial number or channel, and how to fix it)."""


class ConfigError(ForceStationError):
    """The station's config file (or a settings file it names) is unreadable or wrong (names
    the file and the field)."""


class OptionError(ForceStationError):
    """An option value a library function validates for a front end: a number out of range,
    an output path that cannot be written, a patient id (names the option)."""


class ClinicStoreError(ForceStationError):
    """The clinic's shared results store (PostgreSQL) cannot be used: a malformed store URL,
    a missing driver, a local server that cannot start (names the URL, host, database or
    folder)."""


class DisplayError(ForceStationError):
    """No window can be shown here (no display, a Qt platform plugin that cannot load)."""


class PromptError(ForceStationError):
    """The operator cannot be asked: standard input closed while a prompt waited."""


__all__ = ["CalibrationDeviceError", "CalibrationUseError", "ClinicStoreError", "ConfigError", "DisplayError",
           "OptionError", "PromptError", "SessionError", "StationError", "StorageError", "UserError"]
