"""The clinic-network settings of the station's TOML config file (``[clinic]`` table).

```toml
[clinic]
store_url = "postgresql://room1@db.clinic.lan/clinic"   # no password here: ~/.pgpass or PGPASSWORD
shared_folder = "/mnt/clinic/sessions"                   # optional: copies of the session files
station_name = "Room 1"                                   # optional: default the host name
```
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.errors import UserError


@dataclass(frozen=True)
class ClinicSettings:
    store_url: str | None = None
    shared_folder: Path | None = None
    station_name: str | None = None
    source: str = ""          # the config file these came from (for messages)


def config_path() -> Path:
    """The station's config file: $FORCE_STATION_CONFIG, else config.toml in the user config dir."""
    env = os.environ.get("FORCE_STATION_CONFIG")
    if env:
        return Path(env)
    import platformdirs
    return Path(platformdirs.user_config_dir("force-station")) / "config.toml"


def _table(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{path}: cannot read the config file ({exc})") from None
    table = data.get("clinic", {})
    if not isinstance(table, dict):
        raise UserError(f"{path}: [clinic] must be a table")
    return table


def clinic_settings(path: Path | None = None) -> ClinicSettings:
    """The ``[clinic]`` settings; one-line :class:`UserError` for a wrong type or a password in the URL."""
    path = path or config_path()
    t = _table(path)
    for key in ("store_url", "shared_folder", "station_name"):
        if key in t and not isinstance(t[key], str):
            raise UserError(f"{path}: clinic.{key} must be a string")
    url = t.get("store_url") or None
    if url:
        from station.index.postgres import parse_url
        try:
            parse_url(url)
        except UserError as exc:
            raise UserError(f"{path}: clinic.store_url: {exc}") from None
    shared = t.get("shared_folder")
    return ClinicSettings(url, Path(shared).expanduser() if shared else None, t.get("station_name") or None, str(path))
