"""Timing of the analysis core: ``python benchmarks/bench_analysis.py [--repeat N] [--check]``.

Budget: analysing a 10 s, 1 kHz isometric trial takes under 2 ms. Prints the median and 95th
percentile time per analysis (timeit, one call per measurement after a warm-up) and the ratio
to the budget, for isometric trials with and without the zero-lag RFD filter and for landings.
``--check`` exits with status 1 if a default isometric analysis is over budget.
"""
from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np

try:
    import station.analysis as an
except ModuleNotFoundError:  # run from a source tree without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import station.analysis as an

BUDGET_S = 2e-3
RATE_HZ = 1000.0


def isometric_trial(seconds: float = 10.0, rate_hz: float = RATE_HZ, seed: int = 0) -> np.ndarray:
    """10 s: 3 s quiet at 40 N, explosive rise to 640 N (tau 80 ms), hold, relax; 1.5 N noise."""
    t = np.arange(round(seconds * rate_hz)) / rate_hz
    rise = 600.0 * -np.expm1(-np.clip(t - 3.0, 0, None) / 0.08)
    relax = np.exp(-np.clip(t - 7.0, 0, None) / 0.15)
    return 40.0 + rise * relax + np.random.default_rng(seed).normal(0.0, 1.5, t.size)


def landing_trial(seconds: float = 5.0, rate_hz: float = RATE_HZ, seed: int = 1) -> np.ndarray:
    """Drop landing at 1 s: 2400 N impact peak, settling to 700 N body weight; 1 N noise."""
    t = np.arange(round(seconds * rate_hz)) / rate_hz
    u = t - 1.0
    f = np.where(u < 0, 0.0, np.where(u < 0.05, 2400 * u / 0.05, 700 + 1700 * np.exp(-(u - 0.05) / 0.06)))
    return f + np.random.default_rng(seed).normal(0.0, 1.0, t.size)


def measure(func, repeat: int) -> np.ndarray:
    for _ in range(20):  # warm-up (filter design cache, allocator)
        func()
    return np.asarray(timeit.repeat(func, number=1, repeat=repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1000, help="measurements per case (default 1000)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the default isometric case is over budget")
    args = parser.parse_args(argv)

    iso = isometric_trial()
    land = landing_trial()
    left, right = 0.45 * land, 0.55 * land
    cases = [
        ("isometric 10 s @1 kHz, default (RFD low-pass 50 Hz)", lambda: an.analyze_isometric(iso, RATE_HZ)),
        ("isometric 10 s @1 kHz, no filter",
         lambda: an.analyze_isometric(iso, RATE_HZ, an.IsometricParams(rfd_filter_hz=None))),
        ("isometric 10 s @1 kHz, both filters (peak 20 Hz + RFD 50 Hz)",
         lambda: an.analyze_isometric(iso, RATE_HZ, an.IsometricParams(filter_hz=20.0))),
        ("landing 5 s @1 kHz, one plate", lambda: an.analyze_landing(land, RATE_HZ)),
        ("landing 5 s @1 kHz, one plate, low-pass 50 Hz",
         lambda: an.analyze_landing(land, RATE_HZ, an.LandingParams(filter_hz=50.0))),
        ("landing 5 s @1 kHz, two plates", lambda: an.analyze_dual_landing(left, right, RATE_HZ)),
        ("lowpass alone, 10 s @1 kHz (sosfiltfilt)", lambda: an.lowpass(iso, RATE_HZ, 50.0)),
    ]
    print(f"station.analysis {an.ALGORITHM_VERSION}, numpy {np.__version__}, {args.repeat} runs per case")
    print(f"{'case':<62} {'median':>9} {'p95':>9} {'median/budget':>14}")
    over = False
    for i, (name, func) in enumerate(cases):
        times = measure(func, args.repeat)
        med, p95 = float(np.median(times)), float(np.percentile(times, 95))
        print(f"{name:<62} {med * 1e3:7.3f}ms {p95 * 1e3:7.3f}ms {med / BUDGET_S:13.2f}x")
        if i == 0 and med > BUDGET_S:
            over = True
    print(f"budget: {BUDGET_S * 1e3:g} ms per 10 s isometric analysis -> {'OVER BUDGET' if over else 'ok'}")
    return 1 if (over and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
