"""De-identification for exports: pseudonym, date shift, no operator or free text.

- The patient id becomes ``anon-`` + 16 hex digits of HMAC-SHA256(salt, patient id); the salt
  is the clinic's secret (``[deidentify] salt`` in the config file), never written to an export.
  The same patient gets the same pseudonym in every export of the clinic, so de-identified
  exports can still be joined; without the salt nobody can recompute it from a patient id.
- Every date and time moves by a per-patient offset of 30 to 364 days into the past (also from
  the HMAC), so the intervals between one patient's sessions are kept.
- Session ids are replaced by their HMAC (they are printed on reports and lead back to the file).
- Operator names, free-text notes and file paths (file names hold the patient id and the
  time) are dropped, wherever they are nested.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

#: Keys removed wherever they appear (attributes, nested JSON).
DROP_KEYS = frozenset({
    "operator", "notes", "note", "comment", "comments", "free_text", "remarks",
    "path", "file", "baseline_file", "calibration_dir", "source_path", "port", "hostname", "host", "user",
})

_ISO = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?:([T ])(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?(?!\d)")
_COMPACT = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(?!\d)")  # file-name stamps


@dataclass(frozen=True)
class Pseudonymiser:
    salt: str

    def _mac(self, purpose: str, value: str) -> bytes:
        return hmac.new(self.salt.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()

    def patient(self, patient_id: str) -> str:
        return "anon-" + self._mac("patient", patient_id).hex()[:16]

    def shift_days(self, patient_id: str) -> int:
        """Per-patient shift: 30 to 364 days back."""
        return -(30 + int.from_bytes(self._mac("date-shift", patient_id)[:4], "big") % 335)

    def session_id(self, session_id: str) -> str:
        return self._mac("session", session_id).hex()[:32]

    def for_patient(self, patient_id: str, session_ids: tuple[str, ...] = ()) -> Scrubber:
        return Scrubber(patient_id, self.patient(patient_id), self.shift_days(patient_id),
                        {s: self.session_id(s) for s in session_ids if s})


def _shift_match(m: re.Match[str], days: int) -> str:
    y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    try:
        date = dt.date(y, mo, d)
    except ValueError:
        return m.group(0)
    if m.group(4) is None:
        return (date + dt.timedelta(days=days)).isoformat()
    t = dt.datetime(y, mo, d, int(m.group(5)), int(m.group(6)), int(m.group(7))) + dt.timedelta(days=days)
    return t.strftime("%Y-%m-%d") + m.group(4) + t.strftime("%H:%M:%S") + (m.group(8) or "") + (m.group(9) or "")


def _shift_compact(m: re.Match[str], days: int) -> str:
    try:
        t = dt.datetime(*(int(g) for g in m.groups())) + dt.timedelta(days=days)  # type: ignore[misc, arg-type]
    except ValueError:
        return m.group(0)
    return t.strftime("%Y%m%d-%H%M%S")


@dataclass(frozen=True)
class Scrubber:
    """Scrubs values of one patient's sessions."""

    patient_id: str
    pseudonym: str
    shift_days: int
    session_ids: dict[str, str]

    def text(self, s: str) -> str:
        for old, new in self.session_ids.items():  # first: a session id may contain the patient id
            if old in s:
                s = s.replace(old, new)
        if self.patient_id and self.patient_id in s:
            s = s.replace(self.patient_id, self.pseudonym)
        s = _ISO.sub(lambda m: _shift_match(m, self.shift_days), s)
        return _COMPACT.sub(lambda m: _shift_compact(m, self.shift_days), s)

    def value(self, v: Any) -> Any:
        """``v`` with every nested string scrubbed and every :data:`DROP_KEYS` key removed."""
        if isinstance(v, str):
            return self.text(v)
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items() if str(k) not in DROP_KEYS}
        if isinstance(v, list | tuple):
            return [self.value(x) for x in v]
        return v

    def row(self, row: Any) -> Any:
        """A row dataclass with its string fields scrubbed and path-like fields emptied."""
        changes = {}
        for f in dataclasses.fields(row):
            v = getattr(row, f.name)
            if f.name in DROP_KEYS:
                changes[f.name] = ""
            elif isinstance(v, str):
                changes[f.name] = self.text(v)
        return dataclasses.replace(row, **changes)
