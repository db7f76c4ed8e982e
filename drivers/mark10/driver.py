"""Mark-10 driver: identification (full or degraded), streaming with ``AOUTn`` or polling ``?``."""
from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

from drivers.base import DeviceError, DeviceInfo, Driver, HostClock, SampleBlock, counter_delta
from drivers.mark10.decoder import Mark10Decoder
from drivers.mark10.wire import ERRORS, MAX_AOUT_HZ, UNITS, is_list_reply, parse_reading
from drivers.options import Option

#: readings/s when polling with ``?`` and no ``rate`` option is given
DEFAULT_POLL_HZ = 50.0
DEFAULT_STREAM_HZ = 500.0
#: how long an optional command (RM, RS, RV, AOUT0 check) may stay unanswered, s
OPTIONAL_TIMEOUT_S = 0.3
#: a poll whose reply has not come within this is given up (the reading is counted lost), s
POLL_REPLY_TIMEOUT_S = 0.5
#: polls sent ahead of their replies, so a slow round trip does not lower the rate
POLLS_IN_FLIGHT = 2

OPTIONS: tuple[Option, ...] = (
    Option("rate", "float", "readings per second (AOUT rate when streaming, ? rate when polling)",
           minimum=0, exclusive_minimum=True, maximum=MAX_AOUT_HZ, unit="readings/s"),
    Option("polarity", "choice", "which direction reads positive", default="compression",
           choices=("compression", "tension")),
    Option("readout", "choice", "stream with AOUT, poll with ?, or auto (poll a gauge that does not stream)",
           default="auto", choices=("auto", "stream", "poll")),
    Option("unit", "choice", "the gauge's display unit, for a gauge in NUM format that does not answer LIST",
           choices=UNITS),
)


