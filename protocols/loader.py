"""Load and validate protocol TOML files.

Every problem becomes a :class:`ProtocolError` whose message is one line naming the file,
the line where it can be found, the field and what was expected, e.g.::

    hip_abd.toml:14: [timing].duration_s: expected a number > 0 and <= 600 (seconds), got "five"

tomllib gives no line numbers for values, so the line of a field is found by a simple scan
of the text for ``key =`` inside its table (best effort; syntax errors carry tomllib's own
line and column).

Stdlib only (``platformdirs`` is imported lazily, only to find the default user directory).
"""
from __future__ import annotations

import difflib
import functools
import json
import math
import os
import re
import sys
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal, overload

from force_errors import ForceStationError
from protocols import extremes
from protocols.kinds import PROTOCOL_KINDS, AnalysisSetting, ProtocolKind
from protocols.model import (
    DEVICE_KINDS,
    KINDS,
    METRICS,
    ORDERS,
    Acceptance,
    ChannelMap,
    Cues,
    DeviceRole,
    Normalisation,
    Protocol,
    Timing,
)

#: The ``format_version`` this code reads. Bump when the schema changes incompatibly.
FORMAT_VERSION = 1

#: Environment variable that overrides the user protocols directory.
ENV_VAR = "FORCE_STATION_PROTOCOLS_DIR"

BUILTIN_PREFIX = "builtin:"

# --- allowed keys, in the order the docs list them -------------------------------------------
TOP_KEYS = (
    "format_version", "id", "name", "version", "kind", "description",
    "sides", "order", "reps", "metrics", "references",
    "timing", "acceptance", "normalisation", "cues", "analysis", "devices", "channel_map",
)
TOP_SCALARS = TOP_KEYS[:11]
TIMING_KEYS = ("countdown_s", "duration_s", "rest_s", "rest_between_sides_s")
ACCEPTANCE_KEYS = ("max_drop_pct", "max_reps", "min_reps", "lsi_pass_pct")
NORMALISATION_KEYS = ("body_mass", "lever_arm_m", "lever_arm_label", "lever_arm_min_m", "lever_arm_max_m")
CUES_KEYS = ("setup", "start", "during", "stop")
DEVICE_KEYS = ("role", "kind", "channels", "min_rate_hz")
CHANNEL_MAP_KEYS = ("role", "channels", "side")

# Sanity limits: generous for clinical use, tight enough to catch ms-for-s or cm-for-m slips.
MAX_COUNTDOWN_S = 60.0
MAX_DURATION_S = 600.0
MAX_REST_S = 3600.0
MAX_REPS = 100
MAX_CHANNELS = 64
MAX_RATE_HZ = 100_000.0
MAX_LEVER_ARM_M = 1.5

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ROLE_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class ProtocolError(ForceStationError, ValueError):
    """A protocol file (or id) that can't be used. ``str()`` is one line:
    ``<file>[:<line>[:<column>]]: <field>: <what was expected, what was found>``.

    Attributes: ``source`` (file name or ``builtin:<file>``), ``line`` and ``column``
    (1-based, or None), ``field`` (e.g. ``"[timing].duration_s"``, or None), ``detail``
    (the message without the location).
    """

    def __init__(
        self,
        detail: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        self.detail = " ".join(str(detail).split())  # always one line
        self.source = source
        self.line = line
        self.column = column
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.source or ""
        if where and self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.detail}" if where else self.detail


class ProtocolNotFoundError(ProtocolError, LookupError):
    """No protocol with that id (built-in or in the user directory)."""


# --- public API --------------------------------------------------------------------------------
def parse_protocol(text: str, source: str = "<string>") -> Protocol:
    """Parse and validate protocol TOML ``text``; ``source`` names it in errors and becomes
    ``source_path`` (use :func:`load_protocol` for files)."""
    return _parse(text, source=source, source_path=source, builtin=False)


def load_protocol(path: str | os.PathLike[str]) -> Protocol:
    """Load and validate one protocol file. ``source_path`` is the absolute path."""
    p = Path(path)
    shown = str(path)
    try:
        size = p.stat().st_size if p.is_file() else 0
        if size > extremes.MAX_FILE_BYTES:
            raise ProtocolError(f"{size} bytes, too large for a protocol file (at most "
                                f"{extremes.MAX_FILE_BYTES // 1000} kB)", source=shown)
        data = p.read_bytes()
    except FileNotFoundError:
        raise ProtocolError("no such file", source=shown) from None
    except IsADirectoryError:
        raise ProtocolError("is a directory, expected a .toml file", source=shown) from None
    except OSError as exc:
        raise ProtocolError(f"cannot read file: {exc.strerror or exc}", source=shown) from None
    text = _decode(data, shown)
    return _parse(text, source=shown, source_path=str(p.resolve()), builtin=False)


def builtin_protocols() -> dict[str, Protocol]:
    """The protocols shipped in ``protocols/builtin/``, by id."""
    return dict(_builtin_cache())


