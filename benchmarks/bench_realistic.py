"""Realistic load: two 4-cell force plates at 2 kHz and a dynamometer at 1 kHz, recorded
for 10 minutes through the station's own acquisition path (issue 12, Performance).

Each device is simulated by ``station simulate`` in its own process on a real pty, as a real
device would be (so this process holds only the station's threads). Here run the station's
readers (5 ms read batching, as in a session), the pipeline (calibration, ring buffers, one
live onset/peak detector per device, as a session watches its sides) and the HDF5 writer
(one trial of the whole run, SWMR, 0.25 s flushes), exactly as a session does during a trial.

Figures (targets from the issue):

- **lost samples** (target 0): per device the driver's lost samples, gaps, CRC errors and
  resyncs, the reader's queue overflow, the writer's dropped samples, the simulator's
  "host did not read in time" bytes; for the plates also samples received against the
  count their device clock says was sent; and written to the file = acquired;
- **CPU** (target < 5 % of one core): this process's user + system time over the measured
  span (after a warm-up), so it is the station's own threads, not the simulators', less the
  benchmark's own CPU: its probe (timed inside it), its stall watch thread and its main
  thread; per thread also its context switches per second (its wake-ups, and its waits for
  the GIL);
- **memory** (flat): resident set size after the warm-up and at the end;
- **live latency** (target p99 < 10 ms): every sample's age when the live detector has it,
  from its host time stamp (for the plates their device time mapped onto the host clock,
  i.e. when it was sampled plus the smallest transfer delay seen; for the dynamometer the
  time its bytes were read, spaced back by the sample period): a sample that waited for the
  next read counts the whole wait; it includes the device's own buffering (the simulators
  write every ~4 ms, a USB adapter 1–16 ms). So also, per block, the bound of the time
  any of its bytes spent in the station (the figure held against the target): from the
  later of the previous read of the device and the moment this read found the port empty
  (every byte of the block arrived after both) to the live update; the looser bound from
  the previous read alone; and the reader's read → live update;
- **stalls**: the longest time between two reads of each device, how often the whole
  process stopped for > 50 ms (a thread that sleeps 10 ms at a time and notes overruns),
  and the slowest HDF5 write.

Options: ``--read-period-ms`` (the readers' period, default the pipeline's 5 ms),
``--one-grid`` (every reader at the same instants instead of one after the other),
``--one-thread`` (an experiment: one thread reads and processes every device, no readers),
``--stall SECONDS`` (SIGSTOP the process once, 10 s in, as a frozen PC would),
``--tracemalloc`` (what grew between the first minute and the end).

Run: ``python benchmarks/bench_realistic.py [--minutes 10]`` (shorter runs for trying; the
figure recorded in docs/benchmarks.md is the 10-minute one).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

CPU_TARGET_PCT, LATENCY_TARGET_S = 5.0, 10e-3
WARMUP_S = 5.0
DEVICES = {  # device id → (family, simulator arguments, driver URI query)
    "plate_left": ("sfp", ["--channels", "4", "--rate", "2000", "--seed", "1"], "?channels=4"),
    "plate_right": ("sfp", ["--channels", "4", "--rate", "2000", "--seed", "2"], "?channels=4"),
    "dynamometer": ("mark10", [], "?rate=1000"),
}


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Simulator:
    def __init__(self, family: str, args: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "station.cli", "simulate", family, *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert self.proc.stdout is not None
        self.port = self.proc.stdout.readline().strip()
        if not self.port.startswith("/dev/"):
            raise SystemExit(f"simulator {family} did not start: {self.proc.stderr.read() if self.proc.stderr else ''}")

    def stop(self) -> list[str]:
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return [line for line in err.splitlines()[1:] if line.strip()]


BIN_S, BINS = 50e-6, 20_000  # latency histograms: 50 µs bins up to 1 s (memory stays flat)


class Histogram:
    """Latencies in 50 µs bins; values are gathered and binned 500 blocks at a time, so the
    probe adds little to the pipeline thread it runs in."""

    def __init__(self) -> None:
        self.counts = np.full(BINS + 1, 0, dtype=np.int64)  # resident now: RSS is not the probe filling
        self._pending: list[np.ndarray | float] = []

    def add(self, seconds: np.ndarray | float) -> None:
        self._pending.append(seconds)
        if len(self._pending) >= 500:
            self.fold()

    def fold(self) -> None:
        if self._pending:
            values = np.concatenate([np.atleast_1d(v) for v in self._pending])
            self._pending = []
            idx = np.clip((values / BIN_S).astype(np.int64), 0, BINS)
            self.counts += np.bincount(idx, minlength=BINS + 1)

    def pct_ms(self, q: float) -> float:
        self.fold()
        total = int(self.counts.sum())
        if not total:
            return float("nan")
        i = int(np.searchsorted(np.cumsum(self.counts), q / 100.0 * total))
        return (i + 1) * BIN_S * 1e3  # upper edge of the bin

    def max_ms(self) -> float:
        self.fold()
        nz = np.flatnonzero(self.counts)
        return (int(nz[-1]) + 1) * BIN_S * 1e3 if nz.size else float("nan")


class Probe:
    """A pipeline listener after the live detectors: per-sample latency and device-clock coverage.

    A sample's latency is its age when the live detector has it: now − its host time stamp
    (the device time mapped onto the host clock for the plates; for the host-clocked
    dynamometer the read time, spaced back by the sample period). So a sample that waited
    for the next read counts the whole wait."""

    def __init__(self, devices: list[str]) -> None:
        self.measuring = False
        # made before the measured span, so the RSS at its start already holds them
        self.age = {d: Histogram() for d in devices}
        self.read = {d: Histogram() for d in devices}
        self.station = {d: Histogram() for d in devices}
        self.since_prev = {d: Histogram() for d in devices}
        self.prev_read: dict[str, float] = {}
        self.first_dev: dict[str, float] = {}
        self.last_dev: dict[str, float] = {}
        self.samples: dict[str, int] = {}
        self.cpu_s = 0.0  # the probe's own CPU time (in the pipeline thread), to tell it apart
        self.longest_gap: dict[str, tuple[float, float]] = {}  # device → (longest time between reads, its start)

    def on_block(self, block: Any) -> None:
        c0 = time.thread_time()
        self._on_block(block)
        self.cpu_s += time.thread_time() - c0

    def _on_block(self, block: Any) -> None:
        now = time.monotonic()
        d = block.device_id
        self.samples[d] = self.samples.get(d, 0) + len(block)
        if block.t_device_s is not None:
            self.first_dev.setdefault(d, float(block.t_device_s[0]))
            self.last_dev[d] = float(block.t_device_s[-1])
        prev, self.prev_read[d] = self.prev_read.get(d), block.read_s
        if prev is not None and block.read_s - prev > self.longest_gap.get(d, (0.0, 0.0))[0]:
            self.longest_gap[d] = (block.read_s - prev, prev)
        if self.measuring:
            self.age[d].add(now - block.t_host_s)
            self.read[d].add(now - block.read_s)
            if prev is not None:  # every byte of this block arrived after the previous read, and
                # after the moment this read found the port empty, if it had to wait for bytes
                self.station[d].add(now - max(prev, getattr(block, "since_s", prev)))
                self.since_prev[d].add(now - prev)  # the bound before since_s


class StallWatch(threading.Thread):
    """Sleeps 10 ms at a time and notes when a sleep overran by more than 50 ms: the whole
    process (every Python thread) did not run meanwhile (the GIL held, or no CPU given)."""

    def __init__(self) -> None:
        super().__init__(name="bench stall watch", daemon=True)
        self.stalls: list[tuple[float, float]] = []  # (monotonic start, seconds)
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            t = time.monotonic()
            time.sleep(0.01)
            late = time.monotonic() - t - 0.01
            if late > 0.05:
                self.stalls.append((t, late))


class OneThread(threading.Thread):
    """``--one-thread``: what the station's work costs without its threads. One thread, named
    like the pipeline's, wakes on the readers' grid, reads every device in turn and processes
    each block as the pipeline does. Not the station's design (a device that blocks would
    hold up the others): a lower bound for the CPU of the same work on this machine."""

    def __init__(self, pipeline: Any) -> None:
        super().__init__(name="pipeline", daemon=True)
        self.pipeline = pipeline
        self.halt = threading.Event()

    def run(self) -> None:
        from station.acquisition import DeviceBlock, next_tick

        p = self.pipeline
        period = p.period_s
        last = dict.fromkeys(p.devices, 0.0)
        while not self.halt.is_set():
            now = time.monotonic()
            time.sleep(next_tick(now, period) - now)
            for k, d in p.devices.items():
                block = d.driver.read(timeout_s=0.0)
                if block is not None and len(block):
                    t = time.monotonic()
                    with p._dispatch:  # noqa: SLF001 - an experiment on the pipeline's own path
                        p._process(DeviceBlock(k, block, t, max(last[k], getattr(d.driver, "empty_at_s", 0.0))))  # noqa: SLF001
                    last[k] = t


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds (user + system) of each live thread of this process, by thread name."""
    return {k: v[0] for k, v in thread_stats().items()}


