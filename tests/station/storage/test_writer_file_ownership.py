"""A session never opens a file it did not create (issue 15, part 2): a colliding name is
refused with a clear error and left byte-identical, a file swapped in under the writer is not
touched, and session file names are unique (UTC time plus the session UUID)."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest

from station.errors import UserError
from station.session.runner import session_path
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec

SPEC = TrialSpec("01_t", "001", {"dyn": TrialDevice(1, False)}, {"side": "left"})


def other_session(path: Path) -> str:
    """Another station's finished session file at ``path``; returns its SHA-256."""
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "force-station-session"
        f.attrs["session_id"] = "the-other-station"
        f.attrs["status"] = "complete"
        f.require_group("devices/dynamometer").attrs["serial"] = "OTHER-1"
        f.create_dataset("tests/01_t/trials/001/dynamometer/force_n", data=np.arange(100.0))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_colliding_file_is_refused_and_stays_byte_identical(tmp_path: Path) -> None:
    path = tmp_path / "P-1_20261205-101500.h5"
    digest = other_session(path)
    mtime = os.stat(path).st_mtime_ns
    w = SessionWriter(path)
    with pytest.raises(UserError, match="already exists") as caught:
        w.create({"session_id": "mine"}, {"patient_id": "P-1"})  # the error reaches the caller here
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    # whatever the caller does next, nothing is written to the other session's file
    for call in (lambda: w.set_attrs("devices/dynamometer", {"serial": "MINE"}),
                 lambda: w.begin_trial(SPEC),
                 lambda: w.append("dyn", np.arange(5.0), np.ones((5, 1)), np.ones((5, 1))),
                 lambda: w.end_trial({"status": "complete"}),
                 lambda: w.sync(),
                 lambda: w.close({"status": "complete"})):
        with contextlib.suppress(UserError):
            call()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert os.stat(path).st_mtime_ns == mtime


def test_a_file_swapped_in_under_the_writer_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    w = SessionWriter(path)
    w.create({"session_id": "mine"}, {"patient_id": "P"})
    w.sync()
    theirs = tmp_path / "theirs.h5"
    digest = other_session(theirs)
    os.replace(theirs, path)  # another program put its file at our name between trials
    w.set_attrs("devices/dyn", {"unit": "N"})
    with pytest.raises(UserError, match="replaced by another file"):
        w.sync()
    with contextlib.suppress(UserError):
        w.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_session_names_are_unique_and_utc() -> None:
    ids = [str(uuid.uuid4()) for _ in range(50)]
    names = {session_path(Path("out"), "P-1", sid).name for sid in ids}
    assert len(names) == 50  # fifty sessions in the same second: fifty names
    name = session_path(Path("out"), "P-1", "0b5d2e5c-1111-2222-3333-444455556666").name
    assert re.fullmatch(r"P-1_\d{8}T\d{6}Z_0b5d2e5c\.h5", name)
    assert session_path(Path("out"), "P-1").name != session_path(Path("out"), "P-1").name
