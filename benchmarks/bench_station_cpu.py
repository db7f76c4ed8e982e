"""CPU of the real station at clinic rates: `station acquire` and a real session, two 4-cell
SFP plates at 2 kHz (issue 17). Not the driver alone: the whole command, as a clinic runs it.

1. ``station acquire`` on two plates, each simulated by ``station simulate sfp --channels 4
   --rate 2000`` in its own process (so the figure is the station's CPU, not the simulators');
   CPU = user + system time of the acquire process (``/proc/<pid>/stat``, including start-up)
   over its wall time, in % of one core. Target ≤ 10 %.
2. ``station session run --auto --fast`` of ``drop-landing-bilateral`` on two plates, each
   ``station simulate sfp --channels 4 --rate 2000 --scenario landing`` in its own process
   (a real plate is outside the station too), so the figure is the station's own process:
   its whole run (start-up, imports and analysis included) and from the first trial on.
   Target ≤ 20 %. ``--in-process-sims`` also runs it on ``sim:`` plates inside the station
   process (the figure measured before; it includes the simulators' CPU).

``--tree DIR`` runs another checkout's station (e.g. the code before a change) with this
interpreter, for before/after figures side by side; ``--runs N`` repeats each (median shown).

Run: ``python benchmarks/bench_station_cpu.py [--seconds 30] [--runs 3] [--tree DIR ...]``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACQUIRE_TARGET_PCT, SESSION_TARGET_PCT = 10.0, 20.0


def _env(tree: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(tree), QT_QPA_PLATFORM="offscreen")


def _cpu_pct(cmd: list[str], tree: Path) -> tuple[float, float, int, str]:
    """Run ``cmd`` in ``tree``; (CPU % of one core, wall s, exit code, stderr tail)."""
    t0 = time.monotonic()
    before = os.times()
    proc = subprocess.run(cmd, cwd=tree, env=_env(tree), capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - t0
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return 100.0 * cpu / wall, wall, proc.returncode, proc.stderr[-400:]


def _start_sim(tree: Path, landing: bool = False) -> tuple[subprocess.Popen[str], str]:
    sim = subprocess.Popen([sys.executable, "-m", "station.cli", "simulate", "sfp", "--channels", "4",
                            "--rate", "2000", *(["--scenario", "landing"] if landing else [])],
                           cwd=tree, env=_env(tree), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    assert sim.stdout is not None
    port = sim.stdout.readline().strip().split()[-1]
    if not port.startswith("/dev/"):
        raise SystemExit(f"simulator did not start: {port!r} {sim.stderr.read() if sim.stderr else ''}")
    return sim, port


def acquire_cpu(tree: Path, seconds: float) -> tuple[float, float]:
    sims = [_start_sim(tree) for _ in range(2)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "station.cli", "acquire", "--seconds", f"{seconds:g}",
                   "--out", str(Path(tmp) / "a.h5"), "--json"]
            for _, port in sims:
                cmd += ["--device", f"sfp:{port}"]
            pct, wall, rc, err = _cpu_pct(cmd, tree)
            if rc != 0:
                raise SystemExit(f"station acquire failed ({rc}): {err}")
            return pct, wall
    finally:
        for sim, _ in sims:
            sim.terminate()
            sim.wait(timeout=10)


def _proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def simulators_cpu(tree: Path, seconds: float) -> float:
    """CPU of two streaming SFP simulators alone (each in its own process, read by a plain
    reader so they stream), in % of one core: what the session figure carries for them."""
    sims = [_start_sim(tree) for _ in range(2)]
    try:
        import serial

        ports = [serial.Serial(port, 115200, timeout=0.05) for _, port in sims]
        for p in ports:
            p.write(b"START\n")
        c0 = sum(_proc_cpu_s(s.pid) for s, _ in sims)
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            for p in ports:
                p.read(p.in_waiting or 1)
            time.sleep(0.02)
        pct = 100.0 * (sum(_proc_cpu_s(s.pid) for s, _ in sims) - c0) / (time.monotonic() - t0)
        for p in ports:
            p.close()
        return pct
    finally:
        for sim, _ in sims:
            sim.terminate()
            sim.wait(timeout=10)


def _session_cmd(tmp: str, plates: tuple[str, str]) -> list[str]:
    return [sys.executable, "-m", "station.cli", "session", "run", "--protocol", "drop-landing-bilateral",
            "--patient", "BENCH-1", "--body-mass", "70", "--involved", "left", "--auto", "--fast",
            "--allow-uncalibrated", "--out", tmp, "--device", f"plate_left={plates[0]}",
            "--device", f"plate_right={plates[1]}"]


def session_cpu(tree: Path, in_process: bool = False) -> tuple[float, float, float]:
    """A real session of drop-landing-bilateral on two plates. By default each plate is
    ``station simulate sfp --channels 4 --rate 2000 --scenario landing`` in its own process
    (as a real plate is outside the station), so the figure is the station's own CPU.
    ``in_process``: ``sim:`` plates inside the station process (their CPU included).
    Returns (whole run % of one core, from the first trial to the end %, wall s)."""
    sims: list[tuple[subprocess.Popen[str], str]] = []
    try:
        if in_process:
            plates = ("sim:sfp?channels=4&rate=2000", "sim:sfp?channels=4&rate=2000")
        else:
            sims = [_start_sim(tree, landing=True) for _ in range(2)]
            plates = (f"sfp:{sims[0][1]}?channels=4", f"sfp:{sims[1][1]}?channels=4")
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            proc = subprocess.Popen(_session_cmd(tmp, plates), cwd=tree, env=_env(tree), stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            assert proc.stdout is not None and proc.stderr is not None
            cpu_a = t_a = None
            for line in proc.stdout:
                if cpu_a is None and "\u25b6" in line:  # the first trial's live line: start-up is over
                    cpu_a, t_a = _proc_cpu_s(proc.pid), time.monotonic()
            err = proc.stderr.read()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            wall = time.monotonic() - t0
            if proc.returncode != 0:
                raise SystemExit(f"station session run failed ({proc.returncode}): {err[-400:]}")
            cpu = usage.ru_utime + usage.ru_stime
            steady = 100.0 * (cpu - cpu_a) / (time.monotonic() - t_a) if cpu_a is not None and t_a else float("nan")
            return 100.0 * cpu / wall, steady, wall
    finally:
        for sim, _ in sims:
            sim.terminate()
            sim.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="acquire duration (default 30)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each, median shown (default 3)")
    parser.add_argument("--tree", type=Path, action="append", default=[],
                        help="another checkout to measure side by side (repeatable)")
    parser.add_argument("--no-session", action="store_true", help="only station acquire")
    parser.add_argument("--in-process-sims", action="store_true",
                        help="also run the session with sim: plates inside the station process (the old figure)")
    args = parser.parse_args(argv)
    trees = [ROOT, *args.tree]
    print(f"two 4-cell SFP plates at 2 kHz; {args.runs} run(s) each, interleaved; CPU in % of one core")
    acq: dict[Path, list[float]] = {t: [] for t in trees}
    ses: dict[Path, list[tuple[float, float]]] = {t: [] for t in trees}
    inp: dict[Path, list[float]] = {t: [] for t in trees}
    for run in range(args.runs):
        for tree in trees:
            pct, wall = acquire_cpu(tree, args.seconds)
            acq[tree].append(pct)
            print(f"  run {run + 1} {tree}: station acquire {pct:5.1f} % over {wall:.1f} s", flush=True)
            if not args.no_session:
                whole, steady, wall = session_cpu(tree)
                ses[tree].append((whole, steady))
                print(f"  run {run + 1} {tree}: station session run --auto --fast (plates in their own processes) "
                      f"{whole:5.1f} % over {wall:.1f} s, {steady:5.1f} % from the first trial on", flush=True)
            if args.in_process_sims:
                whole, _, wall = session_cpu(tree, in_process=True)
                inp[tree].append(whole)
                print(f"  run {run + 1} {tree}: the same with sim: plates inside the station {whole:5.1f} % "
                      f"over {wall:.1f} s", flush=True)
    if args.in_process_sims:
        print(f"  for scale: the two simulators alone use {simulators_cpu(ROOT, 10.0):.1f} % "
              "(inside the in-process session figure)")
    for tree in trees:
        a = statistics.median(acq[tree])
        line = f"{tree}: acquire median {a:.1f} % (target ≤ {ACQUIRE_TARGET_PCT:g} %, ratio {a / ACQUIRE_TARGET_PCT:.2f})"
        if ses[tree]:
            s = statistics.median(x[0] for x in ses[tree])
            st = statistics.median(x[1] for x in ses[tree])
            line += (f"; session median {s:.1f} % whole run (target ≤ {SESSION_TARGET_PCT:g} %, ratio "
                     f"{s / SESSION_TARGET_PCT:.2f}), {st:.1f} % after start-up")
        if inp[tree]:
            line += f"; with in-process simulators {statistics.median(inp[tree]):.1f} %"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
