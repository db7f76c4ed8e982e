"""The live force plot: ring buffers read on a timer, only new samples, peak-downsampled.

Each trace is the sum of some channels of one device's ring buffer (a side of a plate, or the
dynamometer channel). A QTimer on the GUI thread copies the rows appended since the last frame
into a fixed-size local window, and pyqtgraph draws it with peak downsampling and clipping to
the view; live curves never draw symbols. Overlays: the onset marker, the running peak line
with its value and the target line (this side's best so far). Forces in N, or in body
weights when a body weight is set.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QPaintEvent

from station.gui.theme import Theme, side_colour, status_colour
from station.ringbuffer import RingBuffer


@dataclass(frozen=True)
class TraceSource:
    """One curve: ``channels`` of ``ring`` summed (N), drawn in ``colour``."""

    label: str
    ring: RingBuffer
    channels: tuple[int, ...]
    colour: str
    rate_hz: float


def read_new(ring: RingBuffer, after_t: float, seen_total: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows appended to ``ring`` since ``seen_total`` (times > ``after_t``); returns (t, values, total).

    Uses the ring's ``since(total)`` when it has one; otherwise copies only the newest rows
    (their count from the ring's total) and drops any already seen by their timestamp.
    """
    since = getattr(ring, "since", None)
    if since is not None:
        t, v, total = since(seen_total)
        return t, v, total
    total = ring.total
    new = total - seen_total
    if new <= 0:
        return np.empty(0), np.empty((0, ring.channels)), total
    t, v = ring.latest(new + 8)  # rows appended while reading are caught by the time filter
    keep = t > after_t
    return t[keep], v[keep], total


#: Live curve width (px). Wider pens take Qt's slow raster path: 2 px is the widest that keeps
#: two 2 kHz plates above 30 frames/s on a software-rendered display (benchmarks/bench_gui.py).
LINE_WIDTH = 2.0
#: Samples per pixel column drawn (pyqtgraph's default is 5). With peak downsampling every
#: column keeps its minimum and maximum, so no spike is hidden; fewer points draw faster.
DOWNSAMPLE_FACTOR = 0.5


class _Window:
    """A fixed-capacity rolling window of (t, force) for one trace."""

    def __init__(self, capacity: int) -> None:
        self.t = np.empty(capacity)
        self.f = np.empty(capacity)
        self.n = 0

    def extend(self, t: np.ndarray, f: np.ndarray) -> None:
        cap = self.t.size
        k = t.size
        if k >= cap:
            self.t[:], self.f[:], self.n = t[-cap:], f[-cap:], cap
            return
        if self.n + k > cap:
            drop = self.n + k - cap
            self.t[: self.n - drop] = self.t[drop : self.n]
            self.f[: self.n - drop] = self.f[drop : self.n]
            self.n -= drop
        self.t[self.n : self.n + k] = t
        self.f[self.n : self.n + k] = f
        self.n += k


