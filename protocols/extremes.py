"""Limits every protocol file must keep before its fields are even looked at.

A protocol file is small, hand-written text. These checks refuse what no real protocol
holds and what would hurt a terminal or the session file: control characters or
bidirectional-override characters in keys and texts (they can hide or rewrite what a
clinician reads), keys or texts of absurd length, and tables nested deeper than the schema
goes. Huge integers and deep nesting that the TOML parser itself cannot take are caught in
:func:`protocols.loader.parse_protocol`; the file size in :func:`protocols.loader.load_protocol`.

Stdlib only.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

#: largest protocol file read, bytes (the built-in ones are ~3 kB)
MAX_FILE_BYTES = 256_000
#: longest text value (a description or a cue), characters
MAX_TEXT_CHARS = 10_000
#: longest key, characters
MAX_KEY_CHARS = 64
#: deepest nesting of tables and arrays (the schema uses 3: [[devices]] → table → array)
MAX_DEPTH = 4

#: characters that reorder displayed text (Trojan-source style)
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C)}
#: control characters allowed in multi-line texts
_TEXT_CONTROLS = {"\n", "\t", "\r"}


@dataclass(frozen=True)
class Extreme:
    """Where the first problem is: ``table`` ("" at top level), ``index`` (array-of-tables
    entry or None), ``key`` (or None for the table itself) and what is wrong."""

    table: str
    index: int | None
    key: str | None
    detail: str


def _bad_char(text: str, allowed: set[str]) -> str | None:
    for ch in text:
        if ch in allowed:
            continue
        if ch in _BIDI or unicodedata.category(ch) == "Cc":
            return f"U+{ord(ch):04X}"
    return None


def check(data: dict[str, Any]) -> Extreme | None:
    """The first problem in parsed TOML ``data``, or None. Iterative: any depth is safe.

    Depth counts the tables and arrays around a value: a top-level key is at depth 1, a key
    of ``[timing]`` at 2, ``channels = [0]`` of a ``[[devices]]`` entry holds its numbers at 4.
    """
    # (value, table, index, key to name in errors, depth)
    stack: list[tuple[Any, str, int | None, str | None, int]] = [(data, "", None, None, 0)]
    while stack:
        value, table, index, key, depth = stack.pop()
        if isinstance(value, (dict, list)) and depth > MAX_DEPTH - 1:
            return Extreme(table, index, key, f"nested too deeply (more than {MAX_DEPTH} levels of tables "
                                              "and arrays); the protocol schema needs at most "
                                              f"{MAX_DEPTH}")
        if isinstance(value, dict):
            for k, v in value.items():
                if len(k) > MAX_KEY_CHARS:
                    return Extreme(table, index, key, f"a key of {len(k)} characters; at most {MAX_KEY_CHARS}")
                bad = _bad_char(k, set())
                if bad:
                    return Extreme(table, index, key, f"key {k!r} contains the control character {bad}")
                if depth == 0:  # top level: a table, an array of tables, or a key
                    stack.append((v, k, None, None, 1) if isinstance(v, dict) else (v, "", None, k, 1))
                elif key is None:  # a key of a table or of an array-of-tables entry
                    stack.append((v, table, index, k, depth + 1))
                else:  # inside an inline table: name the key that holds it
                    stack.append((v, table, index, key, depth + 1))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if depth == 1 and not table and isinstance(v, dict):  # [[key]] entry i
                    stack.append((v, key or "", i, None, depth + 1))
                else:
                    stack.append((v, table, index, key, depth + 1))
        elif isinstance(value, str):
            if len(value) > MAX_TEXT_CHARS:
                return Extreme(table, index, key, f"a text of {len(value)} characters; at most {MAX_TEXT_CHARS}")
            bad = _bad_char(value, _TEXT_CONTROLS)
            if bad:
                return Extreme(table, index, key, f"text contains the control character {bad}; "
                                                  "use plain text (newlines and tabs are fine)")
    return None
