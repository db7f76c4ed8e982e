"""What every exporter reads: one session file as plain data (attributes, rows, traces).

Built on the storage reader (:func:`station.storage.reader.open_session`) and the index's row
rules (:mod:`station.index.extract`), so an export and the index never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station.errors import UserError
from station.index.extract import record_from_file
from station.index.store import SessionRecord, TestRow, TrialRow
from station.storage.reader import _short, attrs_of, open_session


@dataclass
class Trace:
    """One trial's samples from one device: host time (s), force (N) and raw counts per channel."""

    device: str
    t_host_s: np.ndarray
    force_n: np.ndarray          # (samples, channels)
    raw: np.ndarray              # (samples, channels)
    t_device_s: np.ndarray | None = None
    sides: dict[str, list[int]] = field(default_factory=dict)  # side → channel indices on this device

    def side_force(self, side: str) -> np.ndarray:
        return self.force_n[:, self.sides[side]].sum(axis=1)


@dataclass
class SessionData:
    """A session file, read once: everything exporters need."""

    path: Path
    root: dict[str, Any]                 # root attributes
    session: dict[str, Any]              # /session attributes (patient, operator, …)
    tests: dict[str, dict[str, Any]]     # test key → attributes
    trials: dict[tuple[str, str], dict[str, Any]]  # (test, trial) → attributes
    protocols: dict[str, dict[str, Any]]
    devices: dict[str, dict[str, Any]]
    record: SessionRecord
    traces: dict[tuple[str, str], list[Trace]] = field(default_factory=dict)  # filled by load(traces=True)

    @property
    def patient_id(self) -> str:
        return self.record.session.patient_id

    @property
    def date_utc(self) -> str:
        return self.record.session.started_utc

    def test_row(self, test: str) -> TestRow | None:
        return next((t for t in self.record.tests if t.test == test), None)

    def trial_rows(self, test: str | None = None) -> list[TrialRow]:
        return [t for t in self.record.trials if test is None or t.test == test]


def _trial_traces(trg: h5py.Group, attrs: dict[str, Any]) -> list[Trace]:
    channels = attrs["channels"] if isinstance(attrs.get("channels"), dict) else {}
    out = []
    for name, d in sorted(trg.items()):
        if not isinstance(d, h5py.Group) or "t_host_s" not in d:
            continue
        sides = {s: list(v.get("channels", [])) for s, v in channels.items()
                 if isinstance(v, dict) and v.get("device") == name}
        if not channels and attrs.get("side") in ("left", "right") and d["force_n"].shape[1:] == (1,):
            sides = {attrs["side"]: [0]}  # files without the channel map: one channel measures the trial's side
        out.append(Trace(name, d["t_host_s"][:], d["force_n"][:], d["raw"][:],
                         d["t_device_s"][:] if "t_device_s" in d else None, sides))
    return out


def load(path: str | Path, *, traces: bool = False) -> SessionData:
    """Read a session file (``traces``: also every trial's samples)."""
    path = Path(path)
    with open_session(path) as f:
        try:
            data = SessionData(
                path=path, root=attrs_of(f), session=attrs_of(f["session"]) if "session" in f else {},
                tests={}, trials={}, protocols={}, devices={}, record=record_from_file(f, path))
            for name, g in sorted(f.get("protocols", {}).items()):
                data.protocols[name] = attrs_of(g)
            for name, g in sorted(f.get("devices", {}).items()):
                data.devices[name] = attrs_of(g)
            for test, tg in sorted(f.get("tests", {}).items()):
                data.tests[test] = attrs_of(tg)
                for trial, trg in sorted(tg.get("trials", {}).items()):
                    a = attrs_of(trg)
                    data.trials[(test, trial)] = a
                    if traces:
                        data.traces[(test, trial)] = _trial_traces(trg, a)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError) as exc:
            raise UserError(f"{path}: damaged session file, cannot be exported ({_short(exc)})") from None
    return data
