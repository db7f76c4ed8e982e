"""``station store init|status``: the clinic's shared results store on PostgreSQL."""
from __future__ import annotations

import argparse
import re

from station.errors import UserError
from station.index.clinic_config import clinic_settings
from station.index.pg_migrations import LATEST, SCHEMA, SYNC_ROLE
from station.index.postgres import PostgresStore, connect, migrate, schema_version, wrap_error


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help="create or check the clinic's shared results store (PostgreSQL)",
                       description="The clinic's shared results store: several stations push their sessions "
                                   "to one PostgreSQL database and pull each other's (`station sync`). "
                                   "Passwords come from ~/.pgpass or PGPASSWORD, never from the URL; TLS "
                                   "is required unless the URL sets sslmode. See docs/clinic-network.md.")
    ss = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    i = ss.add_parser("init", help="create or upgrade the schema (idempotent) and the station role",
                      description="Creates (or upgrades) the force_station schema by applying the versioned "
                                  "migrations the database lacks, in one transaction; running it again changes "
                                  f"nothing. Creates the NOLOGIN group role {SYNC_ROLE} (read all, insert "
                                  "sessions and results, mark a baseline; no delete, no DDL). Run it with the "
                                  "database owner's role, not a station's.")
    i.add_argument("url", metavar="postgresql://USER@HOST/DB", help="the store (the owner's role)")
    i.add_argument("--grant", action="append", default=[], metavar="ROLE",
                   help=f"a station's login role: created if missing (LOGIN, no password: set one in psql "
                        f"with \\password ROLE for TCP logins) and made a member of {SYNC_ROLE} (repeatable)")
    i.set_defaults(func=run_init)
    s = ss.add_parser("status", help="schema version and what the store holds",
                      description="Connects to the store (--store, else store_url from the config file) and "
                                  "prints its schema version, server version and row counts.")
    s.add_argument("--store", metavar="URL", help="the store (default: store_url in the config file)")
    s.set_defaults(func=run_status)


def run_init(args: argparse.Namespace) -> int:
    for role in args.grant:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", role):
            raise UserError(f"--grant {role!r}: not a plain PostgreSQL role name")
    conn = connect(args.url)
    where = conn.info_text
    try:
        try:
            before = schema_version(conn)
            applied = migrate(conn)
            created = []
            for role in args.grant:
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    conn.execute(f'CREATE ROLE "{role}" LOGIN')
                    created.append(role)
                conn.execute(f'GRANT {SYNC_ROLE} TO "{role}"')
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - psycopg errors: one line naming host and database
            raise wrap_error(exc, where) from None
    finally:
        conn.close()
    if applied:
        for version, name in applied:
            print(f"applied migration {version}: {name}")
        print(f"results store ({where}): schema {SCHEMA} at version {LATEST} (was {before or 'absent'})")
    else:
        print(f"results store ({where}): schema {SCHEMA} already at version {LATEST}; nothing to do")
    for role in args.grant:
        print(f"{'created login role ' + role + ' and ' if role in created else ''}granted {SYNC_ROLE} to {role}")
    if args.grant:
        print("for logins over the network, give each role a password as the owner (psql: \\password ROLE); "
              "on the station it goes in ~/.pgpass, never in the URL")
    else:
        print(f"stations log in with their own role, a member of {SYNC_ROLE}: rerun with --grant ROLE, or in psql "
              f"CREATE ROLE room1 LOGIN IN ROLE {SYNC_ROLE}; then \\password room1")
    return 0


def run_status(args: argparse.Namespace) -> int:
    url = args.store or clinic_settings().store_url
    if not url:
        raise UserError(f"no clinic store: pass --store postgresql://… or set store_url in "
                        f"{clinic_settings().source}")
    with PostgresStore.open(url) as store:
        version = store._rows("SHOW server_version")[0][0]  # noqa: SLF001 - the store's own query helper
        schema = schema_version(store.conn)
        counts = store.counts()
        store_id = store.store_id()
        where = store.where
    print(f"results store ({where}): PostgreSQL {version}, schema version {schema}, store id {store_id}")
    print("  " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    return 0
