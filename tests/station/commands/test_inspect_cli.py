"""``station inspect``: summaries, not-complete trials, unfinished files, one-line errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from station.cli import main
from station.storage import layout
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec


def write_session(path: Path, trial_statuses: list[str], root_status: str = "complete") -> None:
    """A small session file written by the real writer (no devices needed)."""
    w = SessionWriter(path)
    w.create({"session_id": "i", "algorithm_version": "1.0.0"},
             {"patient_id": "INS-1", "body_mass_kg": 81.0, "involved_side": "right", "operator": "OP"})
    w.set_attrs("devices/dynamometer", {"family": "mark10", "model": "M5-100", "serial": "S1", "firmware": "1",
                                        "channels": 1, "rate_hz": 500.0, "unit": "N", "time_source": "host",
                                        "uri": "sim:mark10"})
    w.set_attrs("tests/01_hip", {"protocol_id": "hip", "name": "Hip abduction", "kind": "isometric",
                                 "status": "recording"})
    for i, status in enumerate(trial_statuses, start=1):
        side = "left" if i % 2 else "right"
        w.begin_trial(TrialSpec("01_hip", f"{i:03d}", {"dynamometer": TrialDevice(1, False)},
                                {"side": side, "rep": (i + 1) // 2, "attempt": 1}))
        t = 100.0 + np.arange(1000) / 500
        force = 200.0 * np.clip(np.arange(1000) / 300, 0, 1)[:, None]
        w.append("dynamometer", t, force, force)
        w.end_trial({"status": status, "peak_force_n": 200.0 if status == "complete" else None,
                     "quality_flags": ["dynamometer disconnected: cable"] if status == "interrupted" else []})
    done = [s for s in trial_statuses if s == "complete"]
    summary = {"sides": {"left": {"best_n": 200.0, "mean_n": 200.0, "cv_pct": 0.0}},
               "symmetry": {"kind": "lsi", "value_pct": 85.0, "passed": False, "parameters": {"pass_pct": 90.0}}}
    w.set_attrs("tests/01_hip", {"status": root_status, "summary": summary if done else {}})
    w.close({"status": root_status})


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["inspect", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(capsys, *argv: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("station: error: "), err
    return lines[0]


def test_complete_session(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.h5"
    write_session(path, ["complete", "complete"])
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "status complete" in out and "patient INS-1" in out and "body mass 81.0 kg" in out
    assert "device dynamometer: mark10 M5-100" in out and "LSI 85.0 %" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("001", "002"))]
    assert [r[:4] for r in rows] == [["001", "left", "1", "complete"], ["002", "right", "1", "complete"]]
    assert all(r[5] == "1000" for r in rows)  # samples
    assert "did not end normally" not in out
    code, out, _ = run(capsys, str(path), "--json")
    info = json.loads(out)
    assert info["status"] == "complete" and not info["unfinished"] and not info["recording_now"]
    assert [t["samples"] for t in info["tests"][0]["trials"]] == [{"dynamometer": 1000}] * 2
    assert info["tests"][0]["trials"][0]["duration_s"] == pytest.approx(999 / 500)


def test_aborted_and_interrupted_trials_stand_out(tmp_path: Path, capsys) -> None:
    path = tmp_path / "a.h5"
    write_session(path, ["complete", "interrupted", "aborted"], root_status="aborted")
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "status aborted — the session was stopped before its end" in out
    assert "⚠ interrupted" in out and "⚠ aborted" in out
    tail = out[out.index("trials that did not end normally"):]
    assert "01_hip/002: interrupted" in tail and "01_hip/003: aborted" in tail
    assert "dynamometer disconnected: cable" in out


def _flagged_file(path: Path) -> None:
    """A writer killed with SIGKILL in the middle of a trial."""
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        from station.storage.writer import SessionWriter, TrialDevice, TrialSpec
        w = SessionWriter({str(path)!r})
        w.create({{"session_id": "k"}}, {{"patient_id": "K"}})
        w.begin_trial(TrialSpec("01_t", "001", {{"dyn": TrialDevice(1, False)}}, {{"side": "left"}}))
        w.append("dyn", np.arange(100.0), np.ones((100, 1)), np.ones((100, 1)))
        w.sync(); time.sleep(0.4)
        print("ready", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def test_unfinished_session_gets_a_recover_hint(tmp_path: Path, capsys) -> None:
    path = tmp_path / "crashed.h5"
    _flagged_file(path)
    with pytest.raises(OSError):
        h5py.File(path, "r")
    code, out, _ = run(capsys, str(path))
    assert code == 0
    assert "UNFINISHED" in out and f"station session recover {path}" in out
    assert "⚠ recording" in out
    code, out, _ = run(capsys, str(path), "--json")
    info = json.loads(out)
    assert info["unfinished"] and info["swmr_flagged"] and not info["recording_now"]
    assert info["tests"][0]["trials"][0]["samples"] == {"dyn": 100}
    assert main(["session", "recover", str(path)]) == 0
    capsys.readouterr()
    code, out, _ = run(capsys, str(path))
    assert "status interrupted — recovered" in out and "UNFINISHED" not in out


def test_file_being_recorded(tmp_path: Path, capsys) -> None:
    path = tmp_path / "live.h5"
    w = SessionWriter(path)
    w.create({"session_id": "l"}, {"patient_id": "L"})
    w.sync()
    try:
        code, out, _ = run(capsys, str(path))
    finally:
        w.close()
    assert code == 0 and "a station is writing this file now" in out and "UNFINISHED" not in out


def test_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert "no such file" in one_line_error(capsys, str(tmp_path / "missing.h5"))
    assert "is a directory" in one_line_error(capsys, str(tmp_path))
    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    assert "empty file (0 bytes)" in one_line_error(capsys, str(empty))
    text = tmp_path / "notes.h5"
    text.write_text("patient notes, not HDF5\n" * 20)
    assert "not an HDF5 file" in one_line_error(capsys, str(text))
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["data"] = np.arange(10)
    assert "not a Force Station session file" in one_line_error(capsys, str(foreign))
    good = tmp_path / "good.h5"
    write_session(good, ["complete"])
    truncated = tmp_path / "truncated.h5"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    line = one_line_error(capsys, str(truncated))
    assert "truncated HDF5 file" in line and f"{len(data) // 3} of {len(data)} bytes" in line
    newer = tmp_path / "newer.h5"
    newer.write_bytes(data)
    with h5py.File(newer, "r+") as f:
        f.attrs["format_version"] = layout.FORMAT_VERSION + 1
    line = one_line_error(capsys, str(newer))
    assert f"format version {layout.FORMAT_VERSION + 1} is newer" in line and "update Force Station" in line


def test_inspect_shows_what_a_reading_only_gauge_did_not_identify(tmp_path: Path, capsys) -> None:
    """Issue 12: a Mark-10 that answers only ? (Series 4, older firmware) is recorded by the real
    acquire path; inspect (text and JSON) says what was not identified and the driver's notes."""
    out = tmp_path / "r.h5"
    assert main(["acquire", "--device", "sim:mark10?commands=reading", "--seconds", "0.5", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["inspect", "--json", str(out)]) == 0
    (device,) = json.loads(capsys.readouterr().out)["devices"].values()
    assert {"model", "serial", "firmware"} <= set(device["not_identified"])
    assert any("polled with ?" in w for w in device["warnings"])
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "not identified: firmware, model, serial" in text and "device note: polled with ?" in text
