"""History arithmetic against hand-computed cases: change, MDC verdicts, own SEM, LSI, EPIC."""
from __future__ import annotations

import math

import pytest

from station.history.reference import MDC95_FACTOR, ReferenceEntry, mdc95_from_sem, sem_from_mdc95
from station.history.trend import (
    DECLINED,
    IMPROVED,
    WITHIN,
    measurement_error,
    pooled_sem,
    protocol_trend,
    verdict,
)
from station.index.store import HistoryRow, SessionRow, TrialRow


def ref(**kw) -> ReferenceEntry:
    base = dict(id="r", protocols=("p",), device_kind="dynamometer", position="x", population="y",
                metric="peak_force", unit="%", citation="Author A, B. Title. J 2010;1:1", doi="10/x", checked=False)
    return ReferenceEntry(**{**base, **kw})


def hrow(sid: str, date: str, side: str, best: float, involved: str = "right", baseline: str | None = None,
         pain: int | None = None) -> HistoryRow:
    return HistoryRow(session_id=sid, started_utc=date, baseline=baseline, body_mass_kg=80.0, involved_side=involved,
                      test="01_p", protocol_id="p", kind="isometric", side=side, best_n=best,
                      best_n_per_kg=best / 80.0, best_torque_nm=None, best_torque_nm_per_kg=None, n_reps=3,
                      lsi_pct=None, pain_max_0_10=pain)


def srow(sid: str, date: str, baseline: str | None = None) -> SessionRow:
    return SessionRow(session_id=sid, patient_id="P", started_utc=date, path=f"/x/{sid}.h5", status="complete",
                      baseline=baseline, involved_side="right")


def test_mdc_factor_and_conversions():
    assert MDC95_FACTOR == pytest.approx(2.7719, abs=1e-4)
    assert mdc95_from_sem(10.0) == pytest.approx(27.719, abs=1e-3)
    assert sem_from_mdc95(mdc95_from_sem(7.3)) == pytest.approx(7.3)


@pytest.mark.parametrize("change, mdc, expected", [
    (30.0, 27.7, IMPROVED), (27.7, 27.7, WITHIN), (-10.0, 27.7, WITHIN), (-28.0, 27.7, DECLINED),
    (5.0, None, None), (None, 3.0, None)])
def test_verdict_words(change, mdc, expected):
    assert verdict(change, mdc) == expected


def test_pooled_sem_by_hand():
    # groups [100, 104, 96] (mean 100, SS 32, df 2) and [200, 206] (mean 203, SS 18, df 1), [50] adds nothing
    sem, df = pooled_sem([[100, 104, 96], [200, 206], [50]])
    assert df == 3
    assert sem == pytest.approx(math.sqrt(50 / 3))


def trials(groups: dict[tuple[str, str], list[float]]) -> list[TrialRow]:
    out = []
    for (sid, side), peaks in groups.items():
        for i, p in enumerate(peaks):
            out.append(TrialRow(session_id=sid, test="01_p", trial=f"{i:03d}", side=side, rep=i + 1, attempt=i + 1,
                                status="complete", peak_force_n=p))
    return out


def test_own_sem_used_when_enough_reps_else_reference():
    r = ref(sem=5.0)
    few = trials({("s1", "left"): [100, 104, 96]})  # df 2 < 4
    e = measurement_error(few, [r])
    assert e.source == "reference" and e.unit == "%" and e.sem == 5.0
    assert e.mdc95 == pytest.approx(5.0 * MDC95_FACTOR)
    assert e.mdc_n(200.0) == pytest.approx(200.0 * 5.0 * MDC95_FACTOR / 100)
    assert "NOT checked" in e.description
    many = trials({("s1", "left"): [100, 104, 96], ("s1", "right"): [200, 206, 203], ("s2", "left"): [90, 94]})
    e = measurement_error(many, [r])
    # SS = 32 + 18 + 8 = 58, df = 2 + 2 + 1 = 5
    assert e.source == "station" and e.own_df == 5
    assert e.sem == pytest.approx(math.sqrt(58 / 5))
    assert e.mdc_n(1000.0) == pytest.approx(math.sqrt(58 / 5) * MDC95_FACTOR)  # in N: independent of the value
    assert "station's repeated measures" in e.description
    none = measurement_error(few, [])
    assert none.source is None and none.mdc_n(100.0) is None


