"""The link between the ``calibration`` package and the station: sessions and devices.

Two jobs:

* :func:`calibration_for` — the calibration a session applies to one opened device
  (raw values → N), its snapshot for the session file, and the overrides taken with
  ``--allow-uncalibrated``. It refuses (``CalibrationUseError``) a channel with no calibration, an
  expired one or one whose last verification failed.
* :class:`TareTracker` — the session's tares as zero readings, with the drift between them.
* Device helpers shared by ``station calibrate`` and ``station calibration verify``:
  :class:`CalibrationDevice` (open a device URI, stream it in a background thread, hand
  out fresh blocks of readings), :class:`StaticLoad` (a force source that lets the command
  itself place reference loads on a simulator), :func:`stability_criteria` (the settle
  check, given in newtons), :class:`Console` (prompts and Enter presses).

Units: forces in N, readings in the device's unit (counts, or N for devices that report
newtons), times in s.
"""
from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from calibration import (
    CalibrationError,
    CalibrationOverride,
    CalibrationRecord,
    CalibrationRefused,
    CalibrationSet,
    CalibrationState,
    CalibrationStore,
    StabilityCriteria,
    TareLog,
    check_usable,
    factory_record,
    load_snapshot,
    require_usable,
    snapshot_dict,
)
from drivers.base import DeviceError, DeviceInfo
from drivers.registry import DeviceURI
from station.errors import CalibrationUseError, PromptError

#: What ``--allow-uncalibrated`` is called on the command line (named in refusals).
OVERRIDE_OPTION: str = "--allow-uncalibrated"

# ======================================================================================
# Sessions: the calibration applied to a device
# ======================================================================================


@dataclass
class DeviceCalibration:
    """The calibration of one opened device for a session.

    calibrate: raw values ``(n, channels)`` in ``DeviceInfo.unit`` → force in N (same
    shape); a channel used under an override without any record gives NaN.
    snapshot: JSON-ready dict for the session file (``/devices/<id>`` attr ``calibration``):
    a :func:`calibration.snapshot_dict` (``load_snapshot`` reads it back) plus where each
    channel's record came from, the zeros in use and the overrides.
    overrides: ``CalibrationOverride.to_dict()`` of every channel used without a usable
    calibration (empty unless ``allow_uncalibrated``); also in ``snapshot["overrides"]``.
    records: the record applied to each column (None: no calibration, NaN).
    calibration_set: the :class:`calibration.CalibrationSet` behind ``calibrate``
    (``with_tare`` gives one with new zeros).
    """

    calibrate: Callable[[np.ndarray], np.ndarray]
    snapshot: dict[str, Any]
    overrides: list[dict[str, Any]]
    records: tuple[CalibrationRecord | None, ...] = ()
    calibration_set: CalibrationSet | None = None


#: reference loads suggested in the hint of a refusal (kg; adjust to the cell's range)
HINT_LOADS_KG = "0,5,10,20,40"


def calibrate_command(uri: str, channel: int | str, calibration_dir: Path | str | None = None) -> str:
    """The ``station calibrate`` command for one channel, as it runs when pasted in a shell
    (the URI quoted, the required ``--loads`` given, the calibration folder if not the default)."""
    import shlex

    folder = f" --calibration-dir {shlex.quote(str(calibration_dir))}" if calibration_dir is not None else ""
    return (f"station calibrate --device {shlex.quote(uri)} --channel {channel} --loads {HINT_LOADS_KG} "
            f"--unit kg{folder}")


def _device_label(info: DeviceInfo) -> str:
    return f"{info.family} {info.model}".strip()


