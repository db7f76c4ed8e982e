"""One call that runs a whole session: open devices, write the file, run, close cleanly.

Used by ``station session run`` and ``station demo``. Ctrl-C and SIGTERM end the session
cleanly: the current trial is kept and marked aborted, the file is closed with status
``aborted``; the exception is re-raised so the CLI exits non-zero.
"""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from protocols.model import Protocol
from station.pipeline import Pipeline
from station.session.model import Patient, TestSummary
from station.session.runner import Actor, RunnerOptions, SessionAborted, SessionRunner, SessionUI, session_path
from drivers.registry import parse_uri
from station.errors import UserError
from station.index.update import index_closed_session
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


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt (main thread only) so that, like Ctrl-C,
    they close the file cleanly (SIGHUP: the terminal running the station was closed)."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous: dict[int, Any] = {}
    try:
        for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):  # no SIGHUP on Windows
            if sig is not None:
                previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def simulated_actors(protocols: list[Protocol], bound: dict[str, DeviceArg], patient: Patient,
                     *, involved_ratio: float = 0.82, seed: int = 1) -> tuple[dict[str, Any], Actor]:
    """Force sources for every ``sim:`` device and an actor that plays the patient."""
    sources: dict[str, Any] = {}
    patients = []
    landings = []
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
            landings.append((src, per_protocol))
        else:
            channel_for_side = None
            channels = 1
            for p in protocols:
                maps = [m for m in p.channel_map if bound.get(m.role) is arg and m.side in ("left", "right")]
                if maps:
                    channel_for_side = {m.side: m.channels[0] for m in maps}
                    channels = max(max(m.channels) for m in maps) + 1
            involved = patient.involved_side if patient.involved_side != "none" else None
            forces, sim_patient = simulated_dynamometer(channels, involved_side=involved, ratio=involved_ratio,
                                                        channel_for_side=channel_for_side, seed=seed)
            sources[device_id] = forces
            patients.append(sim_patient)

    def actor(protocol: Protocol, side: str, cue_s: float, duration_s: float) -> None:
        if protocol.kind == "isometric":
            for p in patients:
                p.contract(side, cue_s, duration_s)
            return
        for scenario, per_protocol in landings:
            plate_sides = per_protocol.get(protocol.id)
            if plate_sides is not None:  # a plate this protocol does not use stays unloaded
                scenario.plate_sides = plate_sides
                scenario.trigger(cue_s + 0.8, side=side)

    return sources, actor


def check_rates(protocols: list[Protocol], devices: dict[str, Any], roles: dict[str, str]) -> None:
    """Refuse a device slower than a protocol role's ``min_rate_hz`` (metrics would be invalid)."""
    for p in protocols:
        for role in p.devices:
            d = devices[roles[role.role]]
            if d.info.rate_hz < role.min_rate_hz:
                raise UserError(f"{d.uri}: {d.info.rate_hz:g} Hz is below the {role.min_rate_hz:g} Hz that role "
                                f"{role.role!r} of protocol {p.id!r} needs (set a higher rate, e.g. ?rate=…)")
            if d.info.channels < role.channels:
                raise UserError(f"{d.uri}: {d.info.channels} channel(s), but role {role.role!r} of protocol "
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


def run_session(*, protocols: list[Protocol], device_args: list[DeviceArg], patient: Patient, out_dir: Path,
                ui: SessionUI, options: RunnerOptions, auto: bool, involved_ratio: float = 0.82,
                calibration_dir: Path | None = None, allow_uncalibrated: bool = False,
                on_path: Callable[[Path], None] | None = None,
                session_attrs: dict[str, Any] | None = None) -> SessionResult:
    bound = bind_roles(protocols, device_args)
    sources, actor = simulated_actors(protocols, bound, patient, involved_ratio=involved_ratio) if auto else ({}, None)
    devices, roles = open_session_devices(bound, sources=sources, calibration_dir=calibration_dir,
                                          allow_uncalibrated=allow_uncalibrated,
                                          channels=used_channels(protocols, bound))
    for d in devices.values():
        for o in d.calibration_snapshot.get("overrides", []):
            ui.info(f"WARNING: {o['reason']} — used anyway (--allow-uncalibrated, recorded in the session file)")
    try:
        check_rates(protocols, devices, roles)
    except UserError:
        for d in devices.values():
            d.close()
        raise
    path = session_path(out_dir, patient.patient_id)
    if on_path:
        on_path(path)
    writer = SessionWriter(path)
    pipeline = Pipeline(list(devices.values()), writer)
    runner = SessionRunner(patient=patient, protocols=protocols, pipeline=pipeline, writer=writer, roles=roles,
                           ui=ui, options=options, actor=actor if auto else None, history_dir=out_dir,
                           session_attrs=session_attrs)
    status = layout.STATUS_COMPLETE
    calibration = {k: d.calibration_snapshot for k, d in devices.items()}
    with sigterm_as_interrupt():
        try:
            runner.write_header(devices, calibration)
            pipeline.start()
            runner.run()
        except (KeyboardInterrupt, SessionAborted):
            status = layout.STATUS_ABORTED
            raise
        except BaseException:
            status = layout.STATUS_INTERRUPTED
            raise
        finally:
            try:
                pipeline.stop()
                for d in devices.values():
                    d.close()
            finally:  # a second Ctrl-C during the clean-up must not skip closing the file
                writer.close({
                    "status": status,
                    "summary": [s.as_dict() for s in runner.summaries],
                    "device_stats": {k: d.driver.stats.as_dict() for k, d in devices.items()},
                    "reader_events": [f"{e.device_id} {e.kind}: {e.message}" for e in pipeline.events],
                })
                index_closed_session(path)  # the results index beside the files (never raises)
    return SessionResult(path, status, runner.summaries)
