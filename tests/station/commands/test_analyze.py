"""``station analyze``: file formats, options, JSON/text output and one-line user errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from station.cli import main

VALIDATION_DIR = Path(__file__).resolve().parents[3] / ".." / "shared" / "validation"
needs_validation = pytest.mark.skipif(not VALIDATION_DIR.is_dir(), reason="validation traces not found")

ISO_KEYS = {"rate_hz", "baseline_n", "onset_s", "peak_force_n", "peak_force_abs_n", "time_to_peak_s",
            "rfd_n_per_s", "peak_rfd_n_per_s", "impulse_n_s", "algorithm_version", "parameters", "notes"}
LAND_KEYS = {"rate_hz", "contact_s", "body_weight_n", "peak_force_n", "peak_force_bw", "time_to_peak_s",
             "loading_rate_n_per_s", "impulse_100ms_n_s", "tts_s", "algorithm_version", "parameters", "notes"}
WINDOW_KEYS = {"0-50", "0-100", "0-150", "0-200"}


def _rise(rate=1000.0, seconds=3.0, t0=1.0, base=20.0, amp=400.0, tau=0.05, noise=0.5, seed=0):
    t = np.arange(round(seconds * rate)) / rate
    f = base + amp * -np.expm1(-np.clip(t - t0, 0, None) / tau)
    return t, f + np.random.default_rng(seed).normal(0, noise, t.size)


def _landing(rate=1000.0):
    t = np.arange(4000) / rate
    u = t - 1.0
    f = np.where(u < 0, 0.0, np.where(u < 0.05, 2000 * u / 0.05, 700 + 1300 * np.exp(-(u - 0.05) / 0.05)))
    return t, f + np.random.default_rng(1).normal(0, 1.0, t.size)


def _write(path: Path, header: str | None, columns, delim=",", fmt="{:.6f}") -> Path:
    lines = [header] if header else []
    lines += [delim.join(fmt.format(v) for v in row) for row in zip(*columns, strict=False)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("station: error: ") and err.count("\n") == 1
    return err


# ------------------------------------------------------------------------------- formats
def test_csv_with_time_column_json(tmp_path, capsys):
    t, f = _rise()
    path = _write(tmp_path / "iso.csv", "Time,Force", [t, f])
    d = _json(capsys, ["analyze", str(path), "--test", "isometric", "--json"])
    assert ISO_KEYS <= set(d)
    assert d["rate_hz"] == 1000.0
    assert set(d["rfd_n_per_s"]) == WINDOW_KEYS == set(d["impulse_n_s"])
    assert 0.99 <= d["onset_s"] <= 1.01  # zero-lag filter: may lead the true onset by a few ms
    assert d["peak_force_n"] == pytest.approx(400.0, abs=3.0)
    assert d["algorithm_version"] == "1.0.0" and d["source"]["column"] == "Force"


def test_rate_from_time_column_uses_median_step(tmp_path, capsys):
    t, f = _rise(rate=2000.0)
    path = _write(tmp_path / "iso.csv", "time_s;Fz", [t, f], delim=";")
    d = _json(capsys, ["analyze", str(path), "--test", "isometric", "--json"])
    assert d["rate_hz"] == 2000.0


def test_headerless_single_column_with_rate(tmp_path, capsys):
    _, f = _rise()
    path = _write(tmp_path / "iso.txt", None, [f])
    d = _json(capsys, ["analyze", str(path), "--test", "isometric", "--rate", "1000", "--json"])
    assert d["rate_hz"] == 1000.0 and d["peak_force_n"] > 390


def test_tab_and_semicolon_decimal_comma(tmp_path, capsys):
    t, f = _rise()
    tab = _write(tmp_path / "tab.tsv", "t\tF", [t, f], delim="\t")
    semi = tmp_path / "semi.csv"
    semi.write_text("Time;Force\n" + "".join(f"{a:.6f};{b:.6f}\n".replace(".", ",") for a, b in zip(t, f, strict=False)))
    a = _json(capsys, ["analyze", str(tab), "--test", "isometric", "--json"])
    b = _json(capsys, ["analyze", str(semi), "--test", "isometric", "--json"])
    assert a["peak_force_n"] == pytest.approx(b["peak_force_n"]) and a["onset_s"] == b["onset_s"]


@pytest.mark.parametrize("unit, factor", [("kgf", 9.80665), ("lbf", 4.4482216152605)])
def test_unit_conversion(tmp_path, capsys, unit, factor):
    t, f = _rise()
    n = _write(tmp_path / "n.csv", "Time,F", [t, f], fmt="{:.9f}")
    u = _write(tmp_path / "u.csv", "Time,F", [t, f / factor], fmt="{:.9f}")
    a = _json(capsys, ["analyze", str(n), "--test", "isometric", "--json"])
    b = _json(capsys, ["analyze", str(u), "--test", "isometric", "--unit", unit, "--json"])
    assert b["peak_force_n"] == pytest.approx(a["peak_force_n"], rel=1e-6)
    assert b["onset_s"] == a["onset_s"]


def test_options_are_passed_through(tmp_path, capsys):
    t, f = _rise()
    path = _write(tmp_path / "iso.csv", "Time,F", [t, f])
    d = _json(capsys, ["analyze", str(path), "--test", "isometric", "--json", "--onset-k", "5",
                       "--lever-arm-m", "0.3", "--body-mass-kg", "80", "--filter-hz", "20", "--rfd-filter-hz", "0"])
    p = d["parameters"]
    assert p["onset_k"] == 5.0 and p["filter_hz"] == 20.0 and p["rfd_filter_hz"] is None
    assert d["peak_torque_nm"] == pytest.approx(d["peak_force_n"] * 0.3)
    assert d["peak_force_n_per_kg"] == pytest.approx(d["peak_force_n"] / 80)
    d = _json(capsys, ["analyze", str(path), "--test", "isometric", "--json", "--onset-s", "0.999"])
    assert d["onset_s"] == pytest.approx(0.999) and d["parameters"]["onset_method"] == "manual"
    d = _json(capsys, ["analyze", str(path), "--test", "isometric", "--json", "--onset-threshold-n", "10"])
    assert d["parameters"]["onset_method"] == "threshold_n"


def test_low_rate_json_has_nulls_and_notes(tmp_path, capsys):
    t, f = _rise(rate=80.0)
    path = _write(tmp_path / "hx711.csv", "Time,F", [t, f])
    d = _json(capsys, ["analyze", str(path), "--test", "isometric", "--json"])
    assert d["rfd_n_per_s"] == {k: None for k in WINDOW_KEYS} and d["peak_rfd_n_per_s"] is None
    assert any("500 Hz" in n for n in d["notes"])


def test_text_output_is_aligned_with_units(tmp_path, capsys):
    t, f = _rise()
    path = _write(tmp_path / "iso.csv", "Time,F", [t, f])
    assert main(["analyze", str(path), "--test", "isometric"]) == 0
    out = capsys.readouterr().out
    assert "N/s" in out and "N·s" in out and "peak force" in out and "algorithm version 1.0.0" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("  ") and not ln.startswith("  - ")]
    value_cols = {len(ln) - len(ln[2:].lstrip(" ").split("  ", 1)[1].lstrip(" ")) for ln in rows if "  " in ln[2:]}
    assert len(value_cols) == 1  # every value starts in the same column


def test_landing_single_and_dual(tmp_path, capsys):
    t, f = _landing()
    single = _write(tmp_path / "land.csv", "time,Fz", [t, f])
    d = _json(capsys, ["analyze", str(single), "--test", "landing", "--json"])
    assert LAND_KEYS <= set(d)
    assert d["body_weight_n"] == pytest.approx(700.0, rel=0.01)
    dual = _write(tmp_path / "dual.csv", "time,L,R", [t, 0.4 * f, 0.6 * f])
    d = _json(capsys, ["analyze", str(dual), "--test", "landing", "--left", "L", "--right", "R", "--json"])
    assert LAND_KEYS <= set(d) and {"left", "right", "asymmetry_pct"} <= set(d)
    assert LAND_KEYS <= set(d["left"]) and LAND_KEYS <= set(d["right"])
    assert d["asymmetry_pct"]["peak_force"] == pytest.approx((0.6 - 0.4) / 0.6 * 100, rel=1e-3)
    assert main(["analyze", str(dual), "--test", "landing", "--left", "2", "--right", "3",
                 "--body-weight-n", "720"]) == 0
    out = capsys.readouterr().out
    assert "asymmetry peak force" in out and "right higher" in out and "720.0 N" in out


def test_h5_session_trial(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    _, f = _rise()
    path = tmp_path / "session.h5"
    with h5py.File(path, "w") as fh:
        g = fh.create_group("trials/hip_abd_left/rep1")
        g.create_dataset("force_n", data=np.c_[f, 0.5 * f])
        fh["trials/hip_abd_left"].attrs["rate_hz"] = 1000.0  # on a parent group
    d = _json(capsys, ["analyze", str(path), "--trial", "trials/hip_abd_left/rep1", "--test", "isometric",
                       "--column", "1", "--json"])
    assert d["rate_hz"] == 1000.0 and d["source"]["trial"] == "trials/hip_abd_left/rep1"
    d2 = _json(capsys, ["analyze", str(path), "--trial", "trials/hip_abd_left/rep1", "--test", "isometric",
                        "--column", "2", "--json"])
    assert d2["peak_force_n"] == pytest.approx(0.5 * d["peak_force_n"], rel=1e-6)
    err = _error(capsys, ["analyze", str(path), "--trial", "nope", "--test", "isometric"])
    assert "nope" in err and "session.h5" in err
    err = _error(capsys, ["analyze", str(path), "--test", "isometric"])
    assert "--trial" in err


@needs_validation
def test_real_files(capsys):
    iso = VALIDATION_DIR / "isometric" / "imtp-example2.csv"
    d = _json(capsys, ["analyze", str(iso), "--test", "isometric", "--json"])
    assert d["source"]["column"] == "Fz" and d["rate_hz"] == 1000.0 and d["onset_s"] < d["peak_s"]
    dual = VALIDATION_DIR / "landing" / "dual-drop-jump.txt"
    d = _json(capsys, ["analyze", str(dual), "--test", "landing", "--rate", "1000", "--left", "FP1",
                       "--right", "FP2", "--json"])
    assert d["body_weight_n"] == pytest.approx(665.0, rel=0.03)
    single = VALIDATION_DIR / "landing" / "single-drop-jump.txt"
    d = _json(capsys, ["analyze", str(single), "--test", "landing", "--rate", "1000", "--contact", "last", "--json"])
    assert d["analysed_contact"] == "last" and d["tts_s"] is not None


# -------------------------------------------------------------------------------- errors
def test_missing_file(capsys, tmp_path):
    err = _error(capsys, ["analyze", str(tmp_path / "absent.csv"), "--test", "isometric"])
    assert "absent.csv" in err


def test_non_numeric_column(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("Time,Force\n0.000,1.0\n0.001,abc\n0.002,3.0\n")
    err = _error(capsys, ["analyze", str(path), "--test", "isometric"])
    assert "'Force'" in err and "bad.csv" in err and "not numeric" in err


def test_unknown_column(capsys, tmp_path):
    t, f = _rise()
    path = _write(tmp_path / "iso.csv", "Time,Force", [t, f])
    err = _error(capsys, ["analyze", str(path), "--test", "isometric", "--column", "Fy"])
    assert "'Fy'" in err and "Time, Force" in err


def test_no_rise(capsys, tmp_path):
    t = np.arange(3000) / 1000.0
    path = _write(tmp_path / "flat.csv", "Time,F", [t, 50 + np.random.default_rng(0).normal(0, 1, t.size)])
    err = _error(capsys, ["analyze", str(path), "--test", "isometric"])
    assert "no rise found" in err and "flat.csv" in err


def test_trace_too_short(capsys, tmp_path):
    path = _write(tmp_path / "short.csv", "Time,F", [np.arange(5) / 1000.0, [1.0, 2.0, 50.0, 100.0, 200.0]])
    err = _error(capsys, ["analyze", str(path), "--test", "isometric"])
    assert "too short" in err


def test_no_landing_contact(capsys, tmp_path):
    path = _write(tmp_path / "empty.csv", "Time,F", [np.arange(3000) / 1000.0, np.zeros(3000)])
    err = _error(capsys, ["analyze", str(path), "--test", "landing"])
    assert "no landing contact" in err


@pytest.mark.parametrize(
    "content, argv_extra, fragment",
    [
        ("1.0\n2.0\n3.0\n", [], "--rate"),
        ("", [], "empty"),
        ("Time,A,B\n0,1,2\n0.001,1,2\n", [], "several columns"),
        ("Time,A\n0,1\n0.001\n", [], "line 3"),
        ("Time,A\n0,1\n0.001,nan\n", ["--rate", "1000"], "non-finite"),
        ("Time,A\n0,1\n0.001,2\n", ["--left", "A"], "--left and --right"),
        ("Time,A\n0,1\n0.001,2\n", ["--rate", "-5"], "--rate"),
    ],
    ids=["no-rate", "empty", "ambiguous", "ragged", "nan", "left-only", "bad-rate"],
)
def test_user_errors_are_one_line(capsys, tmp_path, content, argv_extra, fragment):
    path = tmp_path / "x.csv"
    path.write_text(content)
    err = _error(capsys, ["analyze", str(path), "--test", "landing" if "--left" in argv_extra else "isometric",
                          *argv_extra])
    assert fragment in err


def test_not_an_hdf5_file(capsys, tmp_path):
    path = tmp_path / "fake.h5"
    path.write_text("not hdf5")
    err = _error(capsys, ["analyze", str(path), "--trial", "t", "--test", "isometric"])
    assert "fake.h5" in err


def test_help_lists_the_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--test", "--rate", "--column", "--left", "--right", "--unit", "--json", "--trial",
                   "--onset-k", "--onset-threshold-n", "--onset-s", "--lever-arm-m", "--body-mass-kg", "--filter-hz"):
        assert option in out


def test_session_file_trial_reads_the_side_force_the_session_analysed(tmp_path, capsys):
    import dataclasses

    from protocols import get_protocol
    from station.testing import manual_session

    protocol = dataclasses.replace(get_protocol("hip-abduction-hhd"), reps=1)
    session, _ = manual_session(tmp_path / "s.h5", [protocol], peaks_n={"left": [240.0], "right": [200.0]})
    session.engine.run()
    session.close()
    left = session.summaries[0].trials[0]
    d = _json(capsys, ["analyze", str(session.path), "--trial", f"tests/{left.test}/trials/{left.trial}",
                       "--test", "isometric", "--json"])
    assert d["rate_hz"] == 500.0
    assert d["peak_force_n"] == pytest.approx(left.peak_force_n, rel=1e-9)
