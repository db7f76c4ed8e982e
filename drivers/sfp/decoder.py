"""SFP decoder: byte blocks (any split) → values, vectorised per block; counts every fault."""
from __future__ import annotations

import struct
import zlib

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from drivers.sfp.wire import (
    CRC_BYTES,
    MAX_CHANNELS,
    SEQ_MODULO,
    TIME_MODULO,
    VERSION,
    SfpFrames,
    crc32_rows,
    crc_tables,
    frame_bytes,
    frame_dtype,
    frame_head,
)


#: blocks of at most this many whole frames take the small-block path (:meth:`SfpDecoder._feed_small`)
SMALL_FRAMES = 48
_HEAD_SEQ_TIME = struct.Struct("<IHI")  # head (sync, version, n), seq, time_us
_CRC = struct.Struct("<I")


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

    Small blocks (a few ms of a live stream, at most :data:`SMALL_FRAMES` frames) that are
    clean and continue the stream without a gap take a path with few numpy calls (a
    Python loop over the frames' headers with ``zlib.crc32``): a reader that wakes every few
    ms then spends most of its time in a handful of calls instead of dozens, each paid with
    cold caches after the sleep. Anything else (a gap, garbage, the first block) takes the
    vectorised path; both give the same frames and counters.
    """

    def __init__(self, channels: int, rate_hz: float | None = None) -> None:
        if not 1 <= channels <= MAX_CHANNELS:
            raise ValueError(f"SFP channel count must be 1..{MAX_CHANNELS}, got {channels}")
        self.channels = channels
        self.rate_hz = rate_hz
        self.frame_len = frame_bytes(channels)
        self._dtype = frame_dtype(channels)
        self._head = np.uint32(frame_head(channels))
        self._head_int = frame_head(channels)
        crc_tables(self.frame_len - 2 - CRC_BYTES)  # build the tables now, not on the first block
        self.frames = 0
        self.crc_errors = 0
        self.wrong_channels = 0
        self.garbage_bytes = 0
        self.resyncs = 0
        self.gaps = 0
        self.lost_samples = 0
        self.reset()

    def counters(self) -> dict[str, int]:
        """Running totals named as in :class:`~drivers.base.DriverStats` (``device_errors``:
        frames announcing another channel count)."""
        return {"crc_errors": self.crc_errors, "resyncs": self.resyncs, "garbage_bytes": self.garbage_bytes,
                "gaps": self.gaps, "lost_samples": self.lost_samples, "device_errors": self.wrong_channels}

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
        if 0 < m <= SMALL_FRAMES and self._last_seq is not None:
            small = self._feed_small(buf, b, m)
            if small is not None:
                return small
        if m:
            rec = b[: m * size].view(self._dtype)
            if (rec["head"] == self._head).all():
                rows = b[: m * size].reshape(m, size)[:, 2 : size - CRC_BYTES]
                if (crc32_rows(rows) == rec["crc"]).all():
                    self._tail = buf[m * size :]
                    self._in_garbage = False
                    return self._emit(rec)
        return self._scan(buf, b)

    def _feed_small(self, buf: bytes, b: np.ndarray, m: int) -> SfpFrames | None:
        """A few frames at the stride, all valid, continuing the stream without a gap: their
        frames, with the state advanced; else None (nothing changed; the caller decodes the
        block the general way, which also counts what is wrong)."""
        size = self.frame_len
        unpack_head, unpack_crc, crc32 = _HEAD_SEQ_TIME.unpack_from, _CRC.unpack_from, zlib.crc32
        head = self._head_int
        view = memoryview(buf)
        seq = self._last_seq
        if seq is None:
            return None
        traw = self._last_time_raw
        t_us = self._last_time_us
        times = []
        for o in range(0, m * size, size):
            h, s, t = unpack_head(buf, o)
            if h != head or s != (seq + 1) & 0xFFFF or crc32(view[o + 2 : o + size - CRC_BYTES]) != unpack_crc(
                    buf, o + size - CRC_BYTES)[0]:
                return None
            t_us += (t - traw) & 0xFFFFFFFF
            seq, traw = s, t
            times.append(t_us)
        rec = b[: m * size].view(self._dtype)
        self._tail = buf[m * size :]
        self._in_garbage = False
        self._last_seq, self._last_time_raw, self._last_time_us = seq, traw, t_us
        self.frames += m
        return SfpFrames(seq=rec["seq"].astype(np.uint16), time_us=rec["time_us"].astype(np.uint32),
                         t_device_s=np.array(times, dtype=np.float64) * 1e-6,
                         counts=np.array(rec["counts"], dtype=np.int32))

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
        dseq = _diff_from(int(seq[0]) - 1 if self._last_seq is None else self._last_seq, seq)
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
