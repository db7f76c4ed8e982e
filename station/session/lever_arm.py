"""Lever arms for torque, one per protocol: parsing ``--lever-arm``, plausibility, the note
shown when none is given.

A lever arm belongs to the joint a protocol tests (hip abduction: greater trochanter to pad,
about 0.7-0.9 m in adults; knee extension: knee joint line to pad, about 0.3-0.4 m). One
value for the whole session would give the knee the hip's lever arm (torque about 2x too
high), so values are given per protocol: ``--lever-arm PROTOCOL=M``. A bare ``--lever-arm M``
is accepted only when exactly one protocol of the session computes torque.
Pure functions, no I/O. Lengths in metres.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from protocols.model import Protocol
from station.errors import SessionError

#: Plausible range when a protocol names none (any joint, any adult), m.
DEFAULT_RANGE_M: tuple[float, float] = (0.05, 1.5)


def uses_torque(protocol: Protocol) -> bool:
    """True when the protocol reports torque (so needs a lever arm)."""
    from protocols.kinds import PROTOCOL_KINDS

    return PROTOCOL_KINDS[protocol.kind].lever_arm and "torque" in protocol.metrics


def plausible_range_m(protocol: Protocol) -> tuple[float, float]:
    """(lowest, highest) lever arm in m accepted for this protocol's joint."""
    n = protocol.normalisation
    lo = n.lever_arm_min_m if n.lever_arm_min_m is not None else DEFAULT_RANGE_M[0]
    hi = n.lever_arm_max_m if n.lever_arm_max_m is not None else DEFAULT_RANGE_M[1]
    return lo, hi


def what_to_measure(protocol: Protocol) -> str:
    """What the lever arm of this protocol measures, e.g. "lateral knee joint line to pad centre"."""
    return protocol.normalisation.lever_arm_label or "joint centre to pad centre"


def check_value(protocol: Protocol, value_m: float, *, option: str = "--lever-arm") -> float:
    """``value_m`` if plausible for the protocol's joint, else a one-line :class:`SessionError`."""
    lo, hi = plausible_range_m(protocol)
    if not (math.isfinite(value_m) and lo <= value_m <= hi):
        raise SessionError(f"{option} {protocol.id}={value_m:g}: implausible for {protocol.name} "
                        f"({what_to_measure(protocol)}): expected {lo:g} to {hi:g} m")
    return float(value_m)


def parse_value(text: str, option: str) -> float:
    """A number of metres > 0 and <= 1.5 (any joint), else a one-line :class:`SessionError`."""
    top = DEFAULT_RANGE_M[1]
    try:
        value = float(text)
    except ValueError:
        raise SessionError(f"{option} {text!r}: expected a number of m > 0 and <= {top:g}, e.g. 0.35") from None
    if not math.isfinite(value) or value <= 0 or value > top:
        raise SessionError(f"{option} {text}: expected a number of m > 0 and <= {top:g}")
    return value


def parse_lever_arms(texts: list[str], protocols: list[Protocol]) -> dict[str, float]:
    """``--lever-arm`` values → protocol id → lever arm (m), each checked for its joint.

    ``PROTOCOL=M`` names the protocol; a bare ``M`` is taken only when exactly one protocol
    of the session uses torque. Raises :class:`SessionError` (one line) otherwise.
    """
    by_id = {p.id: p for p in protocols}
    torque = [p for p in protocols if uses_torque(p)]
    out: dict[str, float] = {}
    for text in texts:
        head, sep, tail = text.partition("=")
        if sep:
            pid = head.strip()
            if pid not in by_id:
                raise SessionError(f"--lever-arm {text}: no protocol {pid!r} in this session "
                                f"(protocols: {', '.join(by_id)})")
            if not uses_torque(by_id[pid]):
                raise SessionError(f"--lever-arm {text}: protocol {pid!r} computes no torque")
            protocol, value = by_id[pid], parse_value(tail.strip(), "--lever-arm")
        else:
            value = parse_value(text.strip(), "--lever-arm")
            if len(torque) != 1:
                names = ", ".join(p.id for p in torque) or "none"
                raise SessionError(f"--lever-arm {text}: say which protocol it is for, e.g. "
                                f"--lever-arm {torque[0].id if torque else 'PROTOCOL'}={text} "
                                f"(protocols with torque: {names})")
            protocol = torque[0]
        if protocol.id in out:
            raise SessionError(f"--lever-arm: protocol {protocol.id!r} given twice")
        out[protocol.id] = check_value(protocol, value)
    return out


@dataclass(frozen=True)
class LeverArmChoice:
    """The lever arm a test uses: value (m, None = no torque), where it came from, and the
    note shown and stored when there is none."""

    value_m: float | None
    source: str  # "option" | "patient" | "protocol" | "asked" | "missing"
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"lever_arm_m": self.value_m, "source": self.source, "note": self.note}


def missing_note(protocol: Protocol) -> str:
    return (f"no lever arm for {protocol.id} ({what_to_measure(protocol)}): torque not computed; "
            f"give --lever-arm {protocol.id}=M")


def resolve(protocol: Protocol, given: dict[str, float], patient_value_m: float | None = None,
            session_protocols: list[Protocol] | None = None) -> LeverArmChoice | None:
    """The lever arm of ``protocol`` without asking anyone (None: ask, or note it missing).

    Order: ``given[protocol.id]``; the patient's single lever arm when this is the session's
    only torque protocol (older callers); the protocol's fixed ``lever_arm_m``.
    """
    if not uses_torque(protocol):
        return LeverArmChoice(None, "not-used")
    if protocol.id in given:
        return LeverArmChoice(given[protocol.id], "option")
    torque = [p for p in (session_protocols or [protocol]) if uses_torque(p)]
    if patient_value_m is not None and len(torque) == 1:
        return LeverArmChoice(check_value(protocol, patient_value_m), "patient")
    if protocol.normalisation.lever_arm_m is not None:
        return LeverArmChoice(protocol.normalisation.lever_arm_m, "protocol")
    return None
