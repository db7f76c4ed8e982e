"""SparkFun OpenScale (SEN-13261: ATmega328P + HX711 24-bit ADC + TMP102), firmware 1.x.

Wire protocol (see ``docs/protocols/openscale.md``): 9600 bit/s 8-N-1 by default. After a
reset (opening the port pulses DTR, which resets the board) the firmware prints a banner::

    Serial Load Cell Converter version 1.2
    By SparkFun Electronics
    No remote sensor found
    Minimum time between reports: 13
    Press x to bring up settings
    Readings:

then one CSV line per reading, every field followed by a comma, lines ended CR-LF::

    [millis,]weight,lbs|kg,[raw,][local temp,][remote temp,]

Which optional fields appear is set in the menu. ``x`` opens the configuration menu (the
stream pauses; the menu lists numbered settings with their values in brackets and ends with a
``>`` prompt); ``x`` again prints ``Exiting`` and resumes. With "Serial trigger" on, the board
prints one reading per trigger character (``!`` by default). The firmware has no command
that returns the settings, so the driver reads them from the menu.
"""
from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from drivers.base import DeviceError, DeviceInfo, Driver, HostClock, SampleBlock

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
_INT = rb"(-?\d+)"
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
            number = rb"-?\d+(?:\.\d*)?"
        else:
            number = rb"-?\d+" + (rb"\.\d{%d}" % decimals if decimals else b"")
        parts = {"millis": _INT, "weight": b"(" + number + rb"|-?inf|nan|ovf)", "unit": _UNIT, "raw": _INT,
                 "local_temp": b"(" + number + b")", "remote_temp": rb"(-?\d+(?:\.\d*)?)"}
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


