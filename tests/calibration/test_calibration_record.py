"""Record validation, JSON round trip, session snapshot, identity records, package boundaries."""
from __future__ import annotations

import ast
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import calibration
from calibration import (
    CalibrationError,
    CalibrationPoint,
    CalibrationRecord,
    CalibrationSet,
    factory_record,
    fit_calibration,
    judge,
    load_snapshot,
    snapshot,
    snapshot_dict,
)

WHEN = datetime(2025, 4, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))


def full_record():
    loads = [0.0, 100.0, 200.0, 300.0, 400.0]
    points = [
        CalibrationPoint(f, "loading", 1, 50.0 + 10.0 * f + 0.01 * f * f, sd_counts=1.5, n_samples=100) for f in loads
    ]
    points += [CalibrationPoint(f, "unloading", 1, 52.0 + 10.0 * f + 0.01 * f * f) for f in reversed(loads[:-1])]
    r = fit_calibration(points, device_serial="SFP-0042", channel=3, operator="Dr. Ü", calibrated_at=WHEN,
                        temperature_c=23.4, load_unit="kg", notes="after transport")
    return r.with_verification(judge(200.0, 200.3, at=WHEN + timedelta(days=1), operator="x"))


def test_dict_and_json_round_trip_is_exact():
    r = full_record()
    assert CalibrationRecord.from_dict(r.to_dict()) == r
    assert CalibrationRecord.from_json(r.to_json()) == r
    assert CalibrationRecord.from_dict(json.loads(json.dumps(r.to_dict()))).coefficients_n_per_count_k == \
        r.coefficients_n_per_count_k


def test_record_dict_has_units_in_names_and_utc_times():
    d = full_record().to_dict()
    assert d["format_version"] == 1 and d["kind"] == "force-station-calibration"
    assert d["calibrated_at"] == "2025-04-01T10:00:00+00:00"
    assert d["temperature_c"] == 23.4
    assert set(d["figures"]) >= {"nonlinearity_pct_fs", "hysteresis_pct_fs", "repeatability_pct_fs", "residual_max_n"}
    assert d["verifications"][0]["error_n"] == pytest.approx(0.3)


def test_snapshot_round_trip_skips_none():
    a = full_record()
    b = factory_record("MK10-9", 0, operator="x", calibrated_at=WHEN)
    text = snapshot([a, None, b])
    assert json.loads(text)["kind"] == "force-station-calibration-snapshot"
    assert load_snapshot(text) == [a, b]
    assert load_snapshot(snapshot_dict([a, b])) == [a, b]
    assert json.loads(text) == snapshot_dict([a, b])
    with pytest.raises(CalibrationError, match="session.h5 records\\[1\\]: field 'channel'"):
        broken = json.loads(text)
        broken["records"][1]["channel"] = -1
        load_snapshot(json.dumps(broken), source="session.h5")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"model": "linear"}, "coefficients_n_per_count_k"),  # full_record is quadratic
        ({"coefficients_n_per_count_k": (0.0, 1e-9)}, "gain"),
        ({"calibrated_at": datetime(2025, 1, 1)}, "calibrated_at"),
        ({"expires_at": WHEN - timedelta(days=1)}, "expires_at"),
        ({"device_serial": " "}, "device_serial"),
        ({"channel": -1}, "channel"),
        ({"offset_counts": float("nan")}, "offset_counts"),
        ({"load_unit": "lbf"}, "load unit"),
        ({"gravity_m_s2": 1.62}, "gravity_m_s2"),
        ({"source": "guess"}, "source"),
    ],
)
def test_invalid_records_are_refused(changes, field):
    with pytest.raises(CalibrationError, match=field):
        replace(full_record(), **changes)


def test_identity_record_must_be_identity():
    r = factory_record("MK10-9", 1, operator="x", calibrated_at=WHEN, expiry_months=24)
    assert r.expires_at == WHEN.replace(year=2027)
    assert np.array_equal(r.force_n([0.0, 12.5, -3.0]), [0.0, 12.5, -3.0])
    assert CalibrationSet([r]).apply(np.array([[7.25]]))[0, 0] == 7.25
    with pytest.raises(CalibrationError, match="identity"):
        replace(r, offset_counts=1.0)


def test_record_force_n_and_describe():
    r = full_record()
    assert r.model == "quadratic"
    x = np.array([r.offset_counts, r.offset_counts + 1000.0])
    c = r.coefficients_n_per_count_k
    assert np.allclose(r.force_n(x), [0.0, c[0] * 1000.0 + c[1] * 1000.0**2])
    assert r.force_n(r.offset_counts + 5.0, offset_counts=r.offset_counts + 5.0) == 0.0
    line = r.describe()
    assert "SFP-0042 ch3" in line and "quadratic" in line and "\n" not in line


def test_package_imports_neither_station_nor_drivers_nor_scipy():
    package_dir = Path(calibration.__file__).parent
    for path in package_dir.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"station", "drivers", "scipy"}, f"{path.name} imports {name}"


def test_public_api_is_exported():
    for name in calibration.__all__:
        assert hasattr(calibration, name), name
