"""Apply calibrations to a stream of readings, vectorised over samples and channels.

Linear (and identity) channels are the fast path: with gain g (N/count) and zero o (counts;
the tare when one was taken, else the calibration's zero) precomputed as vectors,

    force_n = counts * g + (-g * o)          one multiply-add per sample per channel.

Quadratic/cubic channels are evaluated with Horner's rule on ``x = counts - o`` (still
vectorised, one multiply-add per order). Channels without calibration (None, only allowed
under an override) give NaN so that no invented newtons reach the analysis.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from calibration.errors import CalibrationError
from calibration.record import CalibrationRecord


#: Rows per chunk of the linear fast path on large arrays.
_CHUNK_ROWS = 4096


class CalibrationSet:
    """Calibrations of the channels of one stream, in column order.

    ``records[i]`` calibrates column ``i`` of the counts array (None = uncalibrated → NaN).
    ``tare_offsets_counts[i]`` (optional, counts) replaces that channel's zero reading;
    None keeps the calibration's own ``offset_counts``.
    """

    __slots__ = (
        "_records", "_tare", "_zero", "_gain", "_bias", "_poly_columns", "_poly_coefficients", "_nan_columns",
        "_tiles",
    )

    def __init__(
        self,
        records: Sequence[CalibrationRecord | None],
        tare_offsets_counts: Sequence[float | None] | None = None,
    ) -> None:
        records = tuple(records)
        if not records:
            raise CalibrationError("a CalibrationSet needs at least one channel")
        for i, r in enumerate(records):
            if r is not None and not isinstance(r, CalibrationRecord):
                raise CalibrationError(f"records[{i}] must be a CalibrationRecord or None")
        tare = tuple(tare_offsets_counts) if tare_offsets_counts is not None else (None,) * len(records)
        if len(tare) != len(records):
            raise CalibrationError(f"{len(tare)} tare offsets for {len(records)} channels")
        for i, t in enumerate(tare):
            if t is not None and not math.isfinite(float(t)):
                raise CalibrationError(f"tare offset of column {i} must be finite, got {t!r}")
        self._records = records
        self._tare = tuple(None if t is None else float(t) for t in tare)

        n = len(records)
        zero = np.zeros(n)
        gain = np.zeros(n)
        for i, r in enumerate(records):
            if r is None:
                continue
            zero[i] = r.offset_counts if self._tare[i] is None else self._tare[i]
            gain[i] = r.gain_n_per_count
        self._zero = zero
        self._gain = gain
        self._bias = -gain * zero
        self._nan_columns = np.array([i for i, r in enumerate(records) if r is None], dtype=np.intp)
        poly = [i for i, r in enumerate(records) if r is not None and not r.is_linear]
        self._poly_columns = np.array(poly, dtype=np.intp)
        order = max((records[i].order for i in poly), default=0)  # type: ignore[union-attr]
        coefficients = np.zeros((order, len(poly)))
        for j, i in enumerate(poly):
            c = records[i].coefficients_n_per_count_k  # type: ignore[union-attr]
            coefficients[: len(c), j] = c
        self._poly_coefficients = coefficients
        self._tiles: tuple[np.ndarray, np.ndarray] | None = None

    # -- properties ------------------------------------------------------------------

    @property
    def records(self) -> tuple[CalibrationRecord | None, ...]:
        """The records, one per column."""
        return self._records

    @property
    def n_channels(self) -> int:
        """Number of columns the set expects."""
        return len(self._records)

    @property
    def tare_offsets_counts(self) -> tuple[float | None, ...]:
        """Tare offsets in use (None where the calibration's zero is used), counts."""
        return self._tare

    @property
    def zero_counts(self) -> np.ndarray:
        """Zero reading in use per column (tare or calibration offset), counts (a copy)."""
        return self._zero.copy()

    @property
    def gain_n_per_count(self) -> np.ndarray:
        """Gain at zero per column, N/count (0 for uncalibrated columns; a copy)."""
        return self._gain.copy()

    @property
    def all_linear(self) -> bool:
        """True when every column takes the multiply-add fast path."""
        return self._poly_columns.size == 0 and self._nan_columns.size == 0

    def with_tare(self, tare_offsets_counts: Sequence[float | None]) -> CalibrationSet:
        """A new set with these tare offsets (counts, one per column; None = calibration zero)."""
        return CalibrationSet(self._records, tare_offsets_counts)

    # -- the hot path ----------------------------------------------------------------

    def apply(self, counts: Any, out: np.ndarray | None = None) -> np.ndarray:
        """Force in N, same shape as ``counts`` (``(n, channels)``, or ``(channels,)`` for one sample).

        ``out`` may be a float64 array of that shape to write into (no allocation).
        """
        arr = np.asarray(counts)
        if arr.ndim == 0 or arr.shape[-1] != self.n_channels:
            raise CalibrationError(f"counts must have {self.n_channels} columns, got shape {arr.shape}")
        if arr.ndim == 2 and arr.shape[0] > _CHUNK_ROWS:
            result = self._linear_chunked(arr, out)
        else:
            result = np.multiply(arr, self._gain, out=out, dtype=np.float64)
            result += self._bias
        if self._poly_columns.size:
            x = arr[..., self._poly_columns] - self._zero[self._poly_columns]
            coefficients = self._poly_coefficients
            y = np.broadcast_to(coefficients[-1], x.shape).copy()
            for row in coefficients[-2::-1]:
                y *= x
                y += row
            y *= x
            result[..., self._poly_columns] = y
        if self._nan_columns.size:
            result[..., self._nan_columns] = np.nan
        return result

    def _linear_chunked(self, arr: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """The multiply-add over row chunks against gain/bias tiles of the chunk's shape.

        Same arithmetic as the broadcast form; avoiding broadcasting along a short last
        axis lets numpy run long contiguous loops (about 3x faster on large arrays).
        """
        if self._tiles is None:
            self._tiles = (np.tile(self._gain, (_CHUNK_ROWS, 1)), np.tile(self._bias, (_CHUNK_ROWS, 1)))
        gain_tile, bias_tile = self._tiles
        result = np.empty(arr.shape, dtype=np.float64) if out is None else out
        if result.shape != arr.shape:
            raise CalibrationError(f"out has shape {result.shape}, counts {arr.shape}")
        for start in range(0, arr.shape[0], _CHUNK_ROWS):
            part = result[start : start + _CHUNK_ROWS]
            rows = part.shape[0]
            np.multiply(arr[start : start + _CHUNK_ROWS], gain_tile[:rows], out=part, dtype=np.float64)
            part += bias_tile[:rows]
        return result
