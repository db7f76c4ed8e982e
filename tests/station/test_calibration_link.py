"""``station.calibration_link.calibration_for``: what a session applies to a device, the
refusals (no record, expired, failed verification, unreadable file), the override, and the
snapshot for the session file. Plus the simulator helpers of the calibration commands."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from calibration import ENV_VAR, CalibrationRecord, CalibrationStore, VerificationResult, load_snapshot
from drivers.base import DeviceInfo
from station.calibration_link import (
    StaticLoad,
    TareTracker,
    calibration_for,
    plate_load_shares,
    simulator_cells,
    stability_criteria,
)
from station.errors import UserError

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
SERIAL = "SFP-0042"
URI = "sfp:/dev/ttyUSB0"


@pytest.fixture(autouse=True)
def _no_real_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env-calibration"))


def counts_device(channels: int = 4, serial: str = SERIAL) -> DeviceInfo:
    return DeviceInfo(family="sfp", model="SFP-8", serial=serial, firmware="1", channels=channels, rate_hz=1000.0,
                      unit="counts", time_source="device", port="/dev/ttyUSB0")


def newton_device() -> DeviceInfo:
    return DeviceInfo(family="mark10", model="M5-100", serial="M10-77", firmware="1.10", channels=1, rate_hz=500.0,
                      unit="N", time_source="host", port="/dev/ttyUSB1")


def linear(channel: int, *, gain: float = 0.001, offset: float = 1000.0, serial: str = SERIAL,
           at: datetime = T0) -> CalibrationRecord:
    return CalibrationRecord(device_serial=serial, channel=channel, model="linear", offset_counts=offset,
                             coefficients_n_per_count_k=(gain,), calibrated_at=at,
                             expires_at=at.replace(year=at.year + 1), operator="Kim")


def check(passed: bool, at: datetime) -> VerificationResult:
    return VerificationResult(at=at, kind="check_load", reference_n=196.133,
                              measured_n=196.2 if passed else 199.0, tolerance_n=1.0, passed=passed)


def test_no_record_is_refused_naming_serial_and_channel(tmp_path: Path):
    with pytest.raises(UserError) as exc:
        calibration_for(counts_device(), uri=URI, calibration_dir=tmp_path, now=T0)
    message = str(exc.value)
    assert "channel 0 of device SFP-0042 has no calibration" in message
    assert "and 3 more channels" in message
    assert f"station calibrate --device {URI} --channel 0" in message and "--allow-uncalibrated" in message
    assert "\n" not in message


def test_override_returns_overrides_and_nan_columns(tmp_path: Path):
    CalibrationStore(tmp_path).save(linear(1, gain=0.002, offset=500.0))
    cal = calibration_for(counts_device(), uri=URI, calibration_dir=tmp_path, allow_uncalibrated=True, now=T0)
    assert [o["channel"] for o in cal.overrides] == [0, 2, 3]
    assert {o["state"] for o in cal.overrides} == {"missing"}
    assert all(o["device_serial"] == SERIAL and o["at"].startswith("2025-03-01") for o in cal.overrides)
    raw = np.array([[0.0, 500.0, 0.0, 0.0], [10.0, 1500.0, 20.0, 30.0]])
    force = cal.calibrate(raw)
    assert np.isnan(force[:, [0, 2, 3]]).all()
    assert force[:, 1] == pytest.approx([0.0, 2.0])
    assert cal.snapshot["overrides"] == cal.overrides
    assert cal.snapshot["model"] == "mixed" and "3 used without one" in cal.snapshot["note"]
    json.dumps(cal.snapshot, allow_nan=False)  # storable as a session attribute


def test_usable_records_are_applied_and_snapshotted(tmp_path: Path):
    store = CalibrationStore(tmp_path)
    records = [linear(c, gain=0.001 * (c + 1), offset=100.0 * c) for c in range(4)]
    for r in records:
        store.save(r)
    cal = calibration_for(counts_device(), uri=URI, calibration_dir=tmp_path, now=T0 + timedelta(days=30))
    assert cal.overrides == []
    raw = np.tile(np.array([1100.0, 1100.0, 1200.0, 1300.0]), (5, 1))
    assert cal.calibrate(raw)[0] == pytest.approx([1.1, 2.0, 3.0, 4.0])
    snap = cal.snapshot
    assert snap["kind"] == "force-station-calibration-snapshot"
    assert [r.record_id for r in load_snapshot(snap)] == [r.record_id for r in records]
    assert snap["device_serial"] == SERIAL and snap["device_uri"] == URI and snap["input_unit"] == "counts"
    assert [c["state"] for c in snap["channels"]] == ["ok"] * 4
    assert snap["calibration_dir"] == str(tmp_path)
    assert (snap["model"], snap["source"]) == ("linear", "multipoint")
    assert snap["note"] == "4 of 4 channel(s) in use have a usable calibration"
    assert cal.calibration_set is not None and cal.calibration_set.all_linear


def test_expired_record_is_refused(tmp_path: Path):
    CalibrationStore(tmp_path).save(linear(0))
    info = counts_device(channels=1)
    calibration_for(info, uri=URI, calibration_dir=tmp_path, now=T0 + timedelta(days=364))
    with pytest.raises(UserError, match=r"calibration of channel 0 of device SFP-0042 expired on 2026-03-01"):
        calibration_for(info, uri=URI, calibration_dir=tmp_path, now=T0 + timedelta(days=366))
    cal = calibration_for(info, uri=URI, calibration_dir=tmp_path, now=T0 + timedelta(days=366),
                          allow_uncalibrated=True)
    assert [o["state"] for o in cal.overrides] == ["expired"]
    assert cal.calibrate(np.array([[2000.0]]))[0, 0] == pytest.approx(1.0)  # still applied, marked overridden


def test_failed_verification_is_refused_until_a_later_pass(tmp_path: Path):
    store = CalibrationStore(tmp_path)
    failed = linear(0).with_verification(check(False, T0 + timedelta(days=5)))
    store.save(failed)
    info = counts_device(channels=1)
    with pytest.raises(UserError, match="failed its last verification"):
        calibration_for(info, uri=URI, calibration_dir=tmp_path, now=T0 + timedelta(days=6))
    store.save(failed.with_verification(check(True, T0 + timedelta(days=7))))
    cal = calibration_for(info, uri=URI, calibration_dir=tmp_path, now=T0 + timedelta(days=8))
    assert cal.overrides == []


def test_only_the_channels_in_use_must_be_calibrated(tmp_path: Path):
    CalibrationStore(tmp_path).save(linear(2))
    cal = calibration_for(counts_device(), uri=URI, channels=[2], calibration_dir=tmp_path, now=T0)
    assert cal.overrides == []
    force = cal.calibrate(np.full((3, 4), 3000.0))
    assert force[:, 2] == pytest.approx([2.0] * 3)
    assert np.isnan(force[:, [0, 1, 3]]).all()
    assert [c["in_use"] for c in cal.snapshot["channels"]] == [False, False, True, False]
    with pytest.raises(UserError, match="channel 4 out of range"):
        calibration_for(counts_device(), uri=URI, channels=[4], calibration_dir=tmp_path, now=T0)


def test_an_unused_expired_channel_is_not_applied(tmp_path: Path):
    store = CalibrationStore(tmp_path)
    store.save(linear(0, at=T0 - timedelta(days=400)))
    store.save(linear(1))
    cal = calibration_for(counts_device(channels=2), uri=URI, channels=[1], calibration_dir=tmp_path, now=T0)
    assert cal.records[0] is None and cal.snapshot["channels"][0]["source"] == "unused-unusable"
    assert np.isnan(cal.calibrate(np.array([[1.0, 1.0]]))[0, 0])


def test_unreadable_file_is_refused_or_overridden(tmp_path: Path):
    bad = tmp_path / f"{SERIAL}_ch0.json"
    tmp_path.mkdir(exist_ok=True)
    bad.write_text("not json", encoding="utf-8")
    info = counts_device(channels=1)
    with pytest.raises(UserError) as exc:
        calibration_for(info, uri=URI, calibration_dir=tmp_path, now=T0)
    assert "unreadable" in str(exc.value) and str(bad) in str(exc.value) and "--allow-uncalibrated" in str(exc.value)
    cal = calibration_for(info, uri=URI, calibration_dir=tmp_path, now=T0, allow_uncalibrated=True)
    assert len(cal.overrides) == 1 and "unreadable" in cal.overrides[0]["reason"]
    assert cal.snapshot["channels"][0]["state"] == "unreadable"
    assert bad.read_text(encoding="utf-8") == "not json"


def test_device_without_serial(tmp_path: Path):
    with pytest.raises(UserError, match="reports no serial number"):
        calibration_for(counts_device(serial=" "), uri=URI, calibration_dir=tmp_path, now=T0)


def test_device_reporting_newtons_gets_a_factory_identity(tmp_path: Path):
    cal = calibration_for(newton_device(), uri="mark10:/dev/ttyUSB1", calibration_dir=tmp_path, now=T0)
    assert cal.overrides == []
    values = np.array([[12.5], [-3.0]])
    assert cal.calibrate(values) == pytest.approx(values)
    (record,) = load_snapshot(cal.snapshot)
    assert record.model == "identity" and record.source == "factory" and record.device_serial == "M10-77"
    assert cal.snapshot["channels"][0]["source"] == "factory-default"
    assert cal.snapshot["input_unit"] == "N"
    # the summary keys of the snapshot a newton device had before records existed
    assert (cal.snapshot["model"], cal.snapshot["source"]) == ("identity", "factory")
    assert "reports newtons" in cal.snapshot["note"]
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_device_reporting_newtons_uses_its_stored_record(tmp_path: Path):
    store = CalibrationStore(tmp_path)
    from calibration import factory_record

    record = factory_record("M10-77", 0, operator="factory", calibrated_at=T0)
    store.save(record.with_verification(check(True, T0 + timedelta(days=1))))
    cal = calibration_for(newton_device(), calibration_dir=tmp_path, now=T0 + timedelta(days=2))
    assert cal.records[0].record_id == record.record_id and cal.snapshot["channels"][0]["source"] == "stored"
    store.save(store.load("M10-77", 0).with_verification(check(False, T0 + timedelta(days=3))))
    with pytest.raises(UserError, match="channel 0 of device M10-77 failed its last verification"):
        calibration_for(newton_device(), calibration_dir=tmp_path, now=T0 + timedelta(days=4))
    with pytest.raises(UserError, match="expired"):
        calibration_for(newton_device(), calibration_dir=tmp_path, now=T0 + timedelta(days=400))


def test_env_var_gives_the_calibration_dir(tmp_path: Path):
    CalibrationStore(tmp_path / "env-calibration").save(linear(0))
    cal = calibration_for(counts_device(channels=1), uri=URI, now=T0)
    assert cal.snapshot["calibration_dir"] == str(tmp_path / "env-calibration")


def test_naive_now_is_rejected(tmp_path: Path):
    with pytest.raises(ValueError):
        calibration_for(newton_device(), calibration_dir=tmp_path, now=datetime(2025, 1, 1))


# ------------------------------------------------------------------------------ sim helpers
def test_static_load_and_plate_shares():
    load = StaticLoad(4, noise_n=0.0)
    load.set(2, 100.0)
    out = load.sample(np.arange(5.0))
    assert out.shape == (5, 4) and (out[:, 2] == 100.0).all() and (out[:, [0, 1, 3]] == 0).all()
    noisy = StaticLoad(1, noise_n=0.01, seed=3).sample(np.arange(10_000.0))
    assert abs(noisy.mean()) < 0.001 and noisy.std() == pytest.approx(0.01, rel=0.05)
    assert plate_load_shares("centre") == pytest.approx([0.25] * 4)
    for i, corner in enumerate(("front-left corner", "front-right corner", "back-right corner", "back-left corner")):
        shares = plate_load_shares(corner)
        assert shares.sum() == pytest.approx(1.0) and int(np.argmax(shares)) == i and shares[i] == pytest.approx(0.81)
    with pytest.raises(ValueError):
        plate_load_shares("edge")


def test_simulator_cells_and_stability_criteria():
    class Sfp:
        cells = ["a", "b"]

    class Single:
        cell = "c"

    assert simulator_cells(Sfp()) == ["a", "b"] and simulator_cells(Single()) == ["c"]
    assert simulator_cells(object()) is None and simulator_cells(None) is None
    c = stability_criteria(392.266, 0.001, window_s=0.5)
    assert c.max_sd_counts == pytest.approx(0.0005 * 392.266 / 0.001) and c.window_s == 0.5
    c = stability_criteria(10.0, -0.002, max_noise_n=0.1, max_drift_n_per_s=0.3)
    assert c.max_sd_counts == pytest.approx(50.0) and c.max_slope_counts_per_s == pytest.approx(150.0)
    assert stability_criteria(1.0, 0.001).max_sd_counts == pytest.approx(20.0)  # floor 0.02 N


def test_tare_tracker_logs_drift_between_tares(tmp_path: Path):
    store = CalibrationStore(tmp_path)
    store.save(linear(0, gain=0.001, offset=1000.0))
    store.save(linear(2, gain=0.002, offset=-500.0))
    cal = calibration_for(counts_device(), uri=URI, channels=[0, 2], calibration_dir=tmp_path, now=T0)
    tracker = TareTracker.from_snapshot(json.loads(json.dumps(cal.snapshot)))  # as read back from the file
    assert sorted(tracker.logs) == [0, 2]
    first = tracker.add([0.05, None, -0.02, np.nan], at=T0)
    assert [r["channel"] for r in first] == [0, 2]
    assert first[0]["offset_counts"] == pytest.approx(1050.0)  # 0.05 N / 0.001 N/count above the zero
    assert first[0]["drift_n"] == pytest.approx(0.05) and first[1]["drift_n"] == pytest.approx(-0.02)
    second = tracker.add([0.08, 0.0, -0.02, 0.0], at=T0 + timedelta(minutes=20))
    assert second[0]["drift_counts"] == pytest.approx(30.0) and second[0]["drift_n"] == pytest.approx(0.03)
    assert second[1]["drift_n"] == pytest.approx(0.0)
    log = tracker.to_list()
    assert [len(ch["tares"]) for ch in log] == [2, 2]
    json.dumps(log, allow_nan=False)
