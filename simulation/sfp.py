"""A simulated SFP v1 board (Station Frame Protocol, ``docs/protocols/sfp.md``) on a pty.

Written from the protocol document, independently of :mod:`drivers.sfp`: frames are packed
here with :mod:`struct` and ``zlib.crc32`` one by one, while the driver decodes them with
vectorised CRC tables, so the two implementations check each other.
"""
from __future__ import annotations

import struct
import zlib
from typing import ClassVar

import numpy as np

from drivers.base import DeviceError
from simulation.forces import ForceSource, RepeatingEfforts
from simulation.landing import LandingScenario
from simulation.loadcell import LoadCellModel, plate_cells
from simulation.pty_simulator import PtySimulator

CHANNELS_MAX = 16
#: highest rate the simulated board accepts, Hz
MAX_RATE = 10_000.0


def sfp_frames(seq: np.ndarray, time_us: np.ndarray, counts: np.ndarray) -> bytes:
    """Wire bytes of one frame per row: ``A5 5A 01 n``, seq u16, time µs u32, n × i32, CRC-32
    (over everything after the sync) u32, all little-endian. ``seq``/``time_us`` wrap."""
    counts = np.asarray(counts, dtype=np.int64)
    m, n = counts.shape
    if not 1 <= n <= CHANNELS_MAX:
        raise ValueError(f"SFP frames carry 1..{CHANNELS_MAX} channels, got {n}")
    body = struct.Struct(f"<BBHI{n}i")
    out = bytearray()
    for s, t, row in zip((np.asarray(seq, dtype=np.int64) % 2**16).tolist(),
                         (np.asarray(time_us, dtype=np.int64) % 2**32).tolist(), counts.tolist(), strict=True):
        payload = body.pack(1, n, s, t, *row)
        out += b"\xa5\x5a" + payload + struct.pack("<I", zlib.crc32(payload))
    return bytes(out)


class SfpSimulator(PtySimulator):
    """An SFP board on a pty: ``channels`` load cells (one :class:`LoadCellModel` each).

    Device time is the sample index in µs since ``START`` plus ``time_offset_us`` (wrapping at
    2^32), the sequence number the index plus ``seq_offset`` (wrapping at 2^16), so tests can
    force both wraps quickly. ``RATE`` is refused while streaming. Faults on top of the base
    class's: :meth:`corrupt_next_crc`.
    """

    family: ClassVar[str] = "sfp"
    command_terminators: ClassVar[bytes] = b"\r\n"

    def __init__(self, source: ForceSource, *, channels: int = 8, rate_hz: float = 1000.0, seed: int = 0,
                 model: str = "SIM-SFP", serial_no: str = "SIM-SFP-0001", firmware: str = "1.0.0",
                 cells: list[LoadCellModel] | None = None, time_offset_us: int = 0, seq_offset: int = 0) -> None:
        if not 1 <= channels <= CHANNELS_MAX:
            raise ValueError(f"SFP simulator channels must be 1..{CHANNELS_MAX}, got {channels}")
        if getattr(source, "channels", channels) != channels:
            raise ValueError(f"force source has {source.channels} channels, the simulator {channels}")
        super().__init__(source, rate_hz=rate_hz, seed=seed)
        self.channels = channels
        self.model, self.serial_no, self.firmware = model, serial_no, firmware
        self.cells = cells if cells is not None else default_cells(channels, seed)
        if len(self.cells) != channels:
            raise ValueError(f"{len(self.cells)} load cell models for {channels} channels")
        self.time_offset_us = int(time_offset_us)
        self.seq_offset = int(seq_offset)
        self._corrupt_crcs = 0

    def corrupt_next_crc(self, frames: int = 1) -> None:
        """Send the next ``frames`` frames with a wrong CRC."""
        with self._lock:
            self._corrupt_crcs += frames

    def info_line(self) -> bytes:
        return (f"SFP1 model={self.model} serial={self.serial_no} channels={self.channels} "
                f"rate_hz={self.rate_hz:g} fw={self.firmware}\n").encode("ascii")

    def handle_command(self, line: bytes) -> bytes | None:
        text = line.strip().decode("ascii", "replace")
        words = text.split()
        if not words:
            return None
        cmd = words[0].upper()
        if cmd == "INFO" and len(words) == 1:
            return self.info_line()
        if cmd == "RATE":
            if len(words) != 2:
                return b"ERR usage: RATE <hz>\n"
            try:
                rate = float(words[1])
            except ValueError:
                return f"ERR bad rate {words[1]!r}\n".encode("ascii", "replace")
            if not 0 < rate <= MAX_RATE:
                return f"ERR rate {words[1]} out of range (0 < rate <= {MAX_RATE:g} Hz)\n".encode("ascii", "replace")
            if self.streaming:
                return b"ERR busy streaming (send STOP first)\n"
            self.rate_hz = rate
            return b"OK\n"
        if cmd == "START" and len(words) == 1:
            if not self.streaming:
                self.begin_streaming()
            return None
        if cmd == "STOP" and len(words) == 1:
            self.end_streaming()
            return None
        return f"ERR unknown command {text[:40]!r}\n".encode("ascii", "replace")

    def encode_samples(self, t_s: np.ndarray, force_n: np.ndarray, index: np.ndarray) -> bytes:
        counts = np.empty((index.size, self.channels), dtype=np.int64)
        for i, cell in enumerate(self.cells):
            counts[:, i] = cell.counts(force_n[:, i], t_s)
        time_us = self.time_offset_us + np.rint(index * (1e6 / self.rate_hz)).astype(np.int64)
        data = sfp_frames(self.seq_offset + index, time_us, counts)
        if self._corrupt_crcs and index.size:
            size = 14 + 4 * self.channels
            k = min(self._corrupt_crcs, index.size)
            raw = bytearray(data)
            for f in range(k):
                raw[(f + 1) * size - 1] ^= 0xFF
            self._corrupt_crcs -= k
            data = bytes(raw)
        return data


