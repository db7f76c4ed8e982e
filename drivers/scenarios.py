"""Force scenarios for simulators: what the load cells 'feel' over time.

A :class:`ForceSource` maps host monotonic times (s) to forces (N) per channel. The
simulated patient schedules isometric contractions (exponential rise to a plateau with
physiological tremor and noise, hold, release); landing scenarios live beside it.
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


class SimulatedPatient:
    """A patient who pushes when cued: strength per side, reaction time, variability.

    Default: the involved right side at 82 % of the left (a typical post-injury deficit).
    ``channel_for_side`` maps a side to a device channel (a fixed frame has one cell per leg;
    a hand-held dynamometer has one channel used for both sides).
    """

    def __init__(
        self,
        forces: ScheduledForces,
        *,
        uninvolved_peak_n: float = 230.0,
        involved_side: str | None = "right",
        involved_ratio: float = 0.82,
        reaction_s: float = 0.30,
        rep_cv: float = 0.04,
        channel_for_side: dict[str, int] | None = None,
        seed: int = 1,
    ) -> None:
        self.forces = forces
        self.uninvolved_peak_n = uninvolved_peak_n
        self.involved_side = involved_side
        self.involved_ratio = involved_ratio
        self.reaction_s = reaction_s
        self.rep_cv = rep_cv
        self.channel_for_side = channel_for_side or {}
        self._rng = np.random.default_rng(seed)

    def peak_for(self, side: str) -> float:
        """Mean peak force (N) this patient produces on ``side``."""
        ratio = self.involved_ratio if side == self.involved_side else 1.0
        return self.uninvolved_peak_n * ratio

    def contract(self, side: str, cue_s: float, duration_s: float) -> Contraction:
        """Respond to a 'go' cue at ``cue_s`` (host monotonic, s) with one effort."""
        sides = ("left", "right") if side == "both" else (side,)
        last: Contraction | None = None
        for s in sides:
            peak = self.peak_for(s) * float(1.0 + self.rep_cv * self._rng.standard_normal())
            last = Contraction(
                start_s=cue_s + self.reaction_s + float(self._rng.uniform(0.0, 0.1)),
                duration_s=duration_s,
                peak_n=peak,
                channel=self.channel_for_side.get(s, 0),
                tau_s=float(self._rng.uniform(0.10, 0.20)),
            )
            self.forces.add(last)
        assert last is not None
        return last


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
