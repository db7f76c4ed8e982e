"""``station inspect FILE.h5``: what a session file holds.

Reads the file through :class:`~station.storage.session_reader.SessionReader` (the
dataclasses the engine produced), turns them into one JSON-ready dict
(:func:`~station.storage.session_reader.summary_dict`, printed as is by ``--json``) and
prints that as tables. A damaged file shows what is readable, then one error line."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from station.errors import UserError
from station.storage.damage import Damage
from station.storage.session_reader import SessionReader, summary_dict

#: trial statuses that mean "this trial did not end normally"
NOT_COMPLETE = {
    "aborted": "stopped by the operator during the trial (Ctrl-C, SIGTERM)",
    "interrupted": "ended by a lost device, an error or a station crash; its samples up to then are kept",
    "recording": "still being recorded (or the station stopped before ending it)",
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="summarise a session file (patient, tests, reps, results, LSI)",
                       description="Prints what a Force Station HDF5 session file holds. Works on a file "
                                   "that is still being recorded, and flags a file left unfinished by a "
                                   "station that stopped while recording (repair it with "
                                   "`station session recover FILE`). A damaged or foreign file gets a "
                                   "one-line error and exit status 2.")
    p.add_argument("file", type=Path, metavar="FILE.h5", help="session file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(func=run)


def _f(v: Any, spec: str = ".1f") -> str:
    if v is None:
        return "—"
    try:
        return format(v, spec)
    except (TypeError, ValueError):  # a damaged attribute: show it as it is
        return str(v)


def status_line(info: dict[str, Any]) -> str:
    """The session status with what it means."""
    status = info["status"]
    if info["recording_now"]:
        return "status recording — a station is writing this file now (numbers below grow)"
    if info["unfinished"]:
        return (f"status {status} — UNFINISHED: the station stopped without closing this file (crash or kill); "
                f"recover it with: station session recover {info['file']}")
    if status == "aborted":
        return "status aborted — the session was stopped before its end (q, Ctrl-C or SIGTERM)"
    if status == "interrupted" and info.get("recovered_utc"):
        return (f"status interrupted — recovered {info['recovered_utc']} after the station stopped while "
                f"recording (was '{info.get('recovered_from_status') or 'recording'}')")
    if status == "interrupted":
        return "status interrupted — the session ended on an error or a lost device"
    return f"status {status}"


def _test_status(status: str | None) -> str:
    if status == "aborted":
        return "⚠ incomplete (aborted)"
    return _trial_status(status)


def _peak_text(tr: dict[str, Any]) -> str:
    """The trial's peak, labelled: both sides of a bilateral trial as L/R (per plate for a
    two-plate landing, whose headline peak is of the summed force)."""
    left, right = tr.get("peak_force_left_n"), tr.get("peak_force_right_n")
    if tr.get("side") == "both" and (left is not None or right is not None):
        if tr.get("peak_force_n") is not None:
            return f"{_f(tr['peak_force_n'], '.0f')} (L{_f(left, '.0f')}/R{_f(right, '.0f')})"
        return f"L {_f(left)} / R {_f(right)}"
    return _f(tr.get("peak_force_n"))


def _units(analysis: dict[str, Any]) -> str:
    c = analysis.get("clinical") or {}
    per = analysis.get("per_side") or {}
    if not c and per and all(((p or {}).get("clinical") or {}).get("force_bw") is None for p in per.values()):
        return " / ".join(f"{s[0].upper()} {_units(p or {}) or '—'}" for s, p in per.items())
    parts = []
    if c.get("torque_nm_per_kg") is not None:
        parts.append(f"{c['torque_nm_per_kg']:.2f} N·m/kg")
    elif c.get("torque_nm") is not None:
        parts.append(f"{c['torque_nm']:.1f} N·m")
    if c.get("force_n_per_kg") is not None:
        parts.append(f"{c['force_n_per_kg']:.2f} N/kg")
    if c.get("force_bw") is not None:
        parts.append(f"{c['force_bw']:.2f} ×BW")
    return ", ".join(parts)


def _trial_status(status: str | None) -> str:
    if status in NOT_COMPLETE:
        return f"⚠ {status}"
    return status or "—"


def run(args: argparse.Namespace) -> int:
    with SessionReader(args.file) as reader:
        stored = reader.session()
    info = summary_dict(stored)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
    else:
        show(info)
    if info.get("damaged"):  # what is readable was shown; the damage is one line on stderr
        damage = Damage(info["damaged"])
        raise UserError(f"{info['file']}: damaged session file: {damage.summary()} "
                        "(everything else shown is as stored)")
    return 0


def show(info: dict[str, Any]) -> None:
    s = info["session"]
    print(f"{info['file']}")
    print(f"  {status_line(info)}")
    print(f"  station {info['station_version']}   algorithm {info['algorithm_version']}   format v{info['format_version']}"
          f"   created {info['created_utc']}   closed {info['closed_utc'] or '—'}")
    print(f"  patient {s.get('patient_id', '—')}   body mass {_f(s.get('body_mass_kg'))} kg   involved side "
          f"{s.get('involved_side', '—')}   operator {s.get('operator') or '—'}")
    for name, d in info["devices"].items():
        print(f"  device {name}: {d['family']} {d['model']} s/n {d['serial']}  {d['channels']} ch @ "
              f"{_f(d['rate_hz'], 'g')} Hz  ({d['uri']})")
        if d.get("not_identified"):
            print(f"    not identified: {', '.join(d['not_identified'])} (the device did not answer; "
                  "recorded as unknown)")
        for w in d.get("warnings") or []:
            print(f"    device note: {w}")
        for o in d.get("calibration_overrides") or []:
            print(f"    ⚠ CALIBRATION OVERRIDE (--allow-uncalibrated): channel {o.get('channel')}: "
                  f"{o.get('state', '')} — {o.get('reason', '')}")
    not_complete: list[tuple[str, str, str]] = []
    invalid: list[tuple[str, str]] = []
    for t in info["tests"]:
        print()
        print(f"  {t['test']}  {t['name']}  [{t['kind']}, {_test_status(t['status'])}]")
        lever = t.get("lever_arm") or {}
        if lever.get("lever_arm_m") is not None:
            print(f"    lever arm {lever['lever_arm_m']:.2f} m ({lever.get('source')})")
        elif lever.get("note"):
            print(f"    note: {lever['note']}")
        print(f"    {'trial':<6}{'side':<7}{'rep':>4}{'status':>15}{'peak (N)':>20}{'written':>9}{'dur (s)':>9}"
              f"  {'analysis':<10} clinical units   pain  flags")
        for tr in t["trials"]:
            n = sum(tr["samples"].values())  # rows in the file: what reached the disk
            acquired = sum(v for v in (tr.get("samples_acquired") or {}).values() if isinstance(v, int))
            analysis = tr.get("analysis") or {}
            a_status = analysis.get("status")
            shown = _trial_status(tr["status"])
            if tr["status"] == "complete" and a_status not in (None, "ok"):
                shown = f"⚠ {a_status.replace('_', ' ')}"
                invalid.append((f"{t['test']}/{tr['trial']}", "; ".join(analysis.get("notes") or []) or a_status))
            peak = _peak_text(tr)
            units = _units(analysis)
            pain = "—" if tr.get("pain_0_10") is None else str(tr["pain_0_10"])
            flags = [*map(str, tr["flags"]), *([f"{acquired - n} of {acquired} acquired samples not written"]
                                               if acquired > n else [])]
            print(f"    {tr['trial']:<6}{tr['side'] or '—':<7}{tr['rep'] or 0:>4}{shown:>15}"
                  f"{peak:>20}{n:>9}{_f(tr['duration_s']):>9}  {(a_status or '—'):<10} {units or '—':<16} {pain:>4}"
                  f"  {'; '.join(flags)}")
            if tr["status"] in NOT_COMPLETE:
                not_complete.append((f"{t['test']}/{tr['trial']}", tr["status"], f"{n} samples"))
        for side, sd in t["sides"].items():
            units = _units({"clinical": sd.get("clinical") or {}})
            valid = f"{sd.get('valid_reps', '—')} valid of {sd.get('reps', '—')} reps   " if "valid_reps" in sd else ""
            print(f"    {side:<6} {valid}best {_f(sd.get('best_n'))} N{f' ({units})' if units else ''}   "
                  f"mean {_f(sd.get('mean_n'))} N   CV {_f(sd.get('cv_pct'))} %")
        sym = t["symmetry"]
        if sym.get("kind") == "none":
            print(f"    {sym.get('note')}")
        elif sym.get("kind") == "lsi":
            mark = "PASS" if sym.get("passed") else "below pass mark"
            print(f"    LSI {_f(sym.get('value_pct'))} %  (pass mark {_f((sym.get('parameters') or {}).get('pass_pct'), '.0f')} %) "
                  f"→ {mark}")
        elif sym.get("value_pct") is not None:
            print(f"    asymmetry {sym['value_pct']:+.1f} %  ({sym.get('direction')})")
    if invalid:
        print()
        print("  trials recorded to their end whose analysis is not valid (not counted in the results):")
        for key, why in invalid:
            print(f"    {key}: {why}")
    if not_complete:
        print()
        print("  trials that did not end normally (not used in the test summary):")
        for key, status, n in not_complete:
            print(f"    {key}: {status} — {NOT_COMPLETE[status]} ({n})")
