"""A log file per session, next to its HDF5 file (``P-0042_20261205-081500.log``).

While a session is open, the log records of the station's packages (``station``,
``drivers``, ``calibration``: acquisition, pipeline, writer, driver reconnects) at INFO
and above go to this file too, one line each with the time, thread and module. So a
clinic can send "what happened" with the data, without a debugger or a console.
"""
from __future__ import annotations

import logging
from pathlib import Path

LOGGERS = ("station", "drivers", "calibration", "protocols")
FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(threadName)s %(name)s: %(message)s"


class SessionLog:
    """Adds a file handler for :data:`LOGGERS` until :meth:`close`."""

    def __init__(self, path: Path, level: int = logging.INFO) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = logging.FileHandler(self.path, encoding="utf-8", delay=True)
        self.handler.setLevel(level)
        self.handler.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))
        self._levels: dict[str, int] = {}
        for name in LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            if logger.getEffectiveLevel() > level:
                logger.setLevel(level)
            logger.addHandler(self.handler)
        logging.getLogger("station.session").info("session log %s opened", self.path.name)

    def close(self) -> None:
        logging.getLogger("station.session").info("session log closed")
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self.handler)
            logger.setLevel(self._levels.get(name, logging.NOTSET))
        self.handler.close()
