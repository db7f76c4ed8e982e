"""``station calibration list|show|verify|export``: listings, corrupt files, check loads on a
single channel and on a force plate (simulated SFP board, records made from the simulator's truth)."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from calibration import ENV_VAR, CalibrationRecord, CalibrationStore, VerificationResult, load_snapshot
from simulation.sfp import default_cells
from station.cli import main
from station.commands.calibration import verify_device
from station.errors import UserError

URI = "sim:sfp?channels=4&rate=1000"
SERIAL = "SIM-SFP-0001"
#: simulated time 4x faster than real time (readings, the simulator and the driver's stamps)
SPEED = 4.0
FAST = ["--window-s", "0.3", "--sim-speed", "4"]
NOW = datetime.now(timezone.utc)


@pytest.fixture(autouse=True)
def _no_real_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env-calibration"))


def truth_record(channel: int, *, gain_error: float = 0.0, calibrated_at: datetime | None = None,
                 serial: str = SERIAL) -> CalibrationRecord:
    """The exact linear calibration of the simulator's cell (optionally with a gain error)."""
    cell = default_cells(4, 0)[channel]
    when = calibrated_at or NOW - timedelta(days=10)
    return CalibrationRecord(
        device_serial=serial, channel=channel, model="linear", offset_counts=cell.offset_counts,
        coefficients_n_per_count_k=((1.0 + gain_error) / cell.gain_counts_per_n,), calibrated_at=when,
        expires_at=when + timedelta(days=365), operator="Kim", load_unit="kg",
    )


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("station: error: "), err
    return lines[0]


def verify_argv(cal_dir: Path, *extra: str) -> list[str]:
    return ["calibration", "verify", "--device", URI, "--load", "20", "--unit", "kg", "--yes",
            "--calibration-dir", str(cal_dir), *FAST, *extra]


# ------------------------------------------------------------------------------ list / show
def test_list_empty_and_env_var(tmp_path: Path, capsys):
    assert main(["calibration", "list"]) == 0
    out = capsys.readouterr().out
    assert str(tmp_path / "env-calibration") in out and "No calibrations yet" in out
    CalibrationStore(tmp_path / "env-calibration").save(truth_record(1))
    assert main(["calibration", "list"]) == 0
    assert any(line.startswith(f"{SERIAL}  1 ") for line in capsys.readouterr().out.splitlines())


