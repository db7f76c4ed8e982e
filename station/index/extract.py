"""Session file → index rows (:class:`~station.index.store.SessionRecord`).

Reads only attributes (results, summaries, patient), never the samples, so indexing a file
takes milliseconds. The rules that turn a trial's stored results into flat rows live here and
are shared by the index and the CSV exports (:func:`trial_rows`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py

from station.errors import StorageError
from station.index.store import SessionRecord, SessionRow, SideRow, TestRow, TrialRow
from station.session.kinds import num, stored_kind
from station.storage.reader import attrs_of





def _int(value: Any) -> int | None:
    v = num(value)
    return None if v is None else int(v)


def trial_rows(session_id: str, test: str, trial: str, kind: str, a: dict[str, Any],
               body_mass_kg: float | None) -> list[TrialRow]:
    """The index rows of one trial from its attributes ``a`` (see :class:`TrialRow` for sides):
    its test kind turns the stored results into rows (:meth:`~station.session.kinds.TestKind.index_rows`)."""
    results: dict[str, Any] = a["results"] if isinstance(a.get("results"), dict) else {}
    side = str(a.get("side") or "")
    common: dict[str, Any] = {"session_id": session_id, "test": test, "trial": trial, "rep": _int(a.get("rep")) or 0,
              "attempt": _int(a.get("attempt")) or 0, "status": str(a.get("status") or ""),
              "pain_0_10": _int(a.get("pain_0_10")),
              "algorithm_version": a.get("algorithm_version") or results.get("algorithm_version")}
    peak = num(a.get("peak_force_n"))
    return [TrialRow(side=s, **fields, **common)
            for s, fields in stored_kind(kind).index_rows(results, side, body_mass_kg, peak)]


def _groups(g: h5py.Group) -> list[tuple[str, h5py.Group]]:
    return sorted((k, v) for k, v in g.items() if isinstance(v, h5py.Group))


def _side_rows(session_id: str, test: str, summary: dict[str, Any], trials: list[TrialRow],
               body_mass_kg: float | None) -> list[SideRow]:
    rows = []
    sides: dict[str, Any] = summary["sides"] if isinstance(summary.get("sides"), dict) else {}
    for side in sorted(sides):
        s = sides[side] if isinstance(sides[side], dict) else {}
        best = num(s.get("best_n"))
        valid = [t for t in trials if t.side == side and t.status == "complete" and t.peak_force_n is not None]
        top = max(valid, key=lambda t: t.peak_force_n or 0.0) if valid else None
        pains = [t.pain_0_10 for t in trials if t.side == side and t.pain_0_10 is not None]
        rows.append(SideRow(
            session_id=session_id, test=test, side=side, best_n=best, mean_n=num(s.get("mean_n")),
            cv_pct=num(s.get("cv_pct")), n_reps=_int(s.get("reps")) or 0,
            best_n_per_kg=best / body_mass_kg if best is not None and body_mass_kg else None,
            best_torque_nm=top.peak_torque_nm if top is not None else None,
            best_torque_nm_per_kg=top.peak_torque_nm_per_kg if top is not None else None,
            pain_max_0_10=max(pains) if pains else None))
    return rows


def _test_row(session_id: str, test: str, ta: dict[str, Any], summary: dict[str, Any]) -> TestRow:
    sym: dict[str, Any] = summary["symmetry"] if isinstance(summary.get("symmetry"), dict) else {}
    kind = sym.get("kind") or ("asymmetry" if "direction" in sym else None)  # asymmetry results carry no kind
    if kind == "none":
        kind = None          # no verdict (one side measured, too few valid reps): neither LSI nor asymmetry
    lsi = num(sym.get("value_pct")) if kind == "lsi" else None
    asym = num(sym.get("value_pct")) if kind not in (None, "lsi") else None
    passed = sym.get("passed") if isinstance(sym.get("passed"), bool) else None
    return TestRow(session_id=session_id, test=test, protocol_id=str(ta.get("protocol_id") or ""),
                   name=str(ta.get("name") or ""), kind=str(ta.get("kind") or ""),
                   status=str(ta.get("status") or ""),
                   symmetry_kind=("lsi" if kind == "lsi" else "asymmetry") if kind else None,
                   lsi_pct=lsi, asymmetry_pct=asym, passed=passed)


def record_from_file(f: h5py.File, path: Path) -> SessionRecord:
    """The index rows of an open session file."""
    root = attrs_of(f)
    sess = attrs_of(f["session"]) if "session" in f else {}
    session_id = str(root.get("session_id") or "")
    if not session_id:
        raise StorageError(f"{path}: session file without a session_id")
    mass = num(sess.get("body_mass_kg"))
    baseline = root.get("baseline")
    session = SessionRow(
        session_id=session_id, patient_id=str(sess.get("patient_id") or ""),
        started_utc=str(root.get("created_utc") or ""), path=str(Path(path).resolve()),
        status=str(root.get("status") or ""), station_version=root.get("station_version"),
        algorithm_version=root.get("algorithm_version"), body_mass_kg=mass,
        involved_side=sess.get("involved_side"), baseline=str(baseline) if baseline else None,
        closed_utc=root.get("closed_utc"))
    tests: list[TestRow] = []
    sides: list[SideRow] = []
    trials: list[TrialRow] = []
    for test, tg in _groups(f["tests"]) if "tests" in f else []:
        ta = attrs_of(tg)
        summary: dict[str, Any] = ta["summary"] if isinstance(ta.get("summary"), dict) else {}
        kind = str(ta.get("kind") or "")
        rows: list[TrialRow] = []
        for trial, trg in _groups(tg["trials"]) if "trials" in tg else []:
            rows.extend(trial_rows(session_id, test, trial, kind, attrs_of(trg), mass))
        tests.append(_test_row(session_id, test, ta, summary))
        sides.extend(_side_rows(session_id, test, summary, rows, mass))
        trials.extend(rows)
    return SessionRecord(session, tuple(tests), tuple(sides), tuple(trials))


def read_record(path: str | Path) -> SessionRecord:
    """The index rows of the session file ``path``. :class:`~station.errors.StorageError` if it cannot be read."""
    from station.storage.session_reader import SessionReader

    path = Path(path)
    with SessionReader(path) as r:
        try:
            return record_from_file(r.h5, path)
        except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError, IndexError) as exc:
            r.session()  # what is damaged, in words (station.storage.damage)
            raise r.damaged_error(exc, "indexed") from None
