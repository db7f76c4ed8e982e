"""The live plot reads only new samples from ring buffers and draws them peak-downsampled."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from station.gui.plot import LivePlot, TraceSource, read_new  # noqa: E402
from station.ringbuffer import RingBuffer  # noqa: E402


def test_read_new_returns_each_row_once_while_a_writer_appends() -> None:
    ring = RingBuffer(5000, 2)
    stop = threading.Event()

    def writer() -> None:
        k = 0
        while not stop.is_set() and k < 400:
            t = (k * 10 + np.arange(10)) / 1000.0 + 1.0
            ring.append(t, np.column_stack([t, -t]))
            k += 1
            time.sleep(0.0005)

    th = threading.Thread(target=writer)
    th.start()
    got = []
    last_t, seen = -np.inf, 0
    while th.is_alive() or seen < ring.total:
        t, v, seen = read_new(ring, last_t, seen)
        if t.size:
            last_t = float(t[-1])
            got.append(t)
    stop.set()
    th.join()
    all_t = np.concatenate(got)
    assert all_t.size == 4000
    assert np.all(np.diff(all_t) > 0)


def test_plot_holds_the_window_of_summed_channels_without_symbols(qtbot) -> None:
    plot = LivePlot(window_s=2.0)
    qtbot.addWidget(plot)
    ring = RingBuffer(20000, 4)
    plot.set_sources([TraceSource("Left", ring, (0, 1, 2, 3), "#0072B2", 1000.0)])
    t = 10.0 + np.arange(5000) / 1000.0
    ring.append(t[:3000], np.ones((3000, 4)))
    plot.refresh()
    ring.append(t[3000:], 2 * np.ones((2000, 4)))
    plot.arm(t[3500])
    plot.refresh()
    x, y = plot.window_data(0)
    assert x.size == int(2.0 * 1000 * 1.05) + 16  # the last window_s (+5 %) only
    assert np.all(np.diff(x) > 0)
    assert y[-1] == 8.0 and plot.peaks == {"Left": 8.0}
    curve = plot._curves[0]
    assert curve.opts["symbol"] is None
    assert curve.opts["downsampleMethod"] == "peak" and curve.opts["autoDownsample"] and curve.opts["clipToView"]


def test_body_weight_units(qtbot) -> None:
    plot = LivePlot(window_s=1.0)
    qtbot.addWidget(plot)
    ring = RingBuffer(2000, 1)
    plot.set_body_weight(700.0)
    plot.set_sources([TraceSource("dyn", ring, (0,), "#009E73", 1000.0)])
    ring.append(np.arange(100) / 1000.0 + 1, np.full((100, 1), 1400.0))
    plot.refresh()
    _, y = plot.window_data(0)
    assert np.allclose(y, 2.0)
