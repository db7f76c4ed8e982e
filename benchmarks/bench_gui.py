"""The live plot under load: two 4-cell force plates at 2 kHz, a 10 s window on screen.

``python benchmarks/bench_gui.py [--seconds S] [--fps F] [--only-default]``

Targets (issue 10): redraw ≥ 30 frames/s (goal 60), GUI thread < 50 % of a core,
sample-to-screen latency p99 < 50 ms, 0 samples lost.

The real path runs: two SFP simulators on pseudo-terminals, each in its own process as a
real plate is (2 000 samples/s of 4 channels each, landings), the station's reader threads,
the pipeline (calibration, ring buffers) and the HDF5 writer,
which records the whole run as one trial into a temporary session file. On the GUI thread
the window's :class:`~station.gui.plot.LivePlot` pulls new samples from the two ring buffers
on its QTimer and draws both plates' summed force.

- **frames/s**: paints of the plot that showed new samples, per second of the run.
- **GUI thread CPU**: ``time.thread_time()`` of the GUI thread over the run / wall time.
- **sample → screen**: per painted frame, from the host timestamp of the newest sample it
  shows to the end of the paint (the pixels are in the window's back buffer).
- **lost**: driver-reported lost samples + reader queue overflows + gaps in the recorded
  trial's timestamps; and the file holds every sample the plates sent.

The same run is repeated with pyqtgraph's peak downsampling and clip-to-view turned off
(every sample drawn), side by side, to show what they buy. With ``DISPLAY`` set it draws on
that display (xcb); otherwise offscreen (software raster, same drawing code).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtGui import QGuiApplication  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from station.gui.bridge import write_simulator_calibration  # noqa: E402
from station.gui.plot import LivePlot, TraceSource  # noqa: E402
from station.gui.theme import LEFT, RIGHT  # noqa: E402
from station.pipeline import BoundDevice, Pipeline, trial_spec  # noqa: E402
from station.session.setup import DeviceArg, open_session_devices  # noqa: E402
from station.storage.writer import SessionWriter  # noqa: E402

PLATES = {"plate_left": "PL-L", "plate_right": "PL-R"}


def start_simulators() -> tuple[dict[str, str], list[subprocess.Popen[str]]]:
    """Two SFP plates, each in its own process (as real devices are), landing on them in turn."""
    uris, procs = {}, []
    for role, serial in PLATES.items():
        p = subprocess.Popen([sys.executable, "-m", "station.cli", "simulate", "sfp", "--channels", "4", "--rate",
                              "2000", "--scenario", "landing", "-o", f"serial={serial}"],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert p.stdout is not None
        p.stdout.readline()
        uris[role] = p.stdout.readline().strip()
        procs.append(p)
    return uris, procs


def run(seconds: float, fps: float, optimised: bool, tmp: Path) -> dict[str, float]:
    uris, procs = start_simulators()
    args = [DeviceArg((role,), uri) for role, uri in uris.items()]
    cal = tmp / "cal"
    for serial in PLATES.values():
        write_simulator_calibration(cal, serial, 4)
    devices: dict[str, BoundDevice] = {}
    for a in args:
        opened, _ = open_session_devices({a.roles[0]: a}, calibration_dir=cal)
        devices.update(opened)
    path = tmp / f"bench-{'opt' if optimised else 'naive'}.h5"
    writer = SessionWriter(path)
    writer.create({"session_id": "bench"}, {"patient_id": "BENCH"})
    pipeline = Pipeline(list(devices.values()), writer)
    app = QApplication.instance() or QApplication([])
    plot = LivePlot(window_s=10.0, fps=fps)
    plot.resize(1400, 650)
    plot.set_sources([TraceSource("Left", pipeline.rings["plate_left"], (0, 1, 2, 3), LEFT, 2000.0),
                      TraceSource("Right", pipeline.rings["plate_right"], (0, 1, 2, 3), RIGHT, 2000.0)])
    if not optimised:
        for c in plot._curves:
            c.setDownsampling(auto=False, ds=1)
            c.setClipToView(False)
    plot.show()
    pipeline.start()
    pipeline.begin_recording(trial_spec("01_bench", "001", devices, {"side": "both"}), list(devices))
    for _ in range(50):  # let the window fill for a moment before measuring
        app.processEvents()
        time.sleep(0.01)
    plot.measure_latency = True
    painted0 = len(plot.latencies_s)
    plot.start()
    cpu0, wall0 = time.thread_time(), time.monotonic()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    cpu1, wall1 = time.thread_time(), time.monotonic()
    plot.stop()
    painted = len(plot.latencies_s) - painted0
    lat = np.array(plot.latencies_s[painted0:]) * 1000.0
    data, events = pipeline.end_recording()
    writer.end_trial({"status": "complete"})
    pipeline.stop()
    lost = sum(d.driver.stats.lost_samples for d in devices.values())
    lost += sum(r.status.overflow_samples for r in pipeline.readers.values())
    for dev in devices.values():
        dev.close()
    for p in procs:
        p.terminate()
        p.wait(10)
    writer.close({"status": "complete"})
    gaps = 0
    in_file = {}
    with h5py.File(path, "r") as f:
        for k in devices:
            t = f[f"tests/01_bench/trials/001/{k}/t_host_s"][:]
            in_file[k] = t.size
            gaps += int(np.sum(np.diff(t) > 1.5 / 2000.0))
    plot.close()
    wall = wall1 - wall0
    return {
        "fps": painted / wall, "cpu_pct": 100.0 * (cpu1 - cpu0) / wall,
        "p50_ms": float(np.percentile(lat, 50)) if lat.size else float("nan"),
        "p99_ms": float(np.percentile(lat, 99)) if lat.size else float("nan"),
        "lost": float(lost + gaps), "events": float(len(events)), "in_file": float(sum(in_file.values())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured run per variant (default 20)")
    parser.add_argument("--fps", type=float, default=60.0, help="plot timer rate (default 60)")
    parser.add_argument("--only-default", action="store_true", help="skip the every-sample comparison run")
    args = parser.parse_args(argv)
    QApplication.instance() or QApplication([])
    print(f"bench_gui: two 4-cell plates at 2 kHz, 10 s window, timer {args.fps:g} Hz, {args.seconds:g} s per "
          f"variant, platform {QGuiApplication.platformName()}")
    variants = [("peak downsampling + clip (default)", True)]
    if not args.only_default:
        variants.append(("every sample drawn", False))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, optimised in variants:
            rows.append((name, run(args.seconds, args.fps, optimised, Path(tmp))))
    print()
    print("| variant | frames/s | GUI thread CPU | sample→screen p50 | p99 | lost | samples in the file |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['fps']:.1f} | {r['cpu_pct']:.0f} % | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | "
              f"{r['lost']:.0f} | {r['in_file']:.0f} |")
    r = rows[0][1]
    print()
    print(f"ratios to targets (default variant): fps/30 = {r['fps'] / 30:.2f} (goal 60: {r['fps'] / 60:.2f}), "
          f"CPU/50 % = {r['cpu_pct'] / 50:.2f}, p99/50 ms = {r['p99_ms'] / 50:.2f}, lost = {r['lost']:.0f}")
    ok = r["fps"] >= 30 and r["cpu_pct"] < 50 and r["p99_ms"] < 50 and r["lost"] == 0
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
