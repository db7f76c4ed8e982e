"""Loadstar and SFP drivers against literal transcripts, in fake time (milliseconds each).

Loadstar: the vendor's DI-1000U command set (a CR is a ping answered ``A``, ``MODEL``, ``ID``,
``UNITS``, ``LC``, ``WC`` streams ``%12.4f`` lines until a CR). SFP: ``docs/protocols/sfp.md``
(``INFO``, ``RATE``, ``START``/``STOP`` and its worked example frame)."""
from __future__ import annotations

import numpy as np
import pytest

from drivers.base import DeviceError
from drivers.loadstar import LoadstarDriver
from drivers.sfp import SfpDriver
from transcript import transcript_driver

LBF = 4.4482216152605

LOADSTAR_IDENTIFY = [
    (b"\r", b"A\r\n"),  # ends a stream left running; its answer is flushed
    (b"\r", b"A\r\n"),
    (b"MODEL\r", b"FCM DI-1000\r\n"),
    (b"ID\r", b"FC00012345\r\n"),
    (b"UNITS\r", b"LB\r\n"),
    (b"LC\r", b"100\r\n"),
]


def test_loadstar_identify_stream_stop() -> None:
    drv, port = transcript_driver(LoadstarDriver, [
        *LOADSTAR_IDENTIFY,
        (b"WC\r", b"     12.3456\r\n     -0.5000\r\n    1"),
        (b"\r", b""),
    ])
    info = drv.open()
    assert (info.model, info.serial) == ("FCM DI-1000", "FC00012345")
    assert info.settings["device_unit"] == "LB" and info.settings["capacity_n"] == pytest.approx(100 * LBF)
    assert info.rate_hz == 80.0  # a DI-1000U at 9600 bit/s
    drv.start()
    block = drv.read()
    assert block is not None and np.allclose(block.values[:, 0], [12.3456 * LBF, -0.5 * LBF])
    drv.stop()
    port.assert_done()


def test_loadstar_refuses_a_torque_sensor() -> None:
    steps = [*LOADSTAR_IDENTIFY[:3], (b"ID\r", b"TQ00000042\r\n")]
    drv, _ = transcript_driver(LoadstarDriver, steps)
    with pytest.raises(DeviceError, match="torque sensor"):
        drv.open()


def test_loadstar_counts_needs_the_uhs1k() -> None:
    drv, _ = transcript_driver(LoadstarDriver, LOADSTAR_IDENTIFY[:5], options={"mode": "counts"})
    with pytest.raises(DeviceError, match="mode=counts needs a DI-1000UHS-1K"):
        drv.open()


SFP_INFO = b"SFP1 model=PLATE-2 serial=P-0042 channels=2 rate_hz=1000 fw=1.3.0\n"
#: the worked example of docs/protocols/sfp.md: seq 258, 1 000 000 µs, counts 8000 and -1234
EXAMPLE_FRAME = bytes.fromhex("A55A0102020140420F00401F00002EFBFFFF2742B066")


def test_sfp_identify_rate_stream_stop() -> None:
    drv, port = transcript_driver(SfpDriver, [
        (b"\nSTOP\n", b""),
        (b"INFO\n", SFP_INFO),
        (b"RATE 2000\n", b"OK\n"),
        (b"INFO\n", SFP_INFO.replace(b"rate_hz=1000", b"rate_hz=2000")),
        (b"START\n", EXAMPLE_FRAME + EXAMPLE_FRAME[:7]),
        (b"STOP\n", b""),
    ], options={"rate": "2000", "channels": "2"})
    info = drv.open()
    assert (info.model, info.serial, info.firmware, info.channels, info.rate_hz) == \
        ("PLATE-2", "P-0042", "1.3.0", 2, 2000.0)
    drv.start()
    block = drv.read()
    assert block is not None and block.values.tolist() == [[8000.0, -1234.0]]
    assert block.t_device_s is not None and block.t_device_s[0] == pytest.approx(1.0)
    drv.stop()
    port.assert_done()


def test_sfp_refused_rate_is_a_one_line_error() -> None:
    drv, _ = transcript_driver(SfpDriver, [
        (b"\nSTOP\n", b""),
        (b"INFO\n", SFP_INFO),
        (b"RATE 50000\n", b"ERR rate 50000 out of range (0 < rate <= 10000 Hz)\n"),
    ], options={"rate": "50000"})
    with pytest.raises(DeviceError) as err:
        drv.open()
    assert "ERR rate 50000 out of range" in str(err.value) and "\n" not in str(err.value)


def test_sfp_channel_count_mismatch() -> None:
    drv, _ = transcript_driver(SfpDriver, [(b"\nSTOP\n", b""), (b"INFO\n", SFP_INFO)], options={"channels": "8"})
    with pytest.raises(DeviceError, match="2 channels, 8 expected"):
        drv.open()
