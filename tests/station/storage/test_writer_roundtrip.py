"""Samples read back from the file equal, sample for sample, what the pipeline acquired.

A Mark-10 (newtons, host clock) and an 8-channel SFP board (raw counts, device clock, a
linear calibration) are recorded together in one trial by the real Pipeline and
SessionWriter; ``end_recording()`` returns the in-memory data to compare with.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from drivers.registry import open_device
from station.pipeline import BoundDevice, Pipeline, identity, trial_spec
from station.storage import layout
from station.storage.writer import SessionWriter


def counts_to_newton(raw: np.ndarray) -> np.ndarray:
    return raw * 0.0125 - 3.0


def bound(uri: str, device_id: str) -> BoundDevice:
    driver, sim = open_device(uri)
    info = driver.open()
    if info.unit == "N":
        return BoundDevice(device_id, uri, driver, info, identity, {"model": "identity"}, sim)
    return BoundDevice(device_id, uri, driver, info, counts_to_newton,
                       {"model": "linear", "gain": 0.0125, "offset": -3.0}, sim)


@pytest.fixture
def devices():
    made = [bound("sim:mark10?rate=1000", "dynamometer"), bound("sim:sfp?channels=8&rate=2000", "plates")]
    yield made
    for d in made:
        d.close()


def test_file_equals_acquired_samples(tmp_path: Path, devices: list[BoundDevice]) -> None:
    path = tmp_path / "roundtrip.h5"
    writer = SessionWriter(path)
    writer.create({"session_id": "roundtrip"}, {"patient_id": "RT"})
    for d in devices:
        writer.set_attrs(f"devices/{d.device_id}", {**{k: v for k, v in d.info.as_dict().items() if k != "settings"},
                                                    "uri": d.uri, "settings": d.info.settings,
                                                    "calibration": d.calibration_snapshot})
    pipeline = Pipeline(devices, writer)
    pipeline.start()
    try:
        for d in devices:
            assert pipeline.wait_for_samples(d.device_id, int(0.3 * d.info.rate_hz))
        pipeline.tare("dynamometer", 0.2)
        by_id = {d.device_id: d for d in devices}
        pipeline.begin_recording(trial_spec("01_rt", "001", by_id, {"side": "left", "rep": 1}), list(by_id))
        time.sleep(1.5)
        data, events = pipeline.end_recording()
        writer.end_trial({"status": layout.STATUS_COMPLETE})
    finally:
        pipeline.stop()
    writer.close({"status": layout.STATUS_COMPLETE})
    assert not [e for e in events if e.kind != "reconnected"]

    with h5py.File(path, "r") as f:
        trial = f["tests/01_rt/trials/001"]
        assert json.loads(trial.attrs["samples"]) == {k: v.samples for k, v in data.items()}
        for d in devices:
            mem = data[d.device_id]
            g = trial[d.device_id]
            assert mem.samples > 0.8 * 1.5 * d.info.rate_hz
            np.testing.assert_array_equal(g["t_host_s"][:], mem.t_host_s)
            np.testing.assert_array_equal(g["raw"][:], mem.raw)
            np.testing.assert_array_equal(g["force_n"][:], mem.force_n)
            assert g["raw"].shape == (mem.samples, d.info.channels)
            assert g["raw"].attrs["unit"] == d.info.unit
            if d.info.time_source == "device":
                np.testing.assert_array_equal(g["t_device_s"][:], mem.t_device_s)
            else:
                assert "t_device_s" not in g
        sfp = trial["plates"]
        np.testing.assert_allclose(sfp["force_n"][:], counts_to_newton(sfp["raw"][:]))
        dyn = trial["dynamometer"]
        tare = pipeline.tare_n["dynamometer"]
        np.testing.assert_allclose(dyn["force_n"][:], dyn["raw"][:] - tare)
