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
is None, never an exception: files from older stations read fine. A damaged file (an attribute
of the wrong type, JSON garbage, a group replaced by a dataset, sample datasets of the wrong
shape) is read as far as it is readable, through the :class:`~station.storage.damage.Damage`
log: ``StoredSession.damaged`` lists what was left out, and :meth:`SessionReader.damaged_error`
makes the one-line error that names the file and the damage.
"""
from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station.errors import StorageError
from station.pipeline import TrialData
from station.session.model import Patient, SideSummary, TestSummary, TrialOutcome
from station.storage import layout
from station.storage.damage import Damage
from station.storage.reader import OpenState, _duration, _short, attrs_of, open_session, trial_analysis


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
    firmware: str | None = None
    #: what the driver could not identify (model, serial, firmware: recorded as unknown)
    not_identified: tuple[str, ...] = ()
    #: the driver's notes on the device (an unanswered optional command, a polled gauge)
    warnings: tuple[str, ...] = ()
    #: channels used without a usable calibration (``--allow-uncalibrated``): an audit fact
    calibration_overrides: tuple[dict[str, Any], ...] = ()


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
    #: seconds of host time the samples span (the first device with samples); None if < 2 rows
    duration_s: float | None = None
    #: device → samples the pipeline acquired for the trial (more than ``samples`` when some
    #: never reached the disk); None in files that do not record it
    samples_acquired: dict[str, Any] | None = None

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
    #: the lever arm used for torque (``lever_arm_m``, ``source``) or a note why none
    lever_arm: dict[str, Any] | None = None
    lsi_pass_pct: float | None = None

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
    #: what could not be read as expected (one short text per problem; see station.storage.damage)
    damaged: tuple[str, ...] = ()
    #: set by ``station session recover`` on a file it repaired
    recovered_utc: str | None = None
    recovery: str | None = None
    recovered_from_status: str | None = None
    #: the file still says "open for SWMR write": a station records it now, or died recording it
    swmr_flagged: bool = False
    #: a live writer (or a locking HDF5 tool) holds the file
    in_use: bool = False

    @property
    def recording_now(self) -> bool:
        """A station is writing this file now."""
        return self.status == layout.STATUS_RECORDING and self.in_use

    @property
    def unfinished(self) -> bool:
        """The station stopped without closing the file (crash or kill): ``station session
        recover`` repairs it."""
        return (self.status == layout.STATUS_RECORDING or self.swmr_flagged) and not self.in_use


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


_SIDES = ("left", "right", "none")


def _patient(a: dict[str, Any], damage: Damage) -> Patient | None:
    patient_id = damage.text(a, "patient_id", "/session")
    numbers = {k: _num(damage.number(a, k, "/session")) for k in ("body_mass_kg", "height_m", "lever_arm_m")}
    involved = damage.text(a, "involved_side", "/session")
    if involved is not None and involved not in _SIDES:
        damage.add(f"/session attribute 'involved_side' is {involved!r:.40}, expected left, right or none")
    if not patient_id:
        return None
    return Patient(patient_id, involved_side=involved if involved in _SIDES else "none",  # type: ignore[arg-type]
                   **numbers)


def _outcome(test: str, trial: str, a: dict[str, Any], where: str, damage: Damage) -> TrialOutcome:
    raw_flags = a.get("quality_flags")
    if isinstance(raw_flags, str) and raw_flags[:1] != "[":
        flags: list[Any] = [raw_flags]  # one flag stored as plain text
    else:
        flags = damage.sequence(a, "quality_flags", where)
    return TrialOutcome(test=test, trial=trial, side=damage.text(a, "side", where) or "",
                        rep=damage.integer(a, "rep", where) or 0, attempt=damage.integer(a, "attempt", where) or 0,
                        status=damage.text(a, "status", where) or "",
                        peak_force_n=_num(damage.number(a, "peak_force_n", where)),
                        results=damage.mapping(a, "results", where), flags=[str(x) for x in flags],
                        pain_0_10=damage.integer(a, "pain_0_10", where))


def _summary(test: str, a: dict[str, Any], outcomes: list[TrialOutcome], where: str,
             damage: Damage) -> TestSummary:
    stored = damage.mapping(a, "summary", where)
    stored_sides = stored.get("sides") or {}
    if not isinstance(stored_sides, dict):
        damage.add(f"{where} attribute 'summary' has sides {stored_sides!r:.40}, expected a JSON object")
        stored_sides = {}
    sides = {}
    for side, s in stored_sides.items():
        if not isinstance(s, dict):
            damage.add(f"{where} attribute 'summary' has side {side!r} {s!r:.40}, expected a JSON object")
            continue
        s = damage.numbers_in(s, ("best_n", "mean_n", "cv_pct"), f"{where} summary side {side!r}")
        reps = damage.integer(s, "reps", f"{where} summary side {side!r}") or 0
        flagged = s.get("flagged") if isinstance(s.get("flagged"), list) else []
        values = {"side": side, "best_n": None, "mean_n": None, "cv_pct": None, **_known(SideSummary, s),
                  "reps": reps, "flagged": flagged}
        sides[side] = SideSummary(**values)
    symmetry = stored.get("symmetry") or {}
    if not isinstance(symmetry, dict):
        damage.add(f"{where} attribute 'summary' has symmetry {symmetry!r:.40}, expected a JSON object")
        symmetry = {}
    symmetry = damage.numbers_in(symmetry, ("value_pct",), f"{where} summary symmetry")

    def text(key: str) -> str:
        return damage.text(a, key, where) or (stored.get(key) if isinstance(stored.get(key), str) else "") or ""

    return TestSummary(test=test, protocol_id=text("protocol_id"), name=text("name"), kind=text("kind"),
                       sides=sides, symmetry=symmetry, trials=outcomes, status=text("status"))


def _channel_map(a: dict[str, Any], columns: dict[str, int | None], where: str,
                 damage: Damage) -> dict[str, tuple[str, tuple[int, ...]]]:
    """A trial's ``channels`` attribute (side → device and its channels), checked against the
    trial's device groups (``columns``: device → force_n columns); bad entries are noted and left out."""
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for side, m in damage.mapping(a, "channels", where).items():
        bad = f"{where} attribute 'channels' of side {side!r}"
        if not isinstance(m, dict) or not isinstance(m.get("device"), str):
            damage.add(f"{bad} is {m!r:.40}, expected a device and its channels")
            continue
        device, chans = m["device"], m.get("channels", [])
        if not isinstance(chans, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in chans):
            damage.add(f"{bad} has channels {chans!r:.40}, expected a list of channel numbers")
            continue
        if device not in columns:
            damage.add(f"{bad} names device {device!r:.40}, which has no samples in the trial")
        n = columns.get(device)
        if n is not None and any(not 0 <= c < n for c in chans):
            damage.add(f"{bad} has channels {chans!r:.40}, but {device} recorded {n} channel(s)")
            continue
        out[str(side)] = (device, tuple(chans))
    return out


