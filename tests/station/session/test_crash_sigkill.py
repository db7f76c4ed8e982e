"""A station process SIGKILLed during a trial: the file is found, recovered, and keeps every
earlier trial and all but at most 0.5 s of the trial that was being recorded."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from station.cli import main
from station.storage.recovery import find_unfinished, recover

#: a real session process killed: real pty, real time
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
TRIALS = "tests/01_hip-abduction-hhd/trials"

SESSION = textwrap.dedent("""
    import dataclasses, sys
    from pathlib import Path
    from protocols import get_protocol
    from station.session.model import Patient
    from station.session.run import run_session
    from station.session.runner import RunnerOptions, replace_timing
    from station.session.setup import DeviceArg
    from station.session.terminal import TerminalUI
    p = replace_timing(get_protocol("hip-abduction-hhd"), countdown_s=0.3, duration_s=3.0, rest_s=0.2)
    p = dataclasses.replace(p, reps=2)
    run_session(protocols=[p], device_args=[DeviceArg(("dynamometer",), "sim:mark10?rate=500")],
                patient=Patient("CRASH-1", body_mass_kg=70.0, involved_side="right", lever_arm_m=0.8),
                out_dir=Path(sys.argv[1]), ui=TerminalUI(interactive=False), options=RunnerOptions(tail_s=0.3),
                auto=True)
""")


def live_trial_span(path: Path, trial: str) -> float:
    """Seconds of samples in ``trial`` while it is being recorded (0 if not yet/not readable)."""
    try:
        with h5py.File(path, "r", swmr=True, locking=False) as f:
            g = f.get(f"{TRIALS}/{trial}")
            if g is None or g.attrs.get("status") != "recording":
                return 0.0
            t = g["dynamometer/t_host_s"]
            n = t.shape[0]
            return float(t[n - 1] - t[0]) if n > 1 else 0.0
    except (OSError, KeyError, RuntimeError):
        return 0.0  # between trials the writer rewrites the file; poll again


def test_sigkill_during_a_trial(tmp_path: Path) -> None:
    out = tmp_path / "sessions"
    proc = subprocess.Popen([sys.executable, "-c", SESSION, str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        path = None
        while time.monotonic() < deadline and proc.poll() is None:
            files = list(out.glob("*.h5")) if out.exists() else []
            if files and live_trial_span(files[0], "002") > 1.2:
                path = files[0]
                break
            time.sleep(0.05)
        assert path is not None, "trial 002 never got going"
        # the poll just saw a flush; kill at a random phase of the 0.25 s flush cycle
        time.sleep(random.uniform(0.0, 0.25))
        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err

    assert find_unfinished(out) == [path]
    with pytest.raises(OSError):
        h5py.File(path, "r")  # flagged "open for SWMR write" until recovered
    with h5py.File(path, "r", swmr=True) as f:
        first = f[f"{TRIALS}/001/dynamometer/force_n"][:]
        first_results = json.loads(f[f"{TRIALS}/001"].attrs["results"])

    report = recover(path)
    assert report.interrupted_trials == [f"/{TRIALS}/002"]
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "interrupted" and "recovered_utc" in f.attrs
        t1 = f[f"{TRIALS}/001"]
        assert t1.attrs["status"] == "complete"
        np.testing.assert_array_equal(t1["dynamometer/force_n"][:], first)
        assert json.loads(t1.attrs["results"]) == first_results and first_results["peak_force_n"] > 100
        t2 = f[f"{TRIALS}/002"]
        assert t2.attrs["status"] == "interrupted"
        t = t2["dynamometer/t_host_s"][:]
        assert json.loads(t2.attrs["samples"]) == {"dynamometer": t.size}
        assert np.all(np.diff(t) > 0) and np.all(np.isfinite(t2["dynamometer/force_n"][:]))
        lost_s = killed_at - t[-1]
        print(f"\nSIGKILL: samples lost at the end of the trial: {lost_s:.3f} s")
        assert 0 <= lost_s <= 0.5
        assert t[-1] - t[0] > 1.2
    assert main(["inspect", str(path)]) == 0
    if shutil.which("h5dump"):
        assert subprocess.run(["h5dump", "-H", str(path)], capture_output=True, timeout=60).returncode == 0
