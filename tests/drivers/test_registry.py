"""Device URIs: parsing, errors that name the problem, simulators behind sim: URIs."""
from __future__ import annotations

import pytest

from drivers.base import DeviceError
from drivers.registry import open_device, parse_uri


def test_parse_real_port_with_options() -> None:
    uri = parse_uri("mark10:/dev/ttyUSB0?baud=115200&rate=250")
    assert (uri.family, uri.port, uri.options) == ("mark10", "/dev/ttyUSB0", {"baud": "115200", "rate": "250"})
    assert not uri.simulated


def test_parse_pyserial_url_and_simulator() -> None:
    assert parse_uri("sfp:socket://127.0.0.1:4000").port == "socket://127.0.0.1:4000"
    sim = parse_uri("sim:sfp?channels=8&rate=2000")
    assert sim.simulated and sim.family == "sfp" and sim.options == {"channels": "8", "rate": "2000"}


@pytest.mark.parametrize(("text", "message"), [
    ("/dev/ttyUSB0", "unknown device URI"),
    ("foo:/dev/ttyUSB0", "unknown device URI"),
    ("sim:nothing", "no simulator for 'nothing'"),
    ("mark10:", "missing port"),
    ("mark10:/dev/x?baud", "malformed options"),
])
def test_bad_uris_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(DeviceError, match=message):
        parse_uri(text)


def test_missing_port_is_a_one_line_error() -> None:
    driver, sim = open_device("mark10:/dev/does-not-exist-42")
    assert sim is None
    with pytest.raises(DeviceError) as err:
        driver.open()
    assert str(err.value) == (
        "/dev/does-not-exist-42: port not found (is the device plugged in? `station devices` lists ports)")


def test_busy_port_is_reported() -> None:
    driver, sim = open_device("sim:mark10")
    assert sim is not None
    try:
        driver.open()
        second, _ = open_device(f"mark10:{sim.port}")
        with pytest.raises(DeviceError, match="busy"):
            second.open()
    finally:
        driver.close()
        sim.close()


def test_bad_baud_option() -> None:
    with pytest.raises(DeviceError, match="baud must be an integer"):
        open_device("mark10:/dev/ttyS0?baud=fast")
