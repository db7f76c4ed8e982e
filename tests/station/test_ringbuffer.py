"""Ring buffer: newest rows kept in order across wrap-around."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from station.ringbuffer import RingBuffer


def test_latest_returns_newest_rows_in_order_after_wrap() -> None:
    rb = RingBuffer(5, 2)
    for start in range(0, 12, 3):
        t = np.arange(start, start + 3, dtype=float)
        rb.append(t, np.column_stack([t, -t]))
    t, v = rb.latest()
    assert t.tolist() == [7, 8, 9, 10, 11]
    assert v[:, 1].tolist() == [-7, -8, -9, -10, -11]
    assert rb.total == 12
    assert rb.latest(2)[0].tolist() == [10, 11]


@given(st.lists(st.integers(min_value=0, max_value=30), max_size=20), st.integers(min_value=1, max_value=17))
def test_matches_the_tail_of_everything_appended(sizes: list[int], capacity: int) -> None:
    rb = RingBuffer(capacity, 1)
    everything: list[float] = []
    for n in sizes:
        t = np.arange(len(everything), len(everything) + n, dtype=float)
        rb.append(t, t[:, None])
        everything.extend(t.tolist())
    t, v = rb.latest()
    assert t.tolist() == everything[-capacity:] if everything else t.size == 0
    assert np.array_equal(t, v[:, 0])


def test_since_returns_only_new_rows_and_the_new_total() -> None:
    rb = RingBuffer(8, 1)
    t, v, seen = rb.since(0)
    assert t.size == 0 and seen == 0
    rb.append(np.arange(3.0), np.arange(3.0)[:, None])
    t, v, seen = rb.since(seen)
    assert t.tolist() == [0, 1, 2] and seen == 3
    t, _, seen2 = rb.since(seen)
    assert t.size == 0 and seen2 == 3
    rb.append(np.arange(3.0, 5.0), np.arange(3.0, 5.0)[:, None])
    t, v, seen = rb.since(seen)
    assert t.tolist() == [3, 4] and v[:, 0].tolist() == [3, 4] and seen == 5
    rb.append(np.arange(5.0, 25.0), np.arange(5.0, 25.0)[:, None])  # more than the buffer holds
    t, _, now = rb.since(seen)
    assert t.tolist() == list(range(17, 25)) and now == 25
    assert now - seen - t.size == 12  # rows the reader missed
    assert rb.since(100)[0].size == 0


@given(st.lists(st.integers(min_value=0, max_value=12), max_size=20), st.integers(min_value=1, max_value=17))
def test_since_pieces_add_up_to_everything_when_read_often(sizes: list[int], capacity: int) -> None:
    rb = RingBuffer(capacity, 1)
    got: list[float] = []
    seen = 0
    appended = 0
    for n in sizes:
        n = min(n, capacity)  # a reader that keeps up
        t = np.arange(appended, appended + n, dtype=float)
        rb.append(t, t[:, None])
        appended += n
        part, values, seen = rb.since(seen)
        assert np.array_equal(part, values[:, 0])
        got.extend(part.tolist())
    assert got == list(map(float, range(appended)))
