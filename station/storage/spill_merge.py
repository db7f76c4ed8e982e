"""Merging a full disk's spill file back into its session file.

When the disk of a session file fills during a recording, the writer closes the file cleanly
(status ``interrupted``) and saves the samples that did not fit — and the attributes it could
not write — to ``<spill dir>/<session name>.spill.h5`` (see
:class:`~station.storage.writer.SessionWriter`). Once there is room again,
``station session recover FILE`` finds that spill file and merges it back:

1. find the spill: ``<stem>.spill.h5`` in ``--spill-dir`` or the user data folder's
   ``spill`` (:func:`~station.storage.writer.default_spill_dir`) whose ``session_file``
   attribute names this file (or a file of the same name, when the file was moved);
2. check it fits: each device's spilled rows must follow the rows the session file holds
   (``rows_already_in_session_file``), and the file's folder needs room for a copy;
3. copy the session file to ``<name>.h5.merging`` beside it, append the spilled rows to each
   trial's device datasets (a trial that did not fit at all is created), apply the held-back
   attributes (results, summaries; never turning an ``interrupted`` status into
   ``complete``: the recording *was* stopped by the disk), note ``spill_merged_utc`` and
   ``spill_merged_from`` on the root, and count each trial's ``samples`` again;
4. verify the copy (every original row and every spilled row is in it), move it over the
   session file with one atomic ``os.replace``, and rename the spill file to
   ``<name>.spill.h5.merged`` (kept, never deleted: it is the user's to remove).

Anything that does not fit is refused in one line that says where the spill file is and how to
merge it; the session file and the spill file are then left byte-for-byte as they were.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station import __version__
from station.errors import StorageError
from station.storage import layout
from station.storage.writer import count_samples, default_spill_dir, free_bytes, utc_now

SPILL_FORMAT = "force-station-spill"
MERGE_SUFFIX = ".merging"
MERGED_SUFFIX = ".merged"
SAMPLE_DATASETS = ("t_host_s", "raw", "force_n", "t_device_s")


class SpillMergeError(StorageError):
    """A spill file that cannot be merged (the message is one line and says what to do)."""


@dataclass
class MergeReport:
    path: Path
    spill: Path
    merged_to: Path  # where the spill file is now (renamed once merged)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # trial → device → rows added
    created_trials: list[str] = field(default_factory=list)
    attributes: int = 0  # held-back attribute sets applied
    note: str = ""

    def lines(self) -> list[str]:
        total = sum(n for devs in self.rows.values() for n in devs.values())
        out = [f"{self.path}: merged {total} spilled sample(s) from {self.spill}"]
        for trial, devs in self.rows.items():
            made = " (created: it did not fit at all)" if trial in self.created_trials else ""
            out.append(f"  trial {trial.removeprefix('tests/')}{made}: "
                       + ", ".join(f"{d} +{n}" for d, n in devs.items()))
        if self.attributes:
            out.append(f"  {self.attributes} set(s) of attributes that could not be written were applied")
        out.append(f"  the spill file is kept as {self.merged_to} (delete it when you no longer need it)")
        if self.note:
            out.append(f"  note: {self.note}")
        return out


def spill_dirs(extra: Path | None = None) -> list[Path]:
    out = [extra] if extra is not None else []
    try:
        out.append(default_spill_dir())
    except Exception:  # noqa: BLE001 - platformdirs missing: only the named dir
        pass
    return out


def find_spill(path: str | Path, spill_dir: Path | None = None) -> Path | None:
    """The spill file of session file ``path`` not merged yet, or None. Looks in
    ``spill_dir`` (if given) and the user data folder's ``spill``."""
    path = Path(path)
    for d in spill_dirs(spill_dir):
        candidate = d / f"{path.stem}.spill.h5"
        if candidate.is_file():
            return candidate
    return None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _how(path: Path, spill: Path) -> str:
    return (f"the samples are safe in {spill}; to merge them, make room and run "
            f"`station session recover {path} --spill-dir {spill.parent}`")


