"""A session that refuses to start leaves nothing behind (issue 13): a session file name
that is already taken (another station writing into the same folder) is refused in one line,
the other file is not touched, and no ``.log`` (or anything else) is created beside it."""
from __future__ import annotations

from pathlib import Path

import pytest

from protocols import get_protocol
from station.errors import StationError
from station.session.model import Patient
from station.session.run import open_session
from station.session.runner import RunnerOptions
from station.session.setup import DeviceArg


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_taken_session_file_name_creates_nothing(tmp_path: Path) -> None:
    out = tmp_path / "sessions"
    out.mkdir()
    taken: list[Path] = []

    def another_station_takes_the_name(path: Path) -> None:
        path.write_bytes(b"another station's session file")
        taken.append(path)

    with pytest.raises(StationError, match="already exists; it was not opened or changed"):
        open_session(protocols=[get_protocol("hip-abduction-hhd")],
                     device_args=[DeviceArg(("dynamometer",), "sim:mark10")],
                     patient=Patient("C1", body_mass_kg=70.0, involved_side="right", lever_arm_m=0.8),
                     out_dir=out, options=RunnerOptions(), auto=True, on_path=another_station_takes_the_name)
    (path,) = taken
    assert snapshot(out) == {path.name: b"another station's session file"}


def test_a_session_that_starts_writes_its_log_beside_the_file(tmp_path: Path) -> None:
    session = open_session(protocols=[get_protocol("hip-abduction-hhd")],
                           device_args=[DeviceArg(("dynamometer",), "sim:mark10")],
                           patient=Patient("C2", body_mass_kg=70.0, involved_side="right", lever_arm_m=0.8),
                           out_dir=tmp_path, options=RunnerOptions(), auto=True)
    session.close("aborted")
    assert session.log_path == session.path.with_suffix(".log")
    assert "session log" in session.log_path.read_text()
