"""The calibration directory: one JSON file per device serial and channel, plus history.

Layout::

    <calibration dir>/<serial>_ch<N>.json                 current record of that channel
    <calibration dir>/history/<serial>_ch<N>.<UTC>.json   records it replaced, oldest first
    <calibration dir>/<serial>_ch<N>.json.corrupt-<UTC>   an unreadable file moved aside

Directory: the ``calibration_dir`` argument, else ``$FORCE_STATION_CALIBRATION_DIR``, else
``platformdirs.user_data_dir("force-station")/calibration``. Characters of the serial other
than letters, digits, ``.``, ``_`` and ``-`` become ``_`` in file names; the record inside
names the true serial and is checked on load.

Writes are atomic: the text goes to a temporary file in the same directory, is flushed
to disk, and replaces the target with ``os.replace``; a crash leaves the old or the new
file, never half of one. Saving over an unreadable (corrupt or wrong-schema) file moves
it aside to ``*.corrupt-<UTC>`` first (or refuses, with ``on_corrupt="refuse"``); a file
written by a newer format version is never overwritten.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import platformdirs

from calibration.errors import CalibrationError
from calibration.record import FORMAT_VERSION, CalibrationRecord

#: Environment variable that overrides the calibration directory.
ENV_VAR: str = "FORCE_STATION_CALIBRATION_DIR"
#: Application name given to platformdirs.
APP_NAME: str = "force-station"
#: Largest record file read (a record with hundreds of points is ~100 kB).
MAX_RECORD_BYTES: int = 5_000_000
#: Name of the history subfolder.
HISTORY_DIR_NAME: str = "history"


def default_calibration_dir() -> Path:
    """``platformdirs.user_data_dir("force-station") / "calibration"``."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "calibration"


def resolve_calibration_dir(calibration_dir: str | os.PathLike[str] | None = None) -> Path:
    """The calibration directory: argument, else ``$FORCE_STATION_CALIBRATION_DIR`` (if non-empty), else default."""
    if calibration_dir is not None:
        return Path(calibration_dir).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return default_calibration_dir()


def check_calibration_dir(directory: Path) -> None:
    """Refuse a calibration directory that is a file or lies under a file (one line naming it);
    a directory that does not exist yet is fine (it is created on the first save)."""
    if directory.exists() and not directory.is_dir():
        raise CalibrationError(f"{directory}: not a directory (--calibration-dir names a file)")
    for parent in directory.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CalibrationError(f"{directory}: {parent} is a file, not a directory (--calibration-dir)")
            break


def safe_serial(device_serial: str) -> str:
    """``device_serial`` made safe for a file name (see module docstring)."""
    text = re.sub(r"[^A-Za-z0-9._-]", "_", str(device_serial).strip())
    text = text.lstrip(".") or "_"
    return text


def record_filename(device_serial: str, channel: int) -> str:
    """File name of a channel's current record, e.g. ``SFP-0042_ch2.json``."""
    if isinstance(channel, bool) or int(channel) < 0:
        raise CalibrationError(f"channel must be an integer >= 0, got {channel!r}")
    return f"{safe_serial(device_serial)}_ch{int(channel)}.json"


