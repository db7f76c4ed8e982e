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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The soak test runs only when asked for: ``make soak`` (``pytest -m soak``)."""
    if "soak" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="soak test: run it with `make soak` (pytest -m soak), see docs/reliability.md")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
