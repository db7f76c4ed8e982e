"""SessionReader gives back the dataclasses the engine produced, and the samples it recorded."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from protocols import get_protocol
from station.errors import UserError
from station.session import events as ev
from station.session.commands import pain
from station.session.runner import RunnerOptions
from station.storage.session_reader import SessionReader
from station.testing import manual_session


def test_reader_returns_what_the_engine_produced(tmp_path: Path) -> None:
    protocol = dataclasses.replace(get_protocol("hip-abduction-hhd"), reps=2)
    session, _ = manual_session(tmp_path / "s.h5", [protocol], peaks_n={"left": [230.0], "right": [190.0]},
                                options=RunnerOptions(tail_s=0.3, ask_pain=True))
    answers = iter(["go", "skip", "go", "redo"])
    blocks = []

    def respond(e: ev.Event) -> None:
        if isinstance(e, ev.TrialReady):
            session.engine.send(next(answers, "go"))
        elif isinstance(e, ev.PainRequested):
            session.engine.send(pain(2))
        elif isinstance(e, ev.TestStarted):
            session.pipeline.subscribe(blocks.append)

    session.engine.subscribe(respond)
    session.engine.start()
    assert session.engine.join(10)
    session.close()
    (produced,) = session.summaries

    with SessionReader(session.path) as r:
        s = r.session()
        assert s.status == "complete" and s.session_id == session.engine.session_id
        assert s.patient == session.engine.patient
        assert set(s.devices) == {"dynamometer"} and s.devices["dynamometer"].rate_hz == 500.0
        assert s.protocols["hip-abduction-hhd"].load().id == "hip-abduction-hhd"
        (test,) = s.tests
        assert test.summary == produced  # sides, symmetry, status and every TrialOutcome
        assert [t.outcome.status for t in test.trials][:4] == ["complete", "skipped", "rejected", "complete"]
        first = test.trials[0]
        assert first.channels == {"left": ("dynamometer", (0,))}
        data = r.samples(first)["dynamometer"]
        assert data.samples == first.samples["dynamometer"] > 4000
        t, force, rate = r.side_force(first, "left")
        assert rate == 500.0 and np.array_equal(force, data.force_n[:, 0])
        # the samples are the ones the pipeline delivered
        got_t = np.concatenate([b.t_host_s for b in blocks])
        start = int(np.searchsorted(got_t, t[0]))
        assert np.array_equal(got_t[start:start + t.size], t)
        with pytest.raises(UserError, match="no side 'right'"):
            r.side_force(first, "right")
        with pytest.raises(UserError, match="no test"):
            r.test("99_nothing")


def test_reader_refuses_a_foreign_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.h5"
    path.write_bytes(b"not hdf5 at all")
    with pytest.raises(UserError, match="not an HDF5 file"):
        SessionReader(path)