def _stamp(when: datetime | None = None) -> str:
    return (when or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: temp file in the same folder, fsync, os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _unique(path: Path) -> Path:
    candidate, n = path, 1
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


@dataclass(frozen=True)
class SaveResult:
    """What :meth:`CalibrationStore.save` did. path: the record file. history_path: where the
    replaced record went (None if there was none). corrupt_backup: where an unreadable file
    was moved (None if none). unchanged: the file already held exactly this record."""

    path: Path
    history_path: Path | None = None
    corrupt_backup: Path | None = None
    unchanged: bool = False


@dataclass(frozen=True)
class StoredEntry:
    """A file in the calibration directory: its record, or the one-line error reading it."""

    path: Path
    record: CalibrationRecord | None
    error: str | None = None


class CalibrationStore:
    """Reads and writes calibration records in a directory (see module docstring)."""

    def __init__(self, calibration_dir: str | os.PathLike[str] | None = None) -> None:
        self.directory: Path = resolve_calibration_dir(calibration_dir)
        check_calibration_dir(self.directory)

    @property
    def history_dir(self) -> Path:
        """Folder of replaced records."""
        return self.directory / HISTORY_DIR_NAME

    def path_for(self, device_serial: str, channel: int) -> Path:
        """Path of a channel's current record file (it may not exist)."""
        return self.directory / record_filename(device_serial, channel)

    # -- reading ---------------------------------------------------------------------

    @staticmethod
    def read_file(path: str | os.PathLike[str]) -> CalibrationRecord:
        """Parse one record file; raises :class:`CalibrationError` naming the file and field."""
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise CalibrationError(f"{path}: cannot read: {exc.strerror or exc}") from None
        if size > MAX_RECORD_BYTES:
            raise CalibrationError(f"{path}: {size} bytes, too large for a calibration record "
                                   f"(at most {MAX_RECORD_BYTES // 1_000_000} MB)")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CalibrationError(f"{path}: not UTF-8 text (corrupt file?)") from None
        except OSError as exc:
            raise CalibrationError(f"{path}: cannot read: {exc.strerror or exc}") from None
        return CalibrationRecord.from_json(text, source=str(path))

    def load(self, device_serial: str, channel: int) -> CalibrationRecord | None:
        """The channel's current record; None if there is no file; CalibrationError if unreadable."""
        path = self.path_for(device_serial, channel)
        if not path.exists():
            return None
        record = self.read_file(path)
        if record.device_serial != str(device_serial) or record.channel != int(channel):
            raise CalibrationError(
                f"{path}: fields 'device_serial'/'channel' say {record.device_serial!r} channel {record.channel}, "
                f"expected {device_serial!r} channel {int(channel)}"
            )
        return record

    def load_many(self, channels: Iterable[tuple[str, int]]) -> dict[tuple[str, int], CalibrationRecord | None]:
        """Current records keyed by ``(device_serial, channel)`` (None where missing); for :func:`require_usable`."""
        return {(str(s), int(c)): self.load(s, c) for s, c in channels}

    def entries(self) -> list[StoredEntry]:
        """Every current record file, sorted by name, each with its record or error (for listings)."""
        if not self.directory.is_dir():
            return []
        out = []
        for path in sorted(self.directory.glob("*_ch*.json")):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                record = self.read_file(path)
                if path.name != record_filename(record.device_serial, record.channel):
                    raise CalibrationError(
                        f"{path}: fields 'device_serial'/'channel' say {record.device_serial!r} channel "
                        f"{record.channel}, but the file name is for another channel (a session would not "
                        f"find it; expected the name {record_filename(record.device_serial, record.channel)})")
                out.append(StoredEntry(path, record))
            except CalibrationError as exc:
                out.append(StoredEntry(path, None, str(exc)))
        return out

    def records(self) -> list[CalibrationRecord]:
        """Every current record; raises on the first unreadable file."""
        result = []
        for entry in self.entries():
            if entry.record is None:
                raise CalibrationError(entry.error or f"{entry.path}: unreadable")
            result.append(entry.record)
        return result

    def history(self, device_serial: str, channel: int) -> list[StoredEntry]:
        """Records the channel's current one replaced, oldest first."""
        stem = Path(record_filename(device_serial, channel)).stem
        if not self.history_dir.is_dir():
            return []
        out = []
        for path in sorted(self.history_dir.glob(f"{stem}.*.json")):
            try:
                out.append(StoredEntry(path, self.read_file(path)))
            except CalibrationError as exc:
                out.append(StoredEntry(path, None, str(exc)))
        return out

    # -- writing ---------------------------------------------------------------------

    def save(self, record: CalibrationRecord, *, on_corrupt: str = "backup") -> SaveResult:
        """Write ``record`` as its channel's current file, keeping the previous one in history/.

        on_corrupt: "backup" moves an unreadable existing file to ``*.corrupt-<UTC>``
        first; "refuse" raises :class:`CalibrationError` and leaves it alone. A file
        from a newer format version is never overwritten.
        """
        if on_corrupt not in ("backup", "refuse"):
            raise CalibrationError(f"on_corrupt must be 'backup' or 'refuse', got {on_corrupt!r}")
        if not isinstance(record, CalibrationRecord):
            raise CalibrationError("save needs a CalibrationRecord")
        path = self.path_for(record.device_serial, record.channel)
        text = record.to_json()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CalibrationError(
                f"{self.directory}: cannot create calibration directory: {exc.strerror or exc}"
            ) from None
        history_path = corrupt_backup = None
        if path.exists():
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise CalibrationError(f"{path}: cannot read: {exc.strerror or exc}") from None
            try:
                existing_text = raw.decode("utf-8")
                existing_error = None
                self.load(record.device_serial, record.channel)
            except (CalibrationError, UnicodeDecodeError) as exc:
                existing_text, existing_error = None, str(exc)
            if existing_error is not None:
                version = _format_version_of(path)
                if version is not None and version > FORMAT_VERSION:
                    raise CalibrationError(
                        f"{path}: written by a newer Force Station (format_version {version}); not overwritten"
                    )
                if on_corrupt == "refuse":
                    raise CalibrationError(f"{existing_error.rstrip('.')}; not overwritten (move the file away first)")
                corrupt_backup = _unique(path.with_name(f"{path.name}.corrupt-{_stamp()}"))
                os.replace(path, corrupt_backup)
            elif existing_text == text:
                return SaveResult(path, unchanged=True)
            else:
                self.history_dir.mkdir(parents=True, exist_ok=True)
                history_path = _unique(self.history_dir / f"{path.stem}.{_stamp()}.json")
                atomic_write_text(history_path, existing_text or "")
        atomic_write_text(path, text)
        return SaveResult(path, history_path, corrupt_backup)


def _format_version_of(path: Path) -> int | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("format_version") if isinstance(data, dict) else None
    return version if isinstance(version, int) and not isinstance(version, bool) else None
