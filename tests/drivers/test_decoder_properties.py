"""Property tests for every family's decoder (hypothesis; `DECODER_EXAMPLES=2000` searches harder).

- arbitrary bytes, in any split, never make a decoder raise, and every value it returns is finite;
- a valid stream (written by the independent simulator formatters) with faults injected
  inside some records yields only values that were sent, in order, and the decoder's counters
  account for every fault: ``sent - received == lost_samples`` and one resync per fault.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.base import DECODER_COUNTERS, DriverStats
from drivers.loadstar import LoadstarDecoder
from drivers.mark10 import Mark10Decoder
from drivers.openscale import Columns, OpenScaleDecoder
from drivers.openscale import LBF_N as OPENSCALE_LBF_N
from drivers.sfp import SfpDecoder
from simulation.loadstar import format_h, format_wc
from simulation.openscale import format_lines
from simulation.sfp import sfp_frames

#: examples per property in the default run; DECODER_EXAMPLES=2000 for a thorough search
EXAMPLES = int(os.environ.get("DECODER_EXAMPLES", "30"))

#: bytes that can never be part of a valid record of any family (nor a reply the decoders
#: skip on purpose): inserted into a record, they make it invalid for sure
POISON = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *b"#$%&@!~^|`_=?;:'\"<>{}[]", *range(0x80, 0x100)])


@dataclass(frozen=True)
class Family:
    name: str
    make: Callable[[], Any]
    #: records (one bytes object per sample) and the values the decoder should return for them
    records: Callable[[list[int]], tuple[list[bytes], np.ndarray]]

    def values_of(self, out: Any) -> np.ndarray:
        counts = getattr(out, "counts", None)
        return np.asarray(counts[:, 0] if counts is not None else out, dtype=np.float64)


def _mark10(ints: list[int]) -> tuple[list[bytes], np.ndarray]:
    values = np.asarray(ints, dtype=np.float64) / 100.0
    return [b"%.2f N\r\n" % v for v in values], values


def _loadstar_wc(ints: list[int]) -> tuple[list[bytes], np.ndarray]:
    values = np.asarray(ints, dtype=np.float64) / 10_000.0
    lbf = 4.4482216152605
    return [format_wc(np.array([v])) for v in values], values * lbf


def _loadstar_h(ints: list[int]) -> tuple[list[bytes], np.ndarray]:
    counts = [i for i in ints if i != -1]  # -1 is the vendor's glitch value, dropped on purpose
    counts = counts or [0]
    return [format_h(np.array([c])) for c in counts], np.asarray(counts, dtype=np.float64)


OPENSCALE_COLUMNS = Columns(timestamp=True, raw=False, local_temp=True, remote_temp=True)


def _openscale(ints: list[int]) -> tuple[list[bytes], np.ndarray]:
    weights = np.asarray(ints, dtype=np.float64) / 100.0
    millis = 1500 + np.floor(np.arange(len(ints)) * 12.5).astype(np.int64)
    temps = np.full(len(ints), 24.31)
    records = [format_lines(millis[i : i + 1], weights[i : i + 1], "lbs", 2, local_temp=temps[i : i + 1],
                            remote_temp=True) for i in range(len(ints))]
    return records, weights * OPENSCALE_LBF_N


def _sfp(ints: list[int]) -> tuple[list[bytes], np.ndarray]:
    n = len(ints)
    counts = np.zeros((n, 4), dtype=np.int64)
    counts[:, 0] = ints
    counts[:, 1:] = np.arange(3)
    seq = np.arange(n) + 65_530  # across the 2^16 wrap
    time_us = np.arange(n) * 1000
    return [sfp_frames(seq[i : i + 1], time_us[i : i + 1], counts[i : i + 1]) for i in range(n)], \
        np.asarray(ints, dtype=np.float64)


FAMILIES = [
    Family("mark10", lambda: Mark10Decoder(), _mark10),
    Family("loadstar-wc", lambda: LoadstarDecoder(mode="weight", unit="lb"), _loadstar_wc),
    Family("loadstar-h", lambda: LoadstarDecoder(mode="counts"), _loadstar_h),
    Family("openscale", lambda: OpenScaleDecoder(OPENSCALE_COLUMNS, period_s=1 / 80, decimals=2), _openscale),
    Family("sfp", lambda: SfpDecoder(4, rate_hz=1000.0), _sfp),
]
IDS = [f.name for f in FAMILIES]
RANGES = {"mark10": 999_999, "loadstar-wc": 99_999_999, "loadstar-h": 0xFFFFFF, "openscale": 9_999_999,
          "sfp": 2**31 - 1}


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _feed_all(decoder: Any, family: Family, chunks: list[bytes]) -> np.ndarray:
    outs = [family.values_of(decoder.feed(chunk)) for chunk in chunks]
    return np.concatenate(outs) if outs else np.empty(0)


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
def test_counters_are_named_as_driver_stats(family: Family) -> None:
    counters = family.make().counters()
    assert set(counters) <= set(DECODER_COUNTERS) <= {f.name for f in fields(DriverStats)}
    assert {"resyncs", "garbage_bytes", "lost_samples"} <= set(counters)


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=8))
def test_arbitrary_bytes_never_raise_and_values_are_finite(family: Family, data: bytes, cuts: list[int]) -> None:
    decoder = family.make()
    values = _feed_all(decoder, family, _split(data, cuts))
    assert np.isfinite(values).all()
    assert all(v >= 0 for v in decoder.counters().values())


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_bytes_mixed_into_a_valid_stream_never_raise(family: Family, data: st.DataObject) -> None:
    ints = data.draw(st.lists(st.integers(-RANGES[family.name], RANGES[family.name]), min_size=1, max_size=40))
    records, _ = family.records(ints)
    stream = bytearray(b"".join(records))
    for _ in range(data.draw(st.integers(0, 5))):
        at = data.draw(st.integers(0, len(stream)))
        stream[at:at] = data.draw(st.binary(min_size=1, max_size=300))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    decoder = family.make()
    assert np.isfinite(_feed_all(decoder, family, _split(bytes(stream), cuts))).all()


def _is_subsequence(part: np.ndarray, whole: np.ndarray) -> bool:
    it = iter(whole.tolist())
    return all(any(np.isclose(x, y, rtol=1e-12, atol=1e-9) for y in it) for x in part.tolist())


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_injected_faults_yield_only_sent_values_and_are_all_counted(family: Family, data: st.DataObject) -> None:
    ints = data.draw(st.lists(st.integers(-RANGES[family.name], RANGES[family.name]), min_size=3, max_size=60))
    records, sent = family.records(ints)
    n = len(records)
    # faults inside interior records, never two adjacent (each is its own loss of sync);
    # the first and last stay clean so a lost record shows as a gap between two good ones
    candidates = data.draw(st.lists(st.integers(1, max(1, n - 2)), max_size=max(0, n // 3), unique=True)) \
        if n >= 3 else []
    damaged: list[int] = []
    for i in sorted(candidates):
        if not damaged or i - damaged[-1] >= 2:
            damaged.append(i)
    wire = []
    for i, record in enumerate(records):
        if i in damaged:
            body_end = len(record.rstrip(b"\r\n")) if family.name != "sfp" else len(record)
            at = data.draw(st.integers(0, max(0, body_end - 1)), label=f"position in record {i}")
            poison = data.draw(st.binary(min_size=1, max_size=6).map(lambda b: bytes(POISON[x % len(POISON)] for x in b)))
            record = record[:at] + poison + record[at:]
        wire.append(record)
    stream = b"".join(wire)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    decoder = family.make()
    before = decoder.counters()
    got = _feed_all(decoder, family, _split(stream, cuts))
    after = decoder.counters()
    assert np.isfinite(got).all()
    assert _is_subsequence(got, sent), "a value that was never sent came out"
    lost = after["lost_samples"] - before.get("lost_samples", 0)
    assert sent.size - got.size == lost, f"{sent.size} sent, {got.size} received, {lost} counted lost"
    assert after["resyncs"] - before.get("resyncs", 0) == len(damaged)
    if damaged:
        assert after["garbage_bytes"] > 0
    if not damaged:
        assert np.allclose(got, sent, rtol=1e-12, atol=1e-9)


#: the characters each protocol's records are made of, so hypothesis builds near-valid lines
#: (overlong numbers, stray signs and points, units in odd places), not only random bytes
TOKENS = {
    "mark10": [b"0", b"1", b"9", b"12.34", b"-", b"+", b".", b" ", b"N", b"lbF", b"kN", b"*10", b"R", b"\r\n",
               b"\n", b"\r", b"9" * 30],
    "loadstar-wc": [b" ", b"    ", b"0", b"7", b"123.4567", b"-", b".", b"\r\n", b"\r", b"\n", b"A", b"Tared", b"E",
                    b"9" * 30],
    "loadstar-h": [b" ", b"-", b"0", b"F", b"00C1", b"FFFFFF", b"\r", b"\n", b"A\r\n", b"Tared\r\n", b"E\r\n", b"g"],
    "openscale": [b"1500", b",", b"1.23", b"-", b".", b"lbs", b"kg", b"nan", b"ovf", b"inf", b"24.31", b"0", b"\r\n",
                  b"\n", b"\r", b"9" * 30, b"Readings:", b"x) Exit", b"4294967295"],
    "sfp": [b"\xa5\x5a", b"\x01", b"\x04", b"\x00", b"\xff", b"\x10", b"\x11"],
}


@pytest.mark.parametrize("family", FAMILIES, ids=IDS)
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_near_valid_lines_never_raise_and_values_are_finite(family: Family, data: st.DataObject) -> None:
    tokens = data.draw(st.lists(st.sampled_from(TOKENS[family.name]), max_size=80))
    ints = data.draw(st.lists(st.integers(-RANGES[family.name], RANGES[family.name]), max_size=5))
    records, _ = family.records(ints) if ints else ([], None)
    stream = b"".join(records) + b"".join(tokens) + b"".join(records)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    decoder = family.make()
    values = _feed_all(decoder, family, _split(stream, cuts))
    assert np.isfinite(values).all()
    assert np.abs(values).max(initial=0.0) < 1e12  # no overlong number becomes a value


def test_openscale_overlong_number_is_a_counted_bad_line_and_reading_goes_on() -> None:
    # issue 13: one line with an overlong number stopped the OpenScale reader for good
    from simulation.openscale import example_stream

    decoder = OpenScaleDecoder(OPENSCALE_COLUMNS, period_s=1 / 80, decimals=2)
    assert decoder.feed(example_stream(5)).size == 5
    for bad in (b"2000," + b"9" * 40 + b".12,lbs,24.31,0,\r\n", b"9" * 40 + b",1.12,lbs,24.31,0,\r\n"):
        assert decoder.feed(bad).size == 0
    assert decoder.counters()["resyncs"] == 2
    assert decoder.feed(example_stream(5)).size == 5
