"""The one writer that owns a session file.

Every write goes through :class:`SessionWriter`'s thread. The file is open only while it
must be: metadata and finished trials are written with the file opened normally and closed
again, so between trials the file on disk is complete and closed. During a trial the file
is in HDF5 single-writer/multiple-reader (SWMR) mode: samples are appended in chunks and
flushed every ``flush_interval_s`` (0.25 s), other processes can read it meanwhile
(``h5py.File(path, "r", swmr=True)``), and a killed process leaves a file whose earlier
trials are intact and whose current trial lacks at most the unflushed samples (see
:mod:`station.storage.recovery` for reopening such a file).

While a writer owns a file it holds a shared ``flock`` on it (see :func:`is_in_use`), so
recovery never touches a file that a live station is still writing. The writer thread is
not a daemon: if the program ends without :meth:`SessionWriter.close` (an exception, a
second Ctrl-C during clean-up), the thread notices that the main thread is gone and closes
the file itself with status ``interrupted`` before the interpreter exits.
"""
from __future__ import annotations

import datetime as dt
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station import __version__
from station.storage import layout

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no liveness lock
    fcntl = None  # type: ignore[assignment]


_IDLE = object()  # the writer queue had nothing for one flush interval


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class TrialDevice:
    """One device recorded in a trial: its channel count and whether it has a clock."""

    channels: int
    has_device_time: bool


@dataclass(frozen=True)
class TrialSpec:
    """What a new trial group needs to know up front; samples go to ``<trial>/<device_id>/``."""

    test: str
    trial: str
    devices: dict[str, TrialDevice]
    attrs: dict[str, Any]


def _set_attrs(obj: h5py.HLObject, attrs: dict[str, Any]) -> None:
    for key, value in attrs.items():
        if value is None:
            if key in obj.attrs:
                del obj.attrs[key]
            continue
        obj.attrs[key] = layout.attr_value(value)


def _open(path: Path, mode: str) -> h5py.File:
    return h5py.File(path, mode, libver=layout.LIBVER, locking=False)


def _hold_lock(path: Path) -> int | None:
    """Open ``path`` and take a shared ``flock`` on it; the fd keeps the lock until closed.

    Shared, so HDF5 readers that lock (shared too) are not disturbed; a recoverer asks for
    an exclusive lock (:func:`is_in_use`) and fails while any writer holds this one.
    """
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        pass  # a filesystem without flock: keep the fd, lose only the liveness check
    return fd