class LivePlot(pg.PlotWidget):
    """A scrolling force–time plot of one or more :class:`TraceSource` (pulls on a QTimer)."""

    peaks_changed = Signal(dict)  # label → running peak (N) since arm()

    def __init__(self, *, window_s: float = 10.0, fps: float = 60.0, foreground: str = "#30343b",
                 background: str = "#ffffff", parent=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(parent=parent, background=background)
        self.window_s = window_s
        self.body_weight_n: float | None = None
        self._fg = foreground
        self.plotItem.setMenuEnabled(False)
        self.plotItem.hideButtons()
        self.setMouseEnabled(x=False, y=False)
        self.plotItem.showGrid(x=True, y=True, alpha=0.15)
        self.plotItem.setLabel("bottom", "time before now", units="s")
        # x is time relative to the newest sample, so the axes stay still while the trace
        # scrolls: they are painted from a cached pixmap instead of re-rendered every frame
        self.plotItem.setXRange(-window_s, 0.0, padding=0)
        self.plotItem.disableAutoRange()
        self._y_range = (0.0, 0.0)
        self._set_y_label()
        self.legend = self.plotItem.addLegend(offset=(10, 10), labelTextSize="14pt", labelTextColor=foreground)
        self._tick_font = pg.QtGui.QFont()  # kept: the axes hold no reference of their own
        self._tick_font.setPointSize(12)
        for axis in ("left", "bottom"):
            ax = self.plotItem.getAxis(axis)
            ax.setPen(foreground)
            ax.setTextPen(foreground)
            ax.setStyle(tickFont=self._tick_font)
            ax.setCacheMode(pg.QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
            ax.enableAutoSIPrefix(False)  # forces in N, never kN
        self.sources: list[TraceSource] = []
        self._curves: list[pg.PlotDataItem] = []
        self._windows: list[_Window] = []
        self._seen: list[tuple[float, int]] = []
        self.t_ref = time.monotonic()
        self._arm_t: float | None = None
        self._onset_t: float | None = None
        self.peaks: dict[str, float] = {}
        self.onset_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(foreground, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
                                          label="onset", labelOpts={"position": 0.95, "color": foreground, "fill": background})
        peak_colour, target_colour = status_colour("bad"), status_colour("ok")  # the active theme's shades
        self.peak_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(peak_colour, width=2),
                                         label="peak {value:.0f}", labelOpts={"position": 0.55, "color": peak_colour, "fill": background})
        self.target_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(target_colour, width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
                                           label="target", labelOpts={"position": 0.8, "color": target_colour, "fill": background})
        for line in (self.onset_line, self.peak_line, self.target_line):
            line.setVisible(False)
            self.plotItem.addItem(line, ignoreBounds=True)
        self.frames = 0
        self.latencies_s: list[float] = []  # newest sample's host time → painted, per frame
        self.measure_latency = False
        self._newest_t = 0.0
        self._painted_t = 0.0
        self.timer = QTimer(self)
        self.timer.setInterval(max(1, int(1000 / fps)))
        self.timer.timeout.connect(self.refresh)

    # -- configuration ----------------------------------------------------------------------
    def restyle(self, theme: Theme) -> None:
        """Background, axes and marker colours of ``theme`` (the traces follow at their next recolour)."""
        self.setBackground(theme.plot_bg)
        self._fg = theme.plot_fg
        for axis in ("left", "bottom"):
            ax = self.plotItem.getAxis(axis)
            ax.setPen(theme.plot_fg)
            ax.setTextPen(theme.plot_fg)
        dash = pg.QtCore.Qt.PenStyle.DashLine
        for line, colour, style in ((self.onset_line, theme.plot_fg, dash), (self.peak_line, theme.bad, None),
                                    (self.target_line, theme.ok, dash)):
            line.setPen(pg.mkPen(colour, width=2, **({"style": style} if style else {})))
            line.label.setColor(colour)
            line.label.fill = pg.mkBrush(theme.plot_bg)
        for i, src in enumerate(self.sources):
            side = {"left": "left", "right": "right"}.get(src.label.split(" ")[0].lower(), "")
            if side:
                self.recolour(i, side_colour(side, theme), src.label)

    def _set_y_label(self) -> None:
        self.plotItem.setLabel("left", "force", units="× BW" if self.body_weight_n else "N")
        if self.body_weight_n:
            self.plotItem.getAxis("left").enableAutoSIPrefix(False)

    def set_body_weight(self, body_weight_n: float | None) -> None:
        """Show forces in body weights (``body_weight_n`` N = 1) or, with None, in newtons."""
        self.body_weight_n = body_weight_n
        self._set_y_label()
        self.peak_line.label.setFormat("peak {value:.2f}" if body_weight_n else "peak {value:.0f}")

    def set_sources(self, sources: list[TraceSource]) -> None:
        for c in self._curves:
            self.plotItem.removeItem(c)
        self.legend.clear()
        self.sources = list(sources)
        self._curves, self._windows, self._seen = [], [], []
        for s in self.sources:
            curve = self.plotItem.plot(pen=pg.mkPen(s.colour, width=LINE_WIDTH), name=s.label, symbol=None)
            curve.setDownsampling(auto=True, method="peak")
            curve.opts["autoDownsampleFactor"] = DOWNSAMPLE_FACTOR
            curve.setClipToView(True)
            curve.setSkipFiniteCheck(True)
            self._curves.append(curve)
            self._windows.append(_Window(int(self.window_s * s.rate_hz * 1.05) + 16))
            self._seen.append((-np.inf, 0))
        self.peaks = {}
        self._y_range = (0.0, 0.0)
        self.refresh()

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    # -- trial markers ----------------------------------------------------------------------
    def arm(self, t_host_s: float) -> None:
        """Start the running peak from ``t_host_s`` (the go cue, host monotonic s)."""
        self._arm_t = t_host_s
        self.peaks = {}
        self._onset_t = None
        self.onset_line.setVisible(False)
        self.peak_line.setVisible(False)

    def disarm(self) -> None:
        """Stop the running peak; the markers stay until :meth:`clear_markers` (the next trial)."""
        self._arm_t = None

    def recolour(self, i: int, colour: str, label: str) -> None:
        """Trace ``i`` in another colour and name (a shared dynamometer: the side being tested)."""
        self._curves[i].setPen(pg.mkPen(colour, width=LINE_WIDTH))
        self.legend.removeItem(self._curves[i])
        self.legend.addItem(self._curves[i], label)

    def clear_markers(self) -> None:
        self._onset_t = None
        self.onset_line.setVisible(False)
        self.peak_line.setVisible(False)
        self.peaks = {}

    def set_onset(self, t_host_s: float | None) -> None:
        if t_host_s is None:
            self.onset_line.setVisible(False)
            return
        self._onset_t = t_host_s
        self.onset_line.setVisible(True)

    def set_target(self, force_n: float | None, label: str = "target") -> None:
        if force_n is None:
            self.target_line.setVisible(False)
            return
        self.target_line.label.setFormat(f"{label} {{value:.{2 if self.body_weight_n else 0}f}}")
        self.target_line.setValue(self._scale(force_n))
        self.target_line.setVisible(True)
        self.target_line.label.valueChanged()  # a hidden label ignores value changes: refresh its text

    def _scale(self, force_n: float) -> float:
        return force_n / self.body_weight_n if self.body_weight_n else force_n

    # -- the frame --------------------------------------------------------------------------
    def refresh(self) -> None:
        """Fetch new samples from every ring buffer and redraw (the QTimer's slot)."""
        newest = self._newest_t
        peaks_changed = False
        for i, s in enumerate(self.sources):
            after_t, seen = self._seen[i]
            t, v, total = read_new(s.ring, after_t, seen)
            if t.size:
                f = v[:, list(s.channels)].sum(axis=1) if len(s.channels) > 1 else v[:, s.channels[0]]
                self._seen[i] = (float(t[-1]), total)
                w = self._windows[i]
                w.extend(t - self.t_ref, f / self.body_weight_n if self.body_weight_n else f)
                newest = max(newest, float(t[-1]))
                if self._arm_t is not None:
                    after = f[t >= self._arm_t]
                    if after.size:
                        peak = float(after.max())
                        if peak > self.peaks.get(s.label, -np.inf):
                            self.peaks[s.label] = peak
                            peaks_changed = True
            else:
                self._seen[i] = (after_t, total)
        self._newest_t = newest
        right = newest - self.t_ref
        lo, hi = np.inf, -np.inf
        for i, w in enumerate(self._windows):
            if w.n:
                self._curves[i].setData(w.t[: w.n] - right, w.f[: w.n])
                lo, hi = min(lo, float(w.f[: w.n].min())), max(hi, float(w.f[: w.n].max()))
        if self.peaks:
            top = max(self.peaks.values())
            self.peak_line.setValue(self._scale(top))
            self.peak_line.setVisible(True)
        if self._onset_t is not None:
            self.onset_line.setValue(self._onset_t - self.t_ref - right)
        if np.isfinite(hi):
            self._fit_y(lo, hi)
        self.frames += 1
        if peaks_changed:
            self.peaks_changed.emit(dict(self.peaks))

    def _fit_y(self, lo: float, hi: float) -> None:
        """Grow the y range when the data leaves it, shrink it only when the data uses < 1/3 of
        it: the axis (and its cached picture) changes a few times per trial, not every frame."""
        span_min = 0.2 if self.body_weight_n else 50.0  # a quiet signal is not magnified into noise
        y0, y1 = self._y_range
        if self.target_line.isVisible():
            hi = max(hi, float(self.target_line.value()))
        need_lo, need_hi = min(lo, 0.0), max(hi, lo + span_min)
        # refit also when the top comes within 8 % of the edge: the peak and target lines and
        # their labels keep room under the top, apart from the onset label
        if y1 > y0 and y0 <= need_lo and need_hi <= y1 - 0.08 * (y1 - y0) and (need_hi - need_lo) > (y1 - y0) / 3:
            return
        pad = 0.15 * (need_hi - need_lo)
        self._y_range = (need_lo - (pad if need_lo < 0 else 0.02 * pad), need_hi + pad)
        self.plotItem.setYRange(*self._y_range, padding=0)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt name
        super().paintEvent(event)
        if self.measure_latency and self._newest_t > self._painted_t:
            self._painted_t = self._newest_t
            self.latencies_s.append(time.monotonic() - self._newest_t)

    def window_data(self, i: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The samples currently held for trace ``i`` (time from ``t_ref`` in s, force in display units)."""
        w = self._windows[i]
        return w.t[: w.n].copy(), w.f[: w.n].copy()
