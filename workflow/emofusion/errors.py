"""One error type for bad input: it names the file (and line or column, or config key)."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data. ``str(err)`` reads ``<file>:<line>: <message>`` (line/column when known)."""

    def __init__(self, path: str | Path | None, message: str, line: int | None = None,
                 column: str | int | None = None):
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
