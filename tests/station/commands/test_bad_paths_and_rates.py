"""Bad inputs found trying every command (issue 13): each is one line naming the option or
path, exit 2, and nothing is created."""
from __future__ import annotations

from pathlib import Path

import pytest

from station.cli import main


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    f = tmp_path / "notes.txt"
    f.write_text("not a folder\n")
    return f


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


@pytest.mark.parametrize("rate", ["-5", "0", "nan"])
def test_simulate_refuses_a_rate_that_is_not_positive(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "mark10", "--rate", rate]) == 2
    _one_line_error(capsys, "--rate")


def test_probe_refuses_a_port_that_is_a_file_or_a_folder(a_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for port in (a_file, a_file.parent):
        assert main(["devices", "--probe", "--port", str(port)]) == 2
        _one_line_error(capsys, str(port), "not a serial port")


def test_calibration_dir_that_is_a_file_or_under_one(a_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for d in (a_file, a_file / "sub"):
        assert main(["calibration", "list", "--calibration-dir", str(d)]) == 2
        _one_line_error(capsys, str(d))
    assert a_file.read_text() == "not a folder\n"


def test_session_with_a_calibration_dir_under_a_file_opens_nothing(a_file: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sessions"
    code = main(["session", "run", "--auto", "--fast", "--patient", "P-1", "--body-mass", "70", "--involved", "left",
                 "--protocol", "hip-abduction-hhd", "--device", "sim:mark10", "--calibration-dir",
                 str(a_file / "sub"), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "is a file, not a directory" in err and "Traceback" not in err
    assert not out.exists() or not any(out.glob("*.h5"))