def _read_spill(path: Path, spill: Path) -> tuple[dict[str, dict[str, dict[str, np.ndarray]]], list[tuple[str, dict]]]:
    """trial → device → dataset → rows, and the held-back attributes; checks the spill names ``path``."""
    try:
        with h5py.File(spill, "r", locking=False) as s:
            if _text(s.attrs.get("format", "")) != SPILL_FORMAT:
                raise SpillMergeError(f"{spill}: not a Force Station spill file; nothing merged")
            named = Path(_text(s.attrs.get("session_file", "")))
            if named.name != path.name:
                raise SpillMergeError(f"{spill}: holds the samples of {named}, not of {path}; nothing merged")
            held = json.loads(_text(s.attrs.get("attributes", "[]")))
            trials: dict[str, dict[str, dict[str, np.ndarray]]] = {}

            def visit(name: str, obj: Any) -> None:
                if isinstance(obj, h5py.Group) and isinstance(obj.get("t_host_s"), h5py.Dataset):
                    trial, _, device = name.rpartition("/")
                    rows = {k: obj[k][()] for k in SAMPLE_DATASETS if isinstance(obj.get(k), h5py.Dataset)}
                    rows["_already"] = np.asarray(int(obj.attrs.get("rows_already_in_session_file", -1)))
                    trials.setdefault(trial, {})[device] = rows

            s.visititems(visit)
    except SpillMergeError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpillMergeError(f"{spill}: cannot read the spill file ({' '.join(str(exc).split())[:120]}); "
                              "nothing merged") from None
    return trials, [(str(g), dict(a)) for g, a in held if isinstance(a, dict)]


def merge_spill(path: str | Path, spill: str | Path, *, free_space: Any = free_bytes) -> MergeReport:
    """Merge ``spill`` into session file ``path`` (see the module docstring). Raises
    :class:`SpillMergeError` (one line; both files untouched) when it cannot."""
    path, spill = Path(path), Path(spill)
    trials, held = _read_spill(path, spill)
    if "no_trial" in trials:
        raise SpillMergeError(f"{spill}: holds samples recorded outside any trial; nothing merged ({_how(path, spill)})")
    need = path.stat().st_size + spill.stat().st_size + 256 * 1024
    free = free_space(path.parent)
    if free < need:
        raise SpillMergeError(f"{path}: its folder has {free // 1024} KiB free, merging needs about {need // 1024} KiB; "
                              f"nothing merged — {_how(path, spill)} (or copy both files to a larger disk and merge "
                              "there)")
    tmp = path.with_name(path.name + MERGE_SUFFIX)
    report = MergeReport(path, spill, spill.with_name(spill.name + MERGED_SUFFIX))
    try:
        shutil.copy2(path, tmp)
        with h5py.File(tmp, "r+", locking=False) as f:
            before = {t: {d: int(f[f"{t}/{d}/t_host_s"].shape[0]) for d in devs if f"{t}/{d}/t_host_s" in f}
                      for t, devs in trials.items()}
            for trial, devices in trials.items():
                _merge_trial(f, trial, devices, report)
            report.attributes = _apply_held(f, held, set(trials))
            for trial in trials:
                if trial in f:
                    f[trial].attrs["samples"] = layout.to_json(count_samples(f[trial]))
                    f[trial].attrs["spill_merged"] = True
            f.attrs["spill_merged_utc"] = utc_now()
            f.attrs["spill_merged_from"] = str(spill)
            f.attrs["spill_merge"] = (f"Force Station {__version__} appended "
                                      f"{sum(n for d in report.rows.values() for n in d.values())} sample(s) a full "
                                      "disk had kept apart")
            f.flush()
        _verify(path, tmp, trials, before)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except SpillMergeError:
        tmp.unlink(missing_ok=True)
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        raise SpillMergeError(f"{path}: merging failed ({' '.join(str(exc).split())[:160]}); nothing changed — "
                              f"{_how(path, spill)}") from None
    try:
        os.replace(spill, report.merged_to)
    except OSError as exc:  # merged; the spill just keeps its name (a second recover would refuse it by its rows)
        report.merged_to = spill
        report.note = f"could not rename the spill file ({exc.strerror}); do not merge it again"
    return report


