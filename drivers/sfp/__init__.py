"""Station Frame Protocol (SFP) v1: our open binary protocol for multi-channel ADC boards.

Wire protocol (see ``docs/protocols/sfp.md``), little-endian. A frame is::

    A5 5A | ver=1 | n | seq:u16 | time_us:u32 | n x counts:i32 | crc:u32

14 + 4n bytes, ``crc`` = CRC-32 (IEEE, ``zlib.crc32``) over bytes 2 up to the last channel
byte. ``seq`` wraps at 2^16, ``time_us`` (device clock, µs) at 2^32. Host commands are ASCII
lines ending in LF: ``INFO`` → ``SFP1 model=… serial=… channels=<n> rate_hz=<r> fw=…``;
``RATE <hz>`` → ``OK``; ``START`` → frames stream (no reply); ``STOP`` → streaming ends (no
reply); anything else → ``ERR <text>``. Empty lines are ignored.

Decoding is vectorised per byte block: the CRC of every frame in a block is computed at once
with per-position lookup tables (CRC-32 is affine in the message bits), so no Python code
runs per frame or per byte in the common case.

One concern per module: :mod:`~drivers.sfp.wire` (constants, units, record layout),
:mod:`~drivers.sfp.decoder` (bytes → values, counting every fault), :mod:`~drivers.sfp.driver`
(identification, options, streaming). The simulator is :mod:`simulation.sfp`.
"""
from drivers.sfp.decoder import (  # noqa: F401
    SfpDecoder,
    _diff_from,
)
from drivers.sfp.driver import (  # noqa: F401
    DeviceClock,
    SfpDriver,
)
from drivers.sfp.wire import (  # noqa: F401
    _GATHER_MAX_ROWS,
    _REPLY,
    CRC_BYTES,
    HEADER_BYTES,
    MAX_CHANNELS,
    MAX_RATE_HZ,
    SEQ_MODULO,
    SYNC,
    TIME_MODULO,
    VERSION,
    SfpErrorReply,
    SfpFrames,
    _table_offsets,
    crc32_rows,
    crc_tables,
    encode_frames,
    frame_bytes,
    frame_dtype,
    frame_head,
    parse_info,
    strip_frames,
)

DRIVER = SfpDriver
DECODER = SfpDecoder
