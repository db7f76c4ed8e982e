"""`station acquire`, calibration and a session read devices on one path: reader threads
started by a Pipeline only (issue 9). A scan of the code, plus `station acquire` seen
through its pipeline: a listener subscribed to it gets every sample the file holds."""
from __future__ import annotations

import ast
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _reader_constructions(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name == "DeviceReader":
                lines.append(node.lineno)
    return lines


def test_only_the_pipeline_starts_reader_threads() -> None:
    found = {path.relative_to(ROOT).as_posix(): _reader_constructions(path)
             for path in sorted((ROOT / "station").rglob("*.py"))}
    assert {k: v for k, v in found.items() if v} == {"station/pipeline.py": found["station/pipeline.py"]}
    assert found["station/pipeline.py"]  # the scan sees a construction where there is one


def test_acquire_records_through_the_pipeline(tmp_path: Path, monkeypatch, capsys) -> None:
    """A listener subscribed to the pipeline `station acquire` builds receives the samples
    the file holds, value for value: the command has no acquisition loop of its own."""
    from station import pipeline as pipeline_module
    from station.cli import main

    blocks: list = []
    real = pipeline_module.Pipeline

    class Watched(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.subscribe(blocks.append, name="test listener")

    monkeypatch.setattr("station.recording.Pipeline", Watched)
    out = tmp_path / "raw.h5"
    assert main(["acquire", "--device", "sim:mark10?rate=500", "--seconds", "0.6", "--out", str(out)]) == 0
    with h5py.File(out, "r") as f:
        (device_id,) = f["devices"]
        stored = f[f"tests/01_acquire/trials/001/{device_id}/force_n"][:]
    got = np.concatenate([b.force_n for b in blocks if b.device_id == device_id])
    assert stored.shape[0] > 100 and np.array_equal(got, stored)