def test_list_states(tmp_path: Path, capsys):
    store = CalibrationStore(tmp_path)
    store.save(truth_record(0))
    store.save(truth_record(1, calibrated_at=NOW - timedelta(days=400)))
    failed = truth_record(2).with_verification(VerificationResult(
        at=NOW - timedelta(days=1), kind="check_load", reference_n=196.0, measured_n=199.0, tolerance_n=1.0,
        passed=False))
    store.save(failed)
    assert main(["calibration", "list", "--calibration-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["SERIAL", "CH", "MODEL"]
    rows = {line.split()[1]: line for line in lines[2:]}
    assert rows["0"].endswith("ok") and "Kim" in rows["0"]
    assert rows["1"].endswith("expired")
    assert rows["2"].endswith("failed verification") and "FAIL" in rows["2"]
    assert main(["calibration", "list", "--json", "--calibration-dir", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(r["channel"], r["status"]) for r in data["records"]] == [
        (0, "ok"), (1, "expired"), (2, "failed verification")]
    assert data["records"][1]["days_left"] < 0
    assert data["records"][0]["days_left"] in (354, 355)


def test_corrupt_file_listed_as_unreadable_and_show_fails_cleanly(tmp_path: Path, capsys):
    store = CalibrationStore(tmp_path)
    store.save(truth_record(0))
    bad = tmp_path / f"{SERIAL}_ch3.json"
    bad.write_text('{"format_version": 1, "kind": "force-station-calibration", "channel": ', encoding="utf-8")
    before = bad.read_bytes()
    assert main(["calibration", "list", "--calibration-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if "unreadable" in line)
    assert row.startswith(f"{SERIAL}  3") and "not valid JSON" in row and str(bad) in row
    assert any(line.startswith(f"{SERIAL}  0") and line.endswith("ok") for line in out.splitlines())

    assert main(["calibration", "list", "--json", "--calibration-dir", str(tmp_path)]) == 0
    rows = json.loads(capsys.readouterr().out)["records"]
    assert rows[1]["status"] == "unreadable" and "not valid JSON" in rows[1]["error"]

    err = one_line_error(capsys, ["calibration", "show", SERIAL, "3", "--calibration-dir", str(tmp_path)])
    assert str(bad) in err and "not valid JSON" in err
    err = one_line_error(capsys, ["calibration", "export", "--calibration-dir", str(tmp_path)])
    assert "--skip-unreadable" in err
    assert bad.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{SERIAL}_ch0.json", f"{SERIAL}_ch3.json"]

    assert main(["calibration", "export", "--skip-unreadable", "--calibration-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err
    assert [r.channel for r in load_snapshot(captured.out)] == [0]


def test_show_details_and_history(tmp_path: Path, capsys):
    store = CalibrationStore(tmp_path)
    record = truth_record(2)
    store.save(record)
    store.save(record.with_verification(VerificationResult(
        at=NOW, kind="check_load", reference_n=196.133, measured_n=196.2, tolerance_n=1.0, passed=True,
        operator="Kim")))
    assert main(["calibration", "show", SERIAL, "2", "--calibration-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{SERIAL} ch2: linear (multipoint)")
    assert "status           ok" in out
    assert "Verifications (1):" in out and "PASS  by Kim" in out
    assert "History (1 earlier records):" in out
    assert main(["calibration", "show", SERIAL, "2", "--json", "--calibration-dir", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["record"]["record_id"] == record.record_id and len(data["history"]) == 1

    err = one_line_error(capsys, ["calibration", "show", SERIAL, "1", "--calibration-dir", str(tmp_path)])
    assert "no calibration of device SIM-SFP-0001 channel 1" in err
    err = one_line_error(capsys, ["calibration", "show", SERIAL, "x", "--calibration-dir", str(tmp_path)])
    assert "CHANNEL 'x'" in err


def test_export(tmp_path: Path, capsys):
    store = CalibrationStore(tmp_path)
    records = [truth_record(0), truth_record(1)]
    for r in records:
        store.save(r)
    assert main(["calibration", "export", "--calibration-dir", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "force-station-calibration-snapshot"
    assert [r.record_id for r in load_snapshot(data)] == [r.record_id for r in records]
    out_file = tmp_path / "out" / "all.json"
    out_file.parent.mkdir()
    assert main(["calibration", "export", "--out", str(out_file), "--calibration-dir", str(tmp_path)]) == 0
    assert "Exported 2 calibration record(s)" in capsys.readouterr().out
    assert load_snapshot(out_file.read_text(encoding="utf-8"))[1] == records[1]


def test_no_action_prints_help(capsys):
    assert main(["calibration"]) == 2
    assert "list" in capsys.readouterr().out


# ------------------------------------------------------------------------------ verify
def test_verify_single_channel_pass_then_fail(tmp_path: Path, capsys):
    CalibrationStore(tmp_path).save(truth_record(1))
    assert main(verify_argv(tmp_path, "--channel", "1")) == 0
    out = capsys.readouterr().out
    assert "Remove all load" in out and "Place 20 kg on the load cell" in out and "PASS" in out
    assert main(verify_argv(tmp_path, "--channel", "1", "--sim-actual-load", "21")) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "verification FAILED" in err[0] and "196.13 N" in err[0]
    record = CalibrationStore(tmp_path).load(SERIAL, 1)
    assert [v.passed for v in record.verifications] == [True, False]
    assert record.verifications[1].measured_n == pytest.approx(21 * 9.80665, abs=0.5)
    assert main(["calibration", "list", "--calibration-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("failed verification")


def test_verify_tolerance_boundary(tmp_path: Path):
    """0.5 % of 20 kg is 0.98 N < 1 N: 1 N is the tolerance; a 0.5 N error passes, a 1.5 N one fails."""
    CalibrationStore(tmp_path).save(truth_record(0))
    ok = verify_device(URI, [0], 196.133 + 0.5, "N", yes=True, calibration_dir=tmp_path, window_s=0.3, sim_speed=SPEED,
                       sim_actual_load=196.133 + 1.0, out=io.StringIO())
    assert ok.passed and ok.report.results[0].tolerance_n == pytest.approx(1.0)
    bad = verify_device(URI, [0], 196.133, "N", yes=True, calibration_dir=tmp_path, window_s=0.3, sim_speed=SPEED,
                        sim_actual_load=196.133 + 1.5, out=io.StringIO())
    assert not bad.passed


def test_verify_without_calibration_or_real_device(tmp_path: Path, capsys):
    err = one_line_error(capsys, verify_argv(tmp_path, "--channel", "2"))
    assert "channel 2 of device SIM-SFP-0001 has no calibration to verify" in err and "station calibrate" in err
    err = one_line_error(capsys, ["calibration", "verify", "--device", "sfp:/dev/ttyUSB99", "--channel", "0",
                                  "--load", "20", "--yes", "--calibration-dir", str(tmp_path)])
    assert "--yes" in err and "sim:" in err
    err = one_line_error(capsys, verify_argv(tmp_path))
    assert "--channel N" in err
    err = one_line_error(capsys, verify_argv(tmp_path, "--plate", "--channels", "0,1,2"))
    assert "4 cells" in err
    err = one_line_error(capsys, verify_argv(tmp_path, "--channel", "9"))
    assert "channel 9: out of range" in err
    assert list(tmp_path.iterdir()) == []


def test_verify_plate_centre_and_corners(tmp_path: Path, capsys):
    store = CalibrationStore(tmp_path)
    for c in range(4):
        store.save(truth_record(c))
    argv = ["calibration", "verify", "--device", URI, "--plate", "--channels", "0,1,2,3", "--load", "50",
            "--yes", "--calibration-dir", str(tmp_path), *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for position in ("centre", "front-left corner", "front-right corner", "back-right corner", "back-left corner"):
        assert f"Place 50 kg at the {position} of the plate" in out
    # each position once, as it is read (issue 16: not repeated after the last), then a one-line summary
    assert sum(line.endswith(" PASS") for line in out.splitlines()) == 5
    assert "5 of 5 positions within tolerance" in out
    assert "Verification PASSED" in out
    for c in range(4):
        record = store.load(SERIAL, c)
        assert [v.position for v in record.verifications] == [
            "centre", "front-left corner", "front-right corner", "back-right corner", "back-left corner"]


def test_verify_plate_finds_a_cell_with_a_wrong_gain(tmp_path: Path, capsys):
    """Cell 1 (front-right) reads 3 % high: about 0.75 % at the centre, about 2.5 % at its own corner."""
    store = CalibrationStore(tmp_path)
    for c in range(4):
        store.save(truth_record(c, gain_error=0.03 if c == 1 else 0.0))
    outcome = verify_device(URI, [0, 1, 2, 3], 50, "kg", plate=True, yes=True, calibration_dir=tmp_path,
                            window_s=0.3, sim_speed=SPEED, out=io.StringIO())
    assert not outcome.passed
    verdicts = {r.position: r.passed for r in outcome.report.results}
    assert verdicts["front-right corner"] is False
    assert verdicts["back-left corner"] is True
    assert main(["calibration", "list", "--json", "--calibration-dir", str(tmp_path)]) == 0
    assert {r["status"] for r in json.loads(capsys.readouterr().out)["records"]} == {"failed verification"}


def test_verify_device_reporting_newtons_gets_a_factory_record(tmp_path: Path, capsys):
    argv = ["calibration", "verify", "--device", "sim:mark10", "--channel", "0", "--load", "10", "--unit", "kg",
            "--yes", "--calibration-dir", str(tmp_path), *FAST]
    assert main(argv) == 0
    assert "factory calibration" in capsys.readouterr().out
    record = CalibrationStore(tmp_path).load("SIM-M10-0001", 0)
    assert record.model == "identity" and record.source == "factory"
    assert record.verifications[0].passed


def test_verify_refuses_a_bad_load(tmp_path: Path):
    with pytest.raises(UserError, match="must be > 0"):
        verify_device(URI, [0], 0, "kg", yes=True, calibration_dir=tmp_path)
    with pytest.raises(UserError, match="unknown unit"):
        verify_device(URI, [0], 5, "lbs", yes=True, calibration_dir=tmp_path)