def is_in_use(path: str | Path) -> bool:
    """True while another open handle holds a lock on ``path``: a live :class:`SessionWriter`
    (any process), or an HDF5 tool that locks the files it opens. A writer that was killed
    holds nothing (the kernel drops its locks). False where locks are unsupported."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def trial_final_status(root_status: str | None) -> str:
    """Status for a trial or test still ``recording`` when the session ends with ``root_status``:
    a session stopped by the operator (Ctrl-C, SIGTERM, ``q``) leaves it ``aborted``; any other
    end (an error, a crash found by recovery) leaves it ``interrupted``."""
    return layout.STATUS_ABORTED if root_status == layout.STATUS_ABORTED else layout.STATUS_INTERRUPTED


def count_samples(trial: h5py.Group) -> dict[str, int]:
    """Rows per device group of a trial (the length of its ``t_host_s``)."""
    return {k: int(d["t_host_s"].shape[0]) for k, d in trial.items()
            if isinstance(d, h5py.Group) and "t_host_s" in d}


class SessionWriter:
    """A thread owning one HDF5 session file. Public methods only enqueue work.

    Errors in the writer thread are kept and raised by the next :meth:`sync` or
    :meth:`close`, so an acquisition never blocks on disk but never loses an error.
    :meth:`set_attrs` during a trial is held back and applied when the trial ends (HDF5
    cannot add attributes to a file in SWMR mode).
    """

    def __init__(self, path: str | Path, *, flush_interval_s: float = 0.25, chunk_rows: int = 1024) -> None:
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self.chunk_rows = chunk_rows
        self._queue: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.Queue()
        # not a daemon: see the module docstring (the thread ends itself once the main thread is gone)
        self._thread = threading.Thread(target=self._run, name="hdf5-writer", daemon=False)
        self._error: BaseException | None = None
        self._file: h5py.File | None = None  # open only during a trial (SWMR)
        self._trial: str | None = None
        self._pending: list[tuple[str, dict[str, Any]]] = []  # set_attrs held back during a trial
        self._lock_fd: int | None = None
        self._created = False
        self._closed = False
        self._last_flush = 0.0
        self.samples_written = 0
        self._thread.start()

    # -- public API (any thread) --------------------------------------------------------
    def create(self, root_attrs: dict[str, Any], session: dict[str, Any]) -> None:
        self._put(self._do_create, root_attrs, session)

    def set_attrs(self, group: str, attrs: dict[str, Any]) -> None:
        """Create ``group`` if needed and set its attributes (only between trials)."""
        self._put(self._do_set_attrs, group, attrs)

    def begin_trial(self, spec: TrialSpec) -> None:
        self._put(self._do_begin_trial, spec)

    def append(self, device_id: str, t_host_s: np.ndarray, raw: np.ndarray, force_n: np.ndarray,
               t_device_s: np.ndarray | None = None) -> None:
        """Append one device's samples to the current trial (arrays must not be reused)."""
        self._put(self._do_append, device_id, t_host_s, raw, force_n, t_device_s)

    def end_trial(self, attrs: dict[str, Any]) -> None:
        self._put(self._do_end_trial, attrs)

    def add_dataset(self, group: str, name: str, data: np.ndarray, attrs: dict[str, Any] | None = None) -> None:
        """Write one derived dataset (e.g. a plate's summed force) into ``group``, between trials
        (queue it after :meth:`end_trial`)."""
        self._put(self._do_add_dataset, group, name, np.array(data, copy=True), dict(attrs or {}))

    def _do_add_dataset(self, group: str, name: str, data: np.ndarray, attrs: dict[str, Any]) -> None:
        if self._file is not None:
            raise RuntimeError(f"{self.path}: add_dataset({group}/{name}) while a trial is being written")
        with _open(self.path, "r+") as f:
            g = f.require_group(group)
            if name in g:
                del g[name]
            ds = g.create_dataset(name, data=data)
            _set_attrs(ds, attrs)

    def sync(self, timeout_s: float = 30.0) -> None:
        """Wait until everything queued so far is on disk; raise a writer error if any."""
        done = threading.Event()
        self._put(lambda: done.set())
        if not done.wait(timeout_s):
            raise TimeoutError(f"{self.path}: writer did not catch up within {timeout_s:g} s")
        self._raise()

    def close(self, root_attrs: dict[str, Any] | None = None) -> None:
        """Finish: set the final root attributes (``status`` defaults to ``complete``) and stop.

        A trial or test still ``recording`` gets status ``aborted`` when the final status is
        ``aborted``, else ``interrupted`` (:func:`trial_final_status`); its samples are kept."""
        if self._thread.is_alive():
            self._put(self._do_close, root_attrs or {})
            self._queue.put(None)
            self._thread.join()
        self._raise()

    # -- internals (writer thread) --------------------------------------------------------
    def _put(self, fn: Callable[..., None], *args: Any) -> None:
        self._raise()
        self._queue.put((fn, args))

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.flush_interval_s)
            except queue.Empty:
                item = _IDLE
            if item is None:
                return
            if item is not _IDLE:
                self._call(item)
            self._maybe_flush()
            if not threading.main_thread().is_alive():
                self._finish_orphaned()
                return

    def _call(self, item: tuple[Callable[..., None], tuple[Any, ...]]) -> None:
        fn, args = item
        try:
            fn(*args)
        except BaseException as exc:  # kept for the caller
            self._error = exc

    def _finish_orphaned(self) -> None:
        """The main thread is gone: do what is queued now (a close, if it was asked for),
        then close the file ourselves if nobody did, so the program can exit."""
        for _ in range(self._queue.qsize()):
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return
            if item is not _IDLE:
                self._call(item)
        self._orphaned()

    def _orphaned(self) -> None:
        """The program is exiting and nobody called :meth:`close`: close the file ourselves."""
        if self._created and not self._closed:
            try:
                self._do_close({"status": layout.STATUS_INTERRUPTED,
                                "close_note": "closed by the writer thread at program exit (close() was not called)"})
            except BaseException:  # noqa: BLE001 - nobody is left to report it to
                pass

    def _maybe_flush(self) -> None:
        if self._file is not None and time.monotonic() - self._last_flush >= self.flush_interval_s:
            try:
                self._file.flush()
            except BaseException as exc:
                self._error = exc
            self._last_flush = time.monotonic()

    def _do_create(self, root_attrs: dict[str, Any], session: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _open(self.path, "w-") as f:
            _set_attrs(f, {
                "format": layout.FORMAT,
                "format_version": layout.FORMAT_VERSION,
                "station_version": __version__,
                "created_utc": utc_now(),
                "created_monotonic_s": time.monotonic(),  # pairs the host clock of t_host_s with UTC
                "status": layout.STATUS_RECORDING,
                **root_attrs,
            })
            _set_attrs(f.require_group("session"), session)
            for name in ("devices", "calibration", "protocols", "tests"):
                f.require_group(name)
        self._created = True
        self._lock_fd = _hold_lock(self.path)

    def _do_set_attrs(self, group: str, attrs: dict[str, Any]) -> None:
        if self._file is not None:  # a trial is being written in SWMR mode: later
            self._pending.append((group, attrs))
            return
        with _open(self.path, "r+") as f:
            _set_attrs(f.require_group(group), attrs)

    def _apply_pending(self, f: h5py.File) -> None:
        pending, self._pending = self._pending, []
        for group, attrs in pending:
            _set_attrs(f.require_group(group), attrs)

    def _do_begin_trial(self, spec: TrialSpec) -> None:
        self._close_trial_file()
        f = _open(self.path, "r+")
        g = f.require_group(layout.trial_path(spec.test, spec.trial))
        _set_attrs(g, {"status": layout.STATUS_RECORDING, "started_utc": utc_now(), **spec.attrs})
        rows = self.chunk_rows
        nan = float("nan")  # fill value: a row whose data never reached the disk reads as NaN
        for device_id, dev in spec.devices.items():
            d, ch = g.require_group(device_id), dev.channels
            d.create_dataset("t_host_s", shape=(0,), maxshape=(None,), dtype="f8", chunks=(rows,), fillvalue=nan)
            d.create_dataset("raw", shape=(0, ch), maxshape=(None, ch), dtype="f8", chunks=(rows, ch),
                             fillvalue=nan)
            d.create_dataset("force_n", shape=(0, ch), maxshape=(None, ch), dtype="f8", chunks=(rows, ch),
                             fillvalue=nan)
            if dev.has_device_time:
                d.create_dataset("t_device_s", shape=(0,), maxshape=(None,), dtype="f8", chunks=(rows,),
                                 fillvalue=nan)
                d["t_device_s"].attrs["unit"] = "s"
            d["t_host_s"].attrs["unit"] = "s"
            d["force_n"].attrs["unit"] = "N"
            device = f.get(f"devices/{device_id}")
            raw_unit = device.attrs.get("unit") if device is not None else None
            if raw_unit is not None:
                d["raw"].attrs["unit"] = raw_unit
        f.swmr_mode = True
        self._file, self._trial = f, layout.trial_path(spec.test, spec.trial)
        self._last_flush = time.monotonic()

    def _do_append(self, device_id: str, t_host_s: np.ndarray, raw: np.ndarray, force_n: np.ndarray,
                   t_device_s: np.ndarray | None) -> None:
        if self._file is None or self._trial is None:
            return  # samples outside a trial are not stored
        g = self._file[self._trial].get(device_id)
        if g is None:
            return  # a device not recorded in this trial
        n = len(t_host_s)
        data = {"t_host_s": t_host_s, "raw": raw, "force_n": force_n}
        if t_device_s is not None and "t_device_s" in g:
            data["t_device_s"] = t_device_s
        start = g["t_host_s"].shape[0]
        for name, values in data.items():
            ds = g[name]
            ds.resize(start + n, axis=0)
            ds[start : start + n] = values
        self.samples_written += n

    def _close_trial_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._trial = None, None

    def _do_end_trial(self, attrs: dict[str, Any]) -> None:
        trial = self._trial
        self._close_trial_file()
        if trial is None and not self._pending:
            return
        with _open(self.path, "r+") as f:
            if trial is not None:
                g = f[trial]
                _set_attrs(g, {"ended_utc": utc_now(), "samples": count_samples(g), **attrs})
            self._apply_pending(f)

    def _do_close(self, root_attrs: dict[str, Any]) -> None:
        trial = self._trial
        self._close_trial_file()
        try:
            if not self._created:
                return
            with _open(self.path, "r+") as f:
                self._apply_pending(f)
                final = trial_final_status(root_attrs.get("status"))
                if trial is not None and f[trial].attrs.get("status") == layout.STATUS_RECORDING:
                    _set_attrs(f[trial], {"status": final, "ended_utc": utc_now(), "samples": count_samples(f[trial])})
                for g in f["tests"].values() if "tests" in f else ():
                    if isinstance(g, h5py.Group) and g.attrs.get("status") == layout.STATUS_RECORDING:
                        _set_attrs(g, {"status": final})
                _set_attrs(f, {"closed_utc": utc_now(), **root_attrs})
                if f.attrs.get("status") == layout.STATUS_RECORDING:
                    f.attrs["status"] = layout.STATUS_COMPLETE
        finally:
            self._closed = True
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None
