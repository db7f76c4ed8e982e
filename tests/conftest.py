"""Shared test setup: Qt runs headless; no test sees the real user's calibration folder."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_calibration_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions and calibration commands read $FORCE_STATION_CALIBRATION_DIR: an empty temp folder."""
    monkeypatch.setenv("FORCE_STATION_CALIBRATION_DIR", str(tmp_path_factory.mktemp("calibration")))


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the real user's config file (clinic store URL, shared folder): an absent one."""
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(tmp_path_factory.mktemp("config") / "config.toml"))
