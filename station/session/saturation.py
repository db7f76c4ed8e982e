"""Saturation seen live, while a trial records: a channel in use beyond its calibrated range, or
its raw reading at the limit of the device's ADC.

Either way the peak the station reports may be under-read, so the operator must see it during
the trial, not only in the file. :class:`SaturationWatch` is a pipeline listener (it runs on the
pipeline thread, a few numpy reductions per block); the engine polls :meth:`SaturationWatch.take_new`
at every UI tick and emits :class:`~station.session.events.Saturation` once per device, channel
and kind per trial. The trial's quality flags say it again when it ends.

- **Calibrated range** (N): :func:`~station.session.tare_policy.calibrated_range_n` (the largest
  reference load of the channel's calibration, else the rated capacity). The force compared is
  absolute: the tared force with the zero added back, as the end-of-trial check does.
- **ADC limit** (counts): from ``DeviceInfo.settings["adc_bits"]`` when the device reports it
  (any family; an SFP board may send ``adc_bits=<n>`` in its INFO reply), else the known
  converter of the family (OpenScale: the HX711's 24-bit two's complement; Loadstar in counts
  mode: ±0xFFFFFF). Devices that report newtons have none.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

#: the raw range (lowest, highest count) of families whose converter is known
_FAMILY_LIMITS: dict[str, tuple[float, float]] = {
    "openscale": (-(2.0 ** 23), 2.0 ** 23 - 1),
    "loadstar": (-float(0xFFFFFF), float(0xFFFFFF)),
}


def raw_limits(info: Any) -> tuple[float, float] | None:
    """(lowest, highest) raw count the device's ADC can give, or None when unknown or not counts."""
    if getattr(info, "unit", "N") != "counts":
        return None
    settings = getattr(info, "settings", None) or {}
    bits = settings.get("adc_bits") if isinstance(settings, dict) else None
    try:
        b = int(bits) if bits is not None else 0
    except (TypeError, ValueError):
        b = 0
    if 2 <= b <= 32:
        return -(2.0 ** (b - 1)), 2.0 ** (b - 1) - 1
    return _FAMILY_LIMITS.get(str(getattr(info, "family", "")))


@dataclass(frozen=True)
class SaturationHit:
    """``kind`` "range": |force| ``value`` (N) beyond the calibrated ``limit`` (N); "adc": raw
    ``value`` (counts) at the ADC's ``limit`` (counts)."""

    device_id: str
    channel: int
    kind: Literal["range", "adc"]
    value: float
    limit: float

    def describe(self) -> str:
        if self.kind == "range":
            return (f"{self.device_id} channel {self.channel} read {self.value:.0f} N, "
                    f"beyond its calibrated range of {self.limit:.0f} N")
        return f"{self.device_id} channel {self.channel} raw reading at the ADC limit ({self.value:.0f} counts)"


class SaturationWatch:
    """Pipeline listener for one trial. ``channels``: device → channels in use; ``ranges_n``:
    device → calibrated range per channel (None: unknown); ``limits``: device → raw ADC range
    or None; ``tare_n``: device → the zero subtracted from ``force_n`` (N per channel)."""

    def __init__(self, channels: dict[str, list[int]], ranges_n: dict[str, list[float | None]],
                 limits: dict[str, tuple[float, float] | None], tare_n: dict[str, np.ndarray]) -> None:
        self._lock = threading.Lock()
        self._range: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._adc: dict[str, tuple[np.ndarray, float, float]] = {}
        self.tare_n = tare_n
        for device_id, chans in channels.items():
            ranges = ranges_n.get(device_id) or []
            known = [c for c in chans if c < len(ranges) and ranges[c] is not None]
            if known:
                self._range[device_id] = (np.array(known, dtype=np.intp),
                                          np.array([float(ranges[c]) for c in known]))  # type: ignore[arg-type]
            lim = limits.get(device_id)
            if lim is not None and chans:
                self._adc[device_id] = (np.array(chans, dtype=np.intp), float(lim[0]), float(lim[1]))
        self._hits: dict[tuple[str, int, str], SaturationHit] = {}
        self._new: list[SaturationHit] = []

    @property
    def active(self) -> bool:
        """False when no channel has a known range or ADC limit (nothing to watch)."""
        return bool(self._range or self._adc)

    def on_block(self, block: Any) -> None:
        device_id = block.device_id
        found: list[SaturationHit] = []
        r = self._range.get(device_id)
        if r is not None and block.force_n.size:
            chans, limit = r
            zero = np.asarray(self.tare_n.get(device_id, 0.0), dtype=np.float64)
            zero = zero[chans] if zero.ndim else np.zeros(chans.size)
            absolute = np.abs(block.force_n[:, chans] + np.where(np.isfinite(zero), zero, 0.0))
            peak = np.fmax.reduce(absolute, axis=0)
            for i in np.flatnonzero(peak > limit):
                found.append(SaturationHit(device_id, int(chans[i]), "range", float(peak[i]), float(limit[i])))
        a = self._adc.get(device_id)
        if a is not None and block.raw.size:
            chans, lo, hi = a
            raw = block.raw[:, chans]
            top, bottom = np.fmax.reduce(raw, axis=0), np.fmin.reduce(raw, axis=0)
            for i in np.flatnonzero((top >= hi) | (bottom <= lo)):
                at_top = bool(top[i] >= hi)
                found.append(SaturationHit(device_id, int(chans[i]), "adc", float(top[i] if at_top else bottom[i]),
                                           hi if at_top else lo))
        if not found:
            return
        with self._lock:
            for h in found:
                key = (h.device_id, h.channel, h.kind)
                old = self._hits.get(key)
                if old is None:
                    self._new.append(h)
                if old is None or abs(h.value) > abs(old.value):
                    self._hits[key] = h

    def take_new(self) -> list[SaturationHit]:
        """Hits first seen since the last call (each device, channel and kind once per trial)."""
        with self._lock:
            out, self._new = self._new, []
        return out

    def hits(self) -> list[SaturationHit]:
        """Every hit of the trial, with the largest value seen."""
        with self._lock:
            return list(self._hits.values())
