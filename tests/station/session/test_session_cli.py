"""``station session run`` / ``station session recover`` from the command line.

Sessions use a copy of the hip-abduction protocol with short trials (a .toml path is a valid
``--protocol``), on the simulated Mark-10, with ``--fast`` (countdown 1 s, rest 1 s).
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from protocols import ENV_VAR, builtin_protocols
from station.cli import main
from station.commands.session import SessionTerminal, offer_recovery
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_user_protocols(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-user-protocols"))


def short_protocol(tmp_path: Path, duration_s: float = 1.5, reps: int = 2) -> Path:
    text = builtin_protocols()["hip-abduction-hhd"].source_text
    text, n1 = re.subn(r"(?m)^duration_s = 5\b", f"duration_s = {duration_s}", text)
    text, n2 = re.subn(r"(?m)^reps = 3\b", f"reps = {reps}", text)
    text, n3 = re.subn(r"(?m)^min_reps = 3\b", f"min_reps = {reps}", text)
    text, n4 = re.subn(r"(?m)^max_reps = 5\b", f"max_reps = {reps}", text)  # no extra reps
    assert n1 == n2 == n3 == n4 == 1
    path = tmp_path / "hip-short.toml"
    path.write_text(text, encoding="utf-8")
    return path


def station(*args: str, stdin: str = "", timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "station.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


def run_args(out: Path, protocol: str | Path = "hip-abduction-hhd", *extra: str) -> list[str]:
    return ["session", "run", "--protocol", str(protocol), "--patient", "CLI-1", "--body-mass", "70",
            "--involved", "right", "--device", "sim:mark10", "--out", str(out), *extra]


def unfinished_file(path: Path) -> None:
    """A session file as a station that died between flushes leaves it: status recording."""
    w = SessionWriter(path)
    w.create({"session_id": "u"}, {"patient_id": "OLD"})
    w.set_attrs("tests/01_t", {"status": "recording"})
    w.begin_trial(TrialSpec("01_t", "001", {"dyn": TrialDevice(1, False)}, {"side": "left"}))
    w.append("dyn", np.arange(50.0), np.ones((50, 1)), np.ones((50, 1)))
    w.close()
    with h5py.File(path, "r+") as f:
        f.attrs["status"] = "recording"
        f["tests/01_t"].attrs["status"] = "recording"
        trial = f["tests/01_t/trials/001"]
        trial.attrs["status"] = "recording"
        del trial.attrs["samples"], trial.attrs["ended_utc"], f.attrs["closed_utc"]


def statuses(path: Path) -> list[tuple[str, int, int, str]]:
    with h5py.File(path, "r") as f:
        (test,) = f["tests"].values()
        trials = test.get("trials", {})  # a test quit at its first prompt has none
        return [(g.attrs["side"], int(g.attrs["rep"]), int(g.attrs["attempt"]), g.attrs["status"])
                for _, g in sorted(trials.items())]


# -- usage errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"--protocol": "hip-abductoin-hhd"}, 'unknown protocol "hip-abductoin-hhd" (did you mean "hip-abduction-hhd"?)'),
    ({"--body-mass": "0"}, "--body-mass 0: expected a number of kg > 0 and < 400"),
    ({"--body-mass": "-70"}, "--body-mass -70: expected a number of kg > 0 and < 400"),
    ({"--body-mass": "400"}, "--body-mass 400: expected a number of kg > 0 and < 400"),
    ({"--body-mass": "seventy"}, "--body-mass 'seventy': expected a number of kg"),
    ({"--body-mass": "nan"}, "--body-mass nan: expected"),
    ({"--height": "17"}, "--height 17: expected a number of m > 0 and < 3"),
    ({"--lever-arm": "2"}, "--lever-arm 2: expected a number of m > 0 and <= 1.5"),
    ({"--patient": "../etc"}, "--patient '../etc': expected a pseudonym"),
    ({"--involved": "up"}, "--involved 'up': expected left, right or none"),
    ({"--device": "frame=sim:mark10"}, "no protocol in this session has a device role 'frame'"),
    ({"--device": "sim:nothing"}, "no simulator for 'nothing'"),
    ({"--device": None}, "missing --device"),
    ({"--patient": None, "--body-mass": None}, "missing --patient ID, --body-mass KG"),
])
def test_usage_errors_are_one_line(tmp_path: Path, capsys, change: dict[str, str | None], message: str) -> None:
    out = tmp_path / "sessions"
    args = run_args(out, "hip-abduction-hhd", "--auto")
    for option, value in change.items():
        if option not in args:
            args += [option, str(value)]
            continue
        i = args.index(option)
        if value is None:
            del args[i : i + 2]
        else:
            args[i + 1] = value
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("station: error: "), captured.err
    assert message in lines[0]
    assert not out.exists()  # nothing was started


def test_missing_device_for_a_role(tmp_path: Path, capsys) -> None:
    args = ["session", "run", "--protocol", "hip-abduction-hhd", "--protocol", "hip-abduction-frame",
            "--patient", "P", "--body-mass", "70", "--involved", "right", "--device", "dynamometer=sim:mark10",
            "--out", str(tmp_path / "sessions"), "--auto"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("station: error: no device for role(s) frame: add --device frame=URI "
                   "(e.g. sim:mark10 or mark10:/dev/ttyUSB0)")
    assert not (tmp_path / "sessions").exists()


def test_help(capsys) -> None:
    for argv, words in ((["session", "--help"], ["run", "recover"]),
                        (["session", "run", "--help"], ["--protocol", "--fast", "--auto", "130", "143", "Enter"]),
                        (["session", "recover", "--help"], ["FILE|DIR", "--keep-original"])):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        text = capsys.readouterr().out
        assert all(w in text for w in words), (argv, text)
    assert main(["session"]) == 2
    assert "recover" in capsys.readouterr().out


# -- interactive sessions ----------------------------------------------------------------------
@pytest.mark.integration
def test_keys_from_stdin_redo_skip_quit(tmp_path: Path) -> None:
    out = tmp_path / "sessions"
    # x: not a key; Enter: L1; r: redo L1 (attempt 2); s: skip R1; q: quit at L2
    proc = station(*run_args(out, short_protocol(tmp_path), "--fast", "--sim-speed", "4"), stdin="x\n\nr\ns\nq\n")
    assert proc.returncode == 1, proc.stderr
    assert "please press Enter, r, s, t or q" in proc.stdout
    assert "Session ended by the operator (q)" in proc.stdout
    (path,) = out.glob("*.h5")
    assert statuses(path) == [("left", 1, 1, "rejected"), ("left", 1, 2, "complete"), ("right", 1, 1, "skipped")]
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "aborted"
        assert f["tests/01_hip-abduction-hhd"].attrs["status"] == "aborted"
        assert f["session"].attrs["operator"] == ""
        assert "samples" not in f["tests/01_hip-abduction-hhd/trials/003"].attrs  # skipped: no data
        assert f["session"].attrs["simulation_speed"] == 4.0


@pytest.mark.integration
def test_recovery_is_offered_interactively(tmp_path: Path) -> None:
    out = tmp_path / "sessions"
    out.mkdir()
    old = out / "OLD_20250101-090000.h5"
    unfinished_file(old)
    proc = station(*run_args(out, short_protocol(tmp_path), "--fast"), stdin="y\nq\n")
    assert proc.returncode == 1, proc.stderr
    assert f"Unfinished session file: {old}" in proc.stdout and "recovered" in proc.stdout
    with h5py.File(old, "r") as f:
        assert f.attrs["status"] == "interrupted"
        assert f["tests/01_t/trials/001"].attrs["status"] == "interrupted"
    new = [p for p in out.glob("*.h5") if p != old]
    assert len(new) == 1 and statuses(new[0]) == []


@pytest.mark.integration
def test_declined_recovery_leaves_the_file(tmp_path: Path) -> None:
    old = tmp_path / "OLD.h5"
    unfinished_file(old)
    before = old.read_bytes()
    text = io.StringIO()
    offer_recovery(tmp_path, SessionTerminal(interactive=True, out=text, inp=io.StringIO("n\n")), True)
    assert "Recover it now? [y/N]" in text.getvalue() and f"station session recover {old}" in text.getvalue()
    assert old.read_bytes() == before


@pytest.mark.integration
def test_auto_session_with_a_notice_about_an_unfinished_file(tmp_path: Path) -> None:
    """A whole CLI session in real time (the other CLI sessions run on simulated time, faster)."""
    out = tmp_path / "sessions"
    out.mkdir()
    old = out / "OLD_20250101-090000.h5"
    unfinished_file(old)
    before = old.read_bytes()
    proc = station(*run_args(out, short_protocol(tmp_path, duration_s=1.0, reps=1), "--auto", "--fast",
                             "--operator", "Dr Auto", "--first-side", "right", "--lever-arm", "0.8"))
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("station: note:")]
    assert notes == [f"station: note: unfinished session file {old} (a station stopped while recording it); "
                     f"repair it with: station session recover {old}"]
    assert old.read_bytes() == before
    (path,) = [p for p in out.glob("*.h5") if p != old]
    assert f"Session file: {path}" in proc.stdout
    assert [s[0] for s in statuses(path)] == ["right", "left"]
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "complete" and f["session"].attrs["operator"] == "Dr Auto"
        assert f["session"].attrs["lever_arm_m"] == 0.8
        timing = f["protocols/hip-abduction-hhd"].attrs["text"]
        assert "duration_s = 1.0" in timing


# -- station session recover -------------------------------------------------------------------
def test_recover_command(tmp_path: Path, capsys) -> None:
    assert main(["session", "recover", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"{tmp_path}: no unfinished session files"
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    unfinished_file(a)
    unfinished_file(b)
    broken = tmp_path / "c.h5"
    broken.write_bytes(b"")
    assert main(["session", "recover", str(tmp_path), "--keep-original"]) == 1  # c.h5 cannot be
    captured = capsys.readouterr()
    assert f"{a}: recovered (was 'recording')" in captured.out and f"{b}: recovered" in captured.out
    assert "trial 01_t/trials/001: marked interrupted, kept dyn 50 samples" in captured.out
    assert f"original kept as {a}.unrecovered" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"station: error: {broken}: empty file")
    assert (tmp_path / "a.h5.unrecovered").exists()
    assert main(["session", "recover", str(a)]) == 0
    assert "nothing to recover (it is closed, status 'interrupted')" in capsys.readouterr().out
    assert main(["session", "recover", str(broken)]) == 2
    assert "nothing can be recovered" in capsys.readouterr().err
