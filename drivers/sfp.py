"""Station Frame Protocol (SFP) v1: our open binary protocol for multi-channel ADC boards.

Wire protocol (see ``docs/protocols/sfp.md``), little-endian. A frame is::

    A5 5A | ver=1 | n | seq:u16 | time_us:u32 | n x counts:i32 | crc:u32

14 + 4n bytes, ``crc`` = CRC-32 (IEEE, ``zlib.crc32``) over bytes 2 up to the last channel
byte. ``seq`` wraps at 2^16, ``time_us`` (device clock, µs) at 2^32. Host commands are ASCII
lines ending in LF: ``INFO`` → ``SFP1 model=… serial=… channels=<n> rate_hz=<r> fw=…``;
``RATE <hz>`` → ``OK``; ``START`` → frames stream (no reply); ``STOP`` → streaming ends (no
reply); anything else → ``ERR <text>``. Empty lines are ignored.

Decoding is vectorised per byte block: the CRC of every frame in a block is computed at once
with per-position lookup tables (CRC-32 is affine in the message bits), so no Python code
runs per frame or per byte in the common case.
"""
from __future__ import annotations

import functools
import re
import time
import zlib
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from drivers.base import DeviceError, DeviceInfo, Driver, SampleBlock

SYNC = b"\xa5\x5a"
VERSION = 1
MAX_CHANNELS = 16
#: sync (2) + version (1) + channel count (1) + sequence (2) + device time (4)
HEADER_BYTES = 10
CRC_BYTES = 4
#: highest rate the simulator accepts, Hz (a real board states its own limit in ``ERR``)
MAX_RATE_HZ = 10_000.0
SEQ_MODULO = 1 << 16
TIME_MODULO = 1 << 32
#: the reply to INFO, OK, or ERR <text>; frames are stripped from the input before matching
_REPLY = re.compile(rb"(SFP1 [\x20-\x7e]*)\r?\n|(?:^|(?<=[^\x20-\x7e]))(OK|ERR(?: [\x20-\x7e]*)?)\r?\n")


