"""The SFP simulator: command vectors (directly and over a pty), options, the landing scenario."""
from __future__ import annotations

import os
import time

import numpy as np
import pytest
import serial

from drivers.base import DeviceError
from drivers.sfp import SfpDecoder, frame_bytes
from simulation.forces import RepeatingEfforts
from simulation.landing import LandingScenario
from simulation.sfp import SfpSimulator, make_simulator

INFO_REPLY = b"SFP1 model=SIM-SFP8 serial=SIM-SFP-0001 channels=8 rate_hz=1000 fw=1.0.0\n"

#: (sent bytes, expected reply) for every command, from a fresh simulator with defaults
VECTORS: list[tuple[bytes, bytes]] = [
    (b"INFO\n", INFO_REPLY),
    (b"info\r\n", INFO_REPLY),
    (b"RATE 2000\n", b"OK\n"),
    (b"RATE 12.5\n", b"OK\n"),
    (b"RATE\n", b"ERR usage: RATE <hz>\n"),
    (b"RATE fast\n", b"ERR bad rate 'fast'\n"),
    (b"RATE 0\n", b"ERR rate 0 out of range (0 < rate <= 10000 Hz)\n"),
    (b"RATE 50000\n", b"ERR rate 50000 out of range (0 < rate <= 10000 Hz)\n"),
    (b"HELLO\n", b"ERR unknown command 'HELLO'\n"),
    (b"INFO please\n", b"ERR unknown command 'INFO please'\n"),
    (b"STOP\n", b""),
    (b"\n", b""),
]


@pytest.fixture
def sim():
    s = make_simulator({})
    yield s
    s.close()


@pytest.mark.parametrize(("sent", "reply"), VECTORS)
def test_command_vectors_direct(sim: SfpSimulator, sent: bytes, reply: bytes) -> None:
    assert (sim.handle_command(sent.rstrip(b"\r\n")) or b"") == reply


def read_reply(port: serial.Serial, timeout_s: float = 1.0) -> bytes:
    deadline = time.monotonic() + timeout_s
    buf = b""
    while time.monotonic() < deadline and not buf.endswith(b"\n"):
        buf += port.read(port.in_waiting or 1)
    return buf


def drain(port: serial.Serial, seconds: float) -> bytes:
    """Everything the port receives for ``seconds`` (read continuously: the pty holds ~18 KiB)."""
    deadline = time.monotonic() + seconds
    buf = b""
    while time.monotonic() < deadline:
        buf += port.read(port.in_waiting or 1)
    return buf


def test_command_vectors_over_pty(sim: SfpSimulator) -> None:
    with serial.Serial(sim.start(), timeout=0.05) as port:
        for sent, reply in VECTORS:
            port.write(sent)
            if reply:
                assert read_reply(port) == reply, sent
            else:
                time.sleep(0.05)
                assert port.read(port.in_waiting or 1) == b"", sent
            if sent.startswith(b"RATE") and reply == b"OK\n":
                port.write(b"RATE 1000\n")
                assert read_reply(port) == b"OK\n"


def test_start_streams_frames_and_stop_ends_them(sim: SfpSimulator) -> None:
    with serial.Serial(sim.start(), timeout=0.05) as port:
        port.write(b"START\n")
        data = drain(port, 0.3)
        port.write(b"RATE 500\n")  # refused while streaming
        data += drain(port, 0.05)
        port.write(b"STOP\n")
        data += drain(port, 0.1)
        assert b"ERR busy streaming (send STOP first)\n" in data
        assert drain(port, 0.1) == b""  # nothing after STOP
    frames = SfpDecoder(8, 1000).feed(data.replace(b"ERR busy streaming (send STOP first)\n", b""))
    assert 250 <= len(frames) <= 500
    assert np.array_equal(frames.seq, np.arange(len(frames)))
    assert np.allclose(np.diff(frames.t_device_s), 1e-3)


def test_counts_come_from_the_force_through_load_cells() -> None:
    class Constant:
        channels = 2

        def sample(self, t_s: np.ndarray) -> np.ndarray:
            return np.tile([100.0, 0.0], (len(t_s), 1))

    s = make_simulator({"seed": "4"}, Constant())
    assert s.channels == 2
    data = s.encode_samples(np.arange(50) / 1000, Constant().sample(np.zeros(50)), np.arange(50))
    f = SfpDecoder(2).feed(data)
    c0, c1 = s.cells
    expected = c0.offset_counts + c0.gain_counts_per_n * (100.0 + c0.quadratic_per_n * 100.0**2)
    assert np.mean(f.counts[:, 0]) == pytest.approx(expected, abs=5)
    assert np.mean(f.counts[:, 1]) == pytest.approx(c1.offset_counts, abs=5)


def test_corrupt_next_crc_damages_one_frame(sim: SfpSimulator) -> None:
    idx = np.arange(10)
    data = sim.encode_samples(idx / 1000, np.zeros((10, 8)), idx)
    sim.corrupt_next_crc()
    data += sim.encode_samples(idx / 1000, np.zeros((10, 8)), idx + 10)
    d = SfpDecoder(8, 1000)
    f = d.feed(data)
    assert len(f) == 19 and d.crc_errors == 1 and d.lost_samples == 1


