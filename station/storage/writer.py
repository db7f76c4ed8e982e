"""The one writer that owns a session file.

Every write goes through :class:`SessionWriter`'s thread. The file is open only while it
must be: metadata and finished trials are written with the file opened normally and closed
again, so between trials the file on disk is complete and closed. During a trial the file
is in HDF5 single-writer/multiple-reader (SWMR) mode: samples are gathered and appended in
one write per dataset and flush period (``flush_interval_s``, 0.25 s), other processes can read it meanwhile
(``h5py.File(path, "r", swmr=True)``), and a killed process leaves a file whose earlier
trials are intact and whose current trial lacks at most the unflushed samples (see
:mod:`station.storage.recovery` for reopening such a file).

While a writer owns a file it holds a shared ``flock`` on it (see :func:`is_in_use`), so
recovery never touches a file that a live station is still writing. The writer thread is
not a daemon: if the program ends without :meth:`SessionWriter.close` (an exception, a
second Ctrl-C during clean-up), the thread notices that the main thread is gone and closes
the file itself with status ``interrupted`` before the interpreter exits.

The queue to the writer thread is bounded (samples and seconds), the free space is checked
before every write so a full disk stops recording while the file can still be closed, and
the writer only ever opens the file it created itself (see :class:`SessionWriter`).
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from station import __version__
from station.errors import StorageError
from station.storage import layout

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no liveness lock
    fcntl = None  # type: ignore[assignment]


_IDLE = object()  # the writer queue had nothing for one flush interval

log = logging.getLogger(__name__)


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class TrialDevice:
    """One device recorded in a trial: its channel count, whether it has a clock, and its
    nominal rate (Hz; sizes the HDF5 chunks, None for the default)."""

    channels: int
    has_device_time: bool
    rate_hz: float | None = None


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


#: raw-data chunk cache per open dataset (bytes): the writer only appends, so a few chunks
#: (at most 256 KiB each, see :func:`chunk_rows_for`) are enough. HDF5 2.x's default of
#: 8 MiB per dataset made a trial of 3 devices (12 datasets) grow by ~100 MB while recording.
CHUNK_CACHE_BYTES = 1 << 20


def _append_cache(rows: int, channels: int) -> dict[str, Any]:
    """Chunk-cache settings of a dataset the writer appends to: room for 4 of its chunks
    (the one being filled, and the next while a write crosses into it), fully written
    chunks evicted first (``w0=1``). The file-wide default (:data:`CHUNK_CACHE_BYTES` per
    dataset) would keep up to 1 MiB of already written chunks per dataset in memory: RSS
    grew by ~10 MiB over the first minute of a 3-device trial before it levelled off."""
    return {"rdcc_nbytes": 4 * rows * channels * 8, "rdcc_w0": 1.0}


def _open(path: Path, mode: str) -> h5py.File:
    return h5py.File(path, mode, libver=layout.LIBVER, locking=False, rdcc_nbytes=CHUNK_CACHE_BYTES)


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


class SessionFileError(StorageError):
    """The session file cannot be created or is not the one this writer created; one line."""


class DiskFullError(StorageError):
    """Recording stopped because the disk of the session file is (nearly) full; one line
    saying where, what the session file kept, and where the samples that did not fit went."""


def free_bytes(directory: Path) -> int:
    """Bytes an unprivileged process may still write in ``directory``'s file system."""
    return shutil.disk_usage(directory).free


def default_spill_dir() -> Path:
    """Where samples that did not fit on a full disk go when no ``spill_dir`` was given:
    ``<user data dir>/spill`` (platformdirs: ``~/.local/share/force-station/spill`` on Linux)."""
    import platformdirs  # only needed on the rare day a disk fills

    return Path(platformdirs.user_data_dir("force-station", appauthor=False)) / "spill"


