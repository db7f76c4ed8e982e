"""Loadstar decoders: WC lines and H hex records, any split, damage accounted exactly."""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.base import DeviceError
from drivers.loadstar import LBF_N, LoadstarDecoder, unit_factor
from simulation.loadstar import example_stream, format_h, format_wc


def _feed_chunks(decoder: LoadstarDecoder, data: bytes, cuts: list[int]) -> np.ndarray:
    edges = [0, *sorted(set(c % (len(data) + 1) for c in cuts)), len(data)]
    parts = [decoder.feed(data[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    return np.concatenate(parts) if parts else np.empty(0)


def test_weight_stream_decodes_to_newtons() -> None:
    values_lb = np.array([0.0, 3.04, -0.000456, 12.3456, -150.25, 9999.9999])
    out = LoadstarDecoder(mode="weight", unit="LB").feed(format_wc(values_lb))
    assert out == pytest.approx(np.round(values_lb, 4) * LBF_N)


def test_wc_format_is_the_documented_fixed_width() -> None:
    # Loadstar "DI-1000UHS-1K Output Formats": WC output format is %12.4f
    assert format_wc(np.array([3.04])) == b"      3.0400\r\n"
    assert format_wc(np.array([-0.000456])) == b"     -0.0005\r\n"


def test_h_record_matches_vendor_example() -> None:
    # Loadstar "DI-1000UHS-1K Output Formats": "the raw counts of -193 will be displayed as
    # -0000C1"; positive values get a space; records end with a CR only (no LF)
    assert format_h(np.array([-193, 193])) == b"-0000C1\r 0000C1\r"
    assert LoadstarDecoder(mode="counts").feed(b"-0000C1\r 0000C1\r 7FFFFF\r").tolist() == [-193, 193, 0x7FFFFF]


def test_h_decoder_accepts_lower_case_hex_and_ignores_lf() -> None:
    d = LoadstarDecoder(mode="counts")
    assert d.feed(b" 00abcd\r\n-00ABCD\r").tolist() == [0xABCD, -0xABCD]
    assert d.bad_lines == 0


def test_h_minus_one_is_ignored_and_counted() -> None:
    # vendor: "Occasionally, the DI-1000HS-1K will output a -1 as the raw count. Just ignore this value."
    d = LoadstarDecoder(mode="counts")
    assert d.feed(b" 000010\r-000001\r 000011\r").tolist() == [16, 17]
    assert d.glitches == 1 and d.lost == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12), st.sampled_from(["weight", "counts"]))
def test_any_split_gives_the_same_values(cuts: list[int], mode: str) -> None:
    data = example_stream(300, mode=mode)
    whole = LoadstarDecoder(mode=mode).feed(data)
    split = _feed_chunks(LoadstarDecoder(mode=mode), data, cuts)
    assert whole.size == 300
    np.testing.assert_array_equal(split, whole)


@pytest.mark.parametrize(("mode", "record"), [("weight", 14), ("counts", 8)])
def test_every_single_lost_byte_costs_exactly_the_damaged_readings(mode: str, record: int) -> None:
    data = example_stream(12, mode=mode)
    reference = set(LoadstarDecoder(mode=mode).feed(data).tolist())
    for cut in range(10 * record):
        d = LoadstarDecoder(mode=mode)
        values = d.feed(data[:cut] + data[cut + 1 :])
        assert values.size + d.lost == 12, cut
        assert set(values.tolist()) <= reference, cut  # never a wrong value
        assert d.bad_lines >= 1, cut


@pytest.mark.parametrize("mode", ["weight", "counts"])
def test_garbage_in_front_of_a_record_is_skipped_and_the_record_salvaged(mode: str) -> None:
    data = example_stream(20, mode=mode)
    d = LoadstarDecoder(mode=mode)
    values = d.feed(b"\x00\xff#junk?" + data)
    assert values.size == 20 and d.lost == 0
    assert d.bad_lines == 1 and d.garbage_bytes == 8


@pytest.mark.parametrize("mode", ["weight", "counts"])
def test_random_garbage_resyncs(mode: str) -> None:
    data = example_stream(50, mode=mode)
    junk = np.random.default_rng(3).integers(0, 256, 200, dtype=np.uint8).tobytes()
    d = LoadstarDecoder(mode=mode)
    values = d.feed(data[:140] + junk + data[140:])
    assert d.bad_lines >= 1 and d.garbage_bytes > 0
    assert values.size >= 48


def test_replies_in_a_stream_are_not_garbage() -> None:
    data = example_stream(4)
    d = LoadstarDecoder()
    values = d.feed(data[:28] + b"Tared\r\nA\r\nE\r\n" + data[28:])
    assert values.size == 4
    assert d.bad_lines == 0 and d.garbage_bytes == 0 and d.acks == 2
    assert d.device_errors == ["E"]
    c = LoadstarDecoder(mode="counts")
    assert c.feed(b" 000001\rTared\r\n 000002\r").tolist() == [1, 2] and c.acks == 1 and c.bad_lines == 0


def test_plain_numbers_are_accepted_in_weight_mode() -> None:
    # the documented W replies "3.04" and "-0.000456" are unpadded numbers
    assert LoadstarDecoder(unit="N").feed(b"3.04\r\n-0.000456\r\n").tolist() == [3.04, -0.000456]


def test_a_runaway_line_is_bounded() -> None:
    d = LoadstarDecoder()
    assert d.feed(b"x" * 20_000).size == 0
    assert d.garbage_bytes > 10_000
    assert d.feed(b"\r\n" + example_stream(3)).size == 3


@pytest.mark.parametrize("unit", ["LB", "lb", "lbf", "Kg", "kgf", "N", "kN", "oz", "g"])
def test_force_units(unit: str) -> None:
    assert unit_factor(unit) > 0


def test_unsupported_unit_names_port_and_unit() -> None:
    with pytest.raises(DeviceError, match=r"/dev/ttyUSB7: unsupported unit 'psi'"):
        unit_factor("psi", "/dev/ttyUSB7")


def test_decoder_takes_a_whole_read_in_one_call() -> None:
    # 20 000 lines in one feed give the same readings as the stream fed in pieces that cut
    # lines anywhere, in both output modes. How fast (block decode against pyserial
    # readline()): bench_decode in `python -m benchmarks`, never a timed test.
    for mode in ("weight", "counts"):
        data = example_stream(20_000, mode=mode)
        whole = LoadstarDecoder(mode=mode).feed(data)
        assert whole.size == 20_000
        decoder = LoadstarDecoder(mode=mode)
        pieces = np.concatenate([decoder.feed(data[i:i + 997]) for i in range(0, len(data), 997)])
        assert np.array_equal(whole, pieces)


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from(["weight", "counts"]),
    st.lists(st.tuples(st.integers(0, 5000), st.binary(max_size=12), st.integers(0, 3)), max_size=8),
    st.lists(st.integers(0, 5000), max_size=6),
)
def test_corrupted_streams_never_raise(mode: str, edits: list[tuple[int, bytes, int]], cuts: list[int]) -> None:
    data = bytearray(example_stream(200, mode=mode))
    for pos, insert, delete in edits:
        pos %= len(data) + 1
        data[pos : pos + delete] = insert
    d = LoadstarDecoder(mode=mode)
    values = _feed_chunks(d, bytes(data), cuts)
    assert np.all(np.isfinite(values))
    assert values.size >= 200 - 2 * len(edits)  # an edit damages at most the two records it touches
    if mode == "counts":
        assert np.all(np.abs(values) <= 0xFFFFFF)
