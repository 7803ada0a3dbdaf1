"""Read and write the AVEC 2019 CES on-disk layout (docs/data.md, docs/contracts.md).

Layout::

    <root>/labels/<Partition>_<Culture>_<NN>.csv        Partition in Train|Devel|Test
    <root>/<feature_folder>/<same file names>.csv      Culture in DE|HU|CN, NN = 01, 02, ...

Label files: ``name;timestamp;arousal;valence;liking``, names in single quotes, 6 decimals.
Feature files: column 0 name, column 1 time, features from column 2; a header is present iff the
first line starts with ``name``; the separator is ``,`` if the first line holds a comma, else ``;``.

Every reader fails with one :class:`~emofusion.errors.DataError` that names the file and the line
(1-based, as an editor shows it) or column and what was expected.
"""

from __future__ import annotations

import io as _io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import TARGETS
from ..errors import DataError, excerpt, os_error, path_problem
from ..io import atomic_dir, atomic_write_text

PARTITIONS = ("Train", "Devel", "Test")
CULTURES = ("DE", "HU", "CN")
NAME_RE = re.compile(r"^(Train|Devel|Test)_(DE|HU|CN)_(\d{2})$")
FRAME_S = 0.1  # label frame step, seconds


@dataclass(frozen=True)
class Table:
    """One parsed AVEC csv: the name column, the time column and the numeric columns."""

    path: Path
    header: list[str] | None
    names: np.ndarray  # (n,) str
    times: np.ndarray  # (n,) float64
    values: np.ndarray  # (n, d) float64


def parse_name(name: str, path: str | Path | None = None) -> tuple[str, str, int]:
    """``'Devel_DE_01'`` -> ``("Devel", "DE", 1)``; anything else is a DataError."""
    m = NAME_RE.match(name.strip().strip("'\""))
    if not m:
        raise DataError(path, f"unparsable recording name {name!r}: expected <Train|Devel|Test>_<DE|HU|CN>_<NN>")
    return m.group(1), m.group(2), int(m.group(3))


def _sniff(first_line: str) -> tuple[str, bool]:
    sep = "," if "," in first_line else ";"
    has_header = first_line.lstrip().lstrip("'\"").startswith("name")
    return sep, has_header


def _strip_quotes(s: str) -> str:
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s


#: a number as the fast parser reads one: ASCII digits, optional sign, point and exponent; nan/inf
#: (rejected later as non-finite)
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.I | re.A)


def _scan_for_error(path: Path, lines: list[str], sep: str, has_header: bool, min_cols: int) -> DataError:
    """Slow, exact pass over a file the fast parser refused: find the first bad line."""
    ncols = None
    start = 1 if has_header else 0
    if has_header:
        ncols = len(lines[0].rstrip("\r\n").split(sep))
    for i in range(start, len(lines)):
        raw = lines[i].rstrip("\r\n")
        if raw.strip() == "":
            if any(ln.strip() for ln in lines[i + 1:]):
                return DataError(path, "blank line inside the table (remove it)", line=i + 1)
            continue
        other = ";" if sep == "," else ","
        cells = raw.split(sep)
        if len(cells) == 1 and other in raw:
            return DataError(path, f"separator {other!r} on this line, but the file uses {sep!r} (from its first line)", line=i + 1)
        if ncols is None:
            ncols = len(cells)
        if len(cells) != ncols:
            return DataError(path, f"ragged row: {len(cells)} fields, expected {ncols}", line=i + 1)
        if len(cells) < min_cols:
            return DataError(path, f"{len(cells)} fields, expected at least {min_cols} (name, time, values)", line=i + 1)
        for j, cell in enumerate(cells[1:], start=1):
            c = cell.strip()
            if NUMBER.fullmatch(c) is None:  # float() would also take '1_5' and non-ASCII digits
                if other in c:
                    return DataError(path, f"cell {excerpt(c)} mixes separators: file uses {sep!r}", line=i + 1,
                                     column=j + 1)
                return DataError(path, f"non-numeric cell {excerpt(c)}", line=i + 1, column=j + 1)
            if not math.isfinite(float(c)):
                return DataError(path, f"non-finite value {excerpt(c)} (NaN/inf are not allowed)", line=i + 1,
                                 column=j + 1)
    return DataError(path, "could not be parsed as an AVEC csv table")


