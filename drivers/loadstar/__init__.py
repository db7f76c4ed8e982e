"""Loadstar Sensors DI-1000U family USB load-cell interfaces (DI-100U, DI-1000U, DI-1000UHS, DI-1000UHS-1K).

Wire protocol (see ``docs/protocols/loadstar.md``): ASCII commands end in CR (an LF is
ignored), replies end in CR-LF. A bare CR is a ping answered ``A``; ``MODEL`` answers
``FCM DI-1000``; ``ID`` the unit identifier; ``UNITS`` the calibrated unit (``LB``, ``Kg``,
``N`` …); ``LC`` the capacity in that unit; ``CT0``/``TARE`` answer ``Tared``; ``W`` one
reading; ``WC`` streams readings (``%12.4f`` + CR-LF) until a CR is sent. The DI-1000UHS-1K
also streams raw A/D counts with ``H``: a sign (space or ``-``) and six hex digits of the
magnitude, each record ended by a CR only, e.g. ``-0000C1`` + CR for -193; ``SWC`` gives the
weight per count. A count of -1 is an artefact the vendor says to ignore.

The device has no clock: samples are stamped with host time (:class:`HostClock`).

One concern per module: :mod:`~drivers.loadstar.wire` (constants, units, record layout),
:mod:`~drivers.loadstar.decoder` (bytes → values, counting every fault), :mod:`~drivers.loadstar.driver`
(identification, options, streaming). The simulator is :mod:`simulation.loadstar`.
"""
from drivers.loadstar.decoder import (  # noqa: F401
    _AR7,
    _HEX,
    _POW16,
    _WC_CHARS,
    _WC_LINE,
    _WC_RECORD_END,
    LoadstarDecoder,
)
from drivers.loadstar.driver import (  # noqa: F401
    _SEGMENTS,
    LoadstarDriver,
    _float_or_none,
)
from drivers.loadstar.wire import (  # noqa: F401
    ACK_REPLIES,
    DI1000U_HZ,
    DI1000UHS_HZ,
    ERROR_REPLY,
    H_GLITCH,
    H_RECORD,
    KGF_N,
    LBF_N,
    MAX_TAIL,
    NON_FORCE_ID_PREFIXES,
    PROBE_BAUDRATES,
    UHS1K_H_HZ,
    UHS1K_WC_HZ,
    UNIT_TO_N,
    WC_RECORD,
    WC_WIDTH,
    unit_factor,
)

DRIVER = LoadstarDriver
DECODER = LoadstarDecoder
