"""``station sync``: push this station's sessions to the clinic store and pull the others'."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from station.errors import UserError
from station.index.clinic_config import clinic_settings
from station.index.clinic_sync import sync, sync_status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sync", help="share sessions with the clinic's other stations (PostgreSQL store)",
                       description="Pushes this station's closed sessions (one transaction each; a re-sync "
                                   "never duplicates) and pulls every other station's results into the local "
                                   "index, so `station history` shows all sessions of a patient. With the "
                                   "store unreachable, sessions stay queued and this says what is pending "
                                   "(exit status 1). Sessions also sync by themselves: at the start of `station "
                                   "session run` and after each session closes.")
    p.add_argument("--store", metavar="URL",
                   help="postgresql://USER@HOST/DB (default: store_url in the config file); the password "
                        "comes from ~/.pgpass or PGPASSWORD, never from the URL")
    p.add_argument("--dir", "--sessions", dest="sessions", type=Path, default=None, metavar="DIR",
                   help="this station's session folder (default: sessions)")
    p.add_argument("--shared-folder", type=Path, default=None, metavar="DIR",
                   help="also copy the session files here (default: shared_folder in the config file)")
    p.add_argument("--station-name", default=None, metavar="NAME",
                   help="this station's name in the store (default: station_name in the config, else HOST/FOLDER)")
    p.add_argument("--status", "--pending", dest="status", action="store_true",
                   help="say what is waiting to be pushed and how the last sync went (no network)")
    p.add_argument("--no-pull", action="store_true", help="push only")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = clinic_settings()
    session_dir = args.sessions or Path("sessions")
    if not session_dir.is_dir():
        raise UserError(f"{session_dir}: no such session folder")
    if args.status:
        status = sync_status(session_dir, args.store or settings.store_url)
        for line in status.lines():
            print(line)
        return 0
    url = args.store or settings.store_url
    if not url:
        raise UserError(f"no clinic store: pass --store postgresql://… or set store_url in {settings.source}")
    shared = args.shared_folder or settings.shared_folder

    def show(kind: str, text: str) -> None:
        if not args.quiet:
            print(f"  {kind:8s} {text}")

    report = sync(session_dir, url, shared_folder=shared, station_name=args.station_name or settings.station_name,
                  push=True, pull=not args.no_pull, on_event=show)
    lines = report.lines()
    for n, line in enumerate(lines):
        print(line, file=sys.stderr if report.error and n == 0 else sys.stdout)
    return 0 if report.ok else 1
