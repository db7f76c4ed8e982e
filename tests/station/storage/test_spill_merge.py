"""`station session recover` merges a full disk's spill file back into the session file
(issue 13): every sample in order, nothing doubled; refused in one line (both files untouched)
while there is no room, naming where the samples are and the command that merges them."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from station.cli import main
from station.storage import layout
from station.storage.writer import DiskFullError, SessionWriter
from writer_feed import feed, spec

ROOT = Path(__file__).resolve().parents[3]


def filled_session(tmp_path: Path) -> tuple[Path, Path]:
    """A session whose disk filled in trial 002 (an injected free-space probe), and its spill."""
    free = [10 ** 12]
    path, spill = tmp_path / "s.h5", tmp_path / "spill"
    w = SessionWriter(path, free_space=lambda _d: free[0], spill_dir=spill, flush_interval_s=0.02)
    w.create({"session_id": "full"}, {"patient_id": "F"})
    w.set_attrs("devices/dyn", {"unit": "N", "channels": 1})
    w.set_attrs("tests/01_t", {"status": layout.STATUS_RECORDING})
    w.begin_trial(spec("001"))
    feed(w, 0, 300)
    w.end_trial({"status": "complete"})
    w.begin_trial(spec("002"))
    feed(w, 0, 200)
    w.sync()
    free[0] = 1024
    feed(w, 200, 150)
    with pytest.raises(DiskFullError):
        w.sync()
    with contextlib.suppress(DiskFullError):
        w.end_trial({"status": "complete", "results": {"peak_force_n": 349.0}})
    w.close({"status": "complete"})
    return path, spill / "s.spill.h5"


def test_recover_merges_the_spill_file(tmp_path: Path, capsys) -> None:
    path, spill = filled_session(tmp_path)
    assert main(["session", "recover", str(path), "--spill-dir", str(spill.parent)]) == 0
    out = capsys.readouterr().out
    assert "merged 150 spilled sample(s)" in out and "01_t/trials/002: dyn +150" in out
    with h5py.File(path, "r") as f:
        t2 = f["tests/01_t/trials/002"]
        np.testing.assert_array_equal(t2["dyn/raw"][:, 0], np.arange(350.0))  # in order, nothing doubled
        np.testing.assert_array_equal(t2["dyn/force_n"][:, 0], 2 * np.arange(350.0))
        assert t2["dyn/t_device_s"].shape == (350,)
        assert json.loads(t2.attrs["samples"]) == {"dyn": 350}
        assert t2.attrs["status"] == "interrupted"  # the recording was stopped by the disk: never "complete"
        assert json.loads(t2.attrs["results"])["peak_force_n"] == 349.0  # held back, now written
        assert f["tests/01_t/trials/001/dyn/raw"].shape == (300, 1)
        assert f.attrs["status"] == "interrupted" and "spill_merged_utc" in f.attrs
    assert not spill.exists() and spill.with_name("s.spill.h5.merged").is_file()
    # a second run finds nothing more to merge
    assert main(["session", "recover", str(path), "--spill-dir", str(spill.parent)]) == 0
    assert "merged" not in capsys.readouterr().out


def test_no_room_refuses_in_one_line_and_changes_nothing(tmp_path: Path, capsys, monkeypatch) -> None:
    path, spill = filled_session(tmp_path)
    before = {p: p.read_bytes() for p in (path, spill)}
    import station.storage.spill_merge as sm
    monkeypatch.setattr(sm, "free_bytes", lambda _d: 1024)
    monkeypatch.setattr(sm.merge_spill, "__kwdefaults__", {"free_space": lambda _d: 1024})
    assert main(["session", "recover", str(path), "--spill-dir", str(spill.parent)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert str(spill) in err and f"station session recover {path} --spill-dir {spill.parent}" in err
    assert {p: p.read_bytes() for p in (path, spill)} == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.h5", "spill"]


def test_a_spill_of_another_file_is_refused(tmp_path: Path, capsys) -> None:
    path, spill = filled_session(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    moved = other / "s.h5"
    with h5py.File(moved, "w") as f:  # a different session that happens to have the same name
        f.attrs["format"], f.attrs["format_version"], f.attrs["status"] = layout.FORMAT, 1, "complete"
        f.create_group("tests")
    before = moved.read_bytes()
    assert main(["session", "recover", str(moved), "--spill-dir", str(spill.parent)]) == 2
    err = capsys.readouterr().err
    assert "nothing merged" in err and err.count("\n") == 1
    assert moved.read_bytes() == before and spill.is_file()


@pytest.mark.slow
@pytest.mark.integration
def test_real_tmpfs_fills_then_recover_merges_once_there_is_room(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out, spill = disk / "a.h5", tmp_path / "usb-stick"
        run = [sys.executable, "-m", "station.cli"]
        proc = subprocess.run([*run, "acquire", "--device", "sim:sfp?channels=8&rate=2000", "--seconds", "12",
                               "--out", str(out), "--spill-dir", str(spill), "--json"],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and "disk full" in proc.stderr, proc.stderr
        (rep,) = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        assert rep["spilled"] > 0
        # still full: refused in one line naming the spill file; nothing changed
        before = out.read_bytes()
        proc = subprocess.run([*run, "session", "recover", str(out), "--spill-dir", str(spill)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and str(spill / "a.spill.h5") in proc.stderr
        assert out.read_bytes() == before
        # room again (the disk grows, as when files are deleted): merged
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        proc = subprocess.run([*run, "session", "recover", str(out), "--spill-dir", str(spill)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "merged" in proc.stdout, proc.stderr
        with h5py.File(out, "r") as f:
            t = f["tests/01_acquire/trials/001/device1_sfp/t_device_s"][:]
        assert t.size == rep["samples"]
        np.testing.assert_allclose(np.diff(t), 1 / 2000, rtol=1e-6)  # every sample, in order
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
