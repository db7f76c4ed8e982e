"""The protocol data model: frozen dataclasses, SI units (seconds, metres, newtons, hertz).

A :class:`Protocol` is what a TOML protocol file becomes after :mod:`protocols.loader` has
validated it. Nothing here reads files; nothing here imports ``station`` or ``drivers``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from protocols.kinds import PROTOCOL_KINDS

Side = Literal["left", "right", "both"]
Kind = Literal["isometric", "landing"]
Order = Literal["alternating", "blocked", "simultaneous"]
DeviceKind = Literal["dynamometer", "force_plate"]

#: Allowed values, in the order the docs and error messages list them.
SIDES: tuple[str, ...] = ("left", "right", "both")
KINDS: tuple[str, ...] = tuple(PROTOCOL_KINDS)
ORDERS: tuple[str, ...] = ("alternating", "blocked", "simultaneous")
DEVICE_KINDS: tuple[str, ...] = ("dynamometer", "force_plate")

#: Metric names a protocol may ask for, per protocol kind (declared in :mod:`protocols.kinds`).
METRICS: dict[str, tuple[str, ...]] = {name: k.metrics for name, k in PROTOCOL_KINDS.items()}


@dataclass(frozen=True)
class ChannelMap:
    """Which device channels carry what."""

    role: str                 # device role name, e.g. "dynamometer", "plate_left", "plate_right"
    channels: tuple[int, ...]  # 0-based channel indices on that device; a plate sums its 4 cells
    side: Side | None = None  # the limb this role measures, if fixed (fixed frame, dual plates)


@dataclass(frozen=True)
class DeviceRole:
    """A device the protocol needs, by the role it plays."""

    role: str                 # e.g. "dynamometer"
    kind: DeviceKind
    channels: int             # channels the role needs (1 for a hand-held gauge, 4 per plate)
    min_rate_hz: float = 0.0  # lowest sample rate that gives valid metrics; 0 = any


@dataclass(frozen=True)
class Timing:
    countdown_s: float        # e.g. 3
    duration_s: float         # contraction or trial recording duration, e.g. 5
    rest_s: float             # between reps, e.g. 30 (60 between sides if rest_between_sides_s)
    rest_between_sides_s: float | None = None  # blocked order only: rest at the side switch


@dataclass(frozen=True)
class Acceptance:
    max_drop_pct: float = 10.0  # repeat a rep whose peak is more than this % below the best
    max_reps: int = 5           # per side, including repeats
    min_reps: int = 3           # valid reps per side needed for a side's best and the LSI
    lsi_pass_pct: float = 90.0  # LSI pass mark (%) of this test, stored with every result


@dataclass(frozen=True)
class Normalisation:
    body_mass: bool = True
    lever_arm_m: float | None = None    # fixed default lever arm; None = measured per patient
    lever_arm_label: str | None = None  # e.g. "greater trochanter to pad centre"
    lever_arm_min_m: float | None = None  # plausible range of a measured lever arm for this joint;
    lever_arm_max_m: float | None = None  # a value outside it is refused (a cm-for-m or wrong-joint slip)


@dataclass(frozen=True)
class Cues:
    setup: str = ""           # e.g. "Supine, hip neutral, pad 5 cm proximal to lateral malleolus"
    start: str = "Push!"      # shown/spoken at go
    during: str = ""          # e.g. "Push, push, push!"
    stop: str = "Relax."


@dataclass(frozen=True)
class Protocol:
    id: str                   # e.g. "hip-abduction-hhd"
    name: str
    version: int              # protocol file's own version
    kind: Kind
    description: str
    devices: tuple[DeviceRole, ...]
    channel_map: tuple[ChannelMap, ...]
    sides: tuple[Side, ...]   # e.g. ("left","right"); ("both",) for fixed frame / dual plates
    order: Order
    reps: int                 # planned reps per side
    timing: Timing
    acceptance: Acceptance
    metrics: tuple[str, ...]  # e.g. ("peak_force","rfd","impulse","torque","lsi")
    normalisation: Normalisation
    cues: Cues
    source_path: str | None   # file path it was loaded from; "builtin:<file>.toml" for built-ins
    source_text: str          # the full TOML text, stored verbatim in every session file
    builtin: bool = False     # shipped with Force Station (protocols/builtin/)
    references: tuple[str, ...] = ()  # ids in station/history/reference_values.toml (MDC, norms)
    #: the ``[analysis]`` table: only the keys the file sets (onset_k, rfd_windows_s, filter_hz, …;
    #: see :mod:`protocols.kinds`), SI units; every other parameter keeps the station's default
    analysis: dict[str, Any] = dataclasses.field(default_factory=dict, hash=False)

    def trial_plan(self, first_side: Side = "left") -> list[tuple[Side, int]]:
        """Planned (side, rep number starting at 1) in order: alternating L,R,L,R…,
        blocked L,L,L,R,R,R, simultaneous ("both",1..reps).

        ``first_side`` rotates the sides so that side comes first; a side the protocol does
        not test (e.g. "right" for a left-only protocol, or any side for a simultaneous one)
        leaves the file's order unchanged. Repeats added by the acceptance rule are not planned.
        """
        if first_side not in SIDES:
            raise ValueError(f"first_side must be one of {', '.join(SIDES)}, got {first_side!r}")
        sides = list(self.sides)
        if first_side in sides:
            i = sides.index(first_side)
            sides = sides[i:] + sides[:i]
        reps = range(1, self.reps + 1)
        if self.order == "blocked":
            return [(side, rep) for side in sides for rep in reps]
        # alternating, and simultaneous (whose only side is "both")
        return [(side, rep) for rep in reps for side in sides]

    def device(self, role: str) -> DeviceRole:
        """The device role called ``role`` (KeyError if the protocol has none)."""
        for dev in self.devices:
            if dev.role == role:
                return dev
        raise KeyError(role)

    def as_dict(self, *, include_source_text: bool = True) -> dict[str, Any]:
        """Plain JSON-able dict of every field (tuples become lists)."""
        data = _plain(dataclasses.asdict(self))
        if not include_source_text:
            data.pop("source_text", None)
        return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
