"""A disk that fills during recording (issue 15, part 1): recording stops while the file can
still be closed, earlier trials stay readable, the samples that did not fit go to a spill file,
the user gets one line, and nothing crashes.

Two layers: an injected free-space probe (always runs, no real time to speak of), and a real
small tmpfs (needs root to mount; skipped with the reason otherwise)."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest

from station.storage import layout
from station.storage.recovery import find_unfinished, recover
from station.storage.writer import DiskFullError, SessionWriter
from writer_feed import feed, spec

ROOT = Path(__file__).resolve().parents[3]


class FakeDisk:
    """A free-space probe the test turns down: bytes free, whatever the directory."""

    def __init__(self) -> None:
        self.free = 10 ** 12
        self.asked = 0

    def __call__(self, directory: Path) -> int:
        self.asked += 1
        return self.free


def started(path: Path, disk: FakeDisk, spill: Path) -> SessionWriter:
    w = SessionWriter(path, free_space=disk, spill_dir=spill, flush_interval_s=0.02)
    w.create({"session_id": "full"}, {"patient_id": "F"})
    w.set_attrs("devices/dyn", {"unit": "N", "channels": 1})
    w.set_attrs("tests/01_t", {"status": layout.STATUS_RECORDING})
    return w


def test_fake_probe_full_disk_stops_cleanly_and_spills(tmp_path: Path) -> None:
    disk, spill, path = FakeDisk(), tmp_path / "spill", tmp_path / "s.h5"
    w = started(path, disk, spill)
    w.begin_trial(spec("001"))
    feed(w, 0, 300)
    w.end_trial({"status": "complete", "results": {"peak_force_n": 299.0}})
    w.begin_trial(spec("002"))
    feed(w, 0, 200)
    w.sync()
    asked = disk.asked
    disk.free = 64 * 1024  # the disk fills: less than the reserve needed to close the file
    feed(w, 200, 150)
    with pytest.raises(DiskFullError) as caught:
        w.sync()
    assert disk.asked > asked  # checked before the flush
    feed(w, 350, 50)  # still arriving until the caller stops: kept too
    with contextlib.suppress(DiskFullError):
        w.end_trial({"status": "complete", "results": {"peak_force_n": 1.0}})
    w.close({"status": "complete"})

    message = str(caught.value)
    assert "\n" not in message and message.startswith("disk full:")
    assert str(tmp_path) in message and "64 KiB free" in message
    spill_file = spill / "s.spill.h5"
    assert spill_file.is_file()
    c = w.counts["dyn"]
    assert (c.acquired, c.written, c.spilled, c.dropped) == (700, 500, 200, 0)

    with h5py.File(path, "r") as f:  # opens normally: closed, not left in SWMR mode
        assert f.attrs["status"] == "interrupted" and "disk full" in f.attrs["disk_full"]
        t1 = f["tests/01_t/trials/001"]
        assert t1.attrs["status"] == "complete" and json.loads(t1.attrs["results"])["peak_force_n"] == 299.0
        np.testing.assert_array_equal(t1["dyn/raw"][:, 0], np.arange(300.0))
        t2 = f["tests/01_t/trials/002"]
        assert t2.attrs["status"] == "interrupted" and "disk_full" in t2.attrs
        assert json.loads(t2.attrs["samples"]) == {"dyn": 200}
        kept = t2["dyn/raw"][:, 0]
        assert f["tests/01_t"].attrs["status"] == "interrupted"
    with h5py.File(spill_file, "r") as s:
        assert s.attrs["format"] == "force-station-spill" and s.attrs["session_file"] == str(path.resolve())
        g = s["tests/01_t/trials/002/dyn"]
        spilled = g["raw"][:, 0]
        assert g["t_device_s"].shape == (200,) and g.attrs["rows_already_in_session_file"] == 200
        held = json.loads(s.attrs["attributes"])  # the results that could not be written
        assert any(a.get("results", {}).get("peak_force_n") == 1.0 for _, a in held)
    # nothing was lost: what the file kept and what was spilled is every sample, in order
    np.testing.assert_array_equal(np.concatenate([kept, spilled]), np.arange(400.0))
    assert find_unfinished(tmp_path) == []
    assert recover(path).recovered is False  # `station session recover` works: nothing to repair


def test_full_between_trials_refuses_the_next_trial_and_spills_its_samples(tmp_path: Path) -> None:
    disk, path = FakeDisk(), tmp_path / "b.h5"
    w = started(path, disk, tmp_path / "spill")
    w.begin_trial(spec("001"))
    feed(w, 0, 100)
    w.end_trial({"status": "complete"})
    w.sync()
    disk.free = 1024
    w.begin_trial(spec("002"))
    feed(w, 0, 80)
    with pytest.raises(DiskFullError, match="002 did not fit in it at all; 80 sample"):
        w.end_trial({"status": "complete"})  # raises here, or at the next call:
        w.sync()
    w.close()
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "interrupted"
        assert f["tests/01_t/trials/001"].attrs["status"] == "complete"
        assert "002" not in f["tests/01_t/trials"]
    with h5py.File(tmp_path / "spill" / "b.spill.h5", "r") as s:
        np.testing.assert_array_equal(s["tests/01_t/trials/002/dyn/raw"][:, 0], np.arange(80.0))


def test_unwritable_spill_dir_falls_back_to_the_user_data_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the spill folder should be")
    disk, path = FakeDisk(), tmp_path / "u.h5"
    w = started(path, disk, blocker)
    w.begin_trial(spec("001"))
    disk.free = 0
    feed(w, 0, 40)
    with pytest.raises(DiskFullError) as caught:
        w.sync()
    w.close()
    target = tmp_path / "xdg" / "force-station" / "spill" / "u.spill.h5"
    assert str(target) in str(caught.value)
    with h5py.File(target, "r") as s:
        assert s["tests/01_t/trials/001/dyn/raw"].shape == (40, 1)


# -- a real small tmpfs ---------------------------------------------------------------------
@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mounts small tmpfs file systems under tmp_path (root only); unmounts them after."""
    mounted: list[Path] = []
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the tests as root)")

    def mount(size: str) -> Path:
        mnt = tmp_path / f"disk{len(mounted)}"
        mnt.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip() or proc.returncode}")
        mounted.append(mnt)
        return mnt

    try:
        yield mount
    finally:
        for mnt in mounted:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.slow
