"""A throwaway local PostgreSQL server, for trying the clinic network and for the tests.

Uses the PostgreSQL binaries shipped by the ``pgserver`` package (PyPI; installed with the
``test`` extra), so nothing needs a system install. It is *not* part of a station: a station
only ever connects to a server as a client and never listens on a port itself.

- ``initdb`` with local (Unix-socket) connections trusted for the ``postgres`` superuser and
  TCP connections requiring a SCRAM password, like a real clinic server.
- Optionally TCP on 127.0.0.1 (a free port), so the tests exercise passwords over TCP. pgserver's
  build has no TLS support, which lets the tests check that a station refuses a server without
  TLS unless its URL says ``sslmode=disable``.
- PostgreSQL refuses to run as root. When started by root (CI, containers), the server runs as
  an unprivileged system user (``pgserver``, created if missing, as pgserver itself does), and
  its data directory is owned by that user.

Command line (for the README walk-through)::

    python -m station.index.pg_local start DIR [--tcp]   # creates database "clinic", prints its owner URL
    python -m station.index.pg_local stop DIR
"""
from __future__ import annotations

import argparse
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

from station.errors import ClinicStoreError, StationError

RUN_AS = "pgserver"   # the unprivileged system user the server runs as when we are root


def _bin_dir() -> Path:
    try:
        with warnings.catch_warnings():   # pgserver asks platformdirs for a runtime dir on import
            warnings.simplefilter("ignore")
            from pgserver._commands import POSTGRES_BIN_PATH
    except ImportError:
        raise ClinicStoreError("a local PostgreSQL needs the pgserver package: "
                        ".venv/bin/pip install pgserver==0.1.4 (or: make .venv/.installed)") from None
    return Path(POSTGRES_BIN_PATH)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPostgres:
    """One PostgreSQL cluster in ``datadir`` (created on first :meth:`start`).

    ``admin_url``: the superuser over the Unix socket (trusted, no password);
    ``tcp_url(user, database)``: a TCP URL (password from the environment or ~/.pgpass)."""

    def __init__(self, datadir: str | Path, *, tcp: bool = False) -> None:
        self.datadir = Path(datadir).resolve()
        self.tcp = tcp
        self.port: int | None = None
        self._user: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            binaries = _bin_dir()   # imports pgserver quietly first
            from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists
            self._user = ensure_user_exists(RUN_AS)
            ensure_prefix_permissions(binaries)          # let the server user reach its binaries
            ensure_folder_permissions(binaries, 0o055)
            ensure_folder_permissions(binaries.parent / "lib", 0o044)

    # -- running commands -------------------------------------------------------------------
    def _run(self, exe: str, *args: str, timeout: float = 60) -> str:
        kwargs: dict = {}
        if self._user is not None:
            kwargs.update(user=self._user.pw_uid, group=self._user.pw_gid, extra_groups=[],
                          cwd=str(self.datadir.parent))
        proc = subprocess.run([str(_bin_dir() / exe), *args], capture_output=False, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, **kwargs)
        if proc.returncode != 0:
            raise ClinicStoreError(f"{exe} failed for {self.datadir}: {proc.stdout.strip().splitlines()[-1:]}")
        return proc.stdout

    def _own(self, path: Path) -> None:
        if self._user is not None:
            os.chown(path, self._user.pw_uid, self._user.pw_gid)

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def initialised(self) -> bool:
        return (self.datadir / "PG_VERSION").exists()

    def init(self) -> None:
        if self.initialised:
            return
        if self._user is not None and self.datadir.parent.stat().st_uid != self._user.pw_uid:
            # the server user must reach the data directory: give it a parent of its own
            parent_mode = self.datadir.parent.stat().st_mode
            if not parent_mode & 0o001:
                raise ClinicStoreError(f"{self.datadir.parent}: the PostgreSQL user {RUN_AS!r} cannot enter this folder "
                                f"(run as root: choose a data folder under /tmp or another world-searchable folder)")
        self.datadir.mkdir(mode=0o700, exist_ok=True)
        self._own(self.datadir)
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--encoding=UTF8", "--no-sync",
                  "--auth-local=trust", "--auth-host=scram-sha-256", "--no-instructions")

    @property
    def pid(self) -> int | None:
        pidfile = self.datadir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def start(self) -> LocalPostgres:
        """Create the cluster if needed and start the server (waits until it accepts connections)."""
        self.init()
        if self.pid is not None:
            self._read_port()
            return self
        options = [f"-k {self.datadir}", "-c fsync=off", "-c full_page_writes=off",
                   "-c max_connections=60", "-c shared_buffers=64MB"]
        if self.tcp:
            self.port = self.port or _free_port()
            options += ["-h 127.0.0.1", f"-p {self.port}"]
        else:
            options += ["-h ''"]
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-t", "30", "-l", str(self.datadir / "server.log"),
                  "-o", " ".join(options), "start")
        self._read_port()
        return self

    def _read_port(self) -> None:
        lines = (self.datadir / "postmaster.pid").read_text().splitlines()
        self.port = int(lines[3])

    def stop(self) -> None:
        if self.pid is not None:
            self._run("pg_ctl", "-D", str(self.datadir), "-w", "-m", "fast", "stop")

    def kill(self) -> None:
        """Kill the server as a crash would: SIGKILL the postmaster and every backend."""
        pid = self.pid
        if pid is None:
            return
        import psutil
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        for p in procs:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=10)
        deadline = time.monotonic() + 10
        while self.pid is not None and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- URLs -------------------------------------------------------------------------------
    @property
    def admin_url(self) -> str:
        """The superuser over the Unix socket (trusted; libpq uses no TLS on a local socket)."""
        return f"postgresql://postgres@/postgres?host={self.datadir}&port={self.port}"

    def socket_url(self, user: str, database: str) -> str:
        return f"postgresql://{user}@/{database}?host={self.datadir}&port={self.port}"

    def tcp_url(self, user: str, database: str) -> str:
        if not self.tcp:
            raise ValueError("server started without TCP")
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m station.index.pg_local",
                                     description="Start or stop a throwaway local PostgreSQL (from the pgserver package).")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("datadir", type=Path)
    parser.add_argument("--database", default="clinic", help="database to create if missing (default: clinic)")
    parser.add_argument("--tcp", action="store_true", help="also listen on 127.0.0.1 (password required; this build has no TLS)")
    args = parser.parse_args(argv)
    try:
        server = LocalPostgres(args.datadir, tcp=args.tcp)
        if args.action == "stop":
            server.stop()
            print(f"stopped the PostgreSQL server in {server.datadir}")
            return 0
        server.start()
    except StationError as exc:
        print(f"pg_local: error: {exc}", file=sys.stderr)
        return 2
    import psycopg
    with psycopg.connect(server.admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.database,)).fetchone():
            conn.execute(f'CREATE DATABASE "{args.database}"')
    print(server.socket_url("postgres", args.database))
    return 0


if __name__ == "__main__":
    sys.exit(main())