def test_trend_changes_verdicts_lsi_epic_by_hand():
    # involved right recovers 140 -> 170 -> 190 N; uninvolved left 200 -> 190 -> 200 N; SEM 5 % (reference)
    rows = [hrow("a", "2026-01-01T10:00:00+00:00", "left", 200), hrow("a", "2026-01-01T10:00:00+00:00", "right", 140, pain=6),
            hrow("b", "2026-02-01T10:00:00+00:00", "left", 190), hrow("b", "2026-02-01T10:00:00+00:00", "right", 170),
            hrow("c", "2026-03-01T10:00:00+00:00", "left", 200), hrow("c", "2026-03-01T10:00:00+00:00", "right", 190)]
    sessions = [srow("a", rows[0].started_utc), srow("b", rows[2].started_utc), srow("c", rows[4].started_utc)]
    t = protocol_trend("p", rows, [], sessions, [ref(sem=5.0)])
    right = t.sides["right"]
    assert [p.best_n for p in right] == [140, 170, 190]
    assert right[0].pain_max_0_10 == 6 and right[0].involved
    # b vs a: +30 N, +21.4 %; MDC = 5 % x 2.7719 of 140 = 19.40 N -> improved
    assert right[1].change_prev_n == pytest.approx(30.0)
    assert right[1].change_prev_pct == pytest.approx(30 / 140 * 100)
    assert right[1].mdc_prev_n == pytest.approx(140 * 0.05 * MDC95_FACTOR)
    assert right[1].verdict_prev == IMPROVED
    # c vs b: +20 N; MDC of 170 = 23.56 N -> within measurement error; c vs a: +50 N -> improved
    assert right[2].change_prev_n == pytest.approx(20.0)
    assert right[2].verdict_prev == WITHIN
    assert right[2].change_first_n == pytest.approx(50.0)
    assert right[2].verdict_first == IMPROVED
    left = t.sides["left"]
    assert left[1].change_prev_n == pytest.approx(-10.0) and left[1].verdict_prev == WITHIN  # MDC 27.7 N
    # LSI per session: 70 %, 89.47 %, 95 %
    assert [s.lsi_pct for s in t.sessions] == pytest.approx([70.0, 170 / 190 * 100, 95.0])
    # EPIC against the uninvolved side at the first session (200 N): 70 %, 85 %, 95 %
    assert [s.epic_pct for s in t.sessions] == pytest.approx([70.0, 85.0, 95.0])
    assert "first session (2026-01-01)" in t.sessions[2].epic_reference


def test_epic_uses_marked_baseline():
    # a pre-operative session b: uninvolved left 250 N; EPIC of c = 190 / 250 = 76 % although LSI = 95 %
    rows = [hrow("a", "2026-01-01", "left", 200), hrow("a", "2026-01-01", "right", 140),
            hrow("b", "2026-02-01", "left", 250, baseline="pre-operative"), hrow("b", "2026-02-01", "right", 150),
            hrow("c", "2026-03-01", "left", 200), hrow("c", "2026-03-01", "right", 190)]
    sessions = [srow("a", "2026-01-01"), srow("b", "2026-02-01", "pre-operative"), srow("c", "2026-03-01")]
    t = protocol_trend("p", rows, [], sessions, [])
    assert t.sessions[0].epic_pct == pytest.approx(70.0)   # before the mark: the first session
    assert t.sessions[2].epic_pct == pytest.approx(76.0)
    assert t.sessions[2].lsi_pct == pytest.approx(95.0)
    assert "pre-operative session (2026-02-01)" in t.sessions[2].epic_reference
    assert t.sides["right"][2].verdict_prev is None  # no MDC without a reference or own reps


def test_best_of_two_tests_of_one_protocol_in_a_session():
    rows = [hrow("a", "2026-01-01", "left", 200), hrow("a", "2026-01-01", "left", 210),
            hrow("a", "2026-01-01", "right", 150)]
    t = protocol_trend("p", rows, [], [srow("a", "2026-01-01")], [])
    assert [p.best_n for p in t.sides["left"]] == [210]
    assert t.sessions[0].lsi_pct == pytest.approx(150 / 210 * 100)


def test_norm_values_in_the_entry_unit():
    from station.history.trend import TrendPoint, norm_value

    p = TrendPoint("s", "2026-01-01", best_n=196.133, best_n_per_kg=2.8, best_torque_nm=70.0,
                   best_torque_nm_per_kg=1.0, pain_max_0_10=None, involved=True)
    assert norm_value("peak_force_pct_bw", p, 80.0) == pytest.approx(25.0, rel=1e-5)  # 196.133 N of 784.532 N
    assert norm_value("peak_torque_per_kg", p, 80.0) == 1.0
    assert norm_value("peak_force_per_kg", p, 80.0) == 2.8
    assert norm_value("peak_force_pct_bw", p, None) is None


def test_reference_file_is_valid_and_every_builtin_reference_exists():
    from protocols.loader import builtin_protocols
    from station.history.reference import load_reference_values, parse_reference_values
    from station.errors import UserError

    refs = load_reference_values()
    for p in builtin_protocols().values():
        for ref_id in p.references:
            assert ref_id in refs.entries, f"{p.id}: unknown reference {ref_id}"
    for e in refs.entries.values():
        assert e.doi.startswith("10.") and e.citation and e.check_note
        if not e.checked:
            assert "NOT" in e.check_note or "not" in e.check_note  # says what was not checked
    with pytest.raises(UserError, match="entry 'x': unit"):
        parse_reference_values('format_version = 1\nversion = "1"\n[[entry]]\nid = "x"\nprotocols = []\n'
                               'device_kind = "d"\nposition = "p"\npopulation = "p"\nmetric = "peak_force"\n'
                               'unit = "lbs"\ncitation = "c"\ndoi = "10.1/x"\nchecked = true\nsem = 1\n')
