"""Opening a session's devices: binding ``--device [ROLE=]URI`` to protocol roles,
choosing each device's calibration, and, for simulators, the simulated patient."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drivers.base import Clock, DeviceError
from drivers.registry import open_device, parse_uri
from protocols.model import Protocol
from simulation.forces import ScheduledForces
from simulation.patient import SimulatedPatient
from station.errors import SessionError
from station.calibration_link import calibration_for
from station.pipeline import BoundDevice


@dataclass(frozen=True)
class DeviceArg:
    roles: tuple[str, ...]  # empty: assign to the next unbound role
    uri: str


def parse_device_arg(text: str) -> DeviceArg:
    """``URI`` or ``ROLE=URI`` or ``ROLE1,ROLE2=URI`` (one device serving several roles)."""
    head, sep, tail = text.partition("=")
    if sep and ":" not in head and "?" not in head:
        roles = tuple(r.strip() for r in head.split(",") if r.strip())
        return DeviceArg(roles, tail)
    return DeviceArg((), text)


def bind_roles(protocols: list[Protocol], args: list[DeviceArg]) -> dict[str, DeviceArg]:
    """Role → device argument. Named roles first; unnamed devices fill the remaining roles
    in the order the protocols list them. A role left without a device is an error."""
    needed: list[str] = []
    for p in protocols:
        for d in p.devices:
            if d.role not in needed:
                needed.append(d.role)
    bound: dict[str, DeviceArg] = {}
    for a in args:
        for role in a.roles:
            if role not in needed:
                raise SessionError(f"--device {role}=…: no protocol in this session has a device role {role!r} "
                                f"(roles: {', '.join(needed)})")
            bound[role] = a
    free = [a for a in args if not a.roles]
    for role in needed:
        if role not in bound and free:
            bound[role] = free.pop(0)
    missing = [r for r in needed if r not in bound]
    if missing:
        raise SessionError(f"no device for role(s) {', '.join(missing)}: add --device {missing[0]}=URI "
                        "(e.g. sim:mark10 or mark10:/dev/ttyUSB0)")
    if free:
        raise SessionError(f"--device {free[0].uri}: more devices than protocol roles ({', '.join(needed)})")
    check_channel_overlap(protocols, bound)
    return name_simulated_plates(bound)


def name_simulated_plates(bound: dict[str, DeviceArg]) -> dict[str, DeviceArg]:
    """Give a simulated plate (``sim:sfp`` without a ``serial``) that serves one left or right
    role its own serial number (``plate_left`` → ``SIM-SFP-LEFT``): two simulated plates are
    then two devices in the file and in the calibration records, as two real plates are."""
    from simulation.sfp import serial_for_role

    out = dict(bound)
    for arg in {id(a): a for a in bound.values()}.values():  # by identity: two equal arguments are two devices
        roles = [role for role, a in bound.items() if a is arg]
        try:
            uri = parse_uri(arg.uri)
        except DeviceError:
            continue  # named when the device is opened
        serial = serial_for_role(roles[0]) if len(roles) == 1 else None
        if not (uri.simulated and uri.family == "sfp") or "serial" in uri.options or serial is None:
            continue
        named = DeviceArg(arg.roles, f"{arg.uri}{'&' if '?' in arg.uri else '?'}serial={serial}")
        out[roles[0]] = named
    return out


def check_channel_overlap(protocols: list[Protocol], bound: dict[str, DeviceArg]) -> None:
    """Refuse one device channel measuring two sides or two roles of a protocol (e.g. both
    plate roles bound to one 4-cell plate: its asymmetry would be 0 % by construction)."""
    for p in protocols:
        seen: dict[tuple[int, int], tuple[str, str | None]] = {}
        for m in p.channel_map:
            arg = bound.get(m.role)
            if arg is None:
                continue
            for c in m.channels:
                key = (id(arg), c)
                other = seen.get(key)
                if other is not None and other != (m.role, m.side):
                    what = (f"roles {other[0]} and {m.role}" if other[0] != m.role
                            else f"the {other[1]} and {m.side} sides of role {m.role}")
                    raise SessionError(f"--device {arg.uri}: {what} of protocol {p.id} would both read channel {c} "
                                    "of this one device; give each its own device (or its own channels)")
                seen[key] = (m.role, m.side)


def device_id_for(arg: DeviceArg, bound: dict[str, DeviceArg]) -> str:
    return "+".join(role for role, a in bound.items() if a is arg)


def open_session_devices(bound: dict[str, DeviceArg], *, patient: SimulatedPatient | None = None,
                         sources: dict[str, Any] | None = None, calibration_dir: Path | None = None,
                         allow_uncalibrated: bool = False, channels: dict[str, list[int]] | None = None,
                         clock: Clock | None = None) -> tuple[dict[str, BoundDevice], dict[str, str]]:
    """Open every bound device once; returns (device_id → BoundDevice, role → device_id).

    ``sources`` maps a device id to the force source its simulator feels (only for ``sim:``).
    ``channels`` maps a device id to the channels the session uses (default: all); those
    must have a usable calibration unless ``allow_uncalibrated`` (see
    :func:`station.calibration_link.calibration_for`). ``clock``: the time of the simulated
    devices and their drivers (see :func:`drivers.registry.open_device`).
    """
    devices: dict[str, BoundDevice] = {}
    roles: dict[str, str] = {}
    try:
        for arg in dict.fromkeys(bound.values()):
            device_id = device_id_for(arg, bound)
            for role, a in bound.items():
                if a is arg:
                    roles[role] = device_id
            try:
                parse_uri(arg.uri)
                driver, sim = open_device(arg.uri, (sources or {}).get(device_id), clock=clock)
                info = driver.open()
            except DeviceError:
                raise  # one line naming the port; the CLI catches the base of every kind
            try:
                cal = calibration_for(info, uri=arg.uri, channels=(channels or {}).get(device_id),
                                      calibration_dir=calibration_dir, allow_uncalibrated=allow_uncalibrated)
            except BaseException:
                driver.close()
                if sim is not None:
                    sim.close()
                raise
            devices[device_id] = BoundDevice(device_id, arg.uri, driver, info, cal.calibrate, cal.snapshot, sim)
    except BaseException:
        for d in devices.values():
            d.close()
        raise
    return devices, roles


def simulated_dynamometer(channels: int = 1, *, involved_side: str | None = "right", ratio: float = 0.82,
                          channel_for_side: dict[str, int] | None = None, seed: int = 1
                          ) -> tuple[ScheduledForces, SimulatedPatient]:
    """A force source and the simulated patient who drives it."""
    forces = ScheduledForces(channels, seed=seed)
    patient = SimulatedPatient(forces, involved_side=involved_side, involved_ratio=ratio,
                               channel_for_side=channel_for_side, seed=seed + 1)
    return forces, patient
