"""``station history PATIENT``: a patient's results over time, with MDC verdicts, LSI and EPIC."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from station import validate
from station.errors import UserError
from station.history.trend import PatientTrend, ProtocolTrend, date_labels, patient_trend
from station.index.sqlite import INDEX_NAME
from station.index.update import open_or_build

_EPILOG = f"""\
Reads the results index ({INDEX_NAME}) of the session directory (built from the session
files on first use); `station index rebuild DIR` recreates it at any time. Mark a pre-injury
or pre-operative session with `station index baseline FILE` to use it for the EPIC view
instead of the first session.

Verdicts: "improved beyond MDC", "within measurement error", "declined beyond MDC", where
MDC95 = 1.96 x sqrt(2) x SEM, and the SEM is the station's own (the patient's repeated reps)
when there are enough, else the protocol's reference value (cited; see docs/history-and-exports.md).

example:
  station history P-0042 --dir sessions --protocol knee-extension-60
"""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("history", help="a patient's results over time (trend, LSI, MDC verdicts, EPIC)",
                       description="Per test and side, the best value per session over time (N, N/kg, N·m/kg), "
                                   "the change since the previous and the first session with a minimal "
                                   "detectable change verdict, the LSI per session, pain, and the EPIC view.",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("patient", metavar="PATIENT", help="pseudonymous patient id")
    p.add_argument("--protocol", metavar="ID", help="only this protocol")
    p.add_argument("--dir", type=Path, default=Path("sessions"), metavar="DIR",
                   help="session directory (default: sessions)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    validate.patient_id(args.patient, "PATIENT")  # a path is no patient id: refused before the index is opened
    if not args.dir.is_dir():
        raise UserError(f"--dir {args.dir}: no such directory")
    notes: list[str] = []
    store = open_or_build(args.dir, notes)
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    try:
        if not store.sessions():
            raise UserError(f"{args.dir}: no sessions in the results index (run `station index rebuild {args.dir}` "
                            "if the folder has session files)")
        trend = patient_trend(store, args.patient, args.protocol)
    finally:
        store.close()
    if not trend.sessions:
        raise UserError(f"patient {args.patient}: no sessions in {args.dir}")
    if not trend.protocols:
        what = f"protocol {args.protocol}" if args.protocol else "any protocol"
        raise UserError(f"patient {args.patient}: no complete test of {what} in {args.dir}")
    if args.json:
        print(json.dumps(trend.to_dict(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(render(trend)))
    return 0


def _f(v: float | None, fmt: str = ".1f", none: str = "—") -> str:
    return none if v is None else format(v, fmt)


def _pct(pct: float) -> str:
    return "0 %" if abs(pct) < 0.5 else f"{pct:+.0f} %"


def _signed(v: float | None, pct: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:+.1f} N" + (f" ({_pct(pct)})" if pct is not None else "")


def render(trend: PatientTrend) -> list[str]:
    """The tables ``station history`` prints."""
    out = [f"Patient {trend.patient_id} — {len(trend.sessions)} session(s)"
           + (f", involved side: {trend.involved_side}" if trend.involved_side else "")]
    for p in trend.protocols:
        out += [""] + render_protocol(p)
    return out


def render_protocol(p: ProtocolTrend) -> list[str]:
    out = [f"{p.protocol_id} ({p.kind})", "  MDC: " + (f"{_f(p.error.mdc95)} {'%' if p.error.unit == '%' else 'N'} — "
                                                        if p.error.mdc95 is not None else "") + p.error.description]
    labels = dict(zip([s.session_id for s in p.sessions], date_labels([s.date_utc for s in p.sessions]), strict=True))
    w = max([10, *(len(x) for x in labels.values())])
    header = (f"  {'date':<{w}}  {'side':<6} {'best N':>7} {'N/kg':>5} {'N·m/kg':>6} {'pain':>4}  "
              f"{'change since previous':<22} {'verdict':<25} {'change since first':<20} verdict")
    out.append(header)
    dates = {s.session_id: s for s in p.sessions}
    for sess in p.sessions:
        first_line = True
        for side in ("left", "right"):
            pt = next((x for x in p.sides.get(side, []) if x.session_id == sess.session_id), None)
            if pt is None:
                continue
            date = labels[sess.session_id] if first_line else ""
            mark = "*" if pt.involved else " "
            out.append(f"  {date:<{w}}  {side + mark:<6} {_f(pt.best_n):>7} {_f(pt.best_n_per_kg, '.2f'):>5} "
                       f"{_f(pt.best_torque_nm_per_kg, '.2f'):>6} {_f(pt.pain_max_0_10, 'd'):>4}  "
                       f"{_signed(pt.change_prev_n, pt.change_prev_pct):<22} {pt.verdict_prev or '—':<25} "
                       f"{_signed(pt.change_first_n, pt.change_first_pct):<20} {pt.verdict_first or '—'}")
            first_line = False
        mark = f"  [baseline: {sess.baseline}]" if sess.baseline else ""
        lsi = f"LSI {_f(sess.lsi_pct)} %" if sess.lsi_pct is not None else "LSI —"
        epic = (f"EPIC {_f(sess.epic_pct)} % (involved now vs {sess.epic_reference})"
                if sess.epic_pct is not None else "")
        if sess.session_id in dates:
            out.append(f"  {'':<{w}}  {lsi}   {epic}{mark}")
    out.append("  * involved side. LSI = involved / uninvolved x 100 (same session). "
               "EPIC = involved now / uninvolved at baseline x 100.")
    for n in p.norms:
        latest = ", ".join(f"{side} {v:.2f}" for side, v in (n.get("latest") or {}).items() if v is not None)
        out.append(f"  norm: {n['low']}-{n['high']} {n['unit']} ({n['population']}; {n['citation']}"
                   + ("" if n["checked"] else ", NOT checked against the source") + ")"
                   + (f"; latest session: {latest} {n['unit']}" if latest else ""))
    return out