def user_protocols_dir(protocols_dir: str | os.PathLike[str] | None = None) -> Path:
    """The user protocols directory: ``protocols_dir`` if given, else the environment variable
    ``FORCE_STATION_PROTOCOLS_DIR`` if set, else ``user_data_dir("force-station")/protocols``.
    The directory need not exist."""
    if protocols_dir is not None and str(protocols_dir) != "":
        return Path(protocols_dir).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return _user_data_dir() / "protocols"


def _user_data_dir() -> Path:
    """``platformdirs.user_data_dir("force-station")`` (a declared dependency, imported lazily so
    this package stays importable with the standard library alone); the same locations by hand
    if it is missing."""
    try:
        import platformdirs
    except ImportError:
        pass
    else:
        return Path(platformdirs.user_data_dir("force-station"))
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
        return base / "force-station" / "force-station"
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "force-station"
    xdg = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(xdg) if xdg else home / ".local" / "share") / "force-station"


def user_protocols(
    protocols_dir: str | os.PathLike[str] | None = None,
    *,
    errors: list[ProtocolError] | None = None,
) -> dict[str, Protocol]:
    """The protocols in the user directory (``*.toml`` directly inside it, hidden files
    skipped), by id. A missing directory gives ``{}``.

    A bad file raises :class:`ProtocolError`, unless ``errors`` is a list: then the error is
    appended to it and the file skipped. Two files with the same id are an error.
    """
    directory = user_protocols_dir(protocols_dir)
    found: dict[str, Protocol] = {}
    if not directory.exists():
        return found
    if not directory.is_dir():
        _report(ProtocolError("protocols directory is not a directory", source=str(directory)), errors)
        return found
    for path in sorted(directory.glob("*.toml")):
        if path.name.startswith((".", "~")) or not path.is_file():
            continue
        try:
            proto = load_protocol(path)
            if proto.id in found:
                other = found[proto.id].source_path
                raise ProtocolError(
                    f'id: "{proto.id}" is also the id of {other}; each protocol file needs its own id',
                    source=str(path), line=_Locator(proto.source_text).line("", None, "id"), field="id",
                )
        except ProtocolError as exc:
            _report(exc, errors)
            continue
        found[proto.id] = proto
    return found


def find_protocols(
    protocols_dir: str | os.PathLike[str] | None = None,
    *,
    errors: list[ProtocolError] | None = None,
) -> dict[str, Protocol]:
    """Built-in protocols plus those in the user directory, by id, sorted by id. A user file
    with the same id as a built-in replaces it. Bad user files raise (see :func:`user_protocols`:
    a broken file might be meant to override a built-in, so it is never silently skipped
    unless ``errors`` collects it)."""
    merged = builtin_protocols()
    merged.update(user_protocols(protocols_dir, errors=errors))
    return dict(sorted(merged.items()))


