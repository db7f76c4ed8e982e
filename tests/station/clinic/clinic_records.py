"""Synthetic session records for the clinic-store tests (no files: the rows the index holds)."""
from __future__ import annotations

import uuid

from station.index.store import SessionRecord, SessionRow, SideRow, TestRow, TrialRow


def make_record(patient_id: str = "P-001", *, started_utc: str = "2026-03-02T09:00:00.000+00:00",
                session_id: str | None = None, algorithm_version: str = "1.0.0", left_n: float = 230.0,
                right_n: float = 190.0, reps: int = 3, protocols: tuple[str, ...] = ("hip-abduction-hhd",),
                body_mass_kg: float = 68.0) -> SessionRecord:
    """One complete session: per protocol, ``reps`` reps per side, best = ``left_n``/``right_n``."""
    sid = session_id or str(uuid.uuid4())
    tests, sides, trials = [], [], []
    for index, protocol in enumerate(protocols, start=1):
        test = f"{index:02d}_{protocol}"
        lsi = round(right_n / left_n * 100.0, 6)
        tests.append(TestRow(sid, test, protocol, protocol.replace("-", " "), "isometric", "complete",
                             "lsi", lsi, None, lsi >= 90.0))
        n = 0
        for side, best in (("left", left_n), ("right", right_n)):
            peaks = [best - 5.0 * k for k in range(reps)]
            for rep, peak in enumerate(peaks, start=1):
                n += 1
                trials.append(TrialRow(sid, test, f"{n:03d}", side, rep, rep, "complete", peak,
                                       peak / body_mass_kg, rfd_0_100_n_per_s=peak * 4.0, time_to_peak_s=0.5,
                                       pain_0_10=rep % 3, algorithm_version=algorithm_version))
            sides.append(SideRow(sid, test, side, best, sum(peaks) / reps, 2.0, reps, best / body_mass_kg,
                                 pain_max_0_10=2))
    session = SessionRow(sid, patient_id, started_utc, f"/clinic/{patient_id}_{sid[:8]}.h5", "complete",
                         "0.1.0", algorithm_version, body_mass_kg, "right", None,
                         started_utc.replace("09:00", "09:30"))
    return SessionRecord(session, tuple(tests), tuple(sides), tuple(trials))
