"""OpenScale decoder: CSV columns from the menu settings, banner/menu text, device time."""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.openscale import KGF_N, LBF_N, Columns, OpenScaleDecoder, parse_menu
from simulation.openscale import OpenScaleSimulator, banner_text, example_stream, format_lines

ALL = Columns(timestamp=True, raw=True, local_temp=True, remote_temp=True)


def _chunks(decoder: OpenScaleDecoder, data: bytes, cuts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    edges = [0, *sorted(set(c % (len(data) + 1) for c in cuts)), len(data)]
    values, times = [], []
    for a, b in zip(edges, edges[1:], strict=False):
        values.append(decoder.feed(data[a:b]))
        if decoder.t_device_s is not None:
            times.append(decoder.t_device_s)
    return np.concatenate(values), (np.concatenate(times) if times else np.empty(0))


def test_firmware_line_format() -> None:
    # OpenScale.ino loop(): [millis,] weight (decimals), "lbs"/"kg", [raw,] [local temp,]
    # [remote temp: "0," without a sensor], each followed by a comma, then println (CR LF)
    line = format_lines(np.array([1234]), np.array([0.52]), "lbs", 2, raw=np.array([8355808]),
                        local_temp=np.array([24.31]), remote_temp=True)
    assert line == b"1234,0.52,lbs,8355808,24.31,0,\r\n"


@pytest.mark.parametrize("columns", [Columns(), ALL, Columns(False, False, False, False), Columns(True, True, False, False)])
def test_columns_follow_the_settings(columns: Columns) -> None:
    data = example_stream(50, columns=columns)
    d = OpenScaleDecoder(columns)
    v = d.feed(data)
    assert v.size == 50 and d.bad_lines == 0
    assert (d.t_device_s is not None) == columns.timestamp
    if columns.raw:
        c = OpenScaleDecoder(columns, mode="counts")
        counts = c.feed(data)
        assert counts.size == 50 and np.all(counts == np.round(counts))


def test_weight_units() -> None:
    data = b"100,1.00,lbs,24.00,0,\r\n112,1.00,kg,24.00,0,\r\n"
    assert OpenScaleDecoder().feed(data) == pytest.approx([LBF_N, KGF_N])
    assert OpenScaleDecoder().feed(b"100,2.50,kg,24.00,0,\r\n") == pytest.approx([2.5 * KGF_N])


def test_uncalibrated_readings_are_dropped_and_counted() -> None:
    # Arduino's print(float) writes nan, inf or ovf for a scale with calibration factor 0
    d = OpenScaleDecoder(period_s=0.1)
    v = d.feed(b"100,nan,lbs,24.00,0,\r\n200,inf,lbs,24.00,0,\r\n300,ovf,lbs,24.00,0,\r\n400,1.00,lbs,24.00,0,\r\n")
    assert v.size == 1 and d.invalid == 3 and d.bad_lines == 0
    assert d.t_device_s.tolist() == [0.4]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=50_000), max_size=10))
def test_any_split_gives_the_same_values_and_times(cuts: list[int]) -> None:
    data = example_stream(200, columns=ALL, banner=True)
    whole = OpenScaleDecoder(ALL, period_s=1 / 80)
    v = whole.feed(data)
    t = whole.t_device_s
    split = OpenScaleDecoder(ALL, period_s=1 / 80)
    v2, t2 = _chunks(split, data, cuts)
    np.testing.assert_array_equal(v, v2)
    np.testing.assert_array_equal(t, t2)
    assert split.lost == 0 and split.bad_lines == 0


def test_banner_and_menu_are_text_not_errors() -> None:
    sim = OpenScaleSimulator(None)
    data = banner_text() + example_stream(5) + sim.menu_text() + b"Exiting\r\n" + example_stream(5)
    d = OpenScaleDecoder(period_s=1 / 80)
    v = d.feed(data)
    assert v.size == 10
    assert d.bad_lines == 0 and d.lost == 0 and d.garbage_bytes == 0
    assert d.text_lines >= 6 + 20
    assert d.gaps == 0  # the restart of millis after the menu is not a gap


def test_every_single_lost_byte_is_counted() -> None:
    data = example_stream(12)
    reference = set(OpenScaleDecoder().feed(data).tolist())
    last_two = len(b"\n".join(data.split(b"\n")[:10]))
    for cut in range(4, last_two):  # the first reading's millis has nothing to be checked against
        d = OpenScaleDecoder(period_s=1 / 80)
        v = d.feed(data[:cut] + data[cut + 1 :])
        assert v.size + d.lost == 12, cut
        assert np.all(np.diff(d.t_device_s) > 0), cut
        if data[cut : cut + 1] in b"," or data[cut : cut + 1].isalpha():
            assert set(v.tolist()) <= reference, cut


