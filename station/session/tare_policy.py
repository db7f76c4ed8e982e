"""When a zero (tare) may be taken, and the calibrated range forces are judged against.

A zero taken under load shifts every later force by that load (a zero during a 198 N push
made the next 200 N pushes read 130 N and 53 N). So a zero is accepted only when, on every
channel in use, the load over the zero window is

* **small**: its mean, measured from the calibration's own zero (the cumulative tare plus
  what the channel reads now), within ``max_load_fraction`` of the channel's calibrated
  range (at least ``max_load_floor_n``), and
* **steady**: its standard deviation within ``max_sd_fraction`` of the range (at least
  ``max_sd_floor_n``).

Otherwise it is refused with one line naming the load and the device. A change of the zero
since the previous one larger than ``drift_warn_fraction`` of the range (at least
``drift_warn_floor_n``) is accepted with a warning (a drifting cell or a zero taken with a
light touch). Thresholds are stored with every zero in the session file.

The calibrated range of a channel is the largest reference load of its calibration; for a
device calibrated at the factory (it reports newtons), its rated capacity when known.
Pure functions; forces in N.
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Range assumed when a channel's calibrated range is unknown, N (thresholds scale from it).
UNKNOWN_RANGE_N = 500.0

#: Mark-10 Series 5/7 gauges: "M5-100" is rated 500 N (the model number is the lbF capacity ×1/5 of N).
_MARK10_MODEL = re.compile(r"^M[3-7]I?-(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ZeroPolicy:
    """Thresholds of :func:`judge_zero`, as fractions of the calibrated range with floors (N)."""

    max_load_fraction: float = 0.02
    max_load_floor_n: float = 5.0
    max_sd_fraction: float = 0.005
    max_sd_floor_n: float = 1.0
    drift_warn_fraction: float = 0.01
    drift_warn_floor_n: float = 2.0
    window_s: float = 0.5
    #: the automatic zero at the start of a test waits up to this long (s of samples) while
    #: the load is still settling towards zero, sliding its window, before it decides: the
    #: patient may still be relaxing from the previous test's last effort (a push held
    #: steady is refused at once)
    settle_s: float = 2.0

    def limits_n(self, range_n: float | None) -> dict[str, float]:
        r = range_n if range_n is not None and math.isfinite(range_n) and range_n > 0 else UNKNOWN_RANGE_N
        return {"range_n": r,
                "max_load_n": max(self.max_load_floor_n, self.max_load_fraction * r),
                "max_sd_n": max(self.max_sd_floor_n, self.max_sd_fraction * r),
                "drift_warn_n": max(self.drift_warn_floor_n, self.drift_warn_fraction * r)}

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class ZeroDecision:
    """The verdict on one device's zero: accepted or refused (``message``), plus warnings."""

    device_id: str
    accepted: bool
    message: str
    load_n: list[float | None]  # mean load per channel over the window, from the calibration zero
    sd_n: list[float | None]
    drift_n: list[float | None]  # change since the previous accepted zero
    limits: list[dict[str, float] | None]
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "message": self.message, "load_n": self.load_n, "sd_n": self.sd_n,
                "drift_n": self.drift_n, "limits": self.limits, "warnings": list(self.warnings)}


def judge_zero(device_id: str, window: np.ndarray, cumulative_tare_n: np.ndarray, channels: list[int],
               ranges_n: list[float | None], policy: ZeroPolicy = ZeroPolicy(), label: str | None = None
               ) -> ZeroDecision:
    """Judge a zero of ``device_id`` from ``window`` (n × channels, N, as the pipeline reads:
    calibrated minus the current tare) on ``channels`` in use. ``cumulative_tare_n``: the tare
    in force now (N per channel). ``ranges_n``: calibrated range per channel (None: unknown)."""
    window = np.asarray(window, dtype=np.float64)
    width = window.shape[1] if window.ndim == 2 else len(cumulative_tare_n)
    load: list[float | None] = [None] * width
    sd: list[float | None] = [None] * width
    drift: list[float | None] = [None] * width
    limits: list[dict[str, float] | None] = [None] * width
    refused: list[str] = []
    warnings: list[str] = []
    name = label or device_id
    if window.ndim != 2 or window.shape[0] < 2:
        return ZeroDecision(device_id, False, f"zero refused: no samples from {name}; check the cable and "
                            "press t again", load, sd, drift, limits)
    for c in channels:
        col = window[:, c]
        if not np.isfinite(col).all():
            continue  # a channel without calibration (NaN): nothing to zero
        lim = policy.limits_n(ranges_n[c] if c < len(ranges_n) else None)
        limits[c] = lim
        now = float(col.mean())
        load_c = float(cumulative_tare_n[c]) + now
        sd_c = float(col.std(ddof=1))
        load[c], sd[c], drift[c] = load_c, sd_c, now
        if abs(load_c) > lim["max_load_n"]:
            refused.append(f"{load_c:.0f} N")
        elif sd_c > lim["max_sd_n"]:
            refused.append(f"unsteady ({sd_c:.1f} N SD)")
        elif abs(now) > lim["drift_warn_n"]:
            warnings.append(f"zero of {name} channel {c} moved {now:+.1f} N since the previous zero "
                            f"(warning above {lim['drift_warn_n']:.1f} N): check the cell and that nothing touched it")
    if refused:
        what = refused[0] if len(set(refused)) == 1 else ", ".join(refused)
        total = sum(v for c, v in enumerate(load) if v is not None and c in channels)
        if all(r.endswith(" N") for r in refused) and len(refused) > 1:
            what = f"{total:.0f} N"
        return ZeroDecision(device_id, False, f"zero refused: {what} on {name}; unload it and press t again",
                            load, sd, drift, limits, tuple(warnings))
    return ZeroDecision(device_id, True, "", load, sd, drift, limits, tuple(warnings))


