"""OpenScale driver against the simulator over real ptys: identification, streams, faults."""
from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
import serial

import simulation.mark10 as mark10
from drivers.base import DeviceDisconnected, DeviceError, SampleBlock
from drivers.openscale import LBF_N, OpenScaleDriver
from simulation.loadcell import LoadCellModel
from simulation.openscale import OpenScaleSimulator
from drivers.registry import open_device
from simulation.forces import ConstantForce
from pty_helpers import collect, values


@pytest.fixture
def rig() -> Iterator:
    made: list = []

    def make(options: dict[str, str] | None = None, force_n: float = 100.0, **sim_kwargs):
        sim_kwargs.setdefault("boot_s", 0.1)
        sim = OpenScaleSimulator(ConstantForce(force_n), **sim_kwargs)
        sim.start()
        drv = OpenScaleDriver(sim.port, options=options or {}, port_provider=lambda: sim.port)
        made.append((drv, sim))
        return drv, sim

    yield make
    for drv, sim in made:
        drv.close()
        sim.close()


def device_times(blocks: list[SampleBlock]) -> np.ndarray:
    return np.concatenate([b.t_device_s for b in blocks]) if blocks else np.empty(0)


def drain(drv, sim=None) -> None:
    """Stop the stream and read what is left: once ``sim`` has stopped streaming and its FIFO
    is empty (a condition, so a busy machine cannot cut it short), until 0.2 s go quiet."""
    drv.stop()
    deadline = time.monotonic() + 10.0
    while sim is not None and (sim.streaming or sim._backlog) and time.monotonic() < deadline:  # noqa: SLF001
        drv.read(0.02)
    quiet_since = time.monotonic()
    while True:  # ends only right after a read that found nothing (a stall between reads cannot end it)
        if drv.read(0.02) is not None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 0.2:
            break


def test_identifies_from_banner_and_menu(rig) -> None:
    drv, sim = rig()
    info = drv.open()
    assert (info.family, info.model, info.firmware) == ("openscale", "OpenScale", "1.2")
    assert info.unit == "N" and info.time_source == "device" and info.rate_hz == 80
    assert info.settings["columns"] == "millis,weight,unit,local_temp,remote_temp"
    assert info.settings["scale_unit"] == "lbs" and info.settings["changed"] == []
    assert info.settings["banner"][0] == "Serial Load Cell Converter version 1.2"
    assert sim.state == "menu" and not sim.streaming  # identify leaves the board paused in its menu


def test_weight_stream_with_device_time(rig) -> None:
    drv, sim = rig(force_n=100.0)
    drv.open()
    drv.start()
    blocks = collect(drv, 0.6)
    v, t = values(blocks), device_times(blocks)
    assert 35 < v.size < 60
    assert v == pytest.approx(100.0, abs=0.01 * LBF_N)  # 2 decimals of lbs
    dt = np.diff(t)
    assert np.all(dt > 0) and np.median(dt) == pytest.approx(0.0125, abs=0.002)
    assert drv.stats.lost_samples == 0 and drv.stats.gaps == 0
    drv.stop()
    time.sleep(0.05)
    assert sim.state == "menu"


def test_kg_board(rig) -> None:
    drv, _ = rig(force_n=98.0665, unit="kg")
    assert drv.open().settings["scale_unit"] == "kg"
    drv.start()
    assert values(collect(drv, 0.3)) == pytest.approx(98.0665, abs=0.01 * 9.80665)


def test_counts_mode_switches_raw_reading_on(rig) -> None:
    cell = LoadCellModel(gain_counts_per_n=1000.0, offset_counts=-8000.0, noise_counts=2.0)
    drv, sim = rig({"mode": "counts"}, force_n=50.0, cell=cell)
    info = drv.open()
    assert info.unit == "counts" and info.settings["changed"] == ["raw reading on"] and sim.raw
    assert "raw" in info.settings["columns"]
    drv.start()
    v = values(collect(drv, 0.3))
    assert v.size > 10 and np.abs(v - 42_000).max() < 20


def test_host_time_when_timestamps_are_off(rig) -> None:
    drv, _ = rig(timestamp=False, local_temp=False, remote_temp=False)
    info = drv.open()
    assert info.time_source == "host" and info.settings["columns"] == "weight,unit"
    drv.start()
    blocks = collect(drv, 0.3)
    assert blocks and all(b.t_device_s is None for b in blocks)


def test_ten_hz_board(rig) -> None:
    drv, _ = rig(rate_hz=10)
    assert drv.open().rate_hz == 10
    drv.start()
    assert 3 <= len(values(collect(drv, 0.55))) <= 7


def test_serial_trigger_mode(rig) -> None:
    drv, sim = rig(trigger=True, rate_hz=20)
    info = drv.open()
    assert info.settings["serial_trigger"]
    drv.start()
    blocks = collect(drv, 1.0)
    n = len(values(blocks))
    assert 8 <= n <= 20
    assert sim.commands_seen.count(b"!") >= n - 1
    drv.stop()


