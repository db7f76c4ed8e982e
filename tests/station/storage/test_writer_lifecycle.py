"""SessionWriter behaviour around trials and endings, with synthetic samples (no devices)."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np

from station.storage import layout
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec, is_in_use

SPEC = TrialSpec("01_t", "001", {"dyn": TrialDevice(1, False)}, {"side": "left", "rep": 1, "attempt": 1})


def started(path: Path) -> SessionWriter:
    w = SessionWriter(path)
    w.create({"session_id": "w"}, {"patient_id": "W"})
    w.set_attrs("devices/dyn", {"unit": "N", "channels": 1})
    w.set_attrs("tests/01_t", {"status": layout.STATUS_RECORDING})
    return w


def feed(w: SessionWriter, n: int, start: int = 0) -> None:
    for i in range(start, start + n, 10):
        k = np.arange(i, i + 10, dtype=float)
        w.append("dyn", 1000.0 + k / 100, k[:, None], 2 * k[:, None])


def test_close_with_aborted_marks_the_open_trial_and_test(tmp_path: Path) -> None:
    path = tmp_path / "a.h5"
    w = started(path)
    w.begin_trial(SPEC)
    feed(w, 200)
    w.close({"status": layout.STATUS_ABORTED})
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "aborted" and "closed_utc" in f.attrs
        trial = f["tests/01_t/trials/001"]
        assert trial.attrs["status"] == "aborted"
        assert json.loads(trial.attrs["samples"]) == {"dyn": 200}
        assert f["tests/01_t"].attrs["status"] == "aborted"
        np.testing.assert_array_equal(trial["dyn/raw"][:, 0], np.arange(200.0))


def test_close_on_error_marks_interrupted_and_default_is_complete(tmp_path: Path) -> None:
    w = started(tmp_path / "i.h5")
    w.begin_trial(SPEC)
    feed(w, 20)
    w.close({"status": layout.STATUS_INTERRUPTED})
    with h5py.File(tmp_path / "i.h5", "r") as f:
        assert f["tests/01_t/trials/001"].attrs["status"] == "interrupted"
        assert f["tests/01_t"].attrs["status"] == "interrupted"
    w = started(tmp_path / "c.h5")
    w.close()
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert f.attrs["status"] == "complete"


def test_attributes_set_during_a_trial_wait_for_its_end(tmp_path: Path) -> None:
    path = tmp_path / "p.h5"
    w = started(path)
    w.begin_trial(SPEC)
    feed(w, 50)
    w.set_attrs("tests/01_t", {"note": "during"})  # SWMR mode cannot take attributes now
    feed(w, 50, start=50)
    w.end_trial({"status": "complete"})
    w.close({"status": "complete"})
    with h5py.File(path, "r") as f:
        assert f["tests/01_t"].attrs["note"] == "during"
        assert f["tests/01_t/trials/001/dyn/t_host_s"].shape == (100,)  # the trial went on


def test_raw_gets_the_device_unit(tmp_path: Path) -> None:
    path = tmp_path / "u.h5"
    w = SessionWriter(path)
    w.create({}, {})
    w.set_attrs("devices/plate", {"unit": "counts"})
    w.begin_trial(TrialSpec("01_t", "001", {"plate": TrialDevice(4, True)}, {}))
    w.end_trial({"status": "complete"})
    w.close()
    with h5py.File(path, "r") as f:
        g = f["tests/01_t/trials/001/plate"]
        assert g["raw"].attrs["unit"] == "counts" and g["force_n"].attrs["unit"] == "N"
        assert g["t_device_s"].attrs["unit"] == "s" and g["raw"].shape == (0, 4)


def test_a_live_writer_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "l.h5"
    w = started(path)
    w.sync()
    assert is_in_use(path)
    w.close()
    assert not is_in_use(path)
    assert not is_in_use(tmp_path / "missing.h5")


def test_a_program_that_never_closes_still_leaves_a_closed_file(tmp_path: Path) -> None:
    path = tmp_path / "orphan.h5"
    script = textwrap.dedent(f"""
        import numpy as np
        from station.storage.writer import SessionWriter, TrialDevice, TrialSpec
        w = SessionWriter({str(path)!r})
        w.create({{}}, {{"patient_id": "O"}})
        w.begin_trial(TrialSpec("01_t", "001", {{"dyn": TrialDevice(1, False)}}, {{"side": "left"}}))
        w.append("dyn", np.arange(5.0), np.ones((5, 1)), np.ones((5, 1)))
        raise SystemExit(3)  # no close(): e.g. a second Ctrl-C during clean-up
    """)
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 3, proc.stderr
    assert time.monotonic() - t0 < 15
    with h5py.File(path, "r") as f:  # opens normally: not left in SWMR mode
        assert f.attrs["status"] == "interrupted" and "close_note" in f.attrs
        trial = f["tests/01_t/trials/001"]
        assert trial.attrs["status"] == "interrupted"
        assert json.loads(trial.attrs["samples"]) == {"dyn": 5}
