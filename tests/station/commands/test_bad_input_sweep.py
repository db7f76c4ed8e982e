"""A new user's bad inputs, swept over every ``station`` subcommand (issue 13): each gives one
line on stderr naming the file, field, option or port, exits non-zero, shows no traceback,
and creates or changes nothing. Fast: a bad option is refused before any device is opened.

``{d}`` in an argument is the test's folder, which holds: ``notes.txt`` (a file), ``ro/`` (a
read-only folder, where the test can make one), ``damaged.h5`` (not HDF5), ``empty.h5``
(0 bytes), ``exists.json`` and ``exists.csv`` (existing outputs), ``bad.toml`` (a protocol
that is not TOML)."""
from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from station.cli import main

SIM = "sim:mark10"
SESSION = ["session", "run", "--protocol", "hip-abduction-hhd", "--patient", "P1", "--body-mass", "70",
           "--involved", "right", "--device", SIM, "--auto", "--fast"]

# (id, argv, what the line must name)
CASES: list[tuple[str, list[str], str]] = [
    # unknown options and values, for every command
    # (argparse names the missing required arguments first, then an unknown option: one line either way)
    *[(f"{c}-unknown-option", [*c.split(), "--no-such-option"], "error: ") for c in (
        "demo", "gui", "session run", "session recover", "protocols list", "acquire", "devices", "simulate",
        "calibrate", "calibration list", "analyze", "inspect", "history", "export", "index rebuild", "store",
        "sync")],
    # missing, damaged, empty, unreadable files; a path under a file
    ("inspect-missing", ["inspect", "{d}/missing.h5"], "missing.h5"),
    ("inspect-damaged", ["inspect", "{d}/damaged.h5"], "damaged.h5"),
    ("inspect-empty", ["inspect", "{d}/empty.h5"], "empty.h5"),
    ("inspect-under-a-file", ["inspect", "{d}/notes.txt/s.h5"], "notes.txt"),
    ("inspect-a-folder", ["inspect", "{d}/ro"], "ro"),
    ("analyze-missing", ["analyze", "--test", "isometric", "{d}/missing.csv"], "missing.csv"),
    ("analyze-damaged-h5", ["analyze", "--test", "isometric", "--trial", "x", "{d}/damaged.h5"], "damaged.h5"),
    ("export-missing", ["export", "{d}/missing.h5", "--csv", "{d}/o.csv"], "missing.h5"),
    ("export-damaged", ["export", "{d}/damaged.h5", "--csv", "{d}/o.csv"], "damaged.h5"),
    ("recover-missing", ["session", "recover", "{d}/missing.h5"], "missing.h5"),
    ("recover-damaged", ["session", "recover", "{d}/damaged.h5"], "damaged.h5"),
    ("recover-spill-dir-a-file", ["session", "recover", "{d}/damaged.h5", "--spill-dir", "{d}/notes.txt"],
     "--spill-dir"),
    ("protocols-validate-bad-toml", ["protocols", "validate", "{d}/bad.toml"], "bad.toml"),
    ("protocols-show-missing", ["protocols", "show", "no-such-protocol"], "no-such-protocol"),
    ("session-protocol-bad-toml", [*SESSION[:2], "--protocol", "{d}/bad.toml", *SESSION[4:], "--out", "{d}/s"],
     "bad.toml"),
    ("calibration-show-missing", ["calibration", "show", "--calibration-dir", "{d}/cal", "NOPE-1", "0"], "NOPE-1"),
    ("index-rebuild-under-a-file", ["index", "rebuild", "{d}/notes.txt/x"], "notes.txt"),
    ("history-dir-under-a-file", ["history", "P1", "--dir", "{d}/notes.txt/x"], "notes.txt"),
    # outputs: under a file, read-only folder, existing without --force
    ("acquire-out-under-a-file", ["acquire", "--device", SIM, "--seconds", "1", "--out", "{d}/notes.txt/a.h5"],
     "notes.txt"),
    ("acquire-out-read-only", ["acquire", "--device", SIM, "--seconds", "1", "--out", "{d}/ro/a.h5"], "ro"),
    ("acquire-out-exists", ["acquire", "--device", SIM, "--seconds", "1", "--out", "{d}/exists.json"],
     "exists.json"),
    ("demo-out-under-a-file", ["demo", "--out", "{d}/notes.txt/x"], "notes.txt"),
    ("demo-out-read-only", ["demo", "--out", "{d}/ro"], "ro"),
    ("session-out-under-a-file", [*SESSION, "--out", "{d}/notes.txt/x"], "notes.txt"),
    ("session-out-read-only", [*SESSION, "--out", "{d}/ro"], "ro"),
    ("session-spill-dir-under-a-file", [*SESSION, "--out", "{d}/s", "--spill-dir", "{d}/notes.txt/x"],
     "--spill-dir"),
    ("calibration-export-exists", ["calibration", "export", "--calibration-dir", "{d}/cal", "--out",
                                   "{d}/exists.json"], "exists.json"),
    ("export-csv-exists", ["export", "{d}/damaged.h5", "--csv", "{d}/exists.csv"], "exists.csv"),
    # numbers: nan, inf, negative, zero, huge
    ("acquire-seconds-nan", ["acquire", "--device", SIM, "--seconds", "nan", "--out", "{d}/a.h5"], "--seconds"),
    ("acquire-seconds-inf", ["acquire", "--device", SIM, "--seconds", "inf", "--out", "{d}/a.h5"], "--seconds"),
    ("acquire-seconds-negative", ["acquire", "--device", SIM, "--seconds", "-1", "--out", "{d}/a.h5"],
     "--seconds"),
    ("acquire-seconds-zero", ["acquire", "--device", SIM, "--seconds", "0", "--out", "{d}/a.h5"], "--seconds"),
    ("acquire-seconds-huge", ["acquire", "--device", SIM, "--seconds", "1e999", "--out", "{d}/a.h5"], "--seconds"),
    ("demo-body-mass-negative", ["demo", "--body-mass", "-5", "--out", "{d}/s"], "--body-mass"),
    ("demo-lever-arm-zero", ["demo", "--lever-arm", "0", "--out", "{d}/s"], "--lever-arm"),
    ("demo-rate-huge-int", ["demo", "--rate", "9" * 400, "--out", "{d}/s"], "--rate"),
    ("session-body-mass-nan", [*SESSION[:7], "nan", *SESSION[8:], "--out", "{d}/s"], "--body-mass"),
    ("session-sim-seed-huge", [*SESSION, "--sim-seed", "9" * 400, "--out", "{d}/s"], "--sim-seed"),
    ("simulate-rate-zero", ["simulate", "mark10", "--rate", "0"], "rate"),
    ("simulate-channels-huge", ["simulate", "sfp", "--channels", "9" * 400], "channels"),
    ("devices-timeout-nan", ["devices", "--probe", "--timeout", "nan"], "--timeout"),
    ("devices-port-a-file", ["devices", "--probe", "--port", "{d}/notes.txt"], "notes.txt"),
    ("calibrate-readings-negative", ["calibrate", "--device", SIM, "--channel", "0", "--loads", "0,5,10,20,40",
                                     "--readings-s", "-1", "--calibration-dir", "{d}/cal"], "--readings-s"),
    ("calibrate-channel-huge", ["calibrate", "--device", SIM, "--channel", "9" * 400, "--loads", "0,5,10,20,40",
                                "--calibration-dir", "{d}/cal"], "--channel"),
    ("analyze-rate-negative", ["analyze", "--test", "isometric", "--rate", "-100", "{d}/exists.csv"], "--rate"),
    # patient ids that are paths
    ("demo-patient-absolute", ["demo", "--patient", "/tmp/evil", "--out", "{d}/s"], "/tmp/evil"),
    ("session-patient-dotdot", [*SESSION[:5], "../evil", *SESSION[6:], "--out", "{d}/s"], "../evil"),
    ("history-patient-absolute", ["history", "/etc/passwd", "--dir", "{d}"], "/etc/passwd"),
    ("export-patient-absolute", ["export", "--patient", "/tmp/evil", "--dir", "{d}", "--csv", "{d}/p.csv"],
     "/tmp/evil"),
    # device URIs and ports
    ("acquire-unknown-uri", ["acquire", "--device", "nope:/dev/x", "--seconds", "1", "--out", "{d}/a.h5"], "nope:"),
    ("acquire-port-missing", ["acquire", "--device", "mark10:/dev/definitely-missing", "--seconds", "1",
                              "--out", "{d}/a.h5"], "/dev/definitely-missing"),
    ("session-bad-device-option", [*SESSION[:11], "sim:mark10?rate=abc", *SESSION[12:], "--out", "{d}/s"],
     "rate"),
]


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "w"
    d.mkdir()
    (d / "notes.txt").write_text("notes\n")
    (d / "damaged.h5").write_bytes(b"this is not HDF5 at all\n" * 20)
    (d / "empty.h5").write_bytes(b"")
    (d / "exists.json").write_text("{}\n")
    (d / "exists.csv").write_text("t,force\n0,1\n")
    (d / "bad.toml").write_text("id = [unclosed\n")
    ro = d / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0:  # root writes through permission bits: make it immutable if we can
        subprocess.run(["chattr", "+i", str(ro)], capture_output=True)
    yield d
    subprocess.run(["chattr", "-i", str(ro)], capture_output=True)
    ro.chmod(stat.S_IRWXU)


def _writable(path: Path) -> bool:
    try:
        (path / ".probe").write_bytes(b"")
    except OSError:
        return False
    (path / ".probe").unlink()
    return True


@pytest.mark.parametrize(("argv", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(folder: Path, capsys, monkeypatch, argv: list[str],
                                                   names: str) -> None:
    if any("{d}/ro" in a for a in argv) and _writable(folder / "ro"):
        pytest.skip("cannot make a read-only folder here")
    monkeypatch.setenv("XDG_DATA_HOME", str(folder / "xdg"))  # the user data folder: inside the watched tree
    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(folder / "cal"))
    args = [a.replace("{d}", str(folder)) for a in argv]
    names = names.replace("{d}", str(folder))
    before = tree(folder)
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    assert code not in (0, None), f"accepted: {args}\n{out}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{args}: expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("station") and "error" in lines[0], lines[0]
    assert names in lines[0], f"{names!r} not named in: {lines[0]}"
    assert tree(folder) == before, f"{args} changed files under {folder}"
