"""Driver.reconnect keeps trying through every error of a port that is still gone, including
one that vanishes again in the middle of identify (issue 15, part 3). Real ptys, real time."""
from __future__ import annotations

import threading
import time

import pytest
import serial

from drivers.base import DeviceDisconnected
from drivers.registry import open_device


def _unplug_inside_identify(driver, sim, times: int) -> list[str]:
    """For the next ``times`` reconnect attempts, pull the cable right after the port was
    opened and identify wrote its first command: the real ``reset_input_buffer`` of the real
    pty then raises ``termios.error(5, 'Input/output error')``. Returns what each try raised."""
    raised: list[str] = []
    real_identify = driver.identify

    def identify():
        if len(raised) < times:
            ser = driver.serial
            real_reset = ser.reset_input_buffer

            def reset_after_unplug() -> None:
                sim.unplug()  # the cable comes out here, in the middle of identify
                time.sleep(0.1)  # the kernel hangs the pty up asynchronously
                try:
                    real_reset()
                except BaseException as exc:
                    raised.append(type(exc).__module__ + "." + type(exc).__name__)
                    threading.Timer(0.05, sim.replug).start()  # … and goes back in a moment later
                    raise
                raised.append("nothing")

            ser.reset_input_buffer = reset_after_unplug
        return real_identify()

    driver.identify = identify
    return raised


def test_unplug_in_the_middle_of_identify_keeps_reconnecting() -> None:
    driver, sim = open_device("sim:sfp?channels=4&rate=1000")
    try:
        driver.open()
        driver.start()
        time.sleep(0.1)
        assert driver.read(0.2) is not None
        sim.unplug()
        with pytest.raises(DeviceDisconnected):
            for _ in range(50):
                driver.read(0.05)
        sim.replug()
        raised = _unplug_inside_identify(driver, sim, times=2)
        info = driver.reconnect(timeout_s=10.0, poll_s=0.1)
        assert raised == ["termios.error", "termios.error"], raised  # the real error, twice
        assert info.channels == 4 and driver.streaming
        assert driver.stats.reconnects == 1
        assert driver.stats.reconnect_attempts == 3  # the attempts are visible
        got = 0
        end = time.monotonic() + 1.0
        while got < 200 and time.monotonic() < end:
            block = driver.read(0.05)
            got += len(block) if block is not None else 0
        assert got >= 200  # streaming again after the flaky re-plug
    finally:
        driver.close()
        if sim is not None:
            sim.close()


def test_every_port_error_means_still_disconnected() -> None:
    """OSError, SerialException and termios.error from the port provider's port all count
    as failed attempts; the caller gets DeviceDisconnected (never the raw error) at the end."""
    import termios

    driver, sim = open_device("sim:sfp?channels=2&rate=500")
    errors = [OSError(5, "Input/output error"), serial.SerialException("device reports readiness to read "
              "but returned no data"), termios.error(5, "Input/output error")]
    try:
        driver.open()
        real_identify = driver.identify

        def identify():
            if errors:
                raise errors.pop(0)
            return real_identify()

        driver.identify = identify
        info = driver.reconnect(timeout_s=10.0, poll_s=0.01)
        assert info.channels == 2 and not errors
        assert driver.stats.reconnect_attempts == 4 and driver.stats.reconnects == 1

        errors[:] = [OSError(5, "Input/output error")] * 1000
        t0 = time.monotonic()
        with pytest.raises(DeviceDisconnected, match="attempts"):
            driver.reconnect(timeout_s=0.3, poll_s=0.02)
        assert time.monotonic() - t0 < 2.0
        assert driver.stats.reconnect_attempts > 5
    finally:
        driver.close()
        if sim is not None:
            sim.close()
