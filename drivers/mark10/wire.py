"""Mark-10 wire format (Series 4/5/7, GCL2 command set), from the Mark-10 user's guides.

ASCII commands end in CR (a CR-LF pair is accepted, the LF ignored); every reply ends in
CR-LF. ``?`` returns the displayed reading, ``-18.78 lbF`` in FULL format or ``-18.78`` in
NUM format. Compression is positive, tension negative. Errors come back as ``*10`` (illegal
command), ``*11`` (not applicable), ``*12`` (invalid specifier), ``*22`` (value too large).
``AOUTn`` sends readings continuously at ``n`` readings per second (``AOUT0`` stops);
``LIST`` dumps the settings; ``RM``/``RS``/``RV`` give model, serial number and firmware.
"""
from __future__ import annotations

import re

from drivers.base import DeviceError

#: newtons per unit, keyed by the unit as the gauge prints it (lower-cased)
UNIT_TO_N: dict[str, float] = {
    "lbf": 4.4482216152605,
    "ozf": 0.27801385095378125,
    "kgf": 9.80665,
    "gf": 0.00980665,
    "n": 1.0,
    "mn": 0.001,
    "kn": 1000.0,
}
#: unit-setting command → unit as printed
UNIT_COMMANDS: dict[str, str] = {"LB": "lbF", "OZ": "ozF", "KG": "kgF", "G": "gF", "N": "N", "MN": "mN", "KN": "kN"}
#: the units as printed
UNITS: tuple[str, ...] = tuple(UNIT_COMMANDS.values())
ERRORS: dict[str, str] = {
    "*10": "illegal command",
    "*11": "not applicable",
    "*12": "invalid specifier",
    "*22": "value too large",
}
MAX_AOUT_HZ = 1000
#: a gauge prints at most 6 digits (plus sign and point); 12 leave room for any unit
MAX_INT_DIGITS = 12
MAX_DECIMALS = 6

# A reading as the gauge prints it: no leading zeros ("00.5" is a line that lost a digit),
# optional sign, fixed decimals for the unit, optional unit (one the gauge can show; any
# other word is a damaged line).
_UNIT_ALTERNATIVES = b"|".join(u.encode() for u in sorted(UNIT_TO_N, key=len, reverse=True))
READING = re.compile(
    rb"^([+-]?(?:0|[1-9]\d{0,%d})(?:\.\d{1,%d})?)(?:[ \t]*((?i:%s)))?\r?$"
    % (MAX_INT_DIGITS - 1, MAX_DECIMALS, _UNIT_ALTERNATIVES),
    re.MULTILINE,
)
#: a GCL2 LIST reply: "V1.00;LBF;CUR;FLTC8;FLTP1;AOUT00;AOFF5;FULL;MIT;POL;B0"
LIST_VERSION = re.compile(r"V\d+(\.\d+)*")


def unit_factor(unit: str, port: str = "") -> float:
    """Newtons per ``unit`` (as the gauge prints it); :class:`DeviceError` if unknown."""
    try:
        return UNIT_TO_N[unit.lower()]
    except KeyError:
        where = f"{port}: " if port else ""
        raise DeviceError(f"{where}unsupported unit {unit!r} (expected one of {', '.join(UNITS)})") from None


def parse_reading(line: str) -> tuple[float, str] | None:
    """(value, unit as printed or "") of one reply line, or None if it is not a reading."""
    m = READING.match(line.strip().encode("ascii", "replace"))
    if m is None:
        return None
    return float(m.group(1)), (m.group(2) or b"").decode("ascii")


def is_list_reply(fields: list[str]) -> bool:
    """True for a GCL2 ``LIST`` settings dump (split on ``;``)."""
    return len(fields) >= 8 and bool(LIST_VERSION.fullmatch(fields[0])) and any(f.startswith("AOUT") for f in fields)
