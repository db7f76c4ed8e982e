"""Ingest: how fast `station acquire` takes an 8-channel SFP flood, against a naive
per-frame pyserial reader and a plain ``os.read`` + decode + h5py-append ceiling loop, all
three measured side by side in one run on the same flood (issue 12, Performance).

The flood device is a separate process on a real pty: it answers ``INFO``/``STOP``/``RATE``
like an SFP board and, on ``START``, writes ``--frames`` pre-encoded 8-channel frames as fast
as the pty takes them (blocking writes), so a reader's speed sets the pace. The device times
the stream from ``START`` to its last byte being taken; ingest = frames / that time. Each
reader must get every frame (checked: counts and the last sequence number).

- **naive**: pyserial, ``read(frame_bytes)`` per frame, ``struct.unpack`` + CRC per frame,
  and the frame appended to an HDF5 dataset (resize + write) — the per-frame loop a first
  attempt writes;
- **ceiling**: ``os.read``, ``SfpDecoder.feed`` (numpy), and one h5py resize + write every
  0.25 s (the fewest writes that still keep the crash-loss bound): the plain loop with nothing
  else in it (no threads, queues, calibration, SWMR). A tty hands over at most ~4 KiB per
  read, so while reads come back full the loop keeps reading (up to 4 ms / 256 KiB) and
  decodes once, as the station's driver does; the target is against this ceiling.
  **ceiling1** is the same loop decoding every read on its own (the ceiling of earlier
  measurements), shown for comparison;
- **station acquire**: the real command, ``station acquire --device sfp:<pty> --json``.

Targets: station ≥ 10× naive and ≥ 70 % of the ceiling. Readers run interleaved, ``--runs``
times each (median). Run: ``python benchmarks/bench_ingest.py [--frames 400000] [--runs 3]``.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tty
import zlib
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = 8
NAIVE_TARGET, CEILING_TARGET = 10.0, 0.70


def flood_device(frames: int) -> None:
    """Child process: the flood device. Prints its port, then one JSON line per stream."""
    import numpy as np

    from drivers.sfp import encode_frames

    k = np.arange(frames, dtype=np.int64)
    counts = (np.sin(k[:, None] / 50.0 + np.arange(CHANNELS)) * 100000).astype(np.int32)
    stream = encode_frames(k, k * 100, counts)  # 10 kHz device clock
    master, slave = os.openpty()
    tty.setraw(slave)
    print(os.ttyname(slave), flush=True)
    buf = b""
    while True:
        r, _, _ = select.select([master, sys.stdin], [], [], 1.0)
        if sys.stdin in r and not sys.stdin.readline():
            return  # parent is done
        if master not in r:
            continue
        try:
            buf += os.read(master, 4096)
        except OSError:
            continue
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            cmd = line.strip().upper()
            if cmd == b"INFO":
                os.write(master, f"SFP1 model=FLOOD8 serial=F-1 channels={CHANNELS} rate_hz=10000 fw=1\n".encode())
            elif cmd.startswith(b"RATE"):
                os.write(master, b"OK\n")
            elif cmd == b"START":
                t0 = time.perf_counter()
                view = memoryview(stream)
                while view:
                    try:
                        n = os.write(master, view[:65536])
                    except BlockingIOError:
                        select.select([], [master], [])
                        continue
                    view = view[n:]
                # the pty holds a few KiB more: the reader has the rest within microseconds
                print(json.dumps({"frames": frames, "seconds": time.perf_counter() - t0}), flush=True)


class Flood:
    def __init__(self, frames: int) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--device", str(frames)], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert self.proc.stdout is not None
        self.port = self.proc.stdout.readline().strip()

    def result(self) -> float:
        assert self.proc.stdout is not None
        rec = json.loads(self.proc.stdout.readline())
        return rec["frames"] / rec["seconds"]

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def naive(frames: int, tmp: Path) -> float:
    import h5py
    import serial

    flood = Flood(frames)
    try:
        ser = serial.Serial(flood.port, 115200, timeout=1.0)
        size = 14 + 4 * CHANNELS
        unpack = struct.Struct(f"<BBBBHI{CHANNELS}iI").unpack
        with h5py.File(tmp / "naive.h5", "w") as f:
            ds = f.create_dataset("counts", shape=(0, CHANNELS), maxshape=(None, CHANNELS), dtype="f8",
                                  chunks=(1024, CHANNELS))
            ser.write(b"START\n")
            for i in range(frames):
                frame = ser.read(size)  # one frame at a time, as a first attempt would
                fields = unpack(frame)
                if zlib.crc32(frame[2:-4]) != fields[-1]:
                    raise SystemExit("naive reader: CRC mismatch (lost sync)")
                ds.resize(i + 1, axis=0)
                ds[i] = fields[6:-1]
        ser.close()
        return flood.result()
    finally:
        flood.close()


def _gather(fd: int, first: bytes) -> bytes:
    """While reads come back full (the device sends faster than one read takes), keep
    reading for up to 4 ms / 256 KiB, as the station's driver does (drivers/base.py)."""
    parts, total, last = [first], len(first), len(first)
    deadline = time.monotonic() + 0.004
    while last >= 2048 and total < 1 << 18:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        chunk = os.read(fd, 1 << 16)
        parts.append(chunk)
        last = len(chunk)
        total += last
    return b"".join(parts)


