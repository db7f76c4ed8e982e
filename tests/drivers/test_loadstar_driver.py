"""Loadstar driver against the simulator over real ptys: identification, streams, faults."""
from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

import simulation.mark10 as mark10
from drivers.base import DeviceDisconnected, DeviceError, SampleBlock
from drivers.loadstar import LBF_N, LoadstarDriver
from simulation.loadcell import LoadCellModel
from simulation.loadstar import LoadstarSimulator
from drivers.registry import open_device
from simulation.forces import ConstantForce
from pty_helpers import collect, values


@pytest.fixture
def rig() -> Iterator:
    made: list = []

    def make(options: dict[str, str] | None = None, force_n: float = 100.0, **sim_kwargs):
        sim = LoadstarSimulator(ConstantForce(force_n), **sim_kwargs)
        sim.start()
        drv = LoadstarDriver(sim.port, options=options or {}, port_provider=lambda: sim.port)
        made.append((drv, sim))
        return drv, sim

    yield make
    for drv, sim in made:
        drv.close()
        sim.close()


def drain(drv) -> list[SampleBlock]:
    """Stop streaming and read what is still on the wire."""
    drv.stop()
    blocks = []
    quiet_since = time.monotonic()
    while True:  # ends only right after a read that found nothing (a stall between reads cannot end it)
        block = drv.read(0.02)
        if block is not None:
            blocks.append(block)
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= 0.2:
            break
    return blocks


def test_identifies_a_di1000u(rig) -> None:
    drv, sim = rig()
    info = drv.open()
    assert (info.family, info.model, info.serial) == ("loadstar", "FCM DI-1000", "FSIM00000001")
    assert info.unit == "N" and info.time_source == "host" and info.channels == 1
    assert info.rate_hz == 80  # DI-1000U at 9600 bit/s
    assert info.settings["device_unit"] == "LB"
    assert info.settings["capacity_n"] == pytest.approx(100 * LBF_N)
    assert sim.commands_seen[:4] == [b"", b"", b"MODEL", b"ID"]


def test_weight_stream_in_newtons(rig) -> None:
    drv, sim = rig(force_n=123.4, rate_hz=300)
    drv.open()
    drv.start()
    v = values(collect(drv, 0.5))
    assert 100 < v.size < 200
    assert v == pytest.approx(123.4, abs=0.0001 * LBF_N)  # 4 decimals of lb
    drv.stop()
    time.sleep(0.05)
    assert not sim.streaming


def test_kg_unit_is_converted(rig) -> None:
    drv, _ = rig(force_n=98.0665, unit="Kg")
    assert drv.open().settings["device_unit"] == "Kg"
    drv.start()
    assert values(collect(drv, 0.3)) == pytest.approx(98.0665, abs=0.001)


def test_counts_stream_on_the_uhs_1k(rig) -> None:
    cell = LoadCellModel(gain_counts_per_n=1000.0, offset_counts=8000.0, noise_counts=2.0)
    drv, sim = rig({"mode": "counts"}, force_n=100.0, model="UHS-1K", cell=cell)
    info = drv.open()
    assert info.unit == "counts" and info.rate_hz == 2000 and info.model == "FCM DI-1000UHS-1K"
    assert info.settings["newtons_per_count"] == pytest.approx(0.001, rel=1e-3)
    drv.start()
    blocks = collect(drv, 0.5)
    v = values(blocks)
    assert 700 < v.size < 1300
    assert np.abs(v - 108_000).max() < 20
    assert drv.stats.resyncs == 0
    t = np.concatenate([b.t_host_s for b in blocks])
    assert np.all(np.diff(t) > 0)


def test_counts_mode_needs_a_uhs_model(rig) -> None:
    drv, _ = rig({"mode": "counts"})
    with pytest.raises(DeviceError, match="UHS"):
        drv.open()
    assert drv._serial is None  # the port is closed again


def test_unsupported_unit_names_port_and_unit(rig) -> None:
    drv, sim = rig(unit="psi")
    with pytest.raises(DeviceError) as err:
        drv.open()
    assert sim.port in str(err.value) and "'psi'" in str(err.value)


def test_a_torque_sensor_is_refused(rig) -> None:
    drv, _ = rig(device_id="TQ0001-2")
    with pytest.raises(DeviceError, match="torque"):
        drv.open()


def test_wrong_device_is_refused_quickly() -> None:
    with mark10.make_simulator({}, None) as sim:
        drv = LoadstarDriver(sim.port)
        t0 = time.monotonic()
        with pytest.raises(DeviceError, match=sim.port):
            drv.open()
        assert time.monotonic() - t0 < 4.0
        assert drv._serial is None


