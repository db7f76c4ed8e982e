"""Earlier sessions of the same patient: the baseline for reassessment (EPIC-style).

LSI alone overestimates recovery when both limbs weaken after injury (Wellsandt et al. 2017),
so the involved side is also compared with the same patient's first session of the same
protocol in the session directory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from station.errors import StationError
from station.storage.reader import summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlierBest:
    """Best peak force (N) per side of one protocol in an earlier session file."""

    path: Path
    created_utc: str
    best_n: dict[str, float]


class PatientHistory:
    """Complete tests of one patient in ``directory``, read once (each file is opened once
    per session, not once per test) and then looked up by protocol."""

    def __init__(self, directory: Path, patient_id: str, exclude: Path | None = None) -> None:
        self.directory, self.patient_id, self.exclude = directory, patient_id, exclude
        self._by_protocol: dict[str, list[EarlierBest]] | None = None

    def _scan(self) -> dict[str, list[EarlierBest]]:
        found: dict[str, list[EarlierBest]] = {}
        for path in sorted(self.directory.glob("*.h5")):
            if self.exclude is not None and path.resolve() == self.exclude.resolve():
                continue
            try:
                info = summarize(path)
            except (StationError, OSError, KeyError, ValueError) as exc:  # unreadable files are not a baseline
                log.debug("skipping %s: %s", path, exc)
                continue
            if info["session"].get("patient_id") != self.patient_id:
                continue
            for test in info["tests"]:
                if test["status"] != "complete":
                    continue
                best = {side: s["best_n"] for side, s in test["sides"].items() if s.get("best_n")}
                if best:
                    found.setdefault(test["protocol_id"], []).append(
                        EarlierBest(path, info.get("created_utc") or "", best))
        return found

    def earliest(self, protocol_id: str) -> EarlierBest | None:
        """The first (oldest) complete test of ``protocol_id``."""
        if self._by_protocol is None:
            self._by_protocol = self._scan()
        tests = self._by_protocol.get(protocol_id)
        return min(tests, key=lambda e: e.created_utc) if tests else None