class OpenScaleDecoder:
    """Turns byte blocks of OpenScale CSV lines into values, vectorised per block.

    ``mode="weight"``: the weight column in newtons (lbs/kg per line); ``mode="counts"``: the
    raw HX711 column. With the timestamp column, :attr:`t_device_s` holds the device time
    (``millis()`` unwrapped over its 32-bit wrap, in s) of the values the last :meth:`feed`
    returned, and a jump of more than 1.5 nominal periods counts as a gap of lost readings.

    Banner and menu text lines are counted in ``text_lines`` (not errors); other lines that
    are not readings (garbage, a line broken by a lost byte) in ``bad_lines``/``garbage_bytes``.
    ``lost`` counts readings lost: from device-time gaps when there is a timestamp, else one
    per bad line. Readings the board could not compute (``nan``/``inf``/``ovf``) are dropped
    and counted in ``invalid``.
    """

    def __init__(self, columns: Columns = DEFAULT_COLUMNS, mode: str = "weight", period_s: float | None = None,
                 decimals: int | None = 2) -> None:
        if mode not in ("weight", "counts"):
            raise ValueError(f"mode must be 'weight' or 'counts', got {mode!r}")
        if mode == "counts" and not columns.raw:
            raise ValueError("counts mode needs the raw reading column")
        self.columns = columns
        self.mode = mode
        self.decimals = decimals
        self.period_ms = period_s * 1000.0 if period_s else None
        self._pattern = columns.pattern(decimals)
        names = columns.names()
        self._nfields = len(names)
        self._col = {name: i for i, name in enumerate(names)}
        self._value_col = self._col["weight" if mode == "weight" else "raw"]
        self._tail = b""
        self._last_u: int | None = None  # last millis as unsigned 32-bit
        self._last_t_ms = 0
        self.t_device_s: np.ndarray | None = None
        self.bad_lines = 0
        self.garbage_bytes = 0
        self.text_lines = 0
        self.lost = 0
        self.gaps = 0
        self.invalid = 0
        self.restarts = 0

    def reset(self) -> None:
        """Forget the partial line and the device-time history (after a pause or reconnect)."""
        self._tail = b""
        self._last_u = None
        self.t_device_s = None

    def feed(self, data: bytes) -> np.ndarray:
        """Values of every complete reading in the kept tail plus ``data`` (1-D float64)."""
        buf = self._tail + data
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) > MAX_TAIL:
                self.garbage_bytes += len(buf) - MAX_TAIL
                self.bad_lines += 1
                buf = buf[-MAX_TAIL:]
            self._tail = buf
            self.t_device_s = np.empty(0) if self.columns.timestamp else None
            return np.empty(0)
        complete, self._tail = buf[: end + 1], buf[end + 1 :]
        try:
            fast = self._fast(complete)
        except ValueError:  # a field that is not a number: the careful path finds the bad line
            fast = None
        if fast is not None:
            return self._finish(fast[0], fast[1], [], None)
        rows, fresh_start = self._careful(complete)
        if not rows:
            self.t_device_s = np.empty(0) if self.columns.timestamp else None
            return np.empty(0)
        return self._convert(np.array(rows, dtype="S24"), fresh_start)

    def _fast(self, complete: bytes) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Fast path for a block of whole, clean readings: (values, millis) with a handful of
        C-level bytes operations and numpy calls; None (or ValueError) when the block holds
        anything else, which the careful path then sorts out line by line."""
        if complete.translate(None, _FAST_BYTES):  # text, garbage, nan/inf/ovf
            return None
        n = complete.count(b"\n")
        if complete.count(b",\r\n") != n:
            return None
        lbs = complete.count(b",lbs,")
        kg = complete.count(b",kg,") if lbs != n else 0
        if lbs + kg != n or (self.mode == "weight" and lbs and kg):
            return None  # mixed units (changed in the menu mid-block): the careful path
        a = np.frombuffer(complete, dtype=np.uint8)
        commas = np.flatnonzero(a == 44)
        k = self._nfields
        if commas.size != n * k:
            return None
        commas = commas.reshape(n, k)
        line_end = commas[:, -1] + 2
        if not (a[line_end] == 10).all():  # every line has exactly k commas
            return None
        line_start = np.empty(n, dtype=np.int64)
        line_start[0] = 0
        line_start[1:] = line_end[:-1] + 1
        c = self._value_col
        stop = commas[:, c]
        first = commas[:, c - 1] + 1 if c else line_start
        lengths = stop - first
        width = int(lengths.max())
        if lengths.min() <= 0 or width > 24:
            return None
        if self.mode == "weight" and self.decimals and not (a[stop - self.decimals - 1] == 46).all():
            return None  # a lost decimal digit or point
        offsets = _OFFSETS[:width]
        chars = np.take(a, first[:, None] + offsets, mode="clip")
        chars *= offsets < lengths[:, None]  # NUL padding: ignored by the bytes dtype
        values = chars.view(f"S{width}")[:, 0].astype(np.float64)
        if self.mode == "weight":
            values *= LBF_N if lbs else KGF_N
        millis = None
        if self.columns.timestamp:
            lengths = commas[:, 0] - line_start
            width = int(lengths[0])
            if 0 < width <= 10 and (lengths == width).all():  # the usual: equal widths, no sign
                digits = np.take(a, line_start[:, None] + _OFFSETS[:width]).astype(np.int64) - 48
                if (digits >= 0).all() and (digits <= 9).all():
                    millis = digits @ _POW10[10 - width :]
            if millis is None:
                offsets = _OFFSETS[: int(lengths.max())]
                chars = np.take(a, line_start[:, None] + offsets, mode="clip")
                chars *= offsets < lengths[:, None]
                millis = chars.view(f"S{offsets.size}")[:, 0].astype(np.int64)
        return values, millis

    def _careful(self, complete: bytes) -> tuple[list[tuple[bytes, ...]], list[int]]:
        """Line by line, for blocks holding text or damage; readings keep their order."""
        rows: list[tuple[bytes, ...]] = []
        fresh: list[int] = []
        after_text = False
        timed = bool(self.columns.timestamp and self.period_ms)
        for line in complete.split(b"\n")[:-1]:
            m = self._pattern.match(line)
            if m:
                if after_text:
                    fresh.append(len(rows))
                    after_text = False
                rows.append(m.groups())
                continue
            if not line.strip():
                continue
            if _TEXT.match(line):
                self.text_lines += 1
                after_text = True
            else:
                self.bad_lines += 1
                self.garbage_bytes += len(line) + 1
                # device time shows a lost reading as a gap, except before the first reading
                # of a stream or right after text; a line merged by a lost LF held two
                if not timed or after_text or (self._last_u is None and not rows):
                    self.lost += max(1, line.count(b"\r"))
        return rows, fresh

    def _convert(self, table: np.ndarray, fresh_start: list[int]) -> np.ndarray:
        """Values from the careful path's (rows, fields) table."""
        finite: np.ndarray | None = None  # None: every reading has a usable value
        if self.mode == "weight":
            words = table[:, self._col["weight"]]
            words = np.where(words == b"ovf", b"nan", words)
            units = np.char.lower(table[:, self._col["unit"]])
            factor = np.full(units.size, np.nan)
            for unit, f in UNIT_TO_N.items():
                factor[units == unit.encode()] = f
            values = words.astype(np.float64) * factor
            ok = np.isfinite(values)
            if not ok.all():
                unknown = ~np.isfinite(factor)
                self.bad_lines += int(unknown.sum())  # a unit broken by a lost byte
                self.lost += int(unknown.sum())
                self.invalid += int((~ok & ~unknown).sum())  # nan/inf/ovf from the board
                finite = ok
        else:
            values = table[:, self._col["raw"]].astype(np.float64)
        millis = table[:, self._col["millis"]].astype(np.int64) if self.columns.timestamp else None
        return self._finish(values, millis, fresh_start, finite)

    def _finish(self, values: np.ndarray, millis: np.ndarray | None, fresh_start: list[int],
                finite: np.ndarray | None) -> np.ndarray:
        """Device time (from ``millis``) and the readings kept; updates the counters."""
        if millis is None:
            self.t_device_s = None
            return values if finite is None else values[finite]
        t_ms, timed = self._unwrap(millis, fresh_start)
        if timed is not None:  # readings whose time lost a digit: dropped (t_ms has only the others)
            values = values[timed]
            finite = None if finite is None else finite[timed]
        if finite is not None:
            values, t_ms = values[finite], t_ms[finite]
        self.t_device_s = t_ms / 1000.0
        return values

    def _unwrap(self, millis: np.ndarray, fresh_start: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
        """Device ms (continuous over the 32-bit wrap) of the readings whose time is sound, and
        the mask of those readings (None: all of them).

        A single reading whose time fits neither neighbour while the neighbours fit each other
        had a digit lost on the wire: it is dropped and counted. Any other backward (or huge)
        step is a board restart: time goes on from the previous reading.
        """
        u = millis & 0xFFFFFFFF  # the firmware prints a signed long; the counter is unsigned
        n = u.size
        first = self._last_u is None
        prev = int(u[0]) if first else self._last_u
        if not fresh_start and self.period_ms:  # the usual block: evenly spaced readings
            d = np.diff(u, prepend=prev)
            if d.min() >= 0 and d.max() <= 1.5 * self.period_ms:
                t = (int(u[0]) if first else self._last_t_ms) + np.cumsum(d)
                self._last_u, self._last_t_ms = int(u[-1]), int(t[-1])
                return t, None
        fresh = np.zeros(n, dtype=bool)
        if fresh_start:
            fresh[np.asarray(fresh_start)] = True
        d = _wrap32(np.diff(np.concatenate(([prev], u))))
        abnormal = (d < 0) | (d > MAX_STEP_MS)
        timed = np.ones(n, dtype=bool)
        if n > 1 and abnormal[:-1].any():
            before = np.concatenate(([prev], u[:-2]))
            skip = _wrap32(u[1:] - before)  # from the reading before i to the one after i
            outlier = abnormal[:-1] & (skip >= 0) & (skip <= MAX_STEP_MS) & ~fresh[:-1]
            if first:
                outlier[0] = False
            if outlier.any():
                timed[:-1] = ~outlier
                self.bad_lines += int(outlier.sum())
                self.lost += int(outlier.sum())
                fresh[1:] |= outlier  # counted already: no gap across the dropped reading
                u, fresh = u[timed], fresh[timed]
                d = _wrap32(np.diff(np.concatenate(([prev], u))))
                abnormal = (d < 0) | (d > MAX_STEP_MS)
        if abnormal.any():  # the board rebooted (or stalled for very long): start afresh
            self.restarts += int(abnormal.sum())
            d[abnormal] = int(round(self.period_ms)) if self.period_ms else 0
        if self.period_ms:
            check = np.where(abnormal | fresh, 0, d)  # d[0] is 0 for the very first reading
            missing = np.rint(check / self.period_ms).astype(np.int64) - 1
            gap = (check > 1.5 * self.period_ms) & (missing > 0)
            if gap.any():
                self.gaps += int(gap.sum())
                self.lost += int(missing[gap].sum())
        base = int(u[0]) if first else self._last_t_ms
        t = base + np.cumsum(d)
        self._last_u = int(u[-1])
        self._last_t_ms = int(t[-1])
        return t, (None if timed.all() else timed)


def _wrap32(d: np.ndarray) -> np.ndarray:
    """Differences of 32-bit counters brought into (-2**31, 2**31]."""
    return (d + 2**31 - 1) % 2**32 - 2**31 + 1


def _usb_serial_number(port: str) -> str:
    """The USB serial number of ``port`` (the board's FT231X), or '' when unknown."""
    try:
        import os

        from serial.tools import list_ports

        real = os.path.realpath(port)
        for p in list_ports.comports():
            if p.device in (port, real):
                return p.serial_number or ""
    except Exception:  # noqa: BLE001 - a lookup for display only
        pass
    return ""


class OpenScaleDriver(Driver):
    """A SparkFun OpenScale streaming CSV readings; weight in newtons or raw HX711 counts.

    Options (device URI query): ``mode`` ``weight`` (default) or ``counts`` (the raw column;
    the driver switches "Raw reading" on in the menu if it is off, which the board stores in
    its EEPROM); ``rate`` nominal readings/s (default: from the menu's report rate, at most
    80, the HX711's fastest); ``boot_wait`` s to wait for the start-up banner (default 2).

    Identification opens the menu with ``x`` and reads the settings from it; between
    :meth:`identify` and :meth:`start`, and after :meth:`stop`, the board waits in its menu
    (not streaming). In serial-trigger mode :meth:`read` sends the trigger character to
    request each reading.
    """

    family: ClassVar[str] = "openscale"
    default_baudrate: ClassVar[int] = 9600
    identify_timeout_s: ClassVar[float] = 3.0

    def __init__(self, port: str, **kwargs: object) -> None:
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.mode = self.options.get("mode", "weight")
        if self.mode not in ("weight", "counts"):
            raise DeviceError(f"{port}: mode must be 'weight' or 'counts', got {self.mode!r}")
        try:
            rate = self.options.get("rate")
            self._rate_option = float(rate) if rate else None
            self.boot_wait_s = float(self.options.get("boot_wait", 2.0))
        except ValueError as exc:
            raise DeviceError(f"{port}: bad numeric option ({exc})") from None
        if self._rate_option is not None and not 0 < self._rate_option <= 1000:
            raise DeviceError(f"{port}: rate {self._rate_option:g} out of range (0..1000 readings/s)")
        self.rate_hz = self._rate_option or HX711_MAX_SPS
        self.menu: MenuSettings | None = None
        self.banner: list[str] = []
        self.decoder = OpenScaleDecoder()
        self._clock = HostClock(self.rate_hz)
        self._trigger = b""
        self._trigger_sent = 0.0
        self._awaiting = False

    # -- identification ---------------------------------------------------------------
    def _listen_for_banner(self, deadline: float) -> bytes:
        """Read until the banner is complete, readings flow, or the board stays silent."""
        t0 = time.monotonic()
        until = min(deadline, t0 + min(self.boot_wait_s, 0.4 * self.identify_timeout_s))
        buf = b""
        while time.monotonic() < until:
            buf += self.read_available(0.02)
            if READINGS in buf:
                break
            if HEADER in buf:  # booting: give it the rest of the time for "Readings:"
                until = min(deadline, t0 + max(self.boot_wait_s, 0.7 * self.identify_timeout_s))
            elif buf.count(b"\n") >= 3:  # already running (no reset on open)
                break
        return buf

    def _menu_exchange(self, key: bytes, deadline: float, tries: int = 4) -> MenuSettings:
        """Send ``key`` (x, or a menu item while in the menu) and return the menu printed after it.

        ``x`` is re-sent when the board answers ``Exiting`` (it was already in the menu and
        has just left it) or stays silent for a share of the time left; not while a banner or
        menu is still arriving.
        """
        buf = b""
        attempt = 0
        while attempt < tries and time.monotonic() < deadline:
            self.write(key)
            attempt += 1
            seen = len(buf)
            until = time.monotonic() + (deadline - time.monotonic()) / (tries - attempt + 1)
            while time.monotonic() < deadline:
                buf += self.read_available(0.02)
                part = buf[seen:]
                if part.rstrip().endswith(b">"):
                    menu = parse_menu(part)
                    if menu is not None:
                        self._banner_from(buf)
                        return menu
                if b"Exiting" in part:
                    break
                if HEADER in part:
                    continue  # a banner or the menu is being printed
                if time.monotonic() > until:
                    break
            if key != MENU_KEY:
                break  # a menu item is sent once: sending it again would toggle it back
        raise DeviceError(
            f"{self.port}: no OpenScale menu after sending {key.decode()!r} "
            f"(wrong device, baud rate or port?)"
        )

    def _banner_from(self, buf: bytes) -> None:
        i = buf.find(HEADER)
        if i >= 0 and not self.banner:
            lines = buf[i:].split(b"\n")[:6]
            self.banner = [s.strip().decode("ascii", "replace") for s in lines if s.strip()]

    def identify(self) -> DeviceInfo:
        deadline = time.monotonic() + self.identify_timeout_s
        self.banner = []
        self._banner_from(self._listen_for_banner(deadline))
        menu = self._menu_exchange(MENU_KEY, deadline)
        changed: list[str] = []
        if self.mode == "counts" and not menu.raw:
            menu = self._menu_exchange(b"q", time.monotonic() + self.identify_timeout_s)
            if not menu.raw:
                raise DeviceError(f"{self.port}: could not switch the OpenScale's raw reading on")
            changed.append("raw reading on")
        self.menu = menu
        if self.mode == "weight" and menu.unit.lower() not in UNIT_TO_N:
            raise DeviceError(f"{self.port}: unsupported unit {menu.unit!r} (expected lbs or kg)")
        if self._rate_option:
            self.rate_hz = self._rate_option
        elif menu.report_ms > 0:
            self.rate_hz = min(HX711_MAX_SPS, 1000.0 / menu.report_ms)
        else:
            self.rate_hz = HX711_MAX_SPS
        self._trigger = menu.trigger_char.encode("latin-1")[:1] or DEFAULT_TRIGGER if menu.trigger else b""
        self.decoder = OpenScaleDecoder(menu.columns, self.mode, period_s=None if menu.trigger else 1.0 / self.rate_hz,
                                        decimals=menu.decimals)
        self._clock = HostClock(self.rate_hz)
        firmware = menu.firmware or next((b.split()[-1] for b in self.banner if b.startswith(HEADER.decode())), "")
        return DeviceInfo(
            family=self.family,
            model="OpenScale",
            serial=_usb_serial_number(self.port),
            firmware=firmware,
            channels=1,
            rate_hz=self.rate_hz,
            unit="counts" if self.mode == "counts" else "N",
            time_source="device" if menu.timestamp else "host",
            port=self.port,
            settings={
                "mode": self.mode,
                "scale_unit": menu.unit,
                "columns": ",".join(menu.columns.names()),
                "report_ms": menu.report_ms,
                "decimals": menu.decimals,
                "average": menu.average,
                "calibration_factor": menu.calibration_factor,
                "tare_point": menu.tare_point,
                "serial_trigger": menu.trigger,
                "trigger_char": menu.trigger_char,
                "device_baudrate": menu.baudrate,
                "baudrate": self.baudrate,
                "changed": changed,
                "banner": list(self.banner),
            },
        )

    # -- streaming --------------------------------------------------------------------
    def start(self) -> None:
        """Leave the menu (``x``); the board resumes its readings (in trigger mode it prints
        one and waits for the trigger character)."""
        self.reset_decoder()
        self.write(MENU_KEY)
        self._awaiting, self._trigger_sent = True, time.monotonic()
        self.streaming = True

    def stop(self) -> None:
        """Open the menu (``x``), which pauses the readings; the menu text is skipped."""
        self.write(MENU_KEY)
        self.streaming = False

    def read(self, timeout_s: float = 0.05) -> SampleBlock | None:
        if self.streaming and self._trigger:
            # The board ignores triggers for a report period after each reading, so trigger
            # at 1.25 report periods, and again if an answer has not come within 0.5 s.
            now = time.monotonic()
            pace = 1.25 / self.rate_hz
            due = self._trigger_sent + pace
            if not self._awaiting and now < due <= now + timeout_s:
                time.sleep(due - now)
                now = time.monotonic()
            if (not self._awaiting and now >= due) or now - self._trigger_sent > max(0.5, 3 * pace):
                self.write(self._trigger)
                self._trigger_sent, self._awaiting = now, True
        block = super().read(timeout_s)
        if block is not None:
            self._awaiting = False
        return block

    def reset_decoder(self) -> None:
        self.decoder.reset()
        self._clock = HostClock(self.rate_hz)

    def decode(self, data: bytes, arrival_s: float) -> SampleBlock | None:
        d = self.decoder
        bad, garbage, lost, gaps, invalid = d.bad_lines, d.garbage_bytes, d.lost, d.gaps, d.invalid
        values = d.feed(data)
        self.stats.resyncs += d.bad_lines - bad
        self.stats.garbage_bytes += d.garbage_bytes - garbage
        self.stats.lost_samples += d.lost - lost
        self.stats.gaps += d.gaps - gaps
        self.stats.device_errors += d.invalid - invalid
        if values.size == 0:
            return None
        return SampleBlock(
            values=values[:, None],
            t_host_s=self._clock.stamp(values.size, arrival_s),
            t_device_s=d.t_device_s,
        )


DRIVER = OpenScaleDriver
