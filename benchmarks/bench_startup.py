"""Start-up of the ``station`` command: ``station --help`` and ``station acquire --help``,
wall time (median of ``--runs``) and whether numpy, h5py, scipy or Qt were imported.

``--tree DIR`` measures another checkout side by side (e.g. the code before a change).
Run: ``python benchmarks/bench_startup.py [--runs 7] [--tree DIR ...]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "h5py", "scipy", "PySide6")


def once(tree: Path, args: list[str]) -> tuple[float, set[str]]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "station.cli", *args], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    names = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return wall, names & set(HEAVY)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tree", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    for cmd in (["--help"], ["acquire", "--help"]):
        for tree in [ROOT, *args.tree]:
            walls, heavy = [], set()
            for _ in range(args.runs):
                wall, h = once(tree, cmd)
                walls.append(wall)
                heavy |= h
            print(f"station {' '.join(cmd):<15} {tree}: median {statistics.median(walls) * 1000:6.0f} ms "
                  f"(includes -X importtime), heavy imports: {', '.join(sorted(heavy)) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
