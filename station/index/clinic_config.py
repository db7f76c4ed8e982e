"""The clinic-network settings in the station's config file (:mod:`station.config`: one TOML
file, ``$FORCE_STATION_CONFIG`` or the user config folder), beside the clinic's name and logo:

```toml
[clinic]
store_url = "postgresql://room1@db.clinic.lan/clinic"   # no password here: ~/.pgpass or PGPASSWORD
shared_folder = "/mnt/clinic/sessions"                   # optional: copies of the session files
station_name = "Room 1"                                   # optional: default <host name>/<session folder>
```
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from station.config import load_config
from station.errors import ConfigError, StationError


@dataclass(frozen=True)
class ClinicSettings:
    store_url: str | None = None
    shared_folder: Path | None = None
    station_name: str | None = None
    source: str = ""          # the config file these came from (for messages)


def clinic_settings(path: Path | None = None) -> ClinicSettings:
    """The ``[clinic]`` settings; one-line :class:`~station.errors.ConfigError` for a wrong type or a password in the URL."""
    cfg = load_config(path)
    path = cfg.path
    t = cfg.raw.get("clinic", {})
    for key in ("store_url", "shared_folder", "station_name"):
        if key in t and not isinstance(t[key], str):
            raise ConfigError(f"{path}: clinic.{key} must be a string")
    url = t.get("store_url") or None
    if url:
        from station.index.postgres import parse_url
        try:
            parse_url(url)
        except StationError as exc:
            raise ConfigError(f"{path}: clinic.store_url: {exc}") from None
    shared = t.get("shared_folder")
    return ClinicSettings(url, Path(shared).expanduser() if shared else None, t.get("station_name") or None, str(path))
