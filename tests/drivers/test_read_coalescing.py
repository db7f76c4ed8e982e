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
