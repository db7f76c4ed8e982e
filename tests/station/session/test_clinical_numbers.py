"""Issue 16, "numbers a clinician can trust", through the real session path on simulators:
a zero under load, reps without a rise, per-protocol lever arms, forces beyond the calibrated
range, aborted tests, and what the terminal and `station inspect` show of them."""
from __future__ import annotations

import dataclasses
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import h5py
import numpy as np
import pytest

import station.session.run as run_mod
from calibration import CalibrationStore
from calibration.fitting import fit_calibration
from calibration.record import CalibrationPoint
from simulation.forces import Contraction
from station.clock import ScaledClock
from simulation.sfp import default_cells
from protocols import get_protocol
from station.cli import main
from station.session.model import Patient
from station.session.run import run_session
from station.session.runner import RunnerOptions, SessionAborted, replace_timing
from station.session.setup import parse_device_arg
from station.session.terminal import TerminalUI

LOADS_N = [0.0, 100.0, 200.0, 400.0, 800.0]


#: simulated time runs this many times faster than real time (simulators, drivers, engine)
SPEED = 4.0


def short(protocol_id: str, reps: int = 1, max_reps: int | None = None, duration_s: float = 1.5, rest_s: float = 0.1):
    p = get_protocol(protocol_id)
    between = None if p.timing.rest_between_sides_s is None else rest_s  # not a minute at the side switch
    p = replace_timing(p, countdown_s=0.6, rest_s=rest_s, duration_s=duration_s,
                       rest_between_sides_s=between)  # type: ignore[arg-type]
    p = dataclasses.replace(p, reps=reps)
    if max_reps is not None:
        p = dataclasses.replace(p, acceptance=dataclasses.replace(p.acceptance, max_reps=max_reps))
    return p


def session(tmp_path: Path, protocols, *, ui=None, patient: Patient | None = None, devices=("sim:mark10?rate=500",),
            options: RunnerOptions | None = None, speed: float = SPEED, **kwargs):
    out = io.StringIO()
    ui = ui or TerminalUI(interactive=False, out=out)
    kwargs["simulation"] = {**kwargs.get("simulation", {}), "speed": speed}
    result = run_session(
        protocols=protocols, device_args=[parse_device_arg(d) for d in devices],
        patient=patient or Patient("P-16", body_mass_kg=70.0, involved_side="right"),
        out_dir=tmp_path, ui=ui, options=options or RunnerOptions(tail_s=0.3), auto=True, **kwargs)
    return result, (ui.out.getvalue() if isinstance(ui.out, io.StringIO) else "")


def trials_of(path: Path, test: str) -> list[h5py.Group]:
    f = h5py.File(path, "r")
    return f, [g for _, g in sorted(f[f"tests/{test}/trials"].items())]


def attr_json(obj: h5py.HLObject, key: str):
    return json.loads(obj.attrs[key])


# -- a zero under load -------------------------------------------------------------------------
class PushingUI(TerminalUI):
    """Pushes 198 N on the gauge while the test starts (automatic zero) and while 't' is
    pressed; then presses 't' again with the gauge unloaded, then Enter for every trial."""

    def __init__(self, forces: dict) -> None:
        super().__init__(interactive=False, out=io.StringIO())
        self.forces = forces
        self.calls = 0
        self.push_ends = 0.0
        self.pushed_at_start = False

    def push(self, seconds: float) -> None:
        now = self.forces["clock"].now()  # the session's simulated time (the simulator's too)
        self.forces["source"].add(Contraction(start_s=now, duration_s=seconds, peak_n=198.0, tau_s=0.05))
        self.push_ends = now + seconds + 0.5

    def sleep(self, seconds: float) -> None:
        self.forces["clock"].sleep(max(0.0, seconds))

    def info(self, text: str) -> None:
        if not self.pushed_at_start:  # the test's set-up line: the patient is already pushing
            self.pushed_at_start = True
            self.push(1.5)
        super().info(text)

    def before_trial(self, *args, **kwargs) -> str:
        self.calls += 1
        if self.calls == 1:
            self.sleep(self.push_ends - self.forces["clock"].now())
            self.push(1.5)
            self.sleep(0.4)
            return "tare"  # during the push: refused
        if self.calls == 2:
            self.sleep(self.push_ends - self.forces["clock"].now())
            return "tare"  # unloaded: accepted
        return super().before_trial(*args, **kwargs)


