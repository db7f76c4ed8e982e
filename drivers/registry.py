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

from drivers.base import Clock, DeviceError, Driver
from drivers.options import Option

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


def open_device(text: str, source: object | None = None, *, clock: Clock | None = None,
                ) -> tuple[Driver, PtySimulator | None]:
    """Build the driver for a URI (not yet opened) and, for ``sim:``, start its simulator.

    ``source`` is the :class:`~simulation.forces.ForceSource` a simulator feels; None gives
    the family's default scenario. ``clock`` (``sim:`` only) is the time of both the
    simulator and the driver (a faster-than-real-time clock for simulated sessions). The
    caller calls ``driver.open()`` and, at the end, ``driver.close()`` and ``simulator.close()``.
    """
    uri, baudrate, options, sim_names = check_uri(text)
    driver_cls: type[Driver] = family_module(uri.family).DRIVER
    simulator: PtySimulator | None = None
    if uri.simulated:
        from simulation.registry import simulator_module

        simulator = simulator_module(uri.family).make_simulator(options, source)
        if clock is not None:
            simulator.clock = clock.monotonic
        port = simulator.start()
        try:
            driver = driver_cls(port, baudrate=baudrate, options=options, port_provider=lambda: simulator.port,
                                allow_unknown_options=sim_names, clock=clock)
        except DeviceError:
            simulator.close()
            raise
    else:
        if clock is not None:
            raise DeviceError(f"{text}: only a simulated device (sim:) runs on a simulated clock")
        assert uri.port is not None
        driver = driver_cls(uri.port, baudrate=baudrate, options=options)
    return driver, simulator


def check_uri(text: str) -> tuple[DeviceURI, int | None, dict[str, str], tuple[str, ...]]:
    """Check a device URI and every option in it (the driver's and, for ``sim:``, the
    simulator's) without opening anything: one :class:`DeviceError` line naming the problem.

    Returns the parsed URI, the baud rate (None: the family's default), the options left for
    the driver and simulator (``baud`` removed) and the simulator's option names. Commands
    call it for every ``--device`` before opening the first, so a bad value never leaves a
    simulator thread or a file behind.
    """
    uri = parse_uri(text)
    module = family_module(uri.family)
    options = dict(uri.options)
    baud = options.pop("baud", None)
    try:
        baudrate = int(baud) if baud else None
    except ValueError:
        raise DeviceError(f"{text}: baud must be an integer, got {baud!r}") from None
    if baudrate is not None and not 50 <= baudrate <= 20_000_000:
        raise DeviceError(f"{text}: baud must be 50..20000000, got {baud!r}")
    sim_names: tuple[str, ...] = ()
    if uri.simulated:
        from drivers.options import parse_options
        from simulation.registry import simulator_module

        sim_options: tuple[Option, ...] = getattr(simulator_module(uri.family), "OPTIONS", ())
        sim_names = tuple(o.name for o in sim_options)
        parse_options(sim_options, options, where=text, allow_unknown=options)
        parse_options(module.DRIVER.OPTIONS, options, where=text, allow_unknown=sim_names)
    else:
        from drivers.options import parse_options

        parse_options(module.DRIVER.OPTIONS, options, where=text)
    return uri, baudrate, options, sim_names


def family_options(family: str) -> tuple[Option, ...]:
    """The declared options of ``family``'s driver."""
    options: tuple[Option, ...] = family_module(family).DRIVER.OPTIONS
    return options
