"""The station's configuration: one TOML file in the user config folder.

Default location: ``platformdirs.user_config_path("force-station") / "config.toml"``
(``~/.config/force-station/config.toml`` on Linux); ``$FORCE_STATION_CONFIG`` names another
file. A missing file means defaults. Tables::

    [clinic]
    name = "Physio Nord"                 # report header
    logo = "/srv/clinic/logo.png"        # PNG or JPEG for the report header (optional)

    [deidentify]
    salt = "…64 hex digits…"             # secret; created on first de-identified export

Other parts of the station add their own tables to the same file (e.g. the clinic network's
store URL and shared folder); :attr:`Config.raw` keeps everything that was read.
"""
from __future__ import annotations

import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from station.errors import ConfigError

CONFIG_ENV = "FORCE_STATION_CONFIG"
APP_NAME = "force-station"


def config_path() -> Path:
    """The config file this station reads."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env).expanduser()
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


@dataclass(frozen=True)
class Config:
    path: Path
    clinic_name: str = ""
    logo: Path | None = None
    salt: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    t = data.get(name, {})
    if not isinstance(t, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return t


def _string(t: dict[str, Any], table: str, key: str, path: Path) -> str | None:
    v = t.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise ConfigError(f"{path}: {table}.{key}: expected text, got {v!r}")
    return v


def load_config(path: str | Path | None = None) -> Config:
    """Read the config file (defaults when it does not exist); one-line :class:`ConfigError` for a
    file that cannot be read or has a field of the wrong type."""
    p = Path(path) if path is not None else config_path()
    if not p.exists():
        return Config(p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from None
    clinic = _table(data, "clinic", p)
    deid = _table(data, "deidentify", p)
    name = _string(clinic, "clinic", "name", p) or ""
    logo = _string(clinic, "clinic", "logo", p)
    salt = _string(deid, "deidentify", "salt", p)
    if salt is not None and len(salt) < 16:
        raise ConfigError(f"{p}: deidentify.salt: too short (at least 16 characters; delete it to get a new one)")
    logo_path = None
    if logo:
        logo_path = Path(logo).expanduser()
        if not logo_path.is_absolute():
            logo_path = p.parent / logo_path
    return Config(p, name, logo_path, salt, data)


def ensure_salt(path: str | Path | None = None) -> str:
    """The de-identification salt, created (random, 256 bits) and saved in the config file on
    first use. The salt stays in the clinic's config and never goes into an export."""
    cfg = load_config(path)
    if cfg.salt:
        return cfg.salt
    if "deidentify" in cfg.raw:
        raise ConfigError(f"{cfg.path}: [deidentify] has no salt; add salt = \"<64 random hex digits>\"")
    salt = secrets.token_hex(32)
    try:
        cfg.path.parent.mkdir(parents=True, exist_ok=True)
        existing = cfg.path.read_text(encoding="utf-8") if cfg.path.exists() else ""
        sep = "" if not existing or existing.endswith("\n") else "\n"
        text = (existing + sep + ("\n" if existing else "")
                + "# created by the first de-identified export; keep it secret and keep it: the same\n"
                "# patient gets the same pseudonym and date shift only while the salt stays the same\n"
                f"[deidentify]\nsalt = \"{salt}\"\n")
        tmp = cfg.path.with_name(cfg.path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)
        os.replace(tmp, cfg.path)
    except OSError as exc:
        raise ConfigError(f"{cfg.path}: cannot save the de-identification salt ({exc.strerror})") from None
    return salt
