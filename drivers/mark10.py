"""Mark-10 force gauges (Series 4/5/7, GCL2 command set).

Wire protocol (see ``docs/protocols/mark10.md``): ASCII commands end in CR (a CR-LF pair is
accepted, the LF ignored); every reply ends in CR-LF. ``?`` returns the displayed reading,
``-18.78 lbF`` in FULL format or ``-18.78`` in NUM format. Compression is positive, tension
negative. Errors come back as ``*10`` (illegal command), ``*11`` (not applicable), ``*12``
(invalid specifier), ``*22`` (value too large). ``AOUTn`` sends readings continuously at
``n`` readings per second (``AOUT0`` stops).
"""
from __future__ import annotations

import re
import time
from typing import ClassVar

import numpy as np

from drivers.base import DeviceError, DeviceInfo, Driver, HostClock, SampleBlock

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
ERRORS: dict[str, str] = {
    "*10": "illegal command",
    "*11": "not applicable",
    "*12": "invalid specifier",
    "*22": "value too large",
}
MAX_AOUT_HZ = 1000

# A reading as the gauge prints it: no leading zeros ("00.5" is a line that lost a digit),
# optional sign, fixed decimals for the unit, optional unit.
_READING = re.compile(rb"^([+-]?(?:0|[1-9]\d*)(?:\.\d+)?)(?:[ \t]*([A-Za-z]+))?\r?$", re.MULTILINE)


#: bytes that cannot appear in a block of bare numbers separated by LF
_NOT_NUMBER = np.ones(256, dtype=bool)
_NOT_NUMBER[np.frombuffer(b"0123456789.+-\n", dtype=np.uint8)] = False
_POW10 = 10 ** np.arange(19, dtype=np.int64)


def unit_factor(unit: str, port: str = "") -> float:
    """Newtons per ``unit`` (as the gauge prints it); :class:`DeviceError` if unknown."""
    try:
        return UNIT_TO_N[unit.lower()]
    except KeyError:
        where = f"{port}: " if port else ""
        raise DeviceError(f"{where}unsupported unit {unit!r} (expected one of lbF, ozF, kgF, gF, N, mN, kN)") from None


