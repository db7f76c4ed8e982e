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


def test_inspect_prints_what_the_reader_returns(tmp_path: Path, capsys) -> None:
    """`station inspect --json` is the SessionReader's dataclasses as one dict: the engine's
    summaries (best, mean, CV, symmetry) and outcomes, the device as recorded, the sample counts."""
    import json

    from station.cli import main
    from station.storage.session_reader import summary_dict

    protocol = dataclasses.replace(get_protocol("hip-abduction-hhd"), reps=2)
    session, _ = manual_session(tmp_path / "s.h5", [protocol],
                                peaks_n={"left": [230.0, 226.0], "right": [190.0, 185.0]},
                                options=RunnerOptions(tail_s=0.3, ask_pain=True))

    def respond(e: ev.Event) -> None:
        if isinstance(e, ev.TrialReady):
            session.engine.send("go")
        elif isinstance(e, ev.PainRequested):
            session.engine.send(pain(3))

    session.engine.subscribe(respond)
    session.engine.start()
    assert session.engine.join(10)
    session.close()
    (produced,) = session.summaries

    assert main(["inspect", "--json", str(session.path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    with SessionReader(session.path) as r:
        stored = r.session()
    assert printed == json.loads(json.dumps(summary_dict(stored)))
    (test,) = printed["tests"]
    assert test["status"] == produced.status and test["kind"] == "isometric"
    for side, s in produced.sides.items():
        assert test["sides"][side]["best_n"] == s.best_n and test["sides"][side]["valid_reps"] == s.valid_reps
    assert test["symmetry"]["value_pct"] == pytest.approx(produced.symmetry["value_pct"])
    assert [(t["side"], t["rep"], t["status"], t["peak_force_n"], t["pain_0_10"]) for t in test["trials"]] == [
        (o.side, o.rep, o.status, o.peak_force_n, o.pain_0_10) for o in produced.trials]
    assert [t["samples"] for t in test["trials"]] == [dict(t.samples) for t in stored.tests[0].trials]
    assert all(n > 1000 for t in test["trials"] for n in t["samples"].values())
    assert printed["devices"]["dynamometer"]["rate_hz"] == 500.0 and not printed["damaged"]
    assert not printed["unfinished"] and not printed["recording_now"] and printed["status"] == "complete"
    assert main(["inspect", str(session.path)]) == 0
    text = capsys.readouterr().out
    best = produced.sides["left"].best_n
    assert f"best {best:.1f} N" in text and "LSI" in text
