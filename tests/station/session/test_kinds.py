"""Test kinds as a registry, and a protocol's ``[analysis]`` table: its values are the ones the
session analyses with and stores with every result (engine on a fake clock, real HDF5 file)."""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import h5py
import pytest

from protocols import ProtocolError, get_protocol, parse_protocol
from protocols.kinds import PROTOCOL_KINDS
from station.analysis.isometric import IsometricParams
from station.analysis.landing import LandingParams
from station.session import events as ev
from station.session.kinds import KINDS, Subject, get_kind
from station.session.model import TrialOutcome
from station.session.runner import RunnerOptions
from station.session.terminal import TerminalUI
from station.testing import manual_session

TEST = "tests/01_hip-abduction-hhd"
CUSTOM = """
[analysis]
onset_threshold_n = 25
rfd_windows_s = [0.03, 0.09, 0.25]
peak_rfd_window_s = 0.04
rfd_filter_hz = 0
"""


def hip_with(extra: str, reps: int = 1):
    text = get_protocol("hip-abduction-hhd").source_text + extra
    return dataclasses.replace(parse_protocol(text, "hip-custom.toml"), reps=reps, source_path="hip-custom.toml")


def run(tmp_path: Path, protocol, respond=None) -> tuple[Path, list[ev.Event]]:
    session, parts = manual_session(tmp_path / "s.h5", [protocol], peaks_n={"left": [230.0], "right": [180.0]},
                                    options=RunnerOptions(tail_s=0.3, wait_for_go=respond is not None))
    seen: list[ev.Event] = []

    def on_event(e: ev.Event) -> None:
        seen.append(e)
        if respond is not None:
            respond(session.engine, e)

    session.engine.subscribe(on_event)
    session.engine.start()
    assert session.engine.join(10.0), "the engine did not finish"
    assert session.close() == "complete"
    return session.path, seen


def test_every_protocol_kind_has_a_station_kind() -> None:
    assert set(KINDS) == set(PROTOCOL_KINDS)
    for name, kind in KINDS.items():
        assert get_kind(name) is kind and kind.spec.name == name
        # every [analysis] key of the protocol file is a parameter of the kind's analysis
        fields = {f.name for f in dataclasses.fields(kind.params_type)}
        assert {s.key for s in kind.spec.analysis} <= fields


def test_params_apply_the_protocol_settings_and_zero_turns_a_filter_off() -> None:
    iso = get_kind("isometric").params({"onset_k": 5.0, "rfd_windows_s": (0.03, 0.09), "rfd_filter_hz": 0.0})
    assert iso == dataclasses.replace(IsometricParams(), onset_k=5.0, rfd_windows_s=(0.03, 0.09), rfd_filter_hz=None)
    land = get_kind("landing").params({"tts_band_pct": 3.0, "filter_hz": 0})
    assert land == dataclasses.replace(LandingParams(), tts_band_pct=3.0, filter_hz=None)
    assert get_kind("isometric").params() == IsometricParams()
    with pytest.raises(KeyError):
        get_kind("landing").params({"onset_k": 3.0})


def test_custom_analysis_is_used_by_the_session_and_stored_with_the_results(tmp_path: Path) -> None:
    protocol = hip_with(CUSTOM)
    assert protocol.analysis == {"onset_threshold_n": 25.0, "rfd_windows_s": (0.03, 0.09, 0.25),
                                 "peak_rfd_window_s": 0.04, "rfd_filter_hz": 0.0}
    path, seen = run(tmp_path, protocol)
    recorded = [e.outcome for e in seen if isinstance(e, ev.TrialRecorded)]
    assert len(recorded) == 2
    with h5py.File(path, "r") as f:
        for _key, trial in sorted(f[f"{TEST}/trials"].items()):
            results = json.loads(trial.attrs["results"])
            p = results["parameters"]
            assert p["onset_method"] == "threshold_n" and p["onset_threshold_n"] == 25.0
            assert p["rfd_windows_s"] == [0.03, 0.09, 0.25] and p["peak_rfd_window_s"] == 0.04
            assert p["rfd_filter_hz"] is None and results["rfd_filter_hz"] is None  # 0 = unfiltered
            assert set(results["rfd_n_per_s"]) == {"0-30", "0-90", "0-250"}
            assert set(results["impulse_n_s"]) == {"0-30", "0-90", "0-250"}
            # the threshold really is baseline + 25 N (not baseline + 3 SD)
            assert results["onset_threshold_n"] == pytest.approx(results["baseline_n"] + 25.0)
        stored = f["protocols/hip-abduction-hhd"].attrs
        assert "onset_threshold_n = 25" in stored["text"]
        assert json.loads(stored["analysis"]) == {"onset_threshold_n": 25.0, "rfd_windows_s": [0.03, 0.09, 0.25],
                                                  "peak_rfd_window_s": 0.04, "rfd_filter_hz": 0.0}


