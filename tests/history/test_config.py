"""The clinic config file: defaults, fields, one-line errors, the salt created once and kept."""
from __future__ import annotations

from pathlib import Path

import pytest

from station.config import config_path, ensure_salt, load_config
from station.errors import UserError


def test_missing_file_means_defaults(_isolated_config: Path):
    assert config_path() == _isolated_config
    cfg = load_config()
    assert cfg.clinic_name == "" and cfg.logo is None and cfg.salt is None


def test_fields_and_relative_logo(_isolated_config: Path):
    _isolated_config.write_text('[clinic]\nname = "Physio Nord"\nlogo = "logo.png"\n[store]\nurl = "postgresql://x"\n')
    cfg = load_config()
    assert cfg.clinic_name == "Physio Nord"
    assert cfg.logo == _isolated_config.parent / "logo.png"
    assert cfg.raw["store"]["url"] == "postgresql://x"  # other parts' tables are kept


@pytest.mark.parametrize("text, message", [
    ("[clinic\nname = 1", "not valid TOML"),
    ("[clinic]\nname = 3\n", "clinic.name: expected text"),
    ("clinic = 3\n", "[clinic] must be a table"),
    ('[deidentify]\nsalt = "short"\n', "deidentify.salt: too short"),
])
def test_bad_config_is_a_one_line_error(_isolated_config: Path, text: str, message: str):
    _isolated_config.write_text(text)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        load_config()
    assert "\n" not in str(e.value) and str(_isolated_config) in str(e.value)


def test_salt_created_once_keeping_the_file(_isolated_config: Path):
    _isolated_config.write_text('[clinic]\nname = "Physio Nord"')
    salt = ensure_salt()
    assert len(salt) == 64 and int(salt, 16) >= 0
    assert ensure_salt() == salt
    cfg = load_config()
    assert cfg.clinic_name == "Physio Nord" and cfg.salt == salt
    assert oct(_isolated_config.stat().st_mode & 0o777) == "0o600"