def calibration_for(
    info: DeviceInfo,
    *,
    uri: str = "",
    channels: Sequence[int] | None = None,
    calibration_dir: Path | str | None = None,
    allow_uncalibrated: bool = False,
    now: datetime | None = None,
) -> DeviceCalibration:
    """The calibration to apply to an opened device, or a ``CalibrationUseError`` refusing the session.

    ``channels``: the channels the session uses (default: all of the device's); only they
    must be usable. Others get their stored record when it is usable, else NaN (counts
    devices) or the identity (devices reporting N).

    Devices reporting newtons (``info.unit == "N"``): a stored record for (serial, channel)
    is used when there is one (e.g. a factory record confirmed by ``station calibration
    verify``) and must be usable like any record; without one, an identity
    :func:`calibration.factory_record` (not saved) is used.

    Devices reporting counts: the stored records must all be usable
    (:func:`calibration.require_usable`), unless ``allow_uncalibrated``: then the
    unusable channels are listed in ``overrides`` (and in the snapshot); a channel without
    a readable record then reads NaN, an expired or failed one is still applied.
    ``now`` (timezone-aware) is the time the records are judged at (default: now).
    """
    when = now or datetime.now(timezone.utc)
    if when.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    store = CalibrationStore(calibration_dir)
    serial = (info.serial or "").strip()
    n_channels = int(info.channels)
    wanted = list(range(n_channels)) if channels is None else [int(c) for c in channels]
    for c in wanted:
        if not 0 <= c < n_channels:
            raise CalibrationUseError(f"{uri or info.port}: channel {c} out of range: {_device_label(info)} "
                            f"{serial} has channels 0..{n_channels - 1}")
    wanted = list(dict.fromkeys(wanted))
    reports_newtons = info.unit == "N"
    shown_uri = uri or f"{info.family}:{info.port}"
    if not serial:
        if reports_newtons or allow_uncalibrated:
            serial = f"{info.family}@{info.port}"
        else:
            raise CalibrationUseError(f"{shown_uri}: {_device_label(info)} reports no serial number, so no calibration "
                            f"can be found for it (calibrations are kept per serial); pass {OVERRIDE_OPTION} "
                            "to record without one")

    records: dict[int, CalibrationRecord | None] = {}
    origin: dict[int, str] = {}
    unreadable: dict[int, str] = {}
    for c in range(n_channels):
        try:
            record = store.load(serial, c)
        except CalibrationError as exc:
            record = None
            unreadable[c] = str(exc)
        records[c] = record
        origin[c] = "stored" if record is not None else "none"

    # Unreadable files of the channels in use: refuse (or override) with the file's own error.
    pending: list[CalibrationOverride] = []
    for c in wanted:
        if c in unreadable:
            reason = f"calibration file of channel {c} of device {serial} is unreadable: {unreadable[c]}"
            if not allow_uncalibrated:
                raise CalibrationUseError(f"{reason}; recalibrate (`{calibrate_command(shown_uri, c, calibration_dir)}`) "
                                f"or pass {OVERRIDE_OPTION}")
            pending.append(CalibrationOverride(serial, c, CalibrationState.MISSING, reason, when, None))

    # Devices reporting newtons: the factory identity where nothing is stored.
    if reports_newtons:
        for c in range(n_channels):
            if records[c] is None and c not in unreadable:
                records[c] = factory_record(
                    serial, c, operator="factory", calibrated_at=when,
                    notes=f"{_device_label(info)} reports newtons; factory calibration assumed (no stored record)",
                )
                origin[c] = "factory-default"

    checked = [(serial, c) for c in wanted if c not in unreadable]
    try:
        overrides = require_usable(
            {(serial, c): records[c] for c in wanted if c not in unreadable}, checked,
            override=allow_uncalibrated, now=when, device_uris={serial: shown_uri},
            hint=f"run `{calibrate_command(shown_uri, '{channel}', calibration_dir)}` or pass {OVERRIDE_OPTION}",
        )
    except CalibrationRefused:
        raise  # one line naming the device and channel
    except CalibrationError as exc:
        raise CalibrationError(f"{shown_uri}: {exc}") from None
    overrides = sorted([*pending, *overrides], key=lambda o: o.channel)

    # Channels not in use: their record only when usable.
    columns: list[CalibrationRecord | None] = []
    for c in range(n_channels):
        record = records[c]
        if c not in wanted and record is not None and not check_usable(record, when).usable:
            record = None
            origin[c] = "unused-unusable"
        columns.append(record)

    try:
        cal_set = CalibrationSet(columns)
    except CalibrationError as exc:  # pragma: no cover - records were validated on load
        raise CalibrationError(f"{shown_uri}: {exc}") from None

    in_force = [r for r in columns if r is not None]
    states = {}
    for c in range(n_channels):
        r = records[c]
        if c in unreadable:
            states[c] = "unreadable"
        else:
            states[c] = check_usable(r, when, device_serial=serial, channel=c).state.value
    override_dicts = [o.to_dict() for o in overrides]
    used = [columns[c] for c in wanted]
    models = {r.model if r is not None else "none" for r in used}
    sources = {r.source if r is not None else "none" for r in used}
    if reports_newtons and all(origin[c] == "factory-default" for c in wanted):
        note = f"{_device_label(info)} reports newtons; factory calibration used (no stored record)"
    else:
        good = sum(1 for c in wanted if states[c] == "ok")
        note = f"{good} of {len(wanted)} channel(s) in use have a usable calibration"
        if override_dicts:
            note += f"; {len(override_dicts)} used without one ({OVERRIDE_OPTION})"
    snapshot = snapshot_dict(in_force)
    snapshot.update({
        # one-glance summary of the channels in use ("mixed" when they differ)
        "model": models.pop() if len(models) == 1 else "mixed",
        "source": sources.pop() if len(sources) == 1 else "mixed",
        "note": note,
        "taken_at": when.astimezone(timezone.utc).isoformat(),
        "device_serial": serial,
        "device_uri": uri,
        "input_unit": info.unit,
        "calibration_dir": str(store.directory),
        "channels": [
            {
                "channel": c,
                "in_use": c in wanted,
                "source": origin[c],
                "state": states[c],
                "record_id": None if columns[c] is None else columns[c].record_id,  # type: ignore[union-attr]
                "model": None if columns[c] is None else columns[c].model,  # type: ignore[union-attr]
                "applied": columns[c] is not None,
                "error": unreadable.get(c),
            }
            for c in range(n_channels)
        ],
        # Zeros in use: None = the record's own offset_counts (the session's host tare, in N,
        # is applied after calibration by the pipeline).
        "tare_offsets_counts": list(cal_set.tare_offsets_counts),
        "overrides": override_dicts,
    })
    return DeviceCalibration(cal_set.apply, snapshot, override_dicts, tuple(columns), cal_set)


