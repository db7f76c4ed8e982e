"""open_session on a simulated Mark-10 over a real pty: the engine in its own thread, a
second listener subscribed mid-session receives exactly the samples the file receives."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np

from protocols import get_protocol
from station.pipeline import ProcessedBlock
from station.session import events as ev
from station.session.model import Patient
from station.session.run import open_session
from station.session.runner import RunnerOptions, replace_timing
from station.session.setup import DeviceArg


def test_a_second_listener_receives_every_sample_the_file_receives(tmp_path: Path) -> None:
    protocol = dataclasses.replace(
        replace_timing(get_protocol("hip-abduction-hhd"), countdown_s=0.3, rest_s=0.1, duration_s=1.0), reps=1)
    session = open_session(protocols=[protocol], device_args=[DeviceArg((), "sim:mark10?rate=500")],
                           patient=Patient("P-9", body_mass_kg=70.0, involved_side="left", lever_arm_m=0.8),
                           out_dir=tmp_path, options=RunnerOptions(tail_s=0.2, wait_for_go=False), auto=True,
                           simulation={"speed": 4.0})  # simulated time 4x faster than real time
    blocks: list[ProcessedBlock] = []
    seen: list[ev.Event] = []

    def on_event(e: ev.Event) -> None:
        seen.append(e)
        if isinstance(e, ev.TestStarted):  # the devices stream already: subscribe mid-session
            session.pipeline.subscribe(blocks.append, name="second listener")

    session.engine.subscribe(on_event)
    with session:
        session.engine.start()
        assert session.engine.join(30)
    assert session.status == "complete" and isinstance(seen[-1], ev.SessionClosed)
    assert session.log_path is not None and session.log_path.exists()
    assert "session log" in session.log_path.read_text()

    mine = [b for b in blocks if b.device_id == "dynamometer"]
    t = np.concatenate([b.t_host_s for b in mine])
    force = np.concatenate([b.force_n for b in mine])
    raw = np.concatenate([b.raw for b in mine])
    with h5py.File(session.path, "r") as f:
        trials = list(f["tests/01_hip-abduction-hhd/trials"].values())
        assert len(trials) == 2
        for g in trials:
            ft = g["dynamometer/t_host_s"][:]
            start = int(np.searchsorted(t, ft[0]))
            assert ft.size > 500 and t[start] == ft[0]
            # the same count and the same values, sample for sample
            np.testing.assert_array_equal(t[start:start + ft.size], ft)
            np.testing.assert_array_equal(force[start:start + ft.size], g["dynamometer/force_n"][:])
            np.testing.assert_array_equal(raw[start:start + ft.size], g["dynamometer/raw"][:])