def test_default_analysis_when_the_protocol_sets_none(tmp_path: Path) -> None:
    path, _ = run(tmp_path, hip_with(""))
    with h5py.File(path, "r") as f:
        trial = next(iter(f[f"{TEST}/trials"].values()))
        p = json.loads(trial.attrs["results"])["parameters"]
    assert p["onset_method"] == "sd" and p["onset_k"] == IsometricParams().onset_k
    assert p["rfd_windows_s"] == list(IsometricParams().rfd_windows_s) and p["rfd_filter_hz"] == 50.0


@pytest.mark.parametrize(("extra", "message"), [
    ("[analysis]\nonset_k = 4\nonset_threshold_n = 20\n", "hip.toml:{line}: [analysis].onset_threshold_n: give onset_k"),
    ("[analysis]\nrfd_windows_s = [0.2, 0.1]\n", "hip.toml:{line}: [analysis].rfd_windows_s: expected a list of increasing"),
    ("[analysis]\ntts_hold_s = 1\n", 'hip.toml:{line}: [analysis].tts_hold_s: a landing analysis setting; '
                                     'this protocol has kind = "isometric"'),
    ("[analysis]\nonset_kk = 3\n", "hip.toml:{line}: unknown key 'onset_kk' in [analysis] (did you mean 'onset_k'?)"),
    ("[analysis]\nrfd_filter_hz = 60\n", "hip.toml:{line}: [analysis].rfd_filter_hz: 60 Hz must be below half"),
    ("[analysis]\nonset_k = -1\n", "hip.toml:{line}: [analysis].onset_k: expected a number > 0"),
])
def test_bad_analysis_settings_give_one_line_naming_file_and_field(extra: str, message: str) -> None:
    text = get_protocol("hip-abduction-hhd").source_text + "\n" + extra
    key = extra.splitlines()[-1].split("=")[0].strip()
    line = 1 + max(i for i, ln in enumerate(text.splitlines()) if ln.startswith(key + " ="))  # the key's line
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text, "hip.toml")
    text = str(info.value)
    assert "\n" not in text and text.startswith(message.format(line=line))


def test_redo_emits_the_redone_trial_as_rejected(tmp_path: Path) -> None:
    answers = ["go", "redo"]

    def respond(engine, e) -> None:
        if isinstance(e, ev.TrialReady):
            engine.send(answers.pop(0) if answers else "go")

    path, seen = run(tmp_path, hip_with("", reps=1), respond)
    recorded = [(e.outcome.side, e.outcome.rep, e.outcome.status) for e in seen if isinstance(e, ev.TrialRecorded)]
    assert recorded == [("left", 1, "complete"), ("left", 1, "rejected"), ("left", 1, "complete"),
                        ("right", 1, "complete")]
    with h5py.File(path, "r") as f:
        assert [t.attrs["status"] for _, t in sorted(f[f"{TEST}/trials"].items())] == [
            "rejected", "complete", "complete"]


def outcome(results: dict, **kw) -> TrialOutcome:
    return TrialOutcome("t", "001", "left", 1, 1, "complete", peak_force_n=200.0, results=results, **kw)


def test_terminal_shows_the_metrics_the_protocol_lists() -> None:
    iso = get_kind("isometric")
    forces = {"left": _rise(500.0)}
    analysed = iso.analyse(forces, {"left": 500.0}, iso.params(), Subject(body_mass_kg=70.0, lever_arm_m=0.8))
    every = get_protocol("hip-abduction-hhd")
    lines = {}
    for name, metrics in (("all", every.metrics), ("peak only", ("peak_force", "lsi"))):
        out = io.StringIO()
        ui = TerminalUI(interactive=False, out=out)
        ui.test_started(dataclasses.replace(every, metrics=metrics))
        ui.trial_done(outcome(analysed.results))
        lines[name] = out.getvalue()
    assert "time to peak" in lines["all"] and "RFD 0–200 ms" in lines["all"] and "N·m" in lines["all"]
    assert "N/kg" in lines["all"]
    assert "time to peak" not in lines["peak only"] and "RFD" not in lines["peak only"]
    assert "N·m" not in lines["peak only"] and "N/kg" not in lines["peak only"]
    assert "peak 200.0 N" in lines["peak only"]
    out = io.StringIO()
    TerminalUI(interactive=False, out=out).trial_done(
        dataclasses.replace(outcome(analysed.results), status="rejected"))
    assert out.getvalue().split() == ["L1", "rejected", "(redone)"]


def test_terminal_shows_the_cue_while_recording(tmp_path: Path) -> None:
    out = io.StringIO()
    ui = TerminalUI(interactive=False, out=out)
    ui.test_started(get_protocol("hip-abduction-hhd"))
    ui.recording("Push, push, push!")
    from station.live import LiveState

    ui.live("left", 1, LiveState(100.0, 120.0, 0.0, 1.0, 10), 1.0, 5.0)
    assert "Push, push, push!" in out.getvalue()


def _rise(rate_hz: float):
    import numpy as np

    t = np.arange(int(4 * rate_hz)) / rate_hz
    return np.where(t < 1.0, 2.0, 2.0 + 200.0 * (1 - np.exp(-(t - 1.0) / 0.15))) + 0.2 * np.sin(50 * t)


