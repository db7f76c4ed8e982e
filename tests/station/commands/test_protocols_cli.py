"""``station protocols list|show|validate`` through ``station.cli.main``."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocols import ENV_VAR, builtin_protocols
from station.cli import main

IDS = sorted(builtin_protocols())


@pytest.fixture(autouse=True)
def _no_real_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "no-user-protocols"))


def clinic_dir(tmp_path: Path, name: str = "Clinic hip abduction") -> Path:
    d = tmp_path / "clinic"
    d.mkdir(exist_ok=True)
    p = builtin_protocols()["hip-abduction-hhd"]
    (d / "hip.toml").write_text(p.source_text.replace(f'name = "{p.name}"', f'name = "{name}"'),
                                encoding="utf-8")
    return d


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("station: error: "), err
    return lines[0]


def test_list(capsys):
    assert main(["protocols", "list"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "SIDES/ORDER", "REPS", "NAME", "SOURCE"]
    for pid in IDS:
        row = next(line for line in lines if line.startswith(pid + " "))
        assert "built-in" in row
    row = next(line for line in lines if line.startswith("hip-abduction-hhd "))
    assert "isometric" in row and "left+right alternating" in row
    row = next(line for line in lines if line.startswith("drop-landing-bilateral "))
    assert "both simultaneous" in row
    assert "User protocols folder:" in out and "no-user-protocols" in out


def test_list_shows_user_override(tmp_path: Path, capsys):
    d = clinic_dir(tmp_path)
    assert main(["protocols", "list", "--protocols-dir", str(d)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("hip-abduction-hhd "))
    assert "Clinic hip abduction" in row
    assert str((d / "hip.toml").resolve()) in row and "(overrides built-in)" in row


def test_list_with_env_var(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv(ENV_VAR, str(clinic_dir(tmp_path)))
    assert main(["protocols", "list"]) == 0
    assert "(overrides built-in)" in capsys.readouterr().out


def test_list_reports_bad_user_file(tmp_path: Path, capsys):
    d = clinic_dir(tmp_path)
    (d / "broken.toml").write_text("format_version = 1\n[timing]\ncontraction = 5\n", encoding="utf-8")
    assert main(["protocols", "list", "--protocols-dir", str(d)]) == 2
    captured = capsys.readouterr()
    assert "knee-extension-60" in captured.out  # the good ones are still listed
    line = one_line_error(captured.err)
    assert "broken.toml" in line


def test_show_text(capsys):
    assert main(["protocols", "show", "knee-extension-60"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("knee-extension-60")
    assert "plan (6 trials): L1 L2 L3 R1 R2 R3" in out
    assert "60 s between sides" in out
    assert "lateral knee joint line to pad centre" in out


def test_show_first_side(capsys):
    assert main(["protocols", "show", "hip-abduction-hhd", "--first-side", "right"]) == 0
    assert "plan (6 trials): R1 L1 R2 L2 R3 L3" in capsys.readouterr().out


def test_show_json(capsys):
    assert main(["protocols", "show", "drop-landing-bilateral", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "drop-landing-bilateral" and data["kind"] == "landing"
    assert data["plan"] == [{"side": "both", "rep": r} for r in (1, 2, 3)]
    assert data["channel_map"][1] == {"role": "plate_right", "channels": [0, 1, 2, 3], "side": "right"}
    assert data["builtin"] is True and data["overrides_builtin"] is False
    assert "source_text" not in data


def test_show_json_of_override(tmp_path: Path, capsys):
    d = clinic_dir(tmp_path)
    assert main(["protocols", "show", "hip-abduction-hhd", "--json", "--protocols-dir", str(d)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "Clinic hip abduction" and data["overrides_builtin"] is True


def test_show_toml_prints_the_file(capsys):
    assert main(["protocols", "show", "single-leg-landing", "--toml"]) == 0
    assert capsys.readouterr().out == builtin_protocols()["single-leg-landing"].source_text


def test_show_by_path(tmp_path: Path, capsys):
    path = clinic_dir(tmp_path) / "hip.toml"
    assert main(["protocols", "show", str(path)]) == 0
    assert "Clinic hip abduction" in capsys.readouterr().out


def test_show_unknown_id(capsys):
    assert main(["protocols", "show", "knee-extension-45"]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert 'unknown protocol "knee-extension-45"' in line


def test_validate_ok(tmp_path: Path, capsys):
    path = tmp_path / "mine.toml"
    src = builtin_protocols()["single-leg-landing"].source_text
    path.write_text(src.replace('id = "single-leg-landing"', 'id = "sl-landing-30"'), encoding="utf-8")
    assert main(["protocols", "validate", str(path)]) == 0
    assert capsys.readouterr().out == "OK: sl-landing-30 (Single-leg landing, 20 cm box)\n"


def test_validate_notes_override(tmp_path: Path, capsys):
    path = clinic_dir(tmp_path) / "hip.toml"
    assert main(["protocols", "validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "OK: hip-abduction-hhd (Clinic hip abduction)"
    assert 'replaces the built-in "hip-abduction-hhd"' in out


def test_validate_bad_file(tmp_path: Path, capsys):
    path = tmp_path / "hip_abd.toml"
    src = builtin_protocols()["hip-abduction-hhd"].source_text
    path.write_text(src.replace("duration_s = 5 ", 'duration_s = "five" '), encoding="utf-8")
    assert main(["protocols", "validate", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = one_line_error(captured.err)
    assert line.startswith(f"station: error: {path}:")
    assert '[timing].duration_s: expected a number > 0' in line and 'got "five"' in line


def test_validate_syntax_error(tmp_path: Path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text("format_version = 1\nid = hip\n", encoding="utf-8")
    assert main(["protocols", "validate", str(path)]) == 2
    line = one_line_error(capsys.readouterr().err)
    assert f"{path}:2:" in line and "TOML syntax error" in line


def test_validate_missing_file(tmp_path: Path, capsys):
    assert main(["protocols", "validate", str(tmp_path / "nope.toml")]) == 2
    assert "no such file" in one_line_error(capsys.readouterr().err)


def test_no_subcommand_prints_help(capsys):
    assert main(["protocols"]) == 2
    out = capsys.readouterr().out
    assert "list" in out and "show" in out and "validate" in out


@pytest.mark.parametrize("sub", ["list", "show", "validate"])
def test_subcommand_help(sub, capsys):
    with pytest.raises(SystemExit) as info:
        main(["protocols", sub, "--help"])
    assert info.value.code == 0
    assert "--protocols-dir" in capsys.readouterr().out