def get_protocol(
    id_or_path: str | os.PathLike[str],
    protocols_dir: str | os.PathLike[str] | None = None,
) -> Protocol:
    """A protocol by id (user directory first, then built-in) or by path to a ``.toml`` file.

    Anything ending in ``.toml`` or containing a path separator is taken as a path."""
    text = os.fspath(id_or_path)
    if (
        isinstance(id_or_path, os.PathLike)
        or text.lower().endswith(".toml")
        or "/" in text
        or os.sep in text
    ):
        return load_protocol(id_or_path)
    protocols = find_protocols(protocols_dir)
    try:
        return protocols[text]
    except KeyError:
        pass
    close = difflib.get_close_matches(text, list(protocols), n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    raise ProtocolNotFoundError(
        f'unknown protocol "{text}"{hint}; available: {", ".join(protocols) or "none"}'
    )


# --- internals ---------------------------------------------------------------------------------
def _report(exc: ProtocolError, errors: list[ProtocolError] | None) -> None:
    if errors is None:
        raise exc
    errors.append(exc)


def _decode(data: bytes, source: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ProtocolError(
            "file is not UTF-8 text (save it as UTF-8)", source=source, line=line
        ) from None
    return text.removeprefix("\ufeff")  # tolerate a byte-order mark from Windows editors


@functools.cache
def _builtin_cache() -> tuple[tuple[str, Protocol], ...]:
    root = resources.files("protocols") / "builtin"
    out: dict[str, Protocol] = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml") or entry.name.startswith("."):
            continue
        source = BUILTIN_PREFIX + entry.name
        proto = _parse(_decode(entry.read_bytes(), source), source=source,
                       source_path=source, builtin=True)
        if proto.id in out:
            raise ProtocolError(f'id: "{proto.id}" is used by two built-in files', source=source)
        out[proto.id] = proto
    return tuple(out.items())


_SYNTAX_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_SYNTAX_END = re.compile(r"\s*\(at end of document\)\s*$")


def _parse(text: str, *, source: str, source_path: str | None, builtin: bool) -> Protocol:
    if not isinstance(text, str):
        raise TypeError("protocol text must be str")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        line = column = None
        m = _SYNTAX_POS.search(msg)
        if m:
            line, column = int(m.group(1)), int(m.group(2))
            msg = msg[: m.start()]
        else:
            m = _SYNTAX_END.search(msg)
            if m:
                line = text.count("\n") + 1
                msg = msg[: m.start()] + " (at end of file)"
        raise ProtocolError(f"TOML syntax error: {msg}", source=source, line=line,
                            column=column) from None
    except RecursionError:  # tables or arrays nested thousands deep
        raise ProtocolError(f"tables or arrays nested too deeply (a protocol goes at most "
                            f"{extremes.MAX_DEPTH} levels deep)", source=source) from None
    except ValueError as exc:  # an integer of more than 4300 digits (Python's conversion limit)
        m = re.search(r"\d[\d_]{%d,}" % 300, text)
        line = text.count("\n", 0, m.start()) + 1 if m else None
        detail = "a number with far too many digits" if "digits" in str(exc) else " ".join(str(exc).split())
        raise ProtocolError(detail, source=source, line=line) from None
    builder = _Builder(data, text, source)
    problem = extremes.check(data)
    if problem is not None:
        field = _Table(builder, {}, problem.table, problem.index).field(problem.key)
        raise builder.error(field, problem.detail, problem.table, problem.index, problem.key)
    return builder.build(source_path=source_path, builtin=builtin)


# --- finding lines -----------------------------------------------------------------------------
_KEY_PART = r'(?:[A-Za-z0-9_-]+|"[^"\n]*"|\'[^\'\n]*\')'
_KEY_RE = re.compile(rf"^\s*({_KEY_PART}(?:\s*\.\s*{_KEY_PART})*)\s*=")
_AOT_RE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(?:#.*)?$")
_TABLE_RE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")


def _key_parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(rf"{_KEY_PART}", dotted)]


class _Locator:
    """Best-effort map from (table, array index, key) to the 1-based line in the text."""

    def __init__(self, text: str) -> None:
        self.keys: dict[tuple[str, int | None, str], int] = {}
        self.headers: dict[tuple[str, int | None], int] = {}
        table, index = "", None
        counts: dict[str, int] = {}
        open_string: str | None = None
        for n, line in enumerate(text.splitlines(), 1):
            if open_string:  # inside a multi-line string: only look for its end
                if line.count(open_string) % 2 == 1:
                    open_string = None
                continue
            m = _AOT_RE.match(line)
            if m:
                table = ".".join(_key_parts(m.group(1)))
                index = counts.get(table, 0)
                counts[table] = index + 1
                self.headers.setdefault((table, index), n)
                continue
            m = _TABLE_RE.match(line)
            if m:
                table, index = ".".join(_key_parts(m.group(1))), None
                self.headers.setdefault((table, None), n)
                continue
            m = _KEY_RE.match(line)
            if m:
                parts = _key_parts(m.group(1))
                if len(parts) == 1:
                    self.keys.setdefault((table, index, parts[0]), n)
                else:  # dotted key: a.b = 1 inside [t] is key b of table t.a
                    t = ".".join(([table] if table else []) + parts[:-1])
                    self.keys.setdefault((t, None, parts[-1]), n)
                    self.headers.setdefault((t, None), n)
                    if not table:
                        self.keys.setdefault(("", None, parts[0]), n)
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    open_string = quote
                    break

    def line(self, table: str, index: int | None, key: str | None) -> int | None:
        if key is not None:
            n = self.keys.get((table, index, key))
            if n is not None:
                return n
        if table:
            n = self.headers.get((table, index))
            if n is None and index is None:  # an inline table: `timing = {...}`
                n = self.keys.get(("", None, table))
            return n
        if key is not None:  # a whole top-level table, e.g. a misspelt [timming]
            return self.headers.get((key, None)) or self.headers.get((key, 0))
        return None


# --- validation --------------------------------------------------------------------------------
def _show(value: Any) -> str:
    """A value as the user wrote it in TOML, shortened."""
    if isinstance(value, bool):
        s = "true" if value else "false"
    elif isinstance(value, str):
        s = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, float):
        s = "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    elif isinstance(value, int):
        s = str(value)
    elif isinstance(value, dict):
        return "a table"
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return "an array of tables"
        s = "[" + ", ".join(_show(v) for v in value) + "]"
    else:
        s = str(value)
    s = " ".join(s.split())
    return s if len(s) <= 60 else s[:57] + "..."


def _listing(names: Iterable[str]) -> str:
    return ", ".join(names)


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class _Table:
    """One TOML table being validated: knows its name (for messages) and finds lines."""

    def __init__(self, builder: _Builder, data: dict[str, Any], table: str, index: int | None = None):
        self.b = builder
        self.data = data
        self.table = table
        self.index = index

    # names ---------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        if not self.table:
            return "top level"
        if self.index is not None:
            return f"[[{self.table}]] #{self.index + 1}"
        return f"[{self.table}]"

    def field(self, key: str | None) -> str:
        if key is None:
            return self.label
        if not self.table:
            return key
        if self.index is not None:
            return f"[[{self.table}]]#{self.index + 1}.{key}"
        return f"[{self.table}].{key}"

    def error(self, key: str | None, detail: str) -> ProtocolError:
        return self.b.error(self.field(key), detail, self.table, self.index, key)

    # checks --------------------------------------------------------------------------------
    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key, value in self.data.items():
            if key in allowed:
                continue
            what = "table" if isinstance(value, (dict, list)) and value and (
                isinstance(value, dict) or all(isinstance(v, dict) for v in value)) else "key"
            if not self.table and what == "table":
                where = ""
                noun = f"unknown table [{key}]"
            else:
                where = f" in {self.label}" if self.table else " at top level"
                noun = f"unknown key '{key}'"
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.7)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            detail = f"{noun}{where}{hint}; expected one of {_listing(allowed)}"
            if self.table and key in TOP_SCALARS:
                detail += (f" (top-level keys such as '{key}' must come before the first"
                           " [table] in the file)")
            raise self.b.error(self.field(key), detail, self.table, self.index, key,
                               prefix_field=False)

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def has(self, key: str) -> bool:
        return key in self.data

    def _missing(self, key: str, expected: str) -> ProtocolError:
        return self.error(key, f"missing; expected {expected}")

    @overload
    def string(self, key: str, *, required: Literal[True], default: str | None = None,
               one_line: bool = False, non_empty: bool = False,
               choices: tuple[str, ...] | None = None, pattern: re.Pattern[str] | None = None,
               expected: str | None = None) -> str: ...

    @overload
    def string(self, key: str, *, required: bool = False, default: str,
               one_line: bool = False, non_empty: bool = False,
               choices: tuple[str, ...] | None = None, pattern: re.Pattern[str] | None = None,
               expected: str | None = None) -> str: ...

    @overload
    def string(self, key: str, *, required: bool = False, default: None = None,
               one_line: bool = False, non_empty: bool = False,
               choices: tuple[str, ...] | None = None, pattern: re.Pattern[str] | None = None,
               expected: str | None = None) -> str | None: ...

    def string(self, key: str, *, required: bool = False, default: str | None = None,
               one_line: bool = False, non_empty: bool = False,
               choices: tuple[str, ...] | None = None, pattern: re.Pattern[str] | None = None,
               expected: str | None = None) -> str | None:
        if expected is None:
            if choices:
                expected = f"one of {_quoted(choices)}"
            elif one_line:
                expected = "a one-line text in quotes"
            else:
                expected = "a text in quotes"
        if key not in self.data:
            if required:
                raise self._missing(key, expected)
            return default
        v = self.data[key]
        ok = isinstance(v, str)
        if ok and choices is not None:
            ok = v in choices
        if ok and pattern is not None:
            ok = bool(pattern.match(v))
        if ok and one_line:
            ok = "\n" not in v and "\r" not in v
        if ok and non_empty:
            ok = bool(v.strip())
        if not ok:
            raise self.error(key, f"expected {expected}, got {_show(v)}")
        return v

    def number(self, key: str, *, required: bool = False, default: float | None = None,
               gt: float | None = None, ge: float | None = None, le: float | None = None,
               unit: str = "", integer: bool = False) -> Any:
        conds = []
        if gt is not None:
            conds.append(f"> {_num(gt)}")
        if ge is not None:
            conds.append(f">= {_num(ge)}")
        if le is not None:
            conds.append(f"<= {_num(le)}")
        expected = ("an integer" if integer else "a number") + (
            " " + " and ".join(conds) if conds else "") + (f" ({unit})" if unit else "")
        if key not in self.data:
            if required:
                raise self._missing(key, expected)
            return default
        v = self.data[key]
        ok = isinstance(v, int) and not isinstance(v, bool) if integer else _is_number(v)
        if ok and not integer:
            ok = math.isfinite(v)
        if ok:
            ok = ((gt is None or v > gt) and (ge is None or v >= ge)
                  and (le is None or v <= le))
        if not ok:
            raise self.error(key, f"expected {expected}, got {_show(v)}")
        return int(v) if integer else float(v)

    def boolean(self, key: str, *, default: bool) -> bool:
        if key not in self.data:
            return default
        v = self.data[key]
        if not isinstance(v, bool):
            raise self.error(key, f"expected true or false, got {_show(v)}")
        return v

    @overload
    def array(self, key: str, *, required: Literal[True], expected: str) -> list[Any]: ...

    @overload
    def array(self, key: str, *, required: bool, expected: str) -> list[Any] | None: ...

    def array(self, key: str, *, required: bool, expected: str) -> list[Any] | None:
        if key not in self.data:
            if required:
                raise self._missing(key, expected)
            return None
        v = self.data[key]
        if not isinstance(v, list) or not v:
            raise self.error(key, f"expected {expected}, got {_show(v)}")
        return v


