"""A writer flooded beyond its speed (issue 17): the queue stays bounded in rows and in
seconds, the user gets a warning, and the counts say honestly what reached the disk."""
from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np

from station.cli import main
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec


class SlowDiskWriter(SessionWriter):
    """A writer on a disk that takes 0.15 s for every write (a slow USB stick)."""

    def _write_batch(self) -> None:
        if self._batch_rows:
            time.sleep(0.15)
        super()._write_batch()


def test_flood_is_bounded_warned_and_counted(tmp_path: Path, capsys) -> None:
    path = tmp_path / "flood.h5"
    warnings: list[str] = []
    w = SlowDiskWriter(path, flush_interval_s=0.05, batch_rows=2000, max_queue_s=0.3, max_queue_rows=20000,
                       on_warning=warnings.append)
    w.create({"session_id": "flood"}, {"patient_id": "F"})
    w.set_attrs("devices/plate", {"unit": "counts", "channels": 8})
    w.begin_trial(TrialSpec("01_t", "001", {"plate": TrialDevice(8, True, 20000.0)}, {"side": "both"}))
    peak_rows, peak_age = 0, 0.0
    n, block = 0, 200
    end = time.monotonic() + 2.0
    while time.monotonic() < end:  # 200-row blocks as fast as we can: far beyond 2000 rows / 0.15 s
        k = np.arange(n, n + block, dtype=float)
        w.append("plate", 1000.0 + k / 20000, np.repeat(k[:, None], 8, axis=1), np.zeros((block, 8)), k / 20000)
        n += block
        rows, age = w.queued()
        peak_rows, peak_age = max(peak_rows, rows), max(peak_age, age)
        time.sleep(0.001)
    w.end_trial({"status": "complete"})
    w.close()

    c = w.counts["plate"]
    assert c.acquired == n
    assert c.dropped > 0 and c.written > 0
    assert c.acquired == c.written + c.dropped and c.not_written == c.dropped  # nothing unaccounted for
    assert peak_rows <= 20000 and w.peak_queue_rows <= 20000  # bounded in rows
    assert peak_age <= 0.3 + 0.2  # and in seconds (plus one slow write)
    assert warnings and "cannot keep up" in warnings[0] and "flood.h5" in warnings[0]
    with h5py.File(path, "r") as f:
        trial = f["tests/01_t/trials/001"]
        raw = trial["plate/raw"][:, 0]
        assert raw.size == c.written == json.loads(trial.attrs["samples"])["plate"]
        assert json.loads(trial.attrs["samples_acquired"])["plate"] == n
        assert np.all(np.diff(raw) > 0) and np.all(np.isfinite(raw))  # what is there is in order
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "written" in out and f"{c.dropped} of {n} acquired samples not written" in out


def test_a_writer_that_keeps_up_drops_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ok.h5"
    w = SessionWriter(path)
    w.create({}, {})
    w.begin_trial(TrialSpec("01_t", "001", {"plate": TrialDevice(8, True, 2000.0)}, {}))
    for i in range(0, 4000, 20):  # 2 s at 2 kHz, in one go
        k = np.arange(i, i + 20, dtype=float)
        w.append("plate", k / 2000, np.repeat(k[:, None], 8, axis=1), np.zeros((20, 8)), k / 2000)
    w.end_trial({"status": "complete"})
    w.close()
    c = w.counts["plate"]
    assert (c.acquired, c.written, c.dropped) == (4000, 4000, 0) and not w.warnings
    with h5py.File(path, "r") as f:
        ds = f["tests/01_t/trials/001/plate/raw"]
        assert ds.chunks == (1024, 8)  # about 0.5 s at 2 kHz
        np.testing.assert_array_equal(ds[:, 3], np.arange(4000.0))


class StoppedWriter(SessionWriter):
    """A writer whose thread does not take appended blocks until ``gate`` is set, as when the
    whole process is stopped (SIGSTOP, a frozen PC) with blocks queued."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        import threading

        self.gate = threading.Event()

    def _take_appends(self) -> None:
        self.gate.wait(10)
        super()._take_appends()


def test_blocks_right_after_a_stall_of_the_process_are_not_dropped(tmp_path: Path) -> None:
    path = tmp_path / "stall.h5"
    w = StoppedWriter(path, max_queue_s=0.5)
    w.create({}, {})
    w.begin_trial(TrialSpec("01_t", "001", {"plate": TrialDevice(4, True, 2000.0)}, {}))
    k = np.arange(0, 20, dtype=float)
    w.append("plate", k / 2000, np.repeat(k[:, None], 4, axis=1), np.zeros((20, 4)), k / 2000)
    time.sleep(0.8)  # the process "stops": no appends, the writer takes nothing (longer than max_queue_s)
    k = np.arange(20, 40, dtype=float)
    w.append("plate", k / 2000, np.repeat(k[:, None], 4, axis=1), np.zeros((20, 4)), k / 2000)
    w.gate.set()
    w.end_trial({"status": "complete"})
    w.close()
    c = w.counts["plate"]
    assert (c.acquired, c.written, c.dropped) == (40, 40, 0) and not w.warnings
    with h5py.File(path, "r") as f:
        np.testing.assert_array_equal(f["tests/01_t/trials/001/plate/raw"][:, 0], np.arange(40.0))
