"""A real port's read takes everything waiting: while reads come back full (a tty hands over
at most ~4 KiB per read) the driver keeps reading for a few ms, so a flood is decoded in few
large blocks, every byte in order; a short read is returned as it is."""
from __future__ import annotations

import os
import threading
import tty

import pytest

from drivers.base import FLOWING_BYTES, DeviceInfo, Driver, SampleBlock

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


class RawDriver(Driver):
    family = "raw"

    def identify(self) -> DeviceInfo:
        return DeviceInfo("raw", "test", "0", "0", 1, 1.0, "N", "host", self.port)

    def start(self) -> None:
        self.streaming = True

    def stop(self) -> None:
        self.streaming = False

    def decode(self, data: bytes, arrival_s: float) -> SampleBlock | None:
        return None

    def reset_decoder(self) -> None:
        pass


@pytest.fixture
def pty_driver():
    master, slave = os.openpty()
    tty.setraw(slave)
    drv = RawDriver(os.ttyname(slave))
    drv.open()
    yield drv, master
    drv.close()
    os.close(master)
    os.close(slave)


def test_a_flood_is_read_in_few_large_blocks_in_order(pty_driver):
    drv, master = pty_driver
    sent = bytes(range(256)) * 1024  # 256 KiB: at least 64 reads of a tty's ~4 KiB
    def write_all() -> None:
        view = memoryview(sent)
        while view:
            view = view[os.write(master, view):]

    writer = threading.Thread(target=write_all)
    writer.start()
    parts: list[bytes] = []
    while sum(map(len, parts)) < len(sent):
        data = drv.read_available(timeout_s=2.0)
        assert data, "the port went quiet before everything arrived"
        parts.append(data)
    writer.join()
    assert b"".join(parts) == sent
    assert drv.stats.bytes_in == len(sent)
    assert max(map(len, parts)) > 4096  # more than one tty read in one call
    assert len(parts) < len(sent) // 4096 // 2


def test_a_short_read_is_returned_as_it_is(pty_driver):
    drv, master = pty_driver
    os.write(master, b"x" * 100)
    assert drv.read_available(timeout_s=2.0) == b"x" * 100
    assert 100 < FLOWING_BYTES
    os.write(master, b"y" * 10)
    assert drv.read_available(timeout_s=2.0) == b"y" * 10


def test_an_empty_port_is_noted_and_bytes_after_it_are_read(pty_driver):
    drv, master = pty_driver
    assert drv.read_available(timeout_s=0.01) == b""  # nothing there: the read waited
    empty_at = drv.empty_at_s
    assert empty_at > float("-inf")
    os.write(master, b"z" * 30)
    assert drv.read_available(timeout_s=2.0) == b"z" * 30  # there at once: read without waiting
    assert drv.empty_at_s == empty_at  # it was not empty this time
    got = []
    threading.Timer(0.05, lambda: os.write(master, b"late")).start()
    got.append(drv.read_available(timeout_s=2.0))  # empty at first, then the bytes come
    assert got == [b"late"] and drv.empty_at_s > empty_at


def test_a_pty_keeps_no_overrun_counts_and_is_not_asked_again(pty_driver):
    from drivers.base import port_overruns

    drv, master = pty_driver
    assert port_overruns(drv.serial.fileno()) is None
    os.write(master, b"a")
    drv.read_available(timeout_s=2.0)
    assert drv._overruns_kept is False and drv.stats.port_overruns == 0


def test_characters_the_port_dropped_are_counted_and_logged(pty_driver, monkeypatch, caplog):
    import drivers.base as base

    drv, master = pty_driver
    counts = iter([7, 7, 19, 19, 25])  # the port's overrun + buf_overrun, as TIOCGICOUNT would say
    monkeypatch.setattr(base, "port_overruns", lambda fd: next(counts))
    monkeypatch.setattr(base, "ICOUNT_EVERY_READS", 1)
    for _ in range(5):
        os.write(master, b"b")
        assert drv.read_available(timeout_s=2.0) == b"b"
    assert drv.stats.port_overruns == 18  # 7 were dropped before this driver opened the port
    assert "dropped 12 character(s)" in caplog.text and "dropped 6 character(s)" in caplog.text