class TareTracker:
    """Logs a session's tares of one device, per calibrated channel, with the drift between them.

    The session tares in newtons after calibration (``Pipeline.tare`` returns the cumulative
    tare per channel, N: what the channel read with nothing on it). Each tare is logged as
    the zero reading it amounts to (``offset_counts + tare_n / gain``, counts) in a
    :class:`calibration.TareLog`, so the first entry shows the drift since calibration and
    every later one the drift since the previous tare (counts and N).
    """

    def __init__(self, records: Sequence[CalibrationRecord | None]) -> None:
        self.records = tuple(records)
        self.logs: dict[int, TareLog] = {c: TareLog.for_record(r) for c, r in enumerate(self.records) if r is not None}

    @classmethod
    def from_snapshot(cls, snapshot: dict[str, Any]) -> TareTracker:
        """From a :class:`DeviceCalibration` snapshot (e.g. ``BoundDevice.calibration_snapshot``)."""
        try:
            by_id = {r.record_id: r for r in load_snapshot(snapshot)}
        except CalibrationError:
            by_id = {}
        channels = snapshot.get("channels") or []
        return cls([by_id.get(c.get("record_id")) if c.get("applied") else None for c in channels])

    def add(self, tare_n: Sequence[float | None], at: datetime | None = None) -> list[dict[str, Any]]:
        """Log one tare (cumulative tare per channel, N; None or NaN: not tared, skipped);
        returns its JSON-ready rows."""
        values = np.asarray(tare_n, dtype=np.float64).reshape(-1)
        when = at or datetime.now(timezone.utc)
        rows = []
        for c, log in self.logs.items():
            if c >= values.size or not math.isfinite(values[c]):
                continue
            record = self.records[c]
            assert record is not None
            entry = log.add(record.offset_counts + float(values[c]) / record.gain_n_per_count, at=when)
            rows.append({"channel": c, "record_id": record.record_id, "tare_n": float(values[c]), **entry.to_dict()})
        return rows

    def to_list(self) -> list[dict[str, Any]]:
        """Every tare so far, per channel, JSON-ready."""
        return [{"channel": c, "tares": log.to_list()} for c, log in self.logs.items()]


