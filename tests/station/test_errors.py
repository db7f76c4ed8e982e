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


def _user_error_uses(path) -> list[int]:
    """Lines of ``path`` that raise the CLI's UserError (called or not, by name or as
    ``errors.UserError``) or derive a class from it."""
    import ast

    def names_user_error(node: ast.expr | None) -> bool:
        if isinstance(node, ast.Call):
            node = node.func
        return (isinstance(node, ast.Name) and node.id == "UserError") or \
            (isinstance(node, ast.Attribute) and node.attr == "UserError")

    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and names_user_error(node.exc):
            lines.append(node.lineno)
        elif isinstance(node, ast.ClassDef) and any(names_user_error(b) for b in node.bases):
            lines.append(node.lineno)
    return sorted(lines)


def test_library_modules_raise_their_own_kind_not_the_cli_user_error() -> None:
    """Only the CLI (station/cli.py, station/commands/) raises UserError; every library
    module raises a specific kind (station.errors or its package's own)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for package in ("station", "drivers", "calibration", "protocols", "simulation", "force_errors"):
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel == "station/cli.py" or rel.startswith("station/commands/"):
                continue
            offenders += [f"{rel}:{n}" for n in _user_error_uses(path)]
    assert offenders == []


def test_the_scan_finds_a_user_error(tmp_path) -> None:
    """The scan above can fail: it sees every way of raising or subclassing UserError."""
    bad = tmp_path / "bad.py"
    bad.write_text("from station import errors\nfrom station.errors import UserError\n"
                   "def f():\n    raise UserError('x')\n"
                   "def g():\n    raise errors.UserError\n"
                   "class Mine(UserError):\n    pass\n"
                   "def h():\n    raise ValueError('fine')\n", encoding="utf-8")
    assert _user_error_uses(bad) == [4, 6, 7]


def test_index_export_and_history_errors_are_their_kind(tmp_path) -> None:
    from station.errors import ClinicStoreError, ConfigError, StorageError
    from station.history.reference import load_reference_values
    from station.index.extract import read_record
    from station.index.postgres import StoreError, parse_url
    from station.index.update import rebuild

    with pytest.raises(ClinicStoreError, match=r"^store URL must start with postgresql://"):
        parse_url("mysql://host/db")
    assert issubclass(StoreError, ClinicStoreError)
    with pytest.raises(StorageError, match=r"missing: no such directory$"):
        rebuild(tmp_path / "missing")
    with pytest.raises(StorageError, match=r"x\.h5: no such file$"):
        read_record(tmp_path / "x.h5")
    bad = tmp_path / "ref.toml"
    bad.write_text("format_version = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"ref\.toml: format_version: expected 1, got 2$"):
        load_reference_values(bad)


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
