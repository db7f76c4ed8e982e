"""Every built-in protocol loads, validates and says what the clinic expects."""
from __future__ import annotations

import re
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from protocols import METRICS, builtin_protocols, parse_protocol
from protocols import loader

EXPECTED_IDS = {
    "hip-abduction-hhd",
    "hip-abduction-frame",
    "knee-extension-60",
    "knee-extension-90",
    "drop-landing-bilateral",
    "single-leg-landing",
}
REPO = Path(__file__).resolve().parents[2]


def test_all_builtins_present():
    assert set(builtin_protocols()) == EXPECTED_IDS


def test_builtin_files_are_named_after_their_id():
    names = sorted(e.name for e in (resources.files("protocols") / "builtin").iterdir()
                   if e.name.endswith(".toml"))
    assert names == sorted(f"{i}.toml" for i in EXPECTED_IDS)


@pytest.mark.parametrize("pid", sorted(EXPECTED_IDS))
def test_builtin_is_valid_and_self_consistent(pid):
    p = builtin_protocols()[pid]
    assert p.id == pid
    assert p.builtin is True
    assert p.source_path == f"builtin:{pid}.toml"
    assert p.source_text.startswith("#")  # verbatim, comments included
    # the stored text re-parses to the same protocol (it is what session files keep)
    again = parse_protocol(p.source_text, source="x")
    assert again == p.__class__(**{**p.__dict__, "source_path": "x", "builtin": False})
    assert set(p.metrics) <= set(METRICS[p.kind])
    assert p.acceptance.min_reps <= p.reps <= p.acceptance.max_reps
    assert p.name and p.description and p.cues.setup and p.cues.start and p.cues.stop
    assert p.version >= 1
    assert p.reps == 3
    assert p.timing.countdown_s == 3
    assert p.timing.rest_s == 30
    kinds = {d.kind for d in p.devices}
    assert ("dynamometer" if p.kind == "isometric" else "force_plate") in kinds
    for d in p.devices:
        if d.kind == "force_plate":
            assert d.min_rate_hz >= 1000


def test_hip_abduction_hhd():
    p = builtin_protocols()["hip-abduction-hhd"]
    assert p.kind == "isometric"
    assert p.sides == ("left", "right") and p.order == "alternating" and p.reps == 3
    assert (p.timing.countdown_s, p.timing.duration_s, p.timing.rest_s) == (3, 5, 30)
    assert (p.acceptance.max_drop_pct, p.acceptance.max_reps) == (10, 5)
    assert p.normalisation.lever_arm_m is None
    assert "greater trochanter" in p.normalisation.lever_arm_label
    assert [d.role for d in p.devices] == ["dynamometer"] and p.devices[0].channels == 1
    assert p.channel_map[0].side is None
    assert {"peak_force", "torque", "lsi"} <= set(p.metrics)
    assert "Thorborg" in p.source_text
    assert "5 cm proximal to the lateral malleolus" in p.cues.setup


def test_hip_abduction_frame():
    p = builtin_protocols()["hip-abduction-frame"]
    assert p.sides == ("both",) and p.order == "simultaneous"
    assert [(m.channels, m.side) for m in p.channel_map] == [((0,), "left"), ((1,), "right")]
    assert p.devices[0].kind == "dynamometer" and p.devices[0].channels == 2
    assert "lsi" in p.metrics


@pytest.mark.parametrize("angle", [60, 90])
def test_knee_extension(angle):
    p = builtin_protocols()[f"knee-extension-{angle}"]
    assert p.kind == "isometric" and p.sides == ("left", "right")
    assert p.order == "blocked" and p.timing.rest_between_sides_s is not None
    assert "knee joint line" in p.normalisation.lever_arm_label
    assert f"{angle}°" in p.cues.setup
    assert "BLOCKED" in p.source_text  # the choice of order is explained in the file


def test_drop_landing_bilateral():
    p = builtin_protocols()["drop-landing-bilateral"]
    assert p.kind == "landing" and p.sides == ("both",) and p.order == "simultaneous"
    assert [(d.role, d.kind, d.channels) for d in p.devices] == [
        ("plate_left", "force_plate", 4), ("plate_right", "force_plate", 4)]
    assert [(m.role, m.channels, m.side) for m in p.channel_map] == [
        ("plate_left", (0, 1, 2, 3), "left"), ("plate_right", (0, 1, 2, 3), "right")]
    assert p.metrics == ("peak_force", "time_to_peak", "loading_rate", "impulse_100ms", "tts",
                         "asymmetry")
    assert p.timing.duration_s == 5 and "30 cm" in p.cues.setup


def test_single_leg_landing():
    p = builtin_protocols()["single-leg-landing"]
    assert p.kind == "landing" and p.sides == ("left", "right") and p.order == "alternating"
    assert [(d.role, d.channels) for d in p.devices] == [("plate", 4)]
    assert p.channel_map[0].side is None and "lsi" in p.metrics


def test_builtin_protocols_returns_a_fresh_dict():
    a = builtin_protocols()
    a.clear()
    assert set(builtin_protocols()) == EXPECTED_IDS


def test_docs_cover_every_key_and_metric():
    doc = (REPO / "docs" / "protocols.md").read_text(encoding="utf-8")
    keys = (loader.TOP_KEYS + loader.TIMING_KEYS + loader.ACCEPTANCE_KEYS
            + loader.NORMALISATION_KEYS + loader.CUES_KEYS + loader.DEVICE_KEYS
            + loader.CHANNEL_MAP_KEYS)
    for key in keys:
        k = re.escape(key)
        assert re.search(rf"`{k}`|`\[{k}\]`|`\[\[{k}\]\]`", doc), \
            f"docs/protocols.md does not describe {key}"
    for _kind, metrics in METRICS.items():
        for m in metrics:
            assert f"`{m}`" in doc, f"docs/protocols.md does not describe metric {m}"
    assert "FORCE_STATION_PROTOCOLS_DIR" in doc


def test_package_imports_no_station_or_drivers():
    code = ("import sys, protocols; protocols.builtin_protocols(); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('station', 'drivers', 'platformdirs', 'numpy')); print(bad); sys.exit(1 if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_docs_full_example_is_the_builtin():
    doc = (REPO / "docs" / "protocols.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
    full = [b for b in blocks if b.startswith("#") and "format_version" in b]
    assert len(full) == 1
    p = parse_protocol(full[0], source="docs")
    b = builtin_protocols()["hip-abduction-hhd"]
    assert p == b.__class__(**{**b.__dict__, "source_path": "docs", "source_text": full[0],
                               "builtin": False})


def test_docs_eight_channel_plates_example_validates():
    doc = (REPO / "docs" / "protocols.md").read_text(encoding="utf-8")
    snippet = next(b for b in re.findall(r"```toml\n(.*?)```", doc, flags=re.S)
                   if 'role = "plates"' in b)
    src = builtin_protocols()["drop-landing-bilateral"].source_text
    head = src.split("[[devices]]")[0]
    p = parse_protocol(head + snippet, source="eight.toml")
    assert [(m.role, m.channels, m.side) for m in p.channel_map] == [
        ("plates", (0, 1, 2, 3), "left"), ("plates", (4, 5, 6, 7), "right")]
