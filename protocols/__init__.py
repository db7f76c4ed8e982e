"""Test protocols as data: TOML files, their loader and validation.

A protocol (hip abduction with a hand-held dynamometer, a bilateral drop landing, ...) is a
TOML file: which devices and channels it needs, the sides and order of the trials, timing,
acceptance rule, metrics, normalisation and the cues shown to patient and clinician. The
built-in protocols live in ``protocols/builtin/``; a clinic adds its own by dropping a
``.toml`` file into the user protocols directory (see :func:`user_protocols_dir`); a user
file with the same ``id`` as a built-in replaces it. The schema is in ``docs/protocols.md``.

    >>> from protocols import get_protocol
    >>> p = get_protocol("hip-abduction-hhd")
    >>> p.trial_plan()[:3]
    [('left', 1), ('right', 1), ('left', 2)]

This package uses the standard library only and never imports ``station`` or ``drivers``.
"""
from protocols.loader import (
    ENV_VAR,
    FORMAT_VERSION,
    ProtocolError,
    ProtocolNotFoundError,
    builtin_protocols,
    find_protocols,
    get_protocol,
    load_protocol,
    parse_protocol,
    user_protocols,
    user_protocols_dir,
)
from protocols.model import (
    METRICS,
    Acceptance,
    ChannelMap,
    Cues,
    DeviceRole,
    Normalisation,
    Protocol,
    Side,
    Timing,
)

__all__ = [
    "ENV_VAR",
    "FORMAT_VERSION",
    "METRICS",
    "Acceptance",
    "ChannelMap",
    "Cues",
    "DeviceRole",
    "Normalisation",
    "Protocol",
    "ProtocolError",
    "ProtocolNotFoundError",
    "Side",
    "Timing",
    "builtin_protocols",
    "find_protocols",
    "get_protocol",
    "load_protocol",
    "parse_protocol",
    "user_protocols",
    "user_protocols_dir",
]
