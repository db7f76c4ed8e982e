"""drivers.probe: which family answers on a port; missing or broken families are skipped."""
from __future__ import annotations

import os
import sys
import textwrap
import tty

import pytest
import serial

import drivers.probe as probe
from simulation import loadstar, mark10, openscale
from drivers.base import DeviceError


def _port_is_free(port: str) -> bool:
    try:
        serial.Serial(port, 9600, timeout=0.05, exclusive=True).close()
    except serial.SerialException:
        return False
    return True


@pytest.mark.parametrize(("module", "options", "family", "model"), [
    (mark10, {}, "mark10", "M5-100"),
    (loadstar, {}, "loadstar", "FCM DI-1000"),
    (loadstar, {"model": "UHS-1K"}, "loadstar", "FCM DI-1000UHS-1K"),
    (openscale, {}, "openscale", "OpenScale"),
])
def test_probe_identifies_the_family(module, options, family, model) -> None:
    with module.make_simulator(options, None) as sim:
        result = probe.probe_port(sim.port, timeout_s=0.5)
        assert (result.family, result.model) == (family, model)
        assert result.answered and result.summary().startswith(family)
        assert result.tried[-1] == family
        assert _port_is_free(sim.port)
        assert not sim.streaming  # nothing left streaming (an OpenScale waits in its menu)


def test_probe_of_a_silent_port_says_no_answer() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    try:
        result = probe.probe_port(os.ttyname(slave), families=["loadstar", "openscale"], timeout_s=0.3)
        assert not result.answered and result.summary() == "no answer"
        assert set(result.errors) == {"loadstar", "openscale"}
        assert result.tried == ["openscale", "loadstar"]
    finally:
        os.close(master)
        os.close(slave)


def test_a_missing_port_is_reported_once() -> None:
    result = probe.probe_port("/dev/no-such-port-here", timeout_s=0.2)
    assert "port not found" in result.port_error and result.tried == []
    assert result.summary() == result.port_error


def test_unknown_family_is_an_error() -> None:
    with pytest.raises(DeviceError, match="unknown device family 'nope'"):
        probe.family_modules(["nope"])


def test_missing_and_broken_family_modules_are_skipped(monkeypatch, tmp_path) -> None:
    (tmp_path / "probe_broken_family.py").write_text("raise RuntimeError('half written')\n")
    (tmp_path / "probe_crashing_family.py").write_text(textwrap.dedent("""
        class Crashing:
            default_baudrate = 9600
            def __init__(self, port, **kwargs):
                raise ZeroDivisionError("driver bug")
        DRIVER = Crashing
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(probe.FAMILIES, "ghost", "drivers.ghost_family_not_written_yet")
    monkeypatch.setitem(probe.FAMILIES, "broken", "probe_broken_family")
    monkeypatch.setitem(probe.FAMILIES, "crashing", "probe_crashing_family")
    modules, skipped = probe.family_modules()
    names = [name for name, _ in modules]
    assert "ghost" not in names and skipped["ghost"] == "driver not installed"
    assert "broken" not in names and "half written" in skipped["broken"]
    assert "crashing" in names
    with loadstar.make_simulator({}, None) as sim:
        result = probe.probe_port(sim.port, families=["crashing", "loadstar", "ghost"], timeout_s=0.5)
        assert result.family == "loadstar"
        assert result.skipped == {"ghost": "driver not installed"}
    with mark10.make_simulator({}, None) as sim:
        result = probe.probe_port(sim.port, families=["crashing"], timeout_s=0.3)
        assert not result.answered and "ZeroDivisionError" in result.errors["crashing"]
    sys.modules.pop("probe_crashing_family", None)


def test_list_ports_and_describe(monkeypatch) -> None:
    class Info:
        def __init__(self, device, description="n/a", vid=None, pid=None, serial_number=None, manufacturer=None):
            self.device, self.description, self.vid, self.pid = device, description, vid, pid
            self.serial_number, self.manufacturer = serial_number, manufacturer

    from serial.tools import list_ports

    fake = [Info("/dev/ttyUSB1", "FT231X USB UART", 0x0403, 0x6015, "DN01ABCD", "FTDI"), Info("/dev/ttyS0")]
    monkeypatch.setattr(list_ports, "comports", lambda: fake)
    entries = probe.list_ports()
    assert [e.device for e in entries] == ["/dev/ttyS0", "/dev/ttyUSB1"]
    assert entries[0].description == "" and entries[0].vid_pid == ""
    assert entries[1].vid_pid == "0403:6015" and entries[1].as_dict()["serial_number"] == "DN01ABCD"
    assert probe.describe_port("/dev/ttyUSB1").manufacturer == "FTDI"
    assert probe.describe_port("/dev/pts/99") == probe.PortEntry("/dev/pts/99")
