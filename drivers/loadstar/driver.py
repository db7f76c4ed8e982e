"""Loadstar driver: identification, options, streaming."""
from __future__ import annotations

import re
from typing import Any, ClassVar

from drivers.base import DeviceError, DeviceInfo, Driver, HostClock, SampleBlock, counter_delta
from drivers.loadstar.decoder import (
    LoadstarDecoder,
)
from drivers.loadstar.wire import (
    DI1000U_HZ,
    DI1000UHS_HZ,
    ERROR_REPLY,
    MAX_TAIL,
    NON_FORCE_ID_PREFIXES,
    UHS1K_H_HZ,
    UHS1K_WC_HZ,
    UNIT_TO_N,
    unit_factor,
)
from drivers.options import Option

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

    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("mode", "choice", "weight: WC readings in newtons; counts: H raw A/D counts (DI-1000UHS-1K)",
               default="weight", choices=("weight", "counts")),
        Option("rate", "float", "nominal readings/s for host time stamps (default from the model and baud rate)",
               minimum=0, exclusive_minimum=True, maximum=100_000, unit="readings/s"),
    )

    def __init__(self, port: str, **kwargs: Any) -> None:
        super().__init__(port, **kwargs)
        self.mode: str = self.opt["mode"]
        self._rate_option: float | None = self.opt["rate"]
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
        deadline = self.clock.monotonic() + timeout_s
        buf = b""
        while self.clock.monotonic() < deadline:
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
        self.clock.sleep(0.05)
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
            factor = UNIT_TO_N.get(unit.lower())  # type: ignore[assignment]  # None: unit unknown, counts still work
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
        before = self.decoder.counters()
        values = self.decoder.feed(data)
        self.stats.add(counter_delta(before, self.decoder.counters()))
        if values.size == 0:
            return None
        return SampleBlock(values=values[:, None], t_host_s=self._clock.stamp(values.size, arrival_s))


def _float_or_none(text: str) -> float | None:
    try:
        return float(text.split()[0]) if text.split() else None
    except ValueError:
        return None


