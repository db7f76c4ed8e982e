"""Loadstar Sensors DI-1000U family USB load-cell interfaces (DI-100U, DI-1000U, DI-1000UHS, DI-1000UHS-1K).

Wire protocol (see ``docs/protocols/loadstar.md``): ASCII commands end in CR (an LF is
ignored), replies end in CR-LF. A bare CR is a ping answered ``A``; ``MODEL`` answers
``FCM DI-1000``; ``ID`` the unit identifier; ``UNITS`` the calibrated unit (``LB``, ``Kg``,
``N`` …); ``LC`` the capacity in that unit; ``CT0``/``TARE`` answer ``Tared``; ``W`` one
reading; ``WC`` streams readings (``%12.4f`` + CR-LF) until a CR is sent. The DI-1000UHS-1K
also streams raw A/D counts with ``H``: a sign (space or ``-``) and six hex digits of the
magnitude, each record ended by a CR only, e.g. ``-0000C1`` + CR for -193; ``SWC`` gives the
weight per count. A count of -1 is an artefact the vendor says to ignore.

The device has no clock: samples are stamped with host time (:class:`HostClock`).
"""
from __future__ import annotations

import re
import time
from typing import ClassVar

import numpy as np

from drivers.base import DeviceError, DeviceInfo, Driver, HostClock, SampleBlock

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


