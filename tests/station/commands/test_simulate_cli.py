"""``station simulate``: a standalone simulator process serving a pty until SIGINT/SIGTERM."""
from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from drivers import registry
from drivers.sfp import SfpDriver
from station.commands import simulate
from station.errors import UserError

ROOT = Path(__file__).resolve().parents[3]


_lines: dict[int, queue.Queue[str]] = {}


def start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.Popen([sys.executable, "-m", "station.cli", "simulate", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    _lines[proc.pid] = lines

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())

    threading.Thread(target=pump, daemon=True).start()
    return proc


def read_line(proc: subprocess.Popen[str], timeout_s: float = 15.0) -> str:
    try:
        return _lines[proc.pid].get(timeout=timeout_s)
    except queue.Empty:
        proc.kill()
        pytest.fail(f"no output within {timeout_s} s; stderr: {proc.communicate()[1]}")


def stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.stderr is not None
    return proc.returncode, proc.stderr.read()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_simulate_sfp_serves_frames_until_signalled(sig: int) -> None:
    proc = start("sfp", "--channels", "4", "--rate", "2000", "--seed", "3", "--option", "serial=CLI-1")
    try:
        port = read_line(proc)
        uri = read_line(proc)
        assert port.startswith("/dev/") and uri.startswith(f"sfp:{port}")
        driver = SfpDriver(port)
        info = driver.open()
        try:
            assert (info.channels, info.rate_hz, info.serial) == (4, 2000.0, "CLI-1")
            driver.start()
            n, channels = 0, set()
            deadline = time.monotonic() + 15.0  # a condition, not a time: ~0.25 s of frames at 2 kHz
            while n <= 500 and time.monotonic() < deadline:
                block = driver.read(0.02)
                if block is not None and len(block):
                    n += len(block)
                    channels.add(block.channels)
            assert n > 500 and channels == {4}
            assert driver.stats.lost_samples == 0 and driver.stats.crc_errors == 0
        finally:
            driver.close()
    except BaseException:
        proc.kill()
        raise
    code, err = stop(proc, sig)
    assert code == 0, err
    assert "Traceback" not in err


def test_simulate_uri_opens_with_the_registry() -> None:
    proc = start("sfp", "--scenario", "landing", "-o", "period=3")
    try:
        read_line(proc)
        uri = read_line(proc)
        parsed = registry.parse_uri(uri)
        driver = registry.family_module(parsed.family).DRIVER(parsed.port, options=parsed.options)
        assert driver.open().channels == 8
        driver.close()
    except BaseException:
        proc.kill()
        raise
    assert stop(proc, signal.SIGINT)[0] == 0


def test_simulate_mark10_family() -> None:
    proc = start("mark10", "-o", "unit=lbF")
    try:
        port = read_line(proc)
        assert read_line(proc) == f"mark10:{port}"
        from drivers.mark10 import Mark10Driver

        driver = Mark10Driver(port)
        assert driver.open().settings["gauge_unit"] == "lbF"
        driver.close()
    except BaseException:
        proc.kill()
        raise
    assert stop(proc, signal.SIGTERM)[0] == 0


def test_unknown_family_is_a_user_error() -> None:
    proc = start("teapot")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and out == ""
    assert err.startswith("station: error: unknown device family 'teapot'")


def args(family: str, *options: str, **kw: object) -> argparse.Namespace:
    base = {"channels": None, "rate": None, "seed": None, "scenario": None, "option": list(options)}
    base.update(kw)
    return argparse.Namespace(family=family, **base)


def test_family_without_a_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(simulate.FAMILIES, "ghost", "drivers.ghost_family_not_written")
    with pytest.raises(UserError, match="ghost: no simulator in this installation"):
        simulate.run(args("ghost"))


@pytest.mark.parametrize(("ns", "message"), [
    (args("sfp", "novalue"), "expected KEY=VALUE"),
    (args("sfp", channels=40), "channels must be 1..16"),
    (args("sfp", scenario="juggling"), "unknown scenario"),
])
def test_bad_options_are_user_errors(ns: argparse.Namespace, message: str) -> None:
    with pytest.raises(UserError, match=message):
        simulate.run(ns)


def test_options_mapping() -> None:
    ns = args("sfp", "seq_offset=65000", " model = X ", channels=4, rate=2000.0, seed=2, scenario="landing")
    assert simulate.simulator_options(ns) == {"channels": "4", "rate": "2000", "seed": "2", "scenario": "landing",
                                              "seq_offset": "65000", "model": "X"}


def test_help_mentions_families() -> None:
    proc = subprocess.run([sys.executable, "-m", "station.cli", "simulate", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=30, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0 and "sfp" in proc.stdout and "--option" in proc.stdout
