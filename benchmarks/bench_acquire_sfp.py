"""Sustained SFP acquisition: ``station simulate sfp`` in its own process, read here.

Starts ``station simulate sfp --channels 8 --rate 2000``, opens the port with
:class:`~drivers.sfp.SfpDriver`, reads for ``--seconds`` (default 60; the acceptance run is
``--seconds 600``) and reports samples received and expected, lost samples, CRC errors and
the CPU time of the acquiring process as a percentage of one core (target: 0 lost, < 10 %).

Reads are batched: ``read()`` returns everything waiting; after a read that brought less
than ``--interval-ms`` worth of samples the loop sleeps that long instead of spinning.

Run: ``python benchmarks/bench_acquire_sfp.py [--seconds 600]``.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
CPU_TARGET_PCT = 10.0


def child_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a child process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to acquire (default 60)")
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--interval-ms", type=float, default=10.0, help="sleep after a small read (default 10 ms)")
    args = parser.parse_args(argv)

    from drivers.sfp import SfpDriver

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    sim = subprocess.Popen(
        [sys.executable, "-m", "station.cli", "simulate", "sfp", "--channels", str(args.channels),
         "--rate", f"{args.rate:g}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert sim.stdout is not None
        port = sim.stdout.readline().strip()
        if not port:
            print(f"simulator did not start: {sim.stderr.read() if sim.stderr else ''}", file=sys.stderr)
            return 1
        driver = SfpDriver(port)
        info = driver.open()
        print(f"acquiring {info.channels} ch at {info.rate_hz:g} Hz from {port} for {args.seconds:g} s "
              f"(simulator pid {sim.pid})", flush=True)
        interval = args.interval_ms / 1000.0
        small = max(1, int(info.rate_hz * interval))
        received = reads = 0
        first_t = last_t = None
        child0 = child_cpu_s(sim.pid)
        cpu0, wall0 = time.process_time(), time.monotonic()
        driver.start()
        end = wall0 + args.seconds
        next_report = wall0 + 10.0
        longest_pause = 0.0
        last_read = time.monotonic()
        while time.monotonic() < end:
            now = time.monotonic()
            longest_pause = max(longest_pause, now - last_read)
            last_read = now
            block = driver.read(timeout_s=interval)
            reads += 1
            n = len(block) if block is not None else 0
            if block is not None:
                received += n
                assert block.t_device_s is not None  # SFP frames carry device time
                if first_t is None:
                    first_t = float(block.t_device_s[0])
                last_t = float(block.t_device_s[-1])
            if n < small:
                time.sleep(interval)
            if time.monotonic() >= next_report:
                next_report += 10.0
                elapsed = time.monotonic() - wall0
                print(f"  {elapsed:5.0f} s: {received:,} samples, lost {driver.stats.lost_samples}, "
                      f"CPU {100 * (time.process_time() - cpu0) / elapsed:.1f} %", flush=True)
        driver.stop()
        tail = driver.flush()
        wall = time.monotonic() - wall0
        cpu = time.process_time() - cpu0
        if tail is not None:
            received += len(tail)
            assert tail.t_device_s is not None
            last_t = float(tail.t_device_s[-1])
        child1 = child_cpu_s(sim.pid)
        stats = driver.stats
        driver.close()
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sim.kill()
        sim_messages = sim.stderr.read().strip().splitlines()[1:] if sim.stderr else []

    by_device = round((last_t - first_t) * info.rate_hz) + 1 if first_t is not None and last_t is not None else 0
    nominal = info.rate_hz * wall
    cpu_pct = 100.0 * cpu / wall
    print(f"duration          {wall:10.1f} s")
    print(f"samples received  {received:10,d}")
    print(f"expected (device) {by_device:10,d}   first..last device time × rate")
    print(f"expected (wall)   {nominal:10,.0f}   rate × wall time, incl. start/stop latency")
    print(f"lost_samples      {stats.lost_samples:10,d}   gaps {stats.gaps}, resyncs {stats.resyncs}, "
          f"garbage bytes {stats.garbage_bytes}")
    print(f"crc_errors        {stats.crc_errors:10,d}")
    print(f"reads             {reads:10,d}   {reads / wall:.0f}/s, {received / max(reads, 1):.1f} samples per read")
    print(f"longest pause     {1000 * longest_pause:10.1f} ms between reads (this process)")
    for message in sim_messages:
        print(f"simulator says    {message}")
    print(f"acquiring CPU     {cpu_pct:10.2f} % of one core (target < {CPU_TARGET_PCT:g} %: "
          f"{'ok' if cpu_pct < CPU_TARGET_PCT else 'MISSED'})")
    if child0 is not None and child1 is not None:
        print(f"simulator CPU     {100 * (child1 - child0) / wall:10.2f} % of one core (separate process)")
    lost_ok = stats.lost_samples == 0 and received == by_device
    print(f"lost target (0)   {'ok' if lost_ok else 'MISSED'}")
    return 0 if lost_ok and cpu_pct < CPU_TARGET_PCT else 1


if __name__ == "__main__":
    sys.exit(main())
