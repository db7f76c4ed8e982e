"""The window's "change since the last session" lines, from the history's trend (no Qt needed)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "history"))
from history_sessions import Spec, write_session  # noqa: E402

from station.gui.format import change_since_last  # noqa: E402
from station.history.trend import DECLINED, IMPROVED, WITHIN, patient_trend  # noqa: E402
from station.index.update import open_or_build  # noqa: E402

KNEE = "knee-extension-60"


@pytest.fixture
def trend(tmp_path: Path):
    d = tmp_path / "sessions"
    d.mkdir()
    for i, (date, left, right) in enumerate([("2026-09-01T09:00:00.000+00:00", [300.0, 296.0, 292.0], [210.0, 205.0, 200.0]),
                                             ("2026-10-01T09:00:00.000+00:00", [305.0, 300.0, 298.0], [255.0, 250.0, 246.0])],
                                            start=1):
        write_session(d / f"P-7_{i}.h5", patient_id="P-7", created_utc=date, seed=i,
                      tests=[Spec(KNEE, {"left": left, "right": right}, lever_arm_m=0.35)])
    store = open_or_build(d)
    try:
        return patient_trend(store, "P-7").protocol(KNEE)
    finally:
        store.close()


def test_a_session_in_the_index_reports_its_own_change_as_station_history_does(trend) -> None:
    last = trend.sides["right"][-1]
    ch = change_since_last(trend, "right", session_id=last.session_id)
    assert ch is not None
    assert (ch.change_n, ch.change_pct, ch.mdc_n, ch.verdict) == (
        last.change_prev_n, last.change_prev_pct, last.mdc_prev_n, last.verdict_prev)
    assert ch.since_utc.startswith("2026-09-01")
    assert ch.text.startswith("Right: +") and ch.verdict in ch.text
    first = trend.sides["right"][0]
    assert change_since_last(trend, "right", session_id=first.session_id) is None  # nothing before the first


def test_a_new_best_is_judged_against_the_last_session_and_its_mdc(trend) -> None:
    last = trend.sides["left"][-1]
    mdc = trend.error.mdc_n(last.best_n)
    assert mdc is not None and mdc > 0
    for best, words in ((last.best_n + 2 * mdc, IMPROVED), (last.best_n - 2 * mdc, DECLINED),
                        (last.best_n + mdc / 2, WITHIN)):
        ch = change_since_last(trend, "left", best_now_n=best)
        assert ch is not None and ch.verdict == words
        assert ch.change_n == pytest.approx(best - last.best_n)
        assert ch.change_pct == pytest.approx(100 * (best - last.best_n) / last.best_n)
        assert words in ch.text and f"MDC {mdc:.0f} N" in ch.text and "2026-10-01" in ch.text
    assert change_since_last(trend, "left", best_now_n=None) is None
    assert change_since_last(None, "left", best_now_n=300.0) is None