def default_cells(channels: int, seed: int = 0) -> list[LoadCellModel]:
    """Load cells for a simulated board: whole plates of 4 (``plate_cells``), cut to ``channels``,
    with a real cell's small imperfections: non-linearity (k2 = 2e-6 /N, 0.02 % FS end-point at
    400 N), hysteresis (play ±0.1 N) and zero drift (1 count/s, 0.001 N/s)."""
    return plate_cells(-(-channels // 4), seed=seed, quadratic_per_n=2e-6, hysteresis_n=0.1,
                       drift_counts_per_s=1.0)[:channels]


def make_simulator(options: dict[str, str], source: ForceSource | None = None) -> SfpSimulator:
    """An SFP simulator. Options: ``channels`` (1..16, default 8, or the source's), ``rate``
    (Hz, default 1000), ``seed``, ``model``, ``serial``, ``fw``, ``time_offset_us``,
    ``seq_offset``; ``scenario`` ``efforts`` (default: :class:`RepeatingEfforts`) or
    ``landing`` (:class:`~simulation.landing.LandingScenario` in auto mode, 4 or 8
    channels, with ``body_weight`` N, ``asymmetry`` (L−R)/(L+R), ``period`` s). A given
    ``source`` is used as is.
    """
    def number(key: str, default: float, kind: type = float) -> float:
        raw = options.get(key)
        if raw in (None, ""):
            return default
        try:
            return kind(raw)
        except ValueError:
            raise DeviceError(f"sim:sfp: {key} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None

    default_channels = int(getattr(source, "channels", 8)) if source is not None else 8
    channels = int(number("channels", default_channels, int))
    if not 1 <= channels <= CHANNELS_MAX:
        raise DeviceError(f"sim:sfp: channels must be 1..{CHANNELS_MAX}, got {channels}")
    if source is not None and getattr(source, "channels", channels) != channels:
        raise DeviceError(f"sim:sfp: channels={channels} but the force source has {source.channels}")
    rate = number("rate", 1000.0)
    if not 0 < rate <= MAX_RATE:
        raise DeviceError(f"sim:sfp: rate must be in (0, {MAX_RATE:g}] Hz, got {rate:g}")
    seed = int(number("seed", 0, int))
    time_offset_us = int(number("time_offset_us", 0, int)) % 2**32
    seq_offset = int(number("seq_offset", 0, int)) % 2**16
    if source is None:
        scenario = options.get("scenario", "efforts") or "efforts"
        if scenario == "efforts":
            source = RepeatingEfforts(channels, seed=seed)
        elif scenario == "landing":
            if channels not in (4, 8):
                raise DeviceError(f"sim:sfp: the landing scenario needs 4 or 8 channels (1 or 2 plates), got {channels}")
            try:
                source = LandingScenario(
                    channels=channels, seed=seed,
                    body_weight_n=number("body_weight", 700.0),
                    asymmetry=number("asymmetry", 0.08),
                    auto_period_s=number("period", 10.0),
                )
            except ValueError as exc:
                raise DeviceError(f"sim:sfp: {exc}") from None
        else:
            raise DeviceError(f"sim:sfp: unknown scenario {scenario!r} (expected efforts or landing)")
    return SfpSimulator(
        source, channels=channels, rate_hz=rate, seed=seed,
        model=options.get("model") or f"SIM-SFP{channels}",
        serial_no=options.get("serial") or "SIM-SFP-0001",
        firmware=options.get("fw") or "1.0.0",
        time_offset_us=time_offset_us, seq_offset=seq_offset,
    )
