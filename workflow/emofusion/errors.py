"""One error type for bad input: it names the file (and line or column, or config key); and the
words for a file-system condition (permission, full disk, a folder where a file belongs ...) as one."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

#: the most characters of a cell (or other input text) an error message quotes
EXCERPT = 40
#: the longest message a DataError keeps (a last guard: readers quote cells through excerpt())
MAX_MESSAGE = 1000


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """``repr`` of ``text``, or of its first ``limit`` characters with its length when longer: what an
    error line may quote of a cell, so a 10 MB cell never reaches the console or a job log."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


class DataError(ValueError):
    """Bad input data. ``str(err)`` reads ``<file>:<line>: <message>`` (line/column when known)."""

    def __init__(self, path: str | Path | None, message: str, line: int | None = None,
                 column: str | int | None = None):
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE]}... (message cut at {MAX_MESSAGE} of {len(message)} characters)"
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.message = message
        where = self.path or "<input>"
        if line is not None:
            where += f":{line}"
        if column is not None:
            where += f" (column {column})"
        super().__init__(f"{where}: {message}")


class ConfigError(ValueError):
    """Bad configuration; the message names the key."""


# File-system failures, each as one line naming the file (exit 2 through the CLI and the workflow's
# jobs, like any DataError); by errno, so a PermissionError, a full disk, a read-only mount read the same
# everywhere. An OSError whose errno is not listed (a socket error ...) is left as it is.
_READ_REASONS = {
    errno.EACCES: "permission denied: this process may not read it (check its mode and owner)",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.ELOOP: "symlink loop (the link points back at itself)",
    errno.ENOENT: "not found",
    errno.ENAMETOOLONG: "name too long",
    errno.EIO: "input/output error while reading (a damaged disk or a network file system?)",
}
_WRITE_REASONS = {
    **_READ_REASONS,
    errno.EACCES: "permission denied: this process may not write here (check the folder's mode and owner)",
    errno.EROFS: "read-only file system: nothing written (choose a writable folder)",
    errno.ENOSPC: "no space left on the device: nothing written (free some space, then run again)",
    errno.EDQUOT: "disk quota exceeded: nothing written (free some space, then run again)",
    errno.EFBIG: "file too large for this file system: nothing written",
    errno.EISDIR: "is a folder: the output path must name a file (nothing written)",
    errno.EIO: "input/output error while writing: nothing written (a damaged disk or a network file system?)",
}


def os_error(exc: OSError, path: str | Path | None = None, *, writing: bool = False) -> DataError | None:
    """``exc`` as one DataError naming the file (``path`` when given, else the file the OSError
    names), or None when its errno is not a file-system condition we know."""
    reasons = _WRITE_REASONS if writing else {**_WRITE_REASONS, **_READ_REASONS}  # a full disk is one too
    if exc.errno not in reasons:
        return None
    where = path if path is not None else (exc.filename if exc.filename is not None else None)
    return DataError(where, reasons[exc.errno])


def path_problem(path: str | Path, *, folder: bool = False) -> str | None:
    """Why ``path`` is not an existing regular file (``folder``: folder), in words; None when it is one.
    Tells a folder from a file, a symlink loop and a broken link from a missing name."""
    p = Path(path)
    if (p.is_dir() if folder else p.is_file()):
        return None
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop (the link points back at itself)"
        if p.is_symlink():
            return f"broken symlink (to {os.readlink(p)}, which does not exist)"
        return "not found"
    if stat.S_ISDIR(st.st_mode):
        return "a folder, not a file"
    if stat.S_ISREG(st.st_mode):
        return "a file, not a folder"
    return "not a regular file (a device, pipe or socket)"
