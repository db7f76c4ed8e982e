"""Declarative device options: name, type, range, unit and help, checked in one place.

A driver (``Driver.OPTIONS``) and a simulator module (``OPTIONS``) each declare their options
as a tuple of :class:`Option`. :func:`parse_options` turns the strings of a device URI's
query (``?rate=500&polarity=tension``) into typed values, or raises one
:class:`~drivers.base.DeviceError` line naming the option, the value and what is expected,
before any port is opened or thread started. ``station simulate --help`` and the protocol
documents list the same declarations (:func:`describe`).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

OptionKind = Literal["int", "float", "choice", "flag", "text"]

_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"0", "false", "off", "no"})


class OptionError(ValueError):
    """A bad option value; the message is one line naming the option."""


@dataclass(frozen=True)
class Option:
    """One device or simulator option.

    ``kind``: ``int``/``float`` (with ``minimum``/``maximum``, inclusive unless
    ``exclusive_minimum``), ``choice`` (one of ``choices``, case-insensitive), ``flag``
    (on/off, true/false, 1/0, yes/no) or ``text``. ``default`` is the typed value used when
    the option is absent or empty (None: no value). ``unit`` is shown in help and errors.
    """

    name: str
    kind: OptionKind
    help: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()
    unit: str = ""

    def expected(self) -> str:
        """What a valid value looks like, e.g. ``a number in (0, 1000] readings/s``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "flag":
            return "on or off"
        if self.kind == "text":
            return "text"
        what = "an integer" if self.kind == "int" else "a number"
        if self.minimum is not None and self.maximum is not None:
            if self.kind == "int":
                return f"{int(self.minimum)}..{int(self.maximum)}{unit}"
            low = "(" if self.exclusive_minimum else "["
            return f"{what} in {low}{self.minimum:g}, {self.maximum:g}]{unit}"
        if self.minimum is not None:
            return f"{what} {'>' if self.exclusive_minimum else '>='} {self.minimum:g}{unit}"
        if self.maximum is not None:
            return f"{what} <= {self.maximum:g}{unit}"
        return what + unit

    def parse(self, raw: str) -> Any:
        """The typed value of ``raw``; :class:`OptionError` (without the device prefix) if bad."""
        text = raw.strip()
        if self.kind == "choice":
            bad = OptionError(f"unknown {self.name} {raw!r} (expected one of {', '.join(self.choices)})")
        else:
            bad = OptionError(f"{self.name} must be {self.expected()}, got {raw!r}")
        if self.kind == "text":
            if any(ord(c) < 32 for c in text):
                raise bad
            return text
        if self.kind == "flag":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise bad
        if self.kind == "choice":
            by_lower = {c.lower(): c for c in self.choices}
            try:
                return by_lower[text.lower()]
            except KeyError:
                raise bad from None
        try:
            value: float = int(text) if self.kind == "int" else float(text)
            if self.kind == "int" and abs(value) > 2 ** 53:  # a 400-digit integer: no float compares it
                raise bad
        except (ValueError, OverflowError):
            raise bad from None
        if not math.isfinite(value):
            raise bad
        if self.minimum is not None and (value < self.minimum or (self.exclusive_minimum and value == self.minimum)):
            raise bad
        if self.maximum is not None and value > self.maximum:
            raise bad
        return value

    def describe(self) -> str:
        """One help line: ``rate  a number in (0, 1000] readings/s (default 500): output rate``."""
        default = "" if self.default is None else f" (default {_show(self.default)})"
        return f"{self.name}: {self.help}; {self.expected()}{default}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_options(declared: Iterable[Option], given: Mapping[str, str], *, where: str,
                  allow_unknown: Iterable[str] = ()) -> dict[str, Any]:
    """Typed values of every declared option (defaults filled in) from ``given`` strings.

    Raises :class:`~drivers.base.DeviceError` as one line ``<where>: <option> must be …, got
    '<value>'`` for a bad value, or for an option nobody declared (unless listed in ``allow_unknown``).
    """
    from drivers.base import DeviceError

    declared = tuple(declared)
    names = {o.name for o in declared}
    unknown = [k for k in given if k not in names and k not in set(allow_unknown)]
    if unknown:
        known = ", ".join(sorted(names | set(allow_unknown))) or "none"
        raise DeviceError(f"{where}: unknown option {unknown[0]!r} (options: {known})")
    values: dict[str, Any] = {}
    for option in declared:
        raw = given.get(option.name)
        if raw is None or raw.strip() == "":
            values[option.name] = option.default
            continue
        try:
            values[option.name] = option.parse(raw)
        except OptionError as exc:
            raise DeviceError(f"{where}: {exc}") from None
    return values


def describe(declared: Iterable[Option]) -> list[str]:
    """Help lines, one per option."""
    return [o.describe() for o in declared]
