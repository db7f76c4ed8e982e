"""Fault-injection harness for bad input: every command, every kind of bad input (issue 13).

Each case runs the real command in-process (``station.cli.main``) and asserts the contract
of docs/reliability.md:

* the exit status is not 0;
* standard error holds exactly one line, ``station…: error: …``, naming the file, field,
  option or folder that is wrong;
* no traceback anywhere;
* nothing that existed before is modified, and nothing is written where it was refused.

Kinds: unwritable output (read-only folder, a path under a file, an existing file), damaged
session files, damaged calibration records, protocol TOML extremes, and numeric / id options.
Decoder faults (drivers helper), the session's disconnect pause (engine helper) and a full disk
while recording (writer helper) have their own tests.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from calibration.record import CalibrationRecord, add_months, utc_now
from station.cli import main
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec

BUILTIN_PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "builtin" / "hip-abduction-hhd.toml"
SFP_SERIAL = "SIM-SFP-0001"  # the serial the sim:sfp simulator reports


# -- running a command ---------------------------------------------------------------------------
def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a digest of its bytes (directories as 'dir')."""
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "other"
    return out


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], *, names: str | list[str], watch: Path) -> str:
    """Run ``argv``; assert the bad-input contract; return the error line."""
    before = tree(watch)
    code, out, err = run_cli(capsys, argv)
    assert "Traceback" not in out + err, err
    assert code != 0, f"accepted: {argv}\n{out}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{argv}: expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("station") and ": error: " in line, line
    for name in [names] if isinstance(names, str) else names:
        assert name in line, f"{name!r} not named in: {line}"
    assert tree(watch) == before, f"{argv} changed files under {watch}"
    return line


