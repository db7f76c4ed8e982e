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
