"""Reading a session file back into the dataclasses the engine produced.

    with SessionReader(path) as r:
        s = r.session()                      # StoredSession: patient, devices, protocols, tests
        for test in s.tests:                 # StoredTest: .summary is a TestSummary
            for trial in test.trials:        # StoredTrial: .outcome is a TrialOutcome
                data = r.samples(trial)      # device id → TrialData (t_host_s, raw, force_n, t_device_s)
                t, f, rate = r.side_force(trial, "left")

Opening goes through :func:`station.storage.reader.open_session` (also while a station is
recording the file, or after one died), so a bad file is one :class:`~station.errors.StorageError`
line. Attributes the reader does not know are kept in each object's ``attrs``; a missing one
is None, never an exception: files from older stations read fine.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station.errors import StorageError
from station.pipeline import TrialData
from station.session.model import Patient, SideSummary, TestSummary, TrialOutcome
from station.storage.reader import _short, attrs_of, open_session


@dataclass(frozen=True)
class StoredDevice:
    """A device as the session recorded it (identity, settings, calibration snapshot)."""

    device_id: str
    family: str | None
    model: str | None
    serial: str | None
    channels: int
    rate_hz: float | None
    unit: str | None
    time_source: str | None
    uri: str | None
    calibration: dict[str, Any]
    attrs: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class StoredProtocol:
    """A protocol used in the session, with its full TOML text as run."""

    protocol_id: str
    name: str | None
    kind: str | None
    version: int | None
    text: str
    attrs: dict[str, Any] = field(repr=False)

    def load(self) -> Any:
        """The :class:`protocols.model.Protocol` parsed from the stored text."""
        from protocols.loader import parse_protocol

        return parse_protocol(self.text, source=f"session protocol {self.protocol_id}")


@dataclass(frozen=True)
class StoredTrial:
    """One trial: its :class:`TrialOutcome`, which device channels measured each side, and
    how many samples each device wrote. Samples are read on demand (:meth:`SessionReader.samples`)."""

    test: str
    outcome: TrialOutcome
    channels: dict[str, tuple[str, tuple[int, ...]]]  # side → (device id, channels)
    samples: dict[str, int]
    cue_host_s: float | None
    attrs: dict[str, Any] = field(repr=False)

    @property
    def trial(self) -> str:
        return self.outcome.trial

    @property
    def h5_path(self) -> str:
        return f"/tests/{self.test}/trials/{self.outcome.trial}"


@dataclass(frozen=True)
class StoredTest:
    """One test: its :class:`TestSummary` (per-side summaries, symmetry; ``summary.trials``
    holds the outcomes) and its trials with their channel maps."""

    __test__ = False

    index: int | None
    summary: TestSummary
    trials: tuple[StoredTrial, ...]
    attrs: dict[str, Any] = field(repr=False)

    @property
    def test(self) -> str:
        return self.summary.test


@dataclass(frozen=True)
class StoredSession:
    """Everything but the samples."""

    path: Path
    session_id: str | None
    status: str | None
    created_utc: str | None
    closed_utc: str | None
    format_version: int | None
    station_version: str | None
    algorithm_version: str | None
    patient: Patient | None
    operator: str | None
    devices: dict[str, StoredDevice]
    protocols: dict[str, StoredProtocol]
    tests: tuple[StoredTest, ...]
    attrs: dict[str, Any] = field(repr=False)
    session_attrs: dict[str, Any] = field(repr=False, default_factory=dict)


def _num(v: Any) -> float | None:
    try:
        out = float(v)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _known(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def _groups(g: h5py.Group) -> list[tuple[str, h5py.Group]]:
    return sorted((k, v) for k, v in g.items() if isinstance(v, h5py.Group))


def _patient(a: dict[str, Any]) -> Patient | None:
    if not a.get("patient_id"):
        return None
    involved = a.get("involved_side") if a.get("involved_side") in ("left", "right", "none") else "none"
    return Patient(str(a["patient_id"]), body_mass_kg=_num(a.get("body_mass_kg")), height_m=_num(a.get("height_m")),
                   involved_side=involved, lever_arm_m=_num(a.get("lever_arm_m")))  # type: ignore[arg-type]


def _outcome(test: str, trial: str, a: dict[str, Any]) -> TrialOutcome:
    flags = a.get("quality_flags") or []
    results = a.get("results") or {}
    pain = _int(a.get("pain_0_10"))
    return TrialOutcome(test=test, trial=trial, side=str(a.get("side") or ""), rep=_int(a.get("rep")) or 0,
                        attempt=_int(a.get("attempt")) or 0, status=str(a.get("status") or ""),
                        peak_force_n=_num(a.get("peak_force_n")),
                        results=results if isinstance(results, dict) else {},
                        flags=[str(x) for x in flags] if isinstance(flags, list) else [str(flags)],
                        pain_0_10=pain)


def _summary(test: str, a: dict[str, Any], outcomes: list[TrialOutcome]) -> TestSummary:
    stored = a["summary"] if isinstance(a.get("summary"), dict) else {}
    sides = {}
    for side, s in (stored.get("sides") or {}).items():
        if isinstance(s, dict):
            values = {"side": side, "best_n": None, "mean_n": None, "cv_pct": None, "reps": 0, "flagged": [],
                      **_known(SideSummary, s)}
            sides[side] = SideSummary(**values)
    return TestSummary(test=test, protocol_id=str(a.get("protocol_id") or stored.get("protocol_id") or ""),
                       name=str(a.get("name") or stored.get("name") or ""),
                       kind=str(a.get("kind") or stored.get("kind") or ""), sides=sides,
                       symmetry=stored.get("symmetry") or {}, trials=outcomes,
                       status=str(a.get("status") or stored.get("status") or ""))


class SessionReader:
    """A session file opened read-only (see the module docstring). Use as a context manager
    or call :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stack = ExitStack()
        self._f: h5py.File = self._stack.enter_context(open_session(self.path))
        self._session: StoredSession | None = None

    def __enter__(self) -> SessionReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stack.close()

    @property
    def h5(self) -> h5py.File:
        """The open h5py file, for what the dataclasses do not cover."""
        return self._f

    def session(self) -> StoredSession:
        """The session without samples (read once, then cached)."""
        if self._session is None:
            try:
                self._session = self._read()
            except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
                raise StorageError(f"{self.path}: damaged session file, cannot be read ({_short(exc)})") from None
        return self._session

    def _read(self) -> StoredSession:
        f = self._f
        root = attrs_of(f)
        sess = attrs_of(f["session"]) if "session" in f else {}
        devices = {}
        for name, g in _groups(f["devices"]) if "devices" in f else []:
            a = attrs_of(g)
            devices[name] = StoredDevice(name, a.get("family"), a.get("model"), a.get("serial"),
                                         _int(a.get("channels")) or 0, _num(a.get("rate_hz")), a.get("unit"),
                                         a.get("time_source"), a.get("uri"), a.get("calibration") or {}, a)
        protocols = {}
        for name, g in _groups(f["protocols"]) if "protocols" in f else []:
            a = attrs_of(g)
            protocols[name] = StoredProtocol(name, a.get("name"), a.get("kind"), _int(a.get("version")),
                                             str(a.get("text") or ""), a)
        tests = []
        for test, tg in _groups(f["tests"]) if "tests" in f else []:
            ta = attrs_of(tg)
            trials = []
            for trial, trg in _groups(tg["trials"]) if "trials" in tg else []:
                a = attrs_of(trg)
                channels = {}
                for side, m in (a.get("channels") or {}).items():
                    if isinstance(m, dict) and "device" in m:
                        channels[side] = (str(m["device"]), tuple(int(c) for c in m.get("channels", [])))
                samples = {k: int(d["t_host_s"].shape[0]) for k, d in _groups(trg) if "t_host_s" in d}
                trials.append(StoredTrial(test, _outcome(test, trial, a), channels, samples,
                                          _num(a.get("cue_host_s")), a))
            tests.append(StoredTest(_int(ta.get("index")), _summary(test, ta, [t.outcome for t in trials]),
                                    tuple(trials), ta))
        return StoredSession(self.path, root.get("session_id"), root.get("status"), root.get("created_utc"),
                             root.get("closed_utc"), _int(root.get("format_version")), root.get("station_version"),
                             root.get("algorithm_version"), _patient(sess), sess.get("operator"), devices, protocols,
                             tuple(tests), root, sess)

    def test(self, test: str) -> StoredTest:
        for t in self.session().tests:
            if t.test == test:
                return t
        raise StorageError(f"{self.path}: no test {test!r} (tests: {', '.join(t.test for t in self.session().tests)})")

    def trial(self, test: str, trial: str) -> StoredTrial:
        for t in self.test(test).trials:
            if t.trial == trial:
                return t
        raise StorageError(f"{self.path}: test {test!r} has no trial {trial!r}")

    def samples(self, trial: StoredTrial) -> dict[str, TrialData]:
        """Every device's samples of ``trial`` (as the pipeline recorded them)."""
        g = self._f[trial.h5_path]
        out = {}
        for device_id, d in _groups(g):
            if "t_host_s" not in d:
                continue
            tdev = d["t_device_s"][:] if "t_device_s" in d else None
            out[device_id] = TrialData(d["t_host_s"][:], d["raw"][:], d["force_n"][:], tdev)
        return out

    def side_force(self, trial: StoredTrial, side: str) -> tuple[np.ndarray, np.ndarray, float | None]:
        """The force of ``side`` in ``trial`` as the engine analysed it: the sum of that side's
        channels (N), its host times (s) and the device's nominal rate (Hz)."""
        if side not in trial.channels:
            raise StorageError(f"{self.path}: trial {trial.h5_path} has no side {side!r} "
                            f"(sides: {', '.join(trial.channels) or 'none recorded'})")
        device_id, channels = trial.channels[side]
        d = self.samples(trial).get(device_id)
        if d is None:
            raise StorageError(f"{self.path}: trial {trial.h5_path} has no samples from {device_id}")
        dev = self.session().devices.get(device_id)
        return d.t_host_s, d.force_n[:, list(channels)].sum(axis=1), dev.rate_hz if dev else None