def test_lost_bytes_without_timestamps_count_bad_lines() -> None:
    cols = Columns(timestamp=False)
    data = example_stream(12, columns=cols)
    for cut in range(0, len(b"\n".join(data.split(b"\n")[:10]))):
        d = OpenScaleDecoder(cols, period_s=1 / 80)
        v = d.feed(data[:cut] + data[cut + 1 :])
        assert v.size + d.lost == 12, cut


def test_garbage_costs_one_reading() -> None:
    data = example_stream(30)
    d = OpenScaleDecoder(period_s=1 / 80)
    v = d.feed(data[:200] + b"\x07\xff\x10garb" + data[200:])
    assert v.size == 29 and d.lost == 1 and d.bad_lines == 1 and d.garbage_bytes > 7


def test_gap_in_device_time_is_counted() -> None:
    ms = np.array([1000, 1012, 1025, 1100, 1112])  # 1037..1087 missing: 5 readings at 12.5 ms
    data = format_lines(ms, np.zeros(5), "lbs", 2, local_temp=np.zeros(5), remote_temp=True)
    d = OpenScaleDecoder(period_s=0.0125)
    d.feed(data)
    assert d.gaps == 1 and d.lost == 5


@pytest.mark.parametrize("start", [2**31 - 30, 2**32 - 30])
def test_millis_unwraps(start: int) -> None:
    ms = start + 12 * np.arange(8)
    printed = ((ms + 2**31) % 2**32) - 2**31  # printed as a signed long
    data = format_lines(printed, np.zeros(8), "lbs", 2, local_temp=np.zeros(8), remote_temp=True)
    d = OpenScaleDecoder(period_s=0.012)
    t = np.concatenate([d.feed(data[:100]) * 0 + d.t_device_s, d.feed(data[100:]) * 0 + d.t_device_s])
    assert np.diff(t) == pytest.approx(np.full(7, 0.012))
    assert d.gaps == d.lost == d.restarts == 0


def test_restart_continues_time() -> None:
    ms = np.array([5000, 5012, 5025, 100, 112])
    data = format_lines(ms, np.zeros(5), "lbs", 2, local_temp=np.zeros(5), remote_temp=True)
    d = OpenScaleDecoder(period_s=0.0125)
    d.feed(data)
    assert d.restarts == 1 and d.lost == 0
    assert np.all(np.diff(d.t_device_s) > 0)


def test_parse_menu_reads_every_setting() -> None:
    sim = OpenScaleSimulator(None, unit="kg", raw=True, trigger=True, rate_hz=10)
    menu = parse_menu(b"noise\r\n" + sim.menu_text())
    assert menu is not None
    assert (menu.firmware, menu.unit, menu.raw, menu.trigger, menu.report_ms) == ("1.2", "kg", True, True, 100)
    assert menu.columns == Columns(True, True, True, True)
    assert menu.trigger_char == "!"
    assert parse_menu(b"1234,0.52,lbs,\r\n") is None


def test_decoder_takes_a_whole_read_in_one_call() -> None:
    # 20 000 lines in one feed give the same readings as the stream fed in pieces that cut
    # lines anywhere. How fast (block decode against pyserial readline()): bench_decode in
    # `python -m benchmarks`, never a timed test.
    data = example_stream(20_000)
    whole = OpenScaleDecoder(period_s=1 / 80).feed(data)
    assert whole.size == 20_000
    pieces, _ = _chunks(OpenScaleDecoder(period_s=1 / 80), data, list(range(0, len(data), 997)))
    assert np.array_equal(whole, pieces)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["weight", "counts"]),
    st.lists(st.tuples(st.integers(0, 9000), st.binary(max_size=12), st.integers(0, 3)), max_size=8),
    st.lists(st.integers(0, 9000), max_size=6),
)
def test_corrupted_streams_never_raise(mode: str, edits: list[tuple[int, bytes, int]], cuts: list[int]) -> None:
    data = bytearray(example_stream(200, columns=ALL, banner=True))
    for pos, insert, delete in edits:
        pos %= len(data) + 1
        data[pos : pos + delete] = insert
    d = OpenScaleDecoder(ALL, mode=mode, period_s=1 / 80)
    values, times = _chunks(d, bytes(data), cuts)
    assert np.all(np.isfinite(values)) and values.size == times.size
    assert np.all(np.diff(times) >= 0)
