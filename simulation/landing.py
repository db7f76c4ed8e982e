"""A landing on one or two force plates of 4 load cells each: a vectorised ForceSource.

Each landing: the plates are unloaded, then the feet land (vertical force rises to an impact
peak of ``peak_bw`` × body weight in ``rise_s``), the force swings below and above body
weight in a decaying oscillation and settles to quiet standing with a little sway, and
after ``stand_s`` the person steps off. Each plate's load is spread over its 4 cells by its
centre of pressure (CoP), which moves from the forefoot to mid-foot as the heel comes down.

Cell order per plate (looking down, +y towards the front of the plate)::

    0 front-left   1 front-right
    3 back-left    2 back-right

Plate 1 is channels 0-3, plate 2 channels 4-7. Landings start when cued (:meth:`trigger`,
host monotonic time of foot contact) or, with ``auto_period_s``, every period.
"""
from __future__ import annotations

import threading

import numpy as np

#: sign of x (right) and y (front) of each cell of a plate
_CELL_X = np.array([-1.0, 1.0, 1.0, -1.0])
_CELL_Y = np.array([1.0, 1.0, -1.0, -1.0])
_SIDES = ("both", "left", "right")


class LandingScenario:
    """Landings on ``channels // 4`` plates; a :class:`~simulation.forces.ForceSource`.

    ``plate_sides`` says which foot each plate is under: ``"left"``, ``"right"``, or
    ``"both"`` (both feet land on this one plate). Defaults: two plates ``("left", "right")``,
    one plate ``("both",)``. A bilateral landing (``side="both"``) loads the left foot with
    ``(1 + asymmetry) / 2`` of the total and the right foot with the rest, the right foot
    touching down ``foot_delay_s`` after the left; a single-leg landing (``side="left"`` or
    ``"right"``) puts the whole load on that foot (and more sway in stance).
    """

    def __init__(
        self,
        channels: int = 8,
        *,
        body_weight_n: float = 700.0,
        peak_bw: float = 3.5,
        rise_s: float = 0.05,
        asymmetry: float = 0.08,
        foot_delay_s: float = 0.005,
        stand_s: float = 9.0,
        step_off_s: float = 0.4,
        plate_sides: tuple[str, ...] | None = None,
        auto_period_s: float | None = None,
        auto_lead_s: float = 1.0,
        peak_cv: float = 0.06,
        noise_n: float = 0.5,
        seed: int = 0,
    ) -> None:
        if channels not in (4, 8):
            raise ValueError(f"a landing needs 4 or 8 channels (1 or 2 plates of 4 cells), got {channels}")
        if not -1.0 < asymmetry < 1.0:
            raise ValueError(f"asymmetry must be between -1 and 1, got {asymmetry:g}")
        if body_weight_n <= 0 or peak_bw <= 1 or rise_s <= 0:
            raise ValueError("body weight and rise time must be > 0 and the peak > 1 body weight")
        if auto_period_s is not None and auto_period_s <= 2 * step_off_s + 1.0:
            raise ValueError(f"auto period must exceed {2 * step_off_s + 1.0:g} s, got {auto_period_s:g}")
        self.channels = channels
        self.plates = channels // 4
        self.plate_sides = tuple(plate_sides) if plate_sides else (("left", "right") if self.plates == 2 else ("both",))
        if len(self.plate_sides) != self.plates or any(s not in _SIDES for s in self.plate_sides):
            raise ValueError(f"plate_sides must name {self.plates} of {_SIDES}, got {self.plate_sides}")
        self.body_weight_n, self.peak_bw, self.rise_s = body_weight_n, peak_bw, rise_s
        self.asymmetry, self.foot_delay_s = asymmetry, foot_delay_s
        self.stand_s, self.step_off_s = stand_s, step_off_s
        self.auto_period_s, self.auto_lead_s = auto_period_s, auto_lead_s
        self.peak_cv, self.noise_n = peak_cv, noise_n
        self.seed = seed
        self._rng = np.random.default_rng(seed)  # noise, used by sample() only
        self._trial_rng = np.random.default_rng(seed + 1)  # per-landing peak, used by trigger()
        self._lock = threading.Lock()
        self._starts = np.empty(0)
        self._side_codes = np.empty(0, dtype=np.int64)
        self._factors = np.empty(0)
        self._t0: float | None = None

    # -- cues ---------------------------------------------------------------------------
    def trigger(self, at_s: float, side: str = "both") -> None:
        """Schedule a landing with foot contact at host monotonic time ``at_s`` (s)."""
        if side not in _SIDES:
            raise ValueError(f"side must be one of {_SIDES}, got {side!r}")
        with self._lock:
            factor = 1.0 + self.peak_cv * float(self._trial_rng.standard_normal())
            order = np.argsort(np.append(self._starts, at_s), kind="stable")
            self._starts = np.append(self._starts, at_s)[order]
            self._side_codes = np.append(self._side_codes, _SIDES.index(side))[order]
            self._factors = np.append(self._factors, factor)[order]

    def landing_times(self) -> list[float]:
        """Contact times (s) of the cued landings."""
        with self._lock:
            return self._starts.tolist()

    # -- shape ---------------------------------------------------------------------------
    def profile(self, rel_s: np.ndarray, single_leg: np.ndarray | bool = False,
                peak_factor: np.ndarray | float = 1.0) -> np.ndarray:
        """Vertical force in body weights ``rel_s`` s after contact (0 before); the impact
        peak is ``peak_bw × peak_factor``, quiet standing 1."""
        rel = np.asarray(rel_s, dtype=np.float64)
        single = np.broadcast_to(np.asarray(single_leg, dtype=bool), rel.shape)
        r = np.maximum(rel, 0.0)
        tp = self.rise_s
        base = 1.0 - np.exp(-r / (tp / 5.0))
        alpha = (r / tp) * np.exp(1.0 - r / tp)  # 1 at the peak time
        after = np.maximum(r - tp, 0.0)
        freq = np.where(single, 2.0, 3.0)
        tau = np.where(single, 0.5, 0.25)
        amp = np.where(single, 0.30, 0.35)
        osc = -amp * np.exp(-after / tau) * np.sin(2 * np.pi * freq * after)
        sway_amp = np.where(single, 0.02, 0.006)
        sway = sway_amp * (np.sin(2 * np.pi * 0.31 * r) + 0.6 * np.sin(2 * np.pi * 0.73 * r + 1.0)) * (1 - np.exp(-r / 0.5))
        out = base + (self.peak_bw * np.asarray(peak_factor) - 1.0) * alpha + osc + sway
        return np.where(rel >= 0, out, 0.0)

    def _active(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per sample: time since contact of the latest landing (NaN: none), side code, peak
        factor and stance length (s)."""
        rel = np.full(t.shape, np.nan)
        side = np.zeros(t.shape, dtype=np.int64)
        factor = np.ones(t.shape)
        stance = np.full(t.shape, self.stand_s)
        with self._lock:
            starts, codes, factors = self._starts, self._side_codes, self._factors
        if starts.size:
            i = np.searchsorted(starts, t, side="right") - 1
            ok = i >= 0
            j = np.maximum(i, 0)
            rel = np.where(ok, t - starts[j], np.nan)
            side = np.where(ok, codes[j], 0)
            factor = np.where(ok, factors[j], 1.0)
            next_start = np.append(starts[1:], np.inf)[j]
            stance = np.clip(next_start - starts[j] - self.step_off_s - 0.2, 0.0, self.stand_s)
        if self.auto_period_s:
            p = self.auto_period_s
            rel_auto = t - (self._t0 or 0.0) - self.auto_lead_s
            k = np.floor(rel_auto / p)
            rel_auto = np.where(rel_auto >= 0, rel_auto - k * p, np.nan)
            use = np.isfinite(rel_auto) & ~(rel <= rel_auto)  # the more recent landing wins
            rel = np.where(use, rel_auto, rel)
            side = np.where(use, 0, side)
            factor = np.where(use, 1.0 + self.peak_cv * np.sin(2.4 * k + self.seed), factor)
            stance = np.where(use, min(self.stand_s, 0.7 * p), stance)
        return rel, side, factor, stance

    def sample(self, t_s: np.ndarray) -> np.ndarray:
        """Forces (N), shape (len(t_s), channels), at host monotonic times ``t_s``."""
        t = np.asarray(t_s, dtype=np.float64)
        if self._t0 is None and t.size:
            self._t0 = float(t[0])
        rel, side, factor, stance = self._active(t)
        landed = np.isfinite(rel)
        rel0 = np.where(landed, rel, -1.0)
        share_left = (1.0 + self.asymmetry) / 2.0
        # step off: a raised-cosine ramp to zero after the stance
        x = np.clip((rel0 - stance) / self.step_off_s, 0.0, 1.0)
        off = 0.5 * (1.0 + np.cos(np.pi * x))
        out = np.empty((t.size, self.channels))
        for p, plate_side in enumerate(self.plate_sides):
            if plate_side == "both":
                share = np.ones(t.size)
                delay = np.zeros(t.size)
            else:
                own = 1 if plate_side == "left" else 2
                share = np.where(side == 0, share_left if own == 1 else 1.0 - share_left, (side == own).astype(float))
                delay = np.where((side == 0) & (own == 2), self.foot_delay_s, 0.0)
            r = rel0 - delay
            single = side != 0
            force = self.body_weight_n * share * off * self.profile(r, single, factor)
            force = np.where(landed & (r >= 0), force, 0.0)
            # centre of pressure (normalised to the cell positions): forefoot first, then mid-foot
            rp = np.maximum(r, 0.0)
            cop_y = 0.45 * np.exp(-rp / self.rise_s) - 0.05 + 0.03 * np.sin(2 * np.pi * 0.4 * rp)
            cop_x = 0.05 * np.sin(2 * np.pi * 0.27 * rp + p) * np.where(single, 2.0, 1.0)
            weights = (1.0 + _CELL_X[None, :] * cop_x[:, None]) * (1.0 + _CELL_Y[None, :] * cop_y[:, None]) / 4.0
            out[:, 4 * p : 4 * p + 4] = force[:, None] * weights
        if self.noise_n:
            out += self._rng.normal(0.0, self.noise_n, size=out.shape)
        return out
