"""Decoder throughput.

1. SFP: 8-channel binary frames decoded from big blocks (64 KiB .. 1 MiB), frames/s against
   the 1 M frames/s target; also the vectorised CRC against ``zlib.crc32`` per frame.
2. ASCII families (every module of ``drivers.registry.FAMILIES`` that exists and can produce
   wire bytes): the same stream through a pty read line by line with pyserial's
   ``readline()`` against read in blocks + the family's decoder, side by side (target ≥ 100×).
   The readline loop does nothing with the lines, so its figure is an upper bound for any
   per-line parser and the ratio a lower bound.

(pyserial's ``loop://`` moves data through a Queue one byte at a time in both directions,
so it cannot show what block reads cost; a pty is what the drivers really read.)

Run: ``python benchmarks/bench_decode.py [--quick]``. Medians over repeats (the machine is
shared and noisy).
"""
from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tty
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SFP_TARGET_FPS = 1_000_000
RATIO_TARGET = 100.0


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- SFP ---------------------------------------------------------------------------------
def sfp_stream(frames: int, channels: int = 8) -> bytes:
    from drivers.sfp import encode_frames

    rng = np.random.default_rng(0)
    counts = rng.integers(-(2**23), 2**23, size=(frames, channels))
    idx = np.arange(frames)
    return encode_frames(idx, idx * 500, counts)


