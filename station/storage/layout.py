"""Names and constants of the session file layout (see docs/hdf5-format.md)."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

FORMAT = "force-station-session"
FORMAT_VERSION = 1
#: HDF5 file format bounds: v110 is the oldest that supports SWMR, and keeps the files
#: readable by HDF5 1.10 tools (h5dump on Debian 12).
LIBVER = ("v110", "v110")

STATUS_RECORDING = "recording"
STATUS_COMPLETE = "complete"
STATUS_ABORTED = "aborted"
STATUS_INTERRUPTED = "interrupted"


def test_key(index: int, protocol_id: str) -> str:
    return f"{index:02d}_{protocol_id}"


def trial_key(index: int) -> str:
    return f"{index:03d}"


def trial_path(test: str, trial: str) -> str:
    return f"/tests/{test}/trials/{trial}"


def to_json(value: Any) -> str:
    """JSON for attributes: numpy scalars and arrays become plain numbers and lists."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if hasattr(o, "to_dict"):
            return o.to_dict()
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    return json.dumps(value, default=default, allow_nan=False, sort_keys=True)


def attr_value(value: Any) -> Any:
    """An attribute-safe value: None → "" is avoided by the callers; dicts → JSON."""
    if isinstance(value, dict | list | tuple):
        return to_json(value)
    return value
