"""The session file of a real (simulated) two-protocol session against docs/hdf5-format.md.

The tables of the document are parsed: every documented group, attribute and dataset must be
in the file with the documented type, and everything the file holds must be documented.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from protocols import get_protocol
from station.session.model import Patient
from station.session.run import run_session
from station.session.runner import RunnerOptions, replace_timing
from station.session.setup import DeviceArg
from station.session.terminal import TerminalUI
from station.storage import layout
from station.storage.writer import chunk_rows_for

DOC = Path(__file__).resolve().parents[3] / "docs" / "hdf5-format.md"
PROTOCOLS = ("hip-abduction-hhd", "knee-extension-60")
REQUIRED = {"always", "closed", "ended", "recorded"}  # in a complete session every such item exists
UNIT_SUFFIX = {"s": "_s", "N": "_n", "kg": "_kg", "m": "_m", "Hz": "_hz", "%": "_pct"}
PATIENT = Patient("LAYOUT-01", body_mass_kg=68.5, height_m=1.74, involved_side="left", lever_arm_m=0.79)
#: measured on this patient, one per protocol's joint (issue 16: one value for hip and knee was wrong)
LEVER_ARMS_M = {"hip-abduction-hhd": 0.79, "knee-extension-60": 0.36}


def short(protocol_id: str):
    p = get_protocol(protocol_id)
    between = None if p.timing.rest_between_sides_s is None else 0.2
    p = replace_timing(p, countdown_s=0.5, duration_s=1.5, rest_s=0.2, rest_between_sides_s=between)  # type: ignore[arg-type]
    return dataclasses.replace(p, reps=2, acceptance=dataclasses.replace(p.acceptance, max_reps=2, min_reps=2))


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    out = tmp_path_factory.mktemp("layout")
    protocols = [short(pid) for pid in PROTOCOLS]
    result = run_session(
        protocols=protocols, device_args=[DeviceArg(("dynamometer",), "sim:mark10?rate=500")],
        patient=PATIENT, out_dir=out, ui=TerminalUI(interactive=False, out=io.StringIO()),
        options=RunnerOptions(tail_s=0.3, operator="Layout Tester", lever_arms_m=LEVER_ARMS_M), auto=True,
        simulation={"speed": 4.0})  # simulated time 4x faster than real time
    assert result.status == "complete"
    return result.path, protocols


# -- the document's tables -------------------------------------------------------------------
def doc_tables() -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """``{"/tests/<test>": {"attribute": {name: row}, "dataset": {name: row}}}`` from the doc."""
    sections: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    current: str | None = None
    columns: list[str] = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `(/[^`]*)`\s*$", line)
        if heading:
            current = heading.group(1)
            sections[current] = {"attribute": {}, "dataset": {}}
            columns = []
            continue
        if line.startswith("## "):
            current = None
            continue
        if current is None or not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("attribute", "dataset"):
            columns = cells
            continue
        if set(cells[0]) <= {"-", ":"} or not columns:
            continue
        row = dict(zip(columns, cells, strict=False))
        sections[current][columns[0]][cells[0].strip("`")] = row
    return sections


def objects(f: h5py.File, pattern: str) -> list[tuple[str, h5py.Group]]:
    """Every group of ``f`` matching ``/tests/<test>/trials/<trial>`` style patterns."""
    found: list[tuple[str, h5py.Group]] = [("", f)]
    for part in [p for p in pattern.split("/") if p]:
        nxt = []
        for path, g in found:
            if part.startswith("<"):
                nxt += [(f"{path}/{k}", v) for k, v in sorted(g.items()) if isinstance(v, h5py.Group)]
            elif isinstance(g.get(part), h5py.Group):
                nxt.append((f"{path}/{part}", g[part]))
        found = nxt
    return found


def check_type(value: Any, kind: str, where: str) -> None:
    if kind == "string":
        assert isinstance(value, str), where
    elif kind == "int64":
        assert isinstance(value, np.integer) and value.dtype == np.int64, where
    elif kind == "float64":
        assert isinstance(value, np.floating) and value.dtype == np.float64, where
    elif kind == "bool":
        assert isinstance(value, np.bool_), where
    elif kind == "JSON":
        assert isinstance(value, str), where
        assert isinstance(json.loads(value), dict | list), where
    else:
        pytest.fail(f"docs/hdf5-format.md: unknown type {kind!r} ({where})")


# -- tests -------------------------------------------------------------------------------------
def test_doc_lists_the_tree() -> None:
    tables = doc_tables()
    assert {"/", "/session", "/devices/<device>", "/calibration", "/protocols/<protocol>", "/tests/<test>",
            "/tests/<test>/trials", "/tests/<test>/trials/<trial>", "/tests/<test>/trials/<trial>/<device>"} <= set(tables)
    assert "checked with `h5dump -H`" in DOC.read_text(encoding="utf-8")


def test_every_documented_item_is_in_the_file_and_typed(session) -> None:
    path, _ = session
    tables = doc_tables()
    with h5py.File(path, "r") as f:
        for pattern, table in tables.items():
            found = objects(f, pattern)
            assert found, f"{pattern}: documented but not in the file"
            for where, g in found:
                for name, row in table["attribute"].items():
                    present = row["present"].split()[0]
                    if present in REQUIRED:
                        assert name in g.attrs, f"{where}: missing attribute {name} (present: {present})"
                    if name in g.attrs:
                        check_type(g.attrs[name], row["type"], f"{where}@{name}")
                        unit = row["unit"]
                        if unit in UNIT_SUFFIX:
                            assert name.endswith(UNIT_SUFFIX[unit]), f"{name}: unit {unit} but no {UNIT_SUFFIX[unit]}"
                for name, row in table["dataset"].items():
                    if row["present"] == "always":
                        assert name in g, f"{where}: missing dataset {name}"


def test_everything_in_the_file_is_documented(session) -> None:
    path, _ = session
    tables = doc_tables()
    with h5py.File(path, "r") as f:
        seen_groups = {"/"}
        for pattern, table in tables.items():
            for where, g in objects(f, pattern):
                seen_groups.add(where or "/")
                extra = set(g.attrs) - set(table["attribute"])
                assert not extra, f"{where or '/'}: attributes not in docs/hdf5-format.md: {sorted(extra)}"
                datasets = {k for k, v in g.items() if isinstance(v, h5py.Dataset)}
                assert datasets <= set(table["dataset"]), f"{where}: undocumented datasets {datasets}"
        groups: list[str] = []
        f.visititems(lambda name, obj: groups.append("/" + name) if isinstance(obj, h5py.Group) else None)
        assert set(groups) <= seen_groups, f"undocumented groups: {sorted(set(groups) - seen_groups)}"


def test_sample_datasets_match_the_table(session) -> None:
    path, _ = session
    table = doc_tables()["/tests/<test>/trials/<trial>/<device>"]["dataset"]
    with h5py.File(path, "r") as f:
        devices = objects(f, "/tests/<test>/trials/<trial>/<device>")
        assert len(devices) == 8  # 2 tests × 2 reps × 2 sides, one device each
        for where, g in devices:
            device = f["devices"][where.rsplit("/", 1)[1]]
            lengths = set()
            for name, ds in g.items():
                row = table[name]
                assert ds.dtype == np.dtype(row["dtype"])
                channels = int(device.attrs["channels"])
                assert ds.shape[1:] == ((channels,) if row["shape"] == "(n, channels)" else ())
                unit = device.attrs["unit"] if row["unit"] == "device" else row["unit"]
                assert ds.attrs["unit"] == unit
                # chunks of about 0.5 s at the device's rate, as the Conventions say
                rows = chunk_rows_for(float(device.attrs["rate_hz"]), channels)
                assert ds.chunks[0] == rows == 256 and ds.maxshape[0] is None and np.isnan(ds.fillvalue)
                assert ds.compression is None
                lengths.add(ds.shape[0])
            assert len(lengths) == 1 and lengths.pop() > 500  # ≥ 0.5 + 1.5 + 0.3 s at 500 Hz, one length
            trial = g.parent
            assert json.loads(trial.attrs["samples"]) == {g.name.rsplit("/", 1)[1]: g["t_host_s"].shape[0]}
            t = g["t_host_s"][:]
            assert np.all(np.diff(t) > 0) and np.all(np.isfinite(g["force_n"][:]))


def test_values_are_the_session_values(session) -> None:
    path, protocols = session
    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == layout.FORMAT and f.attrs["format_version"] == layout.FORMAT_VERSION
        assert f.attrs["status"] == "complete"
        s = f["session"].attrs
        assert (s["patient_id"], s["body_mass_kg"], s["height_m"], s["involved_side"], s["lever_arm_m"],
                s["operator"]) == ("LAYOUT-01", 68.5, 1.74, "left", 0.79, "Layout Tester")
        for p in protocols:
            g = f["protocols"][p.id]
            assert g.attrs["text"] == p.source_text and g.attrs["version"] == p.version
        dev = f["devices/dynamometer"].attrs
        assert dev["family"] == "mark10" and dev["uri"] == "sim:mark10?rate=500"
        assert json.loads(dev["settings"])["aout_hz"] == 500
        assert json.loads(dev["calibration"])["model"] == "identity"
        assert json.loads(f["calibration"].attrs["snapshot"]) == {"dynamometer": json.loads(dev["calibration"])}
        root_summary = json.loads(f.attrs["summary"])
        assert [t["protocol_id"] for t in root_summary] == list(PROTOCOLS)
        for i, pid in enumerate(PROTOCOLS, start=1):
            test = f["tests"][layout.test_key(i, pid)]
            summary = json.loads(test.attrs["summary"])
            assert summary == root_summary[i - 1]
            sym = summary["symmetry"]
            assert sym["kind"] == "lsi" and test.attrs["symmetry_kind"] == "lsi"
            left, right = summary["sides"]["left"]["best_n"], summary["sides"]["right"]["best_n"]
            assert sym["value_pct"] == pytest.approx(100 * left / right)  # involved side is left
            assert test.attrs["symmetry_value_pct"] == pytest.approx(sym["value_pct"])
            assert bool(test.attrs["symmetry_passed"]) == (sym["value_pct"] >= 90)
            assert test.attrs["best_left_n"] == pytest.approx(left)
            for _, trial in sorted(test["trials"].items()):
                a = trial.attrs
                assert a["status"] == "complete" and a["protocol_id"] == pid
                results = json.loads(a["results"])
                assert results["algorithm_version"] == a["algorithm_version"] == f.attrs["algorithm_version"]
                assert "onset_k" in results["parameters"]
                assert results["peak_force_n"] == pytest.approx(a["peak_force_n"])
                assert results["lever_arm_m"] == pytest.approx(LEVER_ARMS_M[pid])  # the patient's, per protocol
                assert a["cue_host_s"] > f.attrs["created_monotonic_s"]
        # blocked order for the knee, alternating for the hip
        sides = [f["tests"][layout.test_key(2, PROTOCOLS[1])]["trials"][k].attrs["side"] for k in ("001", "002", "003", "004")]
        assert sides == ["left", "left", "right", "right"]


H5DUMP_TYPE = {"string": "H5T_STRING", "JSON": "H5T_STRING", "int64": "H5T_STD_I64LE",
               "float64": "H5T_IEEE_F64LE", "bool": "H5T_ENUM"}


def h5dump_header(path: Path) -> dict[str, dict[str, str]]:
    """``{object path: {attribute or dataset name: HDF5 type class}}`` from ``h5dump -H``."""
    out = subprocess.run(["h5dump", "-H", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    objects: dict[str, dict[str, str]] = {}
    stack: list[tuple[str, str]] = []
    for line in out.stdout.splitlines():
        text = line.strip()
        m = re.match(r'^(GROUP|DATASET|ATTRIBUTE) "([^"]*)" \{$', text)
        if m:
            stack.append((m.group(1), m.group(2)))
            if m.group(1) == "GROUP":
                objects.setdefault("/" + "/".join(n for k, n in stack if k == "GROUP" and n != "/"), {})
            continue
        m = re.match(r"^DATATYPE\s+(H5T_\w+)", text)
        if m and stack and stack[-1][0] in ("ATTRIBUTE", "DATASET"):
            kind, name = stack[-1]
            parent = "/" + "/".join(n for k, n in stack[:-1] if k in ("GROUP", "DATASET") and n != "/")
            objects.setdefault(parent, {})[("@" if kind == "ATTRIBUTE" else "") + name] = m.group(1)
        if text.endswith("{"):  # DATATYPE H5T_STRING {, DATASPACE … {: a nested block
            stack.append(("other", ""))
        elif text == "}" and stack:
            stack.pop()
    return objects


@pytest.mark.skipif(shutil.which("h5dump") is None, reason="h5dump (HDF5 tools) not installed")
def test_h5dump_sees_the_documented_layout(session) -> None:
    """The file as the HDF5 tools see it (``h5dump -H``) has the documented types."""
    path, _ = session
    dumped = h5dump_header(path)
    tables = doc_tables()
    with h5py.File(path, "r") as f:
        checked = 0
        for pattern, table in tables.items():
            for where, g in objects(f, pattern):
                seen = dumped[where or "/"]
                attrs = {k[1:]: v for k, v in seen.items() if k.startswith("@")}
                assert set(attrs) == set(g.attrs), where
                for name, h5type in attrs.items():
                    assert h5type == H5DUMP_TYPE[table["attribute"][name]["type"]], f"{where}@{name}"
                    checked += 1
                for name in (k for k in seen if not k.startswith("@")):
                    assert seen[name] == "H5T_IEEE_F64LE" and table["dataset"][name]["dtype"] == "float64"
                    assert dumped[f"{where}/{name}"] == {"@unit": "H5T_STRING"}
                    checked += 1
        assert checked > 200
