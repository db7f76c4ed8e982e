"""Units: loads are entered as masses (kg) or forces (N); everything inside is in newtons.

A mass of ``m`` kg resting on a sensor exerts ``m * g`` newtons. By default ``g`` is the
standard gravity 9.80665 m/s² (the conventional value defined by the 3rd CGPM, 1901, used
for kilogram-force). Local gravity differs by up to ±0.3 % (about 9.78 at the equator and
9.83 at the poles); pass the local value as ``gravity_m_s2`` where that matters.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from calibration.errors import CalibrationError

#: Standard acceleration of gravity, m/s² (exact by definition).
STANDARD_GRAVITY_M_S2: float = 9.80665

#: Units accepted for reference loads.
LOAD_UNITS: tuple[str, ...] = ("kg", "N")


def normalize_load_unit(unit: str) -> str:
    """Return ``"kg"`` or ``"N"`` for a user-typed unit (case-insensitive); raise otherwise."""
    text = str(unit).strip()
    if text.lower() == "kg":
        return "kg"
    if text.lower() == "n":
        return "N"
    raise CalibrationError(f"load unit must be 'kg' or 'N', got {unit!r}")


def check_gravity(gravity_m_s2: float) -> float:
    """Return ``gravity_m_s2`` as a float after checking it is a plausible Earth value (9.7–9.9 m/s²)."""
    g = float(gravity_m_s2)
    if not math.isfinite(g) or not 9.7 <= g <= 9.9:
        raise CalibrationError(f"gravity_m_s2 must be between 9.7 and 9.9 m/s², got {gravity_m_s2!r}")
    return g


def kg_to_n(mass_kg: float, gravity_m_s2: float = STANDARD_GRAVITY_M_S2) -> float:
    """Weight in newtons of a mass in kilograms under gravity ``gravity_m_s2`` (m/s²)."""
    return float(mass_kg) * check_gravity(gravity_m_s2)


def loads_to_n(
    loads: Iterable[float], unit: str, gravity_m_s2: float = STANDARD_GRAVITY_M_S2
) -> tuple[float, ...]:
    """Convert loads given in ``unit`` ("kg" or "N") to newtons; each must be finite and ≥ 0."""
    unit = normalize_load_unit(unit)
    g = check_gravity(gravity_m_s2)
    out: list[float] = []
    for i, value in enumerate(loads):
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise CalibrationError(f"load {i + 1} is not a number: {value!r}") from None
        if not math.isfinite(v) or v < 0:
            raise CalibrationError(f"load {i + 1} must be finite and >= 0 {unit}, got {value!r}")
        out.append(v * g if unit == "kg" else v)
    return tuple(out)
