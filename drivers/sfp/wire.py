"""SFP wire format: constants, units and record layout (see ``docs/protocols/sfp.md``)."""
from __future__ import annotations

import functools
import re
import zlib
from dataclasses import dataclass

import numpy as np

from drivers.base import DeviceError

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
