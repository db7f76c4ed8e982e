"""What a wake-up costs on this machine: the floor under the station's CPU figure.

The station's threads sleep between reads (every 5 ms, see docs/architecture.md), so its CPU
is (wake-ups per second) × (CPU per wake-up). On a shared VM the second factor is large and
mostly not the station's code: the caches are cold after every sleep. This prints, for the
machine it runs on:

- idle threads that only wake on a 5 ms grid, doing nothing: one thread, and the station's
  layout for three devices (three readers 0.3 ms apart, then the pipeline);
- five small numpy calls (the size of a 10-sample block) back to back, and each time after
  a 5 ms sleep (the cold factor);
- the SFP decode of a 10-frame block (what a plate's reader does per read) warm and cold.

Run: ``python benchmarks/bench_wakeup.py`` (about 40 s). CPU = thread or process CPU time
over wall time.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

PERIOD_S = 0.005


def idle_threads(phases: list[float], seconds: float) -> float:
    """% of one core used by threads that wake on the grid ``(k + phase) * PERIOD_S`` and do nothing."""

    from station.acquisition import next_tick

    def loop(phase: float, end: float) -> None:
        while True:
            now = time.monotonic()
            if now > end:
                return
            time.sleep(next_tick(now, PERIOD_S, phase * PERIOD_S) - now)

    end = time.monotonic() + seconds
    threads = [threading.Thread(target=loop, args=(p, end)) for p in phases]
    c0, w0 = time.process_time(), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return 100.0 * (time.process_time() - c0) / (time.monotonic() - w0)


def per_call_us(fn: Callable[[], object], n: int, sleep_s: float) -> float:
    """Median thread CPU time (µs) of one call of ``fn``, each after ``sleep_s`` (0: back to back)."""
    samples = []
    for _ in range(n):
        if sleep_s:
            time.sleep(sleep_s)
        c = time.thread_time()
        fn()
        samples.append(time.thread_time() - c)
    return 1e6 * float(np.median(samples))


def main() -> int:
    from drivers.sfp.decoder import SfpDecoder
    from simulation.sfp import sfp_frames

    print(f"wake-up floor on this machine (period {PERIOD_S * 1e3:g} ms)")
    one = idle_threads([0.0], 10.0)
    layout = idle_threads([0.0, 0.06, 0.12, 0.18], 10.0)
    print(f"  1 idle thread                                   {one:5.2f} % of one core")
    print(f"  4 idle threads, the station's layout (3 devices) {layout:5.2f} % of one core")

    block = np.zeros((10, 4))
    raw = bytes(300)

    def five_calls() -> None:
        np.frombuffer(raw, np.uint8)
        block.astype(np.float64)
        _ = block * 0.01
        block.sum(axis=1)
        np.array([1.0] * 10)

    warm, cold = per_call_us(five_calls, 2000, 0.0), per_call_us(five_calls, 1000, PERIOD_S)
    print(f"  5 small numpy calls: back to back {warm:6.1f} µs, after a 5 ms sleep {cold:6.1f} µs "
          f"({cold / warm:.0f}x)")

    frames = 10
    n_frames = 3000 * frames
    seq = np.arange(n_frames) & 0xFFFF
    stream = sfp_frames(seq, (seq * 500).astype(np.int64), np.zeros((n_frames, 4), np.int32))
    size = len(stream) // n_frames
    dec = SfpDecoder(4, 2000.0)
    pos = [0]

    def decode_block() -> None:
        dec.feed(stream[pos[0]: pos[0] + frames * size])
        pos[0] += frames * size

    decode_block()
    warm, cold = per_call_us(decode_block, 1000, 0.0), per_call_us(decode_block, 1000, PERIOD_S)
    print(f"  SFP decode of a 10-frame block: back to back {warm:6.1f} µs, after a 5 ms sleep {cold:6.1f} µs "
          f"({cold / warm:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