def test_a_stream_left_running_is_stopped_by_identify(rig) -> None:
    drv, sim = rig(model="UHS-1K")
    sim.handle_command(b"H")  # someone left it streaming raw counts
    time.sleep(0.1)
    info = drv.open()
    assert info.model == "FCM DI-1000UHS-1K"
    assert not sim.streaming


def test_tare_while_streaming(rig) -> None:
    drv, sim = rig(force_n=50.0, rate_hz=300)
    drv.open()
    drv.start()
    assert values(collect(drv, 0.2)) == pytest.approx(50.0, abs=0.001)
    drv.tare()
    collect(drv, 0.1)
    assert values(collect(drv, 0.2)) == pytest.approx(0.0, abs=0.001)
    assert drv.stats.resyncs == 0 and drv.stats.garbage_bytes == 0
    assert drv.decoder.acks == 1


def test_through_the_registry() -> None:
    drv, sim = open_device("sim:loadstar?model=UHS-1K&mode=counts&seed=3")
    try:
        assert drv.open().unit == "counts"
        drv.start()
        assert len(values(collect(drv, 0.2))) > 200
    finally:
        drv.close()
        sim.close()


# -- faults over the pty --------------------------------------------------------------------
@pytest.mark.parametrize(("options", "sim_kwargs"), [({}, {"rate_hz": 400}), ({"mode": "counts"}, {"model": "UHS-1K"})])
def test_injected_garbage_is_skipped_and_counted(rig, options, sim_kwargs) -> None:
    drv, sim = rig(options, **sim_kwargs)
    drv.open()
    drv.start()
    before = values(collect(drv, 0.2))
    sim.inject_garbage(b"\x00\xffjunk")
    after = values(collect(drv, 0.2))
    assert drv.stats.resyncs == 1 and drv.stats.garbage_bytes == 6
    assert drv.stats.lost_samples == 0  # the record behind the garbage was salvaged
    sim.inject_garbage(64)  # random bytes
    collect(drv, 0.2)
    assert drv.stats.resyncs >= 2 and drv.stats.garbage_bytes > 6
    assert before.size and after.size
    rest = drain(drv)
    assert drv.stats.samples + drv.stats.lost_samples >= sim.samples_emitted - 1
    assert len(rest) >= 0


@pytest.mark.parametrize(("options", "sim_kwargs"), [({}, {"rate_hz": 400}), ({"mode": "counts"}, {"model": "UHS-1K"})])
def test_a_dropped_byte_loses_one_reading_and_counts_it(rig, options, sim_kwargs) -> None:
    drv, sim = rig(options, **sim_kwargs)
    drv.open()
    drv.start()
    collect(drv, 0.2)
    sim.drop_bytes(1)
    collect(drv, 0.2)
    drain(drv)
    assert sim.overflow_bytes == 0
    assert drv.stats.lost_samples == 1  # a lost CR or LF costs the record it ended too
    assert drv.stats.resyncs >= 1
    assert drv.stats.samples + drv.stats.lost_samples == sim.samples_emitted


def test_a_frozen_stream_is_survived(rig) -> None:
    drv, sim = rig(rate_hz=400)
    drv.open()
    drv.start()
    assert collect(drv, 0.2)
    sim.freeze(0.5)
    time.sleep(0.02)
    frozen = collect(drv, 0.4)
    assert sum(len(b) for b in frozen) <= 10
    assert len(values(collect(drv, 0.4))) > 50  # it resumes
    assert drv.stats.resyncs == 0


def test_unplug_raises_disconnected_and_keeps_the_samples_before(rig) -> None:
    drv, sim = rig(rate_hz=400)
    drv.open()
    drv.start()
    kept = collect(drv, 0.3)
    sim.unplug()
    with pytest.raises(DeviceDisconnected, match="disconnected|failed"):
        for _ in range(100):
            block = drv.read(0.02)
            if block is not None:
                kept.append(block)
    assert len(values(kept)) > 80


def test_replug_and_reconnect(rig) -> None:
    drv, sim = rig(rate_hz=400)
    drv.open()
    drv.start()
    collect(drv, 0.2)
    old_port = sim.port
    sim.unplug()
    with pytest.raises(DeviceDisconnected):
        for _ in range(100):
            drv.read(0.02)
    sim.replug()
    assert sim.port != old_port
    info = drv.reconnect(timeout_s=3.0)
    assert info.model == "FCM DI-1000" and drv.port == sim.port
    assert drv.stats.reconnects == 1 and drv.streaming
    assert len(values(collect(drv, 0.3))) > 50
