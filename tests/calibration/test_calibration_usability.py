"""Expiry, refusal and override (with an injected clock)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from calibration import (
    CalibrationError,
    CalibrationRecord,
    CalibrationRefused,
    CalibrationState,
    add_months,
    check_usable,
    factory_record,
    judge,
    require_usable,
)

CALIBRATED = datetime(2025, 1, 31, 10, 0, tzinfo=timezone.utc)


def record(serial="SFP-0042", channel=1, when=CALIBRATED, months=12):
    return CalibrationRecord(
        device_serial=serial, channel=channel, model="linear", offset_counts=0.0,
        coefficients_n_per_count_k=(0.001,), calibrated_at=when, expires_at=add_months(when, months),
        operator="tester",
    )


def test_add_months_clamps_day():
    assert add_months(CALIBRATED, 12) == datetime(2026, 1, 31, 10, 0, tzinfo=timezone.utc)
    assert add_months(CALIBRATED, 1).date().isoformat() == "2025-02-28"
    assert add_months(datetime(2024, 2, 29, tzinfo=timezone.utc), 12).date().isoformat() == "2025-02-28"
    assert add_months(datetime(2024, 11, 15, tzinfo=timezone.utc), 3).date().isoformat() == "2025-02-15"


def test_valid_until_expiry_then_expired():
    r = record()
    just_before = r.expires_at - timedelta(seconds=1)
    ok = check_usable(r, just_before)
    assert ok.usable and ok.state is CalibrationState.OK
    assert ok.days_left == pytest.approx(1 / 86400)
    expired = check_usable(r, r.expires_at)
    assert not expired.usable and expired.state is CalibrationState.EXPIRED
    assert "expired on 2026-01-31" in expired.reason and "SFP-0042" in expired.reason
    assert check_usable(r, r.expires_at + timedelta(days=10)).days_left == pytest.approx(-10)


def test_missing_needs_a_name_and_now_must_be_aware():
    status = check_usable(None, CALIBRATED, device_serial="SFP-0042", channel=2)
    assert status.state is CalibrationState.MISSING
    assert status.reason == "channel 2 of device SFP-0042 has no calibration"
    with pytest.raises(CalibrationError, match="device_serial"):
        check_usable(None, CALIBRATED)
    with pytest.raises(CalibrationError, match="timezone"):
        check_usable(record(), datetime(2025, 3, 1))


def test_require_usable_all_ok_returns_empty():
    records = [record(channel=0), record(channel=1)]
    assert require_usable(records, [("SFP-0042", 0), ("SFP-0042", 1)], now=CALIBRATED + timedelta(days=1)) == []


def test_require_usable_refuses_missing_with_one_line_message():
    records = {("SFP-0042", 0): record(channel=0), ("SFP-0042", 2): None}
    with pytest.raises(CalibrationRefused) as info:
        require_usable(records, [("SFP-0042", 0), ("SFP-0042", 2)], now=CALIBRATED,
                       device_uris={"SFP-0042": "serial:///dev/ttyUSB0"})
    message = str(info.value)
    assert "\n" not in message
    assert message == (
        "channel 2 of device SFP-0042 has no calibration; run "
        "`station calibrate --device serial:///dev/ttyUSB0 --channel 2` or pass --allow-uncalibrated"
    )
    assert [s.state for s in info.value.statuses] == [CalibrationState.MISSING]


def test_require_usable_counts_further_channels():
    now = CALIBRATED + timedelta(days=400)
    records = [record(channel=0), record(channel=1), record(channel=2, when=CALIBRATED + timedelta(days=300))]
    with pytest.raises(CalibrationRefused) as info:
        require_usable(records, [("SFP-0042", 0), ("SFP-0042", 1), ("SFP-0042", 2), ("SFP-0042", 3)], now=now)
    message = str(info.value)
    assert message.startswith("calibration of channel 0 of device SFP-0042 expired on 2026-01-31")
    assert "(and 2 more channels)" in message and "--device <URI> --channel 0" in message
    assert [s.channel for s in info.value.statuses] == [0, 1, 3]


def test_override_returns_the_overrides():
    now = CALIBRATED + timedelta(days=400)
    expired = record(channel=0)
    failed = record(channel=1, when=now - timedelta(days=5)).with_verification(
        judge(100.0, 110.0, at=now - timedelta(days=1))
    )
    fine = factory_record("MK10-1", 0, operator="x", calibrated_at=now - timedelta(days=1))
    overrides = require_usable(
        [expired, failed, fine],
        [("SFP-0042", 0), ("SFP-0042", 1), ("SFP-0042", 2), ("MK10-1", 0)],
        override=True,
        now=now,
    )
    assert [(o.channel, o.state) for o in overrides] == [
        (0, CalibrationState.EXPIRED),
        (1, CalibrationState.FAILED_VERIFICATION),
        (2, CalibrationState.MISSING),
    ]
    assert overrides[0].record_id == expired.record_id and overrides[2].record_id is None
    row = overrides[1].to_dict()
    assert row["state"] == "failed_verification" and row["device_serial"] == "SFP-0042" and row["at"] == now.isoformat()


def test_factory_identity_record_is_usable_until_expiry():
    r = factory_record("MK10-1", 0, operator="x", calibrated_at=CALIBRATED)
    assert r.model == "identity" and r.source == "factory" and r.gain_n_per_count == 1.0
    assert check_usable(r, CALIBRATED + timedelta(days=30)).usable
    assert not check_usable(r, CALIBRATED + timedelta(days=366)).usable
