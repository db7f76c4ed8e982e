"""Force sources for simulators: what the load cells 'feel' over time.

A :class:`ForceSource` maps host monotonic times (s) to forces (N) per channel. A
:class:`Contraction` is one isometric effort (exponential rise to a plateau with
physiological tremor and noise, hold, release); :class:`ScheduledForces` holds the efforts
the simulated patient (:mod:`simulation.patient`) makes when cued; landings live in
:mod:`simulation.landing`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class ForceSource(Protocol):
    channels: int

    def sample(self, t_s: np.ndarray) -> np.ndarray:
        """Forces (N), shape (len(t_s), channels), at host monotonic times ``t_s``."""
        ...


@dataclass(frozen=True)
class Contraction:
    """One isometric effort on ``channel``: starts at ``start_s`` (host monotonic, s)."""

    start_s: float
    duration_s: float
    peak_n: float
    channel: int = 0
    tau_s: float = 0.15  # rise time constant
    release_tau_s: float = 0.08
    fatigue_per_s: float = 0.006  # fractional loss of force per second of hold
    tremor_hz: float = 9.0
    tremor_frac: float = 0.012

    def force(self, t_s: np.ndarray) -> np.ndarray:
        """Force (N) of this contraction at times ``t_s``; zero outside it."""
        rel = t_s - self.start_s
        out = np.zeros_like(rel)
        on = (rel >= 0) & (rel < self.duration_s)
        r = rel[on]
        rise = 1.0 - np.exp(-r / self.tau_s)
        fatigue = 1.0 - self.fatigue_per_s * r
        tremor = 1.0 + self.tremor_frac * np.sin(2 * np.pi * self.tremor_hz * r) * rise
        out[on] = self.peak_n * rise * fatigue * tremor
        off = rel >= self.duration_s
        if np.any(off):
            held = self.peak_n * (1 - np.exp(-self.duration_s / self.tau_s)) * (1 - self.fatigue_per_s * self.duration_s)
            out[off] = held * np.exp(-(rel[off] - self.duration_s) / self.release_tau_s)
        return out


class ConstantForce:
    """A :class:`ForceSource` holding ``force_n`` (N) on every channel, without noise."""

    def __init__(self, force_n: float, channels: int = 1) -> None:
        self.force_n = force_n
        self.channels = channels

    def sample(self, t_s: np.ndarray) -> np.ndarray:
        return np.full((np.asarray(t_s).size, self.channels), self.force_n)


class ScheduledForces:
    """A thread-safe list of contractions plus baseline noise: a :class:`ForceSource`."""

    def __init__(self, channels: int = 1, *, noise_n: float = 0.35, baseline_n: float = 0.0, seed: int = 0) -> None:
        self.channels = channels
        self.noise_n = noise_n
        self.baseline_n = baseline_n
        self._rng = np.random.default_rng(seed)
        self._items: list[Contraction] = []
        self._lock = threading.Lock()

    def add(self, contraction: Contraction) -> None:
        with self._lock:
            self._items.append(contraction)

    def sample(self, t_s: np.ndarray) -> np.ndarray:
        t_s = np.asarray(t_s, dtype=np.float64)
        out = np.full((t_s.size, self.channels), self.baseline_n, dtype=np.float64)
        with self._lock:
            items = [c for c in self._items if c.start_s <= t_s[-1] and c.start_s + c.duration_s + 1.0 >= t_s[0]] if t_s.size else []
        for c in items:
            out[:, c.channel] += c.force(t_s)
        out += self._rng.normal(0.0, self.noise_n, size=out.shape)
        return out


class RepeatingEfforts:
    """A :class:`ForceSource` for standalone simulators: a contraction every ``period_s``.

    Efforts of ``duration_s`` start ``lead_s`` into each period on every channel, so a
    plain ``station acquire`` of a simulator records something worth looking at.
    """

    def __init__(self, channels: int = 1, *, peak_n: float = 200.0, period_s: float = 8.0, lead_s: float = 2.0,
                 duration_s: float = 4.0, noise_n: float = 0.35, seed: int = 0) -> None:
        self.channels = channels
        self.peak_n, self.period_s, self.lead_s, self.duration_s = peak_n, period_s, lead_s, duration_s
        self.noise_n = noise_n
        self._rng = np.random.default_rng(seed)
        self._t0: float | None = None

    def sample(self, t_s: np.ndarray) -> np.ndarray:
        t_s = np.asarray(t_s, dtype=np.float64)
        if self._t0 is None and t_s.size:
            self._t0 = float(t_s[0])
        rel = (t_s - (self._t0 or 0.0)) % self.period_s - self.lead_s
        shape = Contraction(start_s=0.0, duration_s=self.duration_s, peak_n=self.peak_n)
        base = shape.force(rel)
        out = np.repeat(base[:, None], self.channels, axis=1)
        out += self._rng.normal(0.0, self.noise_n, size=out.shape)
        return out
