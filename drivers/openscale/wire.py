"""OpenScale wire format: constants, units and record layout (see ``docs/protocols/openscale.md``)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

import numpy as np

LBF_N = 4.4482216152605
KGF_N = 9.80665
#: newtons per unit as the firmware prints it (a scale calibrated in lbs or kg of mass
#: reads the force of that mass: lbf, kgf)
UNIT_TO_N: dict[str, float] = {"lbs": LBF_N, "kg": KGF_N}
FIRMWARE_VERSION = "1.2"
HX711_MAX_SPS = 80.0  # RATE pin high; 10 SPS with it low
MENU_KEY = b"x"
DEFAULT_TRIGGER = b"!"
HEADER = b"Serial Load Cell Converter version"
READINGS = b"Readings:"
MAX_TAIL = 4096
MAX_STEP_MS = 600_000  # a longer jump of millis() between readings is a restart, not a gap

# Arduino's print(float) gives inf/nan/ovf for a scale that is not calibrated
# Field widths are bounded by what the firmware can print (a long has at most 10 digits; a
# float's integer part beyond 4294967040 prints "ovf"), so an overlong number is a damaged
# line, never a value (issue 13: one such line used to stop the reader for good).
_INT = rb"(-?\d{1,10})"
_UNIT = rb"([A-Za-z]+)"
#: a printable line that is banner or menu text rather than a damaged reading: menu items
#: ("1) Tare ..."), capitalised sentences, the ">" prompt, the "\n\r"-led confirmations
_OFFSETS = np.arange(24)
_POW10 = 10 ** np.arange(9, -1, -1, dtype=np.int64)
_FAST_BYTES = b"0123456789.-,\r\nlbskg"  # all a block of clean readings holds
_TEXT = re.compile(rb"^\r?(?:[0-9a-z]\) |[A-Z>])[\x20-\x7e]*\r?$")


@dataclass(frozen=True)
class Columns:
    """Which optional CSV fields the firmware prints (menu items 3, q, 9, r)."""

    timestamp: bool = True
    raw: bool = False
    local_temp: bool = True
    remote_temp: bool = True

    def names(self) -> tuple[str, ...]:
        names = ["millis"] if self.timestamp else []
        names += ["weight", "unit"]
        names += ["raw"] if self.raw else []
        names += ["local_temp"] if self.local_temp else []
        names += ["remote_temp"] if self.remote_temp else []
        return tuple(names)

    def pattern(self, decimals: int | None = None) -> re.Pattern[bytes]:
        """A reading line; with ``decimals`` (the menu's setting) the weight and local
        temperature must have exactly that many, as the firmware prints them."""
        if decimals is None:
            number = rb"-?\d{1,10}(?:\.\d{0,6})?"
        else:
            number = rb"-?\d{1,10}" + (rb"\.\d{%d}" % decimals if decimals else b"")
        parts = {"millis": _INT, "weight": b"(" + number + rb"|-?inf|nan|ovf)", "unit": _UNIT, "raw": _INT,
                 "local_temp": b"(" + number + b")", "remote_temp": rb"(-?\d{1,10}(?:\.\d{0,6})?)"}
        body = b"".join(parts[n] + b"," for n in self.names())
        return re.compile(rb"^" + body + rb"\r$", re.MULTILINE)


#: the firmware's fresh-EEPROM defaults: timestamp, local and remote temperature on, raw off
DEFAULT_COLUMNS = Columns()


@dataclass
class MenuSettings:
    """The settings the configuration menu shows (values as printed)."""

    firmware: str = ""
    tare_point: int = 0
    calibration_factor: int = 0
    timestamp: bool = True
    report_ms: int = 0
    baudrate: int = 9600
    unit: str = "lbs"
    decimals: int = 2
    average: int = 1
    local_temp: bool = True
    remote_temp: bool = True
    status_led: str = "Blink"
    trigger: bool = False
    raw: bool = False
    trigger_char: str = "!"

    @property
    def columns(self) -> Columns:
        return Columns(timestamp=self.timestamp, raw=self.raw, local_temp=self.local_temp, remote_temp=self.remote_temp)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_MENU_ITEMS: dict[str, tuple[str, type]] = {
    "1": ("tare_point", int),
    "2": ("calibration_factor", int),
    "3": ("timestamp", bool),
    "4": ("report_ms", int),
    "5": ("baudrate", int),
    "6": ("unit", str),
    "7": ("decimals", int),
    "8": ("average", int),
    "9": ("local_temp", bool),
    "r": ("remote_temp", bool),
    "s": ("status_led", str),
    "t": ("trigger", bool),
    "q": ("raw", bool),
    "c": ("trigger_char", str),
}
_MENU_LINE = re.compile(r"^([0-9a-z])\) [^\[]*\[(.*)\]\s*$")


def parse_menu(text: bytes) -> MenuSettings | None:
    """Settings from the last complete menu in ``text`` (through its ``x) Exit`` line), or None."""
    start = text.rfind(b"System Configuration")
    if start < 0 or text.find(b"x) Exit", start) < 0:
        return None
    settings = MenuSettings()
    head = text.rfind(HEADER, 0, start)
    if head >= 0:
        settings.firmware = text[head + len(HEADER) : text.find(b"\n", head)].strip().decode("ascii", "replace")
    seen = 0
    for raw_line in text[start:].split(b"\n"):
        m = _MENU_LINE.match(raw_line.decode("ascii", "replace").strip("\r"))
        if not m or m.group(1) not in _MENU_ITEMS:
            continue
        name, kind = _MENU_ITEMS[m.group(1)]
        value = m.group(2).strip()
        try:
            if kind is bool:
                parsed: object = value.lower() == "on"
            elif kind is int:
                parsed = int(value.split()[0])
            else:
                parsed = value
        except (ValueError, IndexError):
            continue
        setattr(settings, name, parsed)
        seen += 1
    return settings if seen >= 4 else None
