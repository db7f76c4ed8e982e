"""A stalled GUI — a modal dialog left open for 30 s during a trial — loses no sample and no file
write (issue 10, Performance).

The session runs on simulated plates (two 4-cell SFP boards at 1 kHz on real ptys) with the
simulated patient performing by itself (``auto``: the session goes on without the window). While
the first trial records, Esc opens the window's real abort confirmation, a modal dialog. It stays
open for 30 s of session time: for the first half the GUI thread is blocked outright (no event,
no timer, no repaint), for the second half the dialog's own event loop runs; then "No" is clicked
and the session ends by itself. Every trial recorded meanwhile must be in the file, and each
trial's samples must be exactly those the simulated boards sent: every sample number between its
first and last (none missing) with the raw counts the board put on the wire.

By default simulated time runs 5 × faster than real time (a :class:`~station.clock.ScaledClock`
shared by the session, the simulators and the drivers), so the 30 s stall takes 6 s and the
boards stream 5 × as many samples per real second as at 1 ×: the same number of samples must
cross the stall, at a higher rate. Each board's output buffer (the bytes a USB-serial device
holds while the host does not read, beyond which it drops them) is made 5 × larger too, so it
covers the same real time of a slow host as at 1 ×: without that, a 5 × run would judge the
host's scheduling latency (2 shared cores, the simulators in the same process) 5 × more strictly
than the hardware does, which is not what this test is about. The real-time variant (a 30 s
stall on the wall clock, the boards' own buffer, about a minute) runs only when asked for:
``pytest -m realtime tests/gui/test_stalled_window.py`` (docs/benchmarks.md, GUI).
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from protocols import get_protocol  # noqa: E402
from station.gui import bridge as B  # noqa: E402
from station.gui.theme import THEMES, apply_theme  # noqa: E402
from station.gui.window import MainWindow  # noqa: E402
from station.session import events as E  # noqa: E402
from station.session.runner import replace_timing  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.integration]

LANDING = "drop-landing-bilateral"
STALL_S = 30.0  # session time the modal dialog stays open
RATE_HZ = 1000
PLATES = ("plate_left", "plate_right")


@pytest.fixture(autouse=True)
def _no_modal_question_at_teardown(monkeypatch) -> None:
    """A failing test leaves its session running: closing the window must not wait on a question."""
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)


def record_what_is_sent(sim, speed: float) -> list[tuple[np.ndarray, np.ndarray]]:  # type: ignore[no-untyped-def]
    """Wrap a running SFP simulator so every sample it puts on the wire is logged as (sample
    numbers, raw counts per channel); the simulator's own thread calls the wrappers. Its output
    buffer holds ``speed`` × its bytes (the same real time as at 1 ×)."""
    sim.fifo_bytes = int(type(sim).fifo_bytes * speed)
    sent: list[tuple[np.ndarray, np.ndarray]] = []
    current: dict[int, np.ndarray] = {}
    for i, cell in enumerate(sim.cells):
        def counts(force_n, t_s, _orig=cell.counts, _i=i):  # type: ignore[no-untyped-def]
            out = _orig(force_n, t_s)
            current[_i] = out
            return out
        cell.counts = counts
    encode = sim.encode_samples

    def logged(t_s, force_n, index):  # type: ignore[no-untyped-def]
        data = encode(t_s, force_n, index)
        sent.append((index.copy(), np.stack([current[i] for i in range(len(sim.cells))], axis=1)))
        return data

    sim.encode_samples = logged
    return sent


@pytest.mark.parametrize("speed", [pytest.param(5.0, id="5x-faster-than-real-time"),
                                   pytest.param(1.0, id="real-time", marks=pytest.mark.realtime)])
def test_a_modal_dialog_open_30_s_during_a_trial_loses_no_sample_and_no_file_write(qtbot, tmp_path: Path,
                                                                                   request, speed: float) -> None:
    if speed == 1.0 and "realtime" not in (request.config.getoption("-m") or ""):
        pytest.skip("a 30 s stall on the wall clock: run it with `pytest -m realtime` (docs/benchmarks.md)")
    p = replace_timing(get_protocol(LANDING), countdown_s=1.0, duration_s=4.0, rest_s=2.0)
    protocol = dataclasses.replace(p, reps=7, acceptance=dataclasses.replace(p.acceptance, min_reps=1))
    apply_theme(QApplication.instance(), THEMES["light"])
    w = MainWindow(protocols={protocol.id: protocol}, sessions_dir=tmp_path / "sessions", simulate=True, fast=True)
    qtbot.addWidget(w)
    w.show()
    config = B.SessionConfig(
        protocols=[protocol], patient=B.Patient("P-STALL30", 70.0, involved_side="right"),
        device_args=[B.DeviceArg((role,), f"sim:sfp?channels=4&serial=PL-{role[6].upper()}&rate={RATE_HZ}")
                     for role in PLATES],
        out_dir=tmp_path / "sessions", auto=True, simulation={"speed": speed})
    w.start_session(config)
    qtbot.waitUntil(lambda: w.bridge is not None and w.bridge.session is not None, timeout=30_000)
    session = w.bridge.session
    clock = session.engine.clock
    sent = {role: record_what_is_sent(w.bridge.devices[role].simulator, speed) for role in PLATES}
    recorded: list[tuple[float, str, str, str]] = []  # (session time, test, trial, status), in the engine's thread
    lock = threading.Lock()

    def on_engine(e: object) -> None:
        if isinstance(e, E.TrialRecorded):
            with lock:
                recorded.append((clock.now(), e.outcome.test, e.outcome.trial, e.outcome.status))

    session.engine.subscribe(on_engine, name="test")
    qtbot.waitUntil(lambda: w.phase == "recording", timeout=60_000)
    stall: dict[str, float] = {}

    def hold_the_dialog_open() -> None:  # runs inside the dialog's own event loop
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox) and box is w.abort_dialog
        stall["start"] = clock.now()
        time.sleep(STALL_S / 2 / speed)  # the GUI thread blocked outright: no event, timer or repaint
        while clock.now() - stall["start"] < STALL_S:  # the dialog open, its event loop running
            qtbot.wait(50)
        stall["end"] = clock.now()
        box.button(QMessageBox.StandardButton.No).click()

    QTimer.singleShot(0, hold_the_dialog_open)
    qtbot.keyClick(w, Qt.Key.Key_Escape)  # the abort confirmation: exec() returns after "No"
    assert stall["end"] - stall["start"] >= STALL_S
    qtbot.waitUntil(lambda: w.phase == "closed", timeout=int(180_000 / speed))
    e = w.closed_event
    assert e is not None and e.status == "complete", e  # "No": the session was not aborted

    during = [r for r in recorded if stall["start"] < r[0] < stall["end"]]
    assert len(during) >= 3, recorded  # the session kept recording and writing trials through the stall
    with h5py.File(e.path, "r") as f:
        trials = f[f"tests/01_{LANDING}/trials"]
        in_file = {(f"01_{LANDING}", name): trials[name].attrs["status"] for name in trials}
        assert in_file == {(test, trial): status for _, test, trial, status in recorded}  # every trial written
        assert len(in_file) == protocol.reps and set(in_file.values()) == {"complete"}
        for name in trials:
            assert json.loads(trials[name].attrs["results"])["peak_force_n"] > 0  # analysed and stored
        for role in PLATES:
            index = np.concatenate([i for i, _ in sent[role]])
            counts = np.concatenate([c for _, c in sent[role]])
            assert np.array_equal(index, np.arange(index[0], index[0] + index.size))  # the board's own numbering
            for name in trials:
                g = trials[name][role]
                n = np.rint(g["t_device_s"][:] * RATE_HZ).astype(np.int64)
                assert n.size > 4 * RATE_HZ
                assert np.array_equal(n, np.arange(n[0], n[0] + n.size)), f"trial {name} {role}: a sample missing"
                assert n[0] >= index[0] and n[-1] <= index[-1]
                assert np.array_equal(g["raw"][:], counts[n - index[0]]), f"trial {name} {role}: not what was sent"
        stats = json.loads(f.attrs["device_stats"])
        assert all(stats[role]["lost_samples"] == 0 for role in PLATES), stats
        assert json.loads(f.attrs["reader_events"]) == []
