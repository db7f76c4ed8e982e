"""Loadstar decoder: byte blocks (any split) → values, vectorised per block; counts every fault."""
from __future__ import annotations

import re

import numpy as np

from drivers.loadstar.wire import (
    ACK_REPLIES,
    ERROR_REPLY,
    H_GLITCH,
    H_RECORD,
    MAX_TAIL,
    WC_RECORD,
    WC_WIDTH,
    unit_factor,
)

# -- decoding -------------------------------------------------------------------------------
# A WC reading: the documented fixed width (``%12.4f``, right aligned) after an optional run
# of garbage (salvaged: its last 12 characters are exactly one record), or a plain number
# with nothing before it (the ``W`` style, e.g. ``3.04``). A padded line one byte short
# matches neither, so a lost byte costs that reading and is counted.
_WC_LINE = re.compile(
    rb"^(?:([^\n]*?)((?=[ \d.-]{12}\r$) *-?\d+\.\d{4})|(-?\d{1,10}(?:\.\d{1,6})?))\r$",
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

    def counters(self) -> dict[str, int]:
        """Running totals named as in :class:`~drivers.base.DriverStats`."""
        return {"resyncs": self.bad_lines, "garbage_bytes": self.garbage_bytes, "lost_samples": self.lost,
                "device_errors": len(self.device_errors)}

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
