"""Clinic store at scale: a synthetic clinic network on a real PostgreSQL (pgserver's binaries).

Default size: 100 stations, 20,000 patients, 1,000,000 trials (83,334 sessions of 2 tests
x 2 sides x 3 reps). Prints:

- bulk load rate (trials/s) with COPY, the way a clinic's existing data would be imported;
- sync-path write rate: sessions written one transaction each through ``PostgresStore.put_session``;
- one patient's history query (``PostgresStore.history``, the station's own least-privilege
  role): p50 / p99 over random patients (target p99 < 100 ms);
- ``station sync`` of one new session file, end to end (read the file, hash it, push, pull
  what changed): median / max (target < 1 s);
- a new station's first pull of the whole clinic into its SQLite index.

Usage: python benchmarks/bench_clinic_store.py [--trials N] [--patients N] [--stations N]
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "tests" / "station" / "clinic"))

import psycopg  # noqa: E402

from station.index.pg_local import LocalPostgres  # noqa: E402
from station.index.pg_migrations import SCHEMA as S  # noqa: E402
from station.index.postgres import PostgresStore, Station, migrate, version_key  # noqa: E402

PROTOCOLS = ("hip-abduction-hhd", "knee-extension-hhd")
REPS = 3
TRIALS_PER_SESSION = len(PROTOCOLS) * 2 * REPS


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000+00:00"


def generate(conn: psycopg.Connection, stations: int, patients: int, trials: int, seed: int = 7) -> dict:
    """COPY a synthetic clinic into the store; returns figures."""
    rng = random.Random(seed)
    n_sessions = -(-trials // TRIALS_PER_SESSION)
    station_ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(stations)]
    patient_ids = [f"P-{k:06d}" for k in range(patients)]
    t0 = time.perf_counter()
    written = 0
    with conn.cursor() as cur:
        with cur.copy(f"COPY {S}.stations (station_id, name) FROM STDIN") as cp:
            for k, sid in enumerate(station_ids):
                cp.write_row((sid, f"Room {k + 1}"))
        with cur.copy(f"COPY {S}.patients (patient_id) FROM STDIN") as cp:
            for p in patient_ids:
                cp.write_row((p,))
        start = time.time() - 3 * 365 * 86400
        sessions = []
        for k in range(n_sessions):
            sessions.append((str(uuid.UUID(int=rng.getrandbits(128))), patient_ids[k % patients],
                             station_ids[rng.randrange(stations)], _iso(start + rng.random() * 3 * 365 * 86400)))
        with cur.copy(f"COPY {S}.sessions (session_id, patient_id, station_id, started_utc, status, "
                      f"body_mass_kg, involved_side, file_name, file_sha256, file_size_bytes) FROM STDIN") as cp:
            for sid, pid, st, started in sessions:
                cp.write_row((sid, pid, st, started, "complete", 70.0, "right", f"{pid}.h5", "0" * 64, 400000))
        with cur.copy(f"COPY {S}.analyses (analysis_id, session_id, algorithm_version, version_key) FROM STDIN") as cp:
            for aid, (sid, *_rest) in enumerate(sessions, start=1):
                cp.write_row((aid, sid, "1.0.0", version_key("1.0.0")))
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{S}.analyses', 'analysis_id'), %s)", (n_sessions,))
        with cur.copy(f"COPY {S}.tests (analysis_id, test, protocol_id, name, kind, status, symmetry_kind, "
                      f"lsi_pct, passed) FROM STDIN") as cp:
            for aid in range(1, n_sessions + 1):
                for i, proto in enumerate(PROTOCOLS, start=1):
                    cp.write_row((aid, f"{i:02d}_{proto}", proto, proto, "isometric", "complete", "lsi",
                                  85.0, False))
        with cur.copy(f"COPY {S}.sides (analysis_id, test, side, best_n, mean_n, cv_pct, n_reps, "
                      f"best_n_per_kg) FROM STDIN") as cp:
            for aid in range(1, n_sessions + 1):
                for i, proto in enumerate(PROTOCOLS, start=1):
                    for side in ("left", "right"):
                        cp.write_row((aid, f"{i:02d}_{proto}", side, 200.0, 195.0, 3.0, REPS, 200.0 / 70))
        with cur.copy(f"COPY {S}.trials (analysis_id, test, trial, side, rep, attempt, status, peak_force_n, "
                      f"peak_force_n_per_kg, time_to_peak_s, rfd_0_100_n_per_s, algorithm_version) FROM STDIN") as cp:
            for aid in range(1, n_sessions + 1):
                n = 0
                for i, proto in enumerate(PROTOCOLS, start=1):
                    for rep in range(1, REPS + 1):
                        for side in ("left", "right"):
                            if written >= trials:
                                break
                            n += 1
                            peak = 150.0 + rng.random() * 100.0
                            cp.write_row((aid, f"{i:02d}_{proto}", f"{n:03d}", side, rep, rep, "complete", peak,
                                          peak / 70.0, 0.5, peak * 4.0, "1.0.0"))
                            written += 1
    conn.commit()
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    conn.execute("ANALYZE")
    conn.commit()
    return {"sessions": n_sessions, "trials": written, "load_s": load_s, "analyze_s": time.perf_counter() - t1,
            "patients": patient_ids}


def _local_index_writes(station_url: str, session_ids: list[str], base: Path) -> None:
    """The SQLite side of a first pull, side by side: the same pulled sessions written one
    transaction per session (put_session) and in batches of 500 (put_sessions)."""
    from station.index.clinic_sync import PULL_BATCH
    from station.index.sqlite import SqliteStore
    with PostgresStore.open(station_url) as store:
        records = store.get_sessions(session_ids)
    figures = {}
    for how in ("put_session", "put_sessions"):
        path = base / f"{how}.sqlite3"
        with SqliteStore(path) as local:
            t0 = time.perf_counter()
            if how == "put_session":
                for r in records:
                    local.put_session(r)
            else:
                for k in range(0, len(records), PULL_BATCH):
                    local.put_sessions(records[k:k + PULL_BATCH])
            figures[how] = len(records) / (time.perf_counter() - t0)
    print(f"local SQLite index writes of {len(records):,} pulled sessions: one transaction each "
          f"{figures['put_session']:,.0f} sessions/s, batches of {PULL_BATCH} {figures['put_sessions']:,.0f} "
          f"sessions/s ({figures['put_sessions'] / figures['put_session']:.1f}x)", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stations", type=int, default=100)
    ap.add_argument("--patients", type=int, default=20_000)
    ap.add_argument("--trials", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=2000, help="history queries timed")
    ap.add_argument("--syncs", type=int, default=20, help="one-session syncs timed")
    ap.add_argument("--put-sessions", type=int, default=300, help="sessions written through put_session")
    ap.add_argument("--skip-full-pull", action="store_true", help="skip the new station's first full pull")
    args = ap.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="fs-pgbench-"))
    base.chmod(0o711)
    server = LocalPostgres(base / "data").start()
    try:
        with psycopg.connect(server.admin_url, autocommit=True) as c:
            c.execute("CREATE DATABASE clinic")
            row = c.execute("SHOW server_version").fetchone()
            version = row[0] if row else "?"
        owner_url = server.socket_url("postgres", "clinic")
        with psycopg.connect(owner_url, autocommit=True) as c:
            migrate(c)
            c.execute("DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='bench_station') THEN "
                      "CREATE ROLE bench_station LOGIN IN ROLE force_station_sync; END IF; END$$")
        print(f"PostgreSQL {version} (pgserver binaries), {args.stations} stations, {args.patients} patients, "
              f"{args.trials} trials", flush=True)

        with psycopg.connect(owner_url) as c:
            g = generate(c, args.stations, args.patients, args.trials)
        rate = g["trials"] / g["load_s"]
        print(f"bulk load (COPY): {g['trials']:,} trials, {g['sessions']:,} sessions in {g['load_s']:.1f} s "
              f"= {rate:,.0f} trials/s (ANALYZE {g['analyze_s']:.1f} s)", flush=True)

        station_url = server.socket_url("bench_station", "clinic")
        from clinic_records import make_record
        with PostgresStore.open(station_url, station=Station(str(uuid.uuid4()), "Bench")) as store:
            recs = [make_record(f"P-{k % args.patients:06d}", protocols=PROTOCOLS) for k in range(args.put_sessions)]
            t0 = time.perf_counter()
            for r in recs:
                store.put_session(r)
            dt = time.perf_counter() - t0
            n_trials = sum(len(r.trials) for r in recs)
            print(f"sync-path writes (put_session, one transaction each): {len(recs)} sessions in {dt:.2f} s = "
                  f"{len(recs) / dt:,.0f} sessions/s, {n_trials / dt:,.0f} trials/s", flush=True)

            rng = random.Random(3)
            times = []
            rows = 0
            for _ in range(args.queries):
                p = rng.choice(g["patients"])
                t0 = time.perf_counter()
                rows += len(store.history(p))
                times.append(time.perf_counter() - t0)
            times.sort()
            p50 = statistics.median(times) * 1000
            p99 = times[int(0.99 * (len(times) - 1))] * 1000
            print(f"history query, one patient ({rows / len(times):.0f} rows each): p50 {p50:.2f} ms, "
                  f"p99 {p99:.2f} ms, max {times[-1] * 1000:.1f} ms (target p99 < 100 ms: {100 / p99:.0f}x margin)",
                  flush=True)

        from clinic_sessions import write_session
        from station.index.clinic_sync import sync
        folder = base / "station"
        staging = base / "staging"
        files = [write_session(staging, f"P-{k:06d}", _iso(time.time() - 86400 + k)) for k in range(args.syncs)]
        folder.mkdir()
        if not args.skip_full_pull:
            t0 = time.perf_counter()
            first = sync(folder, station_url, station_name="New room")
            dt = time.perf_counter() - t0
            assert first.ok, first.error
            print(f"new station's first pull of the whole clinic: {len(first.pulled):,} sessions into its "
                  f"SQLite index in {dt:.1f} s ({len(first.pulled) / dt:,.0f} sessions/s)", flush=True)
            _local_index_writes(station_url, first.pulled[:2000], base)
        else:
            sync(folder, station_url, station_name="New room", pull=False)
        times = []
        for f in files:
            shutil.move(str(f), folder / f.name)
            t0 = time.perf_counter()
            rep = sync(folder, station_url, station_name="New room", pull=not args.skip_full_pull)
            times.append(time.perf_counter() - t0)
            assert rep.ok and len(rep.pushed) == 1, (rep.error, rep.pushed)
        print(f"station sync of one new session (file read, SHA-256, push, pull): median "
              f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {len(times)} "
              f"(target < 1 s)", flush=True)
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
