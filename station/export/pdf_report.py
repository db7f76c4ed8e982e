"""``--pdf``: the clinical report of one session, one to three A4 pages.

Layout (reportlab for the page, matplotlib for the plots):
- header: the clinic's logo and name (config file), the report title, the patient pseudonym,
  the session date, body mass, involved side and the protocols;
- per test: a table per side (best, mean, CV, reps, N/kg, N·m/kg, time to peak, RFD, pain),
  the LSI in its colour band (green at or above the pass mark, amber within 10 points below,
  red further below), the best rep's force-time curves of both sides overlaid (aligned at
  onset), and the trend over earlier sessions with the MDC verdicts when the index has them;
- footer: station and algorithm versions, session id, page number.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from station import __version__
from station.export import ExportContext, ExportFormat, register
from station.export.source import SessionData
from station.index.store import TestRow, TrialRow
from station.session.kinds import DEFAULT_KIND, ReportRow, stored_kind

NAVY = "#1F3A5F"
GREY = "#5F6B7A"
LIGHT = "#EEF2F6"
LINE = "#C9D2DC"
SIDE_COLOURS = {"left": "#1F77B4", "right": "#E4572E"}
BAND = {"pass": "#2E7D32", "near": "#E0A100", "fail": "#C62828", "none": "#8A94A0"}


@lru_cache(maxsize=1)
def _fonts() -> tuple[str, str]:
    """DejaVu Sans (shipped with matplotlib, full Unicode: Š, ≥, ·) registered with reportlab."""
    import matplotlib
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    base = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    try:
        pdfmetrics.registerFont(TTFont("DejaVuSans", str(base / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(base / "DejaVuSans-Bold.ttf")))
        return "DejaVuSans", "DejaVuSans-Bold"
    except Exception:  # noqa: BLE001 - fall back to the PDF core fonts
        return "Helvetica", "Helvetica-Bold"


def band(lsi: float | None, pass_pct: float) -> str:
    """Colour band of an LSI: pass (≥ pass mark), near (within 10 points below), fail, none."""
    if lsi is None:
        return "none"
    if lsi >= pass_pct:
        return "pass"
    return "near" if lsi >= pass_pct - 10.0 else "fail"


def _f(v: float | None, fmt: str = ".1f") -> str:
    return "–" if v is None else format(v, fmt)


def _pct(pct: float | None) -> str:
    if pct is None:
        return "–"
    return "0 %" if abs(pct) < 0.5 else f"{pct:+.0f} %"


def _png(fig: Any) -> io.BytesIO:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=200)
    buf.seek(0)
    return buf


def _best_trial(s: SessionData, test: str, side: str) -> TrialRow | None:
    rows = [r for r in s.record.trials if r.test == test and r.side == side and r.status == "complete"
            and r.peak_force_n is not None]
    return max(rows, key=lambda r: r.peak_force_n or 0.0) if rows else None


def _curve(s: SessionData, test: str, row: TrialRow) -> tuple[np.ndarray, np.ndarray] | None:
    """The best rep's force (N) against time from onset (s)."""
    for tr in s.traces.get((test, row.trial), []):
        if row.side not in tr.sides:
            continue
        f = tr.side_force(row.side)
        t = tr.t_host_s - tr.t_host_s[0]
        a = s.trials.get((test, row.trial), {})
        res: dict[str, Any] = a["results"] if isinstance(a.get("results"), dict) else {}
        per = res.get("per_side", {}).get(row.side, res) if isinstance(res.get("per_side"), dict) else res
        onset = per.get("onset_s") if per.get("onset_s") is not None else per.get("contact_s")
        baseline = per.get("baseline_n") or 0.0  # isometric: the resting level; landings are tared
        t0 = float(onset) if onset is not None else 0.0
        return t - t0, f - float(baseline)
    return None


