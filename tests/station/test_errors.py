"""One base class for every package's user-facing errors; the CLI catches it in one line."""
from __future__ import annotations

import argparse

import pytest

from calibration import CalibrationError, CalibrationRefused
from drivers.base import DeviceDisconnected, DeviceError
from force_errors import ForceStationError
from protocols import ProtocolError
from station import cli
from station.errors import SessionError, StationError, StorageError, UserError
from station.storage.recovery import RecoveryError


@pytest.mark.parametrize("kind", [DeviceError, DeviceDisconnected, CalibrationError, CalibrationRefused,
                                  ProtocolError, StorageError, SessionError, RecoveryError, UserError])
def test_every_user_facing_error_has_the_one_base(kind) -> None:
    assert issubclass(kind, ForceStationError) and StationError is ForceStationError


def test_old_catch_sites_still_catch_what_they_caught() -> None:
    assert issubclass(CalibrationError, ValueError) and issubclass(ProtocolError, ValueError)
    with pytest.raises(UserError):
        raise StorageError("x.h5: not a session file")


def test_the_cli_prints_a_library_error_on_one_line(monkeypatch, capsys) -> None:
    def boom(args: argparse.Namespace) -> int:
        raise DeviceError("/dev/ttyUSB0: port busy (another program has it open)")

    parser = cli.build_parser()
    real_parse = parser.parse_args
    monkeypatch.setattr(cli, "build_parser", lambda *a, **k: parser)
    monkeypatch.setattr(parser, "parse_args", lambda *a, **k: argparse.Namespace(func=boom))
    monkeypatch.setattr(parser, "parse_known_args", lambda *a, **k: (argparse.Namespace(func=boom), []))
    assert cli.main([]) == 2
    err = capsys.readouterr().err
    assert err == "station: error: /dev/ttyUSB0: port busy (another program has it open)\n"
    assert real_parse is not None
