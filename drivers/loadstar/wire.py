"""Loadstar wire format: constants, units and record layout (see ``docs/protocols/loadstar.md``)."""
from __future__ import annotations

from drivers.base import DeviceError

LBF_N = 4.4482216152605
KGF_N = 9.80665

#: newtons per unit, keyed by the unit as ``UNITS`` prints it (lower-cased). Mass units of a
#: load cell calibrated with weights are read as the force of that mass (kg → kgf).
UNIT_TO_N: dict[str, float] = {
    "lb": LBF_N,
    "lbs": LBF_N,
    "lbf": LBF_N,
    "kg": KGF_N,
    "kgf": KGF_N,
    "g": KGF_N / 1000,
    "gm": KGF_N / 1000,
    "gf": KGF_N / 1000,
    "oz": LBF_N / 16,
    "ozf": LBF_N / 16,
    "n": 1.0,
    "kn": 1000.0,
}
#: ``ID`` prefixes the vendor reserves for sensors that do not measure force
NON_FORCE_ID_PREFIXES: dict[str, str] = {"PR": "pressure", "TQ": "torque", "DISP": "displacement"}
#: reply lines that are not readings: ping answer, tare acknowledgement
ACK_REPLIES: frozenset[bytes] = frozenset({b"A", b"Tared"})
#: our simulator's reply to a command it does not know (the vendor does not document one)
ERROR_REPLY = b"E"

WC_WIDTH = 12  # ``%12.4f``
WC_RECORD = WC_WIDTH + 2  # + CR LF
H_RECORD = 8  # sign + 6 hex digits + CR
H_GLITCH = -1  # "occasionally the DI-1000HS-1K will output a -1 as the raw count. Just ignore this value."
MAX_TAIL = 4096  # bytes of an unterminated line kept between blocks

#: nominal output rates, readings/s (vendor: base DI-1000U 60-80 Hz, DI-1000UHS up to 500 Hz,
#: DI-1000UHS-1K ``WC`` about 575 Hz and ``H`` "above 1000")
DI1000U_HZ = 80.0
DI1000UHS_HZ = 500.0
UHS1K_WC_HZ = 575.0
UHS1K_H_HZ = 2000.0
#: baud rates a probe tries: the standard unit, then the high-speed units
PROBE_BAUDRATES: tuple[int, ...] = (9600, 230400)


def unit_factor(unit: str, port: str = "") -> float:
    """Newtons per ``unit`` (as ``UNITS`` prints it); :class:`DeviceError` if it is not a force unit we know."""
    try:
        return UNIT_TO_N[unit.strip().lower()]
    except KeyError:
        where = f"{port}: " if port else ""
        raise DeviceError(
            f"{where}unsupported unit {unit!r} (expected a force unit: lb, lbf, kg, kgf, g, oz, N or kN)"
        ) from None
