"""Checks of command-line input, shared by every command: numbers, pseudonymous ids and
output paths. Each failure is a one-line :class:`~station.errors.OptionError` naming the
option (or file) and what is wrong, raised before any device is opened or file created.

Output paths are checked the honest way: by creating (and at once removing) a probe file
in the directory that would receive the output, since permission bits say nothing about
a read-only mount, an immutable folder or running as root.
"""
from __future__ import annotations

import argparse
import errno
import math
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from station.errors import OptionError

#: Pseudonymous patient ids: they become part of file names, so only a safe charset
#: (no path separators, no "..", no leading dot or dash, no spaces or control characters).
PATIENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # use fullmatch: "$" lets a trailing "\n" in
PATIENT_ID_RULE = "expected a pseudonym of 1-64 letters, digits, '.', '_' or '-' (it becomes part of the file name)"


def number(value: Any, option: str, *, unit: str = "", gt: float | None = None, ge: float | None = None,
           lt: float | None = None, le: float | None = None, integer: bool = False) -> float:
    """``value`` (text or number) as a finite number within the bounds; else a one-line
    :class:`OptionError` naming ``option``. ``integer``: also a whole number (returned as int)."""
    bounds = [f"> {gt:g}" if gt is not None else "", f">= {ge:g}" if ge is not None else "",
              f"< {lt:g}" if lt is not None else "", f"<= {le:g}" if le is not None else ""]
    what = "an integer" if integer else "a number"
    expected = " ".join(filter(None, [f"expected {what}", f"of {unit}" if unit else "",
                                      " and ".join(b for b in bounds if b)]))
    shown = repr(value) if isinstance(value, str) and not _looks_numeric(value) else str(value)
    if isinstance(value, bool):
        raise OptionError(f"{option} {shown}: {expected}")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise OptionError(f"{option} {shown}: {expected}") from None
    if (not math.isfinite(x) or (gt is not None and not x > gt) or (ge is not None and not x >= ge)
            or (lt is not None and not x < lt) or (le is not None and not x <= le)
            or (integer and x != int(x))):
        raise OptionError(f"{option} {_short(shown)}: {expected}")
    return int(x) if integer else x


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def patient_id(text: str, option: str = "--patient") -> str:
    """A pseudonymous patient id that is safe as part of a file name."""
    if not isinstance(text, str) or not PATIENT_ID_RE.fullmatch(text):
        raise OptionError(f"{option} {_short(repr(text))}: {PATIENT_ID_RULE}")
    return text


# -- output paths ----------------------------------------------------------------------------
def _why(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "not writable (permission denied)"
    if exc.errno == errno.EROFS:
        return "not writable (read-only file system)"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return f"not writable ({exc.strerror or exc})"


def writable_folder(directory: Path, what: str) -> None:
    """Create and remove a file in ``directory``; OptionError naming ``what`` if that fails."""
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".station-probe-")
    except OSError as exc:
        raise OptionError(f"{what}: {_why(exc)}") from None
    os.close(fd)
    try:
        os.unlink(name)
    except OSError:
        pass


def not_a_broken_link(path: Path | str, option: str, shown: Path | str | None = None) -> None:
    """An OptionError when ``path`` is a symbolic link to nothing (a missing target, or a loop):
    writing through it would create a file somewhere else, or fail half-way."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        where = "" if shown is None or Path(shown) == path else f" ({path} is one)"
        raise OptionError(f"{option} {shown if shown is not None else path}: a broken symbolic link{where} "
                        f"to {target}, which does not exist or loops (remove the link or choose another name)")


def _existing_ancestor(path: Path, option: str, shown: Path) -> Path:
    """The nearest existing ancestor of ``path``; an OptionError if some part of it is a file
    or a broken symbolic link."""
    for parent in [path, *path.parents]:
        not_a_broken_link(parent, option, shown)
        if parent.exists():
            if not parent.is_dir():
                where = "" if parent == shown else f" ({parent} is a file)"
                raise OptionError(f"{option} {shown}: not a directory{where}")
            return parent
    return Path.cwd()


def output_dir(path: Path | str, option: str = "--out") -> Path:
    """A directory the command may write into (it need not exist yet: it will be created).

    Refuses a path that is (or lies under) a file, and a directory — or, when missing, its
    nearest existing parent — where no file can be created.
    """
    path = Path(path)
    ancestor = _existing_ancestor(path, option, path)
    writable_folder(ancestor, f"{option} {path}" if ancestor == path else f"{option} {path}: {ancestor}")
    return path


def output_file(path: Path | str, option: str = "--out", *, force: bool = False,
                force_option: str | None = "--force") -> Path:
    """A file the command may create (or, with ``force``, replace).

    Refuses an existing file without ``force`` (naming ``force_option``, None for a
    command that never overwrites), a directory, a path under a file, and a folder where
    no file can be created.
    """
    path = Path(path)
    not_a_broken_link(path, option)
    if path.is_dir():
        raise OptionError(f"{option} {path}: is a directory, expected a file name")
    if path.exists() and not force:
        hint = f"choose another name or pass {force_option}" if force_option else "choose another name"
        raise OptionError(f"{option} {path}: file exists; not overwritten ({hint})")
    parent = path.parent
    ancestor = _existing_ancestor(parent, option, path)
    writable_folder(ancestor, f"{option} {path}: {ancestor}")
    if path.exists():
        try:
            with open(path, "r+b"):
                pass
        except OSError as exc:
            raise OptionError(f"{option} {path}: {_why(exc)}") from None
    return path


def writable_folder_of(path: Path | str) -> None:
    """The folder holding ``path`` accepts new files (e.g. recovery writes a copy beside it)."""
    folder = Path(path).parent
    writable_folder(folder, f"{path}: its folder {folder}")


# -- every float option ----------------------------------------------------------------------
def non_finite_options(args: argparse.Namespace) -> None:
    """A one-line OptionError for any float option given as nan or ±inf.

    argparse's ``type=float`` accepts ``nan`` and ``inf``; no option of the station means
    either. Checked once for every command, after parsing (option ``--x-y`` has dest ``x_y``).
    """
    for dest, value in vars(args).items():
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, float) and not math.isfinite(v):
                raise OptionError(f"--{dest.replace('_', '-')} {v}: expected a finite number")