# ======================================================================================
# Devices for the calibration commands
# ======================================================================================


class StaticLoad:
    """A force source (see ``simulation.forces.ForceSource``) holding a settable load per channel.

    ``set(channel, load_n)`` places a load (N) on a channel; ``sample(t_s)`` returns the
    loads plus Gaussian noise of SD ``noise_n`` (N), shape ``(len(t_s), channels)``.
    Thread-safe: the simulator thread samples while the command sets loads.
    """

    def __init__(self, channels: int, *, noise_n: float = 0.005, seed: int = 0) -> None:
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.channels = int(channels)
        self.noise_n = float(noise_n)
        self._load = np.zeros(self.channels)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def set(self, channel: int, load_n: float) -> None:
        """Place ``load_n`` N on ``channel`` (replacing what was there)."""
        with self._lock:
            self._load[int(channel)] = float(load_n)

    def set_all(self, loads_n: Any) -> None:
        """Set every channel's load at once (N, one value per channel)."""
        arr = np.asarray(loads_n, dtype=np.float64)
        if arr.shape != (self.channels,):
            raise ValueError(f"expected {self.channels} loads, got shape {arr.shape}")
        with self._lock:
            self._load[:] = arr

    @property
    def loads_n(self) -> np.ndarray:
        """The loads now on each channel, N (a copy)."""
        with self._lock:
            return self._load.copy()

    def sample(self, t_s: np.ndarray) -> np.ndarray:
        t = np.asarray(t_s, dtype=np.float64)
        out = np.empty((t.size, self.channels))
        with self._lock:
            out[:] = self._load
            if self.noise_n:
                out += self._rng.normal(0.0, self.noise_n, size=out.shape)
        return out


#: Cell order of a force plate (as in ``simulation.landing``) and the corner each is at:
#: x = 0 left / 1 right, y = 1 front / 0 back.
_PLATE_CELL_XY: tuple[tuple[float, float], ...] = ((0.0, 1.0), (1.0, 1.0), (1.0, 0.0), (0.0, 0.0))
#: Where a mass "at a corner" stands, as a fraction of the cell spacing in from the corner.
PLATE_CORNER_INSET: float = 0.1


def plate_load_shares(position: str | None) -> np.ndarray:
    """Share of a mass carried by each of a plate's 4 cells (front-left, front-right,
    back-right, back-left) when it stands at ``position`` (``"centre"`` or ``"<corner> corner"``).

    Rigid plate on 4 corner supports: the shares are bilinear in the mass's position and
    sum to 1. A corner mass stands :data:`PLATE_CORNER_INSET` in from that corner.
    """
    inset = PLATE_CORNER_INSET
    spots = {
        None: (0.5, 0.5), "centre": (0.5, 0.5),
        "front-left corner": (inset, 1 - inset), "front-right corner": (1 - inset, 1 - inset),
        "back-right corner": (1 - inset, inset), "back-left corner": (inset, inset),
    }
    if position not in spots:
        raise ValueError(f"unknown plate position {position!r}")
    px, py = spots[position]
    return np.array([(1 - abs(px - cx)) * (1 - abs(py - cy)) for cx, cy in _PLATE_CELL_XY])