class SfpErrorReply(DeviceError):
    """The board answered ``ERR <text>``; ``text`` is the board's text."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


def frame_bytes(channels: int) -> int:
    """Length (bytes) of one frame of ``channels`` channels: 14 + 4n."""
    return HEADER_BYTES + 4 * channels + CRC_BYTES


@functools.lru_cache(maxsize=None)
def frame_dtype(channels: int) -> np.dtype:
    """A structured dtype laid over one frame (``head`` = sync+version+n as one uint32)."""
    return np.dtype({
        "names": ["head", "seq", "time_us", "counts", "crc"],
        "formats": ["<u4", "<u2", "<u4", ("<i4", (channels,)), "<u4"],
        "offsets": [0, 4, 6, HEADER_BYTES, HEADER_BYTES + 4 * channels],
        "itemsize": frame_bytes(channels),
    })


def frame_head(channels: int) -> int:
    """The first 4 bytes of a frame as a little-endian uint32."""
    return 0xA5 | 0x5A << 8 | VERSION << 16 | channels << 24


@functools.lru_cache(maxsize=None)
def crc_tables(length: int) -> tuple[np.uint32, np.ndarray]:
    """``(c0, T)`` with ``crc32(m) == c0 ^ T[0, m[0]] ^ … ^ T[L-1, m[L-1]]`` for ``L``-byte ``m``.

    CRC-32 with its fixed initial value and final XOR is affine over GF(2) for a fixed
    message length, so each byte position contributes independently. ``T`` is (L, 256).
    """
    c0 = zlib.crc32(bytes(length))
    bits = np.empty((length, 8), dtype=np.uint32)
    for p in range(length):
        msg = bytearray(length)
        for k in range(8):
            msg[p] = 1 << k
            bits[p, k] = zlib.crc32(msg) ^ c0
    has_bit = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(bool)  # (256, 8)
    table = np.zeros((length, 256), dtype=np.uint32)
    for k in range(8):
        table[:, has_bit[:, k]] ^= bits[:, k : k + 1]
    return np.uint32(c0), table


@functools.lru_cache(maxsize=None)
def _table_offsets(length: int) -> np.ndarray:
    return np.arange(length, dtype=np.intp) * 256


#: below this many rows one gather + XOR-reduce over all (row, position) pairs is fastest;
#: above it, one lookup pass per byte position (fewer, cache-friendlier passes)
_GATHER_MAX_ROWS = 3000


def crc32_rows(rows: np.ndarray) -> np.ndarray:
    """CRC-32 (as ``zlib.crc32``) of every row of a (m, L) uint8 array, vectorised over rows."""
    m, length = rows.shape
    c0, table = crc_tables(length)
    if m < _GATHER_MAX_ROWS:
        contributions = table.ravel()[rows + _table_offsets(length)]
        return np.bitwise_xor.reduce(contributions, axis=1) ^ c0
    acc = np.full(m, c0, dtype=np.uint32)
    tmp = np.empty(m, dtype=np.uint32)
    for p in range(length):
        np.take(table[p], rows[:, p], out=tmp)
        acc ^= tmp
    return acc


def encode_frames(seq: np.ndarray, time_us: np.ndarray, counts: np.ndarray) -> bytes:
    """Wire bytes of frames with sequence numbers, device times (µs) and counts (m, n)."""
    counts = np.asarray(counts)
    m, n = counts.shape
    if not 1 <= n <= MAX_CHANNELS:
        raise ValueError(f"SFP frames carry 1..{MAX_CHANNELS} channels, got {n}")
    rec = np.zeros(m, dtype=frame_dtype(n))
    rec["head"] = frame_head(n)
    rec["seq"] = np.asarray(seq, dtype=np.int64) & 0xFFFF
    rec["time_us"] = np.asarray(time_us, dtype=np.int64) & 0xFFFFFFFF
    rec["counts"] = counts
    raw = rec.view(np.uint8).reshape(m, frame_bytes(n))
    rec["crc"] = crc32_rows(raw[:, 2 : frame_bytes(n) - CRC_BYTES])
    return rec.tobytes()


def strip_frames(buf: bytes) -> tuple[bytes, bytes]:
    """Split ``buf`` into (bytes that are not valid frames of any channel count, pending tail).

    The pending tail starts at a sync that may begin a frame not yet complete. Used on the
    command path, where a reply may follow frames still in flight after ``STOP``.
    """
    out = bytearray()
    i = 0
    while True:
        c = buf.find(SYNC, i)
        if c < 0:
            end = len(buf) - 1 if buf.endswith(b"\xa5") and len(buf) - 1 >= i else len(buf)
            out += buf[i:end]
            return bytes(out), buf[end:]
        if c + 4 > len(buf):
            out += buf[i:c]
            return bytes(out), buf[c:]
        ver, n = buf[c + 2], buf[c + 3]
        if ver != VERSION or not 1 <= n <= MAX_CHANNELS:
            out += buf[i : c + 1]
            i = c + 1
            continue
        size = frame_bytes(n)
        if c + size > len(buf):
            out += buf[i:c]
            return bytes(out), buf[c:]
        if zlib.crc32(buf[c + 2 : c + size - CRC_BYTES]) == int.from_bytes(buf[c + size - CRC_BYTES : c + size], "little"):
            out += buf[i:c]
            i = c + size
        else:
            out += buf[i : c + 1]
            i = c + 1


def parse_info(reply: str, port: str = "") -> dict[str, str]:
    """``key=value`` pairs of an INFO reply (a value may contain spaces); checks channels/rate."""
    where = f"{port}: " if port else ""
    words = reply.split()
    if not words or words[0] != "SFP1":
        raise DeviceError(f"{where}not an SFP v1 INFO reply: {reply!r}")
    info: dict[str, str] = {}
    key = None
    for word in words[1:]:
        k, eq, v = word.partition("=")
        if eq and k:
            key = k
            info[key] = v
        elif key is not None:
            info[key] += " " + word
    try:
        channels = int(info["channels"])
        rate = float(info["rate_hz"])
    except (KeyError, ValueError):
        raise DeviceError(f"{where}INFO reply lacks a valid channels= or rate_hz=: {reply!r}") from None
    if not 1 <= channels <= MAX_CHANNELS or not rate > 0:
        raise DeviceError(f"{where}INFO reply out of range (channels 1..{MAX_CHANNELS}, rate > 0): {reply!r}")
    return info


@dataclass(frozen=True)
class SfpFrames:
    """Decoded frames: ``seq`` (uint16), ``time_us`` (uint32 as sent), ``t_device_s``
    (float64, device time unwrapped past the 2^32 µs wrap) and ``counts`` (int32, (m, n))."""

    seq: np.ndarray
    time_us: np.ndarray
    t_device_s: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return int(self.seq.shape[0])


class SfpDecoder:
    """Turns byte blocks (any split) into frames of ``channels`` channels, vectorised per block.

    Fast path: the block (after the kept tail) starts with a frame and frames follow at the
    fixed stride 14 + 4n; one uint32 compare per frame checks the header and the CRCs of all
    frames are computed at once. Otherwise every sync position in the block is examined at
    once (still vectorised): candidates with a valid header and CRC are taken (greedily, left
    to right, never overlapping), everything else is discarded.

    Counters (all since construction): ``frames``; ``crc_errors`` — frame headers with this
    channel count, outside any valid frame, whose CRC failed (a frame damaged on the wire,
    e.g. by a lost byte); ``wrong_channels`` — frame headers announcing another channel count
    (skipped); ``garbage_bytes`` — every byte discarded (not part of a valid frame);
    ``resyncs`` — runs of discarded bytes (each is one loss and recovery of frame sync);
    ``gaps`` — sequence discontinuities; ``lost_samples`` — frames missing by the wrap-aware
    sequence difference (with ``rate_hz`` known, multiples of 2^16 lost during a long gap are
    recovered from the device time). The counters do not depend on how the stream is split.
    """

    def __init__(self, channels: int, rate_hz: float | None = None) -> None:
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"SFP channel count must be 1..{MAX_CHANNELS}, got {channels}")
        self.channels = channels
        self.rate_hz = rate_hz
        self.frame_len = frame_bytes(channels)
        self._dtype = frame_dtype(channels)
        self._head = np.uint32(frame_head(channels))
        crc_tables(self.frame_len - 2 - CRC_BYTES)  # build the tables now, not on the first block
        self.frames = 0
        self.crc_errors = 0
        self.wrong_channels = 0
        self.garbage_bytes = 0
        self.resyncs = 0
        self.gaps = 0
        self.lost_samples = 0
        self.reset()

    def reset(self) -> None:
        """Forget the partial frame and the stream's continuity (a new stream starts)."""
        self._tail = b""
        self._in_garbage = False
        self._last_seq: int | None = None
        self._last_time_raw = 0
        self._last_time_us = 0  # unwrapped

    def flush(self) -> None:
        """Discard the kept partial frame, counting it as garbage (the stream has ended)."""
        if self._tail:
            self.garbage_bytes += len(self._tail)
            if not self._in_garbage:
                self.resyncs += 1
            self._in_garbage = True
            self._tail = b""

    # -- decoding ---------------------------------------------------------------------
    def feed(self, data: bytes) -> SfpFrames:
        """Frames of every complete valid frame in ``tail + data``; keeps a partial tail."""
        buf = self._tail + bytes(data) if self._tail else bytes(data)
        b = np.frombuffer(buf, dtype=np.uint8)
        size = self.frame_len
        m = b.size // size
        if m:
            rec = b[: m * size].view(self._dtype)
            if (rec["head"] == self._head).all():
                rows = b[: m * size].reshape(m, size)[:, 2 : size - CRC_BYTES]
                if (crc32_rows(rows) == rec["crc"]).all():
                    self._tail = buf[m * size :]
                    self._in_garbage = False
                    return self._emit(rec)
        return self._scan(buf, b)

    def _scan(self, buf: bytes, b: np.ndarray) -> SfpFrames:
        size = self.frame_len
        n_bytes = b.size
        sync = np.flatnonzero((b[:-1] == 0xA5) & (b[1:] == 0x5A)) if n_bytes > 1 else np.empty(0, np.intp)
        complete = sync[sync <= n_bytes - size]
        good = np.empty(0, dtype=np.intp)
        if complete.size:
            header_ok = (b[complete + 2] == VERSION) & (b[complete + 3] == self.channels)
            cand = complete[header_ok]
            if cand.size:
                rows = sliding_window_view(b, size)[cand]  # (k, size) copy
                rec = rows.reshape(-1).view(self._dtype)
                good = cand[crc32_rows(rows[:, 2 : size - CRC_BYTES]) == rec["crc"]]
                if good.size > 1 and bool(np.any(np.diff(good) < size)):
                    good = self._non_overlapping(good, size)
        last_end = int(good[-1]) + size if good.size else 0
        pending = sync[(sync > n_bytes - size) & (sync >= last_end)]
        if pending.size:
            tail_start = int(pending[0])
        elif n_bytes and b[-1] == 0xA5 and n_bytes - 1 >= last_end:
            tail_start = n_bytes - 1
        else:
            tail_start = max(n_bytes, last_end)
        # headers outside valid frames: damaged frames or frames of another channel count
        if complete.size:
            j = np.searchsorted(good, complete, side="right") - 1
            inside = (j >= 0) & (complete < good[np.maximum(j, 0)] + size) if good.size else np.zeros(complete.size, bool)
            free = complete[~inside]
            if free.size:
                ver, nch = b[free + 2], b[free + 3]
                self.crc_errors += int(np.count_nonzero((ver == VERSION) & (nch == self.channels)))
                self.wrong_channels += int(np.count_nonzero((ver == VERSION) & (nch != self.channels)
                                                            & (nch >= 1) & (nch <= MAX_CHANNELS)))
        # discarded runs
        self.garbage_bytes += tail_start - size * int(good.size)
        if good.size:
            run_from = np.concatenate(([0], good + size))
            run_to = np.concatenate((good, [tail_start]))
            runs = run_to > run_from
            self.resyncs += int(np.count_nonzero(runs)) - int(self._in_garbage and bool(runs[0]))
            self._in_garbage = bool(runs[-1])
        elif tail_start > 0:
            self.resyncs += int(not self._in_garbage)
            self._in_garbage = True
        self._tail = buf[tail_start:]
        if not good.size:
            return self._empty()
        rows = sliding_window_view(b, size)[good]
        return self._emit(rows.reshape(-1).view(self._dtype))

    @staticmethod
    def _non_overlapping(starts: np.ndarray, size: int) -> np.ndarray:
        """Left to right, drop valid frames overlapping an earlier one (needs a CRC collision)."""
        keep: list[int] = []
        end = -1
        for s in starts.tolist():
            if s >= end:
                keep.append(s)
                end = s + size
        return np.asarray(keep, dtype=np.intp)

    def _emit(self, rec: np.ndarray) -> SfpFrames:
        seq = rec["seq"].astype(np.int64)
        traw = rec["time_us"].astype(np.int64)
        first = self._last_seq is None
        dseq = _diff_from(seq[0] - 1 if first else self._last_seq, seq)
        dseq &= SEQ_MODULO - 1
        dtime = _diff_from(traw[0] if first else self._last_time_raw, traw)
        dtime &= TIME_MODULO - 1
        gap = dseq != 1
        if gap.any():
            d = dseq[gap]
            lost = np.where(d == 0, 0, d - 1)
            if self.rate_hz:
                periods = np.rint(dtime[gap] * (self.rate_hz / 1e6))
                lost = lost + SEQ_MODULO * np.maximum(np.rint((periods - d) / SEQ_MODULO), 0).astype(np.int64)
            self.gaps += int(d.size)
            self.lost_samples += int(lost.sum())
        t_us = np.cumsum(dtime)
        t_us += traw[0] if first else self._last_time_us
        self._last_seq = int(seq[-1])
        self._last_time_raw = int(traw[-1])
        self._last_time_us = int(t_us[-1])
        self.frames += int(seq.size)
        return SfpFrames(
            seq=rec["seq"].astype(np.uint16),
            time_us=rec["time_us"].astype(np.uint32),
            t_device_s=t_us * 1e-6,
            counts=np.array(rec["counts"], dtype=np.int32),
        )

    def _empty(self) -> SfpFrames:
        return SfpFrames(np.empty(0, np.uint16), np.empty(0, np.uint32), np.empty(0),
                         np.empty((0, self.channels), np.int32))
