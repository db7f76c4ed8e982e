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


#: modules another part of the project owns, still on the UserError alias (same class, so the same behaviour)
_NOT_YET = ("station/index/", "station/export/", "station/history/", "station/gui/")


def test_library_modules_raise_their_own_kind_not_the_cli_user_error() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in sorted((root / "station").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == "station/cli.py" or rel.startswith("station/commands/") or rel.startswith(_NOT_YET):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and getattr(node.exc.func, "id", None) == "UserError":
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_library_errors_keep_their_one_line_message_and_kind(tmp_path) -> None:
    from station.errors import ConfigError, OptionError
    from station.storage.reader import open_file
    from station.storage.traces import load_trace
    from station import config, validate

    with pytest.raises(StorageError, match=r"missing\.h5: no such file$"):
        open_file(tmp_path / "missing.h5")
    (tmp_path / "t.csv").write_text("time,force\n0,1\n0.001,2\n0.002,x\n", encoding="utf-8")
    with pytest.raises(StorageError, match=r"column 'force' in .*t\.csv is not numeric \(line 4: 'x'\)"):
        load_trace(str(tmp_path / "t.csv"), None, None, "N")
    bad = tmp_path / "config.toml"
    bad.write_text("[deidentify\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.toml: not valid TOML"):
        config.load_config(bad)
    with pytest.raises(OptionError, match=r"^--rate nan: "):
        validate.number("nan", "--rate", gt=0)
