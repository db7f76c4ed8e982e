"""SfpDriver against the SFP simulator over real ptys: identify, stream, faults, reconnect."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from simulation import mark10
from drivers.base import DeviceDisconnected, DeviceError, SampleBlock
from drivers.registry import open_device
from drivers.sfp import SfpDriver, frame_bytes
from simulation.sfp import SfpSimulator, make_simulator

Rig = Callable[..., tuple[SfpSimulator, SfpDriver]]


@pytest.fixture
def rig() -> Iterator[Rig]:
    made: list[tuple[SfpSimulator, SfpDriver]] = []

    def make(options: dict[str, str] | None = None, driver_options: dict[str, str] | None = None,
             source: object = None) -> tuple[SfpSimulator, SfpDriver]:
        sim = make_simulator(options or {}, source)  # type: ignore[arg-type]
        port = sim.start()
        driver = SfpDriver(port, options=driver_options, port_provider=lambda: sim.port)
        made.append((sim, driver))
        driver.open()
        return sim, driver

    yield make
    for sim, driver in made:
        driver.close()
        sim.close()


class Collected:
    def __init__(self) -> None:
        self.blocks: list[SampleBlock] = []

    def add(self, block: SampleBlock | None) -> None:
        if block is not None:
            self.blocks.append(block)

    @property
    def n(self) -> int:
        return sum(len(b) for b in self.blocks)

    @property
    def values(self) -> np.ndarray:
        return np.concatenate([b.values for b in self.blocks])

    @property
    def t_device(self) -> np.ndarray:
        return np.concatenate([b.t_device_s for b in self.blocks])

    @property
    def t_host(self) -> np.ndarray:
        return np.concatenate([b.t_host_s for b in self.blocks])


def read_for(driver: SfpDriver, seconds: float, into: Collected | None = None) -> Collected:
    out = into or Collected()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.add(driver.read(0.02))
    return out


def test_identify(rig: Rig) -> None:
    sim, driver = rig({"channels": "4", "rate": "500", "serial": "P-42"})
    info = driver.info
    assert info is not None
    assert (info.family, info.model, info.serial, info.firmware) == ("sfp", "SIM-SFP4", "P-42", "1.0.0")
    assert (info.channels, info.rate_hz, info.unit, info.time_source) == (4, 500.0, "counts", "device")
    assert info.port == sim.port
    assert info.settings["channels"] == "4" and info.settings["rate_hz"] == "500" and info.settings["fw"] == "1.0.0"
    assert info.settings["protocol"] == "SFP1"
    assert sim.commands_seen[-1] == b"INFO"


def test_stream_and_count_at_nominal_rate(rig: Rig) -> None:
    sim, driver = rig()
    driver.start()
    t0 = time.monotonic()
    got = read_for(driver, 1.0)
    driver.stop()
    got.add(driver.flush())
    wall = time.monotonic() - t0
    assert got.values.shape[1] == 8
    assert got.n / wall == pytest.approx(1000, rel=0.12)
    assert np.allclose(np.diff(got.t_device), 1e-3)
    assert np.all(np.diff(got.t_host) > 0)
    assert abs(got.t_host[-1] - time.monotonic()) < 0.5
    s = driver.stats
    assert s.samples == got.n and s.lost_samples == 0 and s.gaps == 0 and s.crc_errors == 0 and s.resyncs == 0
    assert s.bytes_in >= got.n * frame_bytes(8)
    # counts follow the load cell model: at rest each channel sits near its offset
    offsets = np.array([c.offset_counts for c in sim.cells])
    assert np.all(np.abs(np.median(got.values, axis=0) - offsets) < 2000 * 8)


def test_rate_option_sends_rate_and_streams_at_4000_hz(rig: Rig) -> None:
    sim, driver = rig(driver_options={"rate": "4000"})
    assert driver.info is not None and driver.info.rate_hz == 4000.0
    assert b"RATE 4000" in sim.commands_seen
    driver.start()
    got = read_for(driver, 0.5)
    driver.stop()
    got.add(driver.flush())
    assert got.n == pytest.approx(2000, rel=0.2)
    assert driver.stats.lost_samples == 0 and driver.stats.crc_errors == 0
    assert np.allclose(np.diff(got.t_device), 250e-6)


def test_refused_rate_names_port_and_device_text() -> None:
    sim = make_simulator({})
    port = sim.start()
    try:
        driver = SfpDriver(port, options={"rate": "50000"})
        with pytest.raises(DeviceError) as err:
            driver.open()
        assert port in str(err.value) and "ERR rate 50000 out of range" in str(err.value)
        assert driver._serial is None  # closed again
    finally:
        sim.close()


def test_bad_options_and_channel_mismatch() -> None:
    with pytest.raises(DeviceError, match="rate"):
        SfpDriver("/dev/null", options={"rate": "fast"})
    with pytest.raises(DeviceError, match="channels"):
        SfpDriver("/dev/null", options={"channels": "99"})
    sim = make_simulator({"channels": "4"})
    port = sim.start()
    try:
        with pytest.raises(DeviceError, match="4 channels, 8 expected"):
            SfpDriver(port, options={"channels": "8"}).open()
    finally:
        sim.close()


def test_commands_after_stop_skip_frames_in_flight(rig: Rig) -> None:
    sim, driver = rig({"rate": "4000"})
    driver.start()
    time.sleep(0.2)  # frames pile up unread
    driver.stop()
    assert driver.query("INFO").startswith("SFP1 model=SIM-SFP8")
    driver.start()
    with pytest.raises(DeviceError, match="while streaming"):
        driver.query("INFO")
    driver.stop()
    driver.flush()
    assert driver.query("RATE 1000") == "OK"


def test_open_while_device_is_streaming(rig: Rig) -> None:
    sim, driver = rig()
    driver.start()
    time.sleep(0.2)
    driver._serial.close()  # the host program dies without STOP  # type: ignore[union-attr]
    driver._serial = None
    driver.streaming = False
    again = SfpDriver(sim.port)
    try:
        info = again.open()
        assert info.channels == 8
        again.start()
        got = read_for(again, 0.3)
        assert got.n > 200 and again.stats.lost_samples == 0 and again.stats.resyncs == 0
    finally:
        again.close()


def test_garbage_mid_stream(rig: Rig) -> None:
    sim, driver = rig()
    driver.start()
    got = read_for(driver, 0.3)
    junk = b"\x00\x13\x37 line noise \xfe\xff" * 3
    sim.inject_garbage(junk)
    read_for(driver, 0.3, got)
    s = driver.stats
    assert s.garbage_bytes == len(junk) and s.resyncs == 1
    assert s.crc_errors == 0 and s.gaps == 0 and s.lost_samples == 0
    assert np.allclose(np.diff(got.t_device), 1e-3)  # no sample lost


def test_dropped_byte_loses_one_frame(rig: Rig) -> None:
    sim, driver = rig()
    driver.start()
    got = read_for(driver, 0.3)
    sim.drop_bytes(1)
    read_for(driver, 0.3, got)
    s = driver.stats
    assert s.gaps == 1 and s.lost_samples == 1 and s.resyncs == 1
    assert s.garbage_bytes == frame_bytes(8) - 1 and s.crc_errors <= 1
    steps = np.round(np.diff(got.t_device) * 1000).astype(int)
    assert sorted(set(steps.tolist())) == [1, 2] and np.count_nonzero(steps == 2) == 1


def test_corrupted_crc(rig: Rig) -> None:
    sim, driver = rig()
    driver.start()
    got = read_for(driver, 0.3)
    sim.corrupt_next_crc()
    read_for(driver, 0.3, got)
    s = driver.stats
    assert s.crc_errors == 1 and s.gaps == 1 and s.lost_samples == 1 and s.resyncs == 1
    assert s.garbage_bytes == frame_bytes(8)
    assert np.count_nonzero(np.round(np.diff(got.t_device) * 1000) == 2) == 1


def test_frozen_stream(rig: Rig) -> None:
    sim, driver = rig()
    driver.start()
    got = read_for(driver, 0.3)
    sim.freeze(0.3)
    read_for(driver, 0.6, got)
    s = driver.stats
    assert s.gaps == 1 and s.lost_samples == pytest.approx(300, abs=25)
    assert s.crc_errors == 0 and s.resyncs == 0
    jump = np.diff(got.t_device).max()
    assert jump == pytest.approx((s.lost_samples + 1) * 1e-3)


def test_unplug_and_replug(rig: Rig) -> None:
    sim, driver = rig()
    driver.start()
    got = read_for(driver, 0.3)
    before = got.n
    assert before > 200
    sim.unplug()
    with pytest.raises(DeviceDisconnected):
        read_for(driver, 2.0, got)
    assert got.n >= before  # samples read before the unplug are kept
    assert np.allclose(np.diff(got.t_device), 1e-3)
    sim.replug()
    info = driver.reconnect(timeout_s=5.0)
    assert info.port == sim.port and driver.streaming
    after = read_for(driver, 0.3)
    assert after.n > 200
    assert driver.stats.reconnects == 1 and driver.stats.lost_samples == 0


def test_sequence_and_time_wrap(rig: Rig) -> None:
    sim, driver = rig({"seq_offset": str(65536 - 150), "time_offset_us": str(2**32 - 250_000)})
    driver.start()
    got = read_for(driver, 0.6)
    s = driver.stats
    assert got.n > 400 and s.gaps == 0 and s.lost_samples == 0
    assert np.allclose(np.diff(got.t_device), 1e-3)
    assert got.t_device[0] < 2**32 * 1e-6 < got.t_device[-1]
    assert np.all(np.diff(got.t_host) > 0)


def test_wrong_device_on_the_port() -> None:
    sim = mark10.make_simulator({}, None)
    port = sim.start()
    try:
        t0 = time.monotonic()
        with pytest.raises(DeviceError) as err:
            SfpDriver(port).open()
        assert time.monotonic() - t0 < 4.0
        text = str(err.value)
        assert port in text and "no SFP reply" in text and "wrong device, baud rate or port?" in text
    finally:
        sim.close()


def test_missing_port() -> None:
    with pytest.raises(DeviceError, match="port not found"):
        SfpDriver("/dev/does-not-exist").open()


def test_registry_sim_uri() -> None:
    driver, sim = open_device("sim:sfp?channels=4&rate=500")
    assert sim is not None
    try:
        info = driver.open()
        assert (info.channels, info.rate_hz) == (4, 500.0)
        driver.start()
        got = read_for(driver, 0.3)
        assert got.values.shape[1] == 4 and got.n > 100
    finally:
        driver.close()
        sim.close()


def test_board_fifo_holds_frames_while_the_host_is_busy(rig: Rig) -> None:
    sim, driver = rig({"rate": "4000"})
    driver.start()
    time.sleep(0.3)  # ~55 KB produced: more than the pty holds, less than the board's FIFO
    got = read_for(driver, 0.5)
    assert sim.overflow_bytes == 0
    s = driver.stats
    assert s.lost_samples == 0 and s.crc_errors == 0 and s.resyncs == 0
    assert np.allclose(np.diff(got.t_device), 250e-6)


def test_host_too_slow_for_the_fifo_loses_counted_samples(rig: Rig) -> None:
    sim, driver = rig({"rate": "4000"})
    driver.start()
    time.sleep(0.8)  # ~147 KB: the FIFO overflows
    got = read_for(driver, 0.5)
    assert sim.overflow_bytes > 0
    s = driver.stats
    assert s.gaps >= 1 and s.lost_samples > 0
    produced = round((got.t_device[-1] - got.t_device[0]) * 4000) + 1
    assert got.n + s.lost_samples == produced  # every missing sample is accounted for


def test_identify_asks_again_after_a_late_err() -> None:
    class Grumpy(SfpSimulator):
        answered = False

        def handle_command(self, line: bytes) -> bytes | None:
            if line == b"INFO" and not self.answered:
                self.answered = True
                return b"ERR unknown command 'xxINFO'\n"
            return super().handle_command(line)

    from simulation.forces import RepeatingEfforts

    sim = Grumpy(RepeatingEfforts(8))
    port = sim.start()
    driver = SfpDriver(port)
    try:
        assert driver.open().channels == 8
        assert sim.commands_seen.count(b"INFO") == 2
    finally:
        driver.close()
        sim.close()