@pytest.mark.integration
def test_real_tmpfs_acquire_fills_the_disk(tmpfs: Callable[[str], Path], tmp_path: Path) -> None:
    disk = tmpfs("1m")
    out, spill = disk / "a.h5", tmp_path / "spill"
    proc = subprocess.run(
        [sys.executable, "-m", "station.cli", "acquire", "--device", "sim:sfp?channels=8&rate=2000",
         "--seconds", "12", "--out", str(out), "--spill-dir", str(spill), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr  # a clean error exit, never 139 (segfault)
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("station: error:")]
    assert len(errors) == 1 and "disk full" in errors[0] and str(disk) in errors[0], proc.stderr
    (rep,) = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert rep["written"] > 1000 and rep["not_written"] > 0  # some fitted, the rest did not
    assert rep["written"] + rep["not_written"] == rep["samples"] and rep["spilled"] == rep["not_written"]
    with h5py.File(out, "r") as f:  # readable as it is
        assert f.attrs["status"] == "interrupted" and "disk_full" in f.attrs
        g = f["tests/01_acquire/trials/001/device1_sfp"]
        t_file = g["t_device_s"][:]
        assert t_file.size == rep["written"] and np.all(np.isfinite(g["raw"][:]))
    with h5py.File(spill / "a.spill.h5", "r") as s:
        t_spill = s["tests/01_acquire/trials/001/device1_sfp/t_device_s"][:]
    t = np.concatenate([t_file, t_spill])
    assert t.size == rep["samples"]
    np.testing.assert_allclose(np.diff(t), 1 / 2000, rtol=1e-6)  # no sample missing or doubled
    assert subprocess.run([sys.executable, "-m", "station.cli", "session", "recover", str(out)], cwd=ROOT,
                          capture_output=True, timeout=60).returncode == 0


SESSION = textwrap.dedent("""
    import dataclasses, sys
    from pathlib import Path
    from protocols import get_protocol
    from station.cli import main
    from station.session.model import Patient
    from station.session.run import run_session
    from station.session.runner import RunnerOptions, replace_timing
    from station.session.setup import DeviceArg
    from station.session.terminal import TerminalUI
    from station.errors import UserError
    p = replace_timing(get_protocol("hip-abduction-hhd"), countdown_s=0.3, duration_s=3.0, rest_s=0.2)
    p = dataclasses.replace(p, reps=3)
    try:
        run_session(protocols=[p], device_args=[DeviceArg(("dynamometer",), "sim:mark10?rate=1000")],
                    patient=Patient("FULL-1", body_mass_kg=70.0, involved_side="right", lever_arm_m=0.8),
                    out_dir=Path(sys.argv[1]), ui=TerminalUI(interactive=False),
                    options=RunnerOptions(tail_s=0.2), auto=True,
                    simulation={"speed": 4.0})  # simulated time 4x faster than real time
    except UserError as exc:
        print("station: error:", exc, file=sys.stderr)
        sys.exit(2)
""")


@pytest.mark.slow
@pytest.mark.integration
def test_real_tmpfs_session_keeps_its_finished_trials(tmpfs: Callable[[str], Path], tmp_path: Path) -> None:
    disk = tmpfs("500k")
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    proc = subprocess.run([sys.executable, "-c", SESSION, str(disk)], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env=env)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "disk full" in proc.stderr
    (path,) = disk.glob("*.h5")
    with h5py.File(path, "r") as f:
        assert f.attrs["status"] == "interrupted" and "disk_full" in f.attrs
        trials = f["tests/01_hip-abduction-hhd/trials"]
        complete = [k for k, t in trials.items() if t.attrs["status"] == "complete"]
        assert len(complete) >= 2  # the trials shown as complete are in the file, with results
        for k in complete:
            assert "results" in trials[k].attrs and trials[k]["dynamometer/force_n"].shape[0] > 2500
        assert max(trials[k].attrs.get("peak_force_n", 0) for k in complete) > 50
        assert all(t.attrs["status"] in ("complete", "interrupted") for t in trials.values())
    spills = list((tmp_path / "xdg" / "force-station" / "spill").glob("*.spill.h5"))
    assert [s.name for s in spills] == [path.stem + ".spill.h5"]
    assert subprocess.run([sys.executable, "-m", "station.cli", "inspect", str(path)], cwd=ROOT,
                          capture_output=True, timeout=60).returncode == 0
    assert find_unfinished(disk) == []


@pytest.mark.slow
def test_real_tmpfs_session_run_spills_where_the_user_says(tmpfs: Callable[[str], Path], tmp_path: Path) -> None:
    """`station session run --spill-dir DIR`: the samples that did not fit go to DIR (the
    second location the user names), not the user data folder; the one line says so."""
    disk, spill = tmpfs("300k"), tmp_path / "usb-stick"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")}
    proc = subprocess.run(
        [sys.executable, "-m", "station.cli", "session", "run", "--protocol", "hip-abduction-hhd", "--patient", "FULL-2",
         "--body-mass", "70", "--involved", "right", "--device", "sim:mark10", "--auto", "--fast",
         "--sim-speed", "4", "--lever-arm", "0.8", "--out", str(disk), "--spill-dir", str(spill)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    (line,) = proc.stderr.strip().splitlines()
    (path,) = disk.glob("*.h5")
    assert line.startswith("station: error: disk full:") and str(spill / (path.stem + ".spill.h5")) in line
    assert (spill / (path.stem + ".spill.h5")).is_file()
    assert not (tmp_path / "xdg" / "force-station" / "spill").exists()
