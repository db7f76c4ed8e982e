"""find_unfinished / recover on files left by a writer process that was SIGKILLed, and on
hand-made damaged or foreign files."""
from __future__ import annotations

import hashlib
import json
import os
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

from station.storage import layout
from station.storage.recovery import RecoveryError, find_unfinished, is_unfinished, recover
from station.storage.writer import SessionWriter

WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    from station.storage.writer import SessionWriter, TrialDevice, TrialSpec
    path, mode = sys.argv[1], sys.argv[2]
    w = SessionWriter(path)
    w.create({"session_id": "k"}, {"patient_id": "K"})
    w.set_attrs("devices/dyn", {"unit": "N", "channels": 1})
    w.set_attrs("tests/01_t", {"status": "recording", "protocol_id": "t"})
    spec = lambda n: TrialSpec("01_t", n, {"dyn": TrialDevice(1, False)}, {"side": "left"})
    def feed(start, n):
        for i in range(start, start + n, 10):
            k = np.arange(i, i + 10, dtype=float)
            w.append("dyn", time.monotonic() + 0 * k, k[:, None], k[:, None])
            time.sleep(0.005)
    w.begin_trial(spec("001")); feed(0, 300)
    w.end_trial({"status": "complete", "results": {"peak_force_n": 299.0}, "peak_force_n": 299.0})
    w.sync()
    if mode == "between":
        print("ready", flush=True)
        time.sleep(60)
    w.begin_trial(spec("002")); feed(0, 200); w.sync()
    print("ready", flush=True)
    i = 200
    while True:
        feed(i, 10); i += 10