def test_offsets_force_wraps() -> None:
    s = make_simulator({"channels": "1", "seq_offset": "65535", "time_offset_us": str(2**32 - 1000)})
    idx = np.arange(3)
    f = SfpDecoder(1).feed(s.encode_samples(idx / 1000, np.zeros((3, 1)), idx))
    assert f.seq.tolist() == [65535, 0, 1]
    assert f.time_us.tolist() == [2**32 - 1000, 0, 1000]


@pytest.mark.parametrize("options", [
    {"channels": "0"}, {"channels": "17"}, {"channels": "x"}, {"rate": "0"}, {"rate": "20000"},
    {"scenario": "juggling"}, {"scenario": "landing", "channels": "6"}, {"scenario": "landing", "asymmetry": "2"},
])
def test_make_simulator_rejects_bad_options(options: dict[str, str]) -> None:
    with pytest.raises(DeviceError, match="sim:sfp"):
        make_simulator(options)


def test_make_simulator_options() -> None:
    s = make_simulator({"channels": "4", "rate": "4000", "model": "Plate X", "serial": "P-9", "fw": "2.1"})
    assert s.handle_command(b"INFO") == b"SFP1 model=Plate X serial=P-9 channels=4 rate_hz=4000 fw=2.1\n"
    assert isinstance(s.source, RepeatingEfforts) and s.source.channels == 4
    landing = make_simulator({"scenario": "landing"})
    assert isinstance(landing.source, LandingScenario) and landing.source.channels == 8
    with pytest.raises(DeviceError):
        make_simulator({"channels": "8"}, RepeatingEfforts(2))
    assert make_simulator({}, RepeatingEfforts(3)).channels == 3


def test_landing_scenario_shape() -> None:
    scenario = LandingScenario(8, body_weight_n=700.0, asymmetry=0.1, peak_cv=0.0, noise_n=0.0)
    scenario.trigger(2.0)
    t = np.arange(0.0, 12.0, 0.001)
    f = scenario.sample(t)
    left, right = f[:, :4].sum(axis=1), f[:, 4:].sum(axis=1)
    total = left + right
    assert np.abs(total[t < 2.0]).max() < 1e-9  # unloaded before contact
    peak = int(np.argmax(total))
    assert 3.0 <= total[peak] / 700.0 <= 4.0
    assert 0.040 <= t[peak] - 2.0 <= 0.060
    assert left[peak] / total[peak] == pytest.approx(0.55, abs=0.01)
    standing = (t > 4.0) & (t < 10.0)
    assert np.mean(total[standing]) == pytest.approx(700.0, rel=0.01)
    assert np.all(np.abs(total[standing] / 700.0 - 1.0) < 0.05)
    assert np.abs(total[t > 11.5]).max() < 1e-9  # stepped off
    # centre of pressure: forefoot cells (0, 1) carry more right after contact
    early = peak - 30
    assert f[early, 0] + f[early, 1] > f[early, 2] + f[early, 3]


def test_landing_single_leg_and_single_plate() -> None:
    two = LandingScenario(8, peak_cv=0.0, noise_n=0.0)
    two.trigger(1.0, side="right")
    f = two.sample(np.arange(0.0, 4.0, 0.001))
    assert np.abs(f[:, :4]).max() < 1e-9 and f[:, 4:].sum(axis=1).max() > 3 * 700
    one = LandingScenario(4, peak_cv=0.0, noise_n=0.0)
    one.trigger(1.0)
    g = one.sample(np.arange(0.0, 4.0, 0.001)).sum(axis=1)
    assert g.max() > 3 * 700 and g[3500] == pytest.approx(700, rel=0.05)
    with pytest.raises(ValueError):
        LandingScenario(6)
    with pytest.raises(ValueError):
        one.trigger(2.0, side="middle")


def test_landing_auto_period() -> None:
    scenario = LandingScenario(8, auto_period_s=5.0, auto_lead_s=1.0, noise_n=0.0)
    t = 100.0 + np.arange(0.0, 16.0, 0.001)
    total = scenario.sample(t).sum(axis=1)
    peaks = [total[(t >= 100 + k) & (t < 100 + k + 1)].max() / 700 for k in (1, 6, 11)]
    assert all(3.0 < p < 4.0 for p in peaks)
    assert total[(t > 100.2) & (t < 100.9)].max() < 1e-9


def test_landing_on_the_simulator_pty() -> None:
    s = make_simulator({"scenario": "landing", "period": "3", "rate": "1000"})
    try:
        s.source.auto_lead_s = 0.1
        with serial.Serial(s.start(), timeout=0.05) as port:
            port.write(b"START\n")
            data = drain(port, 0.6)
            port.write(b"STOP\n")
            data += drain(port, 0.05)
        f = SfpDecoder(8, 1000).feed(data)
        forces = (f.counts - [c.offset_counts for c in s.cells]) / [c.gain_counts_per_n for c in s.cells]
        assert forces.sum(axis=1).max() > 3 * 700 * 0.9
    finally:
        s.close()


def test_pty_is_a_raw_byte_exact_wire(sim: SfpSimulator) -> None:
    port = sim.start()
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    try:
        os.write(fd, b"INFO\r\n")
        time.sleep(0.1)
        assert os.read(fd, 200) == INFO_REPLY
    finally:
        os.close(fd)
    assert frame_bytes(8) == 46
