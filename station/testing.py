"""Sessions without devices or real time: a manual device, a fake clock that feeds it, and
a patient's efforts, for tests and scripts that drive the real engine, pipeline and writer.

    session = manual_session(tmp_path / "s.h5", [protocol], peaks_n={"left": [200, 210], ...})
    session.engine.subscribe(events.append)
    session.engine.start(); session.engine.join(5); session.close()

Time is a :class:`~station.clock.FakeClock`: each wait of the engine advances it, and the
:class:`ClockFeeder` puts that interval's samples (at the device rate, on the same clock)
into the pipeline with :meth:`~station.pipeline.Pipeline.feed`, in the engine's thread.
Everything after the pipeline is real: listeners, live detectors, recorder, HDF5 writer,
analysis, summaries.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drivers.base import DeviceInfo, DriverStats
from protocols.model import Protocol
from station.clock import FakeClock
from station.pipeline import BoundDevice, Pipeline
from station.session.model import Patient
from station.session.run import OpenSession
from station.session.runner import RunnerOptions, SessionEngine, side_channels
from station.storage.writer import SessionWriter


class ManualDriver:
    """Stands where a driver would for a device whose samples are fed by hand."""

    def __init__(self, port: str = "manual") -> None:
        self.port = port
        self.stats = DriverStats()

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...

    def read(self, timeout_s: float = 0.05) -> None:
        """Nothing arrives on a manual device's wire (its samples are fed)."""
        time.sleep(timeout_s)


def manual_device(device_id: str, channels: int = 1, rate_hz: float = 500.0) -> BoundDevice:
    """A bound device reporting newtons, fed with :meth:`Pipeline.feed` (no port, no reader)."""
    info = DeviceInfo(family="manual", model="manual", serial=device_id, firmware="", channels=channels,
                      rate_hz=rate_hz, unit="N", time_source="host", port="manual")
    return BoundDevice(device_id, f"manual:{device_id}", ManualDriver(), info)  # type: ignore[arg-type]


@dataclass
class Efforts:
    """Force on each channel (N) over time: a quiet baseline plus scheduled efforts.

    An effort rises over ``rise_s`` (half-cosine) to ``peak_n``, holds, and falls over 0.2 s.
    """

    channels: int = 1
    noise_n: float = 0.3
    seed: int = 1
    _efforts: list[tuple[float, float, float, float, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def add(self, start_s: float, peak_n: float, hold_s: float = 2.0, rise_s: float = 0.5, channel: int = 0) -> None:
        self._efforts.append((start_s, peak_n, hold_s, rise_s, channel))

    def force(self, t_s: np.ndarray) -> np.ndarray:
        out = self._rng.normal(0.0, self.noise_n, (t_s.size, self.channels))
        for start, peak, hold, rise, ch in self._efforts:
            x = t_s - start
            up = np.clip(x / rise, 0.0, 1.0)
            shape = 0.5 - 0.5 * np.cos(math.pi * up)
            down = np.clip((x - rise - hold) / 0.2, 0.0, 1.0)
            out[:, ch] += peak * shape * (1.0 - down) * (x >= 0)
        return out


class ClockFeeder:
    """A :class:`FakeClock` hook that feeds ``device_id`` the samples of each advance.

    ``force(t_s) → (n, channels)`` gives the values at the sample times. ``connected``
    False feeds nothing (a pulled cable)."""

    def __init__(self, pipeline: Pipeline, device_id: str, force: Callable[[np.ndarray], np.ndarray]) -> None:
        self.pipeline = pipeline
        self.device_id = device_id
        self.rate_hz = pipeline.devices[device_id].info.rate_hz
        self.force = force
        self.connected = True
        self._next: int | None = None  # index of the next sample on the clock's grid

    def __call__(self, t_from: float, t_to: float) -> None:
        first = math.floor(t_from * self.rate_hz) + 1 if self._next is None else self._next
        last = math.floor(t_to * self.rate_hz)
        self._next = max(first, last + 1)
        if last < first or not self.connected:
            return
        t = np.arange(first, last + 1) / self.rate_hz
        self.pipeline.feed(self.device_id, t, self.force(t))


def manual_session(path: Path, protocols: list[Protocol], *, patient: Patient | None = None,
                   peaks_n: dict[str, list[float]] | None = None, options: RunnerOptions | None = None,
                   rate_hz: float = 500.0, clock: FakeClock | None = None) -> tuple[OpenSession, dict[str, Any]]:
    """An :class:`OpenSession` of ``protocols`` on manual devices (one per protocol role,
    named after it) and a fake clock. ``peaks_n``: side → the peak force (N) of that side's
    successive trials (the last value repeats). Returns the session and its parts:
    ``clock``, ``feeders`` (device id → :class:`ClockFeeder`), ``efforts`` (device id →
    :class:`Efforts`)."""
    clock = clock or FakeClock()
    patient = patient or Patient("FAKE-1", body_mass_kg=70.0, involved_side="right", lever_arm_m=0.8)
    roles: dict[str, str] = {}
    channels: dict[str, int] = {}
    for p in protocols:
        for d in p.devices:
            roles[d.role] = d.role
            channels[d.role] = max(channels.get(d.role, 1), d.channels)
    devices = {k: manual_device(k, ch, rate_hz) for k, ch in channels.items()}
    writer = SessionWriter(path)
    pipeline = Pipeline(list(devices.values()), writer)
    efforts = {k: Efforts(channels[k], seed=i + 1) for i, k in enumerate(devices)}
    feeders = {k: ClockFeeder(pipeline, k, efforts[k].force) for k in devices}
    for f in feeders.values():
        clock.on_advance.append(f)
    done: dict[str, int] = {}
    peaks = peaks_n or {"left": [220.0], "right": [200.0], "both": [200.0]}

    def actor(protocol: Protocol, side: str, cue_s: float, duration_s: float) -> None:
        by_side = side_channels(protocol, roles)
        for s in (["left", "right"] if side == "both" else [side]):
            sc = by_side[s]
            values = peaks.get(s) or peaks.get("both") or [200.0]
            n = done.get(s, 0)
            done[s] = n + 1
            efforts[sc.device_id].add(cue_s + 0.3, values[min(n, len(values) - 1)],
                                      hold_s=max(duration_s - 1.2, 0.3), channel=sc.channels[0])

    options = options or RunnerOptions(tail_s=0.3, wait_for_go=False)
    engine = SessionEngine(patient=patient, protocols=protocols, pipeline=pipeline, writer=writer, roles=roles,
                           options=options, actor=actor, clock=clock)
    engine.write_header(devices, {k: d.calibration_snapshot for k, d in devices.items()})
    session = OpenSession(path=Path(path), devices=devices, roles=roles, writer=writer, pipeline=pipeline,
                          engine=engine, warnings=[], log=None)
    return session, {"clock": clock, "feeders": feeders, "efforts": efforts}
