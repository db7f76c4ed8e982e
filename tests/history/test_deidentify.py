"""De-identified exports hold no identifying value anywhere (HDF5 attributes included)."""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import shutil
from pathlib import Path

import h5py

from station.cli import main
from station.config import load_config
from station.export.deidentify import Pseudonymiser
from station.index.update import rebuild


def identifying_values(path: Path) -> list[str]:
    """Every identifying value of a session file: ids, people, notes, file name, dates."""
    with h5py.File(path, "r") as f:
        s = f["session"].attrs
        values = [str(s["patient_id"]), str(s["operator"]), str(s["notes"]), str(f.attrs["session_id"]), path.stem]
        for key in ("created_utc", "closed_utc"):
            stamp = str(f.attrs[key])
            values += [stamp, stamp[:10], stamp[:10].replace("-", "")]
        for g in f["tests"].values():
            for t in g["trials"].values():
                values.append(str(t.attrs["started_utc"])[:10])
    return sorted(set(values))


def test_deidentified_exports_hold_no_identifying_value(recovery_dir: Path, tmp_path: Path,
                                                       _isolated_config: Path):
    rebuild(recovery_dir)
    src = recovery_dir / "P-0042_2.h5"
    # the report's trend shows the earlier sessions too: their dates and ids must not appear either
    needles = sorted({v for f in sorted(recovery_dir.glob("*.h5")) for v in identifying_values(f)})
    assert "P-0042" in needles and "Dr Jane Example" in needles and "2026-10-01" in needles and "2026-09-01" in needles
    out = {"csv": tmp_path / "d.csv", "wide": tmp_path / "d_wide.csv", "json": tmp_path / "d.json",
           "h5": tmp_path / "d.h5", "pdf": tmp_path / "d.pdf", "raw-csv": tmp_path / "raw"}
    args = [str(src), "--deidentify"] + [x for k, v in out.items() for x in (f"--{k}", str(v))]
    assert main(["export", *args]) == 0
    salt = load_config().salt
    assert salt and len(salt) == 64
    haystacks: dict[str, bytes] = {}
    for k, p in out.items():
        if p.is_dir():
            for f in p.iterdir():
                haystacks[f"{k}/{f.name}"] = f.read_bytes()
        else:
            haystacks[k] = p.read_bytes()
    if shutil.which("pdftotext"):
        haystacks["pdf text"] = subprocess.run(["pdftotext", str(out["pdf"]), "-"], capture_output=True).stdout
        assert b"improved beyond MDC" in haystacks["pdf text"]  # the trend (with the earlier session) is there
    with h5py.File(out["h5"], "r") as f:  # every attribute, decoded (JSON inside attributes too)
        attrs = []
        f.visititems(lambda n, o: attrs.extend(f"{k}={v}" for k, v in o.attrs.items()))
        attrs.extend(f"{k}={v}" for k, v in f.attrs.items())
        haystacks["h5 attributes"] = "\n".join(attrs).encode()
        assert f.attrs["deidentified"]
        pid = f["session"].attrs["patient_id"]
        assert "operator" not in f["session"].attrs and "notes" not in f["session"].attrs
        # samples are kept
        assert f["tests/01_knee-extension-60/trials/001/dynamometer/force_n"].shape[0] > 1000
    for name, data in haystacks.items():
        for needle in needles + [salt]:
            assert needle.encode() not in data, f"{needle!r} found in {name}"
    pseudonym = Pseudonymiser(salt).patient("P-0042")
    assert pid == pseudonym and re.fullmatch(r"anon-[0-9a-f]{16}", pseudonym)
    assert pseudonym.encode() in haystacks["csv"]
    # dates are shifted by the same per-patient offset: intervals are kept
    doc = json.loads(out["json"].read_text())
    shifted = dt.datetime.fromisoformat(doc["sessions"][0]["file"]["created_utc"])
    days = (shifted - dt.datetime.fromisoformat("2026-10-01T09:00:00+00:00")).days
    assert days == Pseudonymiser(salt).shift_days("P-0042") and -364 <= days <= -30


def test_same_salt_same_pseudonym_and_shift_across_exports(recovery_dir: Path, tmp_path: Path):
    for i, name in enumerate(("P-0042_1.h5", "P-0042_3.h5")):
        assert main(["export", str(recovery_dir / name), "--deidentify", "--json", str(tmp_path / f"{i}.json")]) == 0
    a, b = (json.loads((tmp_path / f"{i}.json").read_text())["sessions"][0] for i in range(2))
    assert a["session"]["patient_id"] == b["session"]["patient_id"]
    t0, t1 = (dt.datetime.fromisoformat(x["file"]["created_utc"]) for x in (a, b))
    assert (t1 - t0).days == 61  # 2026-09-01 → 2026-11-01


def test_pseudonymiser_depends_on_the_salt():
    a, b = Pseudonymiser("a" * 64), Pseudonymiser("b" * 64)
    assert a.patient("P-1") != b.patient("P-1") and a.patient("P-1") != a.patient("P-2")
    sc = a.for_patient("P-1", ("sid-1",))
    text = sc.text("P-1 on 2026-03-04T10:11:12.345+00:00, file P-1_20260304-101112.h5, sid-1")
    assert "P-1" not in text and "2026-03-04" not in text and "20260304" not in text and "sid-1" not in text
    assert ".345+00:00" in text  # the format is kept
    assert sc.value({"operator": "X", "nested": [{"notes": "free text", "keep": 1}]}) == {"nested": [{"keep": 1}]}
