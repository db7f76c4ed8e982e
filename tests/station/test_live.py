"""Live onset/peak: baseline before arming, onset at the first crossing, running peak."""
from __future__ import annotations

import numpy as np
import pytest

from station.live import LiveOnsetPeak


def test_onset_and_peak_on_a_ramp() -> None:
    rng = np.random.default_rng(0)
    rate = 1000.0
    det = LiveOnsetPeak(k=3.0, floor_n=2.0)
    quiet_t = np.arange(0, 1.0, 1 / rate)
    det.update(quiet_t, 10 + rng.normal(0, 0.5, quiet_t.size))
    det.arm()
    t = np.arange(1.0, 2.0, 1 / rate)
    f = 10 + np.clip((t - 1.2) * 500, 0, None)  # rises at 500 N/s from t = 1.2 s
    for i in range(0, t.size, 37):  # blocks of odd size
        det.update(t[i : i + 37], f[i : i + 37])
    s = det.state()
    assert s.baseline_n == pytest.approx(10, abs=0.1)
    # threshold = baseline + max(3 SD, 2 N) ≈ 12 N → crossed 4 ms after the rise starts
    assert s.onset_t_s == pytest.approx(1.204, abs=0.002)
    assert s.peak_n == pytest.approx(f.max())


def test_no_onset_without_a_rise_and_reset() -> None:
    det = LiveOnsetPeak(floor_n=5.0)
    det.update(np.arange(100.0), np.zeros(100))
    det.arm()
    det.update(np.arange(100.0, 200.0), np.full(100, 3.0))
    assert det.state().onset_t_s is None
    det.reset()
    assert det.state().samples == 0
