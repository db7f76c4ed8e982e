"""A simulated Loadstar DI-1000U family interface (DI-100U, DI-1000U, DI-1000UHS, UHS-1K) on a pty.

Written from Loadstar's DI-1000U command reference, independently of :mod:`drivers.loadstar`
(no shared constants). Commands end in CR (an LF is ignored); replies end in CR-LF; ``WC``
streams ``%12.4f`` + CR-LF readings, ``H`` (UHS-1K only) sign + six hex digits + CR records.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from drivers.base import DeviceError
from drivers.options import Option, parse_options
from simulation.forces import ForceSource, RepeatingEfforts
from simulation.loadcell import LoadCellModel
from simulation.pty_simulator import PtySimulator

LBF_N = 0.45359237 * 9.80665
#: newtons per unit as ``UNITS`` answers it (lower-cased); an unknown unit reads as newtons
NEWTONS_PER: dict[str, float] = {"lb": LBF_N, "lbs": LBF_N, "kg": 9.80665, "g": 9.80665e-3, "oz": LBF_N / 16, "n": 1.0,
                                 "kn": 1e3}
#: our reply to a command the interface does not know (the vendor documents none)
ERROR_REPLY = b"E"
#: the spurious raw count the vendor says the UHS-1K sometimes sends
GLITCH_COUNT = -1
#: output rates, readings/s (vendor: DI-1000U 60-80, DI-1000UHS up to 500, UHS-1K WC about 575, H above 1000)
BASE_HZ, HS_HZ, UHS1K_WC_HZ, UHS1K_H_HZ = 80.0, 500.0, 575.0, 2000.0


@dataclass(frozen=True)
class LoadstarModel:
    """What one simulated hardware variant answers and how fast it streams."""

    model: str  # MODEL reply
    wc_hz: float
    h_hz: float | None  # None: no H command
    baudrate: int


MODELS: dict[str, LoadstarModel] = {
    "DI-1000U": LoadstarModel("FCM DI-1000", BASE_HZ, None, 9600),
    "DI-100U": LoadstarModel("FCM DI-100", BASE_HZ, None, 9600),
    "DI-1000UHS": LoadstarModel("FCM DI-1000", HS_HZ, None, 230400),
    # the vendor does not document the UHS-1K's MODEL reply; we assume it names the model
    "UHS-1K": LoadstarModel("FCM DI-1000UHS-1K", UHS1K_WC_HZ, UHS1K_H_HZ, 230400),
}
_MODEL_ALIASES = {"DI-1000UHS-1K": "UHS-1K", "DI-1000": "DI-1000U", "DI-100": "DI-100U"}


def format_wc(values: np.ndarray) -> bytes:
    """``WC`` stream bytes: ``%12.4f`` + CR-LF per value (the DI-1000UHS-1K's documented format)."""
    return "".join("%12.4f\r\n" % v for v in np.asarray(values, dtype=np.float64).tolist()).encode("ascii")


def format_h(counts: np.ndarray) -> bytes:
    """``H`` stream bytes: sign (space or '-') + six hex digits of the magnitude + CR, per count."""
    c = np.clip(np.asarray(counts, dtype=np.int64), -0xFFFFFF, 0xFFFFFF)
    return "".join(("-%06X\r" % -v) if v < 0 else (" %06X\r" % v) for v in c.tolist()).encode("ascii")


class LoadstarSimulator(PtySimulator):
    """A Loadstar interface on a pty: ``model`` one of :data:`MODELS` (default DI-1000U).

    Any line received while streaming stops the stream (its text is discarded), as the
    vendor's "send a CR to stop" describes. Unknown commands are answered ``E`` (our choice).
    ``H`` counts come from a :class:`LoadCellModel`; ``glitch_rate`` makes that fraction of
    ``H`` records the vendor's spurious ``-1``.
    """

    family: ClassVar[str] = "loadstar"
    command_terminators: ClassVar[bytes] = b"\r"

    def __init__(self, source: ForceSource, *, model: str = "DI-1000U", rate_hz: float | None = None, seed: int = 0,
                 unit: str = "LB", capacity: float = 100.0, device_id: str = "FSIM00000001",
                 cell: LoadCellModel | None = None, glitch_rate: float = 0.0) -> None:
        key = _MODEL_ALIASES.get(model.upper(), model.upper())
        if key not in MODELS:
            raise DeviceError(f"sim:loadstar: unknown model {model!r} (expected one of {', '.join(MODELS)})")
        self.spec = MODELS[key]
        self.model_key = key
        super().__init__(source, rate_hz=rate_hz or self.spec.wc_hz, seed=seed)
        self.rate_override = rate_hz
        self.unit = unit
        self.capacity = capacity
        self.device_id = device_id
        self.cell = cell or LoadCellModel(seed=seed)
        self.glitch_rate = glitch_rate
        self.zero_n = 0.0
        self.stream_kind: str | None = None  # "WC" or "H" while streaming
        self.samples_emitted = 0

    # -- helpers ------------------------------------------------------------------------
    def _factor(self) -> float:
        return NEWTONS_PER.get(self.unit.lower(), 1.0)  # an unknown unit reads as N-valued numbers

    def _reading_n(self) -> float:
        return float(self.source.sample(np.array([self.clock()]))[0, 0]) - self.zero_n

    def _start(self, kind: str) -> None:
        self.stream_kind = kind
        rate = self.spec.wc_hz if kind == "WC" else self.spec.h_hz
        self.rate_hz = float(self.rate_override or rate or self.spec.wc_hz)
        self.begin_streaming()

    def replug(self) -> str:
        """Plug back in: the interface powers up idle (not streaming)."""
        self.end_streaming()
        self.stream_kind = None
        return super().replug()

    def _on_bytes(self, data: bytes) -> None:
        # Commands end in CR; an LF is ignored. Unlike the base class, an empty line is a
        # command too (the ping, and "stop streaming").
        self._cmd_buffer += data.replace(b"\n", b"")
        while b"\r" in self._cmd_buffer:
            line, self._cmd_buffer = self._cmd_buffer.split(b"\r", 1)
            self.commands_seen.append(line)
            reply = self.handle_command(line)
            if reply:
                self.send(reply)
        if len(self._cmd_buffer) > 256:
            self._cmd_buffer = self._cmd_buffer[-256:]

    # -- protocol -----------------------------------------------------------------------
    def handle_command(self, line: bytes) -> bytes | None:
        if self.streaming:
            self.end_streaming()
            self.stream_kind = None
            return None
        text = line.decode("ascii", "replace").strip()
        cmd, _, arg = text.partition(" ")
        cmd, arg = cmd.upper(), arg.strip()
        if cmd == "":
            return b"A\r\n"
        if cmd == "MODEL":
            return f"{self.spec.model}\r\n".encode("ascii")
        if cmd == "ID":
            return f"{self.device_id}\r\n".encode("ascii")
        if cmd in ("UNITS", "UNIT"):
            if arg:
                self.unit = arg
            return f"{self.unit}\r\n".encode("ascii")
        if cmd == "LC":
            if arg:
                try:
                    self.capacity = float(arg)
                except ValueError:
                    return ERROR_REPLY + b"\r\n"
            return f"{self.capacity:g}\r\n".encode("ascii")
        if cmd in ("CT0", "TARE"):
            self.zero_n += self._reading_n()
            return b"Tared\r\n"
        if cmd == "W":
            value = self._reading_n() / self._factor()
            return f"{value:.4f}".rstrip("0").rstrip(".").encode("ascii") + b"\r\n"
        if cmd == "WC":
            self._start("WC")
            return None
        if cmd == "H" and self.spec.h_hz:
            self._start("H")
            return None
        if cmd == "SWC" and self.spec.h_hz:
            per_count_n = 1.0 / self.cell.gain_counts_per_n
            return f"{per_count_n / self._factor():.7g}\r\n".encode("ascii")
        return ERROR_REPLY + b"\r\n"

    def encode_samples(self, t_s: np.ndarray, force_n: np.ndarray, index: np.ndarray) -> bytes:
        self.samples_emitted += int(t_s.size)
        if self.stream_kind == "H":
            counts = self.cell.counts(force_n[:, 0], t_s)
            if self.glitch_rate:
                counts = np.where(self.rng.random(counts.size) < self.glitch_rate, GLITCH_COUNT, counts)
            return format_h(counts)
        return format_wc((force_n[:, 0] - self.zero_n) / self._factor())



OPTIONS: tuple[Option, ...] = (
    Option("model", "choice", "hardware variant", default="DI-1000U",
           choices=(*MODELS, *_MODEL_ALIASES)),
    Option("unit", "text", "unit the interface is calibrated in, as UNITS answers", default="LB"),
    Option("rate", "float", "readings/s of both streams (default: the model's)", minimum=0, exclusive_minimum=True,
           maximum=100_000, unit="readings/s"),
    Option("id", "text", "the ID reply", default="FSIM00000001"),
    Option("capacity", "float", "the LC reply (capacity in the calibrated unit)", default=100.0, minimum=0,
           exclusive_minimum=True),
    Option("glitch", "float", "fraction of H records sent as the vendor's spurious -1", default=0.0, minimum=0,
           maximum=1),
    Option("seed", "int", "random seed of the simulated signal", default=0),
)


def make_simulator(options: dict[str, str], source: ForceSource | None = None) -> LoadstarSimulator:
    """A Loadstar simulator with :data:`OPTIONS` (other keys are left to the driver)."""
    v = parse_options(OPTIONS, options, where="sim:loadstar", allow_unknown=options)
    return LoadstarSimulator(
        source or RepeatingEfforts(1), model=v["model"], rate_hz=v["rate"], seed=v["seed"], unit=v["unit"],
        capacity=v["capacity"], device_id=v["id"], glitch_rate=v["glitch"],
    )


def example_stream(n_samples: int, mode: str = "weight", seed: int = 0) -> bytes:
    """Wire bytes of ``n_samples`` readings as a streaming Loadstar sends them.

    ``mode="weight"``: ``WC`` lines in lb (``%12.4f`` + CR-LF) of an isometric effort;
    ``mode="counts"``: ``H`` records (sign + 6 hex + CR) of the same effort through a load cell.
    """
    rate = UHS1K_H_HZ if mode == "counts" else HS_HZ
    t = np.arange(n_samples, dtype=np.float64) / rate
    force = RepeatingEfforts(1, period_s=4.0, lead_s=0.5, duration_s=2.5, seed=seed).sample(t)[:, 0]
    if mode == "counts":
        return format_h(LoadCellModel(seed=seed).counts(force, t))
    if mode != "weight":
        raise ValueError(f"mode must be 'weight' or 'counts', got {mode!r}")
    return format_wc(force / LBF_N)
