"""Raw recording on the pipeline: every sample acquired is in the file, counted per device."""
from __future__ import annotations

import threading
from pathlib import Path

import h5py

from drivers.registry import open_device
from station.pipeline import BoundDevice
from station.recording import record_raw
from station.storage.writer import SessionWriter


def _device(uri: str, device_id: str) -> BoundDevice:
    driver, sim = open_device(uri)
    info = driver.open()
    return BoundDevice(device_id, uri, driver, info, simulator=sim)


def test_record_raw_writes_every_sample_of_every_device(tmp_path: Path) -> None:
    devices = {"g": _device("sim:mark10?rate=500", "g"), "p": _device("sim:sfp?channels=4&rate=1000", "p")}
    writer = SessionWriter(tmp_path / "raw.h5")
    writer.create({"session_id": "raw"}, {"kind": "acquisition"})
    try:
        rec = record_raw(devices, writer, test="01_acquire", trial="001", seconds=1.0)
    finally:
        for d in devices.values():
            d.close()
    writer.end_trial({"status": rec.status})
    writer.close({"status": rec.status})
    assert rec.status == "complete" and rec.failure is None
    with h5py.File(tmp_path / "raw.h5", "r") as f:
        for k, count in rec.counts.items():
            assert f[f"tests/01_acquire/trials/001/{k}/raw"].shape[0] == count.samples > 300
    assert 400 < rec.counts["g"].measured_rate_hz() < 600


def test_record_raw_marks_an_unplugged_device_interrupted_and_keeps_its_samples(tmp_path: Path) -> None:
    device = _device("sim:mark10?rate=500", "g")
    writer = SessionWriter(tmp_path / "raw.h5")
    writer.create({"session_id": "raw"}, {"kind": "acquisition"})
    threading.Timer(0.6, device.simulator.unplug).start()
    try:
        rec = record_raw({"g": device}, writer, test="01_acquire", trial="001", seconds=1.5)
    finally:
        device.close()
    writer.end_trial({"status": rec.status})
    writer.close({"status": rec.status})
    assert rec.status == "interrupted"
    assert [e.kind for e in rec.counts["g"].disconnects] == ["disconnected"]
    with h5py.File(tmp_path / "raw.h5", "r") as f:
        assert f["tests/01_acquire/trials/001/g/raw"].shape[0] == rec.counts["g"].samples > 200
