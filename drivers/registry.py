"""Device URIs: which driver (and, for ``sim:``, which simulator) a string names.

- ``mark10:/dev/ttyUSB0?baud=115200&rate=500`` — a real port (any pyserial URL too:
  ``sfp:socket://192.0.2.7:4000``, ``loadstar:loop://``);
- ``sim:sfp?channels=8&rate=2000`` — a built-in simulator on a new pty;
- ``/dev/ttyUSB0`` with no family is an error naming the families.

Each family module defines ``DRIVER`` (a :class:`~drivers.base.Driver` subclass). Simulators
live in the separate :mod:`simulation` package, imported only for a ``sim:`` URI, so a real
port never needs it (nor POSIX ``tty``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from drivers.base import DeviceError, Driver

if TYPE_CHECKING:
    from simulation.pty_simulator import PtySimulator

FAMILIES: dict[str, str] = {
    "mark10": "drivers.mark10",
    "loadstar": "drivers.loadstar",
    "openscale": "drivers.openscale",
    "sfp": "drivers.sfp",
}


@dataclass(frozen=True)
class DeviceURI:
    """A parsed device URI. ``port`` is None for simulators."""

    family: str
    port: str | None
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def simulated(self) -> bool:
        return self.port is None


def parse_uri(text: str) -> DeviceURI:
    """Parse ``family:port?opts`` or ``sim:family?opts``; :class:`DeviceError` names the problem."""
    scheme, sep, rest = text.partition(":")
    if not sep or scheme not in (*FAMILIES, "sim"):
        raise DeviceError(
            f"{text}: unknown device URI (expected FAMILY:PORT or sim:FAMILY with FAMILY one of {', '.join(FAMILIES)})"
        )
    body, _, query = rest.partition("?")
    try:
        options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    except ValueError:
        raise DeviceError(f"{text}: malformed options {query!r} (expected key=value&key=value)") from None
    if scheme == "sim":
        if body not in FAMILIES:
            raise DeviceError(f"{text}: no simulator for {body!r} (expected one of {', '.join(FAMILIES)})")
        return DeviceURI(family=body, port=None, options=options, text=text)
    if not body:
        raise DeviceError(f"{text}: missing port (e.g. {scheme}:/dev/ttyUSB0)")
    return DeviceURI(family=scheme, port=body, options=options, text=text)


def family_module(family: str) -> ModuleType:
    try:
        return importlib.import_module(FAMILIES[family])
    except KeyError:
        raise DeviceError(f"unknown device family {family!r} (expected one of {', '.join(FAMILIES)})") from None


def open_device(text: str, source: object | None = None) -> tuple[Driver, PtySimulator | None]:
    """Build the driver for a URI (not yet opened) and, for ``sim:``, start its simulator.

    ``source`` is the :class:`~simulation.forces.ForceSource` a simulator feels; None gives
    the family's default scenario. The caller calls ``driver.open()`` and, at the end,
    ``driver.close()`` and ``simulator.close()``.
    """
    uri = parse_uri(text)
    module = family_module(uri.family)
    options = dict(uri.options)
    baud = options.pop("baud", None)
    try:
        baudrate = int(baud) if baud else None
    except ValueError:
        raise DeviceError(f"{text}: baud must be an integer, got {baud!r}") from None
    simulator: PtySimulator | None = None
    if uri.simulated:
        from simulation.registry import make_simulator

        simulator = make_simulator(uri.family, options, source)
        port = simulator.start()
        driver = module.DRIVER(port, baudrate=baudrate, options=options, port_provider=lambda: simulator.port)
    else:
        assert uri.port is not None
        driver = module.DRIVER(uri.port, baudrate=baudrate, options=options)
    return driver, simulator
