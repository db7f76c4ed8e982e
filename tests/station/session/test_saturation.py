"""The live saturation watch: a channel beyond its calibrated range, a raw count at the ADC limit."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from station.pipeline import ProcessedBlock
from station.session.saturation import SaturationWatch, raw_limits


def block(device: str, raw: np.ndarray, force: np.ndarray) -> ProcessedBlock:
    return ProcessedBlock(device, np.arange(raw.shape[0]) / 1000.0, raw, force)


def test_raw_limits_from_the_device_or_its_family() -> None:
    assert raw_limits(SimpleNamespace(unit="N", family="mark10", settings={})) is None
    assert raw_limits(SimpleNamespace(unit="counts", family="sfp", settings={})) is None  # unknown converter
    assert raw_limits(SimpleNamespace(unit="counts", family="sfp", settings={"adc_bits": "24"})) == (-2.0**23, 2.0**23 - 1)
    assert raw_limits(SimpleNamespace(unit="counts", family="openscale", settings={})) == (-2.0**23, 2.0**23 - 1)
    assert raw_limits(SimpleNamespace(unit="counts", family="loadstar", settings={"adc_bits": "x"})) == (
        -float(0xFFFFFF), float(0xFFFFFF))


def test_range_hits_use_the_absolute_force_once_per_channel_with_the_largest_value() -> None:
    tare = {"plate": np.array([10.0, 0.0, 0.0, 0.0])}
    w = SaturationWatch({"plate": [0, 1, 2]}, {"plate": [100.0, 100.0, None, 100.0]}, {"plate": None}, tare)
    assert w.active
    zeros = np.zeros((5, 4))
    f = zeros.copy()
    f[2, 0] = 95.0   # + zero 10 N = 105 N absolute: beyond 100 N
    f[3, 1] = -99.0  # within
    f[1, 2] = 5000.0  # channel 2: range unknown, never judged
    f[4, 3] = 500.0   # channel 3 is not in use
    w.on_block(block("plate", zeros, f))
    new = w.take_new()
    assert [(h.channel, h.kind, round(h.value), h.limit) for h in new] == [(0, "range", 105, 100.0)]
    assert w.take_new() == []  # reported once
    f2 = zeros.copy()
    f2[0, 0] = 150.0
    f2[0, 1] = -130.0  # a pull beyond the range counts too
    w.on_block(block("plate", zeros, f2))
    assert [(h.channel, round(h.value)) for h in w.take_new()] == [(1, 130)]
    assert {(h.channel, round(h.value)) for h in w.hits()} == {(0, 160), (1, 130)}
    w.on_block(block("other", zeros, f2 * 100))  # another device: not watched
    assert w.take_new() == []


def test_adc_hits_at_either_end_and_nan_forces_ignored() -> None:
    lo, hi = -(2.0**23), 2.0**23 - 1
    w = SaturationWatch({"cell": [0, 1]}, {}, {"cell": (lo, hi)}, {})
    raw = np.full((4, 2), 1000.0)
    w.on_block(block("cell", raw, np.full((4, 2), np.nan)))
    assert w.take_new() == []
    raw[2, 1] = lo
    raw[3, 0] = hi
    w.on_block(block("cell", raw, np.full((4, 2), np.nan)))
    hits = sorted(w.take_new(), key=lambda h: h.channel)
    assert [(h.channel, h.kind, h.value, h.limit) for h in hits] == [(0, "adc", hi, hi), (1, "adc", lo, lo)]
    assert "ADC limit" in hits[0].describe()


def test_nothing_to_watch_without_ranges_or_limits() -> None:
    assert not SaturationWatch({"d": [0]}, {"d": [None]}, {"d": None}, {}).active
