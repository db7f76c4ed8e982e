"""OpenScale driver: identification, options, streaming."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from drivers.base import DeviceError, DeviceInfo, Driver, HostClock, SampleBlock, counter_delta
from drivers.openscale.decoder import (
    OpenScaleDecoder,
)
from drivers.openscale.wire import (
    DEFAULT_TRIGGER,
    HEADER,
    HX711_MAX_SPS,
    MAX_STEP_MS,
    MAX_TAIL,
    MENU_KEY,
    READINGS,
    UNIT_TO_N,
    Columns,
    MenuSettings,
    parse_menu,
)
from drivers.options import Option


@dataclass(frozen=True)
class InferredStream:
    """What a passive listener learned about a stream whose menu does not answer."""

    columns: Columns
    unit: str
    decimals: int
    report_ms: float | None  # median step of millis(), when there is a timestamp
    lines: int  # reading lines the inference used
    notes: tuple[str, ...]


def _is_int(text: bytes) -> bool:
    return bool(re.fullmatch(rb"-?\d{1,10}", text))


def _is_number(text: bytes) -> bool:
    return bool(re.fullmatch(rb"-?\d{1,10}(?:\.\d{1,6})?", text))


def infer_stream(data: bytes, min_lines: int = 3) -> InferredStream | None:
    """The CSV columns of OpenScale reading lines in ``data``, inferred from the lines
    themselves (firmware 1.x prints no column header): the unit field (``lbs``/``kg``) fixes
    where the weight is and whether ``millis`` comes first; the fields after it are, in the
    firmware's order, raw reading (an integer, usually far outside a temperature's range),
    local and remote temperature. None when fewer than ``min_lines`` lines look like readings.
    """
    rows: list[list[bytes]] = []
    for line in data.split(b"\n"):
        line = line.strip(b"\r")
        if not line.endswith(b","):
            continue
        fields = line[:-1].split(b",")
        u = next((i for i, f in enumerate(fields) if f.lower() in (b"lbs", b"kg")), -1)
        if u not in (1, 2) or not _is_number(fields[u - 1]) or (u == 2 and not _is_int(fields[0])):
            continue
        if not all(_is_number(f) for f in fields[u + 1 :]):
            continue
        rows.append(fields)
    if len(rows) < min_lines:
        return None
    shapes: dict[tuple[int, int], int] = {}
    for fields in rows:
        u = next(i for i, f in enumerate(fields) if f.lower() in (b"lbs", b"kg"))
        shapes[(u, len(fields))] = shapes.get((u, len(fields)), 0) + 1
    (u, width), _ = max(shapes.items(), key=lambda kv: kv[1])
    rows = [r for r in rows if len(r) == width and r[u].lower() in (b"lbs", b"kg")]
    rest = [r[u + 1 :] for r in rows]
    k = width - u - 1
    if k > 3:
        return None

    def temperature_like(i: int) -> bool:
        return all(-55.0 <= float(r[i]) <= 150.0 for r in rest)

    names: tuple[str, ...]
    if k == 3:
        names = ("raw", "local_temp", "remote_temp")
    elif k == 2:
        first_raw = not temperature_like(0) or all(_is_int(r[0]) and abs(int(r[0])) > 150 for r in rest)
        names = ("raw", "local_temp") if first_raw else ("local_temp", "remote_temp")
    elif k == 1:
        names = ("raw",) if not temperature_like(0) else ("local_temp",)
    else:
        names = ()
    columns = Columns(timestamp=u == 2, raw="raw" in names, local_temp="local_temp" in names,
                      remote_temp="remote_temp" in names)
    weights = [r[u - 1] for r in rows]
    decimal_counts = [len(w.split(b".")[1]) if b"." in w else 0 for w in weights]
    decimals = max(set(decimal_counts), key=decimal_counts.count)
    unit = max({r[u].decode() for r in rows}, key=lambda x: sum(r[u].decode() == x for r in rows))
    report_ms = None
    if columns.timestamp and len(rows) > 1:
        steps = np.diff(np.array([int(r[0]) for r in rows], dtype=np.int64))
        steps = steps[(steps > 0) & (steps < MAX_STEP_MS)]
        if steps.size:  # the mean of the usual steps (millis() of 12.5 ms reports step 12, 13, 12, …)
            report_ms = float(steps[steps <= 1.5 * np.median(steps)].mean())
    notes = [f"columns inferred from {len(rows)} reading lines: {','.join(columns.names())}"]
    if k == 2 or k == 1:
        notes.append(f"the field(s) after the unit read as {', '.join(names)} (ambiguous without the menu)")
    return InferredStream(columns, unit, decimals, report_ms, len(rows), tuple(notes))


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

    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("mode", "choice", "weight: the weight column in newtons; counts: the raw HX711 column (switched on "
               "in the menu if off)", default="weight", choices=("weight", "counts")),
        Option("rate", "float", "nominal readings/s (default: the menu's report rate, at most 80)", minimum=0,
               exclusive_minimum=True, maximum=1000, unit="readings/s"),
        Option("boot_wait", "float", "seconds to wait for the start-up banner", default=2.0, minimum=0, maximum=60,
               unit="s"),
    )

    def __init__(self, port: str, **kwargs: Any) -> None:
        super().__init__(port, **kwargs)
        self.mode: str = self.opt["mode"]
        self._rate_option: float | None = self.opt["rate"]
        self.boot_wait_s = float(self.opt["boot_wait"])
        self.rate_hz = self._rate_option or HX711_MAX_SPS
        self.menu: MenuSettings | None = None
        self.banner: list[str] = []
        self.passive = False
        self._heard = bytearray()
        self.decoder = OpenScaleDecoder()
        self._clock = HostClock(self.rate_hz)
        self._trigger = b""
        self._trigger_sent = 0.0
        self._awaiting = False

    # -- identification ---------------------------------------------------------------
    def _listen_for_banner(self, deadline: float) -> bytes:
        """Read until the banner is complete, readings flow, or the board stays silent."""
        t0 = self.clock.monotonic()
        until = min(deadline, t0 + min(self.boot_wait_s, 0.4 * self.identify_timeout_s))
        buf = b""
        while self.clock.monotonic() < until:
            buf += self._hear(self.read_available(0.02))
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
        while attempt < tries and self.clock.monotonic() < deadline:
            self.write(key)
            attempt += 1
            seen = len(buf)
            until = self.clock.monotonic() + (deadline - self.clock.monotonic()) / (tries - attempt + 1)
            while self.clock.monotonic() < deadline:
                buf += self._hear(self.read_available(0.02))
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
                if self.clock.monotonic() > until:
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

    def _hear(self, data: bytes) -> bytes:
        """Keep what identification hears (bounded), for a passive reading if the menu fails."""
        self._heard += data
        del self._heard[: max(0, len(self._heard) - 16 * MAX_TAIL)]
        return data

    def identify(self) -> DeviceInfo:
        deadline = self.clock.monotonic() + self.identify_timeout_s
        self.banner = []
        self._heard = bytearray()
        self.passive = False
        self._banner_from(self._listen_for_banner(deadline))
        try:
            menu = self._menu_exchange(MENU_KEY, deadline)
        except DeviceError as menu_error:
            return self._identify_passively(menu_error)
        changed: list[str] = []
        if self.mode == "counts" and not menu.raw:
            menu = self._menu_exchange(b"q", self.clock.monotonic() + self.identify_timeout_s)
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

    def _identify_passively(self, menu_error: DeviceError) -> DeviceInfo:
        """The menu did not answer: listen to the stream and infer its columns (or refuse)."""
        # a board whose menu does not answer kept streaming while we tried it: its lines are
        # in what identification heard; only a board heard booting gets a moment more
        inferred = infer_stream(bytes(self._heard))
        deadline = self.clock.monotonic() + (1.0 if HEADER in self._heard else 0.0)
        while inferred is None and self.clock.monotonic() < deadline:
            self._hear(self.read_available(0.05))
            inferred = infer_stream(bytes(self._heard))
        if inferred is None:
            heard = "its banner but no readings" if self.banner else "no banner and no readings"
            raise DeviceError(f"{menu_error}; heard {heard}")
        if self.mode == "counts" and not inferred.columns.raw:
            raise DeviceError(f"{self.port}: mode=counts needs the raw reading column, which this OpenScale does not "
                              "print, and its menu does not answer to switch it on")
        if self.mode == "weight" and inferred.unit.lower() not in UNIT_TO_N:
            raise DeviceError(f"{self.port}: unsupported unit {inferred.unit!r} (expected lbs or kg)")
        self.passive = True
        self.menu = None
        if self._rate_option:
            self.rate_hz = self._rate_option
        elif inferred.report_ms:
            self.rate_hz = min(HX711_MAX_SPS, 1000.0 / inferred.report_ms)
        else:
            self.rate_hz = HX711_MAX_SPS
        self._trigger = b""
        self.decoder = OpenScaleDecoder(inferred.columns, self.mode, period_s=1.0 / self.rate_hz,
                                        decimals=inferred.decimals)
        self._clock = HostClock(self.rate_hz)
        firmware = next((b.split()[-1] for b in self.banner if b.startswith(HEADER.decode())), "")
        warnings = ["the menu did not answer 'x' (disabled or modified firmware): settings not read, "
                    "the stream is read passively",
                    *inferred.notes,
                    f"unit {inferred.unit} and {inferred.decimals} decimals taken from the readings",
                    "rate " + (f"{self.rate_hz:g} readings/s from the rate= option" if self._rate_option else
                               f"{self.rate_hz:g} readings/s inferred from millis()" if inferred.report_ms else
                               f"assumed {self.rate_hz:g} readings/s (no timestamp column)"),
                    "stop cannot pause this board (no menu): its readings go on and are ignored"]
        if not firmware:
            warnings.append("firmware unknown (no banner heard)")
        return DeviceInfo(
            family=self.family,
            model="OpenScale",
            serial=_usb_serial_number(self.port),
            firmware=firmware or "unknown",
            channels=1,
            rate_hz=self.rate_hz,
            unit="counts" if self.mode == "counts" else "N",
            time_source="device" if inferred.columns.timestamp else "host",
            port=self.port,
            settings={
                "mode": self.mode,
                "scale_unit": inferred.unit,
                "columns": ",".join(inferred.columns.names()),
                "decimals": inferred.decimals,
                "report_ms": inferred.report_ms or 0,
                "menu": "not answered (passive)",
                "inferred": ["columns", "scale_unit", "decimals", *([] if self._rate_option else ["rate_hz"])],
                "baudrate": self.baudrate,
                "banner": list(self.banner),
            },
            warnings=tuple(warnings),
        )

    # -- streaming --------------------------------------------------------------------
    def start(self) -> None:
        """Leave the menu (``x``); the board resumes its readings (in trigger mode it prints
        one and waits for the trigger character). A passively read board just goes on."""
        self.reset_decoder()
        if getattr(self, "passive", False):
            self.serial.reset_input_buffer()  # readings sent while nobody listened
            self.streaming = True
            return
        self.write(MENU_KEY)
        self._awaiting, self._trigger_sent = True, self.clock.monotonic()
        self.streaming = True

    def stop(self) -> None:
        """Open the menu (``x``), which pauses the readings; the menu text is skipped."""
        if not getattr(self, "passive", False):
            self.write(MENU_KEY)
        self.streaming = False

    def read(self, timeout_s: float = 0.05) -> SampleBlock | None:
        if self.streaming and self._trigger:
            # The board ignores triggers for a report period after each reading, so trigger
            # at 1.25 report periods, and again if an answer has not come within 0.5 s.
            now = self.clock.monotonic()
            pace = 1.25 / self.rate_hz
            due = self._trigger_sent + pace
            if not self._awaiting and now < due <= now + timeout_s:
                self.clock.sleep(due - now)
                now = self.clock.monotonic()
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
        before = d.counters()
        values = d.feed(data)
        self.stats.add(counter_delta(before, d.counters()))
        if values.size == 0:
            return None
        return SampleBlock(
            values=values[:, None],
            t_host_s=self._clock.stamp(values.size, arrival_s),
            t_device_s=d.t_device_s,
        )


