"""Synthetic force curves with closed-form answers, shared by the analysis tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

#: The shared real traces live beside the repository (CI: ../shared/validation).
VALIDATION_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "validation"


def exp_rise(rate_hz: float = 1000.0, duration_s: float = 4.0, t0_s: float = 1.0,
             baseline_n: float = 50.0, amplitude_n: float = 500.0, tau_s: float = 0.05) -> np.ndarray:
    """Flat baseline, then F = B + A * (1 - exp(-(t - t0) / tau)) from t0 on (noise-free)."""
    t = np.arange(round(duration_s * rate_hz)) / rate_hz
    u = np.clip(t - t0_s, 0.0, None)
    return baseline_n + amplitude_n * -np.expm1(-u / tau_s)


def exp_rfd(amplitude_n: float, tau_s: float, delay_s: float, window_s: float) -> float:
    """(F(t1 + X) - F(t1)) / X for the exponential rise, t1 = t0 + delay."""
    return amplitude_n * np.exp(-delay_s / tau_s) * -np.expm1(-window_s / tau_s) / window_s


def exp_impulse(amplitude_n: float, tau_s: float, delay_s: float, window_s: float) -> float:
    """Integral of (F - B) from t1 = t0 + delay to t1 + X for the exponential rise."""
    return amplitude_n * (window_s - tau_s * np.exp(-delay_s / tau_s) * -np.expm1(-window_s / tau_s))


def hill(rate_hz: float = 1000.0, duration_s: float = 5.0, t0_s: float = 1.5, half_s: float = 1.0,
         baseline_n: float = 20.0, amplitude_n: float = 300.0) -> np.ndarray:
    """Baseline, then B + A * sin^2(pi (t - t0) / (2 T)) for t0 <= t <= t0 + 2T (peak at t0 + T)."""
    t = np.arange(round(duration_s * rate_hz)) / rate_hz
    u = t - t0_s
    inside = (u >= 0) & (u <= 2 * half_s)
    return baseline_n + np.where(inside, amplitude_n * np.sin(np.pi * u / (2 * half_s)) ** 2, 0.0)


def landing(rate_hz: float = 1000.0, duration_s: float = 5.0, contact_s: float = 1.0,
            peak_n: float = 2000.0, rise_s: float = 0.05, decline_s: float = 0.1,
            body_weight_n: float = 700.0, overshoot_n: float = 50.0, settle_tau_s: float = 0.1,
            noise_n: float = 0.0, seed: int = 0) -> np.ndarray:
    """Single landing: 0 N before contact; linear rise to ``peak_n`` over ``rise_s``; linear
    decline to BW + overshoot over ``decline_s``; exponential settling to BW; quiet standing."""
    t = np.arange(round(duration_s * rate_hz)) / rate_hz
    u = t - contact_s
    f = np.zeros_like(t)
    a = (u >= 0) & (u <= rise_s)
    f[a] = peak_n * u[a] / rise_s
    b = (u > rise_s) & (u <= rise_s + decline_s)
    end = body_weight_n + overshoot_n
    f[b] = peak_n + (end - peak_n) * (u[b] - rise_s) / decline_s
    c = u > rise_s + decline_s
    f[c] = body_weight_n + overshoot_n * np.exp(-(u[c] - rise_s - decline_s) / settle_tau_s)
    if noise_n:
        f = f + np.random.default_rng(seed).normal(0.0, noise_n, f.size)
    return f


def drop_jump(rate_hz: float = 1000.0, contact_s: float = 1.0, contact_time_s: float = 0.25,
              flight_s: float = 0.4, body_weight_n: float = 700.0, peak1_n: float = 2500.0,
              peak2_n: float = 1800.0, noise_n: float = 1.0, seed: int = 1) -> np.ndarray:
    """Drop jump: first contact (half-sine), flight (0 N), final landing into quiet standing."""
    rng = np.random.default_rng(seed)
    duration = contact_s + contact_time_s + flight_s + 3.0
    t = np.arange(round(duration * rate_hz)) / rate_hz
    f = np.zeros_like(t)
    u = t - contact_s
    first = (u >= 0) & (u < contact_time_s)
    f[first] = peak1_n * np.sin(np.pi * u[first] / contact_time_s)
    land = contact_s + contact_time_s + flight_s
    f += landing(rate_hz, duration, land, peak2_n, 0.04, 0.1, body_weight_n)
    return f + rng.normal(0.0, noise_n, f.size)
