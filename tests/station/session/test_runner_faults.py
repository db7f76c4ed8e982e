"""A cable pulled during a trial: samples kept, trial 'interrupted', session goes on."""
from __future__ import annotations

import dataclasses
import io
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from drivers.registry import open_device
from protocols import get_protocol
from station.pipeline import BoundDevice, Pipeline
from station.session.model import Patient
from station.session.runner import RunnerOptions, SessionRunner, replace_timing
from station.session.setup import simulated_dynamometer
from station.session.terminal import TerminalUI
from station.storage.writer import SessionWriter

#: a cable pulled in real time during a real-pty session
pytestmark = pytest.mark.integration


def test_unplug_mid_trial_marks_it_interrupted_and_repeats_it(tmp_path: Path) -> None:
    protocol = dataclasses.replace(
        replace_timing(get_protocol("hip-abduction-hhd"), countdown_s=0.8, rest_s=0.2, duration_s=1.5), reps=1)
    forces, patient_sim = simulated_dynamometer(1, involved_side="right")
    driver, sim = open_device("sim:mark10?rate=500", forces)
    assert sim is not None
    info = driver.open()
    device = BoundDevice("dynamometer", "sim:mark10?rate=500", driver, info, simulator=sim)
    writer = SessionWriter(tmp_path / "s.h5")
    pipeline = Pipeline([device], writer)
    unplugged = []

    def actor(protocol, side: str, cue_s: float, duration_s: float) -> None:
        patient_sim.contract(side, cue_s, duration_s)
        if not unplugged:  # pull the cable 0.7 s into the first effort, plug it back 0.4 s later
            unplugged.append(side)
            threading.Timer(0.7, sim.unplug).start()
            threading.Timer(1.1, sim.replug).start()

    out = io.StringIO()
    runner = SessionRunner(patient=Patient("P-1", 70.0, involved_side="right"), protocols=[protocol],
                           pipeline=pipeline, writer=writer, roles={"dynamometer": "dynamometer"},
                           ui=TerminalUI(interactive=False, out=out), options=RunnerOptions(tail_s=0.3), actor=actor)
    try:
        runner.write_header({"dynamometer": device}, {})
        pipeline.start()
        (summary,) = runner.run()
    finally:
        pipeline.stop()
        device.close()
        writer.close({"status": "complete"})
    statuses = [(t.side, t.status) for t in summary.trials]
    assert statuses[0] == ("left", "interrupted")
    # the interrupted rep does not count: the acceptance rule asked for another left rep
    assert ("left", "complete") in statuses[1:] and ("right", "complete") in statuses
    assert summary.sides["left"].best_n and summary.symmetry["value_pct"]
    with h5py.File(tmp_path / "s.h5", "r") as f:
        first = f["tests/01_hip-abduction-hhd/trials/001"]
        assert first.attrs["status"] == "interrupted"
        t = first["dynamometer/t_host_s"][:]
        # samples from before the unplug (0.8 s countdown + 0.7 s) are kept
        assert t.size > 600 and np.all(np.diff(t) > 0)
        flags = first.attrs["quality_flags"]
        assert "disconnected" in flags
    assert "interrupted" in out.getvalue()