class Mark10Decoder:
    """Turns byte blocks of CR-LF terminated readings into newtons, vectorised per block.

    Lines that are not readings (garbage, a line broken by a lost byte, an ``R``
    acknowledgement, ``*NN`` errors) are counted and skipped; decoding resumes at the next
    line ending, so one bad byte costs at most one reading. The gauge prints a fixed number
    of decimals for its unit, so a reading whose decimals differ from the stream's is a line
    that lost a digit and is skipped too. ASCII has no checksum: a lost digit *before* the
    decimal point ("100.00" → "10.00") or of the sign cannot be detected by any framing rule.
    """

    def __init__(self, default_unit: str = "N", polarity: float = 1.0) -> None:
        self.default_unit = default_unit
        self.polarity = polarity
        self._tail = b""
        self.bad_lines = 0
        self.garbage_bytes = 0
        self.device_errors: list[str] = []
        self.decimals: dict[bytes, int] = {}  # per unit as printed, learned from the stream

    def reset(self) -> None:
        self._tail = b""
        self.decimals = {}

    def feed(self, data: bytes) -> np.ndarray:
        """Forces (N) of every complete reading in ``_tail + data``."""
        buf = self._tail + data
        end = buf.rfind(b"\n")
        if end < 0:
            self._tail = buf[-256:]  # a runaway line without LF is garbage; keep it bounded
            return np.empty(0)
        complete, self._tail = buf[: end + 1], buf[end + 1 :]
        if len(complete) <= self.SLICE_BYTES:
            return self._feed_complete(complete)
        parts, start = [], 0
        while start < len(complete):  # cache-sized slices, cut at line ends
            stop = complete.find(b"\n", start + self.SLICE_BYTES)
            stop = len(complete) if stop < 0 else stop + 1
            parts.append(self._feed_complete(complete[start:stop]))
            start = stop
        return np.concatenate(parts)

    #: blocks larger than this are decoded in slices of about this size (bytes)
    SLICE_BYTES = 16 * 1024

    def _feed_complete(self, complete: bytes) -> np.ndarray:
        fast = self._feed_uniform(complete)
        return fast if fast is not None else self._feed_lines(complete)

    def _feed_uniform(self, complete: bytes) -> np.ndarray | None:
        """The common case, parsed arithmetically on the byte array (no Python object per
        line): every line is ``<number>[ <unit>]\\r\\n`` with one unit and the decimals already
        learned for it. Returns None when the block needs the exact path (which counts)."""
        first = complete[: complete.find(b"\n") + 1]
        m = _READING.match(first)
        if m is None:
            return None
        unit = m.group(2) or b""
        decimals = self.decimals.get(bytes(unit))
        if decimals is None:
            return None  # the exact path learns the stream's decimals first
        tail = first[m.end(1) :]  # e.g. b" N\r\n"
        n = complete.count(b"\n")
        if complete.count(tail) != n:
            return None
        nb = np.frombuffer(complete.replace(tail, b"\n"), dtype=np.uint8)
        if _NOT_NUMBER[nb].any():
            return None
        nl = np.flatnonzero(nb == 10)
        st = np.empty(n, dtype=np.int64)
        st[0] = 0
        st[1:] = nl[:-1] + 1
        length = nl - st  # characters before LF
        signed = (nb[st] == 45) | (nb[st] == 43)  # '-' or '+'
        int_len = length - signed - (decimals + 1 if decimals else 0)
        if np.any(int_len < 1) or np.any(int_len > 12):
            return None
        first_digit = nb[st + signed]
        if np.any((first_digit == 48) & (int_len > 1)):
            return None  # leading zero: a line that lost a digit
        is_point = nb == 46
        if decimals:
            if is_point.sum() != n or not np.all(nb[nl - decimals - 1] == 46):
                return None
        elif is_point.any():
            return None
        sign_pos = st[signed]
        if (((nb == 45) | (nb == 43)).sum()) != sign_pos.size:
            return None  # a sign somewhere else than at a line start
        rpos = np.repeat(nl, length + 1) - np.arange(nb.size) - 1  # chars left to the LF
        exponent = rpos - (rpos > decimals) if decimals else rpos
        digit = nb.astype(np.int64) - 48
        digit[(digit < 0) | (digit > 9)] = 0  # sign, point and LF contribute nothing
        exponent[exponent < 0] = 0
        values = np.add.reduceat(digit * _POW10[exponent], st) / 10.0**decimals
        values[nb[st] == 45] *= -1.0
        factor = unit_factor(unit.decode("ascii")) if unit else unit_factor(self.default_unit)
        return self.polarity * values * factor

    def _feed_lines(self, complete: bytes) -> np.ndarray:
        """The exact path: line by line with a regular expression, counting every bad line."""
        matches = _READING.findall(complete)
        n_lines = complete.count(b"\n")
        bad = n_lines - len(matches)
        if bad:
            self._count_bad(complete)
        if not matches:
            return np.empty(0)
        numbers, units = zip(*matches, strict=True)
        raw = np.array(numbers, dtype="S24")
        dot = np.char.find(raw, b".")
        decimals = np.where(dot >= 0, np.char.str_len(raw) - dot - 1, 0)
        unit_arr = np.array(units, dtype="S8")
        expected = np.empty_like(decimals)
        for u in np.unique(unit_arr):
            sel = unit_arr == u
            if u not in self.decimals:
                self.decimals[bytes(u)] = int(np.bincount(decimals[sel]).argmax())
            expected[sel] = self.decimals[bytes(u)]
        keep = decimals == expected
        if not keep.all():
            dropped = int((~keep).sum())
            self.bad_lines += dropped
            self.garbage_bytes += int(np.char.str_len(raw[~keep]).sum())
            raw = raw[keep]
            units = tuple(u for u, k in zip(units, keep, strict=True) if k)
            if raw.size == 0:
                return np.empty(0)
        values = raw.astype(np.float64)
        unique_units = set(units)
        if unique_units == {b""}:
            factor: float | np.ndarray = unit_factor(self.default_unit)
        elif len(unique_units) == 1:
            factor = unit_factor(unique_units.pop().decode("ascii"))
        else:
            factor = np.array([unit_factor((u or self.default_unit.encode()).decode("ascii")) for u in units])
        return self.polarity * values * factor

    def _count_bad(self, complete: bytes) -> None:
        """Sort the lines that are not readings: ``R`` acknowledgements and ``*NN`` device
        errors are expected; everything else is garbage (a bad line and its bytes)."""
        for line in complete.split(b"\n")[:-1]:  # ``complete`` ends with LF
            if _READING.match(line):
                continue
            s = line.strip()
            if s.startswith(b"*"):
                self.device_errors.append(s.decode("ascii", "replace"))
            elif s != b"R":
                self.bad_lines += 1
                self.garbage_bytes += len(line) + 1 if line else 0