@pytest.mark.slow
@pytest.mark.integration
def test_zero_under_load_is_refused_and_trials_keep_a_true_zero(tmp_path: Path, monkeypatch) -> None:
    forces: dict = {}
    original = run_mod.simulated_dynamometer

    def keep_source(*args, **kwargs):
        source, patient = original(*args, **kwargs)
        forces["source"] = source
        return source, patient

    class KeptClock(ScaledClock):  # the session's simulated time, for the UI's pushes and waits
        def __init__(self, speed: float) -> None:
            super().__init__(speed)
            forces["clock"] = self

    monkeypatch.setattr(run_mod, "simulated_dynamometer", keep_source)
    monkeypatch.setattr(run_mod, "ScaledClock", KeptClock)
    ui = PushingUI(forces)
    # a rest of 1 s: the previous push has ended before the next trial starts recording
    result, text = session(tmp_path, [short("hip-abduction-hhd", rest_s=1.0)], ui=ui,
                           patient=Patient("P-16", body_mass_kg=70.0, involved_side="right", lever_arm_m=0.8))
    refusals = [line for line in text.splitlines() if line.startswith("zero refused:")]
    assert len(refusals) == 2, text
    assert all(line.endswith("N on dynamometer; unload it and press t again") for line in refusals)
    assert int(refusals[1].split()[2]) > 150  # the 198 N push, named
    assert text.count("zeroed: dynamometer") == 1
    f, trials = trials_of(result.path, result.summaries[0].test)
    with f:
        test = f[f"tests/{result.summaries[0].test}"]
        start = attr_json(test, "tare_log")["dynamometer"]["decision"]
        assert start["accepted"] is False and start["load_n"][0] > 50
        refused, accepted = attr_json(test, "tare_on_demand")
        assert refused["log"]["dynamometer"]["decision"]["accepted"] is False
        assert accepted["log"]["dynamometer"]["decision"]["accepted"] is True
        policy = attr_json(test, "zero_policy")
        assert policy["max_load_fraction"] > 0 and start["limits"][0]["range_n"] == 500.0  # M5-100: 500 N
        assert len(trials) == 2
        for g in trials:
            (offset,) = attr_json(g, "zero_offset_n")["dynamometer"]
            assert abs(offset) < 5.0  # never the 198 N push
            force = g["dynamometer/force_n"][:, 0]
            assert abs(float(np.median(force[:150]))) < 5.0  # at rest before the cue the gauge reads ~0 N
            assert 150.0 < g.attrs["peak_force_n"] < 320.0
            assert datetime.fromisoformat(g.attrs["start_utc"]).tzinfo is not None
            assert g.attrs["start_host_s"] <= g["dynamometer/t_host_s"][0] + 0.5


