"""OpenScale driver against literal transcripts of firmware 1.2 output (banner, CSV lines,
menu as ``docs/protocols/openscale.md`` shows them), in fake time; and boards whose menu
does not answer, read passively with the columns inferred from the lines."""
from __future__ import annotations

import numpy as np
import pytest

from drivers.base import DeviceError
from drivers.openscale import Columns, OpenScaleDriver, infer_stream
from transcript import transcript_driver

LBF = 4.4482216152605
BANNER = (b"\r\nSerial Load Cell Converter version 1.2\r\nBy SparkFun Electronics\r\nNo remote sensor found\r\n"
          b"Minimum time between reports: 13\r\nPress x to bring up settings\r\nReadings:\r\n")
MENU = (b"\r\nSerial Load Cell Converter version 1.2\r\nBy SparkFun Electronics\r\nNo remote sensor found\r\n"
        b"System Configuration\r\n1) Tare scale to zero [8388608]\r\n2) Calibrate scale [4448]\r\n"
        b"3) Timestamp [On]\r\n4) Set report rate [200]\r\n5) Set baud rate [9600 bps]\r\n"
        b"6) Change units of measure [lbs]\r\n7) Decimals [2]\r\n8) Average amount [4]\r\n9) Local temp [On]\r\n"
        b"r) Remote temp [On]\r\ns) Status LED [Blink]\r\nt) Serial trigger [Off]\r\nq) Raw reading [Off]\r\n"
        b"c) Trigger character: [!]\r\nx) Exit\r\n>")


def lines(n: int, start_ms: int = 1500, step_ms: int = 200, raw: bool = False, timestamp: bool = True) -> bytes:
    out = []
    for i in range(n):
        t = f"{start_ms + i * step_ms}," if timestamp else ""
        r = f"{8390000 + 7 * i}," if raw else ""
        out.append(f"{t}{0.5 + i / 100:.2f},lbs,{r}24.31,0,\r\n")
    return "".join(out).encode()


def test_identify_from_the_menu_then_stream_and_pause() -> None:
    drv, port = transcript_driver(OpenScaleDriver, [
        (None, BANNER + lines(2)),
        (b"x", MENU),
        (b"x", b"Exiting\r\n" + lines(3, start_ms=2100)),
        (b"x", MENU),
    ])
    info = drv.open()
    assert info.settings["columns"] == "millis,weight,unit,local_temp,remote_temp"
    assert info.settings["report_ms"] == 200 and info.rate_hz == 5.0 and info.firmware == "1.2"
    assert info.warnings == ()
    drv.start()
    block = drv.read()
    assert block is not None
    assert np.allclose(block.values[:, 0], np.array([0.50, 0.51, 0.52]) * LBF)
    assert np.allclose(np.diff(block.t_device_s), 0.2)
    drv.stop()
    port.assert_done()


def test_a_board_whose_menu_does_not_answer_is_read_passively() -> None:
    # the firmware ignores x (menu disabled): it just goes on printing readings
    drv, port = transcript_driver(OpenScaleDriver, [
        (None, BANNER + lines(4, step_ms=13, raw=True)),
        *[(b"x", lines(3, start_ms=1552 + 39 * k, step_ms=13, raw=True)) for k in range(4)],
    ])
    info = drv.open()
    assert info.settings["columns"] == "millis,weight,unit,raw,local_temp,remote_temp"
    assert info.settings["menu"] == "not answered (passive)"
    assert set(info.settings["inferred"]) >= {"columns", "scale_unit", "decimals", "rate_hz"}
    assert info.firmware == "1.2" and info.time_source == "device"
    text = " | ".join(info.warnings)
    assert "menu did not answer" in text and "columns inferred" in text and "stop cannot pause" in text
    assert info.rate_hz == pytest.approx(1000 / 13)
    drv.start()  # nothing to send: the board never stopped
    port.push(lines(5, start_ms=1708, step_ms=13, raw=True))
    block = drv.read()
    assert block is not None and len(block) == 5
    drv.stop()
    port.assert_done()


def test_passive_mode_counts_needs_a_raw_column() -> None:
    drv, _ = transcript_driver(OpenScaleDriver, [(None, BANNER + lines(6)), *[(b"x", lines(2))] * 4],
                               options={"mode": "counts"})
    with pytest.raises(DeviceError, match="mode=counts needs the raw reading column"):
        drv.open()


def test_a_silent_or_foreign_device_is_refused() -> None:
    drv, _ = transcript_driver(OpenScaleDriver, [*[(b"x", b"*10\r\n")] * 4])
    with pytest.raises(DeviceError, match="no OpenScale menu after sending 'x'.*heard no banner and no readings"):
        drv.open()


@pytest.mark.parametrize("columns", [
    Columns(True, False, True, True), Columns(True, True, True, True), Columns(False, False, False, False),
    Columns(True, True, False, False), Columns(False, False, True, False), Columns(True, True, True, False),
])
def test_columns_are_inferred_from_the_lines(columns: Columns) -> None:
    from simulation.openscale import example_stream

    inferred = infer_stream(example_stream(20, columns=columns, banner=True))
    assert inferred is not None and inferred.columns == columns
    assert inferred.unit == "lbs" and inferred.decimals == 2
    assert (inferred.report_ms is not None) == columns.timestamp
    if columns.timestamp:
        assert inferred.report_ms == pytest.approx(12.5, abs=0.3)


def test_nothing_is_inferred_from_other_devices_lines() -> None:
    assert infer_stream(b"12.34 lbF\r\n" * 20) is None
    assert infer_stream(b"    123.4567\r\n" * 20) is None
    assert infer_stream(b"1500,abc,lbs,24.31,\r\n" * 20) is None
