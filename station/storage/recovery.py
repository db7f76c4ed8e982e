"""Finding and repairing session files left unfinished by a station that died.

A station killed while recording (SIGKILL, power cut of the PC, a crash) leaves a file whose
root ``status`` is still ``recording``. Killed during a trial, the file also still says
"open for SWMR write" in its superblock, and plain ``h5py.File(path, "r")`` (and ``h5dump``)
refuse it. :func:`recover` makes it an ordinary closed file again:

1. refuse a file a live station is writing (:func:`~station.storage.writer.is_in_use`);
2. open the file (SWMR read mode if it is still flagged) and copy every group, dataset and
   attribute with ``h5py``'s ``copy`` into ``<name>.h5.recovering`` beside it, created with
   the session layout's ``libver`` bounds (:data:`~station.storage.layout.LIBVER`);
3. in the copy, cut each device group of a trial that was being recorded to the rows that
   really reached the disk (equal lengths, no trailing NaN fill rows), mark that trial and
   its test ``interrupted`` with its ``samples`` counted, and set the root ``status`` to
   ``interrupted`` with ``recovered_utc``, ``recovered_from_status`` and a ``recovery`` note;
4. verify the copy against the original, object by object and value by value;
5. keep the original as ``<name>.h5.unrecovered`` (a hard link, else a byte copy), move the
   copy over ``<name>.h5`` with one atomic ``os.replace`` (the session file never goes
   missing), check that the result opens normally, then delete ``<name>.h5.unrecovered``
   unless ``keep_original=True`` (``station session recover --keep-original``).

The original is deleted by default because after step 4 it holds nothing the copy lacks
that HDF5 can read; samples the dead station never flushed (at most the last 0.25 s of the
trial, plus what was queued) are lost either way.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station import __version__
from station.errors import StationError, StorageError
from station.storage import layout
from station.storage.reader import HDF5_SIGNATURE, attrs_of, check_session, open_file
from station.storage.writer import count_samples, is_in_use, utc_now
from station.validate import writable_folder_of

BACKUP_SUFFIX = ".unrecovered"
TEMP_SUFFIX = ".recovering"


class RecoveryError(StorageError):
    """A file that cannot (or must not) be recovered; the message is one line."""


@dataclass
class RecoveryReport:
    """What :func:`recover` did to one file."""

    path: Path
    recovered: bool  # False: the file was already closed, nothing was changed
    previous_status: str | None = None
    swmr_flagged: bool = False  # the file still said "open for SWMR write"
    interrupted_trials: list[str] = field(default_factory=list)  # "/tests/<test>/trials/<trial>"
    interrupted_tests: list[str] = field(default_factory=list)
    samples: dict[str, dict[str, int]] = field(default_factory=dict)  # trial → device → samples kept
    dropped_rows: dict[str, int] = field(default_factory=dict)  # "<trial>/<device>" → rows cut
    backup: Path | None = None  # the original, when kept
    note: str = ""

    def lines(self) -> list[str]:
        """Human-readable lines for the terminal."""
        if not self.recovered:
            return [f"{self.path}: nothing to recover ({self.note})"]
        out = [f"{self.path}: recovered (was '{self.previous_status}'"
               + (", still flagged open for SWMR write" if self.swmr_flagged else "") + "); status now 'interrupted'"]
        for trial in self.interrupted_trials:
            counts = ", ".join(f"{d} {n} samples" for d, n in self.samples.get(trial, {}).items()) or "no samples"
            out.append(f"  trial {trial.removeprefix('/tests/')}: marked interrupted, kept {counts}")
        if not self.interrupted_trials:
            out.append("  no trial was being recorded; every trial in the file was already finished")
        for key, n in self.dropped_rows.items():
            out.append(f"  {key}: cut {n} unfinished row(s) at the end")
        if self.backup is not None:
            out.append(f"  original kept as {self.backup}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "recovered": self.recovered, "previous_status": self.previous_status,
                "swmr_flagged": self.swmr_flagged, "interrupted_trials": self.interrupted_trials,
                "interrupted_tests": self.interrupted_tests, "samples": self.samples,
                "dropped_rows": self.dropped_rows, "backup": str(self.backup) if self.backup else None,
                "note": self.note}


def _opens_normally(path: Path) -> bool:
    try:
        with h5py.File(path, "r", locking=False):
            return True
    except OSError:
        return False


def is_unfinished(path: str | Path) -> bool:
    """True for a session file no live station holds whose root ``status`` is ``recording``,
    or any ``.h5`` file that cannot be opened normally (flagged for SWMR write, damaged, empty).
    A non-empty file that does not even start like HDF5 (another program's file with an .h5
    name) is no station's: False."""
    path = Path(path)
    if not path.is_file() or is_in_use(path):
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(len(HDF5_SIGNATURE))
    except OSError:
        return False
    if head and head != HDF5_SIGNATURE and not h5py.is_hdf5(path):
        return False
    try:
        with h5py.File(path, "r", locking=False) as f:
            return f.attrs.get("format") == layout.FORMAT and f.attrs.get("status") == layout.STATUS_RECORDING
    except OSError:
        return True


