"""Mark-10 force gauges (Series 4/5/7, GCL2 command set): see ``docs/protocols/mark10.md``.

One concern per module: :mod:`~drivers.mark10.wire` (units, replies, the reading format),
:mod:`~drivers.mark10.decoder` (bytes → newtons), :mod:`~drivers.mark10.driver` (commands,
identification, streaming or polling). The simulator is :mod:`simulation.mark10`.
"""
from drivers.mark10.decoder import Mark10Decoder
from drivers.mark10.driver import OPTIONS, Mark10Driver
from drivers.mark10.wire import ERRORS, MAX_AOUT_HZ, UNIT_COMMANDS, UNIT_TO_N, UNITS, unit_factor

DRIVER = Mark10Driver
DECODER = Mark10Decoder

__all__ = ["DECODER", "DRIVER", "ERRORS", "MAX_AOUT_HZ", "OPTIONS", "UNITS", "UNIT_COMMANDS", "UNIT_TO_N",
           "Mark10Decoder", "Mark10Driver", "unit_factor"]
