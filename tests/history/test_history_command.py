"""`station history` on three real session files of a recovering patient."""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest

from station.cli import main
from station.index.update import rebuild


def test_history_text_and_json(recovery_dir: Path, capsys: pytest.CaptureFixture[str]):
    rebuild(recovery_dir)
    assert main(["history", "P-0042", "--dir", str(recovery_dir)]) == 0
    text = capsys.readouterr().out
    assert "knee-extension-60" in text and "improved beyond MDC" in text
    assert "LSI 70." in text and "LSI 95." in text
    assert "EPIC" in text and "first session (2026-09-01)" in text
    assert main(["history", "P-0042", "--dir", str(recovery_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (p,) = data["protocols"]
    right = p["sides"]["right"]
    assert [round(x["best_n"]) for x in right] == [210, 255, 295]
    assert right[1]["change_prev_n"] == pytest.approx(right[1]["best_n"] - right[0]["best_n"])
    assert right[0]["pain_max_0_10"] == 5 and right[2]["pain_max_0_10"] == 1
    assert right[2]["best_torque_nm_per_kg"] == pytest.approx(right[2]["best_n"] * 0.35 / 70.0, rel=1e-6)
    # 3 reps per side and session: 12 degrees of freedom, so the station's own SEM is used
    assert p["error"]["source"] == "station" and p["error"]["own_df"] == 12
    lsi = [s["lsi_pct"] for s in p["sessions"]]
    assert 68 < lsi[0] < 72 and 93 < lsi[2] < 97


def test_history_errors(recovery_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["history", "P-0042", "--dir", str(tmp_path / "none")]) == 2
    assert "no such directory" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["history", "P-0042", "--dir", str(empty)]) == 2
    assert "no sessions in the results index" in capsys.readouterr().err
    # files recorded before the index existed: it is built on first use
    assert main(["history", "P-0042", "--dir", str(recovery_dir), "--json"]) == 0
    captured = capsys.readouterr()
    assert "built the results index (3 session(s))" in captured.err and json.loads(captured.out)["protocols"]
    assert main(["history", "P-9", "--dir", str(recovery_dir)]) == 2
    assert "patient P-9: no sessions" in capsys.readouterr().err
    assert main(["history", "P-0042", "--dir", str(recovery_dir), "--protocol", "hip-abduction-hhd"]) == 2
    assert "no complete test of protocol hip-abduction-hhd" in capsys.readouterr().err


@pytest.mark.slow
def test_session_run_adds_the_session_to_the_index(tmp_path: Path):
    """The hook where the session file closes: a simulated session appears in the index."""
    from protocols import get_protocol
    from station.index.sqlite import SqliteStore
    from station.session.model import Patient
    from station.session.run import run_session
    from station.session.runner import RunnerOptions, replace_timing
    from station.session.setup import DeviceArg
    from station.session.terminal import TerminalUI

    p = dataclasses.replace(replace_timing(get_protocol("hip-abduction-hhd"), countdown_s=0.3, rest_s=0.05,
                                           duration_s=1.2), reps=1)
    result = run_session(protocols=[p], device_args=[DeviceArg((), "sim:mark10?rate=500")],
                         patient=Patient("P-7", body_mass_kg=70.0, involved_side="right"),  # type: ignore[arg-type]
                         out_dir=tmp_path, ui=TerminalUI(interactive=False, out=io.StringIO(), inp=io.StringIO()),
                         options=RunnerOptions(tail_s=0.2), auto=True, involved_ratio=0.7,
                         simulation={"speed": 4.0})  # simulated time 4x faster than real time
    with SqliteStore.beside(tmp_path) as s:
        (row,) = s.sessions("P-7")
        assert Path(row.path) == result.path.resolve()
        live = s.dump()
    rebuild(tmp_path)
    with SqliteStore.beside(tmp_path) as s:
        assert s.dump() == live
