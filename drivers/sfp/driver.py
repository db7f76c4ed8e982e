"""SFP driver: identification, options, streaming."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from drivers.base import DeviceError, DeviceInfo, Driver, SampleBlock, counter_delta
from drivers.options import Option
from drivers.sfp.decoder import (
    SfpDecoder,
)
from drivers.sfp.wire import (
    _REPLY,
    MAX_CHANNELS,
    SfpErrorReply,
    parse_info,
    strip_frames,
)


class DeviceClock:
    """Maps device time (s) onto the host monotonic clock (s): ``t_host = t_device + offset``.

    A block's last sample cannot have arrived before it was sampled, so every block gives an
    upper bound ``arrival − t_device(last sample)`` of the offset; the smallest bound seen (the
    block delivered with the least delay) is used. The estimate creeps up by ``drift`` (s per
    s of device time, default 500 ppm, more than a crystal's tolerance) so a device clock that
    runs slow against the host's is followed as well as a fast one. Within a block the
    spacing is the device's own (a lost sample leaves a visible gap); host times strictly
    increase from block to block.
    """

    def __init__(self, drift: float = 5e-4) -> None:
        self.drift = drift
        self.reset()

    def reset(self) -> None:
        self._offset: float | None = None
        self._t_device = 0.0
        self._last: float | None = None

    @property
    def offset_s(self) -> float | None:
        return self._offset

    def map(self, t_device_s: np.ndarray, arrival_s: float) -> np.ndarray:
        t_end = float(t_device_s[-1])
        bound = arrival_s - t_end
        if self._offset is None:
            self._offset = bound
        else:
            self._offset = min(self._offset + self.drift * max(t_end - self._t_device, 0.0), bound)
        self._t_device = t_end
        t = t_device_s + self._offset
        if self._last is not None and t[0] <= self._last:
            t = np.maximum(t, self._last + 1e-6 * np.arange(1, t.size + 1))
        self._last = float(t[-1])
        return t


class SfpDriver(Driver):
    """An SFP board streaming raw counts per channel, timestamped by the device clock.

    Options (device URI query): ``rate`` sample rate in Hz, sent as ``RATE`` (default: keep
    the device's); ``channels`` the channel count expected (identification fails if INFO says
    otherwise). Samples are ``SampleBlock`` values in counts, ``t_device_s`` the unwrapped
    device time, ``t_host_s`` that time mapped onto the host clock (:class:`DeviceClock`).
    Frames announcing another channel count than INFO are skipped and counted in
    ``stats.device_errors``.
    """

    family: ClassVar[str] = "sfp"
    #: USB CDC boards ignore it; a UART bridge needs ≥ 921600 baud for 8 channels at 2 kHz
    default_baudrate: ClassVar[int] = 921600

    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("rate", "float", "sample rate sent as RATE (default: keep the device's)", minimum=0,
               exclusive_minimum=True, maximum=1e6, unit="Hz"),
        Option("channels", "int", "channel count expected (identification fails if INFO says otherwise)",
               minimum=1, maximum=MAX_CHANNELS),
    )

    def __init__(self, port: str, **kwargs: Any) -> None:
        super().__init__(port, **kwargs)
        self.requested_rate_hz: float | None = self.opt["rate"]
        self.expected_channels: int | None = self.opt["channels"]
        self.decoder: SfpDecoder | None = None
        self._clock = DeviceClock()

    # -- request/reply ----------------------------------------------------------------
    def query(self, command: str, timeout_s: float | None = None) -> str:
        """Send one command line and return its reply line; ``ERR …`` raises :class:`DeviceError`.

        Frames still in flight (after ``STOP``) are skipped, whatever their channel count.
        """
        if self.streaming:
            raise DeviceError(f"{self.port}: cannot send {command!r} while streaming (stop first)")
        timeout = timeout_s or self.identify_timeout_s
        self.write(command.encode("ascii") + b"\n")
        deadline = self.clock.monotonic() + timeout
        text, pending = b"", b""
        while True:
            chunk = self.read_available(0.02)
            if chunk:
                stripped, pending = strip_frames(pending + chunk)
                text += stripped
                match = _REPLY.search(text + pending)
                if match:
                    reply = (match.group(1) or match.group(2)).decode("ascii")
                    if reply.startswith("ERR"):
                        raise SfpErrorReply(f"{self.port}: SFP device answered {reply!r} to {command!r}", reply[3:].strip())
                    return reply
            if self.clock.monotonic() >= deadline:
                raise DeviceError(
                    f"{self.port}: no SFP reply to {command!r} within {timeout:g} s (wrong device, baud rate or port?)"
                )

    def identify(self) -> DeviceInfo:
        self.write(b"\nSTOP\n")  # end any stream left running; the LF first clears a half line
        self.clock.sleep(0.05)
        self.serial.reset_input_buffer()
        try:
            reply = self.query("INFO")
        except SfpErrorReply:  # a late answer to the half line the STOP cleared: ask again
            reply = self.query("INFO")
        info = parse_info(reply, self.port)
        if self.expected_channels is not None and int(info["channels"]) != self.expected_channels:
            raise DeviceError(f"{self.port}: SFP device has {info['channels']} channels, "
                              f"{self.expected_channels} expected (channels= option)")
        if self.requested_rate_hz is not None:
            reply = self.query(f"RATE {self.requested_rate_hz:g}")
            if reply != "OK":
                raise DeviceError(f"{self.port}: unexpected reply {reply!r} to 'RATE {self.requested_rate_hz:g}'")
            info = parse_info(self.query("INFO"), self.port)
            if abs(float(info["rate_hz"]) - self.requested_rate_hz) > 1e-6 * self.requested_rate_hz:
                raise DeviceError(f"{self.port}: SFP device accepted RATE {self.requested_rate_hz:g} "
                                  f"but reports rate_hz={info['rate_hz']}")
        channels, rate_hz = int(info["channels"]), float(info["rate_hz"])
        self.decoder = SfpDecoder(channels, rate_hz)
        self._clock.reset()
        return DeviceInfo(
            family=self.family,
            model=info.get("model", ""),
            serial=info.get("serial", ""),
            firmware=info.get("fw", ""),
            channels=channels,
            rate_hz=rate_hz,
            unit="counts",
            time_source="device",
            port=self.port,
            settings={**info, "protocol": "SFP1", "baudrate": self.baudrate},
        )

    def start(self) -> None:
        self.reset_decoder()
        self.write(b"START\n")
        self.streaming = True

    def stop(self) -> None:
        """Send ``STOP``; frames already in flight can still be read (see :meth:`flush`)."""
        self.write(b"STOP\n")
        self.streaming = False

    def flush(self, quiet_s: float = 0.05, timeout_s: float = 1.0) -> SampleBlock | None:
        """After :meth:`stop`: read the frames still in flight until the line is quiet.

        Returns them as one block (or None); a partial frame left at the end is discarded.
        """
        blocks: list[SampleBlock] = []
        deadline = self.clock.monotonic() + timeout_s
        quiet_since = self.clock.monotonic()
        while self.clock.monotonic() < deadline:
            n_before = self.stats.bytes_in
            block = self.read(timeout_s=min(quiet_s, 0.02))
            if block is not None:
                blocks.append(block)
            if self.stats.bytes_in != n_before:
                quiet_since = self.clock.monotonic()
            elif self.clock.monotonic() - quiet_since >= quiet_s:
                break
        if not self.streaming and self.decoder is not None:
            before = self.decoder.garbage_bytes, self.decoder.resyncs
            self.decoder.flush()
            self.stats.garbage_bytes += self.decoder.garbage_bytes - before[0]
            self.stats.resyncs += self.decoder.resyncs - before[1]
        if not blocks:
            return None
        return SampleBlock(
            values=np.concatenate([b.values for b in blocks]),
            t_host_s=np.concatenate([b.t_host_s for b in blocks]),
            t_device_s=np.concatenate([b.t_device_s for b in blocks if b.t_device_s is not None]),
        )

    # -- decoding ---------------------------------------------------------------------
    def reset_decoder(self) -> None:
        if self.decoder is not None:
            self.decoder.reset()
        self._clock.reset()

    def decode(self, data: bytes, arrival_s: float) -> SampleBlock | None:
        dec = self.decoder
        if dec is None:
            raise DeviceError(f"{self.port}: SFP data before identification")
        before = dec.counters()
        frames = dec.feed(data)
        self.stats.add(counter_delta(before, dec.counters()))
        if not len(frames):
            return None
        return SampleBlock(
            values=frames.counts.astype(np.float64),
            t_host_s=self._clock.map(frames.t_device_s, arrival_s),
            t_device_s=frames.t_device_s,
        )


