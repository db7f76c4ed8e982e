"""`station gui --simulate` gives the simulated plates their factory calibration records, but
never replaces a record file that exists: not an earlier factory sheet, not a calibration the
user made of a simulated plate on the wizard page, not a file in a --calibration-dir."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from calibration import CalibrationStore  # noqa: E402
from station.gui import bridge as B  # noqa: E402
from station.gui.window import MainWindow  # noqa: E402
from station.session.setup import DeviceArg  # noqa: E402

pytestmark = [pytest.mark.gui]

PLATES = [DeviceArg(("plate_left",), B.SIMULATED_DEVICES["plate_left"]),
          DeviceArg(("plate_right",), B.SIMULATED_DEVICES["plate_right"])]


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_factory_records_are_written_only_where_missing(tmp_path: Path) -> None:
    cal = tmp_path / "cal"
    written = B.write_simulator_calibration(cal, "PL-L", 4)
    assert sorted(p.name for p in written) == sorted(CalibrationStore(cal).path_for("PL-L", c).name for c in range(4))
    before = snapshot(cal)
    # a second start: nothing written, nothing moved to history
    assert B.write_simulator_calibration(cal, "PL-L", 4) == []
    assert snapshot(cal) == before
    # channel 2 holds another record (the user's, calibrated to 150 N), channel 3 none
    store = CalibrationStore(cal)
    for c in (2, 3):
        store.path_for("PL-L", c).unlink()
    B.write_simulator_calibration(cal, "PL-L", 4, max_load_n=150.0)
    users = store.path_for("PL-L", 2).read_bytes()
    assert users != before[store.path_for("PL-L", 2).name]
    store.path_for("PL-L", 3).unlink()
    assert [p.name for p in B.write_simulator_calibration(cal, "PL-L", 4)] == [store.path_for("PL-L", 3).name]
    assert store.path_for("PL-L", 2).read_bytes() == users  # the user's record stands
    assert not (cal / "history").exists()


def test_the_window_seeds_a_given_calibration_dir_without_replacing_its_files(qtbot, tmp_path: Path) -> None:
    cal = tmp_path / "clinic-calibration"
    B.write_simulator_calibration(cal, "PL-L", 4, max_load_n=150.0)  # made earlier (e.g. on the wizard page)
    before = snapshot(cal)
    w = MainWindow(protocols={}, sessions_dir=tmp_path / "sessions", simulate=True, calibration_dir=cal)
    qtbot.addWidget(w)
    for _ in range(3):  # device check, session start, calibration page: each asks for the folder
        assert w._calibration_dir(PLATES) == cal
    after = snapshot(cal)
    assert {k: v for k, v in after.items() if k in before} == before  # not one existing byte changed
    new = sorted(set(after) - set(before))
    assert new == sorted(CalibrationStore(cal).path_for("PL-R", c).name for c in range(4))  # only the missing plate
    assert not (cal / "history").exists()


def test_without_a_calibration_dir_the_window_uses_its_own_folder_once(qtbot, tmp_path: Path) -> None:
    w = MainWindow(protocols={}, sessions_dir=tmp_path / "sessions", simulate=True)
    qtbot.addWidget(w)
    folder = w._calibration_dir(PLATES)
    assert folder is not None and folder != tmp_path
    first = snapshot(folder)
    assert len(first) == 8
    assert w._calibration_dir(PLATES) == folder and snapshot(folder) == first