def curves_figure(s: SessionData, test: str, involved: str | None, kind: str = DEFAULT_KIND) -> io.BytesIO | None:
    """The best rep of each side, aligned on its onset, over the window the test kind draws."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: list[tuple[str, TrialRow, tuple[np.ndarray, np.ndarray]]] = []
    for side in ("left", "right"):
        row = _best_trial(s, test, side)
        c = _curve(s, test, row) if row is not None else None
        if row is not None and c is not None:
            lines.append((side, row, c))
    if not lines:
        return None
    spec = stored_kind(kind)
    fig, ax = plt.subplots(figsize=(3.9, 2.35))
    for side, row, (t, f) in lines:
        keep = (t >= -0.3) & (t <= spec.curve_after_onset_s)
        label = f"{side}{' (involved)' if side == involved else ''}: best rep {row.rep}, {row.peak_force_n or 0.0:.0f} N"
        ax.plot(t[keep], f[keep], color=SIDE_COLOURS[side], lw=1.6, label=label,
                ls="--" if side == involved else "-")
    ax.axvline(0.0, color=GREY, lw=0.8, ls=":")
    ax.set_xlabel(spec.curve_axis_label, fontsize=8, color=GREY)
    ax.set_ylabel("force (N)", fontsize=8, color=GREY)
    ax.tick_params(labelsize=7, colors=GREY)
    for sp in ("top", "right"):
        ax.spines[sp].set_visible(False)
    ax.grid(True, color="#E3E8EE", lw=0.6)
    ax.legend(fontsize=6.5, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=1)
    ax.set_xlim(-0.3, None)
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def trend_figure(points: dict[str, list[Any]], sessions: list[Any], mdc_text: str, date_of: Any
                 ) -> io.BytesIO:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 1.75))
    labels = [date_of(s.date_utc) for s in sessions]
    x = np.arange(len(sessions))
    index = {s.session_id: i for i, s in enumerate(sessions)}
    for side, pts in points.items():
        xs = [index[p.session_id] for p in pts if p.best_n is not None and p.session_id in index]
        ys = [p.best_n for p in pts if p.best_n is not None and p.session_id in index]
        ax.plot(xs, ys, marker="o", ms=4, color=SIDE_COLOURS[side], lw=1.6,
                ls="--" if pts and pts[0].involved else "-", label=side + (" (involved)" if pts and pts[0].involved else ""))
        mdc = [p.mdc_prev_n for p in pts if p.session_id in index]
        if len(ys) >= 2 and any(m is not None for m in mdc[1:]):
            # the MDC band around each previous value: a new value outside it is a real change
            for (x0, y0), (x1, m) in zip(zip(xs[:-1], ys[:-1], strict=False), zip(xs[1:], mdc[1:], strict=False), strict=False):
                if m is not None:
                    ax.fill_between([x0, x1], [y0 - m, y0 - m], [y0 + m, y0 + m], color=SIDE_COLOURS[side],
                                    alpha=0.08, lw=0)
    ax2 = ax.twinx()
    lsi = [(i, s.lsi_pct) for i, s in enumerate(sessions) if s.lsi_pct is not None]
    if lsi:
        ax2.plot([i for i, _ in lsi], [v for _, v in lsi], color=GREY, lw=1.0, marker="s", ms=3, label="LSI %")
        ax2.set_ylim(0, 120)
        ax2.set_ylabel("LSI (%)", fontsize=8, color=GREY)
        ax2.tick_params(labelsize=7, colors=GREY)
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_ylabel("best peak force (N)", fontsize=8, color=GREY)
    ax.tick_params(labelsize=7, colors=GREY)
    for sp in ("top",):
        ax.spines[sp].set_visible(False)
        ax2.spines[sp].set_visible(False)
    ax.grid(True, axis="y", color="#E3E8EE", lw=0.6)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, frameon=False, loc="lower right", ncol=3)
    ax.set_title("Trend over sessions (shaded: ± MDC around the previous value)", fontsize=8.5, color=NAVY,
                 loc="left")
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def _styles() -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    regular, bold = _fonts()
    navy = colors.HexColor(NAVY)
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=15, leading=18, textColor=navy),
        "clinic": ParagraphStyle("clinic", fontName=bold, fontSize=11, leading=14, textColor=navy),
        "h2": ParagraphStyle("h2", fontName=bold, fontSize=11.5, leading=15, textColor=navy, spaceBefore=8,
                             spaceAfter=3),
        "h3": ParagraphStyle("h3", fontName=bold, fontSize=9.5, leading=12, textColor=navy, spaceBefore=6,
                             spaceAfter=1),
        "body": ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=11),
        "small": ParagraphStyle("small", fontName=regular, fontSize=7, leading=9, textColor=colors.HexColor(GREY)),
        "cell": ParagraphStyle("cell", fontName=regular, fontSize=8, leading=10),
        "cellb": ParagraphStyle("cellb", fontName=bold, fontSize=8, leading=10),
        "lsi": ParagraphStyle("lsi", fontName=bold, fontSize=12, leading=15, textColor=colors.white),
        "regular": regular, "bold": bold,
    }


def _side_table(s: SessionData, t: TestRow, involved: str | None, st: dict[str, Any]) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    sides = {r.side: r for r in s.record.sides if r.test == t.test}
    best = {side: _best_trial(s, t.test, side) for side in ("left", "right")}
    head = ["", *[f"{side.capitalize()}{' *' if side == involved else ''}" for side in ("left", "right")]]
    def cell(r: ReportRow, side: str) -> str:
        if r.source == "reps":
            return str(sides[side].n_reps) if side in sides else "–"
        if r.source == "pain":
            pain = sides[side].pain_max_0_10 if side in sides else None
            return str(pain) if pain is not None else "–"
        row = (sides if r.source == "side" else best).get(side)
        return _f(getattr(row, r.attr) if row is not None else None, r.spec)
    data = [head, *[[r.label, *[cell(r, side) for side in ("left", "right")]]
                    for r in stored_kind(t.kind).report_rows]]
    table = Table(data, colWidths=[46 * 2.83465, 25 * 2.83465, 25 * 2.83465], hAlign="LEFT")
    style = [
        ("FONT", (0, 0), (-1, -1), st["regular"], 8.5),
        ("FONT", (0, 0), (-1, 0), st["bold"], 8.5),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor(NAVY)),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor(LIGHT)]),
        ("LINEBELOW", (0, -1), (-1, -1), 0.5, colors.HexColor(LINE)),
        ("FONT", (0, 1), (-1, 1), st["bold"], 9),
        ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    table.setStyle(TableStyle(style))
    return table


def _lsi_box(s: SessionData, t: TestRow, st: dict[str, Any]) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    summary = s.tests.get(t.test, {}).get("summary") or {}
    sym = summary.get("symmetry") if isinstance(summary, dict) else {}
    pass_pct = float(sym.get("pass_pct") or 90.0) if isinstance(sym, dict) else 90.0
    if t.lsi_pct is not None:
        b = band(t.lsi_pct, pass_pct)
        verdict = {"pass": "at or above the pass mark", "near": "below the pass mark",
                   "fail": "well below the pass mark"}[b]
        big = f"LSI {t.lsi_pct:.1f} %"
        small = f"involved / uninvolved × 100 · pass mark {pass_pct:.0f} % · {verdict}"
    elif t.asymmetry_pct is not None:
        b = "none"
        big = f"Asymmetry {t.asymmetry_pct:+.1f} %"
        direction = sym.get("direction") if isinstance(sym, dict) else None
        ratio = sym.get("involved_ratio_pct") if isinstance(sym, dict) else None
        small = "(right − left) / larger × 100" + (f" · {direction}" if direction else "")
        if ratio is not None:
            small += f" · involved / uninvolved {ratio:.0f} %"
        if stored_kind(t.kind).symmetry_note:
            small += f" · {stored_kind(t.kind).symmetry_note}"
    else:
        b, big, small = "none", "LSI –", "needs both sides and an involved side"
    rows = [[Paragraph(big, st["lsi"])], [Paragraph(small, st["small"].clone("w", textColor=colors.white))]]
    box = Table(rows, colWidths=[80 * 2.83465], hAlign="LEFT")
    box.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(BAND[b])),
                             ("LEFTPADDING", (0, 0), (-1, -1), 7), ("RIGHTPADDING", (0, 0), (-1, -1), 7),
                             ("TOPPADDING", (0, 0), (-1, 0), 6), ("BOTTOMPADDING", (0, -1), (-1, -1), 6)]))
    legend = Paragraph(
        f"<font color='{BAND['pass']}'>■</font> ≥ {pass_pct:.0f} %  "
        f"<font color='{BAND['near']}'>■</font> {pass_pct - 10:.0f}–{pass_pct:.0f} %  "
        f"<font color='{BAND['fail']}'>■</font> &lt; {pass_pct - 10:.0f} %", st["small"])
    return [box, legend] if t.lsi_pct is not None else [box]


def _trend_section(s: SessionData, t: TestRow, ctx: ExportContext, st: dict[str, Any], original_pid: str) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import Image, Paragraph, Table, TableStyle

    from station.history.trend import patient_trend

    if ctx.store is None:
        return []
    pt = patient_trend(ctx.store, original_pid, t.protocol_id).protocol(t.protocol_id)
    if pt is None:
        return []
    now = ctx.options.get("original_dates", {}).get(s.record.session.session_id, s.record.session.started_utc)
    sessions = [x for x in pt.sessions if x.date_utc <= now]
    if len(sessions) < 2:
        return [Paragraph("Trend: first session of this test; later reports compare with it.", st["small"])]
    sc = (ctx.pseudonymiser.for_patient(original_pid) if ctx.deidentified and ctx.pseudonymiser else None)
    from station.history.trend import date_labels

    shown = dict(zip([x.date_utc for x in sessions],
                     date_labels([sc.text(x.date_utc) if sc else x.date_utc for x in sessions]), strict=True))

    def date_of(d: str) -> str:
        return shown.get(d) or (sc.text(d) if sc else d)[:10]
    keep = {x.session_id for x in sessions}
    points = {side: [p for p in pts if p.session_id in keep] for side, pts in pt.sides.items()}
    figure = trend_figure(points, sessions, pt.error.description, date_of)
    out: list[Any] = [Paragraph("Change over time", st["h3"]), Image(figure, width=182 * 2.83465, height=44 * 2.83465)]
    head = ["Date", "Side", "Best (N)", "Since previous", "Verdict", "Since first", "Verdict"]
    rows = [head]
    vcol = {"improved beyond MDC": BAND["pass"], "declined beyond MDC": BAND["fail"],
            "within measurement error": GREY}
    styles = []
    for sess in sessions:
        for side in ("left", "right"):
            p = next((q for q in points.get(side, []) if q.session_id == sess.session_id), None)
            if p is None:
                continue
            ch = "–" if p.change_prev_n is None else f"{p.change_prev_n:+.1f} N ({_pct(p.change_prev_pct)})"
            cf = "–" if p.change_first_n is None else f"{p.change_first_n:+.1f} N ({_pct(p.change_first_pct)})"
            rows.append([date_of(sess.date_utc), side + (" *" if p.involved else ""), _f(p.best_n), ch,
                         p.verdict_prev or "–", cf, p.verdict_first or "–"])
            r = len(rows) - 1
            for col, v in ((4, p.verdict_prev), (6, p.verdict_first)):
                if v in vcol:
                    styles.append(("TEXTCOLOR", (col, r), (col, r), colors.HexColor(vcol[v])))
    wide = any(len(r[0]) > 10 for r in rows[1:])
    widths = (27, 11, 13, 26, 38, 27, 39) if wide else (18, 13, 14, 28, 39, 28, 40)
    table = Table(rows, colWidths=[x * 2.83465 for x in widths], hAlign="LEFT")
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), st["regular"], 7.5), ("FONT", (0, 0), (-1, 0), st["bold"], 7.5),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.HexColor(NAVY)),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.HexColor(NAVY)),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor(LIGHT)]),
        ("ALIGN", (2, 1), (3, -1), "RIGHT"), ("ALIGN", (5, 1), (5, -1), "RIGHT"),
        ("RIGHTPADDING", (4, 0), (4, -1), 8),   # a verdict never runs into the next change
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5), *styles]))
    out.append(table)
    epic = sessions[-1]
    notes = [f"MDC: {pt.error.description}."]
    if epic.epic_pct is not None:
        ref = epic.epic_reference or ""
        if sc:
            ref = sc.text(ref)
        notes.append(f"EPIC view: involved side now is {epic.epic_pct:.1f} % of the {ref} "
                     f"(LSI alone overestimates recovery when both sides weakened).")
    notes.append("* involved side. Verdicts compare each change with the minimal detectable change "
                 "MDC95 = 1.96 × √2 × SEM.")
    out += [Paragraph(n, st["small"]) for n in notes]
    return out


def write(sessions: Sequence[SessionData], dest: Path, ctx: ExportContext) -> None:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        CondPageBreak,
        Image,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    (s,) = sessions
    st = _styles()
    rec = s.record
    involved = rec.session.involved_side if rec.session.involved_side in ("left", "right") else None
    original_pid = ctx.options.get("original_patient_ids", {}).get(s.patient_id, s.patient_id)
    story: list[Any] = []

    # header: logo + clinic name | title
    logo_cell: Any = ""
    if ctx.logo is not None and ctx.logo.is_file():
        from reportlab.lib.utils import ImageReader

        iw, ih = ImageReader(str(ctx.logo)).getSize()
        h = 14 * mm
        logo_cell = Image(str(ctx.logo), width=h * iw / ih, height=h)
    clinic = Paragraph(ctx.clinic_name or "Force Station", st["clinic"])
    title = Paragraph("Strength assessment report", st["title"])
    head = Table([[logo_cell, clinic, title]], colWidths=[24 * mm, 66 * mm, 92 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("ALIGN", (2, 0), (2, 0), "RIGHT"),
                              ("LINEBELOW", (0, 0), (-1, 0), 1.2, colors.HexColor(NAVY)),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 6), ("LEFTPADDING", (0, 0), (0, 0), 0)]))
    story += [head, Spacer(1, 4 * mm)]

    protos = ", ".join(t.name or t.protocol_id for t in rec.tests)
    info = [
        ["Patient", s.patient_id + ("  (de-identified)" if ctx.deidentified else ""), "Session date",
         s.date_utc[:16].replace("T", " ") + " UTC"],
        ["Body mass", f"{_f(rec.session.body_mass_kg)} kg", "Involved side", rec.session.involved_side or "–"],
        ["Tests", Paragraph(protos, st["cell"]), "Status", rec.session.status],
    ]
    op = s.session.get("operator")
    if op and not ctx.deidentified:
        info.append(["Tested by", str(op), "", ""])
    it = Table(info, colWidths=[24 * mm, 76 * mm, 26 * mm, 56 * mm])
    it.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), st["regular"], 8.5),
                            ("FONT", (0, 0), (0, -1), st["bold"], 8.5), ("FONT", (2, 0), (2, -1), st["bold"], 8.5),
                            ("TEXTCOLOR", (0, 0), (0, -1), colors.HexColor(GREY)),
                            ("TEXTCOLOR", (2, 0), (2, -1), colors.HexColor(GREY)),
                            ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(LIGHT)),
                            ("VALIGN", (0, 0), (-1, -1), "TOP"),
                            ("TOPPADDING", (0, 0), (-1, -1), 2.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5)]))
    story += [it]

    for i, t in enumerate(rec.tests):
        block: list[Any] = [Paragraph(f"{t.name or t.protocol_id}", st["h2"])]
        if t.status != "complete":
            block.append(Paragraph(f"Test status: {t.status}", st["body"]))
        right = _lsi_box(s, t, st)
        fig = curves_figure(s, t.test, involved, t.kind)
        if fig is not None:
            right += [Spacer(1, 1.5 * mm), Image(fig, width=80 * mm, height=48 * mm)]
        elif s.index_only:
            right += [Spacer(1, 1.5 * mm), Paragraph("No force-time curves: this session was recorded on another "
                                                     "station and only its results are here.", st["small"])]
        left = [_side_table(s, t, involved, st), Spacer(1, 1 * mm),
                Paragraph("* involved side. " + stored_kind(t.kind).report_note, st["small"])]
        row = Table([[left, right]], colWidths=[100 * mm, 82 * mm])
        row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        block.append(row)
        block += _trend_section(s, t, ctx, st, original_pid)
        if i > 0:
            story.append(CondPageBreak(120 * mm))
        story.append(KeepTogether(block))

    algo = rec.session.algorithm_version or "?"
    station_v = rec.session.station_version or "?"

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setStrokeColor(colors.HexColor(LINE))
        canvas.line(14 * mm, 13 * mm, A4[0] - 14 * mm, 13 * mm)
        canvas.setFont(st["regular"], 7)
        canvas.setFillColor(colors.HexColor(GREY))
        canvas.drawString(14 * mm, 9 * mm, f"Recorded with Force Station {station_v} · analysis algorithm {algo} · "
                                           f"report by Force Station {__version__} · session {rec.session.session_id[:13]}")
        canvas.drawRightString(A4[0] - 14 * mm, 9 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(dest), pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=12 * mm,
                            bottomMargin=18 * mm, title="Strength assessment report",
                            author=ctx.clinic_name or "Force Station", subject=s.patient_id,
                            creator=f"Force Station {__version__}",
                            invariant=1 if ctx.deidentified else 0)  # de-identified: no creation date
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


register(ExportFormat("pdf", "file", "a 1-3 page clinical report (tables, LSI band, curves, trend)", write,
                      multi_session=False, needs_traces=True, suffix=".pdf"))