def _sample_rows(d: h5py.Group, damage: Damage, live: bool = False) -> tuple[int, int] | None:
    """(rows, force columns) of a trial's device group when its sample datasets are consistent:
    ``t_host_s`` (n,), ``raw`` and ``force_n`` (n, channels), ``t_device_s`` (n,) if present.
    None (and the problem noted) otherwise. ``live``: the file is open for SWMR writing (being
    recorded, or left so by a station that died): read the datasets' current lengths, which
    may differ by the rows of a block being appended."""
    try:
        t = d["t_host_s"]
    except (KeyError, OSError, RuntimeError, ValueError):
        damage.add(f"{d.name}/t_host_s cannot be read")
        return None
    if live and isinstance(t, h5py.Dataset):  # a file being written (SWMR): its current length
        t.refresh()
    n = damage.rows(t, f"{d.name}/t_host_s")
    if n is None:
        return None
    if not isinstance(t, h5py.Dataset) or t.ndim != 1 or t.dtype.kind not in "fiu":
        damage.add(f"{d.name}/t_host_s has shape {t.shape} of {t.dtype}, expected one column of times in s")
        return None
    columns = None
    for key in ("raw", "force_n", "t_device_s"):
        try:
            ds = d[key] if key in d else None
        except (KeyError, OSError, RuntimeError, ValueError):  # a dangling or broken link
            damage.add(f"{d.name}/{key} cannot be read")
            return None
        if ds is None:
            if key != "t_device_s":
                damage.add(f"{d.name} has no {key} dataset")
                return None
            continue
        if not isinstance(ds, h5py.Dataset) or ds.dtype.kind not in "fiu":
            damage.add(f"{d.name}/{key} is not a dataset of numbers")
            return None
        want = 1 if key == "t_device_s" else 2
        if live:  # being written: each dataset grows on its own; their lengths differ for a moment
            ds.refresh()
        if ds.ndim != want or (ds.shape[0] != n and not live):
            damage.add(f"{d.name}/{key} has shape {ds.shape}, expected {n} rows"
                       + ("" if want == 1 else " of channels"))
            return None
        if key == "force_n":
            columns = int(ds.shape[1])
    return n, columns or 0


