"""A simulated Mark-10 Series 5 force gauge on a pty (GCL2 command subset).

Written from the Mark-10 Series 5 / Series 4 user guides, independently of
:mod:`drivers.mark10`: the two share no constants, so a misreading of the protocol on one
side shows up as a failing test instead of hiding in a shared table.

``commands="reading"`` makes a gauge that answers only the reading commands (``?``,
``?C``, ``?PT``, ``?PC``) and the setting commands it acts on, and ``*10`` (illegal command)
to everything else, ``LIST``, ``RM``, ``RV``, ``RS`` and ``AOUT`` included: a Series 4 or an
older firmware that must be polled.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from drivers.options import Option, parse_options
from simulation.forces import ForceSource, RepeatingEfforts
from simulation.pty_simulator import PtySimulator

#: newtons per display unit (1 lbF = 4.448222 N, 1 kgF = 9.80665 N, 16 ozF = 1 lbF)
NEWTONS_PER: dict[str, float] = {
    "lbF": 0.45359237 * 9.80665,
    "ozF": 0.45359237 * 9.80665 / 16.0,
    "kgF": 9.80665,
    "gF": 9.80665e-3,
    "N": 1.0,
    "mN": 1e-3,
    "kN": 1e3,
}
#: unit command (as sent) → unit as the gauge prints it
UNIT_KEYS: dict[str, str] = {"LB": "lbF", "OZ": "ozF", "KG": "kgF", "G": "gF", "N": "N", "MN": "mN", "KN": "kN"}
#: fastest AOUT rate of a Series 5 gauge, readings/s
AOUT_MAX = 1000
ILLEGAL = b"*10\r\n"
NOT_APPLICABLE = b"*11\r\n"
BAD_SPECIFIER = b"*12\r\n"
TOO_LARGE = b"*22\r\n"
#: commands a reading-only gauge answers
READING_COMMANDS = frozenset({"?", "?C", "?PT", "?PC", "Z", "CLR", "CUR", "PT", "PC", *UNIT_KEYS})
MODES = ("full", "reading")


class Mark10Simulator(PtySimulator):
    """A Mark-10 Series 5 gauge (model M5-100, 500 N) on a pty, GCL2 subset.

    Compression is positive. Readings are quantised to the display resolution of the unit.
    """

    family: ClassVar[str] = "mark10"
    command_terminators: ClassVar[bytes] = b"\r\n"
    DECIMALS: ClassVar[dict[str, int]] = {"lbF": 2, "ozF": 1, "kgF": 3, "gF": 0, "N": 2, "mN": 0, "kN": 5}

    def __init__(self, source: ForceSource, *, rate_hz: float = 500, seed: int = 0,
                 model: str = "M5-100", serial_no: str = "SIM-M10-0001", unit: str = "N", fmt: str = "FULL",
                 commands: str = "full") -> None:
        if commands not in MODES:
            raise ValueError(f"commands must be one of {', '.join(MODES)}, got {commands!r}")
        super().__init__(source, rate_hz=rate_hz, seed=seed)
        self.commands = commands
        self.model, self.serial_no, self.firmware = model, serial_no, "1.10"
        self.unit, self.fmt = unit, fmt
        self.zero_n = 0.0
        self.mode = "CUR"
        self.peak_t = self.peak_c = 0.0
        self.aout_hz = 0

    def _reading_n(self) -> float:
        return float(self.source.sample(np.array([self.clock()]))[0, 0]) - self.zero_n

    def format_values(self, force_n: np.ndarray) -> bytes:
        """CR-LF terminated readings in the current unit and format."""
        value = force_n / NEWTONS_PER[self.unit]
        decimals = self.DECIMALS[self.unit]
        suffix = f" {self.unit}" if self.fmt == "FULL" else ""
        fmt = f"%.{decimals}f{suffix}\r\n"
        return "".join(fmt % v for v in value).encode("ascii")

    def handle_command(self, line: bytes) -> bytes | None:
        cmd = line.strip().decode("ascii", "replace").upper()
        if self.commands == "reading" and cmd not in READING_COMMANDS:
            return ILLEGAL
        if cmd in ("?", "?C"):
            f = self._reading_n()
            if cmd == "?" and self.mode == "PT":
                f = self.peak_t
            elif cmd == "?" and self.mode == "PC":
                f = self.peak_c
            return self.format_values(np.array([f]))
        if cmd == "?PT":
            return self.format_values(np.array([self.peak_t]))
        if cmd == "?PC":
            return self.format_values(np.array([self.peak_c]))
        if cmd in ("?ET", "?A"):
            return NOT_APPLICABLE
        if cmd in UNIT_KEYS:
            self.unit = UNIT_KEYS[cmd]
            return b"R\r\n"
        if cmd in ("CUR", "PT", "PC"):
            self.mode = cmd
            return b"R\r\n"
        if cmd == "CLR":
            self.peak_t = self.peak_c = 0.0
            return b"R\r\n"
        if cmd == "Z":
            self.zero_n += self._reading_n()
            self.peak_t = self.peak_c = 0.0
            return b"R\r\n"
        if cmd in ("FULL", "NUM"):
            self.fmt = cmd
            return b"R\r\n"
        if cmd.startswith("AOUT"):
            arg = cmd[4:]
            if not arg.isdigit():
                return BAD_SPECIFIER
            rate = int(arg)
            if rate > AOUT_MAX:
                return TOO_LARGE
            self.aout_hz = rate
            if rate:
                self.rate_hz = float(rate)
                self.begin_streaming()
            else:
                self.end_streaming()
            return None  # streaming starts without an acknowledgement line
        if cmd == "RN":
            return b"Mark-10 Series 5 Force Gauge\r\n"
        if cmd == "RM":
            return f"{self.model}\r\n".encode("ascii")
        if cmd == "RV":
            return f"{self.firmware}\r\n".encode("ascii")
        if cmd == "RS":
            return f"{self.serial_no}\r\n".encode("ascii")
        if cmd == "LIST":
            unit = self.unit.upper()
            return f"V{self.firmware};{unit};{self.mode};FLTC8;FLTP1;AOUT{self.aout_hz:02d};AOFF5;{self.fmt};MIT;POL;B0\r\n".encode("ascii")
        return ILLEGAL

    def encode_samples(self, t_s: np.ndarray, force_n: np.ndarray, index: np.ndarray) -> bytes:
        f = force_n[:, 0] - self.zero_n
        if f.size:
            self.peak_c = max(self.peak_c, float(f.max()))
            self.peak_t = min(self.peak_t, float(f.min()))
        return self.format_values(f)


OPTIONS: tuple[Option, ...] = (
    Option("unit", "choice", "display unit the gauge prints", default="N", choices=tuple(NEWTONS_PER)),
    Option("format", "choice", "FULL prints the unit after each reading, NUM only the number", default="FULL",
           choices=("FULL", "NUM")),
    Option("commands", "choice", "full: a Series 5 (LIST, AOUT, RM …); reading: answers only ? and *10 to "
           "everything else (a Series 4 or older firmware)", default="full", choices=MODES),
    Option("seed", "int", "random seed of the simulated signal", default=0),
)


def make_simulator(options: dict[str, str], source: ForceSource | None = None) -> Mark10Simulator:
    """A Mark-10 simulator with :data:`OPTIONS` (other keys are left to the driver)."""
    v = parse_options(OPTIONS, options, where="sim:mark10", allow_unknown=options)
    return Mark10Simulator(source or RepeatingEfforts(1), unit=v["unit"], fmt=v["format"], seed=v["seed"],
                           commands=v["commands"])