class Mark10Driver(Driver):
    """A Mark-10 gauge streaming with ``AOUTn``; readings converted to newtons.

    Options (device URI query): ``rate`` output rate in readings/s (default 500),
    ``polarity`` ``compression`` (default: compression reads positive) or ``tension``.
    """

    family: ClassVar[str] = "mark10"
    default_baudrate: ClassVar[int] = 115200

    def __init__(self, port: str, **kwargs: object) -> None:
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.rate_hz = float(self.options.get("rate", 500))
        if not 0 < self.rate_hz <= MAX_AOUT_HZ:
            raise DeviceError(f"{port}: rate {self.rate_hz:g} out of range (1..{MAX_AOUT_HZ} readings/s)")
        pol = self.options.get("polarity", "compression")
        if pol not in ("compression", "tension"):
            raise DeviceError(f"{port}: polarity must be 'compression' or 'tension', got {pol!r}")
        self.polarity_name = pol
        self.decoder = Mark10Decoder(polarity=1.0 if pol == "compression" else -1.0)
        self._clock = HostClock(self.rate_hz)

    # -- request/reply ----------------------------------------------------------------
    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send one command and return its one-line reply; errors raise :class:`DeviceError`."""
        self.write(command.encode("ascii") + b"\r")
        deadline = time.monotonic() + (timeout_s or self.identify_timeout_s)
        buf = b""
        while time.monotonic() < deadline:
            buf += self.read_available(0.02)
            if b"\n" in buf:
                line = buf.split(b"\n", 1)[0].strip().decode("ascii", "replace")
                if line in ERRORS:
                    raise DeviceError(f"{self.port}: Mark-10 answered {line} ({ERRORS[line]}) to {command!r}")
                return line
        raise DeviceError(
            f"{self.port}: no Mark-10 reply to {command!r} within {timeout_s or self.identify_timeout_s:g} s "
            "(wrong device, baud rate or port?)"
        )

    def command(self, command: str) -> None:
        """Send a setting command; an error reply raises, an ``R`` acknowledgement is consumed."""
        reply = self.query(command, timeout_s=0.5) if command else ""
        if reply not in ("R", ""):
            raise DeviceError(f"{self.port}: unexpected reply {reply!r} to {command!r}")

    def identify(self) -> DeviceInfo:
        self.write(b"AOUT0\r")  # stop any stream left running
        time.sleep(0.05)
        self.serial.reset_input_buffer()
        settings = self.query("LIST").split(";")
        # A GCL2 LIST reply: "V1.00;LBF;CUR;FLTC8;FLTP1;AOUT00;AOFF5;FULL;MIT;POL;B0"
        if len(settings) < 8 or not re.fullmatch(r"V\d+(\.\d+)*", settings[0]) or not any(
                s.startswith("AOUT") for s in settings):
            raise DeviceError(f"{self.port}: the device did not answer LIST like a Mark-10 gauge "
                              f"(got {';'.join(settings)[:40]!r}) — wrong device, baud rate or port?")
        listed = settings[1].upper()
        unit = next((u for u in UNIT_COMMANDS.values() if u.upper() == listed), None)
        if unit is None:
            raise DeviceError(f"{self.port}: unsupported unit {settings[1]!r} (expected one of lbF, ozF, kgF, gF, "
                              "N, mN, kN; set the gauge to a force unit)")
        fmt = "NUM" if "NUM" in settings else "FULL"
        model = self.query("RM")
        serial_no = self.query("RS")
        firmware = self.query("RV")
        self.decoder.default_unit = unit
        return DeviceInfo(
            family=self.family,
            model=model,
            serial=serial_no,
            firmware=firmware,
            channels=1,
            rate_hz=self.rate_hz,
            unit="N",
            time_source="host",
            port=self.port,
            settings={
                "gauge_unit": unit,
                "format": fmt,
                "positive": self.polarity_name,
                "aout_hz": int(self.rate_hz),
                "baudrate": self.baudrate,
                "list": ";".join(settings),
            },
        )

    def start(self) -> None:
        self.reset_decoder()
        self.write(f"AOUT{int(self.rate_hz)}\r".encode("ascii"))
        self.streaming = True

    def stop(self) -> None:
        self.write(b"AOUT0\r")
        self.streaming = False

    def tare(self) -> None:
        """Zero the gauge (``Z``); works while streaming, the ``R`` reply is skipped."""
        self.write(b"Z\r")

    def reset_decoder(self) -> None:
        self.decoder.reset()
        self._clock = HostClock(self.rate_hz)

    def decode(self, data: bytes, arrival_s: float) -> SampleBlock | None:
        bad_before, garbage_before = self.decoder.bad_lines, self.decoder.garbage_bytes
        errors_before = len(self.decoder.device_errors)
        force_n = self.decoder.feed(data)
        # every bad line is a reading that did not arrive intact (no sequence numbers in ASCII)
        self.stats.resyncs += self.decoder.bad_lines - bad_before
        self.stats.lost_samples += self.decoder.bad_lines - bad_before
        self.stats.garbage_bytes += self.decoder.garbage_bytes - garbage_before
        self.stats.device_errors += len(self.decoder.device_errors) - errors_before
        if force_n.size == 0:
            return None
        return SampleBlock(values=force_n[:, None], t_host_s=self._clock.stamp(force_n.size, arrival_s))


DRIVER = Mark10Driver
