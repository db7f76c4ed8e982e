"""May a channel be used for a test? Refusal on missing, expired or failed calibrations.

Rules, checked in this order for each channel:

1. no record                                  -> ``missing``
2. ``now >= expires_at``                      -> ``expired``
3. the latest verification run failed         -> ``failed_verification``
   (all verifications with the latest time stamp form the run; any failure fails it;
   a later passing run, or a recalibration, clears it)
4. otherwise                                  -> ``ok``

:func:`require_usable` raises :class:`CalibrationRefused` unless every channel is ``ok``
or ``override=True``, in which case it returns one :class:`CalibrationOverride` per
unusable channel for the caller to store in the session file.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from calibration.errors import CalibrationError, CalibrationRefused
from calibration.record import CalibrationRecord, _aware, utc_now

#: Hint appended to refusals; ``{device}`` and ``{channel}`` are filled in.
DEFAULT_HINT: str = "run `station calibrate --device {device} --channel {channel}` or pass --allow-uncalibrated"


class CalibrationState(str, enum.Enum):
    """Usability of a channel's calibration."""

    OK = "ok"
    MISSING = "missing"
    EXPIRED = "expired"
    FAILED_VERIFICATION = "failed_verification"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class CalibrationStatus:
    """Verdict of :func:`check_usable`. state: see :class:`CalibrationState`. usable: state is OK.
    reason: one line naming device and channel. days_left: days until expiry (negative when
    expired, None when missing). record_id: the record judged (None when missing)."""

    device_serial: str
    channel: int
    state: CalibrationState
    reason: str
    days_left: float | None = None
    record_id: str | None = None

    @property
    def usable(self) -> bool:
        """True when the state is OK."""
        return self.state is CalibrationState.OK


@dataclass(frozen=True)
class CalibrationOverride:
    """A channel used despite an unusable calibration (``--allow-uncalibrated``); store in the session."""

    device_serial: str
    channel: int
    state: CalibrationState
    reason: str
    at: datetime
    record_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for a session file."""
        return {
            "device_serial": self.device_serial,
            "channel": self.channel,
            "state": self.state.value,
            "reason": self.reason,
            "at": self.at.astimezone(timezone.utc).isoformat(),
            "record_id": self.record_id,
        }


def _who(device_serial: str, channel: int) -> str:
    return f"channel {channel} of device {device_serial}"


def latest_verification_run(record: CalibrationRecord) -> tuple[Any, ...]:
    """The verifications sharing the latest time stamp (one run), or () when none."""
    if not record.verifications:
        return ()
    last = max(v.at for v in record.verifications)
    return tuple(v for v in record.verifications if v.at == last)


def check_usable(
    record: CalibrationRecord | None,
    now: datetime | None = None,
    *,
    device_serial: str | None = None,
    channel: int | None = None,
) -> CalibrationStatus:
    """Judge one channel's record at ``now`` (timezone-aware; default now, UTC).

    ``device_serial`` and ``channel`` name the channel when ``record`` is None.
    """
    when = _aware(now, "now") if now is not None else utc_now()
    if record is None:
        if device_serial is None or channel is None:
            raise CalibrationError("check_usable(None) needs device_serial and channel to name the channel")
        return CalibrationStatus(device_serial, int(channel), CalibrationState.MISSING,
                                 f"{_who(device_serial, int(channel))} has no calibration")
    who = _who(record.device_serial, record.channel)
    days_left = (record.expires_at - when).total_seconds() / 86400.0
    if when >= record.expires_at:
        return CalibrationStatus(
            record.device_serial, record.channel, CalibrationState.EXPIRED,
            f"calibration of {who} expired on {record.expires_at.date().isoformat()}",
            days_left, record.record_id,
        )
    failed = [v for v in latest_verification_run(record) if not v.passed]
    if failed:
        first = failed[0]
        return CalibrationStatus(
            record.device_serial, record.channel, CalibrationState.FAILED_VERIFICATION,
            f"{who} failed its last verification on {first.at.date().isoformat()} ({first.describe()})",
            days_left, record.record_id,
        )
    return CalibrationStatus(
        record.device_serial, record.channel, CalibrationState.OK,
        f"{who} calibrated {record.calibrated_at.date().isoformat()}, "
        f"valid until {record.expires_at.date().isoformat()}",
        days_left, record.record_id,
    )


def require_usable(
    records: Mapping[tuple[str, int], CalibrationRecord | None] | Iterable[CalibrationRecord],
    channels: Iterable[tuple[str, int]],
    override: bool = False,
    *,
    now: datetime | None = None,
    device_uris: Mapping[str, str] | None = None,
    hint: str = DEFAULT_HINT,
) -> list[CalibrationOverride]:
    """Check every ``(device_serial, channel)`` in ``channels`` against ``records``.

    ``records`` is a mapping keyed by ``(device_serial, channel)`` or an iterable of records.
    All usable: returns []. Otherwise raises :class:`CalibrationRefused` (one line naming the
    first unusable channel, how many more, and ``hint``), unless ``override`` is true: then
    returns the overrides. ``device_uris`` maps serials to the URI shown in the hint.
    """
    when = _aware(now, "now") if now is not None else utc_now()
    if isinstance(records, Mapping):
        table = {(str(k[0]), int(k[1])): v for k, v in records.items()}
    else:
        table = {(r.device_serial, r.channel): r for r in records}
    statuses = []
    for serial, channel in channels:
        key = (str(serial), int(channel))
        status = check_usable(table.get(key), when, device_serial=key[0], channel=key[1])
        if not status.usable:
            statuses.append(status)
    if not statuses:
        return []
    if override:
        return [CalibrationOverride(s.device_serial, s.channel, s.state, s.reason, when, s.record_id) for s in statuses]
    first = statuses[0]
    device = (device_uris or {}).get(first.device_serial, "<URI>")
    more = f" (and {len(statuses) - 1} more channel{'s' if len(statuses) > 2 else ''})" if len(statuses) > 1 else ""
    message = f"{first.reason}{more}; {hint.format(device=device, channel=first.channel)}"
    raise CalibrationRefused(message, statuses)
