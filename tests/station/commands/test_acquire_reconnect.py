"""``station acquire`` with a cable pulled mid-recording (issue 13): the samples so far are
kept, the terminal says which device it waits for, the device's reader reconnects it once the
port is back (the same reader thread and reconnect as a session) and recording goes on; the
file is readable and notes the outage. A device that never comes back ends the recording
with one warning line naming it and the file, status interrupted."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from simulation.forces import RepeatingEfforts
from simulation.mark10 import Mark10Simulator
from station.cli import main

pytestmark = pytest.mark.integration

RAW = "tests/01_acquire/trials/001/device1_mark10"


def wait_streaming(sim: Mark10Simulator, seconds: float) -> None:
    deadline = time.monotonic() + 60.0  # a condition, not a sleep: a busy machine starts slowly
    while not (sim.streaming and sim.stream_time_s() >= seconds) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_unplugged_then_plugged_back_recording_goes_on(tmp_path: Path, capsys) -> None:
    sim = Mark10Simulator(RepeatingEfforts(1), rate_hz=500)
    sim.start()
    node = tmp_path / "ttyUSB-gauge"  # the device node comes and goes with the cable, as /dev/ttyUSB0 does
    node.symlink_to(sim.port)
    replugged = threading.Event()

    def pull_and_replug() -> None:
        wait_streaming(sim, 0.8)
        node.unlink()
        sim.unplug()  # the real pty closes: the driver sees EIO, as with a pulled USB cable
        time.sleep(0.8)
        node.symlink_to(sim.replug())  # a new pty, found again under the same name
        replugged.set()

    threading.Thread(target=pull_and_replug, daemon=True).start()
    out = tmp_path / "replug.h5"
    try:
        assert main(["acquire", "--device", f"mark10:{node}", "--seconds", "3.5", "--out", str(out), "--json"]) == 0
    finally:
        sim.close()
    captured = capsys.readouterr()
    (rep,) = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
    assert replugged.is_set()
    err = captured.err.splitlines()
    assert sum("device1_mark10" in line and "disconnected: its samples so far are kept; waiting" in line
               for line in err) == 1, captured.err
    assert sum("device1_mark10" in line and " back after " in line and "recording goes on" in line
               for line in err) == 1, captured.err
    assert "Traceback" not in captured.err
    assert rep["status"] == "complete" and rep["reconnects"] == 1 and "reconnected" in rep["reason"]
    (outage,) = rep["outages_host_s"]
    assert 0.5 < outage[1] - outage[0] < 10.0
    assert rep["rate_hz"] == pytest.approx(500, rel=0.05)  # the outage is not counted as recording time
    with h5py.File(out, "r") as f:  # an ordinary closed file
        assert f.attrs["status"] == "complete"
        t = f[f"{RAW}/t_host_s"][:]
        assert t.size == rep["samples"] == rep["written"]
        before, after = t[t < outage[0]], t[t > outage[1]]
        assert before.size > 300 and after.size > 300  # ~0.8 s kept before the pull, and recording went on
        assert np.all(np.diff(t) > 0) and np.diff(t).max() > 0.5  # the outage is a gap in time, nothing overlaps
        trial = json.loads(f["tests/01_acquire/trials/001"].attrs["devices"])
        assert trial[0]["outages_host_s"] == rep["outages_host_s"]


def test_never_back_ends_with_one_warning_naming_device_and_file(tmp_path: Path, capsys) -> None:
    sim = Mark10Simulator(RepeatingEfforts(1), rate_hz=500)
    sim.start()
    node = tmp_path / "ttyUSB-gauge"
    node.symlink_to(sim.port)

    def pull() -> None:
        wait_streaming(sim, 0.5)
        node.unlink()
        sim.unplug()

    threading.Thread(target=pull, daemon=True).start()
    out = tmp_path / "gone.h5"
    try:
        assert main(["acquire", "--device", f"mark10:{node}", "--seconds", "2", "--out", str(out)]) == 0
    finally:
        sim.close()
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if "did not come back" in x]
    assert line.startswith("station acquire: warning: device1_mark10") and str(out) in line and "kept" in line
    assert "Traceback" not in err
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "interrupted" and f[f"{RAW}/raw"].shape[0] > 200
