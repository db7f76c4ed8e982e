"""``station inspect FILE.h5``: what a session file holds."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from station.storage.reader import summarize


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inspect", help="summarise a session file (patient, tests, reps, results, LSI)",
                       description="Prints what a Force Station HDF5 session file holds. Works on a file "
                                   "that is still being recorded.")
    p.add_argument("file", type=Path, metavar="FILE.h5", help="session file")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    p.set_defaults(func=run)


def _f(v: Any, spec: str = ".1f") -> str:
    return "—" if v is None else format(v, spec)


def run(args: argparse.Namespace) -> int:
    info = summarize(args.file)
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    s = info["session"]
    print(f"{info['file']}")
    print(f"  status {info['status']}   station {info['station_version']}   algorithm {info['algorithm_version']}"
          f"   format v{info['format_version']}")
    print(f"  patient {s.get('patient_id', '—')}   body mass {_f(s.get('body_mass_kg'))} kg   involved side "
          f"{s.get('involved_side', '—')}   operator {s.get('operator') or '—'}   created {info['created_utc']}")
    for name, d in info["devices"].items():
        print(f"  device {name}: {d['family']} {d['model']} s/n {d['serial']}  {d['channels']} ch @ "
              f"{_f(d['rate_hz'], 'g')} Hz  ({d['uri']})")
    for t in info["tests"]:
        print()
        print(f"  {t['test']}  {t['name']}  [{t['kind']}, {t['status']}]")
        print(f"    {'trial':<6}{'side':<7}{'rep':>4}{'status':>13}{'peak (N)':>11}{'samples':>9}  flags")
        for tr in t["trials"]:
            n = sum(tr["samples"].values())
            print(f"    {tr['trial']:<6}{tr['side'] or '—':<7}{tr['rep'] or 0:>4}{tr['status'] or '—':>13}"
                  f"{_f(tr['peak_force_n']):>11}{n:>9}  {'; '.join(tr['flags'])}")
        for side, sd in t["sides"].items():
            print(f"    {side:<6} best {_f(sd.get('best_n'))} N   mean {_f(sd.get('mean_n'))} N   "
                  f"CV {_f(sd.get('cv_pct'))} %")
        sym = t["symmetry"]
        if sym.get("kind") == "lsi":
            mark = "PASS" if sym.get("passed") else "below pass mark"
            print(f"    LSI {_f(sym.get('value_pct'))} %  (pass mark {_f(sym['parameters']['pass_pct'], '.0f')} %) "
                  f"→ {mark}")
        elif sym.get("value_pct") is not None:
            print(f"    asymmetry {sym['value_pct']:+.1f} %  ({sym.get('direction')})")
    return 0
