"""Reference values as data: measurement error (SEM, MDC95) and normative ranges with citations.

The values live in ``reference_values.toml`` beside this module (versioned, each entry marked
``checked`` or not). Protocols name their entries in ``references = [...]``.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from station.errors import ConfigError

#: MDC95 = 1.96 × √2 × SEM (the 95 % limit of the difference of two measurements).
MDC95_FACTOR = 1.96 * math.sqrt(2.0)

UNITS = ("N", "%", "N·m/kg", "% body weight", "N/kg")
METRICS = ("peak_force", "peak_force_per_kg", "peak_torque_per_kg", "peak_force_pct_bw")


def mdc95_from_sem(sem: float) -> float:
    return MDC95_FACTOR * sem


def sem_from_mdc95(mdc: float) -> float:
    return mdc / MDC95_FACTOR


@dataclass(frozen=True)
class ReferenceEntry:
    id: str
    protocols: tuple[str, ...]
    device_kind: str
    position: str
    population: str
    metric: str
    unit: str
    citation: str
    doi: str
    checked: bool
    check_note: str = ""
    sem: float | None = None
    mdc95: float | None = None
    normative_low: float | None = None
    normative_high: float | None = None
    normative_note: str = ""

    @property
    def sem_value(self) -> float | None:
        """The SEM, given or derived from the MDC95."""
        if self.sem is not None:
            return self.sem
        return sem_from_mdc95(self.mdc95) if self.mdc95 is not None else None

    @property
    def mdc95_value(self) -> float | None:
        if self.mdc95 is not None:
            return self.mdc95
        return mdc95_from_sem(self.sem) if self.sem is not None else None

    @property
    def is_error(self) -> bool:
        return self.sem_value is not None

    @property
    def is_normative(self) -> bool:
        return self.normative_low is not None and self.normative_high is not None

    @property
    def short_citation(self) -> str:
        """e.g. "Thorborg 2010"."""
        first = self.citation.split(",")[0].split()[0] if self.citation else self.id
        year = next((w.strip(";.()") [:4] for w in self.citation.replace(";", " ").split()
                     if w[:4].isdigit() and w[:2] in ("19", "20")), "")
        return f"{first} {year}".strip()


@dataclass(frozen=True)
class ReferenceSet:
    version: str
    entries: dict[str, ReferenceEntry]
    source: str

    def get(self, entry_id: str) -> ReferenceEntry | None:
        return self.entries.get(entry_id)


_REQUIRED = ("id", "protocols", "device_kind", "position", "population", "metric", "unit", "citation", "doi",
             "checked")
_OPTIONAL_NUM = ("sem", "mdc95", "normative_low", "normative_high")


def parse_reference_values(text: str, source: str = "<string>") -> ReferenceSet:
    """Parse and validate a reference-values file; :class:`~station.errors.ConfigError` naming the entry and field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    if data.get("format_version") != 1:
        raise ConfigError(f"{source}: format_version: expected 1, got {data.get('format_version')!r}")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise ConfigError(f"{source}: version: expected a version string")
    entries: dict[str, ReferenceEntry] = {}
    for i, raw in enumerate(data.get("entry", []), start=1):
        where = f"{source}: entry {i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a table")
        for key in _REQUIRED:
            if key not in raw:
                raise ConfigError(f"{where}: missing {key}")
        where = f"{source}: entry {raw['id']!r}"
        known = set(_REQUIRED) | set(_OPTIONAL_NUM) | {"check_note", "normative_note"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown field {unknown[0]!r}")
        if raw["unit"] not in UNITS:
            raise ConfigError(f"{where}: unit: expected one of {', '.join(UNITS)}, got {raw['unit']!r}")
        if raw["metric"] not in METRICS:
            raise ConfigError(f"{where}: metric: expected one of {', '.join(METRICS)}, got {raw['metric']!r}")
        if not isinstance(raw["checked"], bool):
            raise ConfigError(f"{where}: checked: expected true or false")
        nums: dict[str, Any] = {}
        for key in _OPTIONAL_NUM:
            v = raw.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0):
                raise ConfigError(f"{where}: {key}: expected a number >= 0, got {v!r}")
            nums[key] = float(v) if v is not None else None
        if nums["sem"] is None and nums["mdc95"] is None and nums["normative_low"] is None:
            raise ConfigError(f"{where}: needs sem, mdc95 or a normative range")
        if (nums["normative_low"] is None) != (nums["normative_high"] is None):
            raise ConfigError(f"{where}: normative_low and normative_high go together")
        if raw["id"] in entries:
            raise ConfigError(f"{where}: duplicate id")
        entries[raw["id"]] = ReferenceEntry(
            id=raw["id"], protocols=tuple(raw["protocols"]), device_kind=raw["device_kind"],
            position=raw["position"], population=raw["population"], metric=raw["metric"], unit=raw["unit"],
            citation=raw["citation"], doi=raw["doi"], checked=raw["checked"],
            check_note=raw.get("check_note", ""), normative_note=raw.get("normative_note", ""), **nums)
    return ReferenceSet(version, entries, source)


@lru_cache(maxsize=4)
def load_reference_values(path: str | None = None) -> ReferenceSet:
    """The shipped reference values (or the file at ``path``)."""
    if path is None:
        text = resources.files("station.history").joinpath("reference_values.toml").read_text(encoding="utf-8")
        return parse_reference_values(text, "reference_values.toml")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read reference values ({exc.strerror})") from None
    return parse_reference_values(text, str(p))


def protocol_reference_ids(protocol_id: str) -> tuple[str, ...]:
    """The ``references`` of the protocol (built-in or the clinic's own); () if unknown."""
    try:
        from protocols.loader import find_protocols

        found = find_protocols(errors=[])
    except Exception:  # noqa: BLE001 - a broken user protocol folder must not break history
        found = {}
    p = found.get(protocol_id) if isinstance(found, dict) else None
    if p is None:
        try:
            from protocols.loader import builtin_protocols

            p = builtin_protocols().get(protocol_id)
        except Exception:  # noqa: BLE001
            p = None
    return tuple(getattr(p, "references", ()) or ())


def references_for(protocol_id: str, refs: ReferenceSet | None = None) -> list[ReferenceEntry]:
    """The entries a protocol points at, in its order (unknown ids are skipped)."""
    refs = refs or load_reference_values()
    return [refs.entries[i] for i in protocol_reference_ids(protocol_id) if i in refs.entries]