def _diff_from(previous: int, x: np.ndarray) -> np.ndarray:
    """``np.diff(x, prepend=previous)`` without its overhead (int64)."""
    d = np.empty_like(x)
    d[0] = x[0] - previous
    np.subtract(x[1:], x[:-1], out=d[1:])
    return d


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

    def __init__(self, port: str, **kwargs: object) -> None:
        super().__init__(port, **kwargs)  # type: ignore[arg-type]
        self.requested_rate_hz: float | None = None
        rate = self.options.get("rate")
        if rate not in (None, ""):
            try:
                self.requested_rate_hz = float(rate)  # type: ignore[arg-type]
            except ValueError:
                raise DeviceError(f"{port}: rate must be a number of samples/s, got {rate!r}") from None
            if not 0 < self.requested_rate_hz < float("inf"):
                raise DeviceError(f"{port}: rate must be > 0 samples/s, got {rate!r}")
        self.expected_channels: int | None = None
        channels = self.options.get("channels")
        if channels not in (None, ""):
            try:
                self.expected_channels = int(channels)  # type: ignore[arg-type]
            except ValueError:
                raise DeviceError(f"{port}: channels must be an integer, got {channels!r}") from None
            if not 1 <= self.expected_channels <= MAX_CHANNELS:
                raise DeviceError(f"{port}: channels must be 1..{MAX_CHANNELS}, got {channels!r}")
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
        deadline = time.monotonic() + timeout
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
            if time.monotonic() >= deadline:
                raise DeviceError(
                    f"{self.port}: no SFP reply to {command!r} within {timeout:g} s (wrong device, baud rate or port?)"
                )

    def identify(self) -> DeviceInfo:
        self.write(b"\nSTOP\n")  # end any stream left running; the LF first clears a half line
        time.sleep(0.05)
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
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            n_before = self.stats.bytes_in
            block = self.read(timeout_s=min(quiet_s, 0.02))
            if block is not None:
                blocks.append(block)
            if self.stats.bytes_in != n_before:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
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
        before = (dec.crc_errors, dec.resyncs, dec.garbage_bytes, dec.gaps, dec.lost_samples, dec.wrong_channels)
        frames = dec.feed(data)
        s = self.stats
        s.crc_errors += dec.crc_errors - before[0]
        s.resyncs += dec.resyncs - before[1]
        s.garbage_bytes += dec.garbage_bytes - before[2]
        s.gaps += dec.gaps - before[3]
        s.lost_samples += dec.lost_samples - before[4]
        s.device_errors += dec.wrong_channels - before[5]
        if not len(frames):
            return None
        return SampleBlock(
            values=frames.counts.astype(np.float64),
            t_host_s=self._clock.map(frames.t_device_s, arrival_s),
            t_device_s=frames.t_device_s,
        )


DRIVER = SfpDriver