FLOAT32_MAX = float(np.finfo(np.float32).max)
BOM = b"\xef\xbb\xbf"


def folder_problem(folder: str | Path, what: str = "folder") -> str:
    """Why ``folder`` is not a folder, for a DataError: '<what> not found', or what it is instead (a
    file, a symlink loop, a broken link)."""
    problem = path_problem(folder, folder=True)
    return f"{what} not found" if problem in (None, "not found") else f"{what} expected: {problem}"


def read_text(path: str | Path) -> str:
    """A file's text: UTF-8, with or without a byte-order mark (dropped). Any other encoding is a
    DataError naming the file, the byte offset and its line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:  # not readable (permission, a folder, a symlink loop ...): one line naming it
        raise (os_error(exc, path) or exc) from None
    body = data[len(BOM):] if data.startswith(BOM) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        off = exc.start + (len(data) - len(body))
        line = data.count(b"\n", 0, off) + 1
        hint = " (UTF-16?)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise DataError(path, f"not UTF-8{hint}: byte 0x{data[off]:02x} at byte offset {off}; save the file as "
                              "UTF-8", line=line) from None
    nul = data.find(b"\x00")
    if nul >= 0:  # valid UTF-8, but no text file holds one: UTF-16 without a BOM, or a damaged file
        raise DataError(path, f"NUL byte at byte offset {nul} (UTF-16, or a damaged file?); save the file as UTF-8",
                        line=data.count(b"\n", 0, nul) + 1)
    return text


_BLANK = re.compile(r"^[ \t\r\f\v]*\n", re.M)


def _first_blank_line(text: str) -> int | None:
    """1-based number of the first blank line that has data after it (trailing blank lines are fine)."""
    m = _BLANK.search(text)
    if m is None or not text[m.end():].strip():
        return None
    return text.count("\n", 0, m.start()) + 1


def read_table(path: str | Path, min_cols: int = 3) -> Table:
    """Parse one AVEC csv (label, feature or prediction file) with full validation.

    UTF-8 with or without a byte-order mark; a blank line before the last data line is an error
    naming it (so line numbers in every message are the editor's); values must be finite and
    within float32's range (the caches are float32).
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(path, path_problem(path) or "file not found")
    text = read_text(path)
    if text.strip() == "":
        raise DataError(path, "empty file")
    first = text.split("\n", 1)[0]
    sep, has_header = _sniff(first)
    try:
        df = pd.read_csv(_io.StringIO(text), sep=sep, header=0 if has_header else None,
                         quotechar="'", engine="c", skipinitialspace=True, dtype={0: str} if not has_header else None,
                         on_bad_lines="error")
    except Exception:
        raise _scan_for_error(path, text.splitlines(), sep, has_header, min_cols) from None
    # pandas skips blank lines; a row count short of the lines up to the last data line means one
    lines = text.count("\n", 0, len(text.rstrip())) + 1
    if df.shape[0] != lines - int(has_header):
        blank = _first_blank_line(text)
        if blank is not None:
            raise DataError(path, "blank line inside the table (remove it)", line=blank)
    if df.shape[0] == 0:
        raise DataError(path, "no data rows (header only)")
    if df.shape[1] < min_cols:
        raise DataError(path, f"{df.shape[1]} columns, expected at least {min_cols} (name, time, values)",
                        line=2 if has_header else 1)
    num = df.iloc[:, 1:]
    ok = all(pd.api.types.is_numeric_dtype(dt) and not pd.api.types.is_bool_dtype(dt) for dt in num.dtypes)
    vals = num.to_numpy(dtype=np.float64) if ok else None
    if not ok or not np.isfinite(vals).all():
        raise _scan_for_error(path, text.splitlines(), sep, has_header, min_cols)
    if vals.max() > FLOAT32_MAX or vals.min() < -FLOAT32_MAX:
        r, c = (int(v) for v in np.argwhere(np.abs(vals) > FLOAT32_MAX)[0])
        raise DataError(path, f"value {vals[r, c]:g} beyond float32's range (+-{FLOAT32_MAX:.4g})",
                        line=r + 1 + int(has_header), column=c + 2)
    header = None
    if has_header:  # from the line itself: pandas renames a repeated name ('arousal' -> 'arousal.1')
        header = [c.strip().strip("'") for c in first.rstrip("\r").split(sep)]
        if len(header) != df.shape[1]:
            header = [str(c).strip().strip("'") for c in df.columns]
    names = df.iloc[:, 0].fillna("").astype(str).map(_strip_quotes).to_numpy()
    return Table(path=path, header=header, names=names, times=vals[:, 0].copy(), values=vals[:, 1:].copy())


def check_single_name(table: Table, expected: str | None) -> str:
    uniq = np.unique(table.names)
    if len(uniq) != 1:
        i = int(np.argmax(table.names != table.names[0]))
        line = i + 1 + (1 if table.header else 0)
        raise DataError(table.path, f"name column changes from {excerpt(table.names[0])} to {excerpt(table.names[i])}",
                        line=line)
    name = str(uniq[0])
    parse_name(name, table.path)
    if expected is not None and name != expected:
        raise DataError(table.path, f"name column says {excerpt(name)} but the file is {expected}.csv",
                        line=2 if table.header else 1)
    return name


def check_times(table: Table, step: float | None = None, tol: float = 1e-3) -> None:
    t = table.times
    if t.size > 1:
        d = np.diff(t)
        bad = np.flatnonzero(d <= 0)
        if bad.size:
            line = int(bad[0]) + 2 + (1 if table.header else 0)
            raise DataError(table.path, f"time column not increasing ({t[bad[0]]:.6f} then {t[bad[0] + 1]:.6f})",
                            line=line, column=2)
        if step is not None:
            bad = np.flatnonzero(np.abs(d - step) > tol)
            if bad.size:
                line = int(bad[0]) + 2 + (1 if table.header else 0)
                raise DataError(table.path, f"time step {d[bad[0]]:.6f} s, expected {step:.6f} s", line=line, column=2)


def read_label_file(path: str | Path, label_range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read one label (or prediction) file; returns ``(times (n,), values (n, 3) in TARGETS order)``.

    Targets are found by column name; a file without all three is an error naming it. With
    ``label_range = (lo, hi)`` every value must lie within it (an error naming line and column).
    """
    path = Path(path)
    tab = read_table(path, min_cols=3)
    if tab.header is None:
        raise DataError(path, "label file without header: expected name;timestamp;arousal;valence;liking", line=1)
    cols = tab.header[2:]
    idx = []
    for t in TARGETS:
        if t not in cols:
            raise DataError(path, f"no {t!r} column in header {excerpt(';'.join(tab.header), 120)}", line=1)
        where = [k + 3 for k, c in enumerate(cols) if c == t]
        if len(where) > 1:
            raise DataError(path, f"two {t!r} columns (columns {where[0]} and {where[1]}): which one is meant? "
                                  "Keep one", line=1, column=where[1])
        idx.append(cols.index(t))
    check_single_name(tab, path.stem)
    check_times(tab, step=FRAME_S)
    y = tab.values[:, idx]
    if label_range is not None:
        lo, hi = label_range
        bad = np.argwhere((y < lo) | (y > hi))
        if bad.size:
            r, c = (int(v) for v in bad[0])
            raise DataError(path, f"{TARGETS[c]} = {y[r, c]:.6f} outside the label range [{lo:g}, {hi:g}] "
                                  "(data.label_range / --label-range)", line=r + 2, column=TARGETS[c])
    return tab.times, y


def read_feature_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one feature file; returns ``(times (n,), features (n, d))``."""
    path = Path(path)
    tab = read_table(path, min_cols=3)
    check_single_name(tab, path.stem)
    check_times(tab)
    return tab.times, tab.values


def list_recordings(folder: str | Path, partitions: Iterable[str] | None = None,
                    cultures: Iterable[str] | None = None) -> list[str]:
    """Recording names (file stems) in an AVEC folder, sorted, filtered by partition/culture.

    Every ``.csv`` must carry a valid recording name; one that does not is a DataError.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, folder_problem(folder))
    parts = set(partitions) if partitions is not None else None
    cults = set(cultures) if cultures is not None else None
    out = []
    for f in sorted(folder.glob("*.csv")):
        p, c, _ = parse_name(f.stem, f)
        if (parts is None or p in parts) and (cults is None or c in cults):
            out.append(f.stem)
    return out


def read_label_dir(folder: str | Path, partitions: Iterable[str] | None = None,
                   cultures: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """All label files of a folder: ``{name: (frames, 3)}``."""
    names = list_recordings(folder, partitions, cultures)
    if not names:
        parts = "/".join(partitions) if partitions is not None else "any"
        cults = "/".join(cultures) if cultures is not None else "any"
        msg = f"no label files for partition {parts} and culture {cults}"
        sibling = Path(folder).parent / "test_labels"
        if partitions is not None and "Test" in set(partitions) and sibling.is_dir() \
                and sibling.resolve() != Path(folder).resolve():
            msg += f" (the generated corpus keeps its Test labels in {sibling})"
        raise DataError(folder, msg)
    return {n: read_label_file(Path(folder) / f"{n}.csv")[1] for n in names}


def read_prediction_dir(folder: str | Path, lengths: Mapping[str, int] | None = None,
                        names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Read AVEC-format predictions for the recordings in ``lengths``, cropped to those lengths
    (``lengths`` None: the files of ``names``, or every file of the folder, by name, whole).

    Files longer than the labels are accepted (the official ones are padded to 1768 rows);
    a shorter or missing file is a DataError naming it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(folder, "predictions folder not found")
    if lengths is None:
        files = sorted(folder.glob("*.csv")) if names is None else [folder / f"{n}.csv" for n in names]
        return {f.stem: read_label_file(f)[1] for f in files}
    out = {}
    for name, n in lengths.items():
        f = folder / f"{name}.csv"
        if not f.is_file():
            raise DataError(f, "prediction file missing")
        times, vals = read_label_file(f)
        if vals.shape[0] < n:
            raise DataError(f, f"{vals.shape[0]} prediction rows, but the labels have {n} frames")
        out[name] = vals[:n]
    return out


def format_avec_csv(name: str, values: np.ndarray, start_time: float = 0.0) -> str:
    """AVEC label/prediction text: header, quoted name, 0.1 s timestamps, 6 decimals."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 3:
        raise ValueError(f"values for {name} must be (frames, 3), got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"values for {name} hold NaN or inf")
    buf = ["name;timestamp;arousal;valence;liking\n"]
    q = f"'{name}'"
    for i, (aro, val, lik) in enumerate(values):
        buf.append(f"{q};{start_time + i * FRAME_S:.6f};{aro:.6f};{val:.6f};{lik:.6f}\n")
    return "".join(buf)


def write_avec_csv(path: str | Path, name: str, values: np.ndarray) -> None:
    atomic_write_text(path, format_avec_csv(name, values))


def write_prediction_dir(folder: str | Path, preds: Mapping[str, np.ndarray]) -> None:
    """Write one AVEC-format file per recording, the whole folder atomically."""
    with atomic_dir(folder) as tmp:
        for name, vals in sorted(preds.items()):
            (tmp / f"{name}.csv").write_text(format_avec_csv(name, vals))
