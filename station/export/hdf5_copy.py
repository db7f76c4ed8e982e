"""``--h5 FILE``: a copy of the session file; with ``--deidentify`` the copy to share for research.

The copy is built group by group into a new file (never copied and then edited, which could
leave the old attribute bytes in the file's free space): samples as they are, every attribute
through the same scrubbing as the other exports (pseudonym, shifted dates, operator, notes
and paths removed), JSON attributes included.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py

from station.errors import StorageError
from station.export import ExportContext, ExportFormat, register
from station.export.deidentify import DROP_KEYS, Scrubber
from station.export.source import SessionData
from station.storage import layout
from station.storage.reader import open_session


def _attr(value: Any, sc: Scrubber | None) -> Any:
    if sc is None:
        return value
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                return json.dumps(sc.value(json.loads(value)), sort_keys=True)
            except ValueError:
                pass
        return sc.text(value)
    return value


def _copy(src: h5py.Group, dst: h5py.Group, sc: Scrubber | None) -> None:
    for k, v in src.attrs.items():
        if sc is not None and k in DROP_KEYS:
            continue
        dst.attrs[k] = _attr(v, sc)
    for name, obj in src.items():
        if isinstance(obj, h5py.Group):
            _copy(obj, dst.create_group(name), sc)
        elif isinstance(obj, h5py.Dataset):
            d = dst.create_dataset(name, data=obj[()], chunks=obj.chunks, maxshape=obj.maxshape,
                                   compression=obj.compression)
            for k, v in obj.attrs.items():
                d.attrs[k] = _attr(v, sc)


def write(sessions: Sequence[SessionData], dest: Path, ctx: ExportContext) -> None:
    (s,) = sessions
    sc = None
    if ctx.deidentified:
        assert ctx.pseudonymiser is not None
        # the original (not yet scrubbed) ids are needed to find them: read them from the file
        with open_session(s.path) as f:
            pid = str(f["session"].attrs.get("patient_id", "")) if "session" in f else ""
            sid = str(f.attrs.get("session_id", ""))
        sc = ctx.pseudonymiser.for_patient(pid, (sid,))
    try:
        with open_session(s.path) as src, h5py.File(dest, "w", libver=layout.LIBVER, locking=False) as dst:
            _copy(src, dst, sc)
            if sc is not None:
                dst.attrs["deidentified"] = True
    except OSError as exc:
        raise StorageError(f"--h5 {dest}: cannot write ({' '.join(str(exc).split())})") from None


register(ExportFormat("h5", "file", "a copy of the session file (de-identified with --deidentify)", write,
                      multi_session=False, suffix=".h5"))
