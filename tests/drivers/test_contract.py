"""The driver contract, checked for every family in ``drivers.registry.FAMILIES``.

- identify refuses the wrong device (one line naming the port), in fake time;
- every declared option is validated: a bad value is one line naming the port and the option;
- close stops the stream (the simulator on the far end of the pty stops sending);
- unplug and replug: the read raises :class:`DeviceDisconnected`, ``reconnect`` brings the
  stream back.
A new family gets all of this by being listed in ``FAMILIES`` with a simulator.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from drivers.base import DeviceDisconnected, DeviceError, Driver
from drivers.options import Option
from drivers.registry import FAMILIES, family_module, open_device
from transcript import FakeClock

#: simulator options that make each family's contract tests quick
SIM_URI = {
    "mark10": "sim:mark10?rate=200",
    "loadstar": "sim:loadstar?model=DI-1000UHS",
    "openscale": "sim:openscale?boot=0.05",
    "sfp": "sim:sfp?channels=4&rate=500",
}


class WrongDevicePort:
    """A port where another device answers every line with ``reply`` (and streams it too)."""

    def __init__(self, reply: bytes, clock: FakeClock) -> None:
        self.reply, self.clock = reply, clock
        self.timeout: float | None = 0.05
        self._in = bytearray(reply * 3)
        self.is_open = True

    def write(self, data: bytes) -> int:
        self._in += self.reply * max(1, data.count(b"\r") + data.count(b"\n"))
        return len(data)

    def flush(self) -> None:
        pass

    @property
    def in_waiting(self) -> int:
        return len(self._in)

    def read(self, size: int = 1) -> bytes:
        if not self._in:
            self.clock.sleep(self.timeout or 0.0)
            return b""
        out = bytes(self._in[:size])
        del self._in[:size]
        return out

    def reset_input_buffer(self) -> None:
        self._in.clear()

    def close(self) -> None:
        self.is_open = False


WRONG_REPLIES = {
    "a Mark-10": b"12.34 lbF\r\n",
    "an SFP board": b"SFP1 model=X serial=1 channels=8 rate_hz=1000 fw=1\n",
    "a Loadstar": b"A\r\n",
    "an OpenScale": b"1500,1.23,lbs,24.31,0,\r\n",
    "a chatty modem": b"OK\r\nERROR\r\n",
    "line noise": b"\x00\xff\xa5\x5a\x13\r\n",
}
SELF_REPLY = {"mark10": "a Mark-10", "sfp": "an SFP board", "loadstar": "a Loadstar", "openscale": "an OpenScale"}


def driver_cls(family: str) -> type[Driver]:
    cls: type[Driver] = family_module(family).DRIVER
    return cls


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("other", list(WRONG_REPLIES))
def test_identify_refuses_the_wrong_device(family: str, other: str) -> None:
    if SELF_REPLY.get(family) == other:
        pytest.skip("the family's own reply")
    clock = FakeClock()
    port = WrongDevicePort(WRONG_REPLIES[other], clock)
    drv = driver_cls(family)("/dev/ttyFAKE0", connect=lambda _p, _b: port, clock=clock)
    t0 = time.monotonic()
    with pytest.raises(DeviceError) as err:
        drv.open()
    message = str(err.value)
    assert message.startswith("/dev/ttyFAKE0: ") and "\n" not in message
    assert not port.is_open
    assert time.monotonic() - t0 < 2.0  # fake time: no real waiting


def bad_values(option: Option) -> list[str]:
    if option.kind == "choice":
        return ["definitely-not-a-choice"]
    if option.kind == "flag":
        return ["maybe"]
    if option.kind == "text":
        return ["bad\x01text"]
    values = ["abc", "nan", "inf", ""][:3]
    if option.minimum is not None:
        values.append(str(option.minimum - 1))
    if option.maximum is not None:
        values.append(str(option.maximum * 10 + 1))
    if option.kind == "int":
        values.append("1.5")
    return values


CASES = [(family, option, value) for family in FAMILIES for option in driver_cls(family).OPTIONS
         for value in bad_values(option)]


@pytest.mark.parametrize(("family", "option", "value"), CASES,
                         ids=[f"{f}-{o.name}={v!r}" for f, o, v in CASES])
def test_option_values_are_validated_with_one_line_errors(family: str, option: Option, value: str) -> None:
    with pytest.raises(DeviceError) as err:
        driver_cls(family)("/dev/ttyUSB9", options={option.name: value})
    message = str(err.value)
    assert message.startswith("/dev/ttyUSB9: ") and option.name in message and "\n" not in message


@pytest.mark.parametrize("family", list(FAMILIES))
def test_unknown_option_is_refused_and_options_are_declared(family: str) -> None:
    cls = driver_cls(family)
    assert cls.OPTIONS and all(o.help and o.kind for o in cls.OPTIONS)
    with pytest.raises(DeviceError, match=r"^/dev/ttyUSB9: unknown option 'colour' \(options: "):
        cls("/dev/ttyUSB9", options={"colour": "red"})
    with pytest.raises(DeviceError, match=f"^sim:{family}\\?colour=red: unknown option 'colour'"):
        open_device(f"sim:{family}?colour=red")


@pytest.fixture
def sim_device(request: pytest.FixtureRequest) -> Any:
    family = request.param
    driver, simulator = open_device(SIM_URI[family])
    assert simulator is not None
    yield driver, simulator
    driver.close()
    simulator.close()


def read_samples(drv: Driver, seconds: float) -> int:
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        block = drv.read(0.02)
        if block is not None:
            n += len(block)
            assert np.isfinite(block.values).all()
    return n


@pytest.mark.parametrize("sim_device", list(FAMILIES), indirect=True)
def test_close_stops_the_stream(sim_device: Any) -> None:
    drv, sim = sim_device
    drv.open()
    drv.start()
    assert read_samples(drv, 0.4) > 0
    assert sim.streaming
    drv.close()
    deadline = time.monotonic() + 2.0
    while sim.streaming and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not sim.streaming
    assert drv._serial is None and not drv.streaming  # noqa: SLF001 - the port is really closed


@pytest.mark.parametrize("sim_device", list(FAMILIES), indirect=True)
def test_unplug_and_replug_reconnect(sim_device: Any) -> None:
    drv, sim = sim_device
    drv.open()
    drv.start()
    assert read_samples(drv, 0.3) > 0
    sim.unplug()
    with pytest.raises(DeviceDisconnected):
        read_samples(drv, 1.0)
    sim.replug()
    info = drv.reconnect(timeout_s=5.0, poll_s=0.05)
    assert info.family == drv.family and drv.stats.reconnects == 1
    assert drv.streaming and read_samples(drv, 0.5) > 0


@pytest.mark.parametrize("sim_device", list(FAMILIES), indirect=True)
def test_streaming_resumes_when_the_device_is_back_after_failed_reconnects(sim_device: Any) -> None:
    """The reader thread calls reconnect with a short timeout again and again until the device
    is back: a failed call must not forget that the device was streaming (it did: after a
    real unplug of a few seconds the session said "back" and then recorded no samples)."""
    drv, sim = sim_device
    drv.open()
    drv.start()
    assert read_samples(drv, 0.3) > 0
    sim.unplug()
    with pytest.raises(DeviceDisconnected):
        read_samples(drv, 1.0)
    for _ in range(2):  # still unplugged: these attempts time out
        with pytest.raises(DeviceDisconnected):
            drv.reconnect(timeout_s=0.1, poll_s=0.05)
    sim.replug()
    drv.reconnect(timeout_s=5.0, poll_s=0.05)
    assert drv.streaming and read_samples(drv, 0.5) > 0
