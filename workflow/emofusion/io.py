"""Atomic, durable file writes: a killed job never leaves a half file that looks whole, and a
written output survives a power loss.

Every output goes to a temp file (or folder) beside its final path; the data is fsync'ed, then
renamed over the final path, then the parent folder is fsync'ed (so the rename itself is on disk).
Temp files and folders left behind by a killed job (``.<name>.*.tmp``, ``.<name>.*`` folders) are
removed the next time the same output is written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import DataError, os_error


def fsync_dir(folder: str | Path) -> None:
    """fsync a folder, so renames and new entries in it are durable (a no-op where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale(path: Path, *, folders: bool) -> None:
    """Remove the temp files (or temp folders) an earlier, killed write of ``path`` left behind."""
    prefix = f".{path.name}."
    for p in path.parent.glob(f"{glob_escape(prefix)}*"):
        if folders and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        elif not folders and p.name.endswith(".tmp") and p.is_file():
            p.unlink(missing_ok=True)


def glob_escape(s: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in s)


def fsync_file(path: str | Path) -> None:
    """fsync a written file's data (through a fresh descriptor: the writer may have closed its own)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """THE atomic, durable write (every other helper here builds on it): yields the path of a temp
    file beside ``path`` for any writer that takes a file name (a figure, a checkpoint); on success
    the data is fsync'ed, renamed over ``path`` and the folder fsync'ed; on failure the temp file is
    removed and ``path`` is untouched."""
    path = Path(path)
    if path.is_dir():
        raise _write_error(IsADirectoryError(errno.EISDIR, "Is a directory", str(path)), path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(path, folders=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(exc, path) from None
    try:
        yield Path(tmp)
        fsync_file(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are for reading
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:  # a full disk, a read-only mount ...: one line naming the output, no temp left
        Path(tmp).unlink(missing_ok=True)
        raise _write_error(exc, path, Path(tmp)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_error(exc: OSError, path: Path, tmp: Path | None = None) -> BaseException:
    """A failed write of ``path`` as one DataError naming it (emofusion.errors.os_error), or ``exc``
    itself when it is no file-system condition. With ``tmp`` (the temp file or folder), an error about
    another file (an input read while writing) names that file as a read error."""
    fn = None if exc.filename is None else str(exc.filename)
    if tmp is not None and fn is not None and fn != str(path) and not fn.startswith(str(tmp)):
        return os_error(exc) or exc
    return os_error(exc, path, writing=True) or exc


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs):
    """``open()`` for writing ``path`` atomically and durably (:func:`atomic_path`): yields the temp
    file's handle."""
    if "w" not in mode:
        raise ValueError(f"atomic_open writes: mode {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w", newline="") as fh:
        fh.write(text)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_savez(path: str | Path, arrays: Mapping[str, Any]) -> None:
    """``np.savez`` (no pickle) of ``arrays`` to ``path``, atomically and durably."""
    import numpy as np

    with atomic_open(path, "wb") as fh:
        np.savez(fh, **arrays)


def atomic_dir(final: str | Path):
    """Context manager: yields a temp folder beside ``final``; on success it replaces ``final``.

    Use it for outputs that are folders (a predictions folder): either the whole folder is
    there, or the old one (or none) is. Every file in it is fsync'ed before the rename.
    """
    return _AtomicDir(Path(final))


class _AtomicDir:
    def __init__(self, final: Path):
        self.final = final

    def __enter__(self) -> Path:
        if self.final.exists() and not self.final.is_dir():
            raise DataError(self.final, "a file, not a folder: the output path must name a folder (nothing written)")
        try:
            self.final.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale(self.final, folders=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.final.name}.", dir=self.final.parent))
        except OSError as exc:
            raise _write_error(exc, self.final) from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            if isinstance(exc, OSError):
                err = _write_error(exc, self.final, self.tmp)
                if err is not exc:
                    raise err from None
            return
        try:
            self._commit()
        except OSError as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise _write_error(exc, self.final) from None

    def _commit(self) -> None:
        os.chmod(self.tmp, 0o755)  # mkdtemp makes 0700
        for dirpath, _, files in os.walk(self.tmp):
            for f in files:
                fsync_file(os.path.join(dirpath, f))
            fsync_dir(dirpath)
        if self.final.exists():
            old = self.final.with_name(f".{self.final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.final, old)
            os.replace(self.tmp, self.final)
            fsync_dir(self.final.parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.final)
            fsync_dir(self.final.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Binary twin of :func:`atomic_write_text`."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
