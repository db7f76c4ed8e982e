"""Exceptions of the calibration package (one-line messages, safe to print to a user)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from force_errors import ForceStationError

if TYPE_CHECKING:  # pragma: no cover
    from calibration.usability import CalibrationStatus


class CalibrationError(ForceStationError, ValueError):
    """Bad calibration input, record or file.

    The message is one line and names the file (when there is one) and the field,
    e.g. ``/data/calibration/SFP-0042_ch2.json: field 'offset_counts' must be a number``.
    """


class CalibrationRefused(ForceStationError, RuntimeError):
    """A test may not start: a channel's calibration is missing, expired or failed verification.

    ``statuses`` holds every unusable :class:`~calibration.usability.CalibrationStatus`;
    the message names the first one (and how many more there are) on one line.
    """

    def __init__(self, message: str, statuses: Sequence[CalibrationStatus] = ()) -> None:
        super().__init__(message)
        self.statuses: tuple[CalibrationStatus, ...] = tuple(statuses)
