"""``station acquire``: headless raw recording of one or more devices into HDF5."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from drivers.base import DeviceError
from drivers.registry import open_device
from station import validate
from station.calibration_link import calibration_for
from station.errors import UserError
from station.pipeline import BoundDevice
from station.acquisition import ReaderEvent
from station.recording import DeviceCount, record_raw
from station.signals import sigterm_as_interrupt
from station.storage import layout
from station.storage.session_file import SessionFile
from station.storage.writer import DiskFullError, SessionWriter

TEST = layout.test_key(1, "acquire")
TRIAL = layout.trial_key(1)
#: the longest recording ``--seconds`` accepts (one day)
MAX_SECONDS = 86_400.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "acquire", help="record raw samples from one or more devices into HDF5",
        description="Records every sample of the given devices, at once, for S seconds (Ctrl-C ends early and "
                    "keeps every sample). The file uses the session layout: one test 'acquire' with one "
                    "trial holding a group per device. Devices that report newtons also get force_n; raw-count "
                    "devices get force_n from their stored calibration, or NaN without one.")
    p.add_argument("--device", action="append", required=True, metavar="URI",
                   help="device URI, repeatable (e.g. sim:sfp?channels=8&rate=2000, mark10:/dev/ttyUSB0)")
    p.add_argument("--seconds", type=float, required=True, metavar="S", help="how long to record")
    p.add_argument("--out", type=Path, required=True, metavar="FILE.h5", help="output file (must not exist)")
    p.add_argument("--json", action="store_true", help="print one JSON object per device at the end")
    p.add_argument("--spill-dir", type=Path, metavar="DIR",
                   help="where samples that do not fit go if the disk of --out fills up (default: the user data "
                        "folder, ~/.local/share/force-station/spill on Linux)")
    p.set_defaults(func=run)


def _calibration(info: Any, uri: str) -> tuple[Any, dict[str, Any]]:
    """The device's calibration; a raw recording never refuses: unusable channels are
    recorded as overrides (and read NaN when there is no record at all)."""
    cal = calibration_for(info, uri=uri, allow_uncalibrated=True)
    return cal.calibrate, cal.snapshot


def run(args: argparse.Namespace) -> int:
    validate.number(args.seconds, "--seconds", unit="seconds", gt=0, le=MAX_SECONDS)
    validate.output_file(args.out, force_option=None)  # exists, a directory, under a file, read-only folder: before any device
    if getattr(args, "spill_dir", None) is not None:
        validate.output_dir(args.spill_dir, "--spill-dir")
    devices: dict[str, BoundDevice] = {}
    try:
        for i, uri in enumerate(args.device, start=1):
            try:
                driver, sim = open_device(uri)
                info = driver.open()
            except DeviceError as exc:
                raise UserError(str(exc)) from None
            calibrate, snapshot = _calibration(info, uri)
            device_id = f"device{i}_{info.family}"
            devices[device_id] = BoundDevice(device_id, uri, driver, info, calibrate, snapshot, sim)
        return _record(args, devices)
    finally:
        for d in devices.values():
            d.close()


def _record(args: argparse.Namespace, devices: dict[str, BoundDevice]) -> int:
    writer = SessionWriter(args.out, spill_dir=getattr(args, "spill_dir", None),
                           on_warning=lambda text: print(text, file=sys.stderr, flush=True))
    writer.create({"session_id": f"acquire-{time.strftime('%Y%m%d-%H%M%S')}"},
                  {"kind": "acquisition", "command": "station acquire", "seconds": args.seconds})
    file = SessionFile(writer)
    file.write_devices(devices)
    file.update_test(TEST, protocol_id="acquire", name="Raw acquisition", kind="raw", status=layout.STATUS_RECORDING)
    # the session's acquisition path: reader threads, pipeline, writer tap (station.recording)
    with sigterm_as_interrupt():
        recording = record_raw(devices, writer, test=TEST, trial=TRIAL, seconds=args.seconds,
                               attrs={"side": "none", "rep": 1}, should_stop=lambda: writer.disk_full is not None,
                               on_event=_Shout(devices))
    ended_s = time.monotonic()
    status = recording.status
    for k, c in recording.counts.items():
        if c.still_disconnected:  # waited to the end: one line, where the samples are
            print(f"station acquire: warning: {k} ({devices[k].uri}) was unplugged and did not come back before the "
                  f"end; its {c.samples} samples until then are kept in {args.out} (status interrupted)",
                  file=sys.stderr, flush=True)
    if recording.failure is not None and writer.disk_full is None:
        print(f"station: warning: {recording.failure}", file=sys.stderr, flush=True)
    if writer.disk_full is not None:
        status = layout.STATUS_INTERRUPTED
    reports = [_report(k, devices[k], c, args.out, ended_s) for k, c in recording.counts.items()]
    if status == layout.STATUS_COMPLETE and any(rep["status"] == "interrupted" for rep in reports):
        status = layout.STATUS_INTERRUPTED
    disk_full: DiskFullError | None = None
    try:
        writer.end_trial({"status": status, "devices": reports})
        writer.set_attrs(f"tests/{TEST}", {"status": status})
        writer.sync()
    except DiskFullError as exc:
        disk_full = exc
    writer.close({"status": status})
    _add_written(reports, writer)
    if disk_full is not None:  # the message of the last look: where the spilled samples went
        disk_full = DiskFullError(writer.disk_full.message(args.out, writer.totals().spilled)) \
            if writer.disk_full is not None else disk_full
        for rep in reports:
            rep["status"], rep["reason"] = "interrupted", "disk full"
    for rep in reports:
        if args.json:
            print(json.dumps(rep, sort_keys=True))
        else:
            rate = rep["rate_hz"]
            print(f"{rep['device']}: {rep['samples']} samples × {rep['channels']} ch"
                  f" at {rate:.1f} Hz" if rate else f"{rep['device']}: {rep['samples']} samples", end="")
            print(f"  crc_errors={rep['crc_errors']} resyncs={rep['resyncs']} gaps={rep['gaps']} "
                  f"lost_samples={rep['lost_samples']}  written={rep['written']} not_written={rep['not_written']}"
                  f"  {rep['status']}" + (f" ({rep['reason']})" if rep.get("reason") else ""))
    if not args.json:
        print(f"file: {args.out}")
    if disk_full is not None:
        raise disk_full
    return 130 if status == layout.STATUS_ABORTED else 0


def _add_written(reports: list[dict[str, Any]], writer: SessionWriter) -> None:
    """What reached the file: ``samples`` is what was acquired, ``written`` what is in the
    file, ``not_written`` the difference (dropped by a writer that fell behind, or saved to
    the spill folder on a full disk)."""
    for rep in reports:
        c = writer.counts.get(rep["id"])
        written = c.written if c is not None else 0
        rep["acquired"] = rep["samples"]
        rep["written"] = written
        rep["not_written"] = rep["samples"] - written
        rep["spilled"] = c.spilled if c is not None else 0


class _Shout:
    """Device events as they happen, one line each on stderr: an unplug pauses the
    recording of that device (what it sent is kept) until its reader reconnects it."""

    def __init__(self, devices: dict[str, BoundDevice]) -> None:
        self.devices = devices
        self.gone: dict[str, float] = {}

    def __call__(self, event: ReaderEvent) -> None:
        d = self.devices.get(event.device_id)
        name = f"{event.device_id} ({d.uri if d is not None else '?'})"
        if event.kind == "disconnected":
            self.gone.setdefault(event.device_id, event.t_host_s)
            text = (f"{name} disconnected: its samples so far are kept; waiting for it to come back "
                    "(recording goes on then; Ctrl-C ends the recording and keeps every sample)")
        elif event.kind == "reconnected":
            t0 = self.gone.pop(event.device_id, None)
            text = f"{name} back" + (f" after {event.t_host_s - t0:.1f} s" if t0 is not None else "") + \
                "; recording goes on (the gap is noted in the file)"
        elif event.kind in ("died", "error"):
            text = f"{name}: {event.message}"
        else:
            return
        print(f"station acquire: {text}", file=sys.stderr, flush=True)


def _report(device_id: str, device: BoundDevice, r: DeviceCount, out: Path, ended_s: float) -> dict[str, Any]:
    stats = device.driver.stats
    outages = r.outages(end_s=ended_s)
    gone = r.still_disconnected
    rate = r.measured_rate_hz()
    return {
        "device": device.uri, "id": device_id, "family": device.info.family, "serial": device.info.serial,
        "samples": r.samples, "channels": device.info.channels,
        "rate_hz": None if rate is None else round(rate, 3),
        "nominal_rate_hz": device.info.rate_hz, "time_source": device.info.time_source,
        "crc_errors": stats.crc_errors, "resyncs": stats.resyncs, "gaps": stats.gaps,
        "lost_samples": stats.lost_samples, "garbage_bytes": stats.garbage_bytes, "reconnects": stats.reconnects,
        # unplugged and back: complete, the outages named; still unplugged at the end: interrupted
        "status": "interrupted" if gone else "complete",
        "reason": (r.disconnects[-1].message if gone
                   else f"disconnected {len(outages)} time(s), reconnected; {sum(b - a for a, b in outages if b):.1f} s "
                        "without samples (outages_host_s)" if outages else None),
        "outages_host_s": [[round(a, 4), None if b is None else round(b, 4)] for a, b in outages],
        "file": str(out),
    }
