"""``--sim-strength``, ``--sim-weaker``, ``--sim-seed`` and ``--sim-speed`` of ``station session run`` are parsed
and checked."""
from __future__ import annotations

import argparse

import pytest

from station.commands.session import simulation_from_args
from station.errors import UserError


def _args(strength: str | None = None, weaker: str | None = None, seed: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(sim_strength=strength, sim_weaker=weaker, sim_seed=seed)


def test_all_three_options_reach_the_simulated_patient() -> None:
    assert simulation_from_args(_args("1.2", "0.7", "42")) == {"strength": 1.2, "involved_ratio": 0.7, "seed": 42}


def test_no_option_gives_no_override() -> None:
    assert simulation_from_args(_args()) == {}


@pytest.mark.parametrize(("args", "option"), [
    (_args(seed="-3"), "--sim-seed"), (_args(seed="abc"), "--sim-seed"), (_args(seed="1e3"), "--sim-seed"),
    (_args(strength="9"), "--sim-strength"), (_args(weaker="0.01"), "--sim-weaker")])
def test_bad_values_get_one_line_naming_the_option(args: argparse.Namespace, option: str) -> None:
    with pytest.raises(UserError) as err:
        simulation_from_args(args)
    assert option in str(err.value) and "\n" not in str(err.value)


def _speed(speed: str, *devices: str) -> argparse.Namespace:
    return argparse.Namespace(sim_strength=None, sim_weaker=None, sim_seed=None, sim_speed=speed, device=list(devices))


def test_sim_speed_reaches_the_simulation() -> None:
    assert simulation_from_args(_speed("4", "sim:mark10", "left,right=sim:sfp?channels=4")) == {"speed": 4.0}


@pytest.mark.parametrize(("args", "named"), [
    (_speed("0.5", "sim:mark10"), "expected a factor from 1 to 20"),
    (_speed("21", "sim:mark10"), "expected a factor from 1 to 20"),
    (_speed("fast", "sim:mark10"), "--sim-speed"),
    (_speed("4", "sim:mark10", "plate=sfp:/dev/ttyUSB0"), "not plate=sfp:/dev/ttyUSB0")])
def test_sim_speed_is_a_factor_for_simulators_only(args: argparse.Namespace, named: str) -> None:
    with pytest.raises(UserError) as err:
        simulation_from_args(args)
    assert named in str(err.value) and str(err.value).startswith("--sim-speed") and "\n" not in str(err.value)