def test_identify_when_the_board_was_left_in_its_menu(rig) -> None:
    drv, sim = rig()
    drv.open()
    drv.close()
    assert sim.state == "menu"
    again = OpenScaleDriver(sim.port)  # same baud: no termios change, so no reset this time
    try:
        info = again.open()
        assert info.firmware == "1.2" and sim.boots == 2
        again.start()
        assert len(values(collect(again, 0.3))) > 10
    finally:
        again.close()


def test_identify_when_already_streaming_without_reset(rig) -> None:
    drv, sim = rig()
    with serial.Serial(sim.port, 9600, timeout=0.05):
        time.sleep(0.3)  # the open resets it; it is streaming when we come
    info = drv.open()
    assert info.firmware == "1.2" and sim.state == "menu"


def test_unsupported_unit_names_port_and_unit(rig) -> None:
    drv, sim = rig(unit="g")
    with pytest.raises(DeviceError) as err:
        drv.open()
    assert sim.port in str(err.value) and "'g'" in str(err.value)


def test_wrong_device_is_refused_quickly() -> None:
    with mark10.make_simulator({}, None) as sim:
        drv = OpenScaleDriver(sim.port)
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match=sim.port):
            drv.open()
        assert time.monotonic() - t0 < 4.0
        assert drv._serial is None


def test_millis_wrap_over_the_pty(rig) -> None:
    drv, _ = rig(uptime_ms=2**31 - 250)
    drv.open()  # takes ~0.15 s of the 0.25 s before the signed wrap
    drv.start()
    t = device_times(collect(drv, 0.6))
    assert np.all(np.diff(t) > 0) and t[-1] > (2**31) / 1000
    assert drv.stats.lost_samples == 0 and drv.decoder.restarts == 0


def test_through_the_registry() -> None:
    drv, sim = open_device("sim:openscale?mode=counts&rate=40&boot=0.05")
    try:
        info = drv.open()
        assert info.unit == "counts" and info.rate_hz == 40
        drv.start()
        assert len(values(collect(drv, 0.3))) > 5
    finally:
        drv.close()
        sim.close()


# -- faults over the pty --------------------------------------------------------------------
def test_injected_garbage_is_skipped_and_counted(rig) -> None:
    drv, sim = rig()
    drv.open()
    drv.start()
    collect(drv, 0.2)
    sim.inject_garbage(b"\x00\xff\x10junk")
    after = values(collect(drv, 0.2))
    assert drv.stats.resyncs == 1 and drv.stats.garbage_bytes > 7
    assert drv.stats.lost_samples == 1  # the line behind the garbage
    sim.inject_garbage(64)
    collect(drv, 0.2)
    assert drv.stats.resyncs >= 2
    drain(drv, sim)
    assert after.size > 10
    assert drv.stats.samples + drv.stats.lost_samples == pytest.approx(sim.samples_emitted, abs=2)


def test_a_dropped_byte_loses_one_reading_and_counts_it(rig) -> None:
    drv, sim = rig()
    drv.open()
    drv.start()
    collect(drv, 0.2)
    sim.drop_bytes(1)
    collect(drv, 0.2)
    drain(drv, sim)
    assert sim.overflow_bytes == 0
    assert drv.stats.lost_samples in (0, 1, 2)  # 0 if the byte was a digit of a temperature
    assert drv.stats.samples + drv.stats.lost_samples == sim.samples_emitted


def test_a_frozen_stream_is_a_gap_in_device_time(rig) -> None:
    drv, sim = rig()
    drv.open()
    drv.start()
    collect(drv, 0.2)
    sim.freeze(0.5)
    time.sleep(0.02)
    assert sum(len(b) for b in collect(drv, 0.4)) <= 2
    assert len(values(collect(drv, 0.4))) > 10
    assert drv.stats.gaps == 1
    assert drv.stats.lost_samples == pytest.approx(40, abs=4)  # 0.5 s at 80/s


def test_unplug_raises_disconnected_and_keeps_the_samples_before(rig) -> None:
    drv, sim = rig()
    drv.open()
    drv.start()
    kept = collect(drv, 0.3)
    sim.unplug()
    with pytest.raises(DeviceDisconnected):
        for _ in range(100):
            block = drv.read(0.02)
            if block is not None:
                kept.append(block)
    assert len(values(kept)) > 15


def test_replug_and_reconnect(rig) -> None:
    drv, sim = rig()
    drv.open()
    drv.start()
    collect(drv, 0.2)
    sim.unplug()
    with pytest.raises(DeviceDisconnected):
        for _ in range(100):
            drv.read(0.02)
    sim.replug()
    info = drv.reconnect(timeout_s=5.0)
    assert info.firmware == "1.2" and drv.port == sim.port and drv.streaming
    assert drv.stats.reconnects == 1
    blocks = collect(drv, 0.3)
    assert len(values(blocks)) > 10
    assert device_times(blocks)[0] < 1.0  # the board restarted: millis from 0 again
