"""Shared helpers for analysis results: JSON-ready conversion of values and parameters."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

#: Version of the analysis algorithms. Bump the minor version when a default or a
#: definition changes results, the patch version for fixes that do not change valid results.
ALGORITHM_VERSION = "1.0.0"


def fnum(value: Any) -> float | None:
    """``value`` as a plain Python float, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def jsonable(value: Any) -> Any:
    """Convert ``value`` (dataclass, mapping, sequence, numpy scalar) to JSON-ready types.

    Non-finite floats become None so that ``json.dumps`` never writes NaN.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "to_dict"):
            return value.to_dict()
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy scalar
        return jsonable(value.item())
    if isinstance(value, float):
        return fnum(value)
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    return value


def window_label(window_s: float) -> str:
    """Key for a time window from onset/contact, e.g. 0.05 s -> ``"0-50"`` (milliseconds)."""
    return f"0-{round(window_s * 1000.0):d}"
