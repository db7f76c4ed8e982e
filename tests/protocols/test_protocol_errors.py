"""Bad protocol files give one-line errors naming the file, the line and the field."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from protocols import ProtocolError, load_protocol, parse_protocol

ISOMETRIC = """\
format_version = 1
id = "test-proto"
name = "Test protocol"
version = 1
kind = "isometric"
sides = ["left", "right"]
order = "alternating"
reps = 3
metrics = ["peak_force", "lsi"]

[timing]
countdown_s = 3
duration_s = 5
rest_s = 30

[[devices]]
role = "dynamometer"
kind = "dynamometer"
channels = 1

[[channel_map]]
role = "dynamometer"
channels = [0]
"""

LANDING = """\
format_version = 1
id = "landing-test"
name = "Landing test"
version = 1
kind = "landing"
sides = ["both"]
order = "simultaneous"
reps = 3
metrics = ["peak_force", "asymmetry"]

[timing]
countdown_s = 3
duration_s = 5
rest_s = 30

[[devices]]
role = "plate_left"
kind = "force_plate"
channels = 4

[[devices]]
role = "plate_right"
kind = "force_plate"
channels = 4

[[channel_map]]
role = "plate_left"
channels = [0, 1, 2, 3]
side = "left"

[[channel_map]]
role = "plate_right"
channels = [0, 1, 2, 3]
side = "right"
"""


def sub(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)
    return edit


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


def line_of(text: str, marker: str, nth: int = 1) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), 1) if marker in line]
    return hits[nth - 1]


# (case id, template, edit, field or phrase the message must name, marker of the line it must
#  name (text on that line, or (text, nth occurrence); None: no line), other phrases it must have)
CASES = [
    ("syntax", ISOMETRIC, sub("reps = 3", "reps = = 3"), "TOML syntax error", "reps = = 3", []),
    ("syntax-unclosed", ISOMETRIC, sub('name = "Test protocol"', 'name = "Test protocol'),
     "TOML syntax error", 'name = "Test protocol', []),
    ("unknown-key", ISOMETRIC, sub("duration_s = 5", "contraction = 5"),
     "unknown key 'contraction' in [timing]", "contraction = 5",
     ["expected one of countdown_s, duration_s, rest_s, rest_between_sides_s"]),
    ("typo-key", ISOMETRIC, sub("duration_s = 5", "durration_s = 5"),
     "unknown key 'durration_s' in [timing]", "durration_s", ["did you mean 'duration_s'?"]),
    ("unknown-top-key", ISOMETRIC, sub("reps = 3", "reps = 3\nrepetitions = 3"),
     "unknown key 'repetitions' at top level", "repetitions", []),
    ("unknown-table", ISOMETRIC, sub("[timing]", "[timming]"),
     "unknown table [timming]", "[timming]", ["did you mean 'timing'?"]),
    ("unknown-device-key", ISOMETRIC, sub("channels = 1", "channels = 1\nrate = 100"),
     "unknown key 'rate' in [[devices]] #1", "rate = 100", []),
    ("top-key-after-table", ISOMETRIC, append('\nkind = "landing"\n'),
     "unknown key 'kind' in [[channel_map]] #1", 'kind = "landing"',
     ["must come before the first [table]"]),
    ("wrong-type", ISOMETRIC, sub("duration_s = 5", 'duration_s = "five"'),
     "[timing].duration_s", 'duration_s = "five"', ['expected a number > 0', 'got "five"']),
    ("wrong-type-bool", ISOMETRIC, append('\n[normalisation]\nbody_mass = "yes"\n'),
     "[normalisation].body_mass", "body_mass", ['expected true or false, got "yes"']),
    ("wrong-type-int", ISOMETRIC, sub("reps = 3", "reps = 3.5"),
     "reps", "reps = 3.5", ["expected an integer", "got 3.5"]),
    ("wrong-type-table", ISOMETRIC, sub("metrics", 'cues = "Push!"\nmetrics'),
     "cues", 'cues = "Push!"', ['expected a table [cues], got "Push!"']),
    ("out-of-range-ms", ISOMETRIC, sub("duration_s = 5", "duration_s = 5000"),
     "[timing].duration_s", "duration_s = 5000", ["<= 600 (seconds)", "got 5000"]),
    ("out-of-range-negative", ISOMETRIC, sub("rest_s = 30", "rest_s = -1"),
     "[timing].rest_s", "rest_s = -1", [">= 0"]),
    ("out-of-range-nan", ISOMETRIC, sub("countdown_s = 3", "countdown_s = nan"),
     "[timing].countdown_s", "countdown_s = nan", ["got nan"]),
    ("out-of-range-reps", ISOMETRIC, sub("reps = 3", "reps = 0"),
     "reps", "reps = 0", [">= 1"]),
    ("out-of-range-lever-cm", ISOMETRIC, append("\n[normalisation]\nlever_arm_m = 75\n"),
     "[normalisation].lever_arm_m", "lever_arm_m", ["(metres)", "got 75"]),
    ("bad-choice", ISOMETRIC, sub('order = "alternating"', 'order = "random"'),
     "order", 'order = "random"', ['"alternating", "blocked", "simultaneous"']),
    ("bad-side", ISOMETRIC, sub('sides = ["left", "right"]', 'sides = ["left", "middle"]'),
     "sides", "sides =", ['"middle"']),
    ("simultaneous-needs-both", ISOMETRIC, sub('order = "alternating"', 'order = "simultaneous"'),
     "order", 'order = "simultaneous"', ['needs sides = ["both"]']),
    ("both-needs-simultaneous", LANDING, sub('order = "simultaneous"', 'order = "alternating"'),
     "sides", "sides =", ['needs order = "simultaneous"']),
    ("both-alone", LANDING, sub('sides = ["both"]', 'sides = ["both", "left"]'),
     "sides", "sides =", ["must be the only side"]),
    ("unknown-role", ISOMETRIC, sub('role = "dynamometer"\nchannels = [0]', 'role = "dyno"\nchannels = [0]'),
     "[[channel_map]]#1.role", 'role = "dyno"', ['unknown role "dyno"', '"dynamometer"']),
    ("channel-out-of-range", LANDING, sub("channels = [0, 1, 2, 3]", "channels = [0, 1, 2, 4]"),
     "[[channel_map]]#1.channels", "channels = [0, 1, 2, 4]", ["from 0 to 3"]),
    ("channel-twice", LANDING, sub('channels = [0, 1, 2, 3]\nside = "right"',
                                   'channels = [0, 1, 2, 3]\nside = "right"\n\n[[channel_map]]\n'
                                   'role = "plate_right"\nchannels = [3]\nside = "left"'),
     "[[channel_map]]#3.channels", "channels = [3]", ["already mapped by [[channel_map]] #2"]),
    ("unused-role", ISOMETRIC, sub("[[channel_map]]", '[[devices]]\nrole = "spare"\nkind = "dynamometer"\n'
                                   "channels = 1\n\n[[channel_map]]"),
     "[[devices]]#2.role", 'role = "spare"', ["not used by any [[channel_map]]"]),
    ("duplicate-role", ISOMETRIC, sub("[[channel_map]]", '[[devices]]\nrole = "dynamometer"\n'
                                      'kind = "dynamometer"\nchannels = 1\n\n[[channel_map]]'),
     "[[devices]]#2.role", ('role = "dynamometer"', 2), ['duplicate role "dynamometer"']),
    ("simultaneous-map-needs-side", LANDING, sub('side = "right"\n', ""),
     "[[channel_map]]#2.side", None, ['order = "simultaneous"']),
    ("map-side-not-tested", ISOMETRIC,
     lambda t: t.replace('sides = ["left", "right"]', 'sides = ["left"]')
     .replace('metrics = ["peak_force", "lsi"]', 'metrics = ["peak_force"]')
     .replace("channels = [0]", 'channels = [0]\nside = "right"'),
     "[[channel_map]]#1.side", 'side = "right"', ["not one of the protocol sides"]),
    ("unknown-metric", ISOMETRIC, sub('"lsi"]', '"lsi", "power"]'),
     "metrics", "metrics =", ['metric "power" is unknown for an isometric protocol', '"rfd"']),
    ("metric-of-other-kind", ISOMETRIC, sub('"lsi"]', '"lsi", "loading_rate"]'),
     "metrics", "metrics =", ['"loading_rate" is a landing metric']),
    ("metric-typo", LANDING, sub('"asymmetry"]', '"asymmetry", "tst"]'),
     "metrics", "metrics =", ['did you mean "tts"?']),
    ("metric-twice", ISOMETRIC, sub('"lsi"]', '"lsi", "lsi"]'),
     "metrics", "metrics =", ['"lsi" is listed twice']),
    ("lsi-needs-two-sides", ISOMETRIC, sub('sides = ["left", "right"]', 'sides = ["left"]'),
     "metrics", "metrics =", ['"lsi" compares left and right']),
    ("asymmetry-needs-simultaneous", LANDING,
     lambda t: t.replace('sides = ["both"]', 'sides = ["left", "right"]')
     .replace('order = "simultaneous"', 'order = "alternating"'),
     "metrics", "metrics =", ['"asymmetry"', 'use "lsi"']),
    ("torque-needs-lever-arm", ISOMETRIC, sub('"lsi"]', '"lsi", "torque"]'),
     "lever arm", None, ['"torque"', "lever_arm_label"]),
    ("normalised-needs-body-mass", ISOMETRIC,
     lambda t: t.replace('"lsi"]', '"lsi", "normalised"]') + "\n[normalisation]\nbody_mass = false\n",
     "[normalisation].body_mass", "body_mass = false", ["needs body_mass = true"]),
    ("lever-arm-on-landing", LANDING, append('\n[normalisation]\nlever_arm_m = 0.4\n'),
     "[normalisation].lever_arm_m", "lever_arm_m", ["only applies to isometric"]),
    ("landing-needs-plate", LANDING, lambda t: t.replace('kind = "force_plate"', 'kind = "dynamometer"'),
     "[[devices]]", 'kind = "dynamometer"', ['needs a device role with kind = "force_plate"']),
    ("isometric-needs-dynamometer", ISOMETRIC, sub('kind = "dynamometer"', 'kind = "force_plate"'),
     "[[devices]]", 'kind = "force_plate"', ['needs a device role with kind = "dynamometer"']),
    ("bad-device-kind", ISOMETRIC, sub('kind = "dynamometer"', 'kind = "loadcell"'),
     "[[devices]]#1.kind", 'kind = "loadcell"', ['"dynamometer", "force_plate"']),
    ("rest-between-sides-needs-blocked", ISOMETRIC, sub("rest_s = 30", "rest_s = 30\nrest_between_sides_s = 60"),
     "[timing].rest_between_sides_s", "rest_between_sides_s", ['only used with order = "blocked"']),
    ("max-reps-below-reps", ISOMETRIC, lambda t: t.replace("reps = 3", "reps = 6"),
     "[acceptance].max_reps", None, ["must be >= reps (6)", "5 (the default)"]),
    ("min-reps-above-reps", ISOMETRIC, append("\n[acceptance]\nmin_reps = 4\nmax_reps = 5\n"),
     "[acceptance].min_reps", "min_reps = 4", ["must be <= reps (3)"]),
    ("drop-pct-range", ISOMETRIC, append("\n[acceptance]\nmax_drop_pct = 0\n"),
     "[acceptance].max_drop_pct", "max_drop_pct", ["> 0 and <= 100 (percent)"]),
    ("missing-format-version", ISOMETRIC, sub("format_version = 1\n", ""),
     "format_version", None, ["missing", "format_version = 1"]),
    ("unsupported-format-version", ISOMETRIC, sub("format_version = 1", "format_version = 2"),
     "format_version", "format_version = 2", ["unsupported format_version 2"]),
    ("format-version-string", ISOMETRIC, sub("format_version = 1", 'format_version = "1"'),
     "format_version", "format_version", ['expected the integer 1, got "1"']),
    ("missing-key", ISOMETRIC, sub("rest_s = 30\n", ""),
     "[timing].rest_s", "[timing]", ["missing"]),
    ("missing-table", ISOMETRIC, lambda t: t.replace("[timing]\ncountdown_s = 3\nduration_s = 5\nrest_s = 30\n", ""),
     "[timing]", None, ["missing table"]),
    ("missing-devices", ISOMETRIC, lambda t: t.split("[[devices]]")[0],
     "[[devices]]", None, ["missing"]),
    ("bad-id", ISOMETRIC, sub('id = "test-proto"', 'id = "Test Proto"'),
     "id", 'id = "Test Proto"', ['got "Test Proto"']),
    ("multi-line-name", ISOMETRIC, sub('name = "Test protocol"', 'name = """Test\nprotocol"""'),
     "name", 'name = """Test', ["one-line"]),
]