def ceiling(frames: int, tmp: Path, gather: bool = True) -> float:
    import h5py
    import numpy as np

    from drivers.sfp import SfpDecoder

    flood = Flood(frames)
    try:
        fd = os.open(flood.port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(fd)
        dec = SfpDecoder(CHANNELS, 10000.0)
        with h5py.File(tmp / "ceiling.h5", "w") as f:
            ds = f.create_dataset("counts", shape=(0, CHANNELS), maxshape=(None, CHANNELS), dtype="f8",
                                  chunks=(8192, CHANNELS))
            os.write(fd, b"START\n")
            got, written, parts, last = 0, 0, [], time.monotonic()
            while written < frames:
                select.select([fd], [], [], 0.05)
                data = os.read(fd, 1 << 16)
                out = dec.feed(_gather(fd, data) if gather else data)
                if len(out):
                    parts.append(out.counts)
                    got += len(out)
                if parts and (got == frames or time.monotonic() - last >= 0.25):
                    block = np.concatenate(parts)
                    ds.resize(written + len(block), axis=0)
                    ds[written:] = block
                    written, parts, last = written + len(block), [], time.monotonic()
        os.close(fd)
        assert got == frames
        return flood.result()
    finally:
        flood.close()


def station(frames: int, tmp: Path) -> float:
    flood = Flood(frames)
    try:
        out = tmp / "station.h5"
        out.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, "-m", "station.cli", "acquire", "--device", f"sfp:{flood.port}",
                                 "--seconds", "600", "--out", str(out), "--json"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
        rate = flood.result()  # the stream is taken: stop the recording (Ctrl-C keeps every sample)
        time.sleep(0.5)
        proc.send_signal(2)
        stdout, stderr = proc.communicate(timeout=60)
        (rep,) = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        if rep["samples"] != frames or rep.get("written", frames) != frames:
            raise SystemExit(f"station acquire got {rep['samples']} of {frames} frames "
                             f"(written {rep.get('written')}): {stderr[-300:]}")
        return rate
    finally:
        flood.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--naive-frames", type=int, default=100_000, help="frames for the (slow) naive reader")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device:
        flood_device(args.device)
        return 0
    res: dict[str, list[float]] = {"naive": [], "ceiling1": [], "ceiling": [], "station": []}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for run in range(args.runs):
            res["naive"].append(naive(args.naive_frames, tmp))
            res["ceiling1"].append(ceiling(args.frames, tmp, gather=False))
            res["ceiling"].append(ceiling(args.frames, tmp))
            res["station"].append(station(args.frames, tmp))
            print(f"  run {run + 1}: " + ", ".join(f"{k} {v[-1] / 1000:.0f} k frames/s" for k, v in res.items()),
                  flush=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"8-channel SFP flood ({args.frames} frames; naive {args.naive_frames}), median of {args.runs}:")
    for k, v in med.items():
        print(f"  {k:<8} {v / 1000:8.0f} k frames/s")
    a, b = med["station"] / med["naive"], med["station"] / med["ceiling"]
    print(f"  station / naive   = {a:.1f}x  (target >= {NAIVE_TARGET:g}x)")
    print(f"  station / ceiling = {100 * b:.0f} %  (target >= {100 * CEILING_TARGET:.0f} %); "
          f"station / ceiling1 (one decode per read) = {100 * med['station'] / med['ceiling1']:.0f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
