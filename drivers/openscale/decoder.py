"""OpenScale decoder: byte blocks (any split) → values, vectorised per block; counts every fault."""
from __future__ import annotations

import numpy as np

from drivers.openscale.wire import (
    _FAST_BYTES,
    _OFFSETS,
    _POW10,
    _TEXT,
    DEFAULT_COLUMNS,
    KGF_N,
    LBF_N,
    MAX_STEP_MS,
    MAX_TAIL,
    UNIT_TO_N,
    Columns,
)


class OpenScaleDecoder:
    """Turns byte blocks of OpenScale CSV lines into values, vectorised per block.

    ``mode="weight"``: the weight column in newtons (lbs/kg per line); ``mode="counts"``: the
    raw HX711 column. With the timestamp column, :attr:`t_device_s` holds the device time
    (``millis()`` unwrapped over its 32-bit wrap, in s) of the values the last :meth:`feed`
    returned, and a jump of more than 1.5 nominal periods counts as a gap of lost readings.

    Banner and menu text lines are counted in ``text_lines`` (not errors); other lines that
    are not readings (garbage, a line broken by a lost byte) in ``bad_lines``/``garbage_bytes``.
    ``lost`` counts readings lost: from device-time gaps when there is a timestamp, else one
    per bad line. Readings the board could not compute (``nan``/``inf``/``ovf``) are dropped
    and counted in ``invalid``.
    """

    def __init__(self, columns: Columns = DEFAULT_COLUMNS, mode: str = "weight", period_s: float | None = None,
                 decimals: int | None = 2) -> None:
        if mode not in ("weight", "counts"):
            raise ValueError(f"mode must be 'weight' or 'counts', got {mode!r}")
        if mode == "counts" and not columns.raw:
            raise ValueError("counts mode needs the raw reading column")
        self.columns = columns
        self.mode = mode
        self.decimals = decimals
        self.period_ms = period_s * 1000.0 if period_s else None
        self._pattern = columns.pattern(decimals)
        names = columns.names()
        self._nfields = len(names)
        self._col = {name: i for i, name in enumerate(names)}
        self._value_col = self._col["weight" if mode == "weight" else "raw"]
        self._tail = b""
        self._last_u: int | None = None  # last millis as unsigned 32-bit
        self._last_t_ms = 0
        self.t_device_s: np.ndarray | None = None
        self.bad_lines = 0
        self.garbage_bytes = 0
        self.text_lines = 0
        self.lost = 0
        self.gaps = 0
        self.invalid = 0
        self.restarts = 0

    def counters(self) -> dict[str, int]:
        """Running totals named as in :class:`~drivers.base.DriverStats` (``device_errors``:
        readings the board could not compute, nan/inf/ovf)."""
        return {"resyncs": self.bad_lines, "garbage_bytes": self.garbage_bytes, "lost_samples": self.lost,
                "gaps": self.gaps, "device_errors": self.invalid}

    def reset(self) -> None:
        """Forget the partial line and the device-time history (after a pause or reconnect)."""
        self._tail = b""
        self._last_u = None
        self.t_device_s = None

    def feed(self, data: bytes) -> np.ndarray:
        """Values of every complete reading in the kept tail plus ``data`` (1-D float64)."""
        buf = self._tail + data
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) > MAX_TAIL:
                self.garbage_bytes += len(buf) - MAX_TAIL
                self.bad_lines += 1
                buf = buf[-MAX_TAIL:]
            self._tail = buf
            self.t_device_s = np.empty(0) if self.columns.timestamp else None
            return np.empty(0)
        complete, self._tail = buf[: end + 1], buf[end + 1 :]
        try:
            fast = self._fast(complete)
        except (ValueError, OverflowError):  # a field that is not a number: the careful path finds the bad line
            fast = None
        if fast is not None:
            return self._finish(fast[0], fast[1], [], None)
        rows, fresh_start = self._careful(complete)
        if not rows:
            self.t_device_s = np.empty(0) if self.columns.timestamp else None
            return np.empty(0)
        return self._convert(np.array(rows, dtype="S24"), fresh_start)

    def _fast(self, complete: bytes) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Fast path for a block of whole, clean readings: (values, millis) with a handful of
        C-level bytes operations and numpy calls; None (or ValueError) when the block holds
        anything else, which the careful path then sorts out line by line."""
        if complete.translate(None, _FAST_BYTES):  # text, garbage, nan/inf/ovf
            return None
        n = complete.count(b"\n")
        if complete.count(b",\r\n") != n:
            return None
        lbs = complete.count(b",lbs,")
        kg = complete.count(b",kg,") if lbs != n else 0
        if lbs + kg != n or (self.mode == "weight" and lbs and kg):
            return None  # mixed units (changed in the menu mid-block): the careful path
        a = np.frombuffer(complete, dtype=np.uint8)
        commas = np.flatnonzero(a == 44)
        k = self._nfields
        if commas.size != n * k:
            return None
        rows = commas.reshape(n, k)
        line_end = rows[:, -1] + 2
        if not (a[line_end] == 10).all():  # every line has exactly k commas
            return None
        line_start = np.empty(n, dtype=np.int64)
        line_start[0] = 0
        line_start[1:] = line_end[:-1] + 1
        c = self._value_col
        stop = rows[:, c]
        first = rows[:, c - 1] + 1 if c else line_start
        lengths = stop - first
        width = int(lengths.max())
        if lengths.min() <= 0 or width > 18:  # sign + 10 digits + point + 6 decimals at most
            return None
        if self.mode == "weight" and self.decimals and not (a[stop - self.decimals - 1] == 46).all():
            return None  # a lost decimal digit or point
        offsets = _OFFSETS[:width]
        chars = np.take(a, first[:, None] + offsets, mode="clip")
        chars *= offsets < lengths[:, None]  # NUL padding: ignored by the bytes dtype
        values = chars.view(f"S{width}")[:, 0].astype(np.float64)
        if self.mode == "weight":
            values *= LBF_N if lbs else KGF_N
        millis = None
        if self.columns.timestamp:
            lengths = rows[:, 0] - line_start
            width = int(lengths[0])
            if 0 < width <= 10 and (lengths == width).all():  # the usual: equal widths, no sign
                digits = np.take(a, line_start[:, None] + _OFFSETS[:width]).astype(np.int64) - 48
                if (digits >= 0).all() and (digits <= 9).all():
                    millis = digits @ _POW10[10 - width :]
            if millis is None:
                if not 0 < int(lengths.max()) <= 11 or int(lengths.min()) <= 0:
                    return None  # an overlong (or empty) time field: the careful path counts the line
                offsets = _OFFSETS[: int(lengths.max())]
                chars = np.take(a, line_start[:, None] + offsets, mode="clip")
                chars *= offsets < lengths[:, None]
                millis = chars.view(f"S{offsets.size}")[:, 0].astype(np.int64)
        return values, millis

    def _careful(self, complete: bytes) -> tuple[list[tuple[bytes, ...]], list[int]]:
        """Line by line, for blocks holding text or damage; readings keep their order."""
        rows: list[tuple[bytes, ...]] = []
        fresh: list[int] = []
        after_text = False
        timed = bool(self.columns.timestamp and self.period_ms)
        for line in complete.split(b"\n")[:-1]:
            m = self._pattern.match(line)
            if m:
                if after_text:
                    fresh.append(len(rows))
                    after_text = False
                rows.append(m.groups())
                continue
            if not line.strip():
                continue
            if _TEXT.match(line):
                self.text_lines += 1
                after_text = True
            else:
                self.bad_lines += 1
                self.garbage_bytes += len(line) + 1
                # device time shows a lost reading as a gap, except before the first reading
                # of a stream or right after text; a line merged by a lost LF held two
                if not timed or after_text or (self._last_u is None and not rows):
                    self.lost += max(1, line.count(b"\r"))
        return rows, fresh

    def _convert(self, table: np.ndarray, fresh_start: list[int]) -> np.ndarray:
        """Values from the careful path's (rows, fields) table."""
        finite: np.ndarray | None = None  # None: every reading has a usable value
        if self.mode == "weight":
            words = table[:, self._col["weight"]]
            words = np.where(words == b"ovf", b"nan", words)
            units = np.char.lower(table[:, self._col["unit"]])
            factor = np.full(units.size, np.nan)
            for unit, f in UNIT_TO_N.items():
                factor[units == unit.encode()] = f
            values = words.astype(np.float64) * factor
            ok = np.isfinite(values)
            if not ok.all():
                unknown = ~np.isfinite(factor)
                self.bad_lines += int(unknown.sum())  # a unit broken by a lost byte
                self.lost += int(unknown.sum())
                self.invalid += int((~ok & ~unknown).sum())  # nan/inf/ovf from the board
                finite = ok
        else:
            values = table[:, self._col["raw"]].astype(np.float64)
        millis = table[:, self._col["millis"]].astype(np.int64) if self.columns.timestamp else None
        return self._finish(values, millis, fresh_start, finite)

    def _finish(self, values: np.ndarray, millis: np.ndarray | None, fresh_start: list[int],
                finite: np.ndarray | None) -> np.ndarray:
        """Device time (from ``millis``) and the readings kept; updates the counters."""
        if millis is None:
            self.t_device_s = None
            return values if finite is None else values[finite]
        t_ms, timed = self._unwrap(millis, fresh_start)
        if timed is not None:  # readings whose time lost a digit: dropped (t_ms has only the others)
            values = values[timed]
            finite = None if finite is None else finite[timed]
        if finite is not None:
            values, t_ms = values[finite], t_ms[finite]
        self.t_device_s = t_ms / 1000.0
        return values

    def _unwrap(self, millis: np.ndarray, fresh_start: list[int]) -> tuple[np.ndarray, np.ndarray | None]:
        """Device ms (continuous over the 32-bit wrap) of the readings whose time is sound, and
        the mask of those readings (None: all of them).

        A single reading whose time fits neither neighbour while the neighbours fit each other
        had a digit lost on the wire: it is dropped and counted. Any other backward (or huge)
        step is a board restart: time goes on from the previous reading.
        """
        u = millis & 0xFFFFFFFF  # the firmware prints a signed long; the counter is unsigned
        n = u.size
        first = self._last_u is None
        prev = int(u[0]) if self._last_u is None else self._last_u
        if not fresh_start and self.period_ms:  # the usual block: evenly spaced readings
            d = np.diff(u, prepend=prev)
            if d.min() >= 0 and d.max() <= 1.5 * self.period_ms:
                t = (int(u[0]) if first else self._last_t_ms) + np.cumsum(d)
                self._last_u, self._last_t_ms = int(u[-1]), int(t[-1])
                return t, None
        fresh = np.zeros(n, dtype=bool)
        if fresh_start:
            fresh[np.asarray(fresh_start)] = True
        d = _wrap32(np.diff(np.concatenate(([prev], u))))
        abnormal = (d < 0) | (d > MAX_STEP_MS)
        timed = np.ones(n, dtype=bool)
        if n > 1 and abnormal[:-1].any():
            before = np.concatenate(([prev], u[:-2]))
            skip = _wrap32(u[1:] - before)  # from the reading before i to the one after i
            outlier = abnormal[:-1] & (skip >= 0) & (skip <= MAX_STEP_MS) & ~fresh[:-1]
            if first:
                outlier[0] = False
            if outlier.any():
                timed[:-1] = ~outlier
                self.bad_lines += int(outlier.sum())
                self.lost += int(outlier.sum())
                fresh[1:] |= outlier  # counted already: no gap across the dropped reading
                u, fresh = u[timed], fresh[timed]
                d = _wrap32(np.diff(np.concatenate(([prev], u))))
                abnormal = (d < 0) | (d > MAX_STEP_MS)
        if abnormal.any():  # the board rebooted (or stalled for very long): start afresh
            self.restarts += int(abnormal.sum())
            d[abnormal] = int(round(self.period_ms)) if self.period_ms else 0
        if self.period_ms:
            check = np.where(abnormal | fresh, 0, d)  # d[0] is 0 for the very first reading
            missing = np.rint(check / self.period_ms).astype(np.int64) - 1
            gap = (check > 1.5 * self.period_ms) & (missing > 0)
            if gap.any():
                self.gaps += int(gap.sum())
                self.lost += int(missing[gap].sum())
        base = int(u[0]) if first else self._last_t_ms
        t = base + np.cumsum(d)
        self._last_u = int(u[-1])
        self._last_t_ms = int(t[-1])
        return t, (None if timed.all() else timed)


def _wrap32(d: np.ndarray) -> np.ndarray:
    """Differences of 32-bit counters brought into (-2**31, 2**31]."""
    return (d + 2**31 - 1) % 2**32 - 2**31 + 1
