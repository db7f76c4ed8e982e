"""Force Station: an open testing station for isometric strength and landing tests."""
from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("force-station")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

import logging as _logging

# library logging: records go nowhere unless an application (or a session log file) listens
for _name in ("station", "drivers", "calibration", "protocols"):
    _logging.getLogger(_name).addHandler(_logging.NullHandler())