class Mark10Driver(Driver):
    """A Mark-10 gauge; readings converted to newtons.

    A gauge that answers ``LIST`` (Series 5/7) is identified from it and streams with
    ``AOUTn``. A gauge that answers only the reading commands (Series 4, older firmware:
    ``*10`` to ``LIST``) is still used: model, serial and firmware become ``unknown``, the
    unit is taken from a ``?`` reading, and it is polled with ``?``. What could not be
    identified is listed in :attr:`DeviceInfo.warnings` (stored with the session).
    """

    family: ClassVar[str] = "mark10"
    default_baudrate: ClassVar[int] = 115200
    OPTIONS: ClassVar[tuple[Option, ...]] = OPTIONS

    def __init__(self, port: str, **kwargs: Any) -> None:
        super().__init__(port, **kwargs)
        self.polarity_name: str = self.opt["polarity"]
        self.readout: str = "stream" if self.opt["readout"] == "auto" else self.opt["readout"]
        self.rate_hz = float(self.opt["rate"] or (DEFAULT_POLL_HZ if self.readout == "poll" else DEFAULT_STREAM_HZ))
        self.decoder = Mark10Decoder(polarity=1.0 if self.polarity_name == "compression" else -1.0)
        self._clock = HostClock(self.rate_hz)
        self._poll_sent = 0.0
        self._in_flight: deque[float] = deque()  # send times of polls not yet answered
        self.polls_unanswered = 0

    # -- request/reply ----------------------------------------------------------------
    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send one command and return its one-line reply; errors raise :class:`DeviceError`."""
        self.write(command.encode("ascii") + b"\r")
        deadline = self.clock.monotonic() + (timeout_s or self.identify_timeout_s)
        buf = b""
        while self.clock.monotonic() < deadline:
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

    def try_query(self, command: str, warnings: list[str], timeout_s: float = OPTIONAL_TIMEOUT_S) -> str | None:
        """:meth:`query` for a command the gauge need not know: None (and a warning) if refused or unanswered."""
        try:
            return self.query(command, min(timeout_s, self.identify_timeout_s))
        except DeviceError as exc:
            reason = str(exc).split(": ", 1)[-1]
            warnings.append(f"{command}: {reason}")
            return None

    def command(self, command: str) -> None:
        """Send a setting command; an error reply raises, an ``R`` acknowledgement is consumed."""
        reply = self.query(command, timeout_s=0.5) if command else ""
        if reply not in ("R", ""):
            raise DeviceError(f"{self.port}: unexpected reply {reply!r} to {command!r}")

    def identify(self) -> DeviceInfo:
        self.write(b"AOUT0\r")  # stop any stream left running
        self.clock.sleep(0.05)
        self.serial.reset_input_buffer()
        warnings: list[str] = []
        settings: dict[str, Any] = {}
        listed = self.try_query("LIST", warnings, self.identify_timeout_s)
        fields = listed.split(";") if listed is not None else []
        if listed is not None and not is_list_reply(fields):
            raise DeviceError(f"{self.port}: the device did not answer LIST like a Mark-10 gauge "
                              f"(got {listed[:40]!r}) — wrong device, baud rate or port?")
        if listed is not None:
            unit = next((u for u in UNITS if u.upper() == fields[1].upper()), None)
            if unit is None:
                raise DeviceError(f"{self.port}: unsupported unit {fields[1]!r} (expected one of "
                                  f"{', '.join(UNITS)}; set the gauge to a force unit)")
            fmt = "NUM" if "NUM" in fields else "FULL"
            settings["list"] = listed
            streams = True
        else:
            # a gauge refuses LIST with *10 at once; one that stayed silent gets less time for ?
            silent = warnings[-1].startswith("LIST: no Mark-10 reply")
            unit, fmt = self._unit_from_reading(warnings, OPTIONAL_TIMEOUT_S * 2 if silent else None)
            settings["list"] = ""
            streams = self.opt["readout"] == "stream" or (self.opt["readout"] == "auto" and self._aout_answers(warnings))
        model = self.try_query("RM", warnings) or "unknown"
        serial_no = self.try_query("RS", warnings) or "unknown"
        firmware = self.try_query("RV", warnings) or "unknown"
        if self.opt["readout"] == "auto":
            self.readout = "stream" if streams else "poll"
            if not self.opt["rate"]:
                self.rate_hz = DEFAULT_STREAM_HZ if streams else DEFAULT_POLL_HZ
        if self.readout == "poll":
            warnings.append(f"polled with ? at up to {self.rate_hz:g} readings/s (the gauge does not stream)"
                            if self.opt["readout"] == "auto" else f"polled with ? at up to {self.rate_hz:g} readings/s")
        self.decoder.default_unit = unit
        self._clock = HostClock(self.rate_hz)
        identified = {"model": model != "unknown", "serial": serial_no != "unknown",
                      "firmware": firmware != "unknown", "settings": listed is not None}
        settings.update({
            "gauge_unit": unit,
            "format": fmt,
            "positive": self.polarity_name,
            "readout": self.readout,
            "aout_hz": int(self.rate_hz) if self.readout == "stream" else 0,
            "poll_hz": self.rate_hz if self.readout == "poll" else 0,
            "baudrate": self.baudrate,
            "identified": identified,
        })
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
            settings=settings,
            warnings=tuple(warnings),
        )

    def _unit_from_reading(self, warnings: list[str], timeout_s: float | None = None) -> tuple[str, str]:
        """(unit, format) from a ``?`` reading, for a gauge that does not answer ``LIST``."""
        reply = self.query("?", min(timeout_s, self.identify_timeout_s) if timeout_s else None)
        reading = parse_reading(reply)
        if reading is None:
            raise DeviceError(f"{self.port}: the device answered neither LIST nor ? like a Mark-10 gauge "
                              f"(got {reply[:40]!r}) — wrong device, baud rate or port?")
        printed = reading[1]
        if printed:
            unit = next(u for u in UNITS if u.lower() == printed.lower())
            warnings.append(f"unit {unit} taken from a ? reading")
            return unit, "FULL"
        if self.opt["unit"] is None:
            raise DeviceError(f"{self.port}: the gauge prints readings without a unit (NUM format) and does not "
                              "answer LIST: set it to FULL format, or give its unit with unit=lbF|N|…")
        warnings.append(f"unit {self.opt['unit']} from the unit= option (the gauge prints no unit)")
        return str(self.opt["unit"]), "NUM"

    def _aout_answers(self, warnings: list[str]) -> bool:
        """Whether ``AOUT`` is a command this gauge knows (``AOUT0`` is refused with ``*10`` if not)."""
        self.write(b"AOUT0\r")
        deadline = self.clock.monotonic() + min(OPTIONAL_TIMEOUT_S, self.identify_timeout_s)
        buf = b""
        while self.clock.monotonic() < deadline:
            buf += self.read_available(0.02)
            if b"\n" in buf:
                line = buf.split(b"\n", 1)[0].strip().decode("ascii", "replace")
                if line in ERRORS:
                    warnings.append(f"AOUT: Mark-10 answered {line} ({ERRORS[line]})")
                    return False
                break
        return True

    # -- streaming --------------------------------------------------------------------
    def start(self) -> None:
        self.reset_decoder()
        if self.readout == "stream":
            self.write(f"AOUT{int(self.rate_hz)}\r".encode("ascii"))
        else:
            self._in_flight.clear()
            self._poll_sent = self.clock.monotonic() - 1.0 / self.rate_hz
        self.streaming = True

    def stop(self) -> None:
        if self.readout == "stream":
            self.write(b"AOUT0\r")
        self.streaming = False

    def read(self, timeout_s: float = 0.05) -> SampleBlock | None:
        """In poll mode, send ``?`` each time a reading is due (at most :data:`POLLS_IN_FLIGHT`
        unanswered); a reply that never comes is counted in ``stats.lost_samples``."""
        if self.streaming and self.readout == "poll":
            now = self.clock.monotonic()
            while self._in_flight and now - self._in_flight[0] > POLL_REPLY_TIMEOUT_S:
                self._in_flight.popleft()  # the reply was lost on the wire
                self.polls_unanswered += 1
                self.stats.lost_samples += 1
            if len(self._in_flight) < POLLS_IN_FLIGHT:
                due = self._poll_sent + 1.0 / self.rate_hz
                if now < due:
                    if not self._in_flight:
                        if due - now > timeout_s:
                            self.clock.sleep(timeout_s)
                            return None
                        self.clock.sleep(due - now)
                        now = self.clock.monotonic()
                if now >= due:
                    self.write(b"?\r")
                    # keep the schedule (no drift), but never bank more than one period
                    self._poll_sent = max(due, now - 1.0 / self.rate_hz)
                    self._in_flight.append(now)
        block = super().read(timeout_s if not self._in_flight else min(timeout_s, 1.0 / self.rate_hz))
        if block is not None:
            for _ in range(min(len(block), len(self._in_flight))):
                self._in_flight.popleft()
        return block

    def tare(self) -> None:
        """Zero the gauge (``Z``); works while streaming, the ``R`` reply is skipped."""
        self.write(b"Z\r")

    def reset_decoder(self) -> None:
        self.decoder.reset()
        self._clock = HostClock(self.rate_hz)

    def decode(self, data: bytes, arrival_s: float) -> SampleBlock | None:
        before = self.decoder.counters()
        force_n = self.decoder.feed(data)
        self.stats.add(counter_delta(before, self.decoder.counters()))
        if force_n.size == 0:
            return None
        return SampleBlock(values=force_n[:, None], t_host_s=self._clock.stamp(force_n.size, arrival_s))
