"""The session layout, written in one place: typed calls in, attribute paths out.

The engine (and ``station acquire``) describe what happened with the dataclasses they
already hold (a :class:`~station.session.model.Patient`, a
:class:`~station.session.model.TrialOutcome`, a :class:`~station.session.model.TestSummary`);
:class:`SessionFile` turns that into groups and attributes of the layout documented in
docs/hdf5-format.md, through the :class:`~station.storage.writer.SessionWriter` thread.
:class:`~station.storage.session_reader.SessionReader` reads the same layout back into the
same dataclasses.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from station.storage import layout
from station.storage.writer import SessionWriter, TrialDevice, TrialSpec

if TYPE_CHECKING:
    from protocols.model import Protocol
    from station.pipeline import BoundDevice
    from station.session.model import Patient, TestSummary, TrialOutcome


def device_attrs(device: BoundDevice) -> dict[str, Any]:
    """A device group's attributes: identity, settings, URI and calibration snapshot."""
    return {**{k: v for k, v in device.info.as_dict().items() if k != "settings"},
            "uri": device.uri, "settings": device.info.settings, "calibration": device.calibration_snapshot}


def trial_spec(test: str, trial: str, devices: dict[str, BoundDevice], attrs: dict[str, Any]) -> TrialSpec:
    """The writer's description of a trial recording ``devices``."""
    return TrialSpec(
        test=test, trial=trial, attrs=attrs,
        devices={k: TrialDevice(d.info.channels, d.info.time_source == "device", d.info.rate_hz)
                 for k, d in devices.items()},
    )


class SessionFile:
    """Typed writes of one session file. Every method only queues work on the writer thread
    (errors come back at the next call or at :meth:`close`)."""

    def __init__(self, writer: SessionWriter) -> None:
        self.writer = writer

    @property
    def path(self) -> Path:
        return self.writer.path

    # -- header ---------------------------------------------------------------------------------
    def write_header(self, *, root: dict[str, Any], patient: Patient, session: dict[str, Any],
                     devices: dict[str, BoundDevice], protocols: list[Protocol]) -> None:
        """Create the file: root attributes, the ``session`` group (patient and ``session``
        extras), each device, the calibration snapshot and every protocol's full text."""
        self.writer.create(root, {**patient.as_dict(), **session})
        for device_id, d in devices.items():
            self.writer.set_attrs(f"devices/{device_id}", device_attrs(d))
        self.writer.set_attrs("calibration", {"snapshot": {k: d.calibration_snapshot for k, d in devices.items()}})
        for p in protocols:
            self.writer.set_attrs(f"protocols/{p.id}", {
                "name": p.name, "kind": p.kind, "version": p.version, "source": p.source_path or "",
                "text": p.source_text, "timing": asdict(p.timing), "analysis": dict(p.analysis)})

    def set_session(self, **attrs: Any) -> None:
        """More attributes on the ``session`` group (the clinician's ``notes`` for the whole session)."""
        self.writer.set_attrs("session", attrs)

    def write_devices(self, devices: dict[str, BoundDevice]) -> None:
        """Only the device groups (a raw acquisition has no patient or protocol)."""
        for device_id, d in devices.items():
            self.writer.set_attrs(f"devices/{device_id}", device_attrs(d))

    # -- tests ------------------------------------------------------------------------------------
    def begin_test(self, test: str, *, protocol_id: str, name: str, kind: str, index: int,
                   **attrs: Any) -> None:
        """The test group, status ``recording``, with its zeroing and any other attributes."""
        self.writer.set_attrs(f"tests/{test}", {
            "protocol_id": protocol_id, "name": name, "kind": kind, "index": index,
            "status": layout.STATUS_RECORDING, **attrs})

    def update_test(self, test: str, **attrs: Any) -> None:
        """More attributes on a test (a zeroing on demand, a status)."""
        self.writer.set_attrs(f"tests/{test}", attrs)

    def end_test(self, summary: TestSummary, **attrs: Any) -> None:
        """The test's final status, its summary (JSON) and headline attributes."""
        self.writer.set_attrs(f"tests/{summary.test}", {
            "status": summary.status, "summary": summary.as_dict(), **attrs})

    # -- trials -----------------------------------------------------------------------------------
    def begin_trial(self, spec: TrialSpec) -> None:
        """Open a trial for samples (the pipeline's writer tap appends them)."""
        self.writer.begin_trial(spec)

    def end_trial(self, outcome: TrialOutcome, **attrs: Any) -> None:
        """Close the trial being recorded with its outcome (status, flags, results, peak)."""
        self.writer.end_trial({
            "status": outcome.status, "quality_flags": outcome.flags, "results": outcome.results,
            "peak_force_n": outcome.peak_force_n, **attrs})

    def skipped_trial(self, outcome: TrialOutcome) -> None:
        """A trial the operator skipped: its group, without samples."""
        self.writer.set_attrs(self._trial(outcome.test, outcome.trial), {
            "side": outcome.side, "rep": outcome.rep, "attempt": outcome.attempt, "status": outcome.status})

    def set_trial(self, test: str, trial: str, **attrs: Any) -> None:
        """Attributes on a finished trial (``status="rejected"`` after a redo, ``pain_0_10``)."""
        self.writer.set_attrs(self._trial(test, trial), attrs)

    @staticmethod
    def _trial(test: str, trial: str) -> str:
        return f"tests/{test}/trials/{trial}"

    # -- the end --------------------------------------------------------------------------------
    def close(self, status: str, **attrs: Any) -> None:
        """Final root attributes (``status`` and any others) and close the file."""
        self.writer.close({"status": status, **attrs})
