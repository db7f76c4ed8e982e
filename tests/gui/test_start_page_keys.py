"""The start page works from the keyboard: the session keys (Space, R, S, T, Enter, digits) act
on the session page only, so on the start page Space ticks the protocol under the cursor and
presses the focused button (found trying `station gui --simulate` on Xvfb: Space did nothing)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QKeySequence, QShortcut  # noqa: E402

from protocols import find_protocols  # noqa: E402
from station.gui.window import MainWindow  # noqa: E402

pytestmark = [pytest.mark.gui]


def claimed(w: MainWindow, key: str) -> list[QShortcut]:
    """The window's enabled shortcuts for ``key``: they take the key before the focused widget
    (on a real display; offscreen the window is never active, so a key click cannot show it)."""
    return [sc for sc in w.findChildren(QShortcut) if sc.isEnabled() and sc.key() == QKeySequence(key)
            and sc.parent() is w]


def test_space_ticks_protocols_and_presses_buttons_on_the_start_page(qtbot, tmp_path: Path) -> None:
    w = MainWindow(protocols=find_protocols(), sessions_dir=tmp_path / "sessions", simulate=True)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    sp = w.start_page
    for key in ("Space", "Return", "R", "S", "T", "N", "5"):  # on the start page they belong to its widgets
        assert claimed(w, key) == [], key
    assert len(claimed(w, "Escape")) == 1 and len(claimed(w, "Ctrl+H")) == 1
    assert len(claimed(w, "Ctrl+Return")) == 1  # starts the session from anywhere on the page
    sp.patient.lineEdit().setFocus()
    qtbot.keyClicks(sp.patient.lineEdit(), "P-RST-10")  # R, S, T and digits are typed, not taken as commands
    assert sp.patient.currentText() == "P-RST-10"
    lst = sp.protocol_list
    lst.setFocus()
    ids = [lst.item(i).data(Qt.ItemDataRole.UserRole) for i in range(lst.count())]
    hip = ids.index("hip-abduction-hhd")
    lst.setCurrentRow(hip)
    qtbot.keyClick(lst, Qt.Key.Key_Space)
    assert sp.selected_protocols() == ["hip-abduction-hhd"]
    qtbot.keyClick(lst, Qt.Key.Key_Down)
    qtbot.keyClick(lst, Qt.Key.Key_Space)
    assert sp.selected_protocols() == ["hip-abduction-hhd", ids[hip + 1]]
    qtbot.keyClick(lst, Qt.Key.Key_Space)  # again: unticked
    assert sp.selected_protocols() == ["hip-abduction-hhd"]
    assert set(sp.device_rows) == {"dynamometer"}
    sp.check.setFocus()
    qtbot.keyClick(sp.check, Qt.Key.Key_Space)  # "Connect & check devices"
    qtbot.waitUntil(lambda: sp.device_rows["dynamometer"].status == "ok", timeout=30_000)
    reading = sp.device_rows["dynamometer"].reading
    qtbot.waitUntil(lambda: reading.text().endswith(" N"), timeout=10_000)
    assert abs(float(reading.text().split()[0])) < 5.0, reading.text()  # nothing on the pad: it reads about 0 N
    # on the session page the keys are the session's again; the calibration page has its own
    w.stack.setCurrentWidget(w.session_page)
    for key in ("Space", "Return", "R", "S", "T", "N", "5", "Escape"):
        assert len(claimed(w, key)) == 1, key
    assert claimed(w, "Ctrl+Return") == []
    w.stack.setCurrentWidget(w.calibration_page)
    assert claimed(w, "Space") == claimed(w, "Escape") == claimed(w, "R") == claimed(w, "Ctrl+Return") == []
    w.stack.setCurrentWidget(w.start_page)
    w.close_preview()


def test_every_builtin_protocol_gets_a_simulator_with_simulate(qtbot, tmp_path: Path) -> None:
    """--simulate offers a simulator for every role of every built-in protocol, with the channels
    it needs (the fixed frame: two load cells on one device); found on Xvfb: the frame had none."""
    from drivers.registry import parse_uri
    from station.gui.bridge import simulated_device_args

    protocols = find_protocols()
    w = MainWindow(protocols=protocols, sessions_dir=tmp_path / "sessions", simulate=True)
    qtbot.addWidget(w)
    sp = w.start_page
    sp.select_protocols(list(protocols))
    uris = sp.device_uris()
    for p in protocols.values():
        for d in p.devices:
            uri = parse_uri(uris[d.role])
            assert uri.simulated, (p.id, d.role, uris[d.role])
            assert int(uri.options.get("channels", "1")) >= d.channels, (p.id, d.role, uris[d.role])
        assert {a.roles[0]: a.uri for a in simulated_device_args([p])} == {d.role: uris[d.role] for d in p.devices}


def test_typing_a_new_id_never_takes_a_known_patients_data(qtbot, tmp_path: Path) -> None:
    """Found on Xvfb: typing "P-KEYS" with "P-FR" known completed "P-" to "P-FR" inline, filled in
    P-FR's body mass, side and lever arm, and said "known patient" for the new id."""
    w = MainWindow(protocols=find_protocols(), sessions_dir=tmp_path / "sessions", simulate=True)
    qtbot.addWidget(w)
    w.show()
    sp = w.start_page
    sp.set_known_patients({"P-FR": {"sessions": 2, "body_mass_kg": 91.5, "involved_side": "right",
                                    "lever_arm_m": 0.93, "created_utc": "2026-11-02T10:00:00Z"}})
    sp.patient.lineEdit().setFocus()
    qtbot.keyClicks(sp.patient.lineEdit(), "P-KEYS")
    assert sp.patient.currentText() == "P-KEYS"
    assert sp.body_mass.value() != 91.5 and "known patient" not in sp.known_note.text()
    assert sp.known_note.text().startswith("new patient")
    sp.patient.setCurrentText("P-FR")  # picking the known one fills its data in
    assert sp.body_mass.value() == 91.5 and sp.known_note.text().startswith("known patient: 2")
