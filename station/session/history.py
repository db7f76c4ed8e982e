"""Earlier sessions of the same patient: the baseline for reassessment (EPIC-style).

LSI alone overestimates recovery when both limbs weaken after injury (Wellsandt et al. 2017),
so the involved side is also compared with the same patient's first session of the same
protocol in the session directory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from station.errors import UserError
from station.storage.reader import summarize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EarlierBest:
    """Best peak force (N) per side of one protocol in an earlier session file."""

    path: Path
    created_utc: str
    best_n: dict[str, float]


def earliest_session_best(directory: Path, patient_id: str, protocol_id: str,
                          exclude: Path | None = None) -> EarlierBest | None:
    """The first (oldest) complete test of ``protocol_id`` for ``patient_id`` in ``directory``."""
    found: list[EarlierBest] = []
    for path in sorted(directory.glob("*.h5")):
        if exclude is not None and path.resolve() == exclude.resolve():
            continue
        try:
            info = summarize(path)
        except (UserError, OSError, KeyError, ValueError) as exc:  # unreadable files are not a baseline
            log.debug("skipping %s: %s", path, exc)
            continue
        if info["session"].get("patient_id") != patient_id:
            continue
        for test in info["tests"]:
            if test["protocol_id"] != protocol_id or test["status"] != "complete":
                continue
            best = {side: s["best_n"] for side, s in test["sides"].items() if s.get("best_n")}
            if best:
                found.append(EarlierBest(path, info.get("created_utc") or "", best))
    return min(found, key=lambda e: e.created_utc) if found else None
