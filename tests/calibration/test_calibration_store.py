"""Calibration directory: env override, atomic saves, history, corrupt and missing files."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import platformdirs
import pytest

import calibration.store as store_module
from calibration import (
    ENV_VAR,
    CalibrationError,
    CalibrationRecord,
    CalibrationStore,
    default_calibration_dir,
    judge,
    resolve_calibration_dir,
)

WHEN = datetime(2025, 2, 3, 4, 5, 6, tzinfo=timezone.utc)


def record(serial="SFP-0042", channel=2, gain=0.001, when=WHEN):
    return CalibrationRecord(
        device_serial=serial, channel=channel, model="linear", offset_counts=1234.5,
        coefficients_n_per_count_k=(gain,), calibrated_at=when, expires_at=when + timedelta(days=365),
        operator="tester",
    )


def files_in(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------
# where
# ---------------------------------------------------------------------------------------


def test_env_var_overrides_default(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "cal"))
    assert CalibrationStore().directory == tmp_path / "cal"
    assert resolve_calibration_dir(tmp_path / "arg") == tmp_path / "arg"  # argument wins


def test_default_is_platformdirs_user_data_dir(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    expected = Path(platformdirs.user_data_dir("force-station")) / "calibration"
    assert default_calibration_dir() == expected
    assert resolve_calibration_dir() == expected
    monkeypatch.setenv(ENV_VAR, "  ")  # blank means unset
    assert resolve_calibration_dir() == expected


def test_save_uses_env_dir_and_file_name(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    result = CalibrationStore().save(record())
    assert result.path == tmp_path / "SFP-0042_ch2.json"
    data = json.loads(result.path.read_text(encoding="utf-8"))
    assert data["format_version"] == 1 and data["device_serial"] == "SFP-0042" and data["channel"] == 2


# ---------------------------------------------------------------------------------------
# round trip, missing
# ---------------------------------------------------------------------------------------


def test_round_trip_and_missing(tmp_path):
    store = CalibrationStore(tmp_path)
    original = record()
    store.save(original)
    assert store.load("SFP-0042", 2) == original
    assert store.load("SFP-0042", 3) is None
    assert store.load_many([("SFP-0042", 2), ("SFP-0042", 3)]) == {("SFP-0042", 2): original, ("SFP-0042", 3): None}
    assert store.records() == [original]
    assert CalibrationStore(tmp_path / "nowhere").entries() == []


def test_odd_serial_is_made_safe_and_checked(tmp_path):
    store = CalibrationStore(tmp_path)
    odd = record(serial="ACME/plate 7:A")
    path = store.save(odd).path
    assert path.name == "ACME_plate_7_A_ch2.json"
    assert store.load("ACME/plate 7:A", 2) == odd
    with pytest.raises(CalibrationError, match="device_serial"):
        store.load("ACME_plate_7_A", 2)  # same file name, different device


# ---------------------------------------------------------------------------------------
# history
# ---------------------------------------------------------------------------------------


def test_recalibration_keeps_history(tmp_path):
    store = CalibrationStore(tmp_path)
    first = record(gain=0.001)
    second = record(gain=0.0011, when=WHEN + timedelta(days=200))
    assert store.save(first).history_path is None
    result = store.save(second)
    assert result.history_path is not None and result.history_path.parent == tmp_path / "history"
    assert store.load("SFP-0042", 2) == second
    history = store.history("SFP-0042", 2)
    assert [h.record for h in history] == [first]
    third = second.with_verification(judge(100.0, 100.1, at=WHEN + timedelta(days=201)))
    store.save(third)
    assert [h.record for h in store.history("SFP-0042", 2)] == [first, second]
    assert store.history("SFP-0042", 5) == []


def test_saving_identical_record_is_a_no_op(tmp_path):
    store = CalibrationStore(tmp_path)
    r = record()
    store.save(r)
    before = files_in(tmp_path)
    assert store.save(r).unchanged
    assert files_in(tmp_path) == before


# ---------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------


def test_save_goes_through_os_replace_from_same_folder(tmp_path, monkeypatch):
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((Path(src), Path(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(store_module.os, "replace", spy)
    CalibrationStore(tmp_path).save(record())
    assert len(calls) == 1
    src, dst = calls[0]
    assert dst == tmp_path / "SFP-0042_ch2.json" and src.parent == tmp_path and src != dst


def test_crash_during_save_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    store = CalibrationStore(tmp_path)
    store.save(record(gain=0.001))
    path = tmp_path / "SFP-0042_ch2.json"
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.save(record(gain=0.002))
    assert path.read_bytes() == before
    assert not [p for p in tmp_path.rglob("*.tmp")]


# ---------------------------------------------------------------------------------------
# corrupt / wrong schema
# ---------------------------------------------------------------------------------------


def test_unparsable_file_gives_one_line_error_naming_file(tmp_path):
    store = CalibrationStore(tmp_path)
    path = tmp_path / "SFP-0042_ch2.json"
    path.write_text('{"format_version": 1, "kind": ', encoding="utf-8")
    with pytest.raises(CalibrationError) as info:
        store.load("SFP-0042", 2)
    message = str(info.value)
    assert str(path) in message and "not valid JSON" in message and "\n" not in message
    assert isinstance(info.value, ValueError)


def test_binary_garbage_is_reported(tmp_path):
    path = tmp_path / "SFP-0042_ch2.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CalibrationError, match="not UTF-8"):
        CalibrationStore(tmp_path).load("SFP-0042", 2)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d.pop("offset_counts"), "offset_counts"),
        (lambda d: d.update(channel="two"), "channel"),
        (lambda d: d.update(calibrated_at="yesterday"), "calibrated_at"),
        (lambda d: d.update(model="spline"), "model"),
        (lambda d: d["points"].append({"load_n": "heavy"}), "points[0].load_n"),
        (lambda d: d.update(coefficients_n_per_count_k=[0.001, 2.0]), "coefficients_n_per_count_k"),
        (lambda d: d.update(kind="something-else"), "kind"),
        (lambda d: d.update(format_version="1"), "format_version"),
        (lambda d: d.update(expires_at="2020-01-01T00:00:00+00:00"), "expires_at"),
    ],
)
def test_wrong_schema_names_file_and_field(tmp_path, mutate, field):
    data = record().to_dict()
    mutate(data)
    path = tmp_path / "SFP-0042_ch2.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CalibrationError) as info:
        CalibrationStore(tmp_path).load("SFP-0042", 2)
    message = str(info.value)
    assert message.startswith(str(path) + ":")
    assert f"'{field}'" in message
    assert "\n" not in message


def test_save_over_corrupt_file_keeps_a_backup(tmp_path):
    store = CalibrationStore(tmp_path)
    path = tmp_path / "SFP-0042_ch2.json"
    junk = b'{"format_version": 1, "truncated'
    path.write_bytes(junk)
    fresh = record()
    result = store.save(fresh)
    assert result.corrupt_backup is not None
    assert result.corrupt_backup.name.startswith("SFP-0042_ch2.json.corrupt-")
    assert result.corrupt_backup.read_bytes() == junk
    assert store.load("SFP-0042", 2) == fresh
    listing = store.entries()
    assert [e.path.name for e in listing] == ["SFP-0042_ch2.json"]  # the backup is not listed


def test_save_over_corrupt_file_can_refuse(tmp_path):
    store = CalibrationStore(tmp_path)
    path = tmp_path / "SFP-0042_ch2.json"
    path.write_bytes(b"not json at all")
    with pytest.raises(CalibrationError) as info:
        store.save(record(), on_corrupt="refuse")
    assert str(path) in str(info.value) and "not overwritten" in str(info.value)
    assert path.read_bytes() == b"not json at all"
    assert files_in(tmp_path) == ["SFP-0042_ch2.json"]


def test_newer_format_is_never_overwritten(tmp_path):
    store = CalibrationStore(tmp_path)
    data = record().to_dict()
    data["format_version"] = 99
    path = tmp_path / "SFP-0042_ch2.json"
    text = json.dumps(data)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalibrationError, match="newer"):
        store.load("SFP-0042", 2)
    with pytest.raises(CalibrationError, match="not overwritten"):
        store.save(record())
    assert path.read_text(encoding="utf-8") == text


def test_entries_lists_unreadable_files_with_their_error(tmp_path):
    store = CalibrationStore(tmp_path)
    store.save(record(channel=0))
    (tmp_path / "SFP-0042_ch1.json").write_text("[]", encoding="utf-8")
    entries = store.entries()
    assert [e.path.name for e in entries] == ["SFP-0042_ch0.json", "SFP-0042_ch1.json"]
    assert entries[0].record is not None and entries[0].error is None
    assert entries[1].record is None and "SFP-0042_ch1.json" in entries[1].error
    with pytest.raises(CalibrationError, match="SFP-0042_ch1.json"):
        store.records()


def test_save_over_record_for_another_channel_is_treated_as_corrupt(tmp_path):
    store = CalibrationStore(tmp_path)
    path = tmp_path / "SFP-0042_ch2.json"
    path.write_text(replace(record(), channel=3).to_json(), encoding="utf-8")
    with pytest.raises(CalibrationError, match="channel"):
        store.load("SFP-0042", 2)
    assert store.save(record()).corrupt_backup is not None
