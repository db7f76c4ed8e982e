"""A simulated SFP v1 board (Station Frame Protocol, ``docs/protocols/sfp.md``) on a pty.

Written from the protocol document, independently of :mod:`drivers.sfp`: frames are packed
here with :mod:`struct` and ``zlib.crc32`` one by one, while the driver decodes them with
vectorised CRC tables, so the two implementations check each other.
"""
from __future__ import annotations

import re
import struct
import zlib
from typing import ClassVar

import numpy as np

from drivers.base import DeviceError
from drivers.options import Option, parse_options
from simulation.forces import ForceSource, RepeatingEfforts
from simulation.landing import LandingScenario
from simulation.loadcell import LoadCellModel, plate_cells
from simulation.pty_simulator import PtySimulator

#: the serial number a simulated board reports when its URI names none
DEFAULT_SERIAL = "SIM-SFP-0001"

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
                 model: str = "SIM-SFP", serial_no: str = DEFAULT_SERIAL, firmware: str = "1.0.0",
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


OPTIONS: tuple[Option, ...] = (
    Option("channels", "int", "load cells on the board (default 8, or the force source's)", minimum=1,
           maximum=CHANNELS_MAX),
    Option("rate", "float", "frames per second", default=1000.0, minimum=0, exclusive_minimum=True, maximum=MAX_RATE,
           unit="Hz"),
    Option("seed", "int", "random seed of the simulated signals", default=0),
    Option("model", "text", "model in the INFO reply (default SIM-SFP<channels>)"),
    Option("serial", "text", "serial number in the INFO reply", default=DEFAULT_SERIAL),
    Option("fw", "text", "firmware version in the INFO reply", default="1.0.0"),
    Option("time_offset_us", "int", "device time of the first frame, µs (to exercise the 2^32 wrap)", default=0,
           minimum=0, maximum=2**32 - 1),
    Option("seq_offset", "int", "sequence number of the first frame (to exercise the 2^16 wrap)", default=0,
           minimum=0, maximum=2**16 - 1),
    Option("scenario", "choice", "what the cells feel: repeating efforts, or landings on 1 or 2 plates",
           default="efforts", choices=("efforts", "landing")),
    Option("body_weight", "float", "landing scenario: body weight", default=700.0, minimum=0, exclusive_minimum=True,
           maximum=5000, unit="N"),
    Option("asymmetry", "float", "landing scenario: (L-R)/(L+R)", default=0.08, minimum=-1, maximum=1),
    Option("period", "float", "landing scenario: seconds between landings", default=10.0, minimum=0,
           exclusive_minimum=True, maximum=3600, unit="s"),
)


def serial_for_role(role: str) -> str | None:
    """The serial number of a simulated plate bound to a left or right role (``plate_left``
    → ``SIM-SFP-LEFT``), so two simulated plates of one session are two devices, each with
    its own calibration records; None for a role that names no side."""
    words = set(re.split(r"[^a-z]+", role.lower()))
    sides = [s for s in ("left", "right") if s in words]
    return f"SIM-SFP-{sides[0].upper()}" if len(sides) == 1 else None


def make_simulator(options: dict[str, str], source: ForceSource | None = None) -> SfpSimulator:
    """An SFP simulator with :data:`OPTIONS` (other keys are left to the driver). A given
    ``source`` is used as is (``scenario`` and its options then do not apply)."""
    v = parse_options(OPTIONS, options, where="sim:sfp", allow_unknown=options)
    source_channels = getattr(source, "channels", None) if source is not None else None
    channels = int(v["channels"] or source_channels or 8)
    if source_channels is not None and source_channels != channels:
        raise DeviceError(f"sim:sfp: channels={channels} but the force source has {source_channels}")
    if source is None:
        if v["scenario"] == "efforts":
            source = RepeatingEfforts(channels, seed=v["seed"])
        else:
            if channels not in (4, 8):
                raise DeviceError(f"sim:sfp: the landing scenario needs 4 or 8 channels (1 or 2 plates), got {channels}")
            try:
                source = LandingScenario(channels=channels, seed=v["seed"], body_weight_n=v["body_weight"],
                                         asymmetry=v["asymmetry"], auto_period_s=v["period"])
            except ValueError as exc:
                raise DeviceError(f"sim:sfp: {exc}") from None
    return SfpSimulator(
        source, channels=channels, rate_hz=v["rate"], seed=v["seed"], model=v["model"] or f"SIM-SFP{channels}",
        serial_no=v["serial"], firmware=v["fw"], time_offset_us=v["time_offset_us"], seq_offset=v["seq_offset"],
    )
