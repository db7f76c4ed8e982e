"""History and export tests: a private clinic config file, and three sessions of one patient."""
from __future__ import annotations

from pathlib import Path

import pytest

from history_sessions import Spec, write_session


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("config") / "config.toml"
    monkeypatch.setenv("FORCE_STATION_CONFIG", str(path))
    return path


RECOVERY = [  # (date, left peaks, right (involved) peaks, pain right)
    ("2026-09-01T09:00:00.000+00:00", [300.0, 296.0, 292.0], [210.0, 205.0, 200.0], [5, 4, 4]),
    ("2026-10-01T09:00:00.000+00:00", [305.0, 300.0, 298.0], [255.0, 250.0, 246.0], [3, 2, 2]),
    ("2026-11-01T09:00:00.000+00:00", [310.0, 305.0, 300.0], [295.0, 290.0, 286.0], [1, 0, 0]),
]


@pytest.fixture
def recovery_dir(tmp_path: Path) -> Path:
    """Three sessions of P-0042 whose involved right side recovers from ~70 % to ~95 %."""
    d = tmp_path / "sessions"
    d.mkdir()
    for i, (date, left, right, pain) in enumerate(RECOVERY, start=1):
        write_session(d / f"P-0042_{i}.h5", patient_id="P-0042", created_utc=date, seed=i,
                      operator="Dr Jane Example", notes="Patient reports knee felt unstable on stairs",
                      tests=[Spec("knee-extension-60", {"left": left, "right": right}, {"right": pain},
                                      lever_arm_m=0.35, name="Knee extension at 60°, seated")])
    return d
