"""Opening serial ports with one-line errors that name the port."""
from __future__ import annotations

import errno
import os

from typing import Any

import serial


def _describe(port: str, exc: BaseException) -> str:
    err = getattr(exc, "errno", None)
    text = str(exc)
    if err == errno.ENOENT or "No such file" in text or "could not open port" in text and "FileNotFound" in text:
        return f"{port}: port not found (is the device plugged in? `station devices` lists ports)"
    if err == errno.EACCES or "Permission denied" in text:
        return f"{port}: permission denied (on Linux add your user to the 'dialout' group)"
    if err in (errno.EBUSY, errno.EAGAIN) or "busy" in text.lower() or "lock" in text.lower():
        return f"{port}: port busy (another program has it open)"
    return f"{port}: cannot open port ({text})"


def open_serial(port: str, baudrate: int, timeout_s: float = 0.05) -> Any:
    """Open ``port`` (a path or any pyserial URL) exclusively, raising ``DeviceError``."""
    from drivers.base import DeviceError  # local: base imports this module

    is_url = "://" in port
    if not is_url and not os.path.exists(port):
        raise DeviceError(f"{port}: port not found (is the device plugged in? `station devices` lists ports)")
    try:
        kwargs: dict[str, Any] = {"baudrate": baudrate, "timeout": timeout_s, "write_timeout": 1.0}
        if not is_url:
            kwargs["exclusive"] = True
        return serial.serial_for_url(port, **kwargs)
    except (serial.SerialException, OSError, ValueError) as exc:
        inner = exc.__context__ if isinstance(exc, serial.SerialException) and exc.__context__ else exc
        raise DeviceError(_describe(port, inner if getattr(inner, "errno", None) else exc)) from exc