# -- decoding -------------------------------------------------------------------------------
# A WC reading: the documented fixed width (``%12.4f``, right aligned) after an optional run
# of garbage (salvaged: its last 12 characters are exactly one record), or a plain number
# with nothing before it (the ``W`` style, e.g. ``3.04``). A padded line one byte short
# matches neither, so a lost byte costs that reading and is counted.
_WC_LINE = re.compile(
    rb"^(?:([^\n]*?)((?=[ \d.-]{12}\r$) *-?\d+\.\d{4})|(-?\d+(?:\.\d+)?))\r$",
    re.MULTILINE,
)
_WC_RECORD_END = re.compile(rb"(?:^|[^ \d.-])(?=[ \d.-]{12}\r$) *-?\d+\.\d{4}\r$")
_WC_CHARS = np.zeros(256, dtype=bool)
_WC_CHARS[np.frombuffer(b" -.0123456789", dtype=np.uint8)] = True
_HEX = np.full(256, -1, dtype=np.int8)
for _i, _c in enumerate(b"0123456789ABCDEF"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEX[_c] = 10 + _i
_POW16 = 16 ** np.arange(5, -1, -1, dtype=np.int64)
_AR7 = np.arange(7)


class LoadstarDecoder:
    """Turns byte blocks of ``WC`` lines (``mode="weight"``) or ``H`` records (``mode="counts"``)
    into values, vectorised per block: newtons for weight, raw counts for counts.

    Damaged records are skipped up to the next line end (CR-LF for ``WC``, CR for ``H``) and
    counted: ``bad_lines`` (resyncs), ``garbage_bytes``, ``lost`` (readings estimated lost: one
    per damaged record, plus vendor ``-1`` glitches). ``A``/``Tared`` replies are skipped
    silently; ``E`` replies are recorded in ``device_errors``.
    """

    def __init__(self, mode: str = "weight", unit: str = "lb") -> None:
        if mode not in ("weight", "counts"):
            raise ValueError(f"mode must be 'weight' or 'counts', got {mode!r}")
        self.mode = mode
        self.unit = unit
        self.factor = unit_factor(unit) if mode == "weight" else 1.0
        self._tail = b""
        self.bad_lines = 0
        self.garbage_bytes = 0
        self.lost = 0
        self.glitches = 0
        self.acks = 0
        self.device_errors: list[str] = []

    def reset(self) -> None:
        self._tail = b""

    def feed(self, data: bytes) -> np.ndarray:
        """Values of every complete record in the kept tail plus ``data`` (1-D float64)."""
        if self.mode == "weight":
            return self._feed_weight(data)
        return self._feed_counts(data)

    # -- WC lines -----------------------------------------------------------------------
    def _feed_weight(self, data: bytes) -> np.ndarray:
        buf = self._tail + data
        end = buf.rfind(b"\n")
        if end < 0:
            self._keep_tail(buf)
            return np.empty(0)
        complete, self._tail = buf[: end + 1], buf[end + 1 :]
        values = self._fixed_width(complete)
        if values is None:
            values = self._weight_lines(complete)
        return values * self.factor if values.size else values

    @staticmethod
    def _fixed_width(complete: bytes) -> np.ndarray | None:
        """Fast path: a block of whole ``%12.4f`` CR-LF records, decoded without a regex."""
        n, rem = divmod(len(complete), WC_RECORD)
        if rem or not n:
            return None
        a = np.frombuffer(complete, dtype=np.uint8).reshape(n, WC_RECORD)
        if not ((a[:, WC_WIDTH] == 13).all() and (a[:, WC_WIDTH + 1] == 10).all() and (a[:, WC_WIDTH - 5] == 46).all()):
            return None
        text = a[:, :WC_WIDTH]
        if not _WC_CHARS[text].all():
            return None
        try:
            return np.ascontiguousarray(text).view(f"S{WC_WIDTH}").ravel().astype(np.float64)
        except ValueError:  # e.g. a sign in the middle: let the careful path sort it out
            return None

    def _weight_lines(self, complete: bytes) -> np.ndarray:
        """Careful path: a regex per block; damaged lines are classified one by one."""
        matches = _WC_LINE.findall(complete)
        numbers = [fixed or plain for _, fixed, plain in matches]
        for prefix, _, _ in matches:
            if prefix:  # garbage, or a previous record whose LF was lost, before this record
                self.bad_lines += 1
                self.garbage_bytes += len(prefix)
                if _WC_RECORD_END.search(prefix):  # a whole record whose LF was lost
                    self.lost += 1
        if complete.count(b"\n") > len(matches):
            for line in complete.split(b"\n")[:-1]:
                if _WC_LINE.match(line):
                    continue
                s = line.strip()
                if not s:
                    continue
                if s in ACK_REPLIES:
                    self.acks += 1
                elif s == ERROR_REPLY:
                    self.device_errors.append(s.decode("ascii"))
                else:
                    self.bad_lines += 1
                    self.lost += 1
                    self.garbage_bytes += len(line) + 1
        if not numbers:
            return np.empty(0)
        return np.array(numbers, dtype="S24").astype(np.float64)

    # -- H records ----------------------------------------------------------------------
    def _feed_counts(self, data: bytes) -> np.ndarray:
        buf = self._tail + data
        if b"\n" in buf:  # H records end in CR only; an LF comes from a reply such as "Tared"
            buf = buf.replace(b"\n", b"")
        end = buf.rfind(b"\r")
        if end < 0:
            self._keep_tail(buf)
            return np.empty(0)
        complete, self._tail = buf[: end + 1], buf[end + 1 :]
        a = np.frombuffer(complete, dtype=np.uint8)
        n, rem = divmod(a.size, H_RECORD)
        if not rem and (a[H_RECORD - 1 :: H_RECORD] == 13).all():
            chars = a.reshape(n, H_RECORD)[:, :7]  # aligned: fixed 8-byte records
            values, ok = self._hex_values(chars)
            if ok.all():
                return self._drop_glitches(values)
        return self._resync_counts(complete, a)

    @staticmethod
    def _hex_values(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Signed values and validity of (n, 7) records: sign (space or '-') + 6 hex digits."""
        sign = chars[:, 0]
        digits = _HEX[chars[:, 1:]]
        ok = ((sign == 32) | (sign == 45)) & (digits >= 0).all(axis=1)
        values = digits.astype(np.int64) @ _POW16
        values = np.where(sign == 45, -values, values)
        return values, ok

    def _resync_counts(self, complete: bytes, a: np.ndarray) -> np.ndarray:
        """Record boundaries from the CR positions; a record is the 7 bytes before a CR."""
        cr = np.flatnonzero(a == 13)
        starts = np.empty_like(cr)
        starts[0] = 0
        starts[1:] = cr[:-1] + 1
        lengths = cr - starts
        candidate = lengths >= 7
        first = cr[candidate] - 7
        values, ok = self._hex_values(a[first[:, None] + _AR7])
        valid = np.zeros(cr.size, dtype=bool)
        valid[candidate] = ok
        salvaged = valid & (lengths > 7)  # garbage (or a record whose CR was lost) in front
        if salvaged.any():
            extra = lengths[salvaged] - 7
            self.bad_lines += int(salvaged.sum())
            self.garbage_bytes += int(extra.sum())
            # a whole record in front (its CR was lost) is a reading lost; other junk is not
            long = cr[salvaged][extra >= 7]
            if long.size:
                _, whole = self._hex_values(a[(long - 14)[:, None] + _AR7])
                self.lost += int(whole.sum())
        bad = ~valid & (lengths > 0)
        for i in np.flatnonzero(bad).tolist():
            segment = complete[starts[i] : cr[i]]
            if segment in ACK_REPLIES:
                self.acks += 1
            elif segment == ERROR_REPLY:
                self.device_errors.append(segment.decode("ascii"))
            else:
                self.bad_lines += 1
                self.lost += 1
                self.garbage_bytes += len(segment) + 1
        return self._drop_glitches(values[ok])

    def _drop_glitches(self, values: np.ndarray) -> np.ndarray:
        glitch = values == H_GLITCH
        if glitch.any():
            n = int(glitch.sum())
            self.glitches += n
            self.lost += n
            values = values[~glitch]
        return values.astype(np.float64)

    def _keep_tail(self, buf: bytes) -> None:
        if len(buf) > MAX_TAIL:  # a runaway line without a terminator is garbage
            self.garbage_bytes += len(buf) - MAX_TAIL
            self.bad_lines += 1
            buf = buf[-MAX_TAIL:]
        self._tail = buf


# -- driver ---------------------------------------------------------------------------------
_SEGMENTS = re.compile(rb"[\r\n]+")


class LoadstarDriver(Driver):
    """A Loadstar DI-1000U family interface streaming ``WC`` (newtons) or ``H`` (raw counts).

    Options (device URI query): ``mode`` ``weight`` (default: ``WC`` readings converted to
    N) or ``counts`` (``H`` raw A/D counts; DI-1000UHS-1K only, i.e. ``MODEL`` must say
    ``UHS``); ``rate`` nominal readings/s for host time stamps (default from the model and
    baud rate: 80 at 9600 bit/s, 500 at high speed, 575/2000 for the UHS-1K's WC/H).
    """

    family: ClassVar[str] = "loadstar"
    default_baudrate: ClassVar[int] = 9600
    identify_timeout_s: ClassVar[float] = 2.0

    def __init__(self, port: str, **kwargs: object) -> None:
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.mode = self.options.get("mode", "weight")
        if self.mode not in ("weight", "counts"):
            raise DeviceError(f"{port}: mode must be 'weight' or 'counts', got {self.mode!r}")
        rate = self.options.get("rate")
        try:
            self._rate_option = float(rate) if rate else None
        except ValueError:
            raise DeviceError(f"{port}: rate must be a number of readings/s, got {rate!r}") from None
        if self._rate_option is not None and not 0 < self._rate_option <= 100_000:
            raise DeviceError(f"{port}: rate {self._rate_option:g} out of range (0..100000 readings/s)")
        self.rate_hz = self._rate_option or DI1000U_HZ
        self.decoder = LoadstarDecoder(mode=self.mode, unit="lb")
        self._clock = HostClock(self.rate_hz)

    # -- request/reply ----------------------------------------------------------------
    def _read_segments(self, buf: bytes) -> tuple[list[bytes], bytes]:
        """Complete non-empty lines (split on CR and LF) in ``buf`` and the unfinished rest."""
        end = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
        if end < 0:
            return [], buf
        return [s for s in _SEGMENTS.split(buf[: end + 1]) if s.strip()], buf[end + 1 :]

    def _wait_for(self, predicate, what: str, timeout_s: float) -> bytes:
        deadline = time.monotonic() + timeout_s
        buf = b""
        while time.monotonic() < deadline:
            buf += self.read_available(0.02)
            lines, buf = self._read_segments(buf)
            for line in lines:
                if predicate(line.strip()):
                    return line.strip()
            if len(buf) > MAX_TAIL:
                buf = buf[-MAX_TAIL:]
        raise DeviceError(
            f"{self.port}: no Loadstar reply to {what} within {timeout_s:g} s (wrong device, baud rate or port?)"
        )

    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send one command and return its one-line reply (stale ``A`` pings skipped)."""
        self.write(command.encode("ascii") + b"\r")
        line = self._wait_for(lambda s: s != b"A", repr(command), timeout_s or self.identify_timeout_s)
        text = line.decode("ascii", "replace")
        if line == ERROR_REPLY:
            raise DeviceError(f"{self.port}: Loadstar answered {text!r} (error) to {command!r}")
        return text

    def identify(self) -> DeviceInfo:
        # The vendor's connection check: a CR (which also ends a stream left running), then a
        # CR that must be answered "A", then MODEL must contain DI-1000 or DI-100.
        self.write(b"\r")
        time.sleep(0.05)
        self.serial.reset_input_buffer()
        self.write(b"\r")
        self._wait_for(lambda s: s == b"A", "a CR (ping)", self.identify_timeout_s)
        model = self.query("MODEL")
        if "DI-100" not in model.upper():
            raise DeviceError(f"{self.port}: not a Loadstar DI-100/DI-1000 interface (MODEL answered {model!r})")
        device_id = self.query("ID")
        for prefix, kind in NON_FORCE_ID_PREFIXES.items():
            if device_id.upper().startswith(prefix):
                raise DeviceError(f"{self.port}: Loadstar {model} reports a {kind} sensor (ID {device_id!r}), not a force sensor")
        unit = self.query("UNITS").strip()
        uhs1k = "UHS" in model.upper()
        settings: dict[str, object] = {"mode": self.mode, "device_unit": unit, "baudrate": self.baudrate}
        if self.mode == "weight":
            factor = unit_factor(unit, self.port)
            self.decoder = LoadstarDecoder(mode="weight", unit=unit)
        else:
            if not uhs1k:
                raise DeviceError(
                    f"{self.port}: mode=counts needs a DI-1000UHS-1K (its H command); MODEL answered {model!r}"
                )
            factor = UNIT_TO_N.get(unit.lower())
            self.decoder = LoadstarDecoder(mode="counts")
            per_count = _float_or_none(self.query("SWC"))
            settings["weight_per_count"] = per_count
            if per_count is not None and factor is not None:
                settings["newtons_per_count"] = per_count * factor
        capacity = _float_or_none(self.query("LC"))
        settings["capacity"] = capacity
        if capacity is not None and factor is not None:
            settings["capacity_n"] = capacity * factor
        if uhs1k:
            default_rate = UHS1K_H_HZ if self.mode == "counts" else UHS1K_WC_HZ
        else:
            default_rate = DI1000UHS_HZ if self.baudrate >= 115200 else DI1000U_HZ
        self.rate_hz = self._rate_option or default_rate
        self._clock = HostClock(self.rate_hz)
        settings["stream_command"] = "H" if self.mode == "counts" else "WC"
        return DeviceInfo(
            family=self.family,
            model=model,
            serial=device_id,
            firmware="",
            channels=1,
            rate_hz=self.rate_hz,
            unit="counts" if self.mode == "counts" else "N",
            time_source="host",
            port=self.port,
            settings=settings,
        )

    def start(self) -> None:
        self.reset_decoder()
        self.write(b"H\r" if self.mode == "counts" else b"WC\r")
        self.streaming = True

    def stop(self) -> None:
        self.write(b"\r")  # "simply send a <CR> to stop streaming"
        self.streaming = False

    def tare(self) -> None:
        """Zero the calibrated output (``CT0``). While streaming ``WC`` the stream is stopped,
        tared and restarted; the ``Tared`` reply is skipped by the decoder. Raw ``H`` counts
        are A/D values, so in counts mode this does nothing (tare on the host)."""
        if self.mode == "counts":
            return
        if self.streaming:
            self.write(b"\rCT0\rWC\r")
        else:
            reply = self.query("CT0")
            if reply not in ("Tared", "A"):
                raise DeviceError(f"{self.port}: unexpected reply {reply!r} to 'CT0'")

    def reset_decoder(self) -> None:
        self.decoder.reset()
        self._clock = HostClock(self.rate_hz)

    def decode(self, data: bytes, arrival_s: float) -> SampleBlock | None:
        d = self.decoder
        bad, garbage, lost, errors = d.bad_lines, d.garbage_bytes, d.lost, len(d.device_errors)
        values = d.feed(data)
        self.stats.resyncs += d.bad_lines - bad
        self.stats.garbage_bytes += d.garbage_bytes - garbage
        self.stats.lost_samples += d.lost - lost
        self.stats.device_errors += len(d.device_errors) - errors
        if values.size == 0:
            return None
        return SampleBlock(values=values[:, None], t_host_s=self._clock.stamp(values.size, arrival_s))


def _float_or_none(text: str) -> float | None:
    try:
        return float(text.split()[0]) if text.split() else None
    except ValueError:
        return None


DRIVER = LoadstarDriver
