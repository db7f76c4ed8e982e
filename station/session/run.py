"""Opening, running and closing a whole session.

:func:`open_session` opens the devices, writes the file header, starts the pipeline and
builds the engine: what a window or a script uses. :func:`run_session` is the CLI's thin
wrapper around it (``station session run`` and ``station demo``), answering the engine
with a blocking :class:`~station.session.runner.SessionUI`. Ctrl-C and SIGTERM end the session
cleanly: the current trial is kept and marked aborted, the file is closed with status
``aborted``; the exception is re-raised so the CLI exits non-zero.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.registry import parse_uri
from protocols.model import Protocol
from station.clock import Clock, ScaledClock
from station.errors import SessionError, StationError
from station.index.update import index_closed_session
from station.index.clinic_sync import BackgroundSync, SyncAfterClose
from station.pipeline import BoundDevice, Pipeline
from station.session.events import SessionClosed
from station.session.logfile import SessionLog
from station.session.model import Patient, TestSummary
from simulation.patient import typical_peak_n
from station.session.runner import Actor, RunnerOptions, SessionAborted, SessionEngine, SessionUI, session_path
from station.session.ui_bridge import run_with_ui
from station.signals import sigterm_as_interrupt  # noqa: F401 - used here, and imported from here by commands
from station.session.setup import (
    DeviceArg,
    bind_roles,
    device_id_for,
    open_session_devices,
    simulated_dynamometer,
)
from station.storage import layout
from station.storage.writer import SessionWriter


@dataclass
class SessionResult:
    path: Path
    status: str
    summaries: list[TestSummary]


def simulated_actors(protocols: list[Protocol], bound: dict[str, DeviceArg], patient: Patient,
                     *, involved_ratio: float = 0.82, seed: int = 1, strength: float = 1.0
                     ) -> tuple[dict[str, Any], Actor | None]:
    """Force sources for every ``sim:`` device and an actor that plays the patient (None when
    no device is simulated). The patient's strength per test: :mod:`simulation.patient`."""
    sources: dict[str, Any] = {}
    # what the simulated patient does on a trial's cue, per protocol: contract against each
    # simulated dynamometer the protocol uses, land on each simulated plate it uses. The
    # devices a protocol's roles are bound to decide, not its test kind.
    acts: dict[str, list[Callable[[str, float, float], None]]] = {}
    kinds = {d.role: d.kind for p in protocols for d in p.devices}
    for role, arg in bound.items():
        if not arg.uri.startswith("sim:"):
            continue
        device_id = device_id_for(arg, bound)
        if device_id in sources:
            continue
        if kinds.get(role) == "force_plate":
            from simulation.landing import LandingScenario

            plates = max(int(parse_uri(arg.uri).options.get("channels", "8")) // 4, 1)
            per_protocol: dict[str, tuple[str, ...]] = {}
            for p in protocols:  # which feet land on each plate of this device, per protocol
                sides = {min(m.channels) // 4: (m.side if m.side in ("left", "right") else "both")
                         for m in p.channel_map if bound.get(m.role) is arg}
                if sides:
                    default = ("left", "right") if plates == 2 else ("both",)
                    per_protocol[p.id] = tuple(sides.get(i, default[i]) for i in range(plates))
            # the involved limb is offloaded: the uninvolved foot takes ~12 % more of the impact
            asymmetry = {"left": -0.12, "right": 0.12}.get(patient.involved_side, 0.02)
            src = LandingScenario(channels=4 * plates, body_weight_n=(patient.body_mass_kg or 70.0) * 9.80665,
                                  plate_sides=next(iter(per_protocol.values()), None), asymmetry=asymmetry,
                                  seed=seed)  # one seed: every plate sees the same landings
            sources[device_id] = src
            for pid, plate_sides in per_protocol.items():
                acts.setdefault(pid, []).append(_landing_act(src, plate_sides))
        else:
            channel_for_side: dict[str, int] | None = None
            channels = 1
            for p in protocols:
                maps = [m for m in p.channel_map if bound.get(m.role) is arg and m.side in ("left", "right")]
                if maps:
                    channel_for_side = {str(m.side): m.channels[0] for m in maps}
                    channels = max(max(m.channels) for m in maps) + 1
            involved = patient.involved_side if patient.involved_side != "none" else None
            forces, sim_patient = simulated_dynamometer(channels, involved_side=involved, ratio=involved_ratio,
                                                        channel_for_side=channel_for_side, seed=seed)
            sources[device_id] = forces
            for p in protocols:
                if any(d.role in bound and device_id_for(bound[d.role], bound) == device_id for d in p.devices):
                    acts.setdefault(p.id, []).append(_contraction_act(sim_patient, typical_peak_n(p.id, strength)))

    def actor(protocol: Protocol, side: str, cue_s: float, duration_s: float) -> None:
        for act in acts.get(protocol.id, ()):
            act(side, cue_s, duration_s)

    return sources, (actor if sources else None)


def _contraction_act(patient: Any, peak_n: float) -> Callable[[str, float, float], None]:
    """A simulated patient pushing against a simulated dynamometer, as strong as ``peak_n``
    (the uninvolved side's peak, N) on the trial's cue."""
    def act(side: str, cue_s: float, duration_s: float) -> None:
        patient.uninvolved_peak_n = peak_n
        patient.contract(side, cue_s, duration_s)
    return act


def _landing_act(scenario: Any, plate_sides: tuple[str, ...]) -> Callable[[str, float, float], None]:
    """A simulated landing on a simulated plate device 0.8 s after the trial's cue, with the
    feet on its plates as the protocol maps them (a plate it does not use stays unloaded)."""
    def act(side: str, cue_s: float, duration_s: float) -> None:
        scenario.plate_sides = plate_sides
        scenario.trigger(cue_s + 0.8, side=side)
    return act


def check_rates(protocols: list[Protocol], devices: dict[str, Any], roles: dict[str, str]) -> None:
    """Refuse a device slower than a protocol role's ``min_rate_hz`` (metrics would be invalid)."""
    for p in protocols:
        for role in p.devices:
            d = devices[roles[role.role]]
            if d.info.rate_hz < role.min_rate_hz:
                raise SessionError(f"{d.uri}: {d.info.rate_hz:g} Hz is below the {role.min_rate_hz:g} Hz that role "
                                f"{role.role!r} of protocol {p.id!r} needs (set a higher rate in the device URI, "
                                   f"e.g. {d.uri}{'&' if '?' in d.uri else '?'}rate={role.min_rate_hz:g})")
            if d.info.channels < role.channels:
                raise SessionError(f"{d.uri}: {d.info.channels} channel(s), but role {role.role!r} of protocol "
                                f"{p.id!r} needs {role.channels}")


def used_channels(protocols: list[Protocol], bound: dict[str, DeviceArg]) -> dict[str, list[int]]:
    """Device id → the channels the protocols read from it (these must be calibrated)."""
    out: dict[str, list[int]] = {}
    for p in protocols:
        for m in p.channel_map:
            arg = bound.get(m.role)
            if arg is not None:
                used = out.setdefault(device_id_for(arg, bound), [])
                used.extend(c for c in m.channels if c not in used)
    return {k: sorted(v) for k, v in out.items()}


class OpenSession:
    """A session ready to run: devices open and streaming, file header written, engine built.

    ``pipeline`` (ring buffers, live detectors, :meth:`~station.pipeline.Pipeline.subscribe`)
    and ``engine`` (commands, events, :meth:`~station.session.runner.SessionEngine.start`)
    are what a front end uses; ``path`` is the session file, ``log_path`` its log file,
    ``warnings`` the lines to show before starting (calibration overrides). Always call
    :meth:`close` (or use ``with``): it stops the devices and closes the file.
    """

    def __init__(self, *, path: Path, devices: dict[str, BoundDevice], roles: dict[str, str], writer: SessionWriter,
                 pipeline: Pipeline, engine: SessionEngine, warnings: list[str], log: SessionLog | None) -> None:
        self.path = path
        self.devices = devices
        self.roles = roles
        self.writer = writer
        self.pipeline = pipeline
        self.engine = engine
        self.warnings = warnings
        self._log = log
        self.log_path = log.path if log is not None else None
        self.status: str | None = None  # the final status, once closed
        self.clinic_sync: SyncAfterClose | None = None  # the clinic-store sync started by close(), if any

    def __enter__(self) -> OpenSession:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        elif issubclass(exc_type, (KeyboardInterrupt, SessionAborted)):
            self.close(layout.STATUS_ABORTED)
        else:
            self.close(layout.STATUS_INTERRUPTED)

    @property
    def summaries(self) -> list[TestSummary]:
        return self.engine.summaries

    def final_status(self) -> str:
        """The status the engine's run ended with: complete, aborted or interrupted."""
        err = self.engine.error
        if isinstance(err, (SessionAborted, KeyboardInterrupt)):
            return layout.STATUS_ABORTED
        if err is not None:
            return layout.STATUS_INTERRUPTED
        return layout.STATUS_COMPLETE if self.engine.state == "done" else layout.STATUS_ABORTED

    def close(self, status: str | None = None) -> str:
        """Stop the devices, close the file with ``status`` (default: how the engine ended;
        a session still running is aborted first), emit ``SessionClosed``; returns the status.
        Idempotent."""
        if self.status is not None:
            return self.status
        if self.engine.state not in ("idle", "done") and self.engine._thread is not None:  # noqa: SLF001
            self.engine.request_abort("session closed")
            self.engine.join(10.0)
        status = status or self.final_status()
        error = None if self.engine.error is None or status == layout.STATUS_ABORTED else str(self.engine.error)
        try:
            try:
                self.pipeline.stop()
                for d in self.devices.values():
                    d.close()
            finally:  # a second Ctrl-C during the clean-up must not skip closing the file
                self.engine.detach()
                self.engine.file.close(
                    status,
                    summary=[s.as_dict() for s in self.engine.summaries],
                    device_stats={k: d.driver.stats.as_dict() for k, d in self.devices.items()},
                    reader_events=[f"{e.device_id} {e.kind}: {e.message}" for e in self.pipeline.events],
                    **({"health_events": [h.describe() for h in self.pipeline.health]} if self.pipeline.health else {}),
                )
                index_closed_session(self.path)  # the results index beside the files (never raises)
                self.clinic_sync = SyncAfterClose(self.path)  # the clinic store, if configured; own thread, never raises
        finally:
            self.status = status
            if self._log is not None:
                self._log.close()
        self.engine.emit(SessionClosed(self.engine.clock.now(), status, self.path, tuple(self.engine.summaries), error))
        return status


def open_session(*, protocols: list[Protocol], device_args: list[DeviceArg], patient: Patient, out_dir: Path,
                 options: RunnerOptions = RunnerOptions(), auto: bool = False, involved_ratio: float = 0.82,  # noqa: B008
                 calibration_dir: Path | None = None, allow_uncalibrated: bool = False,
                 on_path: Callable[[Path], None] | None = None, on_warning: Callable[[str], None] | None = None,
                 session_attrs: dict[str, Any] | None = None, clock: Clock | None = None,
                 log_file: bool = True, simulation: dict[str, Any] | None = None,
                 spill_dir: Path | None = None) -> OpenSession:
    """Open the devices of ``protocols`` (``device_args`` bound to their roles), create the
    session file in ``out_dir``, write its header, start the readers and the pipeline, and
    build the :class:`~station.session.runner.SessionEngine` (not started).

    Simulated devices (``sim:``) get a simulated patient who follows the cues whether or not
    ``auto`` is set (a clinic rehearses interactively); ``simulation`` may set its
    ``strength`` (factor of a typical adult), ``involved_ratio``, ``seed`` and ``speed``
    (simulated time runs that many times faster than real time: engine, simulators and
    drivers share a :class:`~station.clock.ScaledClock`; every device must be ``sim:``). ``on_path`` is
    told the file's path before it is created; ``on_warning`` gets each warning line (also
    kept in :attr:`OpenSession.warnings`). ``log_file``: write ``<file>.log`` next to the
    session file (the station's log records of this session). ``spill_dir``: where samples
    that do not fit on a full disk go (default: the user data folder). Raises a one-line
    :class:`~station.errors.StationError` (a device, a calibration, a rate) with nothing written.

    Typical use (a window)::

        session = open_session(protocols=[...], device_args=[...], patient=p, out_dir=d)
        session.engine.subscribe(on_event)      # events, in the engine thread
        session.engine.start()                  # the session runs in its own thread
        ... session.engine.go() ... session.pipeline.rings["dynamometer"].since(seen) ...
        session.engine.join(); session.close()
    """
    bound = bind_roles(protocols, device_args)
    sim = dict(simulation or {})
    sources, actor = simulated_actors(protocols, bound, patient,
                                      involved_ratio=float(sim.get("involved_ratio", involved_ratio)),
                                      seed=int(sim.get("seed", 1)), strength=float(sim.get("strength", 1.0)))
    speed = float(sim.get("speed", 1.0))
    device_clock = None
    if speed != 1.0:
        if clock is not None:
            raise ValueError("give a clock or a simulation speed, not both")
        device_clock = clock = ScaledClock(speed)
    devices, roles = open_session_devices(bound, sources=sources, calibration_dir=calibration_dir,
                                          allow_uncalibrated=allow_uncalibrated,
                                          channels=used_channels(protocols, bound), clock=device_clock)
    warnings: list[str] = []
    for d in devices.values():
        for o in d.calibration_snapshot.get("overrides", []):
            line = f"WARNING: {o['reason']} — used anyway (--allow-uncalibrated, recorded in the session file)"
            warnings.append(line)
            if on_warning:
                on_warning(line)
    try:
        check_rates(protocols, devices, roles)
    except StationError:
        for d in devices.values():
            d.close()
        raise
    session_id = str(uuid.uuid4())
    path = session_path(out_dir, patient.patient_id, session_id)
    if on_path:
        on_path(path)
    writer = SessionWriter(path, spill_dir=spill_dir)
    pipeline = Pipeline(list(devices.values()), writer)
    engine = SessionEngine(patient=patient, protocols=protocols, pipeline=pipeline, writer=writer, roles=roles,
                           options=options, actor=actor, history_dir=out_dir,
                           session_attrs=session_attrs, clock=clock)
    engine.session_id = session_id  # the file name carries its first characters
    session = OpenSession(path=path, devices=devices, roles=roles, writer=writer, pipeline=pipeline, engine=engine,
                          warnings=warnings, log=None)
    try:
        engine.write_header(devices, {k: d.calibration_snapshot for k, d in devices.items()})
        if log_file:  # only once the session file is ours: a refused name leaves nothing behind
            session._log = SessionLog(path.with_suffix(".log"))  # noqa: SLF001
            session.log_path = session._log.path  # noqa: SLF001
        pipeline.start()
    except BaseException:
        session.close(layout.STATUS_INTERRUPTED)
        raise
    return session


def run_session(*, protocols: list[Protocol], device_args: list[DeviceArg], patient: Patient, out_dir: Path,
                ui: SessionUI, options: RunnerOptions, auto: bool, involved_ratio: float = 0.82,
                calibration_dir: Path | None = None, allow_uncalibrated: bool = False,
                on_path: Callable[[Path], None] | None = None,
                session_attrs: dict[str, Any] | None = None, simulation: dict[str, Any] | None = None,
                spill_dir: Path | None = None) -> SessionResult:
    """The CLI's session: :func:`open_session`, the engine answered by ``ui`` (blocking
    prompts, :func:`~station.session.ui_bridge.run_with_ui`), then close. Ctrl-C and SIGTERM
    close the file with status aborted and are re-raised (so is :class:`SessionAborted`)."""
    early = BackgroundSync(out_dir)  # sessions queued while the clinic store was unreachable go now (own thread)
    session = open_session(protocols=protocols, device_args=device_args, patient=patient, out_dir=out_dir,
                           options=options, auto=auto, involved_ratio=involved_ratio,
                           calibration_dir=calibration_dir, allow_uncalibrated=allow_uncalibrated,
                           on_path=on_path, on_warning=ui.info, session_attrs=session_attrs, simulation=simulation,
                           spill_dir=spill_dir)
    status = layout.STATUS_COMPLETE
    with sigterm_as_interrupt():
        try:
            run_with_ui(session.engine, ui)
        except (KeyboardInterrupt, SessionAborted):
            status = layout.STATUS_ABORTED
            raise
        except BaseException:
            status = layout.STATUS_INTERRUPTED
            raise
        finally:
            session.close(status)
            for line in early.news("at the start of this session") + (
                    session.clinic_sync.wait() if session.clinic_sync else []):
                ui.info(line)
    return SessionResult(session.path, status, session.engine.summaries)
