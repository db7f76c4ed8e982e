"""A simulated SparkFun OpenScale (HX711 + TMP102, firmware 1.x) on a pty.

Written from SparkFun's OpenScale firmware sources and hookup guide, independently of
:mod:`drivers.openscale` (no shared constants). After a reset the board prints its banner,
then CSV readings (every field followed by a comma, lines ended CR-LF); ``x`` opens the
configuration menu. ``menu=off`` makes a board whose menu does not answer (disabled or
modified firmware): it streams and ignores every key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from drivers.options import Option, parse_options
from simulation.forces import ForceSource, RepeatingEfforts
from simulation.loadcell import LoadCellModel
from simulation.pty_simulator import PtySimulator

LBF_N = 0.45359237 * 9.80665
KGF_N = 9.80665
#: newtons per unit as the firmware prints it
NEWTONS_PER: dict[str, float] = {"lbs": LBF_N, "kg": KGF_N}
FIRMWARE = "1.2"
#: the HX711 converts at most 80 times/s (RATE pin high)
MAX_SPS = 80.0
MENU_KEY = b"x"
TRIGGER = b"!"


def banner_text(firmware: str = FIRMWARE, min_report_ms: int = 13) -> bytes:
    """The start-up banner (``displaySystemHeader`` + setup's lines)."""
    return (
        _header(firmware)
        + f"Minimum time between reports: {min_report_ms}\r\n".encode("ascii")
        + b"Press x to bring up settings\r\nReadings:\r\n"
    )


def _header(firmware: str) -> bytes:
    return f"\r\nSerial Load Cell Converter version {firmware}\r\nBy SparkFun Electronics\r\nNo remote sensor found\r\n".encode("ascii")


def _on_off(flag: bool) -> str:
    return "On" if flag else "Off"


def format_lines(millis: np.ndarray | None, weight: np.ndarray, unit: str, decimals: int,
                 raw: np.ndarray | None = None, local_temp: np.ndarray | None = None,
                 remote_temp: bool = False) -> bytes:
    """CSV reading lines as the firmware prints them (every field followed by a comma)."""
    out = []
    wfmt = f"%.{decimals}f,{unit},"
    tfmt = f"%.{decimals}f,"
    for i, w in enumerate(np.asarray(weight, dtype=np.float64).tolist()):
        line = f"{int(millis[i])}," if millis is not None else ""
        line += wfmt % w
        if raw is not None:
            line += f"{int(raw[i])},"
        if local_temp is not None:
            line += tfmt % local_temp[i]
        if remote_temp:
            line += "0,"  # remote temperature on but no sensor attached
        out.append(line + "\r\n")
    return "".join(out).encode("ascii")


class OpenScaleSimulator(PtySimulator):
    """An OpenScale board on a pty: banner at power-up and when the host opens the port
    (the DTR reset), CSV readings at ``rate_hz``, the ``x`` menu, serial-trigger mode.

    Forces become HX711 counts through a :class:`LoadCellModel`; the printed weight is
    ``(counts - tare_point) / calibration_factor`` as in the firmware. Menu keys 1 (tare),
    3, 6, 9, r, s, t, q (toggles) and x are implemented; the interactive sub-menus (2, 4, 5,
    7, 8, c) are not, and like any other key just redisplay the menu.
    """

    family: ClassVar[str] = "openscale"
    command_terminators: ClassVar[bytes] = b""  # single-key commands
    drop_within_first_line: ClassVar[bool] = True  # a lost byte hits one reading, not the millis of the next

    def __init__(self, source: ForceSource, *, rate_hz: float = MAX_SPS, seed: int = 0, unit: str = "lbs",
                 timestamp: bool = True, raw: bool = False, local_temp: bool = True, remote_temp: bool = True,
                 trigger: bool = False, decimals: int = 2, boot_s: float = 0.15, uptime_ms: int = 0,
                 cell: LoadCellModel | None = None, firmware: str = FIRMWARE, menu: bool = True) -> None:
        if not 0 < rate_hz <= MAX_SPS:
            raise ValueError(f"rate_hz must be in (0, {MAX_SPS:g}]: the HX711 converts at most 80 times/s")
        super().__init__(source, rate_hz=rate_hz, seed=seed)
        self.cell = cell or LoadCellModel(gain_counts_per_n=1000.0, offset_counts=-8_000.0, seed=seed)
        self.unit = unit
        self.timestamp, self.raw, self.local_temp, self.remote_temp = timestamp, raw, local_temp, remote_temp
        self.trigger = trigger
        self.trigger_char = TRIGGER
        self.decimals = decimals
        self.boot_s = boot_s
        self.uptime_ms = uptime_ms
        self.firmware = firmware
        self.menu_enabled = menu
        self.status_led = True
        self.average = 1
        self.tare_point = int(round(self.cell.offset_counts))
        self.calibration_factor = self._factor_for(unit)
        self.report_ms = max(1, int(round(1000.0 / rate_hz)))
        self.state = "off"  # off | booting | running | menu
        self._boot_t = 0.0
        self._boot_until = 0.0
        self._pending_keys = b""
        self._hang_out_until = 0.0
        self._attrs: list | None = None
        self.boots = 0
        self.samples_emitted = 0

    def _factor_for(self, unit: str) -> int:
        """Counts per printed unit, as a calibration with a known weight would set it."""
        return int(round(self.cell.gain_counts_per_n * NEWTONS_PER.get(unit.lower(), 1.0)))

    # -- power and the host opening the port ------------------------------------------
    def start(self) -> str:
        port = super().start()
        self._power_up()
        return port

    def replug(self) -> str:
        port = super().replug()
        self._power_up()
        return port

    def unplug(self) -> None:
        self.end_streaming()
        self.state = "off"
        super().unplug()

    def _power_up(self) -> None:
        import termios

        with self._lock:
            self.end_streaming()
            self.state = "booting"
            self.boots += 1
            self._boot_t = self.clock()
            self._boot_until = self._boot_t + self.boot_s
            try:
                self._attrs = termios.tcgetattr(self._master) if self._master is not None else None
            except OSError:
                self._attrs = None

    def _host_opened(self) -> bool:
        """True when the port's termios changed: pyserial opened (or reconfigured) it."""
        import termios

        if self._master is None:
            return False
        try:
            attrs = termios.tcgetattr(self._master)
        except OSError:
            return False
        if attrs != self._attrs:
            self._attrs = attrs
            return True
        return False

    def _stream_due(self) -> None:
        with self._lock:
            if self.state != "off" and self._host_opened():
                self._power_up()  # opening the port pulses DTR: the board resets
            if self.state == "booting" and self.clock() >= self._boot_until:
                self.send(self._finish_boot())
                pending, self._pending_keys = self._pending_keys, b""
                self._on_bytes(pending)
        super()._stream_due()

    def _finish_boot(self) -> bytes:
        """The sketch starts: banner, then the reading loop (streaming, or in trigger mode one
        reading and a wait for the trigger character). Returns the bytes it prints."""
        self.state = "running"
        out = banner_text(self.firmware, self.report_ms)
        if self.trigger:
            return out + self._reading_now()
        self.begin_streaming()
        return out

    def boot(self) -> bytes:
        """Power up and finish booting at once (for driving :meth:`handle_command` without a
        pty); returns the banner (and, in trigger mode, the first reading)."""
        self._power_up()
        return self._finish_boot()

    # -- protocol -----------------------------------------------------------------------
    def _on_bytes(self, data: bytes) -> None:
        for b in data:
            key = bytes([b])
            self.commands_seen.append(key)
            reply = self.handle_command(key)
            if reply:
                self.send(reply)

    def menu_text(self) -> bytes:
        unit = self.unit
        items = [
            f"1) Tare scale to zero [{self.tare_point}]",
            f"2) Calibrate scale [{self.calibration_factor}]",
            f"3) Timestamp [{_on_off(self.timestamp)}]",
            f"4) Set report rate [{self.report_ms}]",
            "5) Set baud rate [9600 bps]",
            f"6) Change units of measure [{unit}]",
            f"7) Decimals [{self.decimals}]",
            f"8) Average amount [{self.average}]",
            f"9) Local temp [{_on_off(self.local_temp)}]",
            f"r) Remote temp [{_on_off(self.remote_temp)}]",
            f"s) Status LED [{'Blink' if self.status_led else 'Off'}]",
            f"t) Serial trigger [{_on_off(self.trigger)}]",
            f"q) Raw reading [{_on_off(self.raw)}]",
            f"c) Trigger character: [{self.trigger_char.decode('latin-1')}]",
            "x) Exit",
        ]
        return _header(self.firmware) + b"System Configuration\r\n" + "\r\n".join(items).encode("ascii") + b"\r\n>"

    def _toggle(self, name: str, label: str) -> bytes:
        value = not getattr(self, name)
        setattr(self, name, value)
        return f"\n\r{label} o{'n' if value else 'ff'}\r\n".encode("ascii")

    def handle_command(self, line: bytes) -> bytes | None:
        if self.state == "booting":
            self._pending_keys += line  # the UART buffers it until the sketch runs
            return None
        if self.state == "off" or not line:
            return None
        key = line[:1]
        if self.state == "running":
            if key == MENU_KEY and self.menu_enabled:
                self.end_streaming()
                self.state = "menu"
                return self.menu_text()
            if self.trigger and key == self.trigger_char:
                if self.clock() < self._hang_out_until:
                    return None  # read and dropped by the wait loop between readings
                return self._reading_now()
            return None  # the reading loop ignores other characters
        # in the menu
        if key == MENU_KEY:
            self.state = "running"
            reply = b"Exiting\r\n"
            if self.trigger:
                return reply + self._reading_now()
            self.begin_streaming()
            return reply
        toggles = {b"3": ("timestamp", "Timestamp"), b"9": ("local_temp", "Local temp"),
                   b"r": ("remote_temp", "Remote temp"), b"s": ("status_led", "Status LED"),
                   b"t": ("trigger", "Serial trigger"), b"q": ("raw", "Raw reading")}
        if key in toggles:
            return self._toggle(*toggles[key]) + self.menu_text()
        if key == b"1":
            counts = self.cell.counts(self.source.sample(np.array([self.clock()]))[:, 0], np.zeros(1))
            self.tare_point = int(counts[0])
            note = f"\n\rTare point 1: {self.tare_point}\r\n\n\rTare point 2: {self.tare_point}\r\n"
            return note.encode("ascii") + self.menu_text()
        if key == b"6" and self.unit in ("lbs", "kg"):
            self.unit = "kg" if self.unit == "lbs" else "lbs"
            self.calibration_factor = self._factor_for(self.unit)
            return f"\n\rUnits set to {self.unit}\r\n".encode("ascii") + self.menu_text()
        return self.menu_text()  # unknown key, or a sub-menu we do not simulate

    def _millis(self, t_abs: np.ndarray) -> np.ndarray:
        """millis() at host times ``t_abs``, printed as the firmware's signed long."""
        ms = self.uptime_ms + np.floor((t_abs - self._boot_t) * 1000.0).astype(np.int64)
        return ((ms + 2**31) % 2**32) - 2**31

    def _lines(self, t_abs: np.ndarray, force_n: np.ndarray) -> bytes:
        counts = self.cell.counts(force_n, t_abs - self._boot_t)
        weight = (counts - self.tare_point) / float(self.calibration_factor or 1)
        temps = 24.3 + 0.05 * self.rng.standard_normal(force_n.size) if self.local_temp else None
        self.samples_emitted += int(force_n.size)
        return format_lines(self._millis(t_abs) if self.timestamp else None, weight, self.unit, self.decimals,
                            raw=counts if self.raw else None, local_temp=temps, remote_temp=self.remote_temp)

    def _reading_now(self) -> bytes:
        """One reading now (trigger mode); the firmware then waits a report period, during
        which characters other than ``x`` are read and discarded."""
        now = np.array([self.clock()])
        self._hang_out_until = float(now[0]) + self.report_ms / 1000.0
        return self._lines(now, self.source.sample(now)[:, 0])

    def encode_samples(self, t_s: np.ndarray, force_n: np.ndarray, index: np.ndarray) -> bytes:
        return self._lines(self._stream_t0 + t_s, force_n[:, 0])


OPTIONS: tuple[Option, ...] = (
    Option("rate", "float", "readings/s (10 for a board with the RATE jumper low)", default=MAX_SPS, minimum=0,
           exclusive_minimum=True, maximum=MAX_SPS, unit="readings/s"),
    Option("unit", "choice", "unit the scale is calibrated in", default="lbs", choices=("lbs", "kg")),
    Option("timestamp", "flag", "print millis() first (menu item 3)", default=True),
    Option("raw", "flag", "print the raw HX711 reading (menu item q)", default=False),
    Option("local_temp", "flag", "print the board's temperature (menu item 9)", default=True),
    Option("remote_temp", "flag", "print the remote sensor's temperature (menu item r)", default=True),
    Option("trigger", "flag", "serial trigger: one reading per ! (menu item t)", default=False),
    Option("decimals", "int", "decimals of weight and temperature (menu item 7)", default=2, minimum=0, maximum=6),
    Option("menu", "flag", "off: a board whose menu does not answer (disabled or modified firmware)", default=True),
    Option("boot", "float", "seconds from reset to the banner", default=0.15, minimum=0, maximum=10, unit="s"),
    Option("uptime_ms", "int", "millis() at power-up (to exercise the 32-bit wrap)", default=0, minimum=0,
           maximum=2**32 - 1),
    Option("seed", "int", "random seed of the simulated signal", default=0),
)


def make_simulator(options: dict[str, str], source: ForceSource | None = None) -> OpenScaleSimulator:
    """An OpenScale simulator with :data:`OPTIONS` (other keys are left to the driver)."""
    v = parse_options(OPTIONS, options, where="sim:openscale", allow_unknown=options)
    return OpenScaleSimulator(
        source or RepeatingEfforts(1), rate_hz=v["rate"], seed=v["seed"], unit=v["unit"], timestamp=v["timestamp"],
        raw=v["raw"], local_temp=v["local_temp"], remote_temp=v["remote_temp"], trigger=v["trigger"],
        decimals=v["decimals"], boot_s=v["boot"], uptime_ms=v["uptime_ms"], menu=v["menu"],
    )


@dataclass(frozen=True)
class Fields:
    """Which optional CSV fields the board prints (menu items 3, q, 9, r); the firmware's
    fresh-EEPROM defaults: timestamp, local and remote temperature on, raw off."""

    timestamp: bool = True
    raw: bool = False
    local_temp: bool = True
    remote_temp: bool = True


def example_stream(n_samples: int, columns: Any = None, rate_hz: float = MAX_SPS,
                   banner: bool = False, seed: int = 0) -> bytes:
    """Wire bytes of ``n_samples`` readings of an isometric effort, as the firmware prints them
    with ``columns`` (any object with the :class:`Fields` flags; default the firmware's
    defaults: timestamp + weight in lbs + local and remote temperature); ``banner=True`` puts
    the start-up banner in front."""
    columns = columns if columns is not None else Fields()
    t = np.arange(n_samples, dtype=np.float64) / rate_hz
    force = RepeatingEfforts(1, period_s=4.0, lead_s=0.5, duration_s=2.5, seed=seed).sample(t)[:, 0]
    cell = LoadCellModel(gain_counts_per_n=1000.0, offset_counts=-8_000.0, seed=seed)
    counts = cell.counts(force, t)
    factor = round(cell.gain_counts_per_n * LBF_N)
    weight = (counts - cell.offset_counts) / factor
    millis = (1500 + np.floor(t * 1000.0)).astype(np.int64) if columns.timestamp else None
    rng = np.random.default_rng(seed)
    temps = 24.3 + 0.05 * rng.standard_normal(n_samples) if columns.local_temp else None
    body = format_lines(millis, weight, "lbs", 2, raw=counts if columns.raw else None, local_temp=temps,
                        remote_temp=columns.remote_temp)
    return (banner_text() if banner else b"") + body