def _merge_trial(f: h5py.File, trial: str, devices: dict[str, dict[str, np.ndarray]], report: MergeReport) -> None:
    created = trial not in f
    if created:
        f.require_group(trial)
        report.created_trials.append(trial)
        f[trial].attrs["status"] = layout.STATUS_INTERRUPTED
    for device_id, rows in devices.items():
        n = int(rows["t_host_s"].shape[0])
        already = int(rows["_already"])
        g = f[trial].get(device_id)
        if g is None:
            g = f[trial].create_group(device_id)
        have = int(g["t_host_s"].shape[0]) if isinstance(g.get("t_host_s"), h5py.Dataset) else 0
        if already not in (-1, have):
            raise SpillMergeError(f"{report.spill}: {trial}/{device_id} has {have} rows in {report.path}, the spill "
                                  f"expected {already} (merged already, or another file?); nothing merged")
        for name in SAMPLE_DATASETS:
            data = rows.get(name)
            ds = g.get(name)
            if data is None:
                if isinstance(ds, h5py.Dataset):  # the file has a column the spill lacks: NaN, never shifted rows
                    data = np.full((n, *ds.shape[1:]), np.nan, dtype=ds.dtype)
                else:
                    continue
            if ds is None:
                g.create_dataset(name, data=data, maxshape=(None, *data.shape[1:]), chunks=True)
                continue
            if ds.shape[1:] != data.shape[1:]:
                raise SpillMergeError(f"{report.spill}: {trial}/{device_id}/{name} has shape {data.shape}, the file's "
                                      f"{ds.shape}; nothing merged")
            ds.resize(ds.shape[0] + n, axis=0)
            ds[have:] = data
        report.rows.setdefault(trial, {})[device_id] = n


_NEVER = {"ended", "closed", "status", "samples", "samples_acquired"}


def _apply_held(f: h5py.File, held: list[tuple[str, dict[str, Any]]], trials: set[str]) -> int:
    """Attributes the full disk held back, on groups that exist; a status is never raised
    (``interrupted`` stays), and what the file already has from the stop is kept."""
    applied = 0
    for group, attrs in held:
        key = group.strip("/")
        target = f if not key else f.get(key)
        if not isinstance(target, h5py.Group):
            continue
        values = {k: v for k, v in attrs.items() if k not in _NEVER}
        if key in trials and target.attrs.get("status") is None and "status" in attrs:
            values["status"] = layout.STATUS_INTERRUPTED  # a trial the merge created
        for k, v in values.items():
            target.attrs[k] = layout.to_json(v) if isinstance(v, dict | list | tuple) else v
        applied += bool(values)
    return applied


def _verify(path: Path, tmp: Path, trials: dict[str, dict[str, dict[str, np.ndarray]]],
            before: dict[str, dict[str, int]]) -> None:
    with h5py.File(path, "r", locking=False) as a, h5py.File(tmp, "r", locking=False) as b:
        for trial, devices in trials.items():
            for device_id, rows in devices.items():
                for name in SAMPLE_DATASETS:
                    key = f"{trial}/{device_id}/{name}"
                    if key not in b:
                        continue
                    have = before.get(trial, {}).get(device_id, 0)
                    merged = b[key]
                    if key in a and not np.array_equal(merged[:have], a[key][:have], equal_nan=True):
                        raise SpillMergeError(f"{path}: verification failed: {key} changed; nothing merged")
                    if name in rows and not np.array_equal(merged[have:], rows[name], equal_nan=True):
                        raise SpillMergeError(f"{path}: verification failed: spilled rows of {key} differ; "
                                              "nothing merged")
