"""docs/protocols/ and ``station simulate --help`` list every declared option of every family."""
from __future__ import annotations

from pathlib import Path

import pytest

from drivers.registry import FAMILIES, family_options
from simulation.registry import simulator_module
from station.commands.simulate import options_help

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocols"


@pytest.mark.parametrize("family", list(FAMILIES))
def test_protocol_document_lists_every_option(family: str) -> None:
    text = (DOCS / f"{family}.md").read_text(encoding="utf-8")
    options = text[text.index("## Options"):]
    driver_part, sim_part = options.split("Simulator options", 1)
    for option in family_options(family):
        assert f"| `{option.name}` | {option.expected()} |" in driver_part, option.name
    for option in simulator_module(family).OPTIONS:
        assert f"| `{option.name}` | {option.expected()} |" in sim_part, option.name


def test_simulate_help_lists_every_option() -> None:
    text = options_help()
    for family in FAMILIES:
        for option in (*family_options(family), *simulator_module(family).OPTIONS):
            assert option.describe() in text
