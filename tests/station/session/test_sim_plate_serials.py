"""Two simulated plates of one session are two devices: each reports its own serial number
(left/right), so the file and the calibration records tell them apart (issue 13)."""
from __future__ import annotations

from pathlib import Path

import pytest

from protocols import get_protocol
from simulation.sfp import DEFAULT_SERIAL, serial_for_role
from station.errors import StationError
from station.gui.bridge import write_simulator_calibration
from station.session.setup import bind_roles, open_session_devices, parse_device_arg

LANDING = get_protocol("drop-landing-bilateral")


def test_each_simulated_plate_gets_its_own_serial() -> None:
    bound = bind_roles([LANDING], [parse_device_arg("plate_left=sim:sfp?channels=4"),
                                   parse_device_arg("plate_right=sim:sfp?channels=4")])
    assert bound["plate_left"].uri == "sim:sfp?channels=4&serial=SIM-SFP-LEFT"
    assert bound["plate_right"].uri == "sim:sfp?channels=4&serial=SIM-SFP-RIGHT"
    # unnamed devices fill the roles in order, and get the serial of the role they fill
    bound = bind_roles([LANDING], [parse_device_arg("sim:sfp?channels=4"), parse_device_arg("sim:sfp?channels=4")])
    assert [bound[r].uri.rsplit("=", 1)[1] for r in ("plate_left", "plate_right")] == ["SIM-SFP-LEFT",
                                                                                       "SIM-SFP-RIGHT"]
    # a serial the user gives is kept; a real plate is never renamed
    bound = bind_roles([LANDING], [parse_device_arg("plate_left=sim:sfp?channels=4&serial=PL-L"),
                                   parse_device_arg("plate_right=sfp:/dev/ttyUSB0")])
    assert (bound["plate_left"].uri, bound["plate_right"].uri) == ("sim:sfp?channels=4&serial=PL-L",
                                                                   "sfp:/dev/ttyUSB0")


def test_serial_for_role() -> None:
    assert serial_for_role("plate_left") == "SIM-SFP-LEFT" and serial_for_role("Right-Plate") == "SIM-SFP-RIGHT"
    assert serial_for_role("plate") is None and serial_for_role("left_right") is None
    assert serial_for_role("cleft") is None  # a word, not a substring


def test_calibration_lookup_finds_each_plates_own_records(tmp_path: Path) -> None:
    bound = bind_roles([LANDING], [parse_device_arg("plate_left=sim:sfp?channels=4"),
                                   parse_device_arg("plate_right=sim:sfp?channels=4")])
    cal = tmp_path / "cal"
    write_simulator_calibration(cal, "SIM-SFP-LEFT", 4)
    # only the left plate's factory records: the right plate is named, not served the left's
    with pytest.raises(StationError, match="device SIM-SFP-RIGHT has no calibration"):
        open_session_devices(bound, calibration_dir=cal)
    write_simulator_calibration(cal, "SIM-SFP-RIGHT", 4)
    devices, roles = open_session_devices(bound, calibration_dir=cal)
    try:
        serials = {role: devices[d].info.serial for role, d in roles.items()}
        assert serials == {"plate_left": "SIM-SFP-LEFT", "plate_right": "SIM-SFP-RIGHT"}
        for role, d in roles.items():
            snap = devices[d].calibration_snapshot
            assert snap and all(c.get("source") != "factory-default" for c in snap["channels"]), snap
            assert serials[role] in str(snap)
    finally:
        for d in devices.values():
            d.close()
    assert DEFAULT_SERIAL == "SIM-SFP-0001"  # a lone plate (`station calibrate --device sim:sfp`) keeps it