@pytest.mark.parametrize(("case", "template", "edit", "field", "marker", "phrases"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_file(tmp_path: Path, case, template, edit, field, marker, phrases):
    text = edit(template)
    assert text != template
    path = tmp_path / f"{case}.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(path)), msg  # names the file first
    assert field in msg, msg
    for phrase in phrases:
        assert phrase in msg, msg
    if marker is not None:
        line = line_of(text, *marker) if isinstance(marker, tuple) else line_of(text, marker)
        assert info.value.line == line, msg
        assert msg.startswith(f"{path}:{line}:"), msg


def test_templates_are_valid():
    assert parse_protocol(ISOMETRIC).id == "test-proto"
    assert parse_protocol(LANDING).id == "landing-test"


def test_error_attributes_and_the_lead_example(tmp_path: Path):
    path = tmp_path / "hip_abd.toml"
    path.write_text(ISOMETRIC.replace("duration_s = 5", 'duration_s = "five"'), encoding="utf-8")
    with pytest.raises(ValueError) as info:  # ProtocolError is a ValueError
        load_protocol(path)
    err = info.value
    assert isinstance(err, ProtocolError)
    assert (err.source, err.line, err.field) == (str(path), 13, "[timing].duration_s")
    assert str(err) == (f'{path}:13: [timing].duration_s: expected a number > 0 and <= 600 '
                        '(seconds), got "five"')


def test_syntax_error_has_line_and_column():
    with pytest.raises(ProtocolError) as info:
        parse_protocol(ISOMETRIC.replace("reps = 3", "reps = = 3"), source="bad.toml")
    assert (info.value.line, info.value.column) == (8, 8)
    assert str(info.value).startswith("bad.toml:8:8: TOML syntax error: ")


def test_syntax_error_at_end_of_file():
    with pytest.raises(ProtocolError) as info:
        parse_protocol(ISOMETRIC + "x = [1,", source="eof.toml")
    assert "TOML syntax error" in str(info.value) and info.value.line is not None


def test_line_found_in_second_array_entry_and_after_multiline_string():
    text = LANDING.replace('name = "Landing test"',
                           'name = "Landing test"\ndescription = """\n[[devices]]\nrole = "x"\n"""')
    text = text.replace('role = "plate_right"\nkind = "force_plate"\nchannels = 4',
                        'role = "plate_right"\nkind = "force_plate"\nchannels = 4\nmin_rate_hz = -5')
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text, source="l.toml")
    assert info.value.field == "[[devices]]#2.min_rate_hz"
    assert info.value.line == line_of(text, "min_rate_hz = -5")


def test_missing_file(tmp_path: Path):
    with pytest.raises(ProtocolError, match="no such file"):
        load_protocol(tmp_path / "nope.toml")


def test_directory_instead_of_file(tmp_path: Path):
    with pytest.raises(ProtocolError):
        load_protocol(tmp_path)


def test_not_utf8(tmp_path: Path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(ISOMETRIC.replace("Test protocol", "Hüfte").encode("latin-1"))
    with pytest.raises(ProtocolError, match="not UTF-8") as info:
        load_protocol(path)
    assert info.value.line == 3


def test_byte_order_mark_and_crlf_are_fine(tmp_path: Path):
    path = tmp_path / "win.toml"
    path.write_bytes(b"\xef\xbb\xbf" + ISOMETRIC.replace("\n", "\r\n").encode())
    p = load_protocol(path)
    assert p.id == "test-proto"
    assert p.source_text == ISOMETRIC.replace("\n", "\r\n")  # verbatim apart from the BOM
    bad = ISOMETRIC.replace("duration_s = 5", "duration_s = 0").replace("\n", "\r\n")
    path.write_bytes(bad.encode())
    with pytest.raises(ProtocolError) as info:
        load_protocol(path)
    assert info.value.line == 13


def test_parse_protocol_source_defaults():
    p = parse_protocol(ISOMETRIC)
    assert p.source_path == "<string>" and p.source_text == ISOMETRIC and not p.builtin
    with pytest.raises(ProtocolError, match=r"^<string>:13: "):
        parse_protocol(ISOMETRIC.replace("duration_s = 5", "duration_s = 0"))


def test_optional_tables_get_defaults():
    p = parse_protocol(ISOMETRIC)
    assert p.acceptance.max_drop_pct == 10.0 and p.acceptance.max_reps == 5
    assert p.normalisation.body_mass is True and p.normalisation.lever_arm_m is None
    assert p.cues.start == "Push!" and p.description == ""
    assert p.devices[0].min_rate_hz == 0.0
    assert isinstance(p.timing.duration_s, float)


def test_inline_and_dotted_tables_are_accepted():
    text = ISOMETRIC.replace("[timing]\ncountdown_s = 3\nduration_s = 5\nrest_s = 30\n",
                             "timing = { countdown_s = 3, duration_s = 5, rest_s = 30 }\n")
    text = text.replace('metrics = ["peak_force", "lsi"]',
                        'metrics = ["peak_force", "lsi"]\ncues.start = "Go!"')
    p = parse_protocol(text)
    assert p.timing.rest_s == 30 and p.cues.start == "Go!"
