"""Which simulator module serves each device family (``sim:FAMILY`` URIs, ``station simulate``)."""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from drivers.base import DeviceError
from simulation.pty_simulator import PtySimulator

SIMULATORS: dict[str, str] = {
    "mark10": "simulation.mark10",
    "loadstar": "simulation.loadstar",
    "openscale": "simulation.openscale",
    "sfp": "simulation.sfp",
}


def simulator_module(family: str) -> ModuleType:
    """The module of ``family``'s simulator (it defines ``make_simulator(options, source)``)."""
    try:
        return importlib.import_module(SIMULATORS[family])
    except KeyError:
        raise DeviceError(f"no simulator for {family!r} (expected one of {', '.join(SIMULATORS)})") from None


def make_simulator(family: str, options: dict[str, str], source: Any = None) -> PtySimulator:
    """A (not yet started) simulator of ``family``; ``source`` is the force source it feels
    (None: the family's default scenario). Bad options raise :class:`DeviceError`."""
    simulator: PtySimulator = simulator_module(family).make_simulator(options, source)
    return simulator
