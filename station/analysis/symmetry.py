"""Between-limb symmetry: limb symmetry index, signed asymmetry index, recovery vs a baseline.

Definitions and sources in ``docs/metrics.md``. Inputs are any like-for-like quantity of the
two limbs (peak force N, torque N*m, impulse N*s ...); outputs are percentages.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from station.analysis.results import ALGORITHM_VERSION, fnum, jsonable


@dataclass(frozen=True)
class SymmetryResult:
    """A ratio in percent with an optional pass mark.

    kind: "lsi" (involved / uninvolved * 100) or "relative_to_baseline"
        (current involved / baseline * 100, EPIC-style).
    value_pct: the ratio in %, None if it cannot be computed (see notes).
    passed: value_pct >= pass_pct (None when value_pct is None).
    """

    kind: str
    value_pct: float | None
    passed: bool | None
    pass_pct: float
    numerator: float | None
    denominator: float | None
    baseline_label: str | None = None
    notes: tuple[str, ...] = ()
    algorithm_version: str = ALGORITHM_VERSION

    @property
    def parameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pass_pct": self.pass_pct}
        if self.baseline_label is not None:
            out["baseline_label"] = self.baseline_label
        return out

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "kind": self.kind, "value_pct": self.value_pct, "passed": self.passed,
            "pass_pct": self.pass_pct, "numerator": self.numerator, "denominator": self.denominator,
            "baseline_label": self.baseline_label, "algorithm_version": self.algorithm_version,
            "parameters": self.parameters, "notes": list(self.notes),
        })


@dataclass(frozen=True)
class AsymmetryResult:
    """Signed asymmetry when no side is involved: (R - L) / max(R, L) * 100.

    Positive means the right side is higher. ``direction`` is e.g. "right stronger",
    "left stronger" or "equal" (the word comes from the ``label`` argument).
    """

    value_pct: float | None
    abs_pct: float | None
    direction: str | None
    left: float | None
    right: float | None
    label: str = "stronger"
    notes: tuple[str, ...] = ()
    algorithm_version: str = ALGORITHM_VERSION

    @property
    def parameters(self) -> dict[str, Any]:
        return {"label": self.label}

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "value_pct": self.value_pct, "abs_pct": self.abs_pct, "direction": self.direction,
            "left": self.left, "right": self.right, "algorithm_version": self.algorithm_version,
            "parameters": self.parameters, "notes": list(self.notes),
        })


def _ratio(kind: str, num: float | None, den: float | None, pass_pct: float,
           names: tuple[str, str], baseline_label: str | None = None) -> SymmetryResult:
    n, d = fnum(num), fnum(den)
    notes: list[str] = []
    value = None
    if n is None or d is None:
        missing = [name for name, v in zip(names, (n, d), strict=False) if v is None]
        notes.append(f"{' and '.join(missing)} missing or not finite")
    elif d <= 0:
        notes.append(f"{names[1]} must be positive, got {d:g}")
    elif n < 0:
        notes.append(f"{names[0]} must not be negative, got {n:g}")
    else:
        value = n / d * 100.0
    passed = None if value is None else bool(value >= pass_pct)
    return SymmetryResult(kind, value, passed, float(pass_pct), n, d, baseline_label, tuple(notes))


def limb_symmetry_index(involved: float | None, uninvolved: float | None, pass_pct: float = 90.0) -> SymmetryResult:
    """LSI = involved / uninvolved * 100 (%); ``passed`` when LSI >= ``pass_pct`` (default 90 %)."""
    return _ratio("lsi", involved, uninvolved, pass_pct, ("involved", "uninvolved"))


def relative_to_baseline(current: float, baseline: float, pass_pct: float = 90.0, *,
                         baseline_label: str = "uninvolved pre-injury") -> SymmetryResult:
    """Current involved-limb value relative to an earlier value, in % (EPIC-style).

    ``baseline`` is the pre-injury or first-session value of the involved limb, or of the
    uninvolved limb (estimated pre-injury capacity); ``baseline_label`` records which.
    LSI alone overestimates recovery when both limbs have weakened (Wellsandt et al. 2017).
    """
    return _ratio("relative_to_baseline", current, baseline, pass_pct, ("current", "baseline"), baseline_label)


def asymmetry_index(left: float | None, right: float | None, *, label: str = "stronger") -> AsymmetryResult:
    """Signed asymmetry (R - L) / max(R, L) * 100 (%); positive = right higher.

    Symmetric in the sense that swapping the sides flips the sign only. ``label`` is the word
    used in ``direction`` ("right stronger"; use e.g. "higher" for landing loads).
    """
    lv, rv = fnum(left), fnum(right)
    notes: list[str] = []
    if lv is None or rv is None:
        missing = [name for name, v in (("left", lv), ("right", rv)) if v is None]
        notes.append(f"{' and '.join(missing)} missing or not finite")
        return AsymmetryResult(None, None, None, lv, rv, label, tuple(notes))
    top = max(lv, rv)
    if top <= 0 or min(lv, rv) < 0:
        notes.append(f"asymmetry needs non-negative values with a positive maximum (left {lv:g}, right {rv:g})")
        return AsymmetryResult(None, None, None, lv, rv, label, tuple(notes))
    value = (rv - lv) / top * 100.0
    direction = "equal" if value == 0 else (f"right {label}" if value > 0 else f"left {label}")
    return AsymmetryResult(value, math.fabs(value), direction, lv, rv, label, tuple(notes))


__all__ = ["SymmetryResult", "AsymmetryResult", "limb_symmetry_index", "asymmetry_index", "relative_to_baseline"]