def bench_sfp(frames: int, repeats: int) -> list[tuple[str, float]]:
    from drivers.sfp import CRC_BYTES, SfpDecoder, crc32_rows, frame_bytes

    data = sfp_stream(frames)
    results = []
    for block in (64 << 10, 256 << 10, 1 << 20):
        def run(block: int = block) -> None:
            d = SfpDecoder(8, 2000.0)
            got = 0
            for i in range(0, len(data), block):
                got += len(d.feed(data[i : i + block]))
            assert got == frames and d.garbage_bytes == 0, (got, d.garbage_bytes)

        results.append((f"SFP 8 ch decode, {block >> 10:>4} KiB blocks", frames / median_time(run, repeats)))
    # a damaged stream (every 1000th frame lost a byte): the general path on every block
    size = frame_bytes(8)
    damaged = bytearray(data)
    for k in range(frames // 1000 - 1, 0, -1):
        del damaged[k * 1000 * size + 20]
    damaged_b = bytes(damaged)

    def run_damaged() -> None:
        d = SfpDecoder(8, 2000.0)
        for i in range(0, len(damaged_b), 256 << 10):
            d.feed(damaged_b[i : i + (256 << 10)])

    results.append(("SFP 8 ch decode, 256 KiB, 1 byte lost/1000 frames", frames / median_time(run_damaged, repeats)))
    all_rows = np.frombuffer(data, np.uint8).reshape(frames, size)[:, 2 : size - CRC_BYTES]
    chunk = (256 << 10) // size

    def vectorised() -> None:
        for i in range(0, frames, chunk):
            crc32_rows(all_rows[i : i + chunk])

    results.append(("CRC-32 vectorised tables, 256 KiB blocks", frames / median_time(vectorised, repeats)))

    def per_frame() -> None:
        for i in range(0, len(data), size):
            zlib.crc32(data[i + 2 : i + size - CRC_BYTES])

    results.append(("CRC-32 zlib.crc32 per frame (Python loop)", frames / median_time(per_frame, repeats)))
    return results


# -- ASCII families ----------------------------------------------------------------------
def family_source(name: str, module: Any) -> tuple[Callable[[int], bytes], Callable[[], Any]] | str:
    """(make_stream(n), make_decoder()) for a family, or why it is skipped."""
    decoder_cls = getattr(module, "DECODER", None)
    if decoder_cls is None:
        found = [c for n, c in vars(module).items() if inspect.isclass(c) and n.endswith("Decoder")
                 and c.__module__ == module.__name__ and hasattr(c, "feed")]
        decoder_cls = found[0] if found else None
    if decoder_cls is None:
        return "no decoder class with feed()"
    try:
        sim_module = importlib.import_module(f"simulation.{name}")
    except ModuleNotFoundError:
        return "no simulator to produce a stream"
    if hasattr(sim_module, "example_stream"):
        return sim_module.example_stream, decoder_cls
    if name == "mark10":
        from simulation.forces import RepeatingEfforts

        def mark10_stream(n: int) -> bytes:
            sim = sim_module.Mark10Simulator(RepeatingEfforts(1))
            t = time.monotonic() + np.arange(n) / 500.0
            return sim.format_values(sim.source.sample(t)[:, 0])

        return mark10_stream, decoder_cls
    return "no example_stream(n) in the module yet"


class PtyFeeder:
    """A pty whose master end is fed by a separate ``cat`` process (a device outside this
    process, so no GIL contention); the slave end is opened with pyserial."""

    def __init__(self, data: bytes) -> None:
        import serial

        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.slave_fd = slave
        self.port = serial.Serial(os.ttyname(slave), timeout=1.0)
        fd, self.path = tempfile.mkstemp(prefix="bench-stream-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PtyFeeder:
        self.proc = subprocess.Popen(["cat", self.path], stdout=self.master)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.port.close()
        os.close(self.slave_fd)
        os.close(self.master)
        os.unlink(self.path)


def readline_loop(stream: bytes, lines: int) -> float:
    with PtyFeeder(stream) as feeder:
        t0 = time.perf_counter()
        readline = feeder.port.readline
        for _ in range(lines):
            readline()
        return time.perf_counter() - t0


def block_loop(stream: bytes, make_decoder: Callable[[], Any], lines: int) -> tuple[float, int]:
    decoder = make_decoder()
    got = 0
    with PtyFeeder(stream) as feeder:
        port = feeder.port
        remaining = len(stream)
        t0 = time.perf_counter()
        while remaining > 0:  # what Driver.read_available() does per read()
            data = port.read(port.in_waiting or 1)
            more = port.in_waiting
            if more:
                data += port.read(more)
            remaining -= len(data)
            got += len(decoder.feed(data))
        return time.perf_counter() - t0, got


def _decode_once(make_decoder: Callable[[], Any], stream: bytes) -> None:
    make_decoder().feed(stream)


def bench_ascii(lines: int, repeats: int) -> list[str]:
    from drivers.registry import FAMILIES

    out = []
    for name, module_name in FAMILIES.items():
        if name == "sfp":
            continue  # binary frames: section 1
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            out.append(f"  {name:<10} skipped: {module_name} not present")
            continue
        source = family_source(name, module)
        if isinstance(source, str):
            out.append(f"  {name:<10} skipped: {source}")
            continue
        make_stream, make_decoder = source
        stream = make_stream(lines)
        n_lines = stream.count(b"\n")
        if not n_lines:
            out.append(f"  {name:<10} skipped: example stream has no lines")
            continue
        t_line = statistics.median(readline_loop(stream, n_lines) for _ in range(repeats))
        block_runs = [block_loop(stream, make_decoder, n_lines) for _ in range(max(repeats, 5))]
        t_block = statistics.median(t for t, _ in block_runs)
        samples = block_runs[0][1]
        decode_only = median_time(functools.partial(_decode_once, make_decoder, stream), max(repeats, 5))
        ratio = t_line / t_block
        verdict = "ok" if ratio >= RATIO_TARGET else "BELOW TARGET"
        out.append(
            f"  {name:<10} {n_lines} lines ({len(stream) / n_lines:.1f} B/line): "
            f"readline() {n_lines / t_line:>10,.0f} lines/s | block read + decoder {samples / t_block:>12,.0f} samples/s "
            f"| ratio {ratio:6.0f}x (target {RATIO_TARGET:.0f}x: {verdict}) | decoder alone {samples / decode_only:,.0f}/s"
        )
        if samples != n_lines:
            out.append(f"  {name:<10} note: decoder returned {samples} samples for {n_lines} lines")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=400_000, help="SFP frames in the test stream")
    parser.add_argument("--lines", type=int, default=100_000, help="ASCII lines in the test stream")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small streams, 3 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.lines, args.repeats = 100_000, 5_000, 3
    print(f"SFP decode ({args.frames:,} frames of 8 channels, median of {args.repeats}):")
    for label, fps in bench_sfp(args.frames, args.repeats):
        print(f"  {label:<52} {fps:>14,.0f} frames/s  ({fps / SFP_TARGET_FPS:5.1f}x the 1 M/s target)")
    print(f"ASCII families via a pty: readline() per line vs block read + decoder ({args.lines:,} lines):")
    for line in bench_ascii(args.lines, max(1, args.repeats // 2)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
