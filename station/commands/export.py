"""``station export``: a session (or all of a patient's sessions) as CSV, JSON, raw samples, PDF, HDF5."""
from __future__ import annotations

import argparse
from pathlib import Path

from station import validate
from station.errors import UserError
from station.export import export, formats
from station.index.store import SessionRecord
from station.index.update import open_or_build

_EPILOG = """\
formats (several at once are fine):
  --csv FILE       tidy CSV, one row per trial (and side measured); ISO 8601 UTC dates
  --wide FILE      one row per test, left_/right_ columns and the LSI (vendor-export shape)
  --raw-csv DIR    each trial's force-time samples, one CSV per trial and device
  --json FILE      the full results (no samples)
  --pdf FILE       a 1-3 page clinical report (clinic name and logo from the config file)
  --h5 FILE        a copy of the session file (one session), e.g. de-identified for research

--deidentify replaces the patient id with a salted hash (the salt stays in the clinic config
file), shifts every date by a per-patient offset, and drops operator names, free-text notes
and file paths. An existing file is never overwritten without --force.

examples:
  station export sessions/P-0042_20261205-101500.h5 --csv P-0042.csv --pdf P-0042.pdf
  station export --patient P-0042 --dir sessions --csv P-0042-all.csv
  station export sessions/P-0042_20261205-101500.h5 --deidentify --json shared.json --h5 shared.h5
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="export a session or a patient's sessions (CSV, JSON, PDF report, …)",
                       description="Export one session file, or every session of a patient, to CSV, JSON, "
                                   "raw sample CSVs, a PDF clinical report or an HDF5 copy.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("session", nargs="?", type=Path, metavar="SESSION.h5", help="the session file to export")
    p.add_argument("--patient", metavar="ID", help="export every session of this patient (from the index of --dir)")
    p.add_argument("--dir", type=Path, default=None, metavar="DIR",
                   help="session directory whose index lists --patient's sessions and gives the report's "
                        "trend (default: the folder of SESSION.h5; with --patient: sessions)")
    for name, fmt in formats().items():
        p.add_argument(f"--{name}", type=Path, metavar="DIR" if fmt.target == "dir" else "FILE",
                       dest=f"out_{name.replace('-', '_')}", help=fmt.help)
    p.add_argument("--deidentify", action="store_true",
                   help="pseudonymise: salted-hash patient id, shifted dates, no operator, notes or paths")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.set_defaults(func=run)


def _session_paths(args: argparse.Namespace) -> tuple[list[Path | SessionRecord], Path]:
    if args.session is not None and args.patient:
        raise UserError("give either SESSION.h5 or --patient ID, not both")
    if args.session is not None:
        return [args.session], args.dir if args.dir is not None else args.session.parent
    args.dir = args.dir if args.dir is not None else Path("sessions")
    if not args.patient:
        raise UserError("give a session file (SESSION.h5) or --patient ID")
    validate.patient_id(args.patient)  # a path is no patient id: refused before the index is opened
    if not args.dir.is_dir():
        raise UserError(f"--dir {args.dir}: no such directory")
    store = open_or_build(args.dir)
    try:
        rows = store.sessions(args.patient)
        # read from the session file where it is here; a session recorded on another station (pulled
        # by `station sync`, its file not in a shared folder here) or a damaged file: from its index rows
        sources: list[Path | SessionRecord] = []
        for r in rows:
            record = store.get_session(r.session_id)
            sources.append(record if record is not None else Path(r.path))
    finally:
        store.close()
    if not rows:
        raise UserError(f"patient {args.patient}: no sessions in the index of {args.dir} "
                        f"(run `station index rebuild {args.dir}`)")
    return sources, args.dir


def run(args: argparse.Namespace) -> int:
    outputs = {name: getattr(args, f"out_{name.replace('-', '_')}") for name in formats()}
    outputs = {k: v for k, v in outputs.items() if v is not None}
    if not outputs:
        raise UserError("nothing to export: give at least one of " + ", ".join(f"--{n}" for n in formats()))
    paths, session_dir = _session_paths(args)
    notes: list[str] = []
    written = export(paths, outputs, deidentify=args.deidentify, force=args.force, session_dir=session_dir,
                     notes=notes)
    for n in notes:
        print(f"note: {n}")
    for w in written:
        print(f"wrote {w}")
    return 0