def chunk_rows_for(rate_hz: float | None, channels: int, *, default: int = 1024) -> int:
    """Rows per chunk for a device at ``rate_hz``: about 0.5 s of samples, a multiple of 64
    between 64 and 8192 rows, and at most 256 KiB per chunk of the widest dataset."""
    if not rate_hz or rate_hz <= 0:
        return default
    rows = int(np.ceil(rate_hz * 0.5 / 64.0)) * 64
    cap = max(64, (256 * 1024 // (8 * max(channels, 1))) // 64 * 64)
    return int(min(max(rows, 64), 8192, cap))


@dataclass
class DeviceCounts:
    """Samples (rows) of one device, from the writer's point of view, since the writer started.

    ``acquired`` = ``written`` + ``not_written`` + what is still queued; ``not_written`` =
    ``dropped`` (the writer could not keep up) + ``spilled`` (the disk was full)."""

    acquired: int = 0  # handed to the writer by append()
    written: int = 0  # in the session file and flushed
    dropped: int = 0  # refused because the queue was full (writer behind): not in any file
    spilled: int = 0  # did not fit on the disk: kept in memory and saved to the spill file

    @property
    def not_written(self) -> int:
        return self.dropped + self.spilled

    def as_dict(self) -> dict[str, int]:
        return {"acquired": self.acquired, "written": self.written, "not_written": self.not_written,
                "dropped": self.dropped, "spilled": self.spilled}


@dataclass
class DiskFull:
    """What happened when the disk filled (see :class:`DiskFullError`)."""

    directory: Path
    free_bytes: int
    needed_bytes: int
    trial: str | None = None  # the trial being recorded, if any
    kept: dict[str, int] = field(default_factory=dict)  # device → rows of that trial in the session file
    spill_path: Path | None = None  # where the samples that did not fit were saved
    spill_error: str | None = None  # why they could not be saved (they are still in memory)
    closed_cleanly: bool = False  # the session file was closed with its status set

    def message(self, path: Path, spilled: int) -> str:
        kept = ", ".join(f"{d} {n}" for d, n in self.kept.items())
        where = ("no samples were left over" if not spilled
                 else f"{spilled} sample(s) that did not fit saved to {self.spill_path}" if self.spill_path
                 else f"{spilled} sample(s) that did not fit are only in memory ({self.spill_error})")
        trial = ("no trial was being recorded" if not self.trial
                 else f"trial {self.trial.removeprefix('/tests/')} kept up to the stop ({kept} samples)" if kept
                 else f"trial {self.trial.removeprefix('/tests/')} did not fit in it at all")
        state = "closed, status 'interrupted'" if self.closed_cleanly else \
            "could not be closed cleanly (run `station session recover` on it)"
        return (f"disk full: {self.directory} has {self.free_bytes // 1024} KiB free, {self.needed_bytes // 1024} KiB "
                f"needed; recording stopped. {path.name} keeps every earlier trial and is {state}; {trial}; {where}")


class SessionWriter:
    """A thread owning one HDF5 session file. Public methods only enqueue work.

    **Batching.** Samples are gathered per device and written once per flush period
    (``flush_interval_s``, 0.25 s) or once ``batch_rows`` rows are waiting, whichever comes
    first: one resize and one write per dataset, dataset handles cached for the trial, then
    one SWMR flush. Chunks hold about 0.5 s of samples (:func:`chunk_rows_for`).

    **Bounded queue.** At most ``max_queue_rows`` rows of samples wait for the writer
    thread, and none for longer than ``max_queue_s`` (samples arrive in real time, so that is
    the seconds of data queued). Beyond that :meth:`append` refuses the
    block: it is counted (``counts[device].dropped``), a warning is logged, kept in
    :attr:`warnings` and passed to ``on_warning``. So memory stays flat and a crash loses at
    most the flush period plus the bounded queue.

    **Full disk.** Before each write the free space is checked (``free_space``, injectable):
    when the batch plus ``reserve_bytes`` (the room to close the file) does not fit, the
    trial file is closed cleanly (trial, test and root ``interrupted``, ``disk_full`` noted)
    and recording stops; the samples that did not fit, and any that still arrive, are kept
    in memory and saved to ``spill_dir`` (default :func:`default_spill_dir`). The next call
    other than :meth:`append` raises :class:`DiskFullError` (one line).

    **Errors.** :meth:`create` waits and raises (a name that exists is never opened). Other
    errors of the writer thread are kept and raised by the next call other than
    :meth:`append` (which never raises: it runs on the pipeline thread). The writer never
    opens a file it did not create (it checks the file's identity each time it reopens it).
    :meth:`set_attrs` during a trial is held back and applied when the trial ends (HDF5
    cannot add attributes to a file in SWMR mode).
    """

    def __init__(self, path: str | Path, *, flush_interval_s: float = 0.25, chunk_rows: int = 1024,
                 batch_rows: int = 32768, max_queue_s: float = 1.0, max_queue_rows: int = 262144,
                 reserve_bytes: int = 128 * 1024, spill_dir: str | Path | None = None,
                 free_space: Callable[[Path], int] = free_bytes,
                 on_warning: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self.chunk_rows = chunk_rows
        self.batch_rows = batch_rows
        self.max_queue_s = max_queue_s
        self.max_queue_rows = max_queue_rows
        self.reserve_bytes = reserve_bytes
        self.spill_dir = Path(spill_dir) if spill_dir is not None else None
        self.free_space = free_space
        self.on_warning = on_warning
        self.warnings: list[str] = []
        self.counts: dict[str, DeviceCounts] = {}
        self.peak_queue_rows = 0  # most rows ever waiting for the writer thread
        self.slowest_write_s = 0.0  # longest write of one batch (resize, write, flush; wall clock, s)
        self.disk_full: DiskFull | None = None
        self._full_reported = False
        self._queue: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]] | None] = queue.Queue()
        # not a daemon: see the module docstring (the thread ends itself once the main thread is gone)
        self._thread = threading.Thread(target=self._run, name="hdf5-writer", daemon=False)
        self._error: BaseException | None = None
        self._file: h5py.File | None = None  # open only during a trial (SWMR)
        self._trial: str | None = None
        self._datasets: dict[str, dict[str, h5py.Dataset]] = {}  # device → name → dataset, this trial
        self._chunks: dict[str, list[tuple[int, int]]] = {}  # device → (chunk rows, row bytes) per dataset
        self._rows: dict[str, int] = {}  # device → rows on disk in this trial
        self._taken: dict[str, int] = {}  # device → rows the writer thread took in this trial
        self._dropped_at_start: dict[str, int] = {}  # device → dropped rows when the trial began
        self._batch: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]] = {}
        self._batch_rows = 0
        self._spill: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]]] = {}
        self._spill_attrs: list[tuple[str, dict[str, Any]]] = []
        self._spill_dirty = False
        self._spill_trial: str | None = None  # the trial whose samples go to the spill file
        self._pending: list[tuple[str, dict[str, Any]]] = []  # set_attrs held back during a trial
        self._lock_fd: int | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file we created
        self._created = False
        self._closed = False
        self._last_flush = time.monotonic()
        # the bounded queue: rows waiting for the writer thread, and the host time of each block
        self._qlock = threading.Lock()
        self._queued_rows = 0
        self._queued_t: deque[tuple[float, int]] = deque()  # (monotonic time queued, rows) per block
        # appended blocks wait here, not on the queue: the writer thread takes them once per
        # flush period instead of waking for every block (a control call seals them first)
        self._appends: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._appends_rows = 0
        self._behind = False  # in a stretch where the writer cannot keep up
        self._thread.start()

    # -- public API (any thread) --------------------------------------------------------
    @property
    def samples_written(self) -> int:
        """Rows of all devices in the file (flushed)."""
        return sum(c.written for c in self.counts.values())

    def create(self, root_attrs: dict[str, Any], session: dict[str, Any], timeout_s: float = 30.0) -> None:
        """Create the file (never an existing one) and wait for it: errors are raised here."""
        done = threading.Event()
        self._put(self._do_create, root_attrs, session, done)
        if not done.wait(timeout_s):
            raise SessionFileError(f"{self.path}: the session file was not created within {timeout_s:g} s")
        self._raise()

    def set_attrs(self, group: str, attrs: dict[str, Any]) -> None:
        """Create ``group`` if needed and set its attributes (only between trials)."""
        self._put(self._do_set_attrs, group, attrs)

    def begin_trial(self, spec: TrialSpec) -> None:
        self._put(self._do_begin_trial, spec)

    def append(self, device_id: str, t_host_s: np.ndarray, raw: np.ndarray, force_n: np.ndarray,
               t_device_s: np.ndarray | None = None) -> None:
        """Queue one device's samples for the current trial (arrays must not be reused).

        Never raises and never blocks: when the queue is full the block is counted as
        dropped and a warning is given (see the class docstring)."""
        n = len(t_host_s)
        if not n:
            return
        now = time.monotonic()
        warn = None
        with self._qlock:
            c = self.counts.get(device_id)
            if c is None:
                c = self.counts[device_id] = DeviceCounts()
            c.acquired += n
            span = now - self._queued_t[0][0] if self._queued_t else 0.0
            if self._queued_rows + n > self.max_queue_rows or span > self.max_queue_s:
                c.dropped += n
                if not self._behind:
                    self._behind = True
                    warn = (f"WARNING: {self.path.name}: the writer cannot keep up with the data "
                            f"({self._queued_rows} samples, {span:.2f} s queued); samples are being dropped "
                            f"and counted ({sum(x.dropped for x in self.counts.values())} so far)")
            else:
                self._queued_rows += n
                self._queued_t.append((now, n))
                self.peak_queue_rows = max(self.peak_queue_rows, self._queued_rows)
                self._appends.append((device_id, t_host_s, raw, force_n, t_device_s))
                self._appends_rows += n
                if self._appends_rows >= self.batch_rows:  # a full batch: hand it over now, in order
                    self._queue.put((self._do_appends, (self._appends,)))
                    self._appends, self._appends_rows = [], 0
        if warn:
            self._warn(warn)

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
        self._put(self._do_sync, done)
        if not done.wait(timeout_s):
            raise TimeoutError(f"{self.path}: writer did not catch up within {timeout_s:g} s")
        self._raise()

    def close(self, root_attrs: dict[str, Any] | None = None) -> None:
        """Finish: set the final root attributes (``status`` defaults to ``complete``) and stop.

        A trial or test still ``recording`` gets status ``aborted`` when the final status is
        ``aborted``, else ``interrupted`` (:func:`trial_final_status`); its samples are kept."""
        if self._thread.is_alive():
            self._enqueue(self._do_close, root_attrs or {})
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def queued(self) -> tuple[int, float]:
        """Rows waiting for the writer thread now, and how long the oldest has waited (s)."""
        with self._qlock:
            span = time.monotonic() - self._queued_t[0][0] if self._queued_t else 0.0
            return self._queued_rows, span

    def totals(self) -> DeviceCounts:
        """All devices' counts added up."""
        with self._qlock:
            out = DeviceCounts()
            for c in self.counts.values():
                out.acquired += c.acquired
                out.written += c.written
                out.dropped += c.dropped
                out.spilled += c.spilled
            return out

    # -- internals (writer thread) --------------------------------------------------------
    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self.on_warning is None:
            log.warning("%s", text)
        else:
            try:
                self.on_warning(text)
            except Exception:  # noqa: BLE001 - a broken display must not stop the writer
                pass

    def _put(self, fn: Callable[..., None], *args: Any) -> None:
        self._raise()
        self._enqueue(fn, *args)

    def _enqueue(self, fn: Callable[..., None], *args: Any) -> None:
        """Queue ``fn(*args)`` for the writer thread after every block appended so far."""
        with self._qlock:
            if self._appends:
                self._queue.put((self._do_appends, (self._appends,)))
                self._appends, self._appends_rows = [], 0
            self._queue.put((fn, args))

    def _take_appends(self) -> None:
        """Writer thread: take the blocks appended since the last look, unless something is
        queued (it was queued after them, with the earlier blocks sealed before it: taking the
        later blocks now would write them before it)."""
        with self._qlock:
            if not self._queue.empty():
                return
            blocks, self._appends, self._appends_rows = self._appends, [], 0
        self._do_appends(blocks)

    def _do_appends(self, blocks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]]) -> None:
        for block in blocks:
            self._do_append(*block)

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            if isinstance(err, DiskFullError) and self.disk_full is not None:
                # save what is in memory now, so the message says where every sample went
                if self._thread.is_alive() and threading.current_thread() is not self._thread:
                    done = threading.Event()
                    self._enqueue(self._do_sync, done)
                    done.wait(30.0)
                    self._error = None
                err = DiskFullError(self.disk_full.message(self.path, self._spilled_rows()))
                self._full_reported = True
            raise err

    def _run(self) -> None:
        while True:
            wait = self.flush_interval_s
            if self._batch_rows or self._appends:
                wait = max(0.0, self._last_flush + self.flush_interval_s - time.monotonic())
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = _IDLE  # type: ignore[assignment]  # a sentinel: flush when idle
            if item is None:
                return
            closing = False
            if item is not _IDLE:
                self._call(item)
                # take everything already queued before writing: behind, one write then
                # covers the whole backlog, so nothing waits longer than about one write
                for _ in range(self._queue.qsize()):
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        self._queue.put(None)  # handled at the top of the loop, after this write
                        closing = True
                        break
                    self._call(item)
            if not closing:
                self._guard(self._take_appends)  # appended after everything that was queued
            if self._batch_rows and (self._batch_rows >= self.batch_rows
                                     or time.monotonic() - self._last_flush >= self.flush_interval_s):
                self._guard(self._write_batch)
            if not threading.main_thread().is_alive():
                self._finish_orphaned()
                return

    def _call(self, item: tuple[Callable[..., None], tuple[Any, ...]]) -> None:
        fn, args = item
        self._guard(fn, *args)

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except BaseException as exc:  # noqa: BLE001 - kept for the caller
            if isinstance(exc, DiskFullError):
                if not self._full_reported:  # the caller hears of a full disk once
                    self._error = exc
            elif self._error is None:
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
        self._guard(self._take_appends)
        self._orphaned()

    def _orphaned(self) -> None:
        """The program is exiting and nobody called :meth:`close`: close the file ourselves."""
        if self._created and not self._closed:
            try:
                self._do_close({"status": layout.STATUS_INTERRUPTED,
                                "close_note": "closed by the writer thread at program exit (close() was not called)"})
            except BaseException:  # noqa: BLE001 - nobody is left to report it to
                pass

    # -- files ----------------------------------------------------------------------------
    def _open_own(self, mode: str = "r+") -> h5py.File:
        """Reopen the file this writer created, refusing any other file now at that path."""
        if not self._created:
            raise SessionFileError(f"{self.path}: the session file was never created; nothing is written")
        try:
            identity = _identity(self.path)
        except OSError as exc:
            raise SessionFileError(f"{self.path}: the session file vanished ({exc.strerror})") from None
        if identity != self._identity:
            raise SessionFileError(f"{self.path}: the session file was replaced by another file; "
                                   "not touched (the data of this session is no longer written there)")
        return _open(self.path, mode)

    def _check_room(self, needed: int, what: str, *, metadata: bool = False, trial: str | None = None,
                    kept: dict[str, int] | None = None) -> bool:
        """True when ``needed`` bytes plus the reserve fit; else stop recording (disk full).

        Samples and new trials must leave the whole reserve free; attributes (the end of a
        trial, results, the close) may use all but a quarter of it: that is what it is for."""
        try:
            free = int(self.free_space(self.path.parent))
        except OSError:
            return True  # cannot tell: write and let HDF5 report a real failure
        reserve = self.reserve_bytes // 4 if metadata else self.reserve_bytes
        if free >= needed + reserve:
            return True
        self._stop_disk_full(free, needed + reserve, what, trial or self._trial,
                             dict(self._rows) if kept is None else kept)
        return False

    def _do_create(self, root_attrs: dict[str, Any], session: dict[str, Any], done: threading.Event) -> None:
        try:
            self._create(root_attrs, session)
        finally:
            done.set()

    def _create(self, root_attrs: dict[str, Any], session: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: a name that exists (another station, another session) is never opened
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise SessionFileError(f"{self.path}: a file of that name already exists; it was not opened or "
                                   "changed (choose another output name)") from None
        except OSError as exc:
            raise SessionFileError(f"{self.path}: cannot create the session file ({exc.strerror})") from None
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        self._identity = (st.st_dev, st.st_ino)
        self._created = True
        try:
            if _identity(self.path) != self._identity:
                raise SessionFileError(f"{self.path}: the new session file was replaced by another file at once; "
                                       "not touched")
            with _open(self.path, "w") as f:  # our own empty file, just made
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
        except OSError as exc:
            raise SessionFileError(f"{self.path}: cannot write the session file ({' '.join(str(exc).split())})") \
                from None
        self._identity = _identity(self.path)
        self._lock_fd = _hold_lock(self.path)

    def _do_set_attrs(self, group: str, attrs: dict[str, Any]) -> None:
        if self.disk_full is not None:
            self._spill_attrs.append((group, attrs))
            self._spill_dirty = True
            return
        if self._file is not None:  # a trial is being written in SWMR mode: later
            self._pending.append((group, attrs))
            return
        if not self._check_room(_attrs_size(attrs), f"attributes of {group}", metadata=True):
            self._spill_attrs.append((group, attrs))
            return
        with self._open_own() as f:
            _set_attrs(f.require_group(group), attrs)

    def _apply_pending(self, f: h5py.File) -> None:
        pending, self._pending = self._pending, []
        for group, attrs in pending:
            _set_attrs(f.require_group(group), attrs)

    def _do_begin_trial(self, spec: TrialSpec) -> None:
        self._end_trial_file()
        path = layout.trial_path(spec.test, spec.trial)
        if self.disk_full is not None:  # its samples go to the spill file
            self._spill_trial = path
            raise DiskFullError(self.disk_full.message(self.path, self._spilled_rows()))
        if not self._check_room(16 * 1024 * max(len(spec.devices), 1), f"trial {spec.trial}", trial=path, kept={}):
            raise DiskFullError(self.disk_full.message(self.path, 0))  # type: ignore[union-attr, attr-defined]
        f = self._open_own()
        try:
            g = f.require_group(layout.trial_path(spec.test, spec.trial))
            _set_attrs(g, {"status": layout.STATUS_RECORDING, "started_utc": utc_now(), **spec.attrs})
            nan = float("nan")  # fill value: a row whose data never reached the disk reads as NaN
            self._datasets, self._rows, self._chunks = {}, {}, {}
            for device_id, dev in spec.devices.items():
                d, ch = g.require_group(device_id), dev.channels
                rows = chunk_rows_for(dev.rate_hz, ch, default=self.chunk_rows)
                one, many = _append_cache(rows, 1), _append_cache(rows, ch)
                ds = {
                    "t_host_s": d.create_dataset("t_host_s", shape=(0,), maxshape=(None,), dtype="f8",
                                                 chunks=(rows,), fillvalue=nan, **one),
                    "raw": d.create_dataset("raw", shape=(0, ch), maxshape=(None, ch), dtype="f8",
                                            chunks=(rows, ch), fillvalue=nan, **many),
                    "force_n": d.create_dataset("force_n", shape=(0, ch), maxshape=(None, ch), dtype="f8",
                                                chunks=(rows, ch), fillvalue=nan, **many),
                }
                if dev.has_device_time:
                    ds["t_device_s"] = d.create_dataset("t_device_s", shape=(0,), maxshape=(None,), dtype="f8",
                                                        chunks=(rows,), fillvalue=nan, **one)
                    ds["t_device_s"].attrs["unit"] = "s"
                ds["t_host_s"].attrs["unit"] = "s"
                ds["force_n"].attrs["unit"] = "N"
                device = f.get(f"devices/{device_id}")
                raw_unit = device.attrs.get("unit") if device is not None else None
                if raw_unit is not None:
                    ds["raw"].attrs["unit"] = raw_unit
                self._datasets[device_id] = ds
                self._rows[device_id] = 0
            f.swmr_mode = True
        except BaseException:
            self._datasets, self._rows = {}, {}
            f.close()
            raise
        self._file, self._trial = f, layout.trial_path(spec.test, spec.trial)
        with self._qlock:
            self._dropped_at_start = {k: c.dropped for k, c in self.counts.items()}
        self._taken = {}
        self._last_flush = time.monotonic()

    def _do_append(self, device_id: str, t_host_s: np.ndarray, raw: np.ndarray, force_n: np.ndarray,
                   t_device_s: np.ndarray | None) -> None:
        n = len(t_host_s)
        with self._qlock:
            self._queued_rows -= n
            if self._queued_t:
                self._queued_t.popleft()
            if self._behind and self._queued_rows <= self.max_queue_rows // 2 and (
                    not self._queued_t or time.monotonic() - self._queued_t[0][0] <= self.max_queue_s / 2):
                self._behind = False
        if self.disk_full is not None:
            if self._spill_trial is not None:  # the trial in progress goes on in memory
                self._keep_spilled(device_id, [(t_host_s, raw, force_n, t_device_s)])
            return
        if self._file is None or device_id not in self._datasets:
            return  # samples outside a trial, or of a device not recorded in it, are not stored
        self._taken[device_id] = self._taken.get(device_id, 0) + n
        self._batch.setdefault(device_id, []).append((t_host_s, raw, force_n, t_device_s))
        self._batch_rows += n

    def _batch_bytes(self, batch: dict[str, tuple[int, dict[str, np.ndarray]]]) -> int:
        """Bytes the file grows by when ``batch`` is written: whole new chunks, plus index."""
        total = 0
        for device_id, (n, _) in batch.items():
            start = self._rows[device_id]
            for rows, row_bytes in self._chunk_shapes(device_id):
                new_chunks = -(-(start + n) // rows) - (-(-start // rows))
                total += new_chunks * (rows * row_bytes + 512)
        return total + 4096

    def _chunk_shapes(self, device_id: str) -> list[tuple[int, int]]:
        """(rows per chunk, bytes per row) of each dataset of ``device_id`` in this trial
        (asked of HDF5 once per trial: each property read is a library call)."""
        shapes = self._chunks.get(device_id)
        if shapes is None:
            shapes = self._chunks[device_id] = [
                (int(ds.chunks[0]), int(np.prod(ds.chunks[1:], dtype=np.int64)) * ds.dtype.itemsize)
                for ds in self._datasets[device_id].values()]
        return shapes

    def _write_batch(self) -> None:
        """Write every waiting sample: per dataset one resize and one write, then one flush."""
        if not self._batch_rows:
            return
        parts, self._batch, self._batch_rows = self._batch, {}, 0
        self._last_flush = time.monotonic()
        if self._file is None:
            return
        batch: dict[str, tuple[int, dict[str, np.ndarray]]] = {}
        for device_id, blocks in parts.items():
            data = {"t_host_s": _cat([b[0] for b in blocks]), "raw": _cat([b[1] for b in blocks]),
                    "force_n": _cat([b[2] for b in blocks])}
            if "t_device_s" in self._datasets[device_id] and all(b[3] is not None for b in blocks):
                data["t_device_s"] = _cat([b[3] for b in blocks])  # type: ignore[misc]
            batch[device_id] = (len(data["t_host_s"]), data)
        if not self._check_room(self._batch_bytes(batch), "samples"):
            for device_id, blocks in parts.items():
                self._keep_spilled(device_id, blocks)
            self._save_spill()
            return
        try:
            for device_id, (n, data) in batch.items():
                start = self._rows[device_id]
                datasets = self._datasets[device_id]
                for name, ds in datasets.items():
                    _append_rows(ds, start, n, data.get(name))
                self._rows[device_id] = start + n
            self._file.flush()
        except BaseException as exc:
            self._broken_trial_file(exc)
            raise
        self.slowest_write_s = max(self.slowest_write_s, time.monotonic() - self._last_flush)
        with self._qlock:
            for device_id, (n, _) in batch.items():
                self.counts[device_id].written += n

    def _do_sync(self, done: threading.Event) -> None:
        try:
            self._write_batch()
            if self.disk_full is not None and self._spill_dirty:
                self._save_spill()
        finally:
            done.set()

    def _broken_trial_file(self, exc: BaseException) -> None:
        """A write failed although the space check passed: let go of the file without more
        writes (HDF5 may not manage to close it; recovery can repair it)."""
        f, self._file, self._datasets = self._file, None, {}
        log.error("%s: writing samples failed (%s); the trial file was let go", self.path, exc)
        if f is not None:
            try:
                f.close()
            except BaseException:  # noqa: BLE001 - the file is already broken
                pass

    def _end_trial_file(self) -> None:
        """Write what is waiting and close the SWMR file of the trial."""
        try:
            self._write_batch()
        finally:
            if self._file is not None:
                f, self._file, self._datasets = self._file, None, {}
                f.close()

    def _trial_attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """End-of-trial attributes with what was acquired and written per device."""
        with self._qlock:
            dropped = {k: c.dropped - self._dropped_at_start.get(k, 0) for k, c in self.counts.items()}
        written = dict(self._rows)
        acquired = {k: self._taken.get(k, 0) + dropped.get(k, 0) for k in written}
        return {"ended_utc": utc_now(), "samples": written, "samples_acquired": acquired, **attrs}

    def _do_end_trial(self, attrs: dict[str, Any]) -> None:
        trial = self._trial
        self._end_trial_file()
        self._trial = None
        if self.disk_full is not None:
            trial = trial or self._spill_trial
            self._spill_trial = None
            self._spill_attrs.append((trial or "", {"ended": True, **attrs}))
            self._save_spill()
            raise DiskFullError(self.disk_full.message(self.path, self._spilled_rows()))
        if trial is None and not self._pending:
            return
        if not self._check_room(_attrs_size(attrs), "end of trial", metadata=True, trial=trial):
            self._spill_attrs.append((trial or "", {"ended": True, **attrs}))
            self._save_spill()
            raise DiskFullError(self.disk_full.message(self.path, self._spilled_rows()))  # type: ignore[union-attr, attr-defined]
        with self._open_own() as f:
            if trial is not None:
                g = f[trial]
                _set_attrs(g, self._trial_attrs(attrs))
            self._apply_pending(f)

    def _do_close(self, root_attrs: dict[str, Any]) -> None:
        trial = self._trial
        try:
            try:
                self._end_trial_file()
            finally:
                self._trial = None
            if not self._created:
                return
            if self.disk_full is not None:
                self._spill_attrs.append(("/", {"closed": True, **root_attrs}))
                self._save_spill()
                return
            with self._open_own() as f:
                self._apply_pending(f)
                final = trial_final_status(root_attrs.get("status"))
                if trial is not None and f[trial].attrs.get("status") == layout.STATUS_RECORDING:
                    _set_attrs(f[trial], {**self._trial_attrs({}), "status": final})
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

    # -- full disk ------------------------------------------------------------------------
    def _spilled_rows(self) -> int:
        with self._qlock:
            return sum(c.spilled for c in self.counts.values())

    def _keep_spilled(self, device_id: str, blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray,
                                                               np.ndarray | None]]) -> None:
        trial = self._spill_trial or self._trial or ""
        self._spill.setdefault(trial, {}).setdefault(device_id, []).extend(blocks)
        with self._qlock:
            self.counts.setdefault(device_id, DeviceCounts()).spilled += sum(len(b[0]) for b in blocks)
        self._spill_dirty = True

    def _stop_disk_full(self, free: int, needed: int, what: str, trial: str | None, kept: dict[str, int]) -> None:
        """Stop recording while the file can still be closed: write nothing more to it, mark
        ``trial`` (the one in progress), its test and the root ``interrupted`` with a
        ``disk_full`` note, close."""
        full = DiskFull(self.path.parent, free, needed, trial=trial, kept=kept if trial else {})
        self.disk_full = full
        self._spill_trial = trial
        for device_id, blocks in self._batch.items():
            self._keep_spilled(device_id, blocks)
        self._batch, self._batch_rows = {}, 0
        f, self._file, self._datasets = self._file, None, {}
        note = (f"disk full at {utc_now()} while writing {what}: {free // 1024} KiB free, {needed // 1024} KiB "
                "needed; recording stopped, samples that did not fit were saved apart (see the station's message)")
        try:
            if f is not None:
                f.close()  # nothing unwritten is in it: closing needs little room
            with self._open_own() as g:
                self._apply_pending(g)
                if trial is not None and trial in g:
                    _set_attrs(g[trial], {"status": layout.STATUS_INTERRUPTED, "ended_utc": utc_now(),
                                          "samples": full.kept, "disk_full": note})
                for t in g["tests"].values() if "tests" in g else ():
                    if isinstance(t, h5py.Group) and t.attrs.get("status") == layout.STATUS_RECORDING:
                        _set_attrs(t, {"status": layout.STATUS_INTERRUPTED})
                _set_attrs(g, {"status": layout.STATUS_INTERRUPTED, "closed_utc": utc_now(), "disk_full": note})
            full.closed_cleanly = True
        except BaseException as exc:  # noqa: BLE001 - keep going: the samples still go to the spill file
            log.error("%s: could not close the session file cleanly on a full disk (%s)", self.path, exc)
        self._trial = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._save_spill()
        if not self._full_reported:
            self._error = DiskFullError(full.message(self.path, self._spilled_rows()))
        log.info("%s", self._error)

    def _spill_candidates(self) -> list[Path]:
        out = [self.spill_dir] if self.spill_dir is not None else []
        try:
            out.append(default_spill_dir())
        except Exception:  # noqa: BLE001 - platformdirs missing: only the named dir
            pass
        return out

    def _save_spill(self) -> None:
        """Write every spilled sample and held-back attribute to ``<spill dir>/<name>.spill.h5``
        (rewritten whole each time, atomically); on failure try the next directory."""
        if self.disk_full is None:
            return
        full = self.disk_full
        errors = []
        for directory in self._spill_candidates():
            target = directory / f"{self.path.stem}.spill.h5"
            tmp = target.with_name(target.name + ".tmp")
            try:
                directory.mkdir(parents=True, exist_ok=True)
                with h5py.File(tmp, "w", libver=layout.LIBVER, locking=False) as f:
                    f.attrs["format"] = "force-station-spill"
                    f.attrs["session_file"] = str(self.path.resolve())
                    f.attrs["reason"] = full.message(self.path, self._spilled_rows())
                    f.attrs["created_utc"] = utc_now()
                    f.attrs["attributes"] = layout.to_json([[g, a] for g, a in self._spill_attrs])
                    for trial, devices in self._spill.items():
                        tg = f.require_group(trial.strip("/") or "no_trial")
                        for device_id, blocks in devices.items():
                            d = tg.require_group(device_id)
                            d.create_dataset("t_host_s", data=_cat([b[0] for b in blocks]))
                            d.create_dataset("raw", data=_cat([b[1] for b in blocks]))
                            d.create_dataset("force_n", data=_cat([b[2] for b in blocks]))
                            if all(b[3] is not None for b in blocks):
                                d.create_dataset("t_device_s", data=_cat([b[3] for b in blocks]))  # type: ignore[misc]
                            d.attrs["rows_already_in_session_file"] = full.kept.get(device_id, 0)
                    f.flush()
                os.replace(tmp, target)
                full.spill_path, full.spill_error = target, None
                self._spill_dirty = False
                return
            except (OSError, RuntimeError, ValueError) as exc:
                try:
                    tmp.unlink(missing_ok=True)
                except OSError:
                    pass
                errors.append(f"{directory}: {' '.join(str(exc).split())[:120]}")
        full.spill_path = None
        full.spill_error = "could not write them to " + "; ".join(errors) if errors else "no spill directory"


