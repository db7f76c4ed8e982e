"""``station devices``: port table, JSON, --probe over simulator ptys, user errors."""
from __future__ import annotations

import json
import os
import tty

import pytest
import serial

from simulation import loadstar, mark10, openscale
from station.cli import main


class Info:
    def __init__(self, device, description="n/a", vid=None, pid=None, serial_number=None, manufacturer=None):
        self.device, self.description, self.vid, self.pid = device, description, vid, pid
        self.serial_number, self.manufacturer = serial_number, manufacturer


@pytest.fixture
def fake_ports(monkeypatch):
    from serial.tools import list_ports

    ports = [
        Info("/dev/ttyUSB0", "FT231X USB UART", 0x0403, 0x6015, "DN01ABCD", "FTDI"),
        Info("/dev/ttyACM0", "Loadstar DI-1000U", 0x0403, 0x6001, "LS123", "Loadstar Sensors"),
        Info("/dev/ttyS0"),
    ]
    monkeypatch.setattr(list_ports, "comports", lambda: ports)
    return ports


def test_help(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["devices", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for option in ("--probe", "--port", "--json", "--timeout", "--family"):
        assert option in out


def test_table_lists_ports_with_usb_ids(capsys, fake_ports) -> None:
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["PORT", "DESCRIPTION", "VID:PID", "USB", "SERIAL", "MANUFACTURER"]
    assert len(lines) == 4
    assert lines[1].startswith("/dev/ttyACM0") and "0403:6001" in lines[1] and "Loadstar Sensors" in lines[1]
    assert "0403:6015" in lines[3] and "DN01ABCD" in lines[3] and "FTDI" in lines[3]
    assert lines[2].split() == ["/dev/ttyS0", "-", "-", "-", "-"]
    # aligned: every column starts at the same offset on every line
    col = lines[0].index("VID:PID")
    assert all(line[col - 2 : col] == "  " for line in lines[1:])
    assert lines[3][col : col + 9] == "0403:6015"


def test_json(capsys, fake_ports) -> None:
    assert main(["devices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["device"] for r in rows] == ["/dev/ttyACM0", "/dev/ttyS0", "/dev/ttyUSB0"]
    assert rows[2] == {
        "device": "/dev/ttyUSB0", "description": "FT231X USB UART", "vid": 0x0403, "pid": 0x6015,
        "serial_number": "DN01ABCD", "manufacturer": "FTDI", "vid_pid": "0403:6015",
    }


def test_no_ports(capsys, monkeypatch) -> None:
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports", lambda: [])
    assert main(["devices"]) == 0
    assert "no serial ports found" in capsys.readouterr().out
    assert main(["devices", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_probe_identifies_mark10_loadstar_and_openscale(capsys) -> None:
    sims = [mark10.make_simulator({}, None), loadstar.make_simulator({}, None), openscale.make_simulator({}, None)]
    ports = [sim.start() for sim in sims]
    try:
        args = ["devices", "--probe", "--timeout", "0.5"]
        for port in ports:
            args += ["--port", port]
        assert main(args) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split()[-4:] == ["FAMILY", "MODEL", "DEVICE", "SERIAL"]
        rows = {line.split()[0]: line for line in lines[1:]}
        assert "mark10" in rows[ports[0]] and "M5-100" in rows[ports[0]] and "SIM-M10-0001" in rows[ports[0]]
        assert "loadstar" in rows[ports[1]] and "FCM DI-1000" in rows[ports[1]] and "FSIM00000001" in rows[ports[1]]
        assert "openscale" in rows[ports[2]] and "OpenScale" in rows[ports[2]]
        for sim, port in zip(sims, ports, strict=True):
            assert not sim.streaming
            serial.Serial(port, 9600, timeout=0.05, exclusive=True).close()  # not left open
    finally:
        for sim in sims:
            sim.close()


def test_probe_json_and_no_answer(capsys) -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    silent = os.ttyname(slave)
    try:
        with loadstar.make_simulator({"model": "UHS-1K"}, None) as sim:
            assert main(["devices", "--probe", "--json", "--family", "loadstar", "--timeout", "0.3",
                         "--port", sim.port, "--port", silent]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert rows[0]["probe"]["family"] == "loadstar" and rows[0]["probe"]["model"] == "FCM DI-1000UHS-1K"
        assert rows[1]["probe"]["family"] is None and "loadstar" in rows[1]["probe"]["errors"]
        assert main(["devices", "--probe", "--family", "loadstar", "--timeout", "0.3", "--port", silent]) == 0
        assert "no answer" in capsys.readouterr().out
    finally:
        os.close(master)
        os.close(slave)


def test_missing_port_is_a_user_error(capsys) -> None:
    assert main(["devices", "--probe", "--port", "/dev/definitely-not-here"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("station: error: /dev/definitely-not-here: port not found")


def test_bad_timeout_is_a_user_error(capsys) -> None:
    assert main(["devices", "--probe", "--timeout", "0", "--port", "/dev/null"]) == 2
    assert "station: error: --timeout must be positive" in capsys.readouterr().err