# -- reps without a rise, and an aborted test: no verdict ------------------------------------
@pytest.mark.slow
def test_reps_without_a_rise_give_no_lsi_and_no_pass(tmp_path: Path, capsys) -> None:
    # the simulated patient does not push at all: every rep is "no rise"
    result, text = session(tmp_path, [short("hip-abduction-hhd", reps=2, max_reps=3, duration_s=1.0)],
                           simulation={"strength": 0.0})
    (summary,) = result.summaries
    assert "PASS" not in text and "BELOW PASS MARK" not in text
    assert "no LSI: left has 0 valid reps of 2, right has 0 valid reps of 2" in text
    assert "one more rep — left has 0 valid reps of 2" in text
    f, trials = trials_of(result.path, summary.test)
    with f:
        test = f[f"tests/{summary.test}"]
        assert "symmetry_passed" not in test.attrs and "symmetry_value_pct" not in test.attrs
        stored = attr_json(test, "summary")
        assert stored["symmetry"]["kind"] == "none" and stored["symmetry"]["value_pct"] is None
        assert stored["sides"]["left"]["valid_reps"] == 0 and stored["sides"]["left"]["best_n"] is None
        assert test.attrs["lsi_pass_pct"] == 90.0
        assert len(trials) == 6  # 2 planned + 1 extra (max_reps 3) per side
        for g in trials:
            assert g.attrs["status"] == "complete"
            assert attr_json(g, "results")["status"] == "no_rise"
            assert "no rise" in attr_json(g, "quality_flags")
    assert main(["inspect", str(result.path)]) == 0
    shown = capsys.readouterr().out
    assert "⚠ no rise" in shown and "whose analysis is not valid" in shown
    assert "no LSI: left has 0 valid reps" in shown and "PASS" not in shown
    assert main(["inspect", str(result.path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {t["analysis"]["status"] for t in info["tests"][0]["trials"]} == {"no_rise"}


@pytest.mark.slow
def test_an_aborted_test_is_incomplete_without_a_verdict(tmp_path: Path) -> None:
    out = io.StringIO()
    ui = TerminalUI(interactive=True, out=out, inp=io.StringIO("\n\nq\n"))  # L1, R1, then quit at L2
    with pytest.raises(SessionAborted):
        session(tmp_path, [short("hip-abduction-hhd", reps=2)], ui=ui)
    text = out.getvalue()
    assert "results (incomplete — stopped before its end)" in text
    assert "no verdict" in text and "PASS" not in text and "LSI (involved" not in text
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        (test,) = f["tests"].values()
        assert json.loads(test.attrs["summary"])["symmetry"]["kind"] == "none"
        assert "symmetry_passed" not in test.attrs


@pytest.mark.slow
def test_r_with_nothing_to_redo_says_so(tmp_path: Path) -> None:
    out = io.StringIO()
    ui = TerminalUI(interactive=True, out=out, inp=io.StringIO("r\nq\n"))
    with pytest.raises(SessionAborted):
        session(tmp_path, [short("hip-abduction-hhd")], ui=ui)
    assert "nothing to redo yet" in out.getvalue()
    (path,) = tmp_path.glob("*.h5")
    with h5py.File(path, "r") as f:
        (test,) = f["tests"].values()
        assert "trials" not in test or len(test["trials"]) == 0  # 'r' did not start trial 1


# -- lever arms per protocol -------------------------------------------------------------------
@pytest.mark.slow
def test_each_protocol_uses_its_own_lever_arm_and_a_missing_one_is_a_note(tmp_path: Path, capsys) -> None:
    result, text = session(tmp_path, [short("hip-abduction-hhd"), short("knee-extension-90"),
                                      short("knee-extension-60")],
                           options=RunnerOptions(tail_s=0.3, lever_arms_m={"hip-abduction-hhd": 0.80,
                                                                           "knee-extension-90": 0.35}))
    hip, knee, knee60 = result.summaries
    assert ("note: no lever arm for knee-extension-60 (lateral knee joint line to pad centre): torque not "
            "computed; give --lever-arm knee-extension-60=M") in text
    with h5py.File(result.path, "r") as f:
        for summary, lever in ((hip, 0.80), (knee, 0.35), (knee60, None)):
            test = f[f"tests/{summary.test}"]
            assert attr_json(test, "lever_arm")["lever_arm_m"] == lever
            for _, g in sorted(test["trials"].items()):
                r = attr_json(g, "results")
                assert r["lever_arm_m"] == lever
                if lever is None:
                    assert r["peak_torque_nm"] is None
                else:
                    assert r["peak_torque_nm"] == pytest.approx(r["peak_force_n"] * lever)
        knee_torques = [attr_json(g, "results")["peak_torque_nm"]
                        for _, g in f[f"tests/{knee.test}/trials"].items()]
        hip_torques = [attr_json(g, "results")["peak_torque_nm"] for _, g in f[f"tests/{hip.test}/trials"].items()]
    # plausible adult values: knee extension ~100-250 N·m, hip abduction ~100-250 N·m
    assert all(90 < t < 260 for t in knee_torques), knee_torques
    assert all(90 < t < 260 for t in hip_torques), hip_torques
    # the simulated patient pushes like an adult in each test: knee ~300-700 N, hip ~150-300 N
    assert 300 < knee.sides["left"].best_n < 700 and 150 < hip.sides["left"].best_n < 300
    assert "N·m/kg" in text and "N/kg" in text
    assert main(["inspect", str(result.path)]) == 0
    shown = capsys.readouterr().out
    assert "N·m/kg" in shown and "lever arm 0.35 m (option)" in shown and "note: no lever arm for knee-extension-60" in shown


@pytest.mark.parametrize("lever, message", [
    ("0.8", "--lever-arm 0.8: say which protocol it is for, e.g. --lever-arm hip-abduction-hhd=0.8"),
    ("knee-extension-90=0.8", "--lever-arm knee-extension-90=0.8: implausible for Knee extension at 90°, seated "
                              "(lateral knee joint line to pad centre): expected 0.2 to 0.55 m"),
    ("ankle=0.3", "--lever-arm ankle=0.3: no protocol 'ankle' in this session"),
])
def test_lever_arm_options_are_checked_per_protocol(tmp_path: Path, capsys, lever: str, message: str) -> None:
    out = tmp_path / "sessions"
    args = ["session", "run", "--protocol", "hip-abduction-hhd", "--protocol", "knee-extension-90",
            "--patient", "P", "--body-mass", "70", "--involved", "right", "--device", "sim:mark10",
            "--lever-arm", lever, "--out", str(out), "--auto"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_session_run_help_example_gives_a_lever_arm_per_protocol(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["session", "run", "--help"])
    text = capsys.readouterr().out
    assert "--lever-arm hip-abduction-hhd=0.84 --lever-arm knee-extension-60=0.36" in text
    assert "--lever-arm 0.84 " not in text


# -- one device for two sides ------------------------------------------------------------------
def test_one_plate_bound_to_both_sides_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "sessions"
    args = ["session", "run", "--protocol", "drop-landing-bilateral", "--patient", "P", "--body-mass", "70",
            "--involved", "right", "--device", "plate_left,plate_right=sim:sfp?channels=4", "--out", str(out),
            "--auto"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0] == (
        "station: error: --device sim:sfp?channels=4: roles plate_left and plate_right of protocol "
        "drop-landing-bilateral would both read channel 0 of this one device; give each its own device "
        "(or its own channels)")
    assert not out.exists()


# -- beyond the calibrated range ------------------------------------------------------------------
@pytest.mark.slow
def test_forces_beyond_the_calibrated_range_are_flagged(tmp_path: Path, capsys) -> None:
    # a strong patient (2.6 x typical, ~600 N) on a 500 N gauge (Mark-10 M5-100)
    result, text = session(tmp_path, [short("hip-abduction-hhd")], simulation={"strength": 2.6, "seed": 3})
    assert "beyond calibrated range: dynamometer channel 0 read" in text and "calibrated to 500 N" in text
    with h5py.File(result.path, "r") as f:
        for _, g in f[f"tests/{result.summaries[0].test}/trials"].items():
            assert bool(g.attrs["beyond_calibrated_range"]) is True
            (detail,) = attr_json(g, "beyond_calibrated_range_detail")
            assert detail["range_n"] == 500.0 and detail["max_abs_n"] > 500.0
    assert main(["inspect", str(result.path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert all(t["beyond_calibrated_range"] for t in info["tests"][0]["trials"])


# -- both sides at once: labelled, and the landing's one peak ---------------------------------------
def calibrate(directory: Path, serial: str, channels: int, *, when: datetime | None = None) -> None:
    store = CalibrationStore(directory)
    for ch, cell in enumerate(default_cells(channels)):
        counts = cell.offset_counts + cell.gain_counts_per_n * (np.array(LOADS_N) + cell.quadratic_per_n * np.square(LOADS_N))
        points = [CalibrationPoint(load_n=f, direction="loading", cycle=1, mean_counts=float(c))
                  for f, c in zip(LOADS_N, counts, strict=True)]
        store.save(fit_calibration(points, device_serial=serial, channel=ch, operator="test", calibrated_at=when))


@pytest.mark.slow
def test_bilateral_frame_shows_both_sides_and_inspect_shows_the_calibration_override(
        tmp_path: Path, monkeypatch, capsys) -> None:
    cal = tmp_path / "cal"
    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(cal))
    calibrate(cal, "FR-1", 2, when=datetime.now(timezone.utc) - timedelta(days=800))  # expired
    result, text = session(tmp_path, [short("hip-abduction-frame")], devices=("frame=sim:sfp?channels=2&serial=FR-1",),
                           allow_uncalibrated=True,
                           options=RunnerOptions(tail_s=0.3, lever_arms_m={"hip-abduction-frame": 0.8}))
    line = next(t for t in text.splitlines() if t.strip().startswith("LR1  complete"))
    assert "left peak" in line and "right peak" in line, text
    with h5py.File(result.path, "r") as f:
        (g,) = f[f"tests/{result.summaries[0].test}/trials"].values()
        left, right = g.attrs["peak_force_left_n"], g.attrs["peak_force_right_n"]
        assert 150 < left < 320 and 100 < right < left  # the involved right side is weaker
        assert "peak_force_n" not in g.attrs  # no unlabelled single peak for two sides
    assert main(["inspect", str(result.path)]) == 0
    shown = capsys.readouterr().out
    assert f"L {left:.1f} / R {right:.1f}" in shown
    assert "CALIBRATION OVERRIDE (--allow-uncalibrated): channel 0" in shown and "expired" in shown
    assert main(["inspect", str(result.path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    overrides = info["devices"]["frame"]["calibration_overrides"]
    assert [o["channel"] for o in overrides] == [0, 1]


@pytest.mark.slow
def test_a_two_plate_landing_has_one_peak_the_peak_of_the_summed_force(tmp_path: Path, monkeypatch, capsys) -> None:
    cal = tmp_path / "cal"
    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(cal))
    calibrate(cal, "PL-L", 4)
    calibrate(cal, "PL-R", 4)
    result, text = session(tmp_path, [short("drop-landing-bilateral", duration_s=2.5)],
                           devices=("plate_left=sim:sfp?channels=4&serial=PL-L",
                                    "plate_right=sim:sfp?channels=4&serial=PL-R"))
    assert "peak (sum of plates)" in text and "plate peaks left" in text
    trial_path = f"tests/{result.summaries[0].test}/trials/001"
    with h5py.File(result.path, "r") as f:
        g = f[trial_path]
        results = json.loads(g.attrs["results"])
        peak = g.attrs["peak_force_n"]
        assert peak == pytest.approx(results["peak_force_n"])  # the summed trace's peak
        lp, rp = g.attrs["peak_force_left_n"], g.attrs["peak_force_right_n"]
        assert lp == results["left"]["peak_force_n"] and rp == results["right"]["peak_force_n"]
        assert peak < lp + rp  # the plates peak at different instants
        for plate in ("plate_left", "plate_right"):  # each plate's vertical force beside its cells
            fz = g[f"{plate}/fz_n"]
            assert fz.attrs["unit"] == "N" and json.loads(fz.attrs["cells"]) == [[0, 1, 2, 3]]
            assert np.allclose(fz[:], g[f"{plate}/force_n"][:].sum(axis=1))
    assert main(["analyze", str(result.path), "--trial", trial_path, "--test", "landing", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["peak_force_n"] == pytest.approx(peak, rel=1e-6)
    assert out["left"]["peak_force_n"] == pytest.approx(lp, rel=1e-6)
    assert out["source"]["left"] == "left" and out["source"]["trial"] == trial_path


# -- small things ----------------------------------------------------------------------------------
def test_pain_question_for_a_trial_of_both_sides() -> None:
    out = io.StringIO()
    ui = TerminalUI(interactive=True, out=out, inp=io.StringIO("4\n"))
    assert ui.ask_pain("both") == 4
    assert "pain during this trial (both sides)" in out.getvalue() and "the both trial" not in out.getvalue()


def test_the_pain_summary_names_a_redone_reps_first_try_apart() -> None:
    from station.session.model import TestSummary, TrialOutcome

    trials = [TrialOutcome("01_knee", "L1", "left", 1, 1, "complete", pain_0_10=1),
              TrialOutcome("01_knee", "L2", "left", 2, 1, "rejected", pain_0_10=2),
              TrialOutcome("01_knee", "L2b", "left", 2, 2, "complete", pain_0_10=1),
              TrialOutcome("01_knee", "R1", "right", 1, 1, "complete", pain_0_10=4)]
    out = io.StringIO()
    TerminalUI(interactive=False, out=out).test_done(TestSummary("01_knee", "knee", "Knee", "isometric", trials=trials))
    (line,) = [ln for ln in out.getvalue().splitlines() if "pain (0–10)" in ln]
    assert line.strip() == "pain (0–10): L1 1, L2 1, R1 4; redone tries: L2 2"


def test_an_unknown_option_prints_the_subcommand_usage(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["session", "run", "--bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    # the subcommand that was typed is named, with its own help, not the top-level usage
    assert "station session run" in err.splitlines()[-1] and "unrecognized arguments: --bogus" in err
    assert "usage: station [-h]" not in err


def test_analyze_does_not_repeat_the_reason(tmp_path: Path, capsys) -> None:
    trace = tmp_path / "flat.csv"
    trace.write_text("time,force\n" + "".join(f"{i / 1000:.3f},{0.1 * (i % 3):.2f}\n" for i in range(2000)))
    assert main(["analyze", str(trace), "--test", "isometric"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("no rise found") == 1, err


@pytest.mark.slow
def test_the_calibration_refusal_hint_runs_as_printed(tmp_path: Path, monkeypatch, capsys) -> None:
    import re
    import shlex

    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(tmp_path / "cal"))
    args = ["session", "run", "--protocol", "single-leg-landing", "--patient", "P", "--body-mass", "70",
            "--involved", "right", "--device", "sim:sfp?channels=4&serial=PL-9", "--out", str(tmp_path / "s"),
            "--auto"]
    assert main(args) == 2
    err = capsys.readouterr().err
    (command,) = re.findall(r"`([^`]+)`", err)
    argv = shlex.split(command)
    assert argv[0] == "station" and argv[argv.index("--device") + 1] == "sim:sfp?channels=4&serial=PL-9"
    # as printed (--yes: the simulator places the loads itself; --sim-speed: on simulated time, faster)
    assert main(argv[1:] + ["--yes", "--sim-speed", "4"]) == 0
    capsys.readouterr()
    assert CalibrationStore(tmp_path / "cal").load("PL-9", 0) is not None


@pytest.mark.slow
def test_plate_verification_prints_each_position_once(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(tmp_path / "cal"))
    calibrate(tmp_path / "cal", "PV-1", 4)
    assert main(["calibration", "verify", "--device", "sim:sfp?channels=4&serial=PV-1", "--plate",
                 "--channels", "0,1,2,3", "--load", "20", "--unit", "kg", "--yes", "--sim-speed", "4"]) == 0
    out = capsys.readouterr().out
    for position in ("centre", "front-left corner", "back-left corner"):
        assert out.count(f"plate position at {position} ") == 1, out
    assert "5 of 5 positions within tolerance" in out