def _identity(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _append_rows(ds: h5py.Dataset, start: int, n: int, values: np.ndarray | None) -> None:
    """Grow ``ds`` to ``start + n`` rows and write ``values`` (n rows; None leaves the fill
    value) at ``start``, through h5py's low-level calls: about 25 µs per dataset instead of
    the ~100 µs of ``resize`` + slice assignment, which build their selections in Python
    (and hold the GIL meanwhile, delaying the readers and the live path)."""
    dims = ds.id.shape[1:]
    ds.id.set_extent((start + n, *dims))
    if values is None:
        return
    values = np.ascontiguousarray(values, dtype=ds.dtype)
    if values.shape != (n, *dims):
        raise ValueError(f"{ds.name}: {values.shape} rows do not fit a dataset of {(n, *dims)}")
    file_space = ds.id.get_space()
    file_space.select_hyperslab((start, *(0,) * len(dims)), values.shape)
    ds.id.write(h5py.h5s.create_simple(values.shape), file_space, values)


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _attrs_size(attrs: dict[str, Any]) -> int:
    """A generous estimate of the bytes ``attrs`` take in the file."""
    size = 1024
    for key, value in attrs.items():
        size += 256 + len(key) + (len(layout.to_json(value)) if isinstance(value, dict | list | tuple)
                                 else len(str(value)))
    return 2 * size