""")


def killed_writer(path: Path, mode: str) -> float:
    """Run the writer, SIGKILL it once ready (+0.6 s of samples in 'during'); returns kill time."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.6 if mode == "during" else 0.1)
        killed = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return killed


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_killed_during_a_trial(tmp_path: Path) -> None:
    path = tmp_path / "k.h5"
    killed = killed_writer(path, "during")
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r")  # the superblock still says "open for SWMR write"
    assert find_unfinished(tmp_path) == [path]
    with h5py.File(path, "r", swmr=True) as f:
        before = f["tests/01_t/trials/001/dyn/raw"][:]
        n_live = f["tests/01_t/trials/002/dyn/t_host_s"].shape[0]
    report = recover(path)
    assert report.recovered and report.swmr_flagged and report.previous_status == "recording"
    assert report.interrupted_trials == ["/tests/01_t/trials/002"]
    assert report.interrupted_tests == ["/tests/01_t"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.h5"]  # no .unrecovered, no .recovering
    with h5py.File(path, "r") as f:  # plain open now works
        assert f.attrs["status"] == "interrupted"
        assert f.attrs["recovered_from_status"] == "recording"
        assert "recovered_utc" in f.attrs and "interrupted" in f.attrs["recovery"]
        t1 = f["tests/01_t/trials/001"]
        assert t1.attrs["status"] == "complete" and json.loads(t1.attrs["results"]) == {"peak_force_n": 299.0}
        np.testing.assert_array_equal(t1["dyn/raw"][:], before)
        t2 = f["tests/01_t/trials/002"]
        n = t2["dyn/t_host_s"].shape[0]
        assert t2.attrs["status"] == "interrupted" and bool(t2.attrs["recovered"])
        assert json.loads(t2.attrs["samples"]) == {"dyn": n} == report.samples["/tests/01_t/trials/002"]
        assert n == n_live >= 200
        np.testing.assert_array_equal(t2["dyn/raw"][:, 0], np.arange(n, dtype=float))
        assert killed - t2["dyn/t_host_s"][-1] < 0.5
        assert f["tests/01_t"].attrs["status"] == "interrupted"
        assert f["devices/dyn"].attrs["unit"] == "N"
    assert find_unfinished(tmp_path) == []
    again = recover(path)
    assert not again.recovered and "closed" in again.note
    if shutil.which("h5dump"):
        assert subprocess.run(["h5dump", "-H", str(path)], capture_output=True, timeout=60).returncode == 0


def test_killed_between_trials_keep_original(tmp_path: Path) -> None:
    path = tmp_path / "b.h5"
    killed_writer(path, "between")
    with h5py.File(path, "r") as f:  # closed between trials: opens, but still says recording
        assert f.attrs["status"] == "recording"
    digest = sha(path)
    assert is_unfinished(path)
    stale = tmp_path / "b.h5.recovering"
    stale.write_bytes(b"left by a recovery that was itself killed")
    report = recover(path, keep_original=True)
    assert report.recovered and not report.swmr_flagged and report.interrupted_trials == []
    assert report.backup == tmp_path / "b.h5.unrecovered" and sha(report.backup) == digest
    assert not stale.exists()
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "interrupted"
        assert f["tests/01_t/trials/001"].attrs["status"] == "complete"
        assert f["tests/01_t"].attrs["status"] == "interrupted"
    assert "no trial was being recorded" in "\n".join(report.lines())


def test_a_live_file_is_never_touched(tmp_path: Path) -> None:
    path = tmp_path / "live.h5"
    w = SessionWriter(path)
    w.create({"session_id": "l"}, {"patient_id": "L"})
    w.sync()
    try:
        with h5py.File(path, "r") as f:
            assert f.attrs["status"] == "recording"
        assert find_unfinished(tmp_path) == []
        with pytest.raises(RecoveryError, match="in use"):
            recover(path)
    finally:
        w.close()
    assert find_unfinished(tmp_path) == []  # closed: status complete


def _session_file(path: Path, status: str = "recording") -> None:
    with h5py.File(path, "w", libver=layout.LIBVER) as f:
        f.attrs.update({"format": layout.FORMAT, "format_version": layout.FORMAT_VERSION, "status": status})
        g = f.create_group("tests/01_t/trials/001/dyn")
        f["tests/01_t/trials/001"].attrs["status"] = "recording"
        nan = float("nan")
        g.create_dataset("t_host_s", data=np.r_[np.arange(1.0, 10.0), nan], maxshape=(None,), chunks=(4,),
                         fillvalue=nan)  # 10 rows, the last never written
        g.create_dataset("raw", data=np.arange(12.0)[:, None], maxshape=(None, 1), chunks=(4, 1), fillvalue=nan)
        g.create_dataset("force_n", data=np.arange(11.0)[:, None], maxshape=(None, 1), chunks=(4, 1), fillvalue=nan)


def test_uneven_and_unwritten_rows_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "u.h5"
    _session_file(path)
    report = recover(path)
    assert report.dropped_rows == {"/tests/01_t/trials/001/dyn": 1}
    with h5py.File(path, "r") as f:
        g = f["tests/01_t/trials/001/dyn"]
        assert {k: d.shape[0] for k, d in g.items()} == {"t_host_s": 9, "raw": 9, "force_n": 9}
        np.testing.assert_array_equal(g["raw"][:, 0], np.arange(9.0))
        assert json.loads(f["tests/01_t/trials/001"].attrs["samples"]) == {"dyn": 9}


def test_files_that_cannot_be_recovered(tmp_path: Path) -> None:
    empty = tmp_path / "a_empty.h5"
    empty.write_bytes(b"")
    foreign = tmp_path / "b_foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    complete = tmp_path / "c_complete.h5"
    _session_file(complete, status="complete")
    truncated = tmp_path / "d_truncated.h5"
    _session_file(truncated)
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    # unreadable .h5 files are listed (they may be a crashed station's), foreign and closed ones not
    assert find_unfinished(tmp_path) == [empty, truncated]
    assert find_unfinished(tmp_path / "missing") == []
    with pytest.raises(RecoveryError, match="empty file"):
        recover(empty)
    with pytest.raises(RecoveryError, match="truncated"):
        recover(truncated)
    with pytest.raises(RecoveryError, match="not a Force Station session file"):
        recover(foreign)
    digest = sha(complete)
    report = recover(complete)
    assert not report.recovered and sha(complete) == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == [empty.name, foreign.name, complete.name, truncated.name]


def test_a_file_that_is_not_hdf5_is_not_offered_for_recovery(tmp_path: Path) -> None:
    """A text file named .h5 (another station's name collision, another program) was listed as
    "unfinished session file (a station stopped while recording it)" at every session start."""
    text = tmp_path / "P-1_20261205T101500Z_12345678.h5"
    text.write_bytes(b"OTHER STATION'S DATA " * 100)
    unfinished = tmp_path / "P-1_b.h5"
    _session_file(unfinished)
    assert find_unfinished(tmp_path) == [unfinished]
    assert not is_unfinished(text)