def _a(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class _Builder:
    def __init__(self, data: dict[str, Any], text: str, source: str) -> None:
        self.data = data
        self.text = text
        self.source = source
        self._locator: _Locator | None = None

    def line(self, table: str, index: int | None, key: str | None) -> int | None:
        if self._locator is None:
            self._locator = _Locator(self.text)
        return self._locator.line(table, index, key)

    def error(self, field: str, detail: str, table: str = "", index: int | None = None,
              key: str | None = None, *, prefix_field: bool = True) -> ProtocolError:
        return ProtocolError(f"{field}: {detail}" if prefix_field else detail,
                             source=self.source, line=self.line(table, index, key), field=field)

    def sub(self, key: str, *, required: bool) -> _Table:
        """The sub-table ``[key]`` (empty if absent and not required)."""
        top = _Table(self, self.data, "")
        if key not in self.data:
            if required:
                raise self.error(f"[{key}]", "missing table; add a [" + key + "] section")
            return _Table(self, {}, key)
        v = self.data[key]
        if not isinstance(v, dict):
            raise top.error(key, f"expected a table [{key}], got {_show(v)}")
        return _Table(self, v, key)

    def tables(self, key: str, expected_example: str) -> list[_Table]:
        """The array of tables ``[[key]]`` (required, non-empty)."""
        if key not in self.data:
            raise self.error(f"[[{key}]]", f"missing; add at least one [[{key}]] section, "
                             f"e.g. {expected_example}")
        v = self.data[key]
        if not isinstance(v, list) or not v or not all(isinstance(t, dict) for t in v):
            raise _Table(self, self.data, "").error(
                key, f"expected one or more [[{key}]] sections, got {_show(v)}")
        return [_Table(self, t, key, i) for i, t in enumerate(v)]

    # ------------------------------------------------------------------------------------------
    def build(self, *, source_path: str | None, builtin: bool) -> Protocol:
        top = _Table(self, self.data, "")

        # format_version first: a file for another format may not mean what we'd read into it.
        if "format_version" not in self.data:
            raise top.error("format_version",
                            f"missing; add `format_version = {FORMAT_VERSION}` at the top of the file")
        fv = self.data["format_version"]
        if not (isinstance(fv, int) and not isinstance(fv, bool)):
            raise top.error("format_version",
                            f"expected the integer {FORMAT_VERSION}, got {_show(fv)}")
        if fv != FORMAT_VERSION:
            raise top.error("format_version",
                            f"unsupported format_version {fv}; this Force Station reads "
                            f"format_version = {FORMAT_VERSION}")
        top.check_keys(TOP_KEYS)

        pid = top.string("id", required=True, pattern=_ID_RE,
                         expected='an id of lowercase letters, digits, "-" or "_" '
                                  '(e.g. "hip-abduction-hhd")')
        name = top.string("name", required=True, one_line=True, non_empty=True)
        version = top.number("version", required=True, integer=True, ge=1)
        kind = top.string("kind", required=True, choices=KINDS)
        description = top.string("description", default="").strip()

        sides_raw = top.array("sides", required=True,
                              expected='a list of sides: ["left", "right"], ["left"], ["right"] or ["both"]')
        for s in sides_raw:
            if s not in ("left", "right", "both"):
                raise top.error("sides", f'expected a list of "left", "right" or "both", got {_show(sides_raw)}')
        if len(set(sides_raw)) != len(sides_raw):
            raise top.error("sides", f"each side may appear once, got {_show(sides_raw)}")
        if "both" in sides_raw and len(sides_raw) > 1:
            raise top.error("sides", f'"both" (both limbs in one trial) must be the only side, '
                                     f"got {_show(sides_raw)}")
        sides = tuple(sides_raw)
        order = top.string("order", required=True, choices=ORDERS)
        if order == "simultaneous" and sides != ("both",):
            raise top.error("order", f'"simultaneous" needs sides = ["both"], '
                                     f"got sides = {_show(sides_raw)}")
        if sides == ("both",) and order != "simultaneous":
            raise top.error("sides", f'["both"] (both limbs in every trial) needs '
                                     f'order = "simultaneous", got order = "{order}"')
        reps = top.number("reps", required=True, integer=True, ge=1, le=MAX_REPS)

        metrics = self._metrics(top, kind)
        references = top.array("references", required=False,
                               expected='a list of reference-value ids, e.g. ["thorborg2010-hip-abd-hhd"]') or []
        if not all(isinstance(r, str) and r for r in references):
            raise top.error("references", f"expected a list of reference-value ids (text), got {_show(references)}")

        # then the tables, in the order the docs list them
        timing = self._timing(order)
        acceptance = self._acceptance(reps)
        normalisation = self._normalisation(kind)
        cues = self._cues()
        devices = self._devices()
        channel_map = self._channel_map(devices)
        analysis = self._analysis(PROTOCOL_KINDS[kind], devices)

        self._cross_checks(kind, devices, channel_map, sides, order, metrics, normalisation)

        return Protocol(
            id=pid, name=name, version=version, kind=kind, description=description,  # type: ignore[arg-type]  # checked against choices
            devices=tuple(d for d, _ in devices), channel_map=tuple(c for c, _ in channel_map),
            sides=sides, order=order, reps=reps, timing=timing, acceptance=acceptance,  # type: ignore[arg-type]  # checked against choices
            metrics=metrics, normalisation=normalisation, cues=cues,
            source_path=source_path, source_text=self.text, builtin=builtin, references=tuple(references),
            analysis=analysis,
        )

    def _devices(self) -> list[tuple[DeviceRole, _Table]]:
        out: list[tuple[DeviceRole, _Table]] = []
        seen: dict[str, int] = {}
        for t in self.tables("devices", '[[devices]] role = "dynamometer", kind = "dynamometer", channels = 1'):
            t.check_keys(DEVICE_KEYS)
            role = t.string("role", required=True, pattern=_ROLE_RE,
                            expected='a role name of lowercase letters, digits, "_" or "-" '
                                     '(e.g. "dynamometer", "plate_left")')
            if role in seen:
                raise t.error("role", f'duplicate role "{role}", already used by [[devices]] #{seen[role] + 1}')
            seen[role] = t.index or 0
            kind = t.string("kind", required=True, choices=DEVICE_KINDS)
            channels = t.number("channels", required=True, integer=True, ge=1, le=MAX_CHANNELS)
            rate = t.number("min_rate_hz", default=0.0, ge=0, le=MAX_RATE_HZ, unit="Hz")
            out.append((DeviceRole(role=role, kind=kind, channels=channels, min_rate_hz=rate), t))  # type: ignore[arg-type]  # checked against choices
        return out

    def _channel_map(self, devices: list[tuple[DeviceRole, _Table]]) -> list[tuple[ChannelMap, _Table]]:
        roles = {d.role: d for d, _ in devices}
        out: list[tuple[ChannelMap, _Table]] = []
        used: dict[tuple[str, int], int] = {}
        for t in self.tables("channel_map", '[[channel_map]] role = "dynamometer", channels = [0]'):
            t.check_keys(CHANNEL_MAP_KEYS)
            role = t.string("role", required=True, expected=f"one of the [[devices]] roles: {_quoted(roles)}")
            if role not in roles:
                raise t.error("role", f'unknown role "{role}"; expected one of the [[devices]] roles: '
                                      f"{_quoted(roles)}")
            n = roles[role].channels
            if n == 1:
                expected = f'[0] (role "{role}" has channels = 1, numbered from 0)'
            else:
                expected = (f"a list of channel numbers from 0 to {n - 1} "
                            f'(role "{role}" has channels = {n}, numbered from 0)')
            chans = t.array("channels", required=True, expected=expected)
            for c in chans:
                if not (isinstance(c, int) and not isinstance(c, bool)) or not 0 <= c < n:
                    raise t.error("channels", f"expected {expected}, got {_show(chans)}")
            if len(set(chans)) != len(chans):
                raise t.error("channels", f"each channel may appear once, got {_show(chans)}")
            for c in chans:
                if (role, c) in used:
                    raise t.error("channels", f'channel {c} of role "{role}" is already mapped by '
                                              f"[[channel_map]] #{used[(role, c)] + 1}")
                used[(role, c)] = t.index or 0
            side = t.string("side", choices=("left", "right", "both"))
            out.append((ChannelMap(role=role, channels=tuple(chans), side=side), t))  # type: ignore[arg-type]  # checked against choices
        mapped = {c.role for c, _ in out}
        for d, t in devices:
            if d.role not in mapped:
                raise t.error("role", f'role "{d.role}" is not used by any [[channel_map]] entry; '
                                      "map its channels or remove it")
        return out

    def _timing(self, order: str) -> Timing:
        t = self.sub("timing", required=True)
        t.check_keys(TIMING_KEYS)
        countdown = t.number("countdown_s", required=True, ge=0, le=MAX_COUNTDOWN_S, unit="seconds")
        duration = t.number("duration_s", required=True, gt=0, le=MAX_DURATION_S, unit="seconds")
        rest = t.number("rest_s", required=True, ge=0, le=MAX_REST_S, unit="seconds")
        between = t.number("rest_between_sides_s", ge=0, le=MAX_REST_S, unit="seconds")
        if between is not None and order != "blocked":
            raise t.error("rest_between_sides_s",
                          f'only used with order = "blocked" (one side switch), got order = "{order}"; '
                          "remove it or use rest_s")
        return Timing(countdown_s=countdown, duration_s=duration, rest_s=rest,
                      rest_between_sides_s=between)

    def _acceptance(self, reps: int) -> Acceptance:
        t = self.sub("acceptance", required=False)
        t.check_keys(ACCEPTANCE_KEYS)
        d = Acceptance()
        drop = t.number("max_drop_pct", default=d.max_drop_pct, gt=0, le=100, unit="percent")
        max_reps = t.number("max_reps", default=d.max_reps, integer=True, ge=1, le=MAX_REPS)
        min_reps = t.number("min_reps", default=d.min_reps, integer=True, ge=1, le=MAX_REPS)
        pass_pct = t.number("lsi_pass_pct", default=d.lsi_pass_pct, gt=0, le=200, unit="percent")

        def given(key: str, value: int) -> str:
            return f"{value}" if t.has(key) else f"{value} (the default)"

        if reps > max_reps:
            raise t.error("max_reps", f"must be >= reps ({reps}), got {given('max_reps', max_reps)}; "
                                      "raise [acceptance].max_reps or lower reps")
        if min_reps > reps:
            raise t.error("min_reps", f"must be <= reps ({reps}), got {given('min_reps', min_reps)}; "
                                      "set [acceptance].min_reps or raise reps")
        return Acceptance(max_drop_pct=drop, max_reps=max_reps, min_reps=min_reps, lsi_pass_pct=pass_pct)

    def _metrics(self, top: _Table, kind: str) -> tuple[str, ...]:
        known = METRICS[kind]
        values = top.array("metrics", required=True,
                           expected=f"a list of metric names for {_a(kind)} protocol: {_quoted(known)}")
        for m in values:
            if not isinstance(m, str):
                raise top.error("metrics", f"expected metric names in quotes, got {_show(m)}")
            if m not in known:
                other = [k for k in KINDS if k != kind and m in METRICS[k]]
                why = f"is {_a(other[0])} metric" if other else "is unknown"
                close = difflib.get_close_matches(m, known, n=1, cutoff=0.6)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                raise top.error("metrics", f'metric "{m}" {why} for {_a(kind)} protocol{hint}; '
                                           f"expected any of {_quoted(known)}")
        if len(set(values)) != len(values):
            dup = next(m for m in values if values.count(m) > 1)
            raise top.error("metrics", f'metric "{dup}" is listed twice')
        return tuple(values)

    def _normalisation(self, kind: str) -> Normalisation:
        t = self.sub("normalisation", required=False)
        t.check_keys(NORMALISATION_KEYS)
        body_mass = t.boolean("body_mass", default=True)
        arm = t.number("lever_arm_m", gt=0, le=MAX_LEVER_ARM_M, unit="metres")
        label = t.string("lever_arm_label", one_line=True, non_empty=True)
        lo = t.number("lever_arm_min_m", gt=0, le=MAX_LEVER_ARM_M, unit="metres")
        hi = t.number("lever_arm_max_m", gt=0, le=MAX_LEVER_ARM_M, unit="metres")
        if lo is not None and hi is not None and lo >= hi:
            raise t.error("lever_arm_max_m", f"must be > lever_arm_min_m ({_num(lo)}), got {_num(hi)}")
        if arm is not None and ((lo is not None and arm < lo) or (hi is not None and arm > hi)):
            raise t.error("lever_arm_m", f"{_num(arm)} m lies outside lever_arm_min_m..lever_arm_max_m")
        if not PROTOCOL_KINDS[kind].lever_arm:
            allowed = _listing(k.name for k in PROTOCOL_KINDS.values() if k.lever_arm)
            for key in ("lever_arm_m", "lever_arm_label", "lever_arm_min_m", "lever_arm_max_m"):
                if t.has(key):
                    raise t.error(key, f"a lever arm only applies to {allowed} protocols, "
                                       f'this one has kind = "{kind}"')
        return Normalisation(body_mass=body_mass, lever_arm_m=arm, lever_arm_label=label,
                             lever_arm_min_m=lo, lever_arm_max_m=hi)

    def _cues(self) -> Cues:
        t = self.sub("cues", required=False)
        t.check_keys(CUES_KEYS)
        d = Cues()
        return Cues(setup=t.string("setup", default=d.setup).strip(),
                    start=t.string("start", default=d.start).strip(),
                    during=t.string("during", default=d.during).strip(),
                    stop=t.string("stop", default=d.stop).strip())

    def _analysis(self, kind: ProtocolKind, devices: list[tuple[DeviceRole, _Table]]) -> dict[str, Any]:
        """The ``[analysis]`` table: only the keys given, each checked against its range."""
        t = self.sub("analysis", required=False)
        allowed = tuple(s.key for s in kind.analysis)
        for key in t.data:
            other = [k.name for k in PROTOCOL_KINDS.values() if k is not kind and key in {s.key for s in k.analysis}]
            if key not in allowed and other:
                raise t.error(key, f"{_a(other[0])} analysis setting; this protocol has kind = \"{kind.name}\" "
                                   f"(its settings: {_listing(allowed)})")
        t.check_keys(allowed)
        out: dict[str, Any] = {}
        for setting in kind.analysis:
            if not t.has(setting.key):
                continue
            out[setting.key] = (self._windows(t, setting) if setting.windows
                                else t.number(setting.key, gt=setting.gt, ge=setting.ge, le=setting.le,
                                              unit=setting.unit))
        if "onset_k" in out and "onset_threshold_n" in out:
            raise t.error("onset_threshold_n", "give onset_k (baseline + k SD) or onset_threshold_n "
                                               "(baseline + newtons), not both")
        rates = [d.min_rate_hz for d, _ in devices if d.min_rate_hz > 0]
        for setting in kind.analysis:
            value = out.get(setting.key)
            if setting.unit == "Hz" and value and rates and value >= min(rates) / 2:
                raise t.error(setting.key, f"{_num(value)} Hz must be below half the lowest min_rate_hz "
                                           f"of [[devices]] ({_num(min(rates) / 2)} Hz)")
        return out

    @staticmethod
    def _windows(t: _Table, setting: AnalysisSetting) -> tuple[float, ...]:
        bounds = " and ".join(c for c in (
            f"> {_num(setting.gt)}" if setting.gt is not None else "",
            f">= {_num(setting.ge)}" if setting.ge is not None else "",
            f"<= {_num(setting.le)}" if setting.le is not None else "") if c)
        expected = f"a list of increasing numbers {bounds} ({setting.unit}), e.g. [0.05, 0.1, 0.2]"
        values = t.array(setting.key, required=True, expected=expected)
        ok = all(_is_number(v) and math.isfinite(v) and (setting.gt is None or v > setting.gt)
                 and (setting.ge is None or v >= setting.ge) and (setting.le is None or v <= setting.le)
                 for v in values)
        if not ok or any(b <= a for a, b in zip(values, values[1:], strict=False)):
            raise t.error(setting.key, f"expected {expected}, got {_show(values)}")
        return tuple(float(v) for v in values)

    def _cross_checks(self, kind: str, devices: list[tuple[DeviceRole, _Table]],
                      channel_map: list[tuple[ChannelMap, _Table]], sides: tuple[str, ...],
                      order: str, metrics: tuple[str, ...], norm: Normalisation) -> None:
        top = _Table(self, self.data, "")
        need = PROTOCOL_KINDS[kind].device_kind
        if not any(d.kind == need for d, _ in devices):
            raise self.error("[[devices]]",
                             f'{_a(kind)} protocol needs a device role with kind = "{need}", '
                             f"got kinds {_quoted(d.kind for d, _ in devices)}",
                             "devices", 0, "kind")

        # channel map sides vs protocol sides
        mapped_sides: set[str] = set()
        for c, t in channel_map:
            if order == "simultaneous":
                if c.side is None:
                    raise t.error("side", 'missing; with order = "simultaneous" every channel '
                                          'map needs side = "left", "right" or "both"')
            elif c.side is not None and c.side not in sides:
                raise t.error("side", f'"{c.side}" is not one of the protocol sides '
                                      f"{_show(list(sides))}; use one of them, or leave side out "
                                      "for a device that measures whichever side is tested")
            mapped_sides.add(c.side or "*")
        if order != "simultaneous" and "*" not in mapped_sides:
            for s in sides:
                if s not in mapped_sides:
                    raise self.error("[[channel_map]]",
                                     f'no channel map measures side "{s}"; add one with '
                                     f'side = "{s}" or one without side',
                                     "channel_map", 0, None)

        two_limbs = (set(sides) >= {"left", "right"}
                     or (order == "simultaneous" and mapped_sides >= {"left", "right"}))
        if "lsi" in metrics and not two_limbs:
            raise top.error("metrics", 'metric "lsi" compares left and right, but this protocol '
                                       "measures only " + (
                                           "one side" if order != "simultaneous"
                                           else "channel maps without both side = \"left\" and side = \"right\""))
        if "asymmetry" in metrics and not (order == "simultaneous"
                                           and mapped_sides >= {"left", "right"}):
            raise top.error("metrics", 'metric "asymmetry" compares the left and right plate '
                                       'within one trial; it needs order = "simultaneous" with '
                                       'channel maps for side = "left" and side = "right" '
                                       '(use "lsi" to compare sides tested one at a time)')
        if "torque" in metrics and norm.lever_arm_m is None and norm.lever_arm_label is None:
            raise self.error("[normalisation]",
                             'metric "torque" needs a lever arm: set lever_arm_m (fixed, metres) '
                             "or lever_arm_label (what to measure per patient)",
                             "normalisation", None, None)
        if "normalised" in metrics and not norm.body_mass:
            raise self.error("[normalisation].body_mass",
                             'metric "normalised" divides by body mass; needs body_mass = true',
                             "normalisation", None, "body_mass")
