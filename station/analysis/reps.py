"""Summary across repetitions: best, mean, coefficient of variation, reps to repeat."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from station.analysis.results import ALGORITHM_VERSION, fnum, jsonable


@dataclass(frozen=True)
class RepSummary:
    """Summary of per-rep peak values (N, or any positive unit; results share its unit).

    flagged: indices of reps more than ``drop_pct`` % below the best, plus invalid reps
        (None / NaN, e.g. a rep without a rise).
    needs_another: True when any rep is flagged, so the protocol can ask for another.
    cv_pct: sample SD (ddof=1) / mean * 100 of the valid reps; None with fewer than 2.
    """

    n_reps: int
    n_valid: int
    best: float | None
    best_index: int | None
    mean: float | None
    sd: float | None
    cv_pct: float | None
    threshold: float | None
    flagged: tuple[int, ...]
    invalid: tuple[int, ...]
    needs_another: bool
    drop_pct: float
    notes: tuple[str, ...] = ()
    algorithm_version: str = ALGORITHM_VERSION

    @property
    def parameters(self) -> dict[str, Any]:
        return {"drop_pct": self.drop_pct}

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in (
            "n_reps", "n_valid", "best", "best_index", "mean", "sd", "cv_pct", "threshold",
            "flagged", "invalid", "needs_another", "drop_pct", "algorithm_version")}
        out["parameters"] = self.parameters
        out["notes"] = list(self.notes)
        return jsonable(out)


def summarize_reps(peaks_n: Sequence[float | None], drop_pct: float = 10.0) -> RepSummary:
    """Best, mean, SD, CV of the reps' peaks; flag reps more than ``drop_pct`` % below the best.

    A rep is flagged when ``peak < best * (1 - drop_pct / 100)``. None/NaN entries count as
    invalid reps (flagged, excluded from the statistics). Never raises on odd input.
    """
    values = np.array([np.nan if (x := fnum(v)) is None else x for v in peaks_n], dtype=np.float64)
    valid = np.isfinite(values)
    invalid = tuple(int(i) for i in np.flatnonzero(~valid))
    notes: list[str] = []
    if invalid:
        notes.append(f"rep(s) {', '.join(str(i + 1) for i in invalid)} without a valid peak")
    n_valid = int(valid.sum())
    if n_valid == 0:
        notes.append("no valid reps")
        return RepSummary(values.size, 0, None, None, None, None, None, None, invalid, invalid,
                          bool(values.size == 0 or invalid), float(drop_pct), tuple(notes))
    good = values[valid]
    best_index = int(np.flatnonzero(valid)[int(np.argmax(good))])
    best = float(values[best_index])
    mean = float(good.mean())
    sd = float(good.std(ddof=1)) if n_valid > 1 else None
    cv = None
    if sd is None:
        notes.append("coefficient of variation needs at least 2 valid reps")
    elif mean <= 0:
        notes.append("coefficient of variation undefined for a non-positive mean")
    else:
        cv = sd / mean * 100.0
    threshold = best * (1.0 - drop_pct / 100.0)
    low = tuple(int(i) for i in np.flatnonzero(valid & (values < threshold)))
    if low:
        notes.append(
            f"rep(s) {', '.join(str(i + 1) for i in low)} more than {drop_pct:g} % below the best "
            f"({best:.4g}): consider another rep")
    flagged = tuple(sorted(set(low) | set(invalid)))
    return RepSummary(values.size, n_valid, best, best_index, mean, sd, cv, threshold, flagged, invalid,
                      bool(flagged), float(drop_pct), tuple(notes))


__all__ = ["RepSummary", "summarize_reps"]
