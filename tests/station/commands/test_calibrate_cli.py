"""``station calibrate``: a multi-point calibration on the SFP simulator recovers the
simulated load cell's truth, and the one-line errors of bad arguments."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

import simulation.sfp
from calibration import CalibrationRecord, CalibrationStore, load_snapshot
from simulation.loadcell import LoadCellModel
from station.calibration_link import CalibrationAborted, CalibrationDevice, calibration_for
from station.cli import main
from station.commands.calibrate import calibrate_channel
from station.errors import UserError

URI = "sim:sfp?channels=4&rate=1000"
SERIAL = "SIM-SFP-0001"
#: simulated time 4x faster than real time (calibration readings, the simulator and the driver's stamps)
SPEED = 4.0
FAST = ["--window-s", "0.3", "--sim-speed", "4"]
LOADS_KG = [0, 5, 10, 20, 40]
G = 9.80665


def realistic_cells(channels: int, seed: int = 0) -> list[LoadCellModel]:
    """Cells with offset, gain, slight non-linearity, hysteresis and drift (known truth)."""
    return [
        LoadCellModel(gain_counts_per_n=1000.0 * (1 + 0.013 * i), offset_counts=6000.0 - 4100.0 * i,
                      quadratic_per_n=4e-6, hysteresis_n=0.2, drift_counts_per_s=3.0, noise_counts=3.0,
                      seed=seed * 10 + i)
        for i in range(channels)
    ]


@pytest.fixture()
def realistic_sim(monkeypatch: pytest.MonkeyPatch) -> list[LoadCellModel]:
    """Every ``sim:sfp`` opened in the test gets the realistic cells; returns their truth models."""
    monkeypatch.setattr(simulation.sfp, "default_cells", realistic_cells)
    return realistic_cells(4)


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("station: error: "), err
    return lines[0]


# ------------------------------------------------------------------------------ the procedure
def test_calibrate_yes_recovers_truth_then_list_and_verify(tmp_path: Path, realistic_sim, capsys):
    cal_dir = tmp_path / "cal"
    channel = 2
    truth = realistic_sim[channel]
    argv = ["calibrate", "--device", URI, "--channel", str(channel), "--loads", "0,5,10,20,40", "--unit", "kg",
            "--operator", "A. Physio", "--yes", "--calibration-dir", str(cal_dir), *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    path = cal_dir / f"{SERIAL}_ch{channel}.json"
    assert f"Saved: {path}" in out
    for word in ("model", "gain (c1)", "zero", "fit residuals", "non-linearity", "hysteresis",
                 "repeatability", "why this model"):
        assert word in out
    assert "place a total of 10 kg on the load cell" in out.lower()

    record = CalibrationStore(cal_dir).load(SERIAL, channel)
    assert record is not None and record.operator == "A. Physio" and record.load_unit == "kg"
    assert len(record.points) == 9  # 5 loads up, 4 down
    # gain and zero against the simulated cell's truth
    true_gain_n_per_count = 1.0 / truth.gain_counts_per_n
    assert record.gain_n_per_count == pytest.approx(true_gain_n_per_count, rel=5e-3)
    assert abs(record.offset_counts - truth.offset_counts) < 0.15 * truth.gain_counts_per_n  # < 0.15 N
    # the whole curve: forces from the true transfer function read back within 0.1 % FS
    f = np.linspace(0, 40 * G, 17)
    counts = truth.offset_counts + truth.gain_counts_per_n * (f + truth.quadratic_per_n * f * f)
    assert np.max(np.abs(record.force_n(counts) - f)) < 0.001 * 40 * G
    # the sensor figures see the simulated hysteresis (2 x 0.2 N over 392 N = 0.10 % FS) and the curvature
    assert record.figures is not None
    assert record.figures.hysteresis_pct_fs == pytest.approx(0.4 / (40 * G) * 100, rel=0.3)
    assert 0.01 < record.figures.nonlinearity_pct_fs < 0.2

    assert main(["calibration", "list", "--calibration-dir", str(cal_dir)]) == 0
    listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if line.startswith(SERIAL))
    assert row.split()[:3] == [SERIAL, str(channel), record.model]
    assert row.rstrip().endswith("ok")

    verify = ["calibration", "verify", "--device", URI, "--channel", str(channel), "--load", "20", "--unit", "kg",
              "--yes", "--calibration-dir", str(cal_dir), *FAST]
    assert main(verify) == 0
    assert "PASS" in capsys.readouterr().out
    assert main([*verify, "--sim-actual-load", "21"]) == 1  # the check says 20 kg, 21 kg is on the cell
    captured = capsys.readouterr()
    assert "FAIL" in captured.out
    assert captured.err.startswith("station: verification FAILED for channel 2 of SIM-SFP-0001")
    record = CalibrationStore(cal_dir).load(SERIAL, channel)
    assert [v.passed for v in record.verifications] == [True, False]
    assert len(CalibrationStore(cal_dir).history(SERIAL, channel)) == 2  # each save kept the previous file

    assert main(["calibration", "list", "--json", "--calibration-dir", str(cal_dir)]) == 0
    rows = json.loads(capsys.readouterr().out)["records"]
    assert [r["status"] for r in rows] == ["failed verification"]


def test_calibrated_channel_reads_newtons_in_a_session(tmp_path: Path, realistic_sim):
    """What a session does with the record: calibration_for on the opened device gives forces in N."""
    cal_dir = tmp_path / "cal"
    outcome = calibrate_channel(URI, 1, LOADS_KG, "kg", yes=True, calibration_dir=cal_dir, window_s=0.3, sim_speed=SPEED,
                                out=io.StringIO(), operator="t")
    assert outcome.truth == realistic_sim[1].truth()
    with CalibrationDevice(URI) as device:
        assert device.load is not None and device.info is not None
        cal = calibration_for(device.info, uri=URI, channels=[1], calibration_dir=cal_dir)
        device.load.set(1, 150.0)
        raw = device.collect(0.3)[-200:]
    force = cal.calibrate(raw)
    assert force.shape == raw.shape
    assert np.mean(force[:, 1]) == pytest.approx(150.0, abs=0.3)
    assert np.isnan(force[:, 0]).all()  # channel 0 has no calibration and is not used: NaN, never invented
    records = load_snapshot(cal.snapshot)
    assert [r.record_id for r in records] == [outcome.record.record_id]
    json.dumps(cal.snapshot, allow_nan=False)


def test_interactive_prompts_wait_for_enter(tmp_path: Path, realistic_sim):
    out = io.StringIO()
    outcome = calibrate_channel(URI, 0, [0, 10, 20, 30, 40], "kg", yes=False, calibration_dir=tmp_path,
                                window_s=0.3, sim_speed=SPEED, readings_s=0.4, out=out, inp=io.StringIO("\n" * 20), operator="t")
    text = out.getvalue()
    assert text.count("Press Enter to take the reading") == 9
    assert "Place a total of 30 kg on the load cell" in text
    assert outcome.saved.path.exists()


def test_interactive_redo_previous_step(tmp_path: Path, realistic_sim):
    out = io.StringIO()
    answers = "\n\n\n\nr\n" + "\n" * 12  # after 4 readings: redo step 4, then the rest
    outcome = calibrate_channel(URI, 0, LOADS_KG, "kg", calibration_dir=tmp_path, window_s=0.3, sim_speed=SPEED,
                                readings_s=0.4, out=out, inp=io.StringIO(answers), operator="t")
    assert "redoing step 4: the previous reading is discarded" in out.getvalue()
    assert len(outcome.record.points) == 9


def test_interactive_quit_saves_nothing(tmp_path: Path, realistic_sim, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("\n\nq\n"))
    argv = ["calibrate", "--device", URI, "--channel", "0", "--loads", "0,5,10,20,40",
            "--calibration-dir", str(tmp_path), "--readings-s", "0.4", *FAST]
    assert main(argv) == 1
    assert "aborted; nothing saved" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UserError, match="standard input closed"):
        calibrate_channel(URI, 0, LOADS_KG, "kg", calibration_dir=tmp_path, window_s=0.3, sim_speed=SPEED, readings_s=0.4,
                          out=io.StringIO(), inp=io.StringIO(""))
    with pytest.raises(CalibrationAborted):
        calibrate_channel(URI, 0, LOADS_KG, "kg", calibration_dir=tmp_path, window_s=0.3, sim_speed=SPEED, readings_s=0.4,
                          out=io.StringIO(), inp=io.StringIO("q\n"))


def test_unsettled_readings_fail_after_a_few_attempts(tmp_path: Path, monkeypatch, capsys):
    def drifting(channels: int, seed: int = 0) -> list[LoadCellModel]:
        return [LoadCellModel(drift_counts_per_s=50_000.0, seed=i) for i in range(channels)]

    monkeypatch.setattr(simulation.sfp, "default_cells", drifting)
    argv = ["calibrate", "--device", URI, "--channel", "0", "--loads", "0,5,10,20,40", "--yes",
            "--calibration-dir", str(tmp_path), *FAST]
    err = one_line_error(capsys, argv)
    assert "did not settle after 3 attempts" in err and "drift" in err and "nothing saved" in err
    assert not (tmp_path / f"{SERIAL}_ch0.json").exists()


def test_channel_that_does_not_respond(tmp_path: Path, monkeypatch, capsys):
    def dead(channels: int, seed: int = 0) -> list[LoadCellModel]:
        return [LoadCellModel(gain_counts_per_n=1e-9, seed=i) for i in range(channels)]

    monkeypatch.setattr(simulation.sfp, "default_cells", dead)
    err = one_line_error(capsys, ["calibrate", "--device", URI, "--channel", "3", "--loads", "0,5,10,20,40",
                                  "--yes", "--calibration-dir", str(tmp_path), *FAST])
    assert "changed by only" in err and "channel 3" in err


def test_previous_calibration_gives_the_settle_limits(tmp_path: Path, realistic_sim):
    cell = realistic_sim[3]
    when = datetime.now(timezone.utc) - timedelta(days=400)  # expired: still a good nominal gain
    previous = CalibrationRecord(device_serial=SERIAL, channel=3, model="linear", offset_counts=cell.offset_counts,
                                 coefficients_n_per_count_k=(1 / cell.gain_counts_per_n,), calibrated_at=when,
                                 expires_at=when + timedelta(days=365), operator="Kim")
    CalibrationStore(tmp_path).save(previous)
    out = io.StringIO()
    outcome = calibrate_channel(URI, 3, LOADS_KG, "kg", yes=True, calibration_dir=tmp_path, window_s=0.3, sim_speed=SPEED, out=out)
    assert "nominal gain" in out.getvalue() and "previous calibration" in out.getvalue()
    assert outcome.saved.history_path is not None and outcome.saved.history_path.exists()
    assert outcome.record.record_id != previous.record_id


# ------------------------------------------------------------------------------ CLI errors
@pytest.mark.parametrize(("loads", "expected"), [
    ("0,5,x", "'x' is not a number"),
    ("0,5,10", "at least 5 different loads"),
    ("5,10,20", "got 4"),  # zero is added: still only 4
    ("0,5,5,10,20", "got 4"),  # duplicates count once
    ("0,5,,10,20", "empty item"),
    ("0,5,-10,20,40", "must be a finite load >= 0"),
])
def test_bad_loads(tmp_path: Path, capsys, loads: str, expected: str):
    err = one_line_error(capsys, ["calibrate", "--device", URI, "--channel", "0", "--loads", loads,
                                  "--calibration-dir", str(tmp_path)])
    assert expected in err
    assert list(tmp_path.iterdir()) == []


def test_unknown_unit(tmp_path: Path, capsys):
    err = one_line_error(capsys, ["calibrate", "--device", URI, "--channel", "0", "--loads", "0,5,10,20,40",
                                  "--unit", "lb", "--calibration-dir", str(tmp_path)])
    assert "--unit 'lb'" in err and "kg or N" in err


def test_channel_out_of_range(tmp_path: Path, capsys):
    err = one_line_error(capsys, ["calibrate", "--device", URI, "--channel", "4", "--loads", "0,5,10,20,40",
                                  "--yes", "--calibration-dir", str(tmp_path)])
    assert "--channel 4: out of range" in err and "0..3" in err
    err = one_line_error(capsys, ["calibrate", "--device", URI, "--channel", "two", "--loads", "0,5,10,20,40",
                                  "--calibration-dir", str(tmp_path)])
    assert "--channel 'two'" in err
    assert list(tmp_path.iterdir()) == []


def test_yes_needs_a_simulator(tmp_path: Path, capsys):
    err = one_line_error(capsys, ["calibrate", "--device", "sfp:/dev/ttyUSB99", "--channel", "0",
                                  "--loads", "0,5,10,20,40", "--yes", "--calibration-dir", str(tmp_path)])
    assert "--yes" in err and "sim:" in err


@pytest.mark.parametrize(("device", "speed", "expected"), [
    ("sfp:/dev/ttyUSB99", "4", "only a simulated device (sim:) runs faster than real time, not sfp:/dev/ttyUSB99"),
    (URI, "0.5", "--sim-speed 0.5: expected a number >= 1 and <= 20"),
    (URI, "fast", "--sim-speed 'fast'"),
])
def test_sim_speed_needs_a_simulator_and_a_factor(tmp_path: Path, capsys, device: str, speed: str, expected: str):
    for command in (["calibrate", "--channel", "0", "--loads", "0,5,10,20,40"],
                    ["calibration", "verify", "--channel", "0", "--load", "20"]):
        err = one_line_error(capsys, [*command, "--device", device, "--sim-speed", speed, "--calibration-dir",
                                      str(tmp_path)])
        assert expected in err
    assert list(tmp_path.iterdir()) == []


def test_bad_device_uri_and_cycles(tmp_path: Path, capsys):
    err = one_line_error(capsys, ["calibrate", "--device", "/dev/ttyUSB0", "--channel", "0",
                                  "--loads", "0,5,10,20,40", "--calibration-dir", str(tmp_path)])
    assert "unknown device URI" in err
    err = one_line_error(capsys, ["calibrate", "--device", URI, "--channel", "0", "--loads", "0,5,10,20,40",
                                  "--cycles", "0", "--calibration-dir", str(tmp_path)])
    assert "--cycles 0" in err


def test_unplug_during_calibration_reconnects_and_finishes(tmp_path: Path, realistic_sim):
    """Calibration runs on the session's reader: a cable pulled mid-procedure is waited for (the
    calibration in real time; the others run on simulated time)."""
    import threading

    sims = []
    out = io.StringIO()
    unplugged = threading.Event()

    def unplug_soon(sim) -> None:
        sims.append(sim)

        def pull() -> None:
            sim.unplug()
            unplugged.set()
            threading.Timer(0.6, sim.replug).start()
        threading.Timer(1.0, pull).start()  # during the first readings

    outcome = calibrate_channel(URI, 1, LOADS_KG, "kg", yes=True, calibration_dir=tmp_path, window_s=0.3,
                                out=out, operator="t", on_simulator=unplug_soon)
    text = out.getvalue()
    assert unplugged.is_set()
    assert "disconnected; waiting for it to come back" in text and "back; reading again" in text
    truth = realistic_sim[1].truth()
    assert outcome.record.gain_n_per_count == pytest.approx(1.0 / truth["gain_counts_per_n"], rel=5e-3)
    assert outcome.saved.path.exists()
