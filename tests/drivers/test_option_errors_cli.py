"""Issue 13: bad device option values give one line naming the option, exit non-zero, before
any simulator thread starts or file is written (no thread crash with exit 0)."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from station.cli import main


@pytest.mark.parametrize(("uri", "message"), [
    ("sim:mark10?rate=abc", "rate must be a number in (0, 1000] readings/s, got 'abc'"),
    ("sim:openscale?decimals=-1", "decimals must be 0..6, got '-1'"),
    ("sim:sfp?channels=4&rate=-5", "rate must be a number in (0, 10000] Hz, got '-5'"),
    ("sim:loadstar?mode=grams", "unknown mode 'grams' (expected one of weight, counts)"),
    ("sim:mark10?colour=red", "unknown option 'colour'"),
])
def test_acquire_refuses_bad_option_values_before_anything_starts(uri: str, message: str, tmp_path: Path,
                                                                   capsys) -> None:
    out = tmp_path / "never.h5"
    threads_before = {t.ident for t in threading.enumerate()}
    code = main(["acquire", "--device", "sim:mark10", "--device", uri, "--seconds", "1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err
    assert not out.exists()
    leftover = [t for t in threading.enumerate() if t.ident not in threads_before and t.name.startswith("sim-")]
    assert not leftover, leftover