def thread_stats() -> dict[str, tuple[float, int]]:
    """(CPU seconds (user + system), context switches) of each live thread, by thread name.
    A thread that sleeps and wakes up, or waits for the GIL, switches out once per wait, so
    the switches count its wake-ups."""
    ids = {t.native_id: t.name for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, tuple[float, int]] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            status = (task / "status").read_text()
        except OSError:
            continue
        switches = sum(int(line.split()[1]) for line in status.splitlines() if line.endswith("ctxt_switches")
                       or "ctxt_switches:" in line)
        name = ids.get(int(task.name), "other")
        cpu, sw = out.get(name, (0.0, 0))
        out[name] = (cpu + (int(fields[11]) + int(fields[12])) / tick, sw + switches)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="measured minutes (default 10)")
    parser.add_argument("--read-period-ms", type=float, default=None,
                        help="the readers' read batching (default: the pipeline's, 5 ms)")
    parser.add_argument("--one-grid", action="store_true",
                        help="put every reader on one grid (all read at the same instants) instead of the "
                             "pipeline's spread over the period (to compare)")
    parser.add_argument("--one-thread", action="store_true",
                        help="an experiment, not the station: no reader threads; one thread reads every device "
                             "on the grid and runs the pipeline's processing (the cost of the work without the "
                             "station's one-reader-per-device threads)")
    parser.add_argument("--stall", type=float, default=0.0, metavar="SECONDS",
                        help="stop this process (SIGSTOP, then SIGCONT) for SECONDS once, 10 s into the measured "
                             "span, as a frozen PC would: shows what a stall of the station costs and that the "
                             "loss is counted")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="trace Python/numpy allocations and print what grew between the first "
                             "minute and the end (slows the station down: not for the CPU figure)")
    args = parser.parse_args(argv)
    if args.tracemalloc:
        import tracemalloc

        tracemalloc.start(8)
    snapshots: list[Any] = []

    from drivers.registry import open_device
    from station.pipeline import BoundDevice, Pipeline, identity, trial_spec
    from station.storage.writer import SessionWriter

    sims = {k: Simulator(fam, a) for k, (fam, a, _) in DEVICES.items()}
    devices: dict[str, BoundDevice] = {}
    sim_messages: dict[str, list[str]] = {}
    probe = Probe(list(DEVICES))
    try:
        for k, (fam, _, query) in DEVICES.items():
            uri = f"{fam}:{sims[k].port}{query}"
            driver, _ = open_device(uri)
            info = driver.open()
            calibrate = identity if info.unit == "N" else (lambda raw: raw * 0.01)
            devices[k] = BoundDevice(k, uri, driver, info, calibrate, {"model": "bench"})
        with tempfile.TemporaryDirectory() as tmp:
            writer = SessionWriter(Path(tmp) / "realistic.h5")
            writer.create({"session_id": "bench-realistic"}, {"patient_id": "BENCH"})
            for k, d in devices.items():
                writer.set_attrs(f"devices/{k}", {"unit": d.info.unit, "channels": d.info.channels})
            pipeline = Pipeline(list(devices.values()), writer)
            pipeline.watch_sides({"left": ("plate_left", (0, 1, 2, 3)), "right": ("plate_right", (0, 1, 2, 3)),
                                  "dynamometer": ("dynamometer", (0,))})
            pipeline.subscribe(probe, name="bench probe")
            if args.read_period_ms is not None:
                for r in pipeline.readers.values():
                    r.min_period_s = args.read_period_ms / 1000.0
            period_ms = 1000.0 * next(iter(pipeline.readers.values())).min_period_s
            if args.one_grid:
                for r in pipeline.readers.values():
                    r.grid_phase = 0.0
            pipeline.begin_recording(trial_spec("01_bench", "001", devices, {"side": "both"}), list(devices),
                                     keep=False)
            print(f"realistic load: {', '.join(f'{k} {d.info.channels} ch @ {d.info.rate_hz:g} Hz' for k, d in devices.items())}; "
                  f"{args.minutes:g} min after {WARMUP_S:g} s warm-up; reads every {period_ms:g} ms; simulators in their "
                  f"own processes{'; readers on one grid' if args.one_grid else ''}"
                  f"{'; ONE THREAD reads and processes (an experiment, not the station)' if args.one_thread else ''}"
                  f"; load average {os.getloadavg()[0]:.1f}",
                  flush=True)
            if args.one_thread:
                one = OneThread(pipeline)
                for d in devices.values():
                    d.driver.start()
                one.start()
            else:
                pipeline.start()
            watch = StallWatch()
            watch.start()
            time.sleep(WARMUP_S)
            rss0, cpu0, t0 = rss_kib(), time.process_time(), time.monotonic()
            threads0 = thread_stats()
            probe.measuring = True
            probe_cpu0 = probe.cpu_s
            if args.stall > 0:  # another process freezes us, as the OS would under a stall
                subprocess.Popen(["sh", "-c", f"sleep 10; kill -STOP {os.getpid()}; sleep {args.stall:g}; "
                                              f"kill -CONT {os.getpid()}"])
                print(f"  (the station process will be stopped for {args.stall:g} s at +10 s)", flush=True)
            end = t0 + 60.0 * args.minutes
            every = 60.0 if args.minutes >= 5 else 10.0
            next_report = t0 + every
            while time.monotonic() < end and pipeline.failure is None:
                time.sleep(min(1.0, max(end - time.monotonic(), 0.0)))
                if time.monotonic() >= next_report:
                    next_report += every
                    el = time.monotonic() - t0
                    if args.tracemalloc and not snapshots and el >= 55.0:
                        snapshots.append(tracemalloc.take_snapshot())
                    print(f"  {el:5.0f} s: CPU {100 * (time.process_time() - cpu0) / el:.2f} %, "
                          f"RSS {rss_kib() / 1024:.1f} MiB", flush=True)
            probe.measuring = False
            cpu, wall, rss1 = time.process_time() - cpu0, time.monotonic() - t0, rss_kib()
            if snapshots:
                print("allocations that grew since the first minute (tracemalloc):")
                for stat in tracemalloc.take_snapshot().compare_to(snapshots[0], "traceback")[:6]:
                    print(f"  {stat.size_diff / 1024:+9.1f} KiB ({stat.count_diff:+d} blocks), now "
                          f"{stat.size / 1024:.1f} KiB: " + " <- ".join(
                              f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback[:4]))
            threads1 = thread_stats()
            probe_cpu = probe.cpu_s - probe_cpu0
            watch.halt.set()
            if args.one_thread:
                one.halt.set()
                one.join(2.0)
            pipeline.stop()
            pipeline.end_recording()
            writer.end_trial({"status": "complete"})
            writer.close({"status": "complete"})
            counts = {k: writer.counts.get(k) for k in devices}
    finally:
        for d in devices.values():
            d.close()
        for k, s in sims.items():
            sim_messages[k] = s.stop()

    print(f"measured span     {wall:8.1f} s")
    lost_total = 0
    for k, d in devices.items():
        st, rd, c = d.driver.stats, pipeline.readers[k].status, counts[k]
        expected = ""
        missing = 0
        if k in probe.first_dev:
            by_clock = round((probe.last_dev[k] - probe.first_dev[k]) * d.info.rate_hz) + 1
            missing = by_clock - probe.samples[k]
            expected = f", device clock says {by_clock:,} sent"
        lost = (st.lost_samples + st.gaps + st.crc_errors + st.resyncs + rd.overflow_samples + max(missing, 0)
                + (c.dropped if c else 0) + (bool(sim_messages[k]) * 1))
        written = c.written if c else 0
        lost += probe.samples.get(k, 0) - written
        lost_total += lost
        print(f"{k:<16} {probe.samples.get(k, 0):>11,} samples{expected}; written {written:,}; lost {st.lost_samples}, "
              f"gaps {st.gaps}, crc {st.crc_errors}, resyncs {st.resyncs}, queue overflow {rd.overflow_samples}, "
              f"writer dropped {c.dropped if c else 0}" + "".join(f"; simulator: {m}" for m in sim_messages[k]))
    cpu_pct = 100.0 * cpu / wall
    # the benchmark's own CPU: its probe (a listener in the pipeline thread, timed inside), its
    # stall watch (a thread waking every 10 ms) and its main thread (a 1 s loop)
    bench_threads = sum(threads1.get(k, (0.0, 0))[0] - threads0.get(k, (0.0, 0))[0]
                        for k in ("bench stall watch", "MainThread"))
    probe_pct = 100.0 * (probe_cpu + bench_threads) / wall
    station_pct = cpu_pct - probe_pct
    print(f"lost samples      {lost_total:8d}   (target 0: {'ok' if lost_total == 0 else 'MISSED'})")
    print(f"station CPU       {station_pct:8.2f} % of one core without the benchmark's probe (target < "
          f"{CPU_TARGET_PCT:g} %: {'ok' if station_pct < CPU_TARGET_PCT else 'MISSED'}, ratio "
          f"{station_pct / CPU_TARGET_PCT:.2f}); {cpu_pct:.2f} % with the benchmark's probe, stall watch and "
          f"main thread ({probe_pct:.2f} %)")
    print("  by thread (CPU, context switches per second): " + ", ".join(
        f"{k} {100 * (v[0] - threads0.get(k, (0.0, 0))[0]) / wall:.2f} % {(v[1] - threads0.get(k, (0.0, 0))[1]) / wall:.0f}/s"
        for k, v in sorted(threads1.items()) if k not in ("MainThread", "other")))
    print(f"RSS               {rss0 / 1024:8.1f} MiB after warm-up, {rss1 / 1024:.1f} MiB at the end "
          f"({(rss1 - rss0) / 1024:+.1f} MiB)")
    worst = worst_age = worst_prev = 0.0
    for k in devices:
        ah, rh, sh = probe.age[k], probe.read[k], probe.station[k]
        worst, worst_age = max(worst, sh.pct_ms(99)), max(worst_age, ah.pct_ms(99))
        worst_prev = max(worst_prev, probe.since_prev[k].pct_ms(99))
        print(f"live latency {k:<16} in the station (previous read → live) p50 {sh.pct_ms(50):5.2f} "
              f"p99 {sh.pct_ms(99):5.2f} max {sh.max_ms():6.2f} ms; sample age at live p50 {ah.pct_ms(50):5.2f} "
              f"p99 {ah.pct_ms(99):5.2f} ms; read → live p99 {rh.pct_ms(99):5.2f} ms")
    print(f"live latency p99  {worst:8.2f} ms in the station (target < {LATENCY_TARGET_S * 1e3:g} ms: "
          f"{'ok' if worst < LATENCY_TARGET_S * 1e3 else 'MISSED'}, ratio {worst / (LATENCY_TARGET_S * 1e3):.2f}); "
          f"{worst_age:.2f} ms sample age incl. the simulators' own ~4 ms write ticks; {worst_prev:.2f} ms from "
          "the previous read whether or not the port was empty meanwhile (the bound before 2026-12-05 evening)")
    gaps = ", ".join(f"{k} {1e3 * g:.0f} ms at {t - t0:+.1f} s" for k, (g, t) in sorted(probe.longest_gap.items()))
    stalls = [(t - t0, d) for t, d in watch.stalls]
    print(f"stalls            longest time between two reads: {gaps}; the whole process stalled > 50 ms "
          f"{len(stalls)} time(s)" + (f", longest {1e3 * max(d for _, d in stalls):.0f} ms at "
                                       f"{max(stalls, key=lambda x: x[1])[0]:+.1f} s" if stalls else "")
          + f"; slowest HDF5 write {1e3 * getattr(writer, 'slowest_write_s', float('nan')):.0f} ms")
    print(f"load average now  {os.getloadavg()[0]:8.1f} (2 cores, shared)")
    ok = lost_total == 0 and station_pct < CPU_TARGET_PCT and worst < LATENCY_TARGET_S * 1e3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