def simulator_channels(uri: DeviceURI) -> int:
    """How many channels the simulator of ``uri`` has (its ``channels`` option; SFP default 8, else 1)."""
    raw = uri.options.get("channels", "")
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise DeviceError(f"{uri.text}: channels must be an integer, got {raw!r}") from None
        if value < 1:
            raise DeviceError(f"{uri.text}: channels must be >= 1, got {value}")
        return value
    return 8 if uri.family == "sfp" else 1


def simulator_cells(simulator: Any) -> list[Any] | None:
    """The simulator's load-cell models (``LoadCellModel``, one per channel), or None.

    SFP simulators have ``cells``; the single-channel count families have ``cell``. Each
    model's ``truth()`` gives the parameters a calibration should recover.
    """
    if simulator is None:
        return None
    cells = getattr(simulator, "cells", None)
    if cells is not None:
        return list(cells)
    cell = getattr(simulator, "cell", None)
    return [cell] if cell is not None else None


# CalibrationDevice runs on the session's reader and pipeline: station/calibration_device.py
from station.calibration_device import CalibrationDevice  # noqa: E402, F401 - its home until callers move


# ======================================================================================
# Settle check and operator I/O
# ======================================================================================

#: Default settle limits as a fraction of the largest load, and their floors (N, N/s).
DEFAULT_NOISE_FRACTION: float = 0.0005
DEFAULT_NOISE_FLOOR_N: float = 0.02


def default_settle_limits_n(full_scale_n: float) -> tuple[float, float]:
    """Default (max noise SD in N, max drift in N/s): 0.05 % of the largest load, at least 0.02."""
    value = max(DEFAULT_NOISE_FLOOR_N, DEFAULT_NOISE_FRACTION * abs(float(full_scale_n)))
    return value, value


def stability_criteria(
    full_scale_n: float,
    gain_n_per_count: float,
    *,
    window_s: float = 1.0,
    max_noise_n: float | None = None,
    max_drift_n_per_s: float | None = None,
) -> StabilityCriteria:
    """Settle criteria in counts from limits in newtons (defaults: :func:`default_settle_limits_n`)
    and a nominal gain (N/count: datasheet, previous calibration, or estimated)."""
    noise_default, drift_default = default_settle_limits_n(full_scale_n)
    try:
        return StabilityCriteria.from_force(
            max_sd_n=noise_default if max_noise_n is None else max_noise_n,
            max_slope_n_per_s=drift_default if max_drift_n_per_s is None else max_drift_n_per_s,
            nominal_gain_n_per_count=gain_n_per_count,
            window_s=window_s,
        )
    except CalibrationError:
        raise


class CalibrationAborted(Exception):
    """The operator typed ``q`` at a prompt; nothing is saved."""


class Console:
    """Prompts for the calibration commands.

    Interactive: a prompt waits for Enter (``q`` aborts, other letters are returned).
    Not interactive (``--yes``): the prompt is printed and answered at once with "".
    """

    def __init__(self, *, interactive: bool, out: TextIO | None = None, inp: TextIO | None = None) -> None:
        self.interactive = interactive
        self.out = out or sys.stdout
        self.inp = inp or sys.stdin

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def ask(self, prompt: str, *, auto_note: str = "") -> str:
        """Show ``prompt``; interactive: wait for a line (lower-cased, stripped); ``q`` aborts."""
        if not self.interactive:
            self.say(f"{prompt}{auto_note}")
            return ""
        self.out.write(f"{prompt} ")
        self.out.flush()
        line = self.inp.readline()
        if line == "":
            raise PromptError("standard input closed while waiting for the operator; run in a terminal "
                            "(or use --yes with a simulated device)")
        answer = line.strip().lower()
        if answer in ("q", "quit"):
            raise CalibrationAborted()
        return answer
