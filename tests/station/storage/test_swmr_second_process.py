"""Another process reads the session file while a trial is being written (SWMR), and reads
it normally once the trial has ended (the file is closed between trials)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import h5py
import numpy as np

from station.storage.writer import SessionWriter, TrialDevice, TrialSpec

DATASET = "tests/01_t/trials/001/dyn"

READER = textwrap.dedent("""
    import json, sys, time
    import h5py, numpy as np
    path, seconds = sys.argv[1], float(sys.argv[2])
    try:
        h5py.File(path, "r").close()
        print(json.dumps({"plain": "opened"}), flush=True)
    except OSError as exc:
        print(json.dumps({"plain": str(exc)}), flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with h5py.File(path, "r", swmr=True) as f:
            g = f["%s"]
            n = g["t_host_s"].shape[0]
            raw = g["raw"][:n, 0]
            t = g["t_host_s"][:n]
            ok = bool(np.array_equal(raw, np.arange(n)) and np.all(np.diff(t) > 0))
        print(json.dumps({"n": int(n), "ok": ok, "at": time.monotonic()}), flush=True)
        time.sleep(0.1)
""" % DATASET)


def test_second_process_sees_the_trial_grow(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    w = SessionWriter(path)
    w.create({"session_id": "swmr"}, {"patient_id": "S"})
    w.begin_trial(TrialSpec("01_t", "001", {"dyn": TrialDevice(1, False)}, {"side": "left"}))
    w.sync()
    stop = threading.Event()
    written = [0]

    def feeder() -> None:  # 1000 samples/s in blocks of 10, like a reader thread
        i = 0
        while not stop.is_set():
            k = np.arange(i, i + 10, dtype=float)
            w.append("dyn", time.monotonic() + k * 1e-6, k[:, None], k[:, None] * 0.5)
            i += 10
            written[0] = i
            time.sleep(0.01)

    thread = threading.Thread(target=feeder)
    thread.start()
    try:
        proc = subprocess.run([sys.executable, "-c", READER, str(path), "2.0"],
                              capture_output=True, text=True, timeout=60)
    finally:
        stop.set()
        thread.join()
    w.end_trial({"status": "complete"})
    w.close({"status": "complete"})
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert "already open for write" in lines[0]["plain"]  # without swmr=True HDF5 refuses it
    polls = lines[1:]
    counts = [p["n"] for p in polls]
    assert all(p["ok"] for p in polls), polls
    assert counts == sorted(counts) and len(set(counts)) >= 4, counts
    assert counts[-1] - counts[0] > 1000  # ~2 s at 1000 samples/s, flushed every 0.25 s
    assert counts[-1] <= written[0]

    # between trials the file is closed: a plain read in another process sees everything
    proc = subprocess.run(
        [sys.executable, "-c", f"import h5py; f = h5py.File({str(path)!r}, 'r'); "
                               f"print(f['{DATASET}/t_host_s'].shape[0], f.attrs['status'])"],
        capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [str(written[0]), "complete"]
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f[f"{DATASET}/raw"][:, 0], np.arange(written[0], dtype=float))
