"""Reading what is still readable in a damaged session file, and saying what is damaged.

A session file can be damaged by hand-editing, a foreign tool or a bad disk: an attribute
of the wrong type (``peak_force_n = "big"``), JSON garbage in a JSON attribute, a group
replaced by a dataset. Readers go through a :class:`Damage` log: each accessor returns the
value when it has the expected type, else ``None`` (or an empty container) and records one
short problem naming the HDF5 object and attribute. The command then shows what is
readable and reports the problems in one line (:meth:`Damage.summary`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import h5py


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class Damage:
    """Problems found while reading one file (one short string each, in reading order)."""

    problems: list[str] = field(default_factory=list)

    def add(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def summary(self) -> str:
        """The problems on one line: the first ones, then how many more."""
        shown = "; ".join(self.problems[:3])
        more = len(self.problems) - 3
        return shown + (f" (and {more} more)" if more > 0 else "")

    # -- HDF5 objects -------------------------------------------------------------------------
    def groups(self, parent: Any, name: str) -> list[tuple[str, h5py.Group]]:
        """The subgroups of ``parent`` (sorted by name), or [] when it is not a group. In the
        session layout every child of /devices, /protocols, /tests, a test's trials and a
        trial is a group: any other child is noted as damage."""
        if not isinstance(parent, h5py.Group):
            self.add(f"{name} is a {type(parent).__name__.lower()}, expected a group")
            return []
        out = []
        for key in sorted(parent):
            try:
                item = parent[key]
            except (KeyError, OSError, RuntimeError, ValueError) as exc:  # a dangling or broken link
                self.add(f"{name}/{key} cannot be read ({' '.join(str(exc).split())[:60]})")
                continue
            if isinstance(item, h5py.Group):
                out.append((key, item))
            else:
                self.add(f"{name.rstrip('/')}/{key} is a {type(item).__name__.lower()}, expected a group")
        return out

    def child_group(self, parent: h5py.Group, key: str) -> h5py.Group | None:
        """``parent[key]`` when it is a group; None when missing (no problem) or not a group."""
        if key not in parent:
            return None
        try:
            item = parent[key]
        except (KeyError, OSError, RuntimeError, ValueError):
            self.add(f"{parent.name.rstrip('/')}/{key} cannot be read")
            return None
        if not isinstance(item, h5py.Group):
            self.add(f"{parent.name.rstrip('/')}/{key} is a {type(item).__name__.lower()}, expected a group")
            return None
        return item

    def rows(self, dataset: Any, where: str) -> int | None:
        """Number of rows of a sample dataset; None (and a problem) if it is not one."""
        if not isinstance(dataset, h5py.Dataset) or dataset.ndim < 1:
            self.add(f"{where} is not a dataset of samples")
            return None
        return int(dataset.shape[0])

    # -- attribute values -----------------------------------------------------------------
    def number(self, attrs: dict[str, Any], key: str, where: str) -> float | int | None:
        v = attrs.get(key)
        if v is None:
            return None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            return v
        if isinstance(v, float):  # NaN: "no value", a legitimate way to store nothing
            return None
        self.add(f"{where} attribute '{key}' is {_show(v)}, expected a number")
        return None

    def integer(self, attrs: dict[str, Any], key: str, where: str) -> int | None:
        v = attrs.get(key)
        if v is None:
            return None
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        self.add(f"{where} attribute '{key}' is {_show(v)}, expected an integer")
        return None

    def text(self, attrs: dict[str, Any], key: str, where: str) -> str | None:
        v = attrs.get(key)
        if v is None or isinstance(v, str):
            return v
        self.add(f"{where} attribute '{key}' is {_show(v)}, expected a text")
        return None

    def mapping(self, attrs: dict[str, Any], key: str, where: str) -> dict[str, Any]:
        """A JSON-object attribute; {} (and a problem) for garbage."""
        v = attrs.get(key)
        if v is None:
            return {}
        if isinstance(v, dict):
            return v
        what = "not valid JSON" if isinstance(v, str) else f"{_show(v)}"
        self.add(f"{where} attribute '{key}' is {what}, expected a JSON object")
        return {}

    def sequence(self, attrs: dict[str, Any], key: str, where: str) -> list[Any]:
        """A JSON-list attribute; [] (and a problem) for garbage."""
        v = attrs.get(key)
        if v is None:
            return []
        if isinstance(v, list):
            return v
        what = "not valid JSON" if isinstance(v, str) and v[:1] == "[" else _show(v)
        self.add(f"{where} attribute '{key}' is {what}, expected a JSON list")
        return []

    def numbers_in(self, d: dict[str, Any], keys: tuple[str, ...], where: str) -> dict[str, Any]:
        """A copy of ``d`` with each of ``keys`` a finite number or None (problems noted)."""
        out = dict(d)
        for k in keys:
            if k in out:
                out[k] = self.number(out, k, where)
        return out
