"""Serial ports and which device family answers on them.

:func:`list_ports` lists the ports the OS knows with their USB ids. :func:`probe_port` tries
each family's driver (``drivers.registry.FAMILIES``, imported lazily: a family whose module
is missing or broken is skipped) with a short identification timeout and reports the first
that answers. Every driver is closed again, so a probe leaves no port open and no device
streaming (an OpenScale is left waiting in its menu, where its readings pause).

Families are tried in :data:`PROBE_ORDER`: the ones whose identification checks the reply
strictly come first, the Mark-10 (whose identification takes any reply line as its model)
last, so a chatty device is not mistaken for a gauge.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

from drivers.base import DeviceError
from drivers.registry import FAMILIES
from drivers.serial_port import open_serial

PROBE_ORDER: tuple[str, ...] = ("openscale", "loadstar", "sfp", "mark10")
DEFAULT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class PortEntry:
    """One serial port as the OS describes it; empty strings where it says nothing."""

    device: str
    description: str = ""
    vid: int | None = None
    pid: int | None = None
    serial_number: str = ""
    manufacturer: str = ""

    @property
    def vid_pid(self) -> str:
        return f"{self.vid:04X}:{self.pid:04X}" if self.vid is not None and self.pid is not None else ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["vid_pid"] = self.vid_pid
        return d


def _entry(info: Any) -> PortEntry:
    description = info.description or ""
    return PortEntry(
        device=info.device,
        description="" if description == "n/a" else description,
        vid=info.vid,
        pid=info.pid,
        serial_number=info.serial_number or "",
        manufacturer=info.manufacturer or "",
    )


def list_ports() -> list[PortEntry]:
    """The serial ports the OS lists (``serial.tools.list_ports``), sorted by device."""
    from serial.tools import list_ports as lp

    return sorted((_entry(p) for p in lp.comports()), key=lambda e: e.device)


def describe_port(path: str) -> PortEntry:
    """The OS's description of ``path`` if it lists it (also through a symlink), else a bare entry."""
    real = os.path.realpath(path) if "://" not in path else path
    for entry in list_ports():
        if entry.device in (path, real):
            return PortEntry(path, entry.description, entry.vid, entry.pid, entry.serial_number, entry.manufacturer)
    return PortEntry(path)


@dataclass
class ProbeResult:
    """What answered on ``port``: ``family`` is None when nothing did (``errors`` says why per family)."""

    port: str
    family: str | None = None
    model: str = ""
    serial: str = ""
    firmware: str = ""
    baudrate: int | None = None
    port_error: str = ""
    tried: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.family is not None

    def summary(self) -> str:
        if self.port_error:
            return self.port_error
        if not self.answered:
            return "no answer"
        parts = [self.family or "", self.model]
        if self.serial:
            parts.append(f"serial {self.serial}")
        return " ".join(p for p in parts if p)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def family_modules(families: list[str] | None = None) -> tuple[list[tuple[str, ModuleType]], dict[str, str]]:
    """(name, module) of the families to probe, in probe order, and {name: why} of those skipped."""
    names = [f for f in PROBE_ORDER if f in FAMILIES] + [f for f in FAMILIES if f not in PROBE_ORDER]
    if families is not None:
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise DeviceError(f"unknown device family {unknown[0]!r} (expected one of {', '.join(FAMILIES)})")
        names = [f for f in names if f in families]
    modules: list[tuple[str, ModuleType]] = []
    skipped: dict[str, str] = {}
    for name in names:
        try:
            module = importlib.import_module(FAMILIES[name])
        except ModuleNotFoundError as exc:
            if exc.name != FAMILIES[name]:
                skipped[name] = f"cannot import {FAMILIES[name]} ({exc})"
            else:
                skipped[name] = "driver not installed"
            continue
        except Exception as exc:  # noqa: BLE001 - a family being written must not break probing
            skipped[name] = f"cannot import {FAMILIES[name]} ({type(exc).__name__}: {exc})"
            continue
        if not hasattr(module, "DRIVER"):
            skipped[name] = f"{FAMILIES[name]} has no DRIVER"
            continue
        modules.append((name, module))
    return modules, skipped


def probe_port(port: str, families: list[str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> ProbeResult:
    """Try each family on ``port`` (at each of its probe baud rates) until one identifies the device."""
    result = ProbeResult(port=port)
    modules, result.skipped = family_modules(families)
    try:  # a port that cannot be opened at all need not be tried family by family
        open_serial(port, 9600).close()
    except DeviceError as exc:
        result.port_error = str(exc)
        return result
    for name, module in modules:
        driver_cls = module.DRIVER
        baudrates = getattr(module, "PROBE_BAUDRATES", None) or (driver_cls.default_baudrate,)
        result.tried.append(name)
        for baudrate in baudrates:
            driver = None
            try:
                driver = driver_cls(port, baudrate=baudrate, options={})
                driver.identify_timeout_s = timeout_s
                info = driver.open()
            except DeviceError as exc:
                result.errors[name] = str(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - another family's bug must not stop the probe
                result.errors[name] = f"{type(exc).__name__}: {exc}"
                continue
            finally:
                if driver is not None:
                    try:
                        driver.close()
                    except Exception:  # noqa: BLE001
                        pass
            result.family = name
            result.model, result.serial, result.firmware = info.model, info.serial, info.firmware
            result.baudrate = baudrate
            result.errors.pop(name, None)
            return result
    return result