class SessionReader:
    """A session file opened read-only (see the module docstring). Use as a context manager
    or call :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stack = ExitStack()
        states: list[OpenState] = []
        self._f: h5py.File = self._stack.enter_context(open_session(self.path, state=states))
        #: how the file was opened (SWMR-flagged: being recorded, or left so by a station that died)
        self.open_state: OpenState = states[0]
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
        """The session without samples (read once, then cached). What is damaged in the file
        (an attribute of the wrong type, JSON garbage, a group replaced by a dataset, sample
        datasets of the wrong shape) is left out and listed in ``StoredSession.damaged``."""
        if self._session is None:
            damage = Damage()
            try:
                self._session = self._read(damage)
            except (OSError, KeyError, ValueError, RuntimeError, TypeError, AttributeError, IndexError) as exc:
                raise self.damaged_error(exc, "read", damage) from None
        return self._session

    def damaged_error(self, exc: BaseException | None = None, verb: str = "read",
                      damage: Damage | None = None) -> StorageError:
        """One line naming the file and what is damaged in it: the problems found while
        reading (see :mod:`station.storage.damage`), else the underlying error."""
        problems = damage.problems if damage is not None else list(self._session.damaged) if self._session else []
        what = Damage(list(problems)).summary() if problems else (_short(exc) if exc is not None else "unknown damage")
        return StorageError(f"{self.path}: damaged session file, cannot be {verb}: {what}")

    def _read(self, damage: Damage) -> StoredSession:
        f = self._f
        live = self.open_state.swmr_flagged
        root = attrs_of(f)
        # read in the file's order (root, session, devices, tests): the damage log lists the
        # problems in that order, and its one-line summary names the first ones
        texts = {k: damage.text(root, k, "/") for k in (
            "status", "station_version", "algorithm_version", "session_id", "created_utc", "closed_utc",
            "recovered_utc", "recovery", "recovered_from_status")}
        sg = damage.child_group(f, "session")
        sess = attrs_of(sg) if sg is not None else {}
        patient = _patient(sess, damage)
        operator = damage.text(sess, "operator", "/session")
        devices = {}
        dg = damage.child_group(f, "devices")
        for name, g in damage.groups(dg, "/devices") if dg is not None else []:
            a = attrs_of(g)
            w = g.name
            cal = a.get("calibration")
            if cal is not None and not isinstance(cal, dict):
                damage.add(f"{w} attribute 'calibration' is {cal!r:.40}, expected a JSON object")
            cal = cal if isinstance(cal, dict) else {}
            settings = a["settings"] if isinstance(a.get("settings"), dict) else {}
            identified = settings["identified"] if isinstance(settings.get("identified"), dict) else {}
            warnings = a.get("warnings")
            devices[name] = StoredDevice(
                name, damage.text(a, "family", w), damage.text(a, "model", w),
                damage.text(a, "serial", w), damage.integer(a, "channels", w) or 0,
                _num(damage.number(a, "rate_hz", w)), damage.text(a, "unit", w),
                damage.text(a, "time_source", w), damage.text(a, "uri", w), cal, a,
                firmware=damage.text(a, "firmware", w),
                not_identified=tuple(sorted(k for k, v in identified.items() if v is False)),
                warnings=tuple(x for x in warnings if isinstance(x, str)) if isinstance(warnings, list) else (),
                calibration_overrides=tuple(o for o in (cal.get("overrides") or []) if isinstance(o, dict)))
        protocols = {}
        pg = damage.child_group(f, "protocols")
        for name, g in damage.groups(pg, "/protocols") if pg is not None else []:
            a = attrs_of(g)
            w = g.name
            protocols[name] = StoredProtocol(name, damage.text(a, "name", w), damage.text(a, "kind", w),
                                             damage.integer(a, "version", w), damage.text(a, "text", w) or "", a)
        tests = []
        tsg = damage.child_group(f, "tests")
        for test, tg in damage.groups(tsg, "/tests") if tsg is not None else []:
            ta = attrs_of(tg)
            damage.mapping(ta, "summary", tg.name)  # noted here, before its trials (read again below)
            trials = []
            trg_all = damage.child_group(tg, "trials")
            for trial, trg in damage.groups(trg_all, f"{tg.name}/trials") if trg_all is not None else []:
                a = attrs_of(trg)
                damage.mapping(a, "results", trg.name)  # noted first, as the file lists it
                shapes = {k: _sample_rows(d, damage, live) for k, d in damage.groups(trg, trg.name) if "t_host_s" in d}
                samples = {k: v[0] for k, v in shapes.items() if v is not None}
                columns = {k: (v[1] if v is not None else None) for k, v in shapes.items()}
                trials.append(StoredTrial(
                    test, _outcome(test, trial, a, trg.name, damage), _channel_map(a, columns, trg.name, damage),
                    samples, _num(damage.number(a, "cue_host_s", trg.name)), a, duration_s=_duration(trg, damage),
                    samples_acquired=damage.mapping(a, "samples_acquired", trg.name) if "samples_acquired" in a
                    else None))
            lever = ta.get("lever_arm")
            tests.append(StoredTest(damage.integer(ta, "index", tg.name),
                                    _summary(test, ta, [t.outcome for t in trials], tg.name, damage),
                                    tuple(trials), ta, lever_arm=lever if isinstance(lever, dict) else None,
                                    lsi_pass_pct=_num(damage.number(ta, "lsi_pass_pct", tg.name))))
        return StoredSession(self.path, texts["session_id"], texts["status"], texts["created_utc"],
                             texts["closed_utc"], _int(root.get("format_version")), texts["station_version"],
                             texts["algorithm_version"], patient, operator, devices, protocols, tuple(tests), root,
                             sess, tuple(damage.problems), recovered_utc=texts["recovered_utc"],
                             recovery=texts["recovery"], recovered_from_status=texts["recovered_from_status"],
                             swmr_flagged=self.open_state.swmr_flagged, in_use=self.open_state.in_use)

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
        """Every device's samples of ``trial`` (as the pipeline recorded them). A device whose
        sample datasets are damaged (missing, of the wrong shape or type) is a
        :class:`StorageError` naming the file and the dataset."""
        damage = Damage()
        g = damage.child_group(self._f, trial.h5_path.lstrip("/"))
        out = {}
        for device_id, d in damage.groups(g, trial.h5_path) if g is not None else []:
            if "t_host_s" not in d:
                continue
            live = self.open_state.swmr_flagged
            if _sample_rows(d, damage, live) is None:
                continue
            keys = [k for k in ("t_host_s", "raw", "force_n", "t_device_s") if k in d]
            n = min(d[k].shape[0] for k in keys)  # the same, but while being written (see _sample_rows)
            tdev = d["t_device_s"][:n] if "t_device_s" in d else None
            out[device_id] = TrialData(d["t_host_s"][:n], d["raw"][:n], d["force_n"][:n], tdev)
        if damage.problems:
            raise self.damaged_error(None, "read", damage)
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


# ----------------------------------------------------------------------------------------
# one JSON-ready summary (``station inspect --json``, the window's and history's look-ups)
# ----------------------------------------------------------------------------------------
_SESSION_NUMBERS = ("body_mass_kg", "height_m", "lever_arm_m")


def summary_dict(s: StoredSession) -> dict[str, Any]:
    """The session as one JSON-ready dict (what ``station inspect`` prints), from the
    dataclasses :meth:`SessionReader.session` returned.

    Besides the file's own fields: ``recording_now`` (a live station holds the file),
    ``unfinished`` (its status is still ``recording`` but no station holds it: the station
    stopped without closing it; ``station session recover`` repairs it), ``swmr_flagged``,
    and ``damaged``: what could not be read as expected, one short text per problem; the rest
    holds what is still readable (see :mod:`station.storage.damage`)."""
    session = dict(s.session_attrs)
    p = s.patient
    for key in _SESSION_NUMBERS:  # as read: a damaged value is None
        if key in session:
            session[key] = getattr(p, key) if p is not None else _num(session[key])
    for key, value in (("patient_id", p.patient_id if p else None),
                       ("involved_side", p.involved_side if p else None), ("operator", s.operator)):
        if key in session:
            session[key] = value
    return {
        "file": str(s.path), "format_version": s.format_version, "station_version": s.station_version,
        "algorithm_version": s.algorithm_version, "session_id": s.session_id, "status": s.status,
        "created_utc": s.created_utc, "closed_utc": s.closed_utc, "recovered_utc": s.recovered_utc,
        "recovery": s.recovery, "recovered_from_status": s.recovered_from_status,
        "recording_now": s.recording_now, "unfinished": s.unfinished, "swmr_flagged": s.swmr_flagged,
        "session": session,
        "devices": {name: _device_dict(d) for name, d in s.devices.items()},
        "protocols": list(s.protocols),
        "tests": [_test_dict(t) for t in s.tests],
        "damaged": list(s.damaged),
    }


def _device_dict(d: StoredDevice) -> dict[str, Any]:
    return {"family": d.family, "model": d.model, "serial": d.serial, "firmware": d.firmware, "unit": d.unit,
            "time_source": d.time_source, "uri": d.uri, "channels": Damage().integer(d.attrs, "channels", ""),
            "rate_hz": d.rate_hz,
            "calibration_overrides": list(d.calibration_overrides), "not_identified": list(d.not_identified),
            "warnings": list(d.warnings)}


def _test_dict(t: StoredTest) -> dict[str, Any]:
    stored_sides = (t.attrs.get("summary") or {}).get("sides") if isinstance(t.attrs.get("summary"), dict) else {}
    if not isinstance(stored_sides, dict):
        stored_sides = {}
    sides = {}
    for name, side in t.summary.sides.items():
        # the keys the file stored (older stations stored fewer), with the engine's values as read
        found = stored_sides.get(name)
        raw: dict[str, Any] = found if isinstance(found, dict) else {}
        sides[name] = {**raw, **{k: v for k, v in asdict(side).items() if k in raw}}
    return {"test": t.test, "protocol_id": t.summary.protocol_id or None, "name": t.summary.name or None,
            "kind": t.summary.kind or None, "status": t.summary.status or None, "sides": sides,
            "symmetry": t.summary.symmetry, "trials": [_trial_dict(tr) for tr in t.trials],
            "lever_arm": t.lever_arm, "lsi_pass_pct": t.lsi_pass_pct}


def _trial_dict(tr: StoredTrial) -> dict[str, Any]:
    o, a = tr.outcome, tr.attrs
    ttp = o.results.get("time_to_peak_s")
    return {
        "trial": tr.trial, "side": o.side or None, "rep": Damage().integer(a, "rep", ""),
        "attempt": Damage().integer(a, "attempt", ""), "status": o.status or None,
        "peak_force_n": o.peak_force_n, "time_to_peak_s": _num(ttp) if ttp is not None else None,
        "samples": dict(tr.samples), "duration_s": tr.duration_s, "samples_acquired": tr.samples_acquired,
        "flags": list(o.flags), "analysis": trial_analysis(o.results, o.side), "pain_0_10": o.pain_0_10,
        "peak_force_left_n": a.get("peak_force_left_n"), "peak_force_right_n": a.get("peak_force_right_n"),
        "beyond_calibrated_range": bool(a.get("beyond_calibrated_range", False)),
        "zero_offset_n": a.get("zero_offset_n"), "start_utc": a.get("start_utc"),
    }


def summarize(path: str | Path) -> dict[str, Any]:
    """:func:`summary_dict` of the session file ``path``, read through :class:`SessionReader`.
    A file that cannot be opened, or whose structure cannot be read at all, is one
    :class:`StorageError` line; a partly damaged one lists the damage in ``damaged``."""
    with SessionReader(path) as r:
        return summary_dict(r.session())
