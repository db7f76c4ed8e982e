"""Run every benchmark and print its figures: ``python -m benchmarks [--long]``.

Each benchmark is a plain script (also runnable alone) that prints medians and the ratio to
its target; the machine is shared and noisy, so read ratios, not single runs. ``--long``
runs the 10-minute acquisition of issue 3 instead of the 60 s one, the 10-minute realistic load
(two plates and a dynamometer) instead of 1 minute, and the clinic store at full size
(1,000,000 trials instead of 200,000).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def plan(long: bool) -> list[tuple[str, list[str]]]:
    return [
        ("bench_analysis.py", []),
        ("bench_decode.py", []),
        ("bench_live_latency.py", []),
        ("bench_gui.py", []),
        ("bench_acquire_sfp.py", ["--seconds", "600" if long else "60"]),
        ("bench_station_cpu.py", ["--seconds", "600" if long else "30"]),
        ("bench_ingest.py", []),
        ("bench_wakeup.py", []),
        ("bench_realistic.py", ["--minutes", "10" if long else "1"]),
        ("bench_startup.py", []),
        ("bench_clinic_store.py", [] if long else ["--trials", "200000", "--patients", "4000", "--stations", "20"]),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--long", action="store_true", help="10-minute SFP acquisition and realistic load (default 60 s / 1 min); "
                        "full-size clinic store")
    parser.add_argument("--only", metavar="NAME", help="run only benchmarks whose file name contains NAME")
    args = parser.parse_args(argv)
    failed = 0
    for script, extra in plan(args.long):
        if args.only and args.only not in script:
            continue
        path = HERE / script
        if not path.exists():
            print(f"== {script}: missing", flush=True)
            failed += 1
            continue
        print(f"== {script} {' '.join(extra)}", flush=True)
        t0 = time.monotonic()
        rc = subprocess.call([sys.executable, str(path), *extra])
        print(f"== {script}: exit {rc}, {time.monotonic() - t0:.0f} s\n", flush=True)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
