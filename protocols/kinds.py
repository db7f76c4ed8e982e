"""What a protocol of each test kind may declare: its device, its metrics, its analysis settings.

This is the protocol-file half of a test kind (pure data, stdlib only: ``protocols`` never
imports ``station``). The station half — how a trial of the kind is analysed, summarised
and printed — is :mod:`station.session.kinds`, which looks the same names up here. To add a
test kind, add a :class:`ProtocolKind` to :data:`PROTOCOL_KINDS` and a
:class:`station.session.kinds.TestKind` beside the two there.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnalysisSetting:
    """One key a protocol's ``[analysis]`` table may set (SI units, the unit is in the name).

    ``gt``/``ge``/``le``: the accepted range; ``windows``: a list of increasing numbers instead
    of one number; ``zero_means_off``: ``0`` turns the step off (a filter cut-off)."""

    key: str
    unit: str
    doc: str
    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    windows: bool = False
    zero_means_off: bool = False


@dataclass(frozen=True)
class ProtocolKind:
    """A test kind as a protocol file sees it.

    ``device_kind``: the device kind one of its roles must have; ``metrics``: the metric
    names it may list (the session shows those it lists); ``lever_arm``: whether
    ``[normalisation]`` may give a lever arm; ``analysis``: the keys of its ``[analysis]`` table."""

    name: str
    device_kind: str
    metrics: tuple[str, ...]
    lever_arm: bool
    analysis: tuple[AnalysisSetting, ...]

    def setting(self, key: str) -> AnalysisSetting:
        """The ``[analysis]`` key called ``key`` (KeyError if this kind has none)."""
        for s in self.analysis:
            if s.key == key:
                return s
        raise KeyError(key)


_FILTER = AnalysisSetting("filter_hz", "Hz", "zero-lag Butterworth low-pass of the whole force trace; 0 = none "
                          "(the default)", ge=0, le=10_000, zero_means_off=True)

ISOMETRIC = ProtocolKind(
    name="isometric",
    device_kind="dynamometer",
    metrics=(
        "peak_force",     # N, highest force of the rep
        "time_to_peak",   # s, from force onset to peak
        "rfd",            # N/s, rate of force development over fixed early windows
        "peak_rfd",       # N/s, steepest slope of the rise
        "impulse",        # N*s, force-time integral of the contraction
        "mean_best_1s",   # N, highest 1 s moving average
        "torque",         # N*m, peak force x lever arm
        "normalised",     # N/kg or N*m/kg, peak (force or torque) / body mass
        "lsi",            # %, limb symmetry index (involved / uninvolved x 100)
    ),
    lever_arm=True,
    analysis=(
        AnalysisSetting("onset_k", "SD", "onset threshold = baseline mean + onset_k x baseline SD (default 3)",
                        gt=0, le=100),
        AnalysisSetting("onset_threshold_n", "N", "onset threshold = baseline mean + this many newtons, "
                        "instead of onset_k", gt=0, le=10_000),
        AnalysisSetting("baseline_window_s", "seconds", "length of the quiet baseline window before the rise "
                        "(default 0.5)", gt=0, le=5),
        AnalysisSetting("rfd_windows_s", "seconds", "RFD and impulse windows from onset, increasing "
                        "(default [0.05, 0.1, 0.15, 0.2])", gt=0, le=2, windows=True),
        AnalysisSetting("peak_rfd_window_s", "seconds", "sliding window of the peak RFD (default 0.02)",
                        gt=0, le=0.5),
        _FILTER,
        AnalysisSetting("rfd_filter_hz", "Hz", "low-pass of the signal for baseline, onset, RFD and impulse "
                        "(default 50); 0 = unfiltered", ge=0, le=10_000, zero_means_off=True),
    ),
)

LANDING = ProtocolKind(
    name="landing",
    device_kind="force_plate",
    metrics=(
        "peak_force",     # N (and x body weight), peak vertical ground reaction force
        "time_to_peak",   # s, from initial contact to peak
        "loading_rate",   # N/s, peak force / time to peak
        "impulse_100ms",  # N*s, impulse over the first 100 ms after contact
        "tts",            # s, time to stabilisation
        "asymmetry",      # %, left vs right plate within one bilateral trial
        "lsi",            # %, limb symmetry index between sides
    ),
    lever_arm=False,
    analysis=(
        AnalysisSetting("contact_min_n", "N", "contact = unloaded offset + at least this force (default 10)",
                        gt=0, le=1_000),
        AnalysisSetting("contact_sd_k", "SD", "contact = unloaded offset + this many SD of the unloaded plate, "
                        "if more (default 5)", gt=0, le=100),
        AnalysisSetting("loading_rate_window_s", "seconds", "window of the peak loading rate (default 0.01)",
                        gt=0, le=0.5),
        AnalysisSetting("tts_band_pct", "percent", "time to stabilisation band, +- % of body weight (default 5)",
                        gt=0, le=50),
        AnalysisSetting("tts_hold_s", "seconds", "time the force must stay in the band (default 1)", gt=0, le=10),
        _FILTER,
    ),
)

#: Every test kind a protocol may have, by name, in the order docs and errors list them.
PROTOCOL_KINDS: dict[str, ProtocolKind] = {k.name: k for k in (ISOMETRIC, LANDING)}