def find_unfinished(directory: str | Path) -> list[Path]:
    """Unfinished session files (``*.h5``, not recursive) in ``directory``, sorted by name.

    Files a live station is writing are left out. A missing directory gives ``[]``.
    """
    d = Path(directory)
    if not d.is_dir():
        return []
    return [p for p in sorted(d.glob("*.h5")) if is_unfinished(p)]


# -- recovery --------------------------------------------------------------------------------
def recover(path: str | Path, *, keep_original: bool = False) -> RecoveryReport:
    """Make an unfinished session file an ordinary closed one (see the module docstring).

    A file that is already closed is left alone (``report.recovered`` is False). Raises
    :class:`RecoveryError` for a file a live station holds, and for a file that cannot be
    read at all (truncated, not HDF5, not a session file); the file is then left untouched.
    """
    path = Path(path)
    if path.is_file() and is_in_use(path):
        raise RecoveryError(f"{path}: in use by a running station (or another program has it open); "
                            "not touched — stop that program first")
    try:
        src, state = open_file(path)
    except StationError as exc:
        raise RecoveryError(f"{exc}; nothing can be recovered from it") from None
    tmp = path.with_name(path.name + TEMP_SUFFIX)
    try:
        try:
            check_session(src, path)
        except StationError as exc:
            raise RecoveryError(str(exc)) from None
        status = layout_str(src.attrs.get("status"))
        if not state.swmr_flagged and status != layout.STATUS_RECORDING:
            return RecoveryReport(path, False, status, note=f"it is closed, status '{status}'")
        report = RecoveryReport(path, True, status, swmr_flagged=state.swmr_flagged)
        try:  # the copy is written beside the file: refuse a read-only folder before touching anything
            writable_folder_of(path)
        except StationError as exc:
            raise RecoveryError(f"{exc}; the recovered copy is written beside the file, so nothing was "
                                "changed (copy the file to a writable folder and recover it there)") from None
        tmp.unlink(missing_ok=True)  # a stale copy from a recovery that was itself interrupted
        try:
            _copy(src, tmp, report)
            _verify(src, tmp, report)
        except RecoveryError:
            raise
        except (OSError, KeyError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
            raise RecoveryError(f"{path}: recovery failed while copying ({' '.join(str(exc).split())}); "
                                "the original is untouched") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    _replace(path, tmp, report, keep_original)
    return report


def layout_str(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return None if value is None else str(value)


def _copy(src: h5py.File, tmp: Path, report: RecoveryReport) -> None:
    with h5py.File(tmp, "w", libver=layout.LIBVER, locking=False) as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name in src:
            src.copy(src[name], dst, name=name)
        _finish_trials(dst, report)
        note = (f"recovered by Force Station {__version__} at {utc_now()}: the station stopped while the root "
                f"status was '{report.previous_status}'"
                + (" and the file was open for SWMR write" if report.swmr_flagged else "")
                + (f"; trials still recording were marked interrupted ({', '.join(report.interrupted_trials)}); "
                   "samples not flushed before the stop (at most the last ~0.25 s) are missing"
                   if report.interrupted_trials else "; no trial was being recorded"))
        report.note = note
        for key, value in {
            "status": layout.STATUS_INTERRUPTED,
            "recovered_utc": utc_now(),
            "recovered_from_status": report.previous_status or "",
            "recovery": note,
        }.items():
            dst.attrs[key] = value
        dst.flush()
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())


def _finish_trials(dst: h5py.File, report: RecoveryReport) -> None:
    tests = dst.get("tests")
    if not isinstance(tests, h5py.Group):  # damaged: no tests group (or a dataset in its place)
        return
    for test_name, test in sorted(tests.items()):
        if not isinstance(test, h5py.Group):
            continue
        trials = test.get("trials")
        for trial_name, trial in sorted(trials.items()) if isinstance(trials, h5py.Group) else []:
            if not isinstance(trial, h5py.Group) or layout_str(trial.attrs.get("status")) != layout.STATUS_RECORDING:
                continue
            key = layout.trial_path(test_name, trial_name)
            for device_id, dev in sorted(trial.items()):
                if isinstance(dev, h5py.Group):
                    dropped = _trim(dev)
                    if dropped:
                        report.dropped_rows[f"{key}/{device_id}"] = dropped
            samples = count_samples(trial)
            trial.attrs["samples"] = layout.to_json(samples)
            trial.attrs["status"] = layout.STATUS_INTERRUPTED
            trial.attrs["recovered"] = True
            report.interrupted_trials.append(key)
            report.samples[key] = samples
        if layout_str(test.attrs.get("status")) == layout.STATUS_RECORDING:
            test.attrs["status"] = layout.STATUS_INTERRUPTED
            report.interrupted_tests.append(f"/tests/{test_name}")


def _trim(dev: h5py.Group) -> int:
    """Cut a device group's sample datasets to the rows that are complete in all of them.

    A writer killed mid-append can leave one dataset longer than another, and an extent
    that grew before its data reached the disk reads as the NaN fill value; host times and
    raw values are never NaN in a written row (force may be, without a calibration).
    """
    names = [n for n in ("t_host_s", "raw", "force_n", "t_device_s") if isinstance(dev.get(n), h5py.Dataset)]
    if "t_host_s" not in names:
        return 0
    before = int(dev["t_host_s"].shape[0])
    n = min(int(dev[name].shape[0]) for name in names)
    if n:
        t = dev["t_host_s"][:n]
        raw = dev["raw"][:n] if "raw" in names else None
        ok = np.isfinite(t)
        if raw is not None:
            ok &= ~np.all(np.isnan(raw.reshape(n, -1)), axis=1)
        good = np.flatnonzero(ok)
        n = int(good[-1]) + 1 if good.size else 0
    for name in names:
        if dev[name].shape[0] != n:
            dev[name].resize(n, axis=0)
    return before - n


def _walk(g: h5py.Group) -> dict[str, h5py.HLObject]:
    items: dict[str, h5py.HLObject] = {"/": g}
    g.visititems(lambda name, obj: items.__setitem__("/" + name, obj))
    return items


#: attributes recovery sets or changes, per kind of object
_CHANGED_ROOT = {"status", "recovered_utc", "recovered_from_status", "recovery"}
_CHANGED_TRIAL = {"status", "samples", "recovered"}


def _verify(src: h5py.File, tmp: Path, report: RecoveryReport) -> None:
    """Every object, attribute and sample of the original is in the copy (save the ones
    recovery changes on purpose and the unfinished rows it cut)."""
    trials = set(report.interrupted_trials)
    tests = set(report.interrupted_tests)
    with h5py.File(tmp, "r", locking=False) as dst:
        theirs = _walk(dst)
        for name, obj in _walk(src).items():
            if name not in theirs:
                raise RecoveryError(f"{report.path}: verification failed: {name} missing in the copy")
            other = theirs[name]
            changed = (_CHANGED_ROOT if name == "/" else _CHANGED_TRIAL if name in trials
                       else {"status"} if name in tests else set())
            mine, copy = attrs_of(obj), attrs_of(other)
            for key, value in mine.items():
                if key not in changed and (key not in copy or not _same(copy[key], value)):
                    raise RecoveryError(f"{report.path}: verification failed: attribute {key!r} of {name} differs")
            if isinstance(obj, h5py.Dataset):
                if not isinstance(other, h5py.Dataset) or other.dtype != obj.dtype:
                    raise RecoveryError(f"{report.path}: verification failed: dataset {name} differs")
                n = other.shape[0] if other.ndim else None
                parent = name.rsplit("/", 2)[0]
                if n is not None and n != obj.shape[0] and parent not in trials:
                    raise RecoveryError(f"{report.path}: verification failed: {name} has {n} rows, "
                                        f"{obj.shape[0]} in the original")
                a = np.asarray(obj[:n] if n is not None else obj[()])
                b = np.asarray(other[()])
                if not np.array_equal(b, a, equal_nan=a.dtype.kind in "fc"):
                    raise RecoveryError(f"{report.path}: verification failed: values of {name} differ")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    try:
        return bool(a == b) if not isinstance(a, list | dict) else a == b
    except ValueError:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace(path: Path, tmp: Path, report: RecoveryReport, keep_original: bool) -> None:
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    backup.unlink(missing_ok=True)
    try:
        os.link(path, backup)
    except OSError:  # a filesystem without hard links (FAT on a USB stick)
        shutil.copy2(path, backup)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    if not _opens_normally(path):  # cannot happen after _verify; never leave a worse file behind
        os.replace(backup, path)
        raise RecoveryError(f"{path}: the recovered copy does not open; the original was put back")
    if keep_original:
        report.backup = backup
    else:
        backup.unlink()
