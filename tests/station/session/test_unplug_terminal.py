"""A cable pulled during a session, as a clinician sees it at the terminal (issue 13, "tried as
a new user"): the trial in progress is kept and marked interrupted, the terminal says once
which device it waits for, says when it is back, and the repeated trial is recorded; the file
shows both."""
from __future__ import annotations

import dataclasses
import io
import threading
from pathlib import Path

import h5py
import pytest

from drivers.registry import open_device
from protocols import get_protocol
from station.pipeline import BoundDevice, Pipeline
from station.session.model import Patient
from station.session.runner import RunnerOptions, SessionRunner, replace_timing
from station.session.setup import simulated_dynamometer
from station.session.terminal import TerminalUI
from station.storage.writer import SessionWriter

pytestmark = pytest.mark.integration


def test_cable_out_for_seconds_pauses_once_and_the_trial_is_repeated(tmp_path: Path) -> None:
    protocol = dataclasses.replace(
        replace_timing(get_protocol("hip-abduction-hhd"), countdown_s=0.5, rest_s=0.2, duration_s=1.2), reps=1)
    forces, patient_sim = simulated_dynamometer(1, involved_side="right")
    driver, sim = open_device("sim:mark10?rate=500", forces)
    assert sim is not None
    device = BoundDevice("dynamometer", "sim:mark10?rate=500", driver, driver.open(), simulator=sim)
    writer = SessionWriter(tmp_path / "s.h5")
    pipeline = Pipeline([device], writer)
    pulled: list[str] = []
    back = threading.Event()

    def actor(protocol, side: str, cue_s: float, duration_s: float) -> None:
        patient_sim.contract(side, cue_s, duration_s)
        if not pulled:  # out 0.5 s into the first effort, back 2.5 s later: the next trial has to wait
            pulled.append(side)
            threading.Timer(0.5, sim.unplug).start()
            threading.Timer(3.0, lambda: (sim.replug(), back.set())).start()

    out = io.StringIO()
    runner = SessionRunner(patient=Patient("P-1", 70.0, involved_side="right"), protocols=[protocol],
                           pipeline=pipeline, writer=writer, roles={"dynamometer": "dynamometer"},
                           ui=TerminalUI(interactive=False, out=out), options=RunnerOptions(tail_s=0.2), actor=actor)
    try:
        runner.write_header({"dynamometer": device}, {})
        pipeline.start()
        (summary,) = runner.run()
    finally:
        pipeline.stop()
        device.close()
        writer.close({"status": "complete"})
    text = out.getvalue()
    assert back.is_set()
    assert text.count("dynamometer disconnected: waiting for it to come back") == 1, text
    assert text.count("dynamometer back: the trial will be repeated") == 1, text
    statuses = [(t.side, t.status) for t in summary.trials]
    assert statuses[0] == ("left", "interrupted") and ("left", "complete") in statuses[1:], statuses
    with h5py.File(tmp_path / "s.h5", "r") as f:
        trials = f["tests/01_hip-abduction-hhd/trials"]
        kept = [(t.attrs["side"], t.attrs["status"], t["dynamometer/t_host_s"].shape[0]) for _, t in sorted(trials.items())]
    assert kept[0][:2] == ("left", "interrupted") and kept[0][2] > 250  # 0.5 s countdown + 0.5 s of effort kept
    assert ("left", "complete") in [k[:2] for k in kept[1:]] and all(k[2] > 500 for k in kept[1:]), kept