# -- read-only folders ---------------------------------------------------------------------------
def _can_create_in(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.write_bytes(b"")
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture
def make_readonly() -> Iterator[Callable[[Path], Path]]:
    """Make a folder read-only for this process: chmod for a normal user; ``chattr +i``
    (immutable) as root, whom permission bits do not stop. Skips where neither works."""
    done: list[tuple[Path, str]] = []

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            folder.chmod(0o555)
            done.append((folder, "chmod"))
        elif shutil.which("chattr") and subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0:
            done.append((folder, "chattr"))
        if _can_create_in(folder):
            pytest.skip("cannot make a read-only folder on this machine")
        return folder

    yield make
    for folder, how in reversed(done):
        if how == "chmod":
            folder.chmod(0o755)
        else:
            subprocess.run(["chattr", "-i", str(folder)], check=False)


# -- a small real session file -------------------------------------------------------------------
def write_session(path: Path, root_status: str = "complete") -> Path:
    """A session file written by the real writer: one isometric test with two trials."""
    w = SessionWriter(path)
    w.create({"session_id": "bad-input", "algorithm_version": "1.0.0"},
             {"patient_id": "BAD-1", "body_mass_kg": 70.0, "involved_side": "right", "operator": "OP"})
    w.set_attrs("devices/dynamometer", {"family": "mark10", "model": "M5-100", "serial": "S1", "channels": 1,
                                        "rate_hz": 500.0, "unit": "N", "uri": "sim:mark10"})
    w.set_attrs("protocols/hip", {"name": "Hip", "kind": "isometric"})
    w.set_attrs("tests/01_hip", {"protocol_id": "hip", "name": "Hip abduction", "kind": "isometric",
                                 "status": "recording"})
    for i in (1, 2):
        w.begin_trial(TrialSpec("01_hip", f"{i:03d}", {"dynamometer": TrialDevice(1, False)},
                                {"side": "left" if i == 1 else "right", "rep": 1, "attempt": 1}))
        t = 100.0 + np.arange(1500) / 500
        force = 200.0 * np.clip((np.arange(1500) - 200) / 300, 0, 1)[:, None]
        w.append("dynamometer", t, force, force)
        w.end_trial({"status": "complete", "peak_force_n": 200.0, "results": {"peak_force_n": 200.0},
                     "quality_flags": []})
    w.set_attrs("tests/01_hip", {"status": "complete", "summary": {
        "sides": {"left": {"best_n": 200.0}, "right": {"best_n": 200.0}},
        "symmetry": {"kind": "lsi", "value_pct": 100.0, "passed": True, "parameters": {"pass_pct": 90.0}}}})
    w.close({"status": root_status})
    if root_status == "recording":  # as a station that died between trials leaves it
        with h5py.File(path, "r+") as f:
            f.attrs["status"] = "recording"
    return path


TRIAL = "/tests/01_hip/trials/001"


def _edit(fn: Callable[[h5py.File], None]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        with h5py.File(path, "r+") as f:
            fn(f)
    return apply


def _replace_by_dataset(name: str) -> Callable[[h5py.File], None]:
    def fn(f: h5py.File) -> None:
        del f[name]
        f[name] = np.arange(3)
    return fn


def _set_attrs(name: str, **attrs: object) -> Callable[[h5py.File], None]:
    def fn(f: h5py.File) -> None:
        for k, v in attrs.items():
            f[name].attrs[k] = v
    return fn


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


#: name → (damage, whether ``analyze --trial`` still reads the trial's samples)
SESSION_DAMAGE: dict[str, tuple[Callable[[Path], None], bool]] = {
    "metadata-garbage": (_edit(lambda f: (
        _set_attrs("session", body_mass_kg="{not json")(f),
        _set_attrs("tests/01_hip", summary="{garbage")(f),
        _set_attrs(TRIAL, results="[1, 2", quality_flags="[oops")(f))), True),
    "attribute-wrong-type": (_edit(lambda f: (
        _set_attrs(TRIAL, peak_force_n="big", side=3, rep="x")(f),
        _set_attrs("devices/dynamometer", channels="one")(f),
        _set_attrs("/", created_utc=12)(f))), True),
    "summary-wrong-shape": (_edit(_set_attrs("tests/01_hip", summary='{"sides": [1, 2], "symmetry": "x"}')), True),
    "tests-group-is-a-dataset": (_edit(_replace_by_dataset("tests")), False),
    "devices-group-is-a-dataset": (_edit(_replace_by_dataset("devices")), False),  # no rate: "pass --rate"
    "trials-group-is-a-dataset": (_edit(_replace_by_dataset("tests/01_hip/trials")), False),
    "device-group-is-a-dataset": (_edit(_replace_by_dataset(TRIAL + "/dynamometer")), False),
    "samples-are-a-scalar": (_edit(lambda f: (f[TRIAL + "/dynamometer"].__delitem__("t_host_s"),
                                              f[TRIAL + "/dynamometer"].create_dataset("t_host_s", data=1.0))), True),
    "rate-is-text": (_edit(_set_attrs("devices/dynamometer", rate_hz="fast")), False),
    # analyze reads any HDF5 file with a force_n dataset, session file or not
    "format-version-garbage": (_edit(_set_attrs("/", format_version="abc")), True),
    "not-a-session-file": (_edit(lambda f: f.attrs.__delitem__("format")), True),
    "truncated": (_truncate, False),
    "not-hdf5": (lambda p: p.write_text("hello, I am a text file\n"), False),
    "empty": (lambda p: p.write_bytes(b""), False),
}


@pytest.fixture(scope="module")
def good_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_session(tmp_path_factory.mktemp("good") / "BAD-1_good.h5")


@pytest.fixture
def damaged(request: pytest.FixtureRequest, tmp_path: Path, good_session: Path) -> Path:
    damage, _ = SESSION_DAMAGE[request.param]
    folder = tmp_path / "files"
    folder.mkdir()
    path = folder / f"{request.param}.h5"
    shutil.copy(good_session, path)
    damage(path)
    return path


# ================================================================================================
# Unwritable output
# ================================================================================================
SESSION_RUN = ["session", "run", "--protocol", "hip-abduction-hhd", "--patient", "P-1", "--body-mass", "70",
               "--involved", "right", "--device", "sim:mark10", "--auto", "--fast"]


def test_session_run_into_a_read_only_folder(tmp_path: Path, capsys, make_readonly) -> None:
    ro = make_readonly(tmp_path)
    refused(capsys, [*SESSION_RUN, "--out", str(ro / "sessions")], names=["--out", str(tmp_path)], watch=tmp_path)
    refused(capsys, [*SESSION_RUN, "--out", str(ro)], names=["--out", str(ro), "not writable"], watch=tmp_path)


def test_demo_into_a_read_only_folder(tmp_path: Path, capsys, make_readonly) -> None:
    ro = make_readonly(tmp_path)
    refused(capsys, ["demo", "--out", str(ro)], names=["--out", str(ro), "not writable"], watch=tmp_path)


def test_acquire_into_a_read_only_folder(tmp_path: Path, capsys, make_readonly) -> None:
    ro = make_readonly(tmp_path)
    refused(capsys, ["acquire", "--device", "sim:mark10", "--seconds", "1", "--out", str(ro / "x.h5")],
            names=["--out", str(ro), "not writable"], watch=tmp_path)


def test_recover_in_a_read_only_folder(tmp_path: Path, capsys, make_readonly) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    path = write_session(folder / "P_unfinished.h5", root_status="recording")
    ro = make_readonly(folder)
    refused(capsys, ["session", "recover", str(path)], names=[str(path), "not writable"], watch=tmp_path)
    refused(capsys, ["session", "recover", str(ro)], names=[str(ro), "not writable"], watch=tmp_path)


def test_calibration_into_a_read_only_folder(tmp_path: Path, capsys, make_readonly) -> None:
    ro = make_readonly(tmp_path)
    refused(capsys, ["calibrate", "--device", "sim:sfp?channels=1", "--channel", "0", "--loads", "0,5,10,20,40",
                     "--yes", "--calibration-dir", str(ro / "cal")], names=["calibration folder", str(ro)],
            watch=tmp_path)
    refused(capsys, ["calibration", "verify", "--device", "sim:sfp?channels=1", "--channel", "0", "--load", "5",
                     "--yes", "--calibration-dir", str(ro)], names=["calibration folder", str(ro)], watch=tmp_path)
    refused(capsys, ["calibration", "export", "--out", str(ro / "cal.json")], names=["--out", str(ro)],
            watch=tmp_path)


@pytest.mark.parametrize("argv", [
    [*SESSION_RUN, "--out", "{file}/sessions"],
    ["demo", "--out", "{file}/sessions"],
    ["acquire", "--device", "sim:mark10", "--seconds", "1", "--out", "{file}/x.h5"],
    ["acquire", "--device", "sim:mark10", "--seconds", "1", "--out", "{file}"],  # exists
    ["acquire", "--device", "sim:mark10", "--seconds", "1", "--out", "{dir}"],  # a directory
    ["calibration", "export", "--out", "{file}/cal.json"],
    ["calibration", "export", "--out", "{file}"],  # exists: needs --force
    ["calibration", "export", "--out", "{dir}"],
    ["calibrate", "--device", "sim:sfp?channels=1", "--channel", "0", "--loads", "0,5,10,20,40", "--yes",
     "--calibration-dir", "{file}/cal"],
], ids=["session-under-file", "demo-under-file", "acquire-under-file", "acquire-existing", "acquire-dir",
        "export-under-file", "export-existing", "export-dir", "calibrate-under-file"])
def test_output_path_under_a_file_or_existing(tmp_path: Path, capsys, argv: list[str]) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("precious\n")
    a_dir = tmp_path / "folder"
    a_dir.mkdir()
    argv = [a.format(file=a_file, dir=a_dir) for a in argv]
    refused(capsys, argv, names=str(a_file if any(str(a_file) in a for a in argv) else a_dir), watch=tmp_path)


@pytest.mark.parametrize("argv", [
    [*SESSION_RUN, "--out", "{link}"],
    ["demo", "--out", "{link}"],
    ["acquire", "--device", "sim:mark10", "--seconds", "0.3", "--out", "{link}"],
    ["acquire", "--device", "sim:mark10", "--seconds", "0.3", "--out", "{tmp}/ok.h5", "--spill-dir", "{link}"],
    ["acquire", "--device", "sim:mark10", "--seconds", "0.3", "--out", "{link}/x.h5"],
    ["export", "{session}", "--csv", "{link}"],
    ["export", "{session}", "--raw-csv", "{link}"],
    ["export", "{session}", "--pdf", "{link}"],
    ["export", "{session}", "--h5", "{link}"],
    ["export", "{session}", "--json", "{link}/x.json"],
    ["calibration", "export", "--out", "{link}"],
], ids=["session-run", "demo", "acquire", "acquire-spill-dir", "acquire-under-link", "export-csv", "export-raw-csv",
        "export-pdf", "export-h5", "export-under-link", "calibration-export"])
@pytest.mark.parametrize("target", ["missing", "loop"])
def test_output_is_a_broken_symbolic_link(tmp_path: Path, good_session: Path, capsys, argv: list[str],
                                          target: str) -> None:
    """A broken symbolic link as output (to nothing, or a loop) is refused in one line naming it;
    before, export replaced the link (or raised FileExistsError for --raw-csv), calibration
    export replaced it, and acquire accepted it as --spill-dir."""
    link = tmp_path / "out-link"
    link.symlink_to(link if target == "loop" else tmp_path / "gone" / "target")
    argv = [a.format(link=link, tmp=tmp_path, session=good_session) for a in argv]
    line = refused(capsys, argv, names=[str(link), "broken symbolic link"], watch=tmp_path)
    assert link.is_symlink() and not (tmp_path / "gone").exists(), line


def test_acquire_spill_dir_is_checked_before_any_device(tmp_path: Path, capsys) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("precious\n")
    refused(capsys, ["acquire", "--device", "sim:mark10", "--seconds", "0.3", "--out", str(tmp_path / "ok.h5"),
                     "--spill-dir", str(a_file / "spill")], names=["--spill-dir", str(a_file)], watch=tmp_path)


def test_calibration_export_overwrites_only_with_force(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cal.json"
    out.write_text("keep me\n")
    refused(capsys, ["calibration", "export", "--out", str(out)], names=[str(out), "--force"], watch=tmp_path)
    code, _, err = run_cli(capsys, ["calibration", "export", "--out", str(out), "--force"])
    assert code == 0, err
    assert json.loads(out.read_text())["kind"] == "force-station-calibration-snapshot"


# ================================================================================================
# Damaged session files
# ================================================================================================
@pytest.mark.parametrize("damaged", list(SESSION_DAMAGE), indirect=True)
@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_inspect_damaged_file(damaged: Path, json_out: bool, capsys) -> None:
    refused(capsys, ["inspect", *(["--json"] if json_out else []), str(damaged)], names=str(damaged),
            watch=damaged.parent)


@pytest.mark.parametrize("damaged", list(SESSION_DAMAGE), indirect=True)
def test_export_damaged_file(damaged: Path, capsys) -> None:
    out = damaged.parent.parent / "export.json"
    code, stdout, err = run_cli(capsys, ["export", str(damaged), "--json", str(out)])
    assert "Traceback" not in stdout + err
    if code == 0:  # exported what is readable
        assert out.exists()
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and str(damaged) in lines[0], err
        assert not out.exists()


def test_index_rebuild_skips_damaged_files_by_name(tmp_path: Path, good_session: Path, capsys) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    shutil.copy(good_session, folder / "A_good.h5")
    for name in ("tests-group-is-a-dataset", "truncated", "not-hdf5"):
        path = folder / f"{name}.h5"
        shutil.copy(good_session, path)
        SESSION_DAMAGE[name][0](path)
    code, out, err = run_cli(capsys, ["index", "rebuild", str(folder)])
    assert code == 0 and "Traceback" not in out + err, err
    assert "1 session(s) indexed" in out
    for name in ("tests-group-is-a-dataset", "truncated", "not-hdf5"):
        assert f"{name}.h5" in out


@pytest.mark.parametrize("argv", [
    ["export", "{session}", "--csv", "{file}/x.csv"],
    ["export", "{session}", "--csv", "{file}"],
    ["export", "{session}", "--pdf", "{dir}"],
], ids=["under-file", "existing", "directory"])
def test_export_outputs(tmp_path: Path, good_session: Path, capsys, argv: list[str]) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("precious\n")
    a_dir = tmp_path / "folder"
    a_dir.mkdir()
    argv = [a.format(file=a_file, dir=a_dir, session=good_session) for a in argv]
    refused(capsys, argv, names=str(a_file if any(str(a_file) in a for a in argv) else a_dir), watch=tmp_path)


def test_export_into_a_read_only_folder(tmp_path: Path, good_session: Path, capsys, make_readonly) -> None:
    ro = make_readonly(tmp_path)
    refused(capsys, ["export", str(good_session), "--csv", str(ro / "x.csv")], names=[str(ro), "not writable"],
            watch=tmp_path)


@pytest.mark.parametrize("damaged", ["metadata-garbage", "attribute-wrong-type", "devices-group-is-a-dataset"],
                         indirect=True)
def test_inspect_shows_what_is_still_readable(damaged: Path, capsys) -> None:
    code, out, err = run_cli(capsys, ["inspect", str(damaged)])
    assert code == 2 and "damaged session file" in err and len(err.strip().splitlines()) == 1
    assert "01_hip" in out and "001" in out and "002" in out  # the trials are still listed
    assert "1500" in out  # with their sample counts


@pytest.mark.parametrize("damaged", list(SESSION_DAMAGE), indirect=True)
def test_analyze_trial_of_damaged_file(damaged: Path, request: pytest.FixtureRequest, capsys) -> None:
    name = request.node.callspec.params["damaged"]
    readable = SESSION_DAMAGE[name][1]
    argv = ["analyze", "--test", "isometric", "--trial", "01_hip/001", str(damaged)]
    if readable:  # the samples are intact: the analysis still runs
        code, out, err = run_cli(capsys, argv)
        assert code == 0 and "Traceback" not in err, err
        assert "peak" in out.lower()
    else:
        refused(capsys, argv, names=str(damaged), watch=damaged.parent)


@pytest.mark.parametrize("damaged", list(SESSION_DAMAGE), indirect=True)
def test_recover_damaged_unfinished_file(damaged: Path, capsys) -> None:
    """Recovery of a damaged file either repairs what it can (exit 0, a report) or refuses in
    one line naming the file and leaves it untouched; never a traceback."""
    try:
        with h5py.File(damaged, "r+") as f:
            f.attrs["status"] = "recording"
    except OSError:
        pass  # not openable at all: stays as damaged
    before = tree(damaged.parent)
    code, out, err = run_cli(capsys, ["session", "recover", str(damaged)])
    assert "Traceback" not in out + err
    if code == 0:
        assert str(damaged) in out and err == ""
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and str(damaged) in lines[0], err
        assert tree(damaged.parent) == before


def test_recover_directory_with_a_damaged_file_goes_on(tmp_path: Path, good_session: Path, capsys) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    good = write_session(folder / "A_unfinished.h5", root_status="recording")
    bad = folder / "B_truncated.h5"
    shutil.copy(good_session, bad)
    _truncate(bad)
    code, out, err = run_cli(capsys, ["session", "recover", str(folder)])
    assert code == 1 and "Traceback" not in err
    assert str(good) in out and "recovered" in out
    assert len(err.strip().splitlines()) == 1 and str(bad) in err and "truncated" in err


def _replace_dataset(name: str, data: object) -> Callable[[h5py.File], None]:
    def fn(f: h5py.File) -> None:
        del f[name]
        f[name] = data
    return fn


DEVICE = TRIAL + "/dynamometer"
#: damage to a trial's samples or channel map: name → (damage, words the error or note must contain)
SAMPLE_DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "channel-out-of-range": (_edit(_set_attrs(TRIAL, channels='{"left": {"device": "dynamometer", "channels": [7]}}')),
                             "recorded 1 channel"),
    "channel-not-a-number": (_edit(_set_attrs(TRIAL, channels='{"left": {"device": "dynamometer", "channels": ["x"]}}')),
                             "expected a list of channel numbers"),
    "channels-a-list": (_edit(_set_attrs(TRIAL, channels="[1, 2]")), "attribute 'channels' is"),
    "times-two-dimensional": (_edit(_replace_dataset(DEVICE + "/t_host_s", np.zeros((3, 3)))),
                              "t_host_s has shape (3, 3)"),
    "times-a-group": (_edit(lambda f: (f[DEVICE].__delitem__("t_host_s"), f[DEVICE].create_group("t_host_s"))),
                      "t_host_s is not a dataset of samples"),
    "force-missing": (_edit(lambda f: f[DEVICE].__delitem__("force_n")), "has no force_n dataset"),
    "force-one-dimensional": (_edit(_replace_dataset(DEVICE + "/force_n", np.zeros(1500))),
                              "force_n has shape (1500,)"),
    "force-text": (_edit(_replace_dataset(DEVICE + "/force_n", "abc")), "force_n is not a dataset of numbers"),
    "raw-too-short": (_edit(_replace_dataset(DEVICE + "/raw", np.zeros((10, 1)))), "raw has shape (10, 1)"),
    "dangling-trial-link": (_edit(lambda f: f["tests/01_hip/trials"].__setitem__("003", h5py.SoftLink("/nowhere"))),
                            "trials/003 cannot be read"),
    "protocols-a-dataset": (_edit(_replace_by_dataset("protocols")), "/protocols is a dataset"),
    "summary-side-garbage": (_edit(_set_attrs("tests/01_hip", summary='{"sides": {"left": 5, "right": {"reps": "a"}}}')),
                             "summary"),
}


@pytest.fixture
def sample_damaged(request: pytest.FixtureRequest, tmp_path: Path, good_session: Path) -> tuple[Path, str]:
    damage, words = SAMPLE_DAMAGE[request.param]
    folder = tmp_path / "files"
    folder.mkdir()
    path = folder / f"{request.param}.h5"
    shutil.copy(good_session, path)
    damage(path)
    return path, words


@pytest.mark.parametrize("damaged", list(SESSION_DAMAGE), indirect=True)
def test_session_reader_names_the_damage(damaged: Path) -> None:
    """SessionReader (export, analyze, index, history) reads what is readable and names the
    rest, through station/storage/damage.py: a StorageError line naming the file, never a raw
    KeyError/AttributeError/IndexError."""
    from station.errors import UserError
    from station.storage.session_reader import SessionReader

    try:
        with SessionReader(damaged) as r:
            stored = r.session()
            for test in stored.tests:
                for trial in test.trials:
                    r.samples(trial)
                    for side in trial.channels:
                        r.side_force(trial, side)
    except UserError as exc:
        assert str(damaged) in str(exc) and "\n" not in str(exc)
        assert "object has no attribute" not in str(exc) and "index out of range" not in str(exc), exc


@pytest.mark.parametrize("sample_damaged", list(SAMPLE_DAMAGE), indirect=True)
def test_session_reader_checks_samples_and_channel_maps(sample_damaged: tuple[Path, str]) -> None:
    from station.errors import StorageError
    from station.storage.session_reader import SessionReader

    path, words = sample_damaged
    with SessionReader(path) as r:
        stored = r.session()
        problems = list(stored.damaged)
        for test in stored.tests:
            for trial in test.trials:
                try:
                    data = r.samples(trial)
                except StorageError as exc:
                    assert str(path) in str(exc) and "damaged session file" in str(exc)
                    problems.append(str(exc))
                    continue
                for side, (device, channels) in trial.channels.items():  # only channels that exist
                    assert max(channels, default=0) < data[device].force_n.shape[1]
                    assert r.side_force(trial, side)[1].shape == data[device].t_host_s.shape
    assert any(words in p for p in problems), problems


@pytest.mark.parametrize("sample_damaged", list(SAMPLE_DAMAGE), indirect=True)
@pytest.mark.parametrize("fmt", ["--raw-csv", "--pdf", "--csv"])
def test_export_of_damaged_samples(sample_damaged: tuple[Path, str], fmt: str, capsys) -> None:
    """Exporting a file with damaged samples or channel maps: what is readable, with a note
    naming what was left out, or one line naming the file and the damage; never a traceback
    (channels out of range and two-dimensional times raised IndexError in --raw-csv/--pdf)."""
    path, words = sample_damaged
    out = path.parent.parent / "out"
    code, stdout, err = run_cli(capsys, ["export", str(path), fmt, str(out)])
    assert "Traceback" not in stdout + err, err
    if code == 0:
        assert out.exists()
        assert f"note: {path}: damaged session file, exported what is readable" in stdout and words in stdout
    else:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and words in lines[0], err
        assert not out.exists()


def test_index_rebuild_names_the_damage_in_words(tmp_path: Path, good_session: Path, capsys) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    path = folder / "tests-a-dataset.h5"
    shutil.copy(good_session, path)
    SESSION_DAMAGE["tests-group-is-a-dataset"][0](path)
    code, out, err = run_cli(capsys, ["index", "rebuild", str(folder)])
    assert code == 0 and "Traceback" not in out + err
    assert f"{path}: damaged session file, cannot be indexed: /tests is a dataset, expected a group" in out
    assert "object has no attribute" not in out


# ================================================================================================
# Damaged calibration records
# ================================================================================================
def good_record_text(serial: str = SFP_SERIAL, channel: int = 0) -> str:
    now = utc_now()
    return CalibrationRecord(device_serial=serial, channel=channel, model="linear", offset_counts=-9200.0,
                             coefficients_n_per_count_k=(0.00099,), calibrated_at=now,
                             expires_at=add_months(now, 12), operator="t", source="multipoint",
                             load_unit="kg").to_json()


def _with(**changes: object) -> Callable[[str], str]:
    def edit(text: str) -> str:
        d = json.loads(text)
        d.update(changes)
        return json.dumps(d)
    return edit


#: name → (damage, words the error must contain)
CALIBRATION_DAMAGE: dict[str, tuple[Callable[[str], str], str]] = {
    "corrupt-json": (lambda t: t.replace('"channel"', '"channel" }{', 1), "not valid JSON"),
    "truncated": (lambda t: t[: len(t) // 2], "not valid JSON"),
    "empty": (lambda t: "", "not valid JSON"),
    "newer-version": (_with(format_version=99), "format_version"),
    "version-zero": (_with(format_version=0), "format_version"),
    "nan-gain": (lambda t: _with()(t).replace('"coefficients_n_per_count_k": [0.00099]',
                                               '"coefficients_n_per_count_k": [NaN]'), "coefficients_n_per_count_k"),
    "zero-gain": (_with(coefficients_n_per_count_k=[0.0]), "gain"),
    "expiry-before-calibration": (_with(expires_at="2020-01-01T00:00:00+00:00"), "expires_at"),
    "wrong-serial-inside": (_with(device_serial="OTHER-1"), "device_serial"),
    "channel-as-text": (_with(channel="0"), "channel"),
    "5000-digit-integer": (lambda t: _with()(t).replace('"channel": 0', '"channel": ' + "9" * 5000),
                           "not valid JSON"),
    "deep-nesting": (lambda t: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "not-utf8": (lambda t: "\udcff", "UTF-8"),
    "huge-file": (lambda t: t[:-2] + ', "notes": "' + "x" * 6_000_000 + '"}', "too large"),
}


@pytest.fixture
def broken_record(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, str]:
    damage, words = CALIBRATION_DAMAGE[request.param]
    folder = tmp_path / "calibration"
    folder.mkdir()
    path = folder / f"{SFP_SERIAL}_ch0.json"
    text = damage(good_record_text())
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return folder, path, words


CAL_CASES = list(CALIBRATION_DAMAGE)


@pytest.mark.parametrize("broken_record", CAL_CASES, indirect=True)
def test_calibration_list_shows_a_broken_record_as_unreadable(broken_record, capsys) -> None:
    folder, path, words = broken_record
    code, out, err = run_cli(capsys, ["calibration", "list", "--calibration-dir", str(folder)])
    assert code == 0 and "Traceback" not in out + err
    (row,) = [line for line in out.splitlines() if line.startswith(SFP_SERIAL)]
    assert "unreadable" in row and str(path) in row and words in row, row


@pytest.mark.parametrize("broken_record", CAL_CASES, indirect=True)
def test_calibration_show_and_export_name_a_broken_record(broken_record, capsys) -> None:
    folder, path, words = broken_record
    refused(capsys, ["calibration", "show", SFP_SERIAL, "0", "--calibration-dir", str(folder)],
            names=[str(path), words], watch=folder)
    refused(capsys, ["calibration", "export", "--calibration-dir", str(folder)], names=[str(path), words],
            watch=folder)


@pytest.mark.parametrize("broken_record", CAL_CASES, indirect=True)
def test_session_names_the_broken_calibration_file(broken_record, tmp_path: Path, capsys) -> None:
    """Never "no calibration": the session refuses, naming the file and what is wrong in it."""
    folder, path, words = broken_record
    out = tmp_path / "sessions"
    line = refused(capsys, ["session", "run", "--protocol", "hip-abduction-hhd", "--patient", "P-1", "--body-mass",
                            "70", "--involved", "right", "--device", "sim:sfp?channels=1", "--auto", "--fast",
                            "--out", str(out), "--calibration-dir", str(folder)],
                   names=[str(path), words], watch=tmp_path)
    assert "no calibration" not in line
    assert not out.exists()


# ================================================================================================
# Protocol TOML extremes
# ================================================================================================
def _proto(edit: Callable[[str], str]) -> Callable[[], str]:
    return lambda: edit(BUILTIN_PROTOCOL.read_text(encoding="utf-8"))


#: name → (file text, words the error must contain)
PROTOCOL_EXTREMES: dict[str, tuple[Callable[[], str], str]] = {
    "5000-digit-integer": (_proto(lambda t: t.replace("reps = 3", "reps = " + "9" * 5000)), ":27: "),
    "5000-digit-version": (_proto(lambda t: t.replace("version = 1\nkind", "version = " + "1" * 5000 + "\nkind")),
                           "too many digits"),
    "huge-float": (_proto(lambda t: t.replace("duration_s = 5", "duration_s = 1" + "0" * 400 + ".0")),
                   "[timing].duration_s"),
    "deep-arrays": (_proto(lambda t: t + "\n[x]\na = " + "[" * 5000 + "]" * 5000 + "\n"), "nested too deeply"),
    "deep-inline-tables": (_proto(lambda t: t.replace("[timing]", "[timing]\nz = " + "{a = " * 2000 + "1"
                                                      + "}" * 2000)), "nested too deeply"),
    "moderately-deep": (_proto(lambda t: t.replace("[timing]", "[timing]\nz = {a = {b = {c = {d = 1}}}}")),
                        "nested too deeply"),
    "bell-in-name": (_proto(lambda t: t.replace('name = "Hip', 'name = "\\u0007Hip')), "name: "),
    "escape-sequence-in-cue": (_proto(lambda t: t.replace('stop = "And relax."', 'stop = "\\u001b[2J relax"')),
                               "[cues].stop"),
    "nul-in-label": (_proto(lambda t: t.replace('"greater trochanter to pad centre"', '"a\\u0000b"')),
                     "[normalisation].lever_arm_label"),
    "bidi-override-in-name": (_proto(lambda t: t.replace('name = "Hip', 'name = "\\u202eHip')), "U+202E"),
    "control-in-key": (_proto(lambda t: t.replace("[timing]", '[timing]\n"dura\\u0008tion" = 1')), "control"),
    "huge-string": (_proto(lambda t: t.replace('stop = "And relax."', 'stop = "' + "x" * 20_000 + '"')),
                    "[cues].stop"),
    "huge-file": (_proto(lambda t: t + "\n# " + "x" * 300_000 + "\n"), "too large"),
    "long-key": (_proto(lambda t: t.replace("[timing]", "[timing]\n" + "k" * 100 + " = 1")), "key of 100"),
    "reps-as-text": (_proto(lambda t: t.replace("reps = 3", 'reps = "3"')), "reps"),
    "reps-as-bool": (_proto(lambda t: t.replace("reps = 3", "reps = true")), "reps"),
    "reps-as-date": (_proto(lambda t: t.replace("reps = 3", "reps = 1979-05-27T07:32:00Z")), "reps"),
    "timing-as-number": (_proto(lambda t: re.sub(r"\[timing\]\n(?:[^\[\n].*\n)*", "", t).replace(
        "reps = 3", "reps = 3\ntiming = 5")), "timing: expected a table"),
    "nan-duration": (_proto(lambda t: t.replace("duration_s = 5 ", "duration_s = nan ")), "[timing].duration_s"),
    "nul-byte": (_proto(lambda t: t.replace("reps = 3", "reps = 3\x00")), "TOML syntax error"),
    "not-utf8": (lambda: "name = \udcff\n", "UTF-8"),
}


@pytest.mark.parametrize("name", list(PROTOCOL_EXTREMES))
@pytest.mark.parametrize("command", ["validate", "show", "session"])
def test_protocol_extremes(name: str, command: str, tmp_path: Path, capsys) -> None:
    make, words = PROTOCOL_EXTREMES[name]
    path = tmp_path / f"{name}.toml"
    path.write_bytes(make().encode("utf-8", "surrogateescape"))
    argv = {"validate": ["protocols", "validate", str(path)],
            "show": ["protocols", "show", str(path)],
            "session": [*SESSION_RUN, "--protocol", str(path), "--out", str(tmp_path / "sessions")]}[command]
    if command == "session":
        argv = [a for a in argv if a != "hip-abduction-hhd"]
        argv.remove("--protocol")
    line = refused(capsys, argv, names=[path.name, words], watch=tmp_path)
    assert len(line) < 400  # one readable line, not the 20,000-character text echoed back


# ================================================================================================
# Numeric options, ids
# ================================================================================================
NUMERIC_CASES: list[tuple[str, list[str], str]] = []


def _numeric(command: list[str], option: str, values: list[str]) -> None:
    for v in values:
        NUMERIC_CASES.append((f"{' '.join(command[:2])} {option} {v}", [*command, option, v], option))


_BAD = ["nan", "inf", "-inf", "abc", "1e999"]
_numeric(["acquire", "--device", "sim:mark10", "--out", "{tmp}/a.h5"], "--seconds",
         [*_BAD, "-1", "0", "1e9"])
_numeric(["demo", "--out", "{tmp}/s"], "--body-mass", [*_BAD, "-5", "0", "400"])
_numeric(["demo", "--out", "{tmp}/s"], "--lever-arm", [*_BAD, "0", "-0.5", "2"])
_numeric(["demo", "--out", "{tmp}/s"], "--weaker", [*_BAD, "0", "-1", "5"])
_numeric(["demo", "--out", "{tmp}/s"], "--rate", [*_BAD, "0", "-1", "2.5", "5000"])
_numeric([*SESSION_RUN[:6], *SESSION_RUN[8:], "--out", "{tmp}/s"], "--body-mass", [*_BAD, "-70", "0"])
_numeric([*SESSION_RUN, "--out", "{tmp}/s"], "--height", [*_BAD, "-1", "17"])
_numeric([*SESSION_RUN, "--out", "{tmp}/s"], "--lever-arm", [*_BAD, "-0.1", "3"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--rate", [*_BAD, "-1", "0"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--rate", ["1e-9", "1e7"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--onset-k", ["nan", "inf", "-3", "0"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--onset-threshold-n", ["nan", "-5", "0"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--onset-s", ["nan", "-1", "1e6"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--lever-arm-m", ["nan", "-inf", "-1", "0", "3"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--body-mass-kg", ["nan", "inf", "-70", "0"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--filter-hz", ["nan", "inf", "-1", "0", "100000"])
_numeric(["analyze", "--test", "isometric", "{trace}"], "--rfd-filter-hz", ["nan", "-1", "100000"])
_numeric(["analyze", "--test", "landing", "{trace}"], "--body-weight-n", ["nan", "inf", "-700", "0"])
_CAL = ["calibrate", "--device", "sim:sfp?channels=1", "--channel", "0", "--loads", "0,5,10,20,40", "--yes",
        "--calibration-dir", "{tmp}/cal"]
_numeric(_CAL, "--window-s", ["nan", "inf", "abc"])
_numeric(_CAL, "--readings-s", ["nan", "-1"])
_numeric(_CAL, "--gravity", ["nan", "inf"])
_numeric(_CAL, "--temperature", ["nan", "inf"])
_VERIFY = ["calibration", "verify", "--device", "sim:sfp?channels=1", "--channel", "0", "--yes",
           "--calibration-dir", "{tmp}/cal"]
_numeric([*_VERIFY, "--load", "5"], "--tolerance-pct", ["nan", "inf"])
_numeric(_VERIFY, "--load", ["nan", "inf", "abc"])


@pytest.mark.parametrize("case", NUMERIC_CASES, ids=[c[0] for c in NUMERIC_CASES])
def test_numeric_options(case: tuple[str, list[str], str], tmp_path: Path, capsys) -> None:
    _, argv, option = case
    trace = tmp_path / "trace.csv"
    trace.write_text("t,force\n" + "".join(f"{i / 100},{min(i, 50) * 4.0}\n" for i in range(300)))
    argv = [a.format(tmp=tmp_path, trace=trace) for a in argv]
    refused(capsys, argv, names=option, watch=tmp_path)
    assert not (tmp_path / "s").exists() and not (tmp_path / "a.h5").exists()


@pytest.mark.parametrize("patient", ["/tmp/evil", "../evil", "a/b", "..", ".hidden", "-rf", "a b", "",
                                     "x" * 65, "evil\n", "é", "a\\b", "C:evil"])
@pytest.mark.parametrize("command", ["demo", "session"])
def test_patient_id_cannot_escape_the_output_folder(patient: str, command: str, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = (["demo", "--out", str(out), "--patient", patient] if command == "demo"
            else [*[a if a != "P-1" else patient for a in SESSION_RUN], "--out", str(out)])
    refused(capsys, argv, names="--patient", watch=tmp_path)
    assert not out.exists()


def test_usage_errors_are_one_line(capsys) -> None:
    for argv in (["acquire", "--seconds", "1"], ["demo", "--involved", "up"], ["inspect"],
                 ["session", "run", "--no-such-option"], ["nope"]):
        code, out, err = run_cli(capsys, argv)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and "error:" in err and "--help" in err, err


def test_a_damaged_earlier_session_is_no_baseline(tmp_path: Path, good_session: Path) -> None:
    """A session compares the involved side with the patient's first session in --out; a damaged
    earlier file there (a best value that is text) must not end the running session."""
    from station.session.history import PatientHistory

    folder = tmp_path / "sessions"
    folder.mkdir()
    bad = folder / "BAD-1_a_damaged.h5"
    shutil.copy(good_session, bad)
    _edit(_set_attrs("tests/01_hip", summary='{"sides": {"left": {"best_n": "big"}, "right": {"best_n": [1]}}}'))(bad)
    shutil.copy(good_session, folder / "BAD-1_b_good.h5")
    earliest = PatientHistory(folder, "BAD-1").earliest("hip")
    assert earliest is not None and earliest.path.name == "BAD-1_b_good.h5"
    assert earliest.best_n == {"left": 200.0, "right": 200.0}


def test_inspect_names_a_spill_file(tmp_path: Path, capsys) -> None:
    """The file where a full disk's samples went is named for what it is, with where its
    samples are (before: "not a Force Station session file")."""
    free = [10 ** 12]
    w = SessionWriter(tmp_path / "s.h5", free_space=lambda _d: free[0], spill_dir=tmp_path / "spill",
                      flush_interval_s=0.02)
    w.create({"session_id": "full"}, {"patient_id": "F"})
    w.set_attrs("devices/dyn", {"unit": "N", "channels": 1})
    w.begin_trial(TrialSpec("01_t", "001", {"dyn": TrialDevice(1, False)}, {"side": "left", "rep": 1}))
    k = np.arange(100.0)
    w.append("dyn", 1000.0 + k / 100, k[:, None], k[:, None])
    w.sync()
    free[0] = 1024  # the disk fills
    w.append("dyn", 1001.0 + k / 100, k[:, None], k[:, None])
    with pytest.raises(Exception, match="disk full"):
        w.sync()
    with contextlib.suppress(Exception):
        w.end_trial({"status": "complete"})
    w.close({"status": "complete"})
    spill = tmp_path / "spill" / "s.spill.h5"
    assert spill.is_file()
    line = refused(capsys, ["inspect", str(spill)], names=[str(spill), "spill file", str(tmp_path / "s.h5")],
                   watch=tmp_path)
    assert "t_host_s" in line


def test_too_slow_device_names_a_uri_that_works(tmp_path: Path, capsys) -> None:
    """A gauge polled with ? (answers only readings) is slower than the protocol needs: the
    error names the device URI to use instead ("e.g. ?rate=…" was not a value), and that URI
    gives the rate."""
    from drivers.registry import open_device

    uri = "sim:mark10?commands=reading"
    line = refused(capsys, ["session", "run", "--protocol", "hip-abduction-hhd", "--patient", "R-1", "--body-mass",
                            "70", "--involved", "right", "--device", uri, "--auto", "--fast", "--lever-arm", "0.8",
                            "--out", str(tmp_path / "s")], names=[uri, "100 Hz"], watch=tmp_path)
    suggested = re.search(r"e\.g\. (\S+)\)$", line)
    assert suggested is not None, line
    driver, sim = open_device(suggested.group(1))
    try:
        assert driver.open().rate_hz >= 100
    finally:
        driver.close()
        if sim is not None:
            sim.close()
