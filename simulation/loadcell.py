"""A load cell + ADC model for simulators of count-based devices (SFP, Loadstar, OpenScale).

counts = offset + gain·(F + k₂·F²) + gain·h(F) + drift·t + noise, quantised to the ADC.
``h`` is a play operator of half-width ``hysteresis_n``: while loading the output lags
below the true force, while unloading above it, so a loading/unloading calibration shows a
hysteresis of 2·hysteresis_n (N). The truth is kept so tests can check a calibration fit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LoadCellModel:
    """One channel's transfer function from force (N) to ADC counts."""

    gain_counts_per_n: float = 1000.0
    offset_counts: float = 8_000.0
    quadratic_per_n: float = 0.0  # k₂ (1/N): relative non-linearity = k₂·F
    hysteresis_n: float = 0.0  # play half-width (N)
    drift_counts_per_s: float = 0.0
    noise_counts: float = 2.0
    adc_bits: int = 24
    seed: int = 0
    _state_n: float | None = field(default=None, init=False, repr=False)
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def _play(self, force_n: np.ndarray) -> np.ndarray:
        w = self.hysteresis_n
        out = np.empty_like(force_n)
        y = float(force_n[0]) if self._state_n is None else self._state_n
        for i, f in enumerate(force_n.tolist()):
            y = min(max(y, f - w), f + w)
            out[i] = y
        self._state_n = y
        return out

    def counts(self, force_n: np.ndarray, t_s: np.ndarray) -> np.ndarray:
        """Integer counts (int64) for forces ``force_n`` (N) at times ``t_s`` (s)."""
        f = np.asarray(force_n, dtype=np.float64)
        effective = self._play(f) if self.hysteresis_n > 0 and f.size else f
        value = self.offset_counts + self.gain_counts_per_n * (effective + self.quadratic_per_n * f * f)
        value = value + self.drift_counts_per_s * np.asarray(t_s, dtype=np.float64)
        if self.noise_counts:
            value = value + self._rng.normal(0.0, self.noise_counts, size=value.shape)
        limit = 2 ** (self.adc_bits - 1)
        return np.clip(np.rint(value), -limit, limit - 1).astype(np.int64)

    def truth(self) -> dict[str, float]:
        """The model's parameters, for tests that check a calibration against them."""
        return {
            "gain_counts_per_n": self.gain_counts_per_n,
            "offset_counts": self.offset_counts,
            "quadratic_per_n": self.quadratic_per_n,
            "hysteresis_n": self.hysteresis_n,
            "drift_counts_per_s": self.drift_counts_per_s,
        }


def plate_cells(n_plates: int, *, seed: int = 0, **overrides: float) -> list[LoadCellModel]:
    """Slightly different cells (gain ±3 %, offsets spread) for ``n_plates`` × 4 channels."""
    rng = np.random.default_rng(seed)
    cells = []
    for i in range(4 * n_plates):
        params = {
            "gain_counts_per_n": 1000.0 * float(1 + rng.uniform(-0.03, 0.03)),
            "offset_counts": float(rng.uniform(-20_000, 20_000)),
            "seed": seed * 100 + i,
        }
        params.update(overrides)
        cells.append(LoadCellModel(**params))  # type: ignore[arg-type]
    return cells
