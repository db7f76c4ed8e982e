"""Mark-10 decoder: CR-LF terminated readings → newtons, vectorised per byte block."""
from __future__ import annotations

import re

import numpy as np

from drivers.mark10.wire import READING as _READING
from drivers.mark10.wire import unit_factor

#: bytes that cannot appear in a block of bare numbers separated by LF
_NOT_NUMBER = np.ones(256, dtype=bool)
_NOT_NUMBER[np.frombuffer(b"0123456789.+-\n", dtype=np.uint8)] = False
_POW10 = 10 ** np.arange(19, dtype=np.int64)
#: device error replies kept for display (all are counted)
_KEEP_ERRORS = 100
#: longest line a gauge sends; a longer run without LF is garbage
MAX_LINE = 256


class Mark10Decoder:
    """Turns byte blocks of CR-LF terminated readings into newtons, vectorised per block.

    Lines that are not readings (garbage, a line broken by a lost byte, an ``R``
    acknowledgement, ``*NN`` errors) are counted and skipped; decoding resumes at the next
    line ending, so one bad byte costs at most one reading. The gauge prints a fixed number
    of decimals for its unit, so a reading whose decimals differ from the stream's is a line
    that lost a digit and is skipped too. ASCII has no checksum: a lost digit *before* the
    decimal point ("100.00" → "10.00") or of the sign cannot be detected by any framing rule.

    Counters: ``bad_lines`` (each one a reading lost: ASCII has no sequence numbers),
    ``garbage_bytes`` and ``device_error_count`` (``*NN`` replies; the latest are kept in
    ``device_errors``); :meth:`counters` gives them under :class:`~drivers.base.DriverStats`
    names.
    """

    def __init__(self, default_unit: str = "N", polarity: float = 1.0) -> None:
        self.default_unit = default_unit
        self.polarity = polarity
        self._tail = b""
        self.bad_lines = 0
        self.garbage_bytes = 0
        self.device_errors: list[str] = []
        self.device_error_count = 0
        self.decimals: dict[bytes, int] = {}  # per unit as printed, learned from the stream
        # (line tail, decimals) → (pattern of such a line's number, newtons per printed value)
        self._small: dict[tuple[bytes, int], tuple[re.Pattern[bytes], float]] = {}

    def counters(self) -> dict[str, int]:
        """Running totals named as in :class:`~drivers.base.DriverStats`."""
        return {"resyncs": self.bad_lines, "lost_samples": self.bad_lines, "garbage_bytes": self.garbage_bytes,
                "device_errors": self.device_error_count}

    def reset(self) -> None:
        self._tail = b""
        self.decimals = {}
        self._small = {}

    def feed(self, data: bytes) -> np.ndarray:
        """Forces (N) of every complete reading in ``_tail + data``."""
        buf = self._tail + data
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) > MAX_LINE:  # a runaway line without LF is garbage; keep it bounded
                # (its end, when an LF comes, counts the bad line)
                self.garbage_bytes += len(buf) - MAX_LINE
                buf = buf[-MAX_LINE:]
            self._tail = buf
            return np.empty(0)
        complete, self._tail = buf[: end + 1], buf[end + 1 :]
        if len(complete) <= self.SLICE_BYTES:
            return self._feed_complete(complete)
        parts, start = [], 0
        while start < len(complete):  # cache-sized slices, cut at line ends
            stop = complete.find(b"\n", start + self.SLICE_BYTES)
            stop = len(complete) if stop < 0 else stop + 1
            parts.append(self._feed_complete(complete[start:stop]))
            start = stop
        return np.concatenate(parts)

    #: blocks larger than this are decoded in slices of about this size (bytes)
    SLICE_BYTES = 16 * 1024

    #: blocks of at most this many lines take the small-block path (:meth:`_feed_small`)
    SMALL_LINES = 64

    def _feed_complete(self, complete: bytes) -> np.ndarray:
        if complete.count(b"\n") <= self.SMALL_LINES:
            small = self._feed_small(complete)
            if small is not None:
                return small
        fast = self._feed_uniform(complete)
        return fast if fast is not None else self._feed_lines(complete)

    def _feed_small(self, complete: bytes) -> np.ndarray | None:
        """A few ms of a live stream (a handful of lines) under the same rules as
        :meth:`_feed_uniform`, with one regular expression and ``float`` instead of dozens of
        numpy calls (each paid with cold caches by a reader that wakes every few ms). Returns
        None when the block needs another path."""
        first = complete[: complete.find(b"\n") + 1]
        m = _READING.match(first)
        if m is None:
            return None
        unit = bytes(m.group(2) or b"")
        decimals = self.decimals.get(unit)
        if decimals is None:
            return None
        tail = first[m.end(1) :]
        key = (tail, decimals)
        small = self._small.get(key)
        if small is None:
            number = rb"[+-]?(?:0|[1-9][0-9]{0,11})" + (rb"\.[0-9]{%d}" % decimals if decimals else b"")
            factor = unit_factor(unit.decode("ascii")) if unit else unit_factor(self.default_unit)
            small = self._small[key] = (re.compile(rb"(?:^|(?<=\n))(" + number + rb")" + re.escape(tail)),
                                        self.polarity * factor)
        numbers = small[0].findall(complete)
        if len(numbers) != complete.count(b"\n"):
            return None  # some line is not a reading of this form: the exact path sorts it out
        return np.array([float(x) for x in numbers]) * small[1]

    def _feed_uniform(self, complete: bytes) -> np.ndarray | None:
        """The common case, parsed arithmetically on the byte array (no Python object per
        line): every line is ``<number>[ <unit>]\\r\\n`` with one unit and the decimals already
        learned for it. Returns None when the block needs the exact path (which counts)."""
        first = complete[: complete.find(b"\n") + 1]
        m = _READING.match(first)
        if m is None:
            return None
        unit = m.group(2) or b""
        decimals = self.decimals.get(bytes(unit))
        if decimals is None:
            return None  # the exact path learns the stream's decimals first
        tail = first[m.end(1) :]  # e.g. b" N\r\n"
        n = complete.count(b"\n")
        if complete.count(tail) != n:
            return None
        nb = np.frombuffer(complete.replace(tail, b"\n"), dtype=np.uint8)
        if _NOT_NUMBER[nb].any():
            return None
        nl = np.flatnonzero(nb == 10)
        st = np.empty(n, dtype=np.int64)
        st[0] = 0
        st[1:] = nl[:-1] + 1
        length = nl - st  # characters before LF
        signed = (nb[st] == 45) | (nb[st] == 43)  # '-' or '+'
        int_len = length - signed - (decimals + 1 if decimals else 0)
        if np.any(int_len < 1) or np.any(int_len > 12):
            return None
        first_digit = nb[st + signed]
        if np.any((first_digit == 48) & (int_len > 1)):
            return None  # leading zero: a line that lost a digit
        is_point = nb == 46
        if decimals:
            if is_point.sum() != n or not np.all(nb[nl - decimals - 1] == 46):
                return None
        elif is_point.any():
            return None
        sign_pos = st[signed]
        if (((nb == 45) | (nb == 43)).sum()) != sign_pos.size:
            return None  # a sign somewhere else than at a line start
        rpos = np.repeat(nl, length + 1) - np.arange(nb.size) - 1  # chars left to the LF
        exponent = rpos - (rpos > decimals) if decimals else rpos
        digit = nb.astype(np.int64) - 48
        digit[(digit < 0) | (digit > 9)] = 0  # sign, point and LF contribute nothing
        exponent[exponent < 0] = 0
        values = np.add.reduceat(digit * _POW10[exponent], st) / 10.0**decimals
        values[nb[st] == 45] *= -1.0
        factor = unit_factor(unit.decode("ascii")) if unit else unit_factor(self.default_unit)
        return self.polarity * values * factor

    def _feed_lines(self, complete: bytes) -> np.ndarray:
        """The exact path: line by line with a regular expression, counting every bad line."""
        matches = _READING.findall(complete)
        n_lines = complete.count(b"\n")
        bad = n_lines - len(matches)
        if bad:
            self._count_bad(complete)
        if not matches:
            return np.empty(0)
        numbers, units = zip(*matches, strict=True)
        raw = np.array(numbers, dtype="S24")
        dot = np.char.find(raw, b".")
        decimals = np.where(dot >= 0, np.char.str_len(raw) - dot - 1, 0)
        unit_arr = np.array(units, dtype="S8")
        expected = np.empty_like(decimals)
        for u in np.unique(unit_arr):
            sel = unit_arr == u
            if u not in self.decimals:
                self.decimals[bytes(u)] = int(np.bincount(decimals[sel]).argmax())
            expected[sel] = self.decimals[bytes(u)]
        keep = decimals == expected
        if not keep.all():
            dropped = int((~keep).sum())
            self.bad_lines += dropped
            self.garbage_bytes += int(np.char.str_len(raw[~keep]).sum())
            raw = raw[keep]
            units = tuple(u for u, k in zip(units, keep, strict=True) if k)
            if raw.size == 0:
                return np.empty(0)
        values = raw.astype(np.float64)
        unique_units = set(units)
        if unique_units == {b""}:
            factor: float | np.ndarray = unit_factor(self.default_unit)
        elif len(unique_units) == 1:
            factor = unit_factor(unique_units.pop().decode("ascii"))
        else:
            factor = np.array([unit_factor((u or self.default_unit.encode()).decode("ascii")) for u in units])
        return self.polarity * values * factor

    def _count_bad(self, complete: bytes) -> None:
        """Sort the lines that are not readings: ``R`` acknowledgements and ``*NN`` device
        errors are expected; everything else is garbage (a bad line and its bytes)."""
        for line in complete.split(b"\n")[:-1]:  # ``complete`` ends with LF
            if _READING.match(line):
                continue
            s = line.strip()
            if s.startswith(b"*") and len(s) <= 4:
                self.device_error_count += 1
                self.device_errors.append(s.decode("ascii", "replace"))
                del self.device_errors[:-_KEEP_ERRORS]
            elif s != b"R":
                self.bad_lines += 1
                self.garbage_bytes += len(line) + 1 if line else 0
