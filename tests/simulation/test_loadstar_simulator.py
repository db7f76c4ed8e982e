"""Loadstar simulator: the vendor's documented (command → reply) pairs, directly and over a pty.

Sources: loadstarsensors.com "DI-100U / DI-1000U Command Set" (connection check, MODEL, ID,
UNITS, LC, CT0/TARE, W, WC) and "DI-1000UHS-1K Output Formats" (WC %12.4f at ~575/s, H hex
records ended by CR only, commands case insensitive, "send a <CR> to stop the output").
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import serial

from simulation.loadstar import ERROR_REPLY, LoadstarSimulator, make_simulator
from simulation.forces import ConstantForce


# (sent, expected reply); None = no reply line
DOCUMENTED_PAIRS: list[tuple[bytes, bytes | None]] = [
    (b"", b"A\r\n"),  # "Send 2 carriage returns <CR> and make sure that at least the second response is an 'A'"
    (b"MODEL", b"FCM DI-1000\r\n"),  # "MODEL → FCM DI-1000 (for DI-1000)"
    (b"model", b"FCM DI-1000\r\n"),  # "The commands are case insensitive"
    (b"CT0", b"Tared\r\n"),  # "Zero the sensor: CT0 → Tared"
    (b"TARE", b"Tared\r\n"),  # "Zero the sensor (alternate): TARE → Tared"
    (b"UNITS", b"LB\r\n"),  # "Responds with the current calibrated units" (LB as real units answer)
    (b"ID", b"FSIM00000001\r\n"),  # "Returns a string up to (16 char), For ex W1234-5678"
    (b"LC", b"100\r\n"),  # "Responds with the current sensor capacity"
    (b"NOSUCH", ERROR_REPLY + b"\r\n"),  # undocumented: our simulator's choice
]


@pytest.mark.parametrize(("sent", "expected"), DOCUMENTED_PAIRS)
def test_handle_command_documented_pairs(sent: bytes, expected: bytes | None) -> None:
    sim = LoadstarSimulator(ConstantForce(0.0))
    assert sim.handle_command(sent) == expected


def test_w_returns_one_reading_in_device_units() -> None:
    sim = LoadstarSimulator(ConstantForce(44.482216152605))  # 10 lbf
    assert sim.handle_command(b"W") == b"10\r\n"
    sim.handle_command(b"UNITS N")
    assert float(sim.handle_command(b"W")) == pytest.approx(44.4822, abs=1e-4)


def test_units_and_capacity_can_be_set() -> None:
    sim = LoadstarSimulator(ConstantForce(0.0))
    assert sim.handle_command(b"UNITS kg") == b"kg\r\n"
    assert sim.handle_command(b"UNITS") == b"kg\r\n"
    assert sim.handle_command(b"LC 1234") == b"1234\r\n"


def test_tare_zeroes_the_reading() -> None:
    sim = LoadstarSimulator(ConstantForce(100.0))
    sim.handle_command(b"CT0")
    assert sim.handle_command(b"W") == b"0\r\n"


def test_wc_streams_until_a_cr() -> None:
    sim = LoadstarSimulator(ConstantForce(4.4482216152605))
    assert sim.handle_command(b"WC") is None and sim.streaming and sim.stream_kind == "WC"
    payload = sim.encode_samples(np.array([0.0]), np.array([[4.4482216152605]]), np.array([0]))
    assert payload == b"      1.0000\r\n"  # %12.4f, CR LF
    assert sim.handle_command(b"") is None and not sim.streaming  # "simply send a <CR> to stop"


def test_h_only_on_the_uhs_1k() -> None:
    assert LoadstarSimulator(ConstantForce(0.0)).handle_command(b"H") == ERROR_REPLY + b"\r\n"
    sim = LoadstarSimulator(ConstantForce(0.0), model="UHS-1K")
    assert sim.handle_command(b"MODEL") == b"FCM DI-1000UHS-1K\r\n"
    assert sim.handle_command(b"h") is None and sim.stream_kind == "H"
    assert sim.rate_hz >= 1000  # "Above 1000 readings/sec"
    record = sim.encode_samples(np.array([0.0]), np.array([[0.0]]), np.array([0]))
    assert len(record) == 8 and record.endswith(b"\r") and b"\n" not in record
    sim.handle_command(b"")
    assert float(sim.handle_command(b"SWC")) > 0  # weight per count


def test_uhs_1k_wc_rate_is_the_documented_575() -> None:
    sim = LoadstarSimulator(ConstantForce(0.0), model="UHS-1K")
    sim.handle_command(b"WC")
    assert sim.rate_hz == 575  # "About 575 readings/sec of data output"


def test_make_simulator_options() -> None:
    sim = make_simulator({"model": "DI-1000UHS", "unit": "N", "id": "W1234-5678"})
    assert sim.handle_command(b"MODEL") == b"FCM DI-1000\r\n"
    assert sim.handle_command(b"ID") == b"W1234-5678\r\n"
    assert sim.spec.wc_hz == 500


def _exchange(ser: serial.Serial, sent: bytes, timeout_s: float = 1.0) -> bytes:
    ser.reset_input_buffer()
    ser.write(sent + b"\r")
    deadline = time.monotonic() + timeout_s
    buf = b""
    while time.monotonic() < deadline and not buf.endswith(b"\n"):
        buf += ser.read(ser.in_waiting or 1)
    return buf


@pytest.mark.parametrize(("sent", "expected"), [p for p in DOCUMENTED_PAIRS if p[0] not in (b"CT0", b"TARE")])
def test_documented_pairs_over_a_pty(sent: bytes, expected: bytes) -> None:
    with LoadstarSimulator(ConstantForce(0.0)) as sim:
        with serial.Serial(sim.port, 9600, timeout=0.05) as ser:
            assert _exchange(ser, sent) == expected


def test_wc_stream_and_stop_over_a_pty() -> None:
    with LoadstarSimulator(ConstantForce(44.482216152605), rate_hz=400) as sim:
        with serial.Serial(sim.port, 9600, timeout=0.05) as ser:
            assert _exchange(ser, b"CT0") == b"Tared\r\n"
            ser.write(b"WC\r")
            data = b""
            deadline = time.monotonic() + 10.0  # conditions, not sleeps: a busy machine is slow
            while data.count(b"\r\n") <= 50 and time.monotonic() < deadline:
                data += ser.read(ser.in_waiting or 1)
            ser.write(b"\r")
            while sim.streaming and time.monotonic() < deadline:
                data += ser.read(ser.in_waiting or 1)
            while chunk := ser.read(ser.in_waiting or 1):  # what was sent before the stop (timeout 0.05 s)
                data += chunk
            lines = data.split(b"\r\n")
            assert len(lines) > 50
            # %12.4f of the tared constant: 0.0000 (a float residue may print as -0.0000)
            odd = [line for line in lines[:-1] if line not in (b"      0.0000", b"     -0.0000")]
            assert not odd, odd[:5]
            assert not sim.streaming
            assert _exchange(ser, b"") == b"A\r\n"
