"""What every exporter reads: one session file as plain data (attributes, rows, traces).

Built on the storage facade's :class:`~station.storage.session_reader.SessionReader` and the index's row
rules (:mod:`station.index.extract`), so an export and the index never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from station.index.extract import record_from_file
from station.index.store import SessionRecord, TestRow, TrialRow
from station.storage.session_reader import SessionReader, StoredTrial


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
    index_only: bool = False   # built from the results index (the file is on another station): no samples
    damaged: tuple[str, ...] = ()        # what could not be read (station.storage.damage); the rest is exported

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


def _trial_traces(reader: SessionReader, trial: StoredTrial) -> list[Trace]:
    out = []
    for name, d in reader.samples(trial).items():
        sides = {side: list(ch) for side, (device, ch) in trial.channels.items() if device == name}
        if not trial.channels and trial.outcome.side in ("left", "right") and d.force_n.shape[1:] == (1,):
            sides = {trial.outcome.side: [0]}  # files without the channel map: one channel measures the trial's side
        out.append(Trace(name, d.t_host_s, d.force_n, d.raw, d.t_device_s, sides))
    return out


def load(path: str | Path, *, traces: bool = False) -> SessionData:
    """Read a session file through :class:`~station.storage.session_reader.SessionReader`
    (``traces``: also every trial's samples)."""
    path = Path(path)
    with SessionReader(path) as r:
        try:
            stored = r.session()
            data = SessionData(
                path=path, root=dict(stored.attrs), session=dict(stored.session_attrs),
                tests={t.test: dict(t.attrs) for t in stored.tests},
                trials={(t.test, tr.trial): dict(tr.attrs) for t in stored.tests for tr in t.trials},
                protocols={k: dict(v.attrs) for k, v in stored.protocols.items()},
                devices={k: dict(v.attrs) for k, v in stored.devices.items()},
                record=record_from_file(r.h5, path), damaged=stored.damaged)
            if traces:
                for t in stored.tests:
                    for tr in t.trials:
                        data.traces[(t.test, tr.trial)] = _trial_traces(r, tr)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError) as exc:
            raise r.damaged_error(exc, "exported") from None
    return data


def from_record(record: SessionRecord) -> SessionData:
    """A session known only by its results-index rows (e.g. pulled from the clinic store while
    its file stays on the station that recorded it): the results, no samples and none of the
    file's other attributes. The attribute dicts hold what the rows say, so every exporter
    (and de-identification) works on it; ``index_only`` is set."""
    s = record.session
    root = {"session_id": s.session_id, "created_utc": s.started_utc, "closed_utc": s.closed_utc,
            "status": s.status, "station_version": s.station_version, "algorithm_version": s.algorithm_version,
            "source": "results index (the session file is not on this station)"}
    if s.baseline:
        root["baseline"] = s.baseline
    session = {"patient_id": s.patient_id, "body_mass_kg": s.body_mass_kg, "involved_side": s.involved_side}
    tests = {t.test: {"protocol_id": t.protocol_id, "name": t.name, "kind": t.kind, "status": t.status}
             for t in record.tests}
    trials: dict[tuple[str, str], dict[str, Any]] = {}
    for t in record.trials:   # a two-sided trial has a row per side (and a bilateral landing a "both" row)
        a = trials.setdefault((t.test, t.trial), {"side": t.side, "rep": t.rep, "attempt": t.attempt,
                                                  "status": t.status})
        if a["side"] != t.side:
            a["side"] = "both"
    return SessionData(path=Path(s.path) if s.path else Path(s.session_id), root=root,
                       session={k: v for k, v in session.items() if v is not None}, tests=tests, trials=trials,
                       protocols={}, devices={}, record=record, index_only=True)
