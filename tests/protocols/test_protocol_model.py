"""The data model: defaults, immutability, trial plans."""
from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import (
    Acceptance,
    ChannelMap,
    Cues,
    DeviceRole,
    Normalisation,
    Protocol,
    Timing,
    builtin_protocols,
)


def make(order: str, sides: tuple[str, ...], reps: int = 3) -> Protocol:
    return Protocol(
        id="p", name="P", version=1, kind="isometric", description="",
        devices=(DeviceRole("dynamometer", "dynamometer", 1),),
        channel_map=(ChannelMap("dynamometer", (0,)),),
        sides=sides, order=order, reps=reps,  # type: ignore[arg-type]
        timing=Timing(3, 5, 30), acceptance=Acceptance(), metrics=("peak_force",),
        normalisation=Normalisation(), cues=Cues(), source_path=None, source_text="",
    )


def test_defaults_match_the_spec():
    assert Acceptance() == Acceptance(max_drop_pct=10.0, max_reps=5, min_reps=3)
    assert Normalisation() == Normalisation(body_mass=True, lever_arm_m=None, lever_arm_label=None)
    assert Cues() == Cues(setup="", start="Push!", during="", stop="Relax.")
    assert Timing(3, 5, 30).rest_between_sides_s is None
    assert ChannelMap("plate_left", (0, 1, 2, 3)).side is None
    assert DeviceRole("dynamometer", "dynamometer", 1).min_rate_hz == 0.0


def test_frozen():
    p = make("alternating", ("left", "right"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.reps = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.timing.rest_s = 1  # type: ignore[misc]
    hash(p)  # tuples throughout: usable as a dict key


def test_plan_alternating():
    p = make("alternating", ("left", "right"))
    assert p.trial_plan() == [("left", 1), ("right", 1), ("left", 2), ("right", 2),
                              ("left", 3), ("right", 3)]
    assert p.trial_plan("right") == [("right", 1), ("left", 1), ("right", 2), ("left", 2),
                                     ("right", 3), ("left", 3)]


def test_plan_blocked():
    p = make("blocked", ("left", "right"))
    assert p.trial_plan() == [("left", 1), ("left", 2), ("left", 3),
                              ("right", 1), ("right", 2), ("right", 3)]
    assert p.trial_plan("right")[:3] == [("right", 1), ("right", 2), ("right", 3)]


def test_plan_simultaneous():
    p = make("simultaneous", ("both",), reps=3)
    assert p.trial_plan() == [("both", 1), ("both", 2), ("both", 3)]
    assert p.trial_plan("right") == p.trial_plan("left") == p.trial_plan("both")


def test_plan_single_side_ignores_other_first_side():
    p = make("alternating", ("right",), reps=2)
    assert p.trial_plan("left") == [("right", 1), ("right", 2)]


def test_plan_rejects_unknown_side():
    with pytest.raises(ValueError, match="first_side"):
        make("alternating", ("left", "right")).trial_plan("middle")  # type: ignore[arg-type]


def test_builtin_plans():
    b = builtin_protocols()
    assert b["hip-abduction-hhd"].trial_plan()[:4] == [("left", 1), ("right", 1), ("left", 2), ("right", 2)]
    assert [s for s, _ in b["knee-extension-60"].trial_plan()] == ["left"] * 3 + ["right"] * 3
    assert b["drop-landing-bilateral"].trial_plan() == [("both", 1), ("both", 2), ("both", 3)]
    assert b["hip-abduction-frame"].trial_plan() == [("both", 1), ("both", 2), ("both", 3)]
    assert len(b["single-leg-landing"].trial_plan()) == 6


@given(
    order=st.sampled_from(["alternating", "blocked"]),
    sides=st.sampled_from([("left", "right"), ("right", "left"), ("left",), ("right",)]),
    reps=st.integers(1, 12),
    first=st.sampled_from(["left", "right", "both"]),
)
def test_plan_properties(order, sides, reps, first):
    plan = make(order, sides, reps).trial_plan(first)
    assert len(plan) == reps * len(sides)
    for side in sides:  # every side gets reps 1..reps, in order
        assert [r for s, r in plan if s == side] == list(range(1, reps + 1))
    if first in sides:
        assert plan[0][0] == first
    if order == "blocked":  # one switch of side at most
        switches = sum(1 for a, b in zip(plan, plan[1:], strict=False) if a[0] != b[0])
        assert switches == len(sides) - 1


def test_device_lookup_and_as_dict():
    p = builtin_protocols()["drop-landing-bilateral"]
    assert p.device("plate_right").channels == 4
    with pytest.raises(KeyError):
        p.device("nope")
    data = p.as_dict()
    json.dumps(data)  # JSON-able
    assert data["channel_map"][0] == {"role": "plate_left", "channels": [0, 1, 2, 3], "side": "left"}
    assert data["source_text"] == p.source_text
    assert "source_text" not in p.as_dict(include_source_text=False)
