"""``station index``: the results index beside the session files (rebuild, baseline mark, list)."""
from __future__ import annotations

import argparse
from pathlib import Path

from station.index.sqlite import INDEX_NAME
from station.index.update import BASELINE_LABELS, mark_baseline, open_store, rebuild

_DESCRIPTION = f"""\
Every session directory keeps a results index ({INDEX_NAME}) beside its session files: one
row per session, test, side and trial. The station adds each session to it when the session
file closes; `station history` and `station export --patient` read it. The files stay the
source of truth: `rebuild` recreates the index from them at any time.
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("index", help="rebuild or list the results index; mark a baseline session",
                            description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=run, index_parser=parser)
    ss = parser.add_subparsers(dest="index_command", metavar="SUBCOMMAND")

    r = ss.add_parser("rebuild", help="recreate the index of DIR from its session files",
                      description="Recreate the results index of DIR from its *.h5 session files. Files being "
                                  "recorded, damaged or foreign are skipped and listed.")
    r.add_argument("dir", type=Path, metavar="DIR", help="session directory")
    r.set_defaults(index_func=cmd_rebuild)

    b = ss.add_parser("baseline", help="mark a session as the patient's baseline (EPIC view)",
                      description="Mark a session file as its patient's baseline (pre-injury or pre-operative). "
                                  "`station history` then compares the involved side now with the uninvolved "
                                  "side of this session instead of the first session. The mark is stored in the "
                                  "file (root attribute 'baseline') and in the index.")
    b.add_argument("file", type=Path, metavar="SESSION.h5")
    b.add_argument("--label", choices=BASELINE_LABELS, default="pre-operative",
                   help="kind of baseline (default: pre-operative)")
    b.add_argument("--clear", action="store_true", help="remove the mark instead")
    b.set_defaults(index_func=cmd_baseline)

    ls = ss.add_parser("list", help="list the indexed sessions of DIR",
                       description="List the sessions in the index of DIR, oldest first.")
    ls.add_argument("dir", type=Path, metavar="DIR")
    ls.add_argument("--patient", metavar="ID", help="only this patient")
    ls.set_defaults(index_func=cmd_list)


def run(args: argparse.Namespace) -> int:
    fn = getattr(args, "index_func", None)
    if fn is None:
        args.index_parser.print_help()
        return 2
    return int(fn(args) or 0)


def cmd_rebuild(args: argparse.Namespace) -> int:
    report = rebuild(args.dir)
    print("\n".join(report.lines()))
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    label = None if args.clear else args.label
    sid = mark_baseline(args.file, label)
    print(f"{args.file}: session {sid} " + ("no longer marked as baseline" if label is None
                                            else f"marked as baseline ({label})"))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from station.errors import UserError

    if not args.dir.is_dir():
        raise UserError(f"{args.dir}: no such directory")
    store = open_store(args.dir)
    try:
        rows = store.sessions(args.patient)
    finally:
        store.close()
    for s in rows:
        mark = f"  baseline ({s.baseline})" if s.baseline else ""
        print(f"{s.started_utc[:19].replace('T', ' ')}  {s.patient_id:<12} {s.status:<11} {Path(s.path).name}{mark}")
    if not rows:
        print(f"{args.dir}: no sessions in the index (run `station index rebuild {args.dir}`)")
    return 0
