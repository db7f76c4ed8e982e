"""Exports: one module per format behind one small registry.

Each format registers an :class:`ExportFormat`: its option (``--csv``), whether it writes a
file or a directory, whether it takes several sessions (a patient's), and its ``write``
function, which gets the sessions as :class:`~station.export.source.SessionData` (already
de-identified when asked) and the destination. :func:`run_exports` checks every destination
before anything is written, so an existing file is never overwritten without ``force``, and
writes each output atomically (a temporary name, then a rename).
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station.errors import ConfigError, OptionError, StationError
from station.validate import not_a_broken_link, writable_folder
from station.export.deidentify import Pseudonymiser
from station.export.source import SessionData, from_record, load
from station.index.store import ResultsStore, SessionRecord
from station.storage.damage import Damage


@dataclass
class ExportContext:
    """What an exporter may need besides the sessions."""

    clinic_name: str = ""
    logo: Path | None = None
    store: ResultsStore | None = None        # for the report's trend (None: no trend section)
    deidentified: bool = False
    pseudonymiser: Pseudonymiser | None = None
    options: dict[str, Any] = field(default_factory=dict)


Writer = Callable[[Sequence[SessionData], Path, ExportContext], None]


@dataclass(frozen=True)
class ExportFormat:
    name: str                 # "csv", also the option: --csv
    target: str               # "file" | "dir"
    help: str
    write: Writer
    multi_session: bool = True   # can write several sessions (station export --patient)
    needs_traces: bool = False   # reads the samples, not only the results
    suffix: str = ""


REGISTRY: dict[str, ExportFormat] = {}


def register(fmt: ExportFormat) -> ExportFormat:
    REGISTRY[fmt.name] = fmt
    return fmt


def formats() -> dict[str, ExportFormat]:
    """Every export format, by name (importing the format modules registers them)."""
    from station.export import csv_tidy, hdf5_copy, json_full, pdf_report, raw_csv, wide_csv  # noqa: F401

    return REGISTRY


def check_destination(fmt: ExportFormat, dest: Path, force: bool) -> None:
    """One-line :class:`~station.errors.OptionError` unless ``dest`` can be written."""
    not_a_broken_link(dest, f"--{fmt.name}")
    not_a_broken_link(dest.parent, f"--{fmt.name}", dest)
    if fmt.target == "dir":
        if dest.exists() and not dest.is_dir():
            raise OptionError(f"--{fmt.name} {dest}: exists and is not a directory")
        if dest.is_dir() and any(dest.iterdir()) and not force:
            raise OptionError(f"--{fmt.name} {dest}: directory is not empty (use --force to overwrite its files)")
    else:
        if dest.is_dir():
            raise OptionError(f"--{fmt.name} {dest}: is a directory, expected a file name")
        if dest.exists() and not force:
            raise OptionError(f"--{fmt.name} {dest}: already exists (use --force to overwrite)")
    parent = dest.parent if fmt.target == "file" else dest.parent
    if not parent.exists():
        raise OptionError(f"--{fmt.name} {dest}: folder {parent} does not exist")
    if not parent.is_dir():
        raise OptionError(f"--{fmt.name} {dest}: {parent} is a file, not a folder")
    writable_folder(parent, f"--{fmt.name} {dest}: folder {parent}")  # a real probe: also read-only mounts


def deidentify_sessions(sessions: Sequence[SessionData], p: Pseudonymiser) -> list[SessionData]:
    """Copies of ``sessions`` with every identifying value replaced or removed (see
    :mod:`station.export.deidentify`). Samples are numbers on a monotonic clock and stay."""
    out = []
    for s in sessions:
        sc = p.for_patient(s.patient_id, tuple(x.record.session.session_id for x in sessions))
        rec = s.record
        record = SessionRecord(sc.row(rec.session), tuple(sc.row(r) for r in rec.tests),
                               tuple(sc.row(r) for r in rec.sides), tuple(sc.row(r) for r in rec.trials))
        out.append(dataclasses.replace(
            s, root=sc.value(s.root), session=sc.value(s.session),
            tests={k: sc.value(v) for k, v in s.tests.items()},
            trials={k: sc.value(v) for k, v in s.trials.items()},
            protocols={k: sc.value(v) for k, v in s.protocols.items()},
            devices={k: sc.value(v) for k, v in s.devices.items()}, record=record))
    return out


def _write_atomic(fmt: ExportFormat, sessions: Sequence[SessionData], dest: Path, ctx: ExportContext) -> None:
    if fmt.target == "dir":
        dest.mkdir(exist_ok=True)
        fmt.write(sessions, dest, ctx)
        return
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        fmt.write(sessions, tmp, ctx)
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


#: what an export reads: a session file, or a session's results-index rows (a session recorded on
#: another station and pulled from the clinic store, whose file is not here)
Source = Path | SessionRecord


def _where(record: SessionRecord) -> str:
    s = record.session
    return f"session {s.started_utc[:16].replace('T', ' ')} ({s.path or s.session_id})"


def load_sources(sources: Sequence[Source], *, traces: bool, notes: list[str] | None = None) -> list[SessionData]:
    """Read each source. A :class:`SessionRecord` whose file is here (on this station or in the
    shared folder) is read from the file; otherwise, or when that file cannot be read, from the
    index rows (:func:`~station.export.source.from_record`), with a note. A path is read from its file."""
    out: list[SessionData] = []
    for src in sources:
        if not isinstance(src, SessionRecord):
            out.append(load(src, traces=traces))
            continue
        path = Path(src.session.path) if src.session.path else None
        if path is not None and path.is_file():
            try:
                out.append(load(path, traces=traces))
                continue
            except StationError as exc:
                reason = f"its file cannot be read ({exc})"
        else:
            reason = "its file is not on this station (recorded elsewhere; no shared folder copy here)"
        if notes is not None:
            notes.append(f"{_where(src)}: {reason}; exported from the results index"
                         + (" (no samples, so no curves or raw samples for it)" if traces else ""))
        out.append(from_record(src))
    return out


def run_exports(paths: Sequence[Source], outputs: dict[str, Path], ctx: ExportContext, *, force: bool = False,
                salt: str | None = None, notes: list[str] | None = None) -> list[Path]:
    """Export the sessions ``paths`` (session files, or index records: see :func:`load_sources`)
    to every ``outputs`` format → destination.

    ``salt`` (with ``ctx.deidentified``) pseudonymises first. Returns the written paths.
    ``notes`` receives one line per damaged session file: what was left out."""
    fmts = formats()
    for name, dest in outputs.items():
        if name not in fmts:
            raise OptionError(f"unknown export format {name!r}; known: {', '.join(sorted(fmts))}")
        if len(paths) > 1 and not fmts[name].multi_session:
            raise OptionError(f"--{name}: takes one session file, not a patient's {len(paths)} sessions")
        check_destination(fmts[name], dest, force)
    traces = any(fmts[n].needs_traces for n in outputs)
    sessions = load_sources(paths, traces=traces, notes=notes)
    if notes is not None:
        notes.extend(f"{s.path}: damaged session file, exported what is readable; left out: "
                     f"{Damage(list(s.damaged)).summary()}" for s in sessions if s.damaged)
    if "h5" in outputs:
        missing = [s for s in sessions if s.index_only]
        if missing:
            raise OptionError(f"--h5: {_where(missing[0].record)}: its file is not on this station, "
                            f"only its results; copy the file from the station that recorded it")
    if ctx.deidentified:
        if not salt:
            raise ConfigError("de-identification needs the clinic's salt")
        ctx.pseudonymiser = Pseudonymiser(salt)
        # kept in memory for index look-ups (the report's trend), never written
        ctx.options["original_patient_ids"] = {ctx.pseudonymiser.patient(s.patient_id): s.patient_id
                                               for s in sessions}
        ctx.options["original_dates"] = {ctx.pseudonymiser.session_id(s.record.session.session_id): s.date_utc
                                         for s in sessions}
        sessions = deidentify_sessions(sessions, ctx.pseudonymiser)
    written = []
    for name, dest in outputs.items():
        _write_atomic(fmts[name], sessions, dest, ctx)
        written.append(dest)
    return written



def export(paths: Sequence[Source], outputs: dict[str, Path], *, deidentify: bool = False, force: bool = False,
           session_dir: Path | None = None, notes: list[str] | None = None) -> list[Path]:
    """The export entry point for front ends (the CLI, the window's Report and Export buttons):
    clinic name and logo from the config file, the salt when de-identifying, the results index
    of ``session_dir`` (default: the first file's folder) for the report's trend.
    ``notes`` receives one-line remarks (e.g. no index, so no trend in the report)."""
    from station.config import ensure_salt, load_config
    from station.index.sqlite import INDEX_NAME
    from station.index.update import open_store

    cfg = load_config()
    ctx = ExportContext(clinic_name=cfg.clinic_name, logo=cfg.logo, deidentified=deidentify)
    if ctx.logo is not None and not ctx.logo.is_file() and "pdf" in outputs:
        raise ConfigError(f"{cfg.path}: clinic.logo {ctx.logo}: no such file")
    salt = ensure_salt() if deidentify else None
    first = paths[0] if paths else None
    folder = session_dir if session_dir is not None else (
        Path(first).parent if first is not None and not isinstance(first, SessionRecord) else Path("."))
    if "pdf" in outputs:
        if (folder / INDEX_NAME).exists():
            ctx.store = open_store(folder)
        elif notes is not None:
            notes.append(f"{folder}: no results index, so the report has no trend "
                         f"(run `station index rebuild {folder}`)")
    try:
        return run_exports(paths, outputs, ctx, force=force, salt=salt, notes=notes)
    finally:
        if ctx.store is not None:
            ctx.store.close()