def still_changing(window: np.ndarray, channels: list[int], *, floor_n: float = 0.1, sigmas: float = 3.0,
                   falling: bool = False) -> bool:
    """True when the load in ``window`` (n × channels, N) is still drifting on a channel in
    use: the means of its two halves differ by more than ``sigmas`` standard errors of that
    difference (and by more than ``floor_n``). The noise is estimated from sample-to-sample
    differences, which a slow change (a limb relaxing after an effort) does not inflate. A
    zero taken on such a window would be off by part of the change, even when it is steady
    enough for :func:`judge_zero`. ``falling``: only a load falling towards zero counts (the
    second half at most 80 % of the first: a limb letting go, not a push held steady)."""
    w = np.asarray(window, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] < 8:
        return False
    half = w.shape[0] // 2
    for c in channels:
        if c >= w.shape[1]:
            continue
        col = w[:, c]
        if not np.isfinite(col).all():
            continue
        noise = float(np.std(np.diff(col), ddof=1)) / math.sqrt(2.0)
        first, second = float(col[:half].mean()), float(col[half:].mean())
        if falling and not abs(second) <= 0.8 * abs(first):
            continue
        if abs(first - second) > max(floor_n, sigmas * noise * math.sqrt(2.0 / half)):
            return True
    return False


def _capacity_from_info(info: Any) -> float | None:
    settings = getattr(info, "settings", None) or {}
    cap = settings.get("capacity_n") if isinstance(settings, dict) else None
    if isinstance(cap, (int, float)) and cap > 0:
        return float(cap)
    if getattr(info, "family", "") == "mark10":
        m = _MARK10_MODEL.match(getattr(info, "model", "") or "")
        if m:
            return 5.0 * float(m.group(1))
    return None


def calibrated_range_n(snapshot: dict[str, Any], info: Any) -> list[float | None]:
    """Per channel, the largest force its calibration covers (N): the largest reference load
    of a multi-point record, else the device's rated capacity, else None (unknown)."""
    n = int(getattr(info, "channels", 0) or len(snapshot.get("channels") or []))
    records = {r.get("record_id"): r for r in (snapshot.get("records") or []) if isinstance(r, dict)}
    capacity = _capacity_from_info(info)
    out: list[float | None] = [None] * n
    for ch in snapshot.get("channels") or []:
        c = ch.get("channel")
        if not isinstance(c, int) or not 0 <= c < n:
            continue
        rec = records.get(ch.get("record_id")) if ch.get("applied") else None
        loads = [abs(float(p["load_n"])) for p in (rec or {}).get("points") or [] if isinstance(p, dict)
                 and isinstance(p.get("load_n"), (int, float))]
        out[c] = max(loads) if loads and max(loads) > 0 else capacity
    if not snapshot.get("channels"):
        out = [capacity] * n
    return out


def beyond_range(force_n: np.ndarray, ranges_n: list[float | None], channels: list[int]) -> list[dict[str, float]]:
    """Channels whose force went beyond the calibrated range in a trial: channel, max |N|, range."""
    out: list[dict[str, float]] = []
    f = np.asarray(force_n, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0:
        return out
    for c in channels:
        r = ranges_n[c] if c < len(ranges_n) else None
        if r is None or c >= f.shape[1]:
            continue
        col = f[:, c]
        col = col[np.isfinite(col)]
        if col.size and float(np.abs(col).max()) > r:
            out.append({"channel": c, "max_abs_n": float(np.abs(col).max()), "range_n": float(r)})
    return out
