"""``station acquire``: multi-device recording, JSON report, unplug, Ctrl-C keeps every sample."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from simulation.forces import RepeatingEfforts
from simulation.mark10 import Mark10Simulator
from station.cli import main


def reports(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_two_devices_at_once_json_and_file(tmp_path: Path, capsys) -> None:
    out = tmp_path / "raw.h5"
    assert main(["acquire", "--device", "sim:mark10?rate=1000", "--device", "sim:mark10?rate=250",
                 "--seconds", "1.5", "--out", str(out), "--json"]) == 0
    a, b = reports(capsys)
    for rep, nominal in ((a, 1000), (b, 250)):
        assert {"device", "samples", "channels", "rate_hz", "crc_errors", "resyncs", "gaps", "lost_samples",
                "status", "file"} <= rep.keys()
        assert rep["status"] == "complete" and rep["lost_samples"] == 0 and rep["file"] == str(out)
        assert rep["rate_hz"] == pytest.approx(nominal, rel=0.05)
        assert rep["samples"] == pytest.approx(1.5 * nominal, rel=0.15)
    with h5py.File(out, "r") as f:
        trial = f["tests/01_acquire/trials/001"]
        assert trial["device1_mark10/raw"].shape == (a["samples"], 1)
        assert trial["device2_mark10/raw"].shape == (b["samples"], 1)
        t = trial["device1_mark10/t_host_s"][:]
        assert np.all(np.diff(t) > 0)


def test_unplug_marks_interrupted_and_keeps_samples(tmp_path: Path, capsys) -> None:
    sim = Mark10Simulator(RepeatingEfforts(1), rate_hz=500)
    sim.start()
    # the gauge's device node vanishes with the cable, as /dev/ttyUSB0 does: the reader's
    # reconnect attempts cannot reach another test's simulator that reuses the freed pty number
    node = tmp_path / "ttyUSB-gauge"
    node.symlink_to(sim.port)

    def pull_cable() -> None:  # 0.8 s into the stream (a condition: a busy machine starts slowly)
        deadline = time.monotonic() + 60.0
        while not (sim.streaming and sim.stream_time_s() >= 0.8) and time.monotonic() < deadline:
            time.sleep(0.01)
        node.unlink()
        sim.unplug()

    timer = threading.Thread(target=pull_cable, daemon=True)
    timer.start()
    out = tmp_path / "unplug.h5"
    try:
        assert main(["acquire", "--device", f"mark10:{node}", "--seconds", "2", "--out", str(out), "--json"]) == 0
    finally:
        sim.close()
    (rep,) = reports(capsys)
    assert rep["status"] == "interrupted" and "disconnected" in rep["reason"]
    assert 300 < rep["samples"] < 500  # ~0.8 s at 500 Hz were kept
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "interrupted"
        assert f["tests/01_acquire/trials/001/device1_mark10/raw"].shape[0] == rep["samples"]


def samples_in(path: Path, dataset: str) -> int:
    """Rows of ``dataset`` in a file another process is writing (0 while it is not there yet)."""
    try:
        with h5py.File(path, "r", swmr=True) as f:
            return int(f[dataset].shape[0]) if dataset in f else 0
    except (OSError, KeyError):
        return 0


def test_ctrl_c_ends_cleanly_keeping_every_sample(tmp_path: Path) -> None:
    out = tmp_path / "ctrlc.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "station.cli", "acquire", "--device", "sim:mark10?rate=500", "--seconds", "60",
         "--out", str(out), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        # a test run in the background inherits SIGINT ignored; a terminal's Ctrl-C is not
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Ctrl-C once the file holds more than 300 samples (a condition, not a sleep: a busy
    # machine may take seconds to start the process), read as a second process would (SWMR)
    dataset = "tests/01_acquire/trials/001/device1_mark10/raw"
    deadline = time.monotonic() + 60.0
    while samples_in(out, dataset) <= 300:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    (rep,) = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert rep["samples"] > 300
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "aborted"
        assert f["tests/01_acquire/trials/001/device1_mark10/raw"].shape[0] == rep["samples"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--device", "nope:/dev/x", "--seconds", "1"], "unknown device URI"),
    (["--device", "mark10:/dev/definitely-missing", "--seconds", "1"], "port not found"),
    (["--device", "sim:mark10", "--seconds", "0"], "--seconds 0"),
])
def test_errors_are_one_line(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    assert main(["acquire", *argv, "--out", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
