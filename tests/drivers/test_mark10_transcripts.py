"""Mark-10 driver against literal transcripts from the Mark-10 Series 4/5 user's guides.

No pty and no real time: each test runs in milliseconds. Replies are as the guides print
them: every reply ends CR-LF, errors are ``*10`` (illegal command) and friends, ``AOUTn``
starts output without an acknowledgement.
"""
from __future__ import annotations

import numpy as np
import pytest

from drivers.base import DeviceError
from drivers.mark10 import Mark10Driver
from transcript import transcript_driver

LBF = 4.4482216152605

SERIES5_IDENTIFY = [
    (b"AOUT0\r", b""),
    (b"LIST\r", b"V1.00;LBF;CUR;FLTC8;FLTP1;AOUT00;AOFF5;FULL;MIT;POL;B0\r\n"),
    (b"RM\r", b"M5-100\r\n"),
    (b"RS\r", b"3456789\r\n"),
    (b"RV\r", b"1.10\r\n"),
]

#: a Series 4 / older firmware: only the reading commands; *10 to everything else
READING_ONLY_IDENTIFY = [
    (b"AOUT0\r", b"*10\r\n"),
    (b"LIST\r", b"*10\r\n"),
    (b"?\r", b"-18.78 lbF\r\n"),
    (b"AOUT0\r", b"*10\r\n"),
    (b"RM\r", b"*10\r\n"),
    (b"RS\r", b"*10\r\n"),
    (b"RV\r", b"*10\r\n"),
]


def test_series5_identify_stream_and_stop() -> None:
    drv, port = transcript_driver(Mark10Driver, [
        *SERIES5_IDENTIFY,
        (b"AOUT500\r", b"12.34 lbF\r\n-0.50 lbF\r\n12.3"),
        (b"AOUT0\r", b""),
    ])
    info = drv.open()
    assert (info.model, info.serial, info.firmware) == ("M5-100", "3456789", "1.10")
    assert info.settings["gauge_unit"] == "lbF" and info.settings["readout"] == "stream"
    assert info.warnings == ()
    drv.start()
    block = drv.read()
    assert block is not None
    assert np.allclose(block.values[:, 0], [12.34 * LBF, -0.50 * LBF])
    drv.close()
    port.assert_done()
    assert not port.is_open


def test_a_gauge_that_answers_only_readings_is_identified_degraded_and_polled() -> None:
    drv, port = transcript_driver(Mark10Driver, [
        *READING_ONLY_IDENTIFY,
        (b"?\r", b"-18.80 lbF\r\n"),
        (b"?\r", b"-18.82 lbF\r\n"),
    ])
    info = drv.open()
    assert (info.model, info.serial, info.firmware) == ("unknown", "unknown", "unknown")
    assert info.settings["gauge_unit"] == "lbF" and info.settings["readout"] == "poll"
    assert info.settings["identified"] == {"model": False, "serial": False, "firmware": False, "settings": False}
    text = " | ".join(info.warnings)
    assert "LIST" in text and "*10" in text and "unit lbF taken from a ? reading" in text and "polled" in text
    assert info.rate_hz == 50.0
    drv.start()
    got = [drv.read(), drv.read()]
    assert [float(b.values[0, 0]) for b in got if b is not None] == pytest.approx([-18.80 * LBF, -18.82 * LBF])
    drv.stop()  # nothing to send: polling just ends
    port.assert_done()


def test_poll_rate_follows_the_rate_option_in_fake_time() -> None:
    replies = [(b"?\r", b"1.00 N\r\n")] * 5
    steps = [(s, r.replace(b"lbF", b"N")) for s, r in READING_ONLY_IDENTIFY]
    drv, port = transcript_driver(Mark10Driver, [*steps, *replies], options={"rate": "20"})
    drv.open()
    drv.start()
    t0 = drv.clock.monotonic()
    stamps: list[float] = []
    for _ in range(60):
        block = drv.read(timeout_s=0.01)  # shorter than the poll period: some reads return None
        if block is not None:
            stamps.append(float(block.t_host_s[0]))
        if len(stamps) == 5:
            break
    assert len(stamps) == 5
    assert np.allclose(np.diff(stamps), 1 / 20) and stamps[0] - t0 < 1 / 20 + 1e-9
    port.assert_done()


def test_num_format_without_list_needs_the_unit_option() -> None:
    steps = [(b"AOUT0\r", b"*10\r\n"), (b"LIST\r", b"*10\r\n"), (b"?\r", b"-18.78\r\n")]
    drv, _ = transcript_driver(Mark10Driver, steps)
    with pytest.raises(DeviceError, match="NUM format.*unit=") as err:
        drv.open()
    assert "\n" not in str(err.value)
    drv, port = transcript_driver(Mark10Driver, [*steps, *READING_ONLY_IDENTIFY[3:], (b"?\r", b"2.00\r\n")],
                                  options={"unit": "kgf"})
    info = drv.open()
    assert info.settings["gauge_unit"] == "kgF" and info.settings["format"] == "NUM"
    drv.start()
    block = drv.read()
    assert block is not None and float(block.values[0, 0]) == pytest.approx(2.0 * 9.80665)
    port.assert_done()


def test_commands_that_go_unanswered_are_warnings_not_refusals() -> None:
    # LIST works, but this firmware ignores RS and RV (no reply at all)
    drv, port = transcript_driver(Mark10Driver, [*SERIES5_IDENTIFY[:3], (b"RS\r", b""), (b"RV\r", b"")])
    info = drv.open()
    assert info.model == "M5-100" and info.serial == "unknown" and info.firmware == "unknown"
    assert any(w.startswith("RS: no Mark-10 reply") for w in info.warnings)
    port.assert_done()


@pytest.mark.parametrize("reply", [
    b"SFP1 model=SIM serial=1 channels=8 rate_hz=1000 fw=1\n",  # an SFP board
    b"ERR unknown command 'LIST'\n",
    b"A\r\n",  # a Loadstar ping answer
])
def test_identify_refuses_another_device(reply: bytes) -> None:
    drv, _ = transcript_driver(Mark10Driver, [(b"AOUT0\r", b""), (b"LIST\r", reply)])
    with pytest.raises(DeviceError, match="did not answer LIST like a Mark-10"):
        drv.open()


def test_identify_refuses_a_device_answering_neither_list_nor_a_reading() -> None:
    drv, _ = transcript_driver(Mark10Driver, [(b"AOUT0\r", b""), (b"LIST\r", b"*10\r\n"), (b"?\r", b"Tared\r\n")])
    with pytest.raises(DeviceError, match="neither LIST nor \\? like a Mark-10"):
        drv.open()


def test_a_silent_port_is_refused_in_fake_time() -> None:
    drv, port = transcript_driver(Mark10Driver, [(b"AOUT0\r", b""), (b"LIST\r", b""), (b"?\r", b"")])
    with pytest.raises(DeviceError, match="no Mark-10 reply to '\\?'"):
        drv.open()
    assert drv.clock.monotonic() - 1000.0 >= Mark10Driver.identify_timeout_s + 0.6
    assert not port.is_open  # open() closes the port it could not identify on