def test_analyze_of_a_session_trial_uses_its_protocols_analysis(tmp_path: Path, capsys) -> None:
    from station import cli

    path, _ = run(tmp_path, hip_with(CUSTOM))
    with h5py.File(path, "r") as f:
        stored = json.loads(f[f"{TEST}/trials/001"].attrs["results"])
    assert cli.main(["analyze", str(path), "--test", "isometric", "--trial", "01_hip-abduction-hhd/001", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["parameters"] == stored["parameters"]
    assert again["onset_s"] == stored["onset_s"] and again["rfd_n_per_s"] == stored["rfd_n_per_s"]
    assert any("[analysis]" in n and "onset_threshold_n = 25.0" in n for n in again["notes"])
    # an option given on the command line wins over the protocol's setting
    assert cli.main(["analyze", str(path), "--test", "isometric", "--trial", "01_hip-abduction-hhd/001", "--json",
                     "--onset-k", "3"]) == 0
    p = json.loads(capsys.readouterr().out)["parameters"]
    assert p["onset_method"] == "sd" and p["onset_k"] == 3 and p["rfd_windows_s"] == [0.03, 0.09, 0.25]


# ------------------------------------------------------------------------------------------
# the index, the exports and the trend ask the kind, never compare kind names
# ------------------------------------------------------------------------------------------
def _kind_name_comparisons(path: Path) -> list[int]:
    """Lines of ``path`` that compare something with a test kind's name (``== "landing"``,
    ``in ("isometric", …)``): decisions that belong to the kinds registry."""
    import ast

    names = set(KINDS)

    def literal_kind(node: ast.expr) -> bool:
        if isinstance(node, ast.Constant) and node.value in names:
            return True
        return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(literal_kind(e) for e in node.elts)

    return sorted(node.lineno for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                  if isinstance(node, ast.Compare) and any(literal_kind(c) for c in [node.left, *node.comparators]))


def test_no_test_kind_name_is_compared_outside_the_registry() -> None:
    root = Path(__file__).resolve().parents[3]
    offenders = []
    for path in sorted((root / "station").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(("station/session/kinds/", "station/gui/")):  # the registry; the window: its own
            continue
        offenders += [f"{rel}:{n}" for n in _kind_name_comparisons(path)]
    assert offenders == []


def test_the_kind_name_scan_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('def f(t, kind):\n    if t.kind == "landing":\n        pass\n'
                   '    return kind in ("isometric", "x") or kind != "other"\n', encoding="utf-8")
    assert _kind_name_comparisons(bad) == [2, 4]


def test_a_new_kind_reaches_the_index_report_and_trend_without_editing_them(monkeypatch) -> None:
    """A kind added to the registry (here a 'hop' landing variant) decides the index rows,
    the report's curve window, axis label, table and notes, and the trend's MDC verdicts."""
    from station.export.pdf_report import curves_figure  # noqa: F401 - the report imports the registry
    from station.history.trend import protocol_trend
    from station.index.extract import trial_rows
    from station.index.store import HistoryRow
    from station.session.kinds import ReportRow, stored_kind
    from station.session.kinds.landing import Landing

    class Hop(Landing):
        name = "hop"
        curve_after_onset_s = 0.7
        curve_axis_label = "time from take-off landing (s)"
        report_rows = (ReportRow("Hop peak (N)", "side", "best_n"),)
        report_note = "Values of the longest hop."
        symmetry_note = ""
        mdc_verdicts = False
        no_mdc_note = "no MDC verdicts for hops"

        def index_rows(self, results, side, body_mass_kg, peak_force_n):
            return [(side, {"peak_force_n": peak_force_n})]

    monkeypatch.setitem(KINDS, "hop", Hop())
    assert stored_kind("hop").curve_after_onset_s == 0.7 and stored_kind("nonesuch") is KINDS["isometric"]
    rows = trial_rows("sid", "01_hop", "001", "hop", {"side": "left", "status": "complete", "rep": 1,
                                                        "peak_force_n": 812.5, "results": {"peak_force_n": 1.0}}, 70.0)
    assert [(r.side, r.peak_force_n) for r in rows] == [("left", 812.5)]
    # the same attributes as a landing: the landing kind's own rows (summed, then per plate)
    both = trial_rows("sid", "01_land", "001", "landing",
                      {"side": "both", "status": "complete", "results": {
                          "peak_force_n": 2000.0, "asymmetry_pct": {"peak_force": -4.0},
                          "left": {"peak_force_n": 1040.0}, "right": {"peak_force_n": 960.0}}}, 80.0)
    assert [(r.side, r.peak_force_n, r.asymmetry_pct) for r in both] == [
        ("both", 2000.0, -4.0), ("left", 1040.0, None), ("right", 960.0, None)]
    history = [HistoryRow("sid", "2026-01-01T10:00:00+00:00", None, 70.0, "left", "01_hop", "hop-test", "hop",
                          "left", 800.0, None, None, None, 3, None, None)]
    trend = protocol_trend("hop-test", history, [], [], [])
    assert trend.kind == "hop" and trend.error.description == "no MDC verdicts for hops"
    iso = protocol_trend("hip", [dataclasses.replace(history[0], kind="isometric")], [], [], [])
    assert iso.error.description != "no MDC verdicts for hops"
