"""OpenFace 2.0 output read as it is: a folder of ``FeatureExtraction`` CSVs as the ``fau`` set.

A feature set whose config entry says ``format: openface`` (``feature_sets.fau.format``, or
``--formats fau=openface`` / ``--format openface`` on the command line) points at a folder holding
one OpenFace CSV per recording, named as the labels are (``<Partition>_<Culture>_<NN>.csv``: run
OpenFace on ``Train_DE_01.mp4`` and it writes ``Train_DE_01.csv``). OpenFace writes a header line
and separates cells by a comma and a space::

    frame, face_id, timestamp, confidence, success, gaze_0_x, ..., AU01_r, AU02_r, ..., AU45_c

:func:`read_openface` keeps what the AVEC 2019 FAU layout holds, in its order
(:data:`FAU_COLUMNS`: ``confidence`` and the 17 AU intensities); every other column is ignored.
The time is the ``timestamp`` column (seconds, from the video's frame times). Rows with
``success == 0`` (OpenFace found no face) are **masked**: they count for the file's time coverage
(a faceless second is not a gap in the file), but the values they hold are never used; the
alignment averages, in each label frame's window, only the frames with a face, and a label frame
whose window holds none takes the nearest frame with a face (``alignment.read_aligned``).

Every problem is one :class:`~emofusion.errors.DataError` naming the file and the line (1-based,
the header is line 1) and the column: a missing column, a ragged row or blank line, a cell that is
not a number (or not finite on a row with a face), ``success`` other than 0/1, several faces per
frame (``face_id`` changing: the multi-face tool's output), timestamps not increasing, no row with
a face at all.
"""

from __future__ import annotations

import io as _io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, excerpt, path_problem
from .layout import FLOAT32_MAX, NUMBER, read_text

#: the per-set ``format`` values: ``avec`` (the AVEC layout, the default) and ``openface``
FORMATS = ("avec", "openface")
#: the sets each non-default format may fill (OpenFace output gives the AVEC FAU layout only)
FORMAT_SETS = {"openface": ("fau",)}
#: the AVEC 2019 FAU layout: OpenFace's confidence and its 17 action-unit intensities, in this order
FAU_COLUMNS = ("confidence", "AU01_r", "AU02_r", "AU04_r", "AU05_r", "AU06_r", "AU07_r", "AU09_r", "AU10_r",
               "AU12_r", "AU14_r", "AU15_r", "AU17_r", "AU20_r", "AU23_r", "AU25_r", "AU26_r", "AU45_r")
#: a recording with a larger share of faceless frames (success == 0) gets a warning naming it
FACELESS_WARN = 0.2


@dataclass(frozen=True)
class OpenFaceTable:
    """One OpenFace CSV: every row's time and mask, and the FAU values (NaN allowed where masked)."""

    path: Path
    times: np.ndarray  # (n,) float64, seconds, strictly increasing
    values: np.ndarray  # (n, 18) float64 in FAU_COLUMNS order
    valid: np.ndarray  # (n,) bool: success == 1

    @property
    def faceless_share(self) -> float:
        return float(1.0 - self.valid.mean())


def check_format(key: str, fmt: str, where: str = "format") -> str:
    """``fmt`` if set ``key`` may be read in that format, else a ConfigError naming ``where``."""
    from ..errors import ConfigError

    if fmt not in FORMATS:
        raise ConfigError(f"{where}: {fmt!r} is not a feature file format (expected one of {', '.join(FORMATS)})")
    allowed = FORMAT_SETS.get(fmt)
    if allowed is not None and key not in allowed:
        raise ConfigError(f"{where}: format {fmt!r} fills the {'/'.join(allowed)} set only (OpenFace output holds "
                          f"the AVEC FAU layout), not {key!r}")
    return fmt


def looks_like_openface(path: str | Path) -> bool:
    """Whether a file's first line is an OpenFace header (for a hint when it is read as the AVEC layout)."""
    try:
        with open(path, "rb") as f:
            first = f.read(65536).split(b"\n", 1)[0].decode("utf-8", "replace")
    except OSError:
        return False
    head = {c.strip() for c in first.split(",")}
    return {"frame", "timestamp", "success"} <= head


def read_openface(path: str | Path) -> OpenFaceTable:
    """Parse and check one OpenFace 2.0 CSV (module docstring)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(path, path_problem(path) or "file not found")
    text = read_text(path).rstrip()
    if text == "":
        raise DataError(path, "empty file")
    lines = text.split("\n")
    header = [c.strip() for c in lines[0].rstrip("\r").split(",")]
    if header and header[0].strip("'\"") == "name":
        raise DataError(path, "an AVEC feature file (its first column is 'name'), not OpenFace output: drop "
                              "'format: openface' for this set, or point it at OpenFace's CSVs", line=1)
    need = ("timestamp", "success", *FAU_COLUMNS)
    missing = [c for c in need if c not in header]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise DataError(path, f"not OpenFace 2.0 output: no column {', '.join(map(repr, missing[:3]))}{more} in "
                              f"the header {excerpt(', '.join(header), 80)} (expected frame, face_id, timestamp, "
                              "confidence, success, ..., AU01_r ... AU45_r)", line=1)
    for c in (*need, "face_id"):
        if header.count(c) > 1:
            raise DataError(path, f"two {c!r} columns in the header: which one is meant? Keep one", line=1)
    if len(lines) == 1:
        raise DataError(path, "no data rows (header only)")
    ncomma = lines[0].count(",")
    for i, ln in enumerate(lines[1:], start=2):
        if ln.strip() == "":
            raise DataError(path, "blank line inside the table (remove it)", line=i)
        if ln.count(",") != ncomma:
            raise DataError(path, f"ragged row: {ln.count(',') + 1} fields, expected {ncomma + 1} as in the header",
                            line=i)
    cols = [*need, *(["face_id"] if "face_id" in header else [])]
    idx = [header.index(c) for c in cols]
    df = pd.read_csv(_io.StringIO(text), sep=",", header=None, skiprows=1, usecols=idx, dtype=str,
                     skipinitialspace=True, keep_default_na=False, engine="c")
    df.columns = [header[j] for j in df.columns]
    n = df.shape[0]
    arr = {}
    for c in cols:
        s = df[c].str.strip()
        ok = s.str.fullmatch(NUMBER.pattern, flags=NUMBER.flags).to_numpy(dtype=bool)
        if not ok.all():
            r = int(np.flatnonzero(~ok)[0])
            cell = s.iloc[r]
            what = "empty cell" if cell == "" else f"non-numeric cell {excerpt(cell)}"
            raise DataError(path, what, line=r + 2, column=c)
        arr[c] = s.astype(np.float64).to_numpy()
    success = arr["success"]
    bad = np.flatnonzero((success != 0) & (success != 1))
    if bad.size:
        r = int(bad[0])
        raise DataError(path, f"success = {df['success'].iloc[r].strip()}: expected 0 or 1", line=r + 2,
                        column="success")
    valid = success == 1
    t = arr["timestamp"]
    if not np.isfinite(t).all():
        r = int(np.flatnonzero(~np.isfinite(t))[0])
        raise DataError(path, f"non-finite timestamp {excerpt(df['timestamp'].iloc[r].strip())}", line=r + 2,
                        column="timestamp")
    if "face_id" in arr:
        other = np.flatnonzero(arr["face_id"] != arr["face_id"][0])
        if other.size:
            r = int(other[0])
            raise DataError(path, f"face_id changes from {arr['face_id'][0]:g} to {arr['face_id'][r]:g}: several "
                                  "faces per frame (multi-face output?); keep the rows of one face", line=r + 2,
                            column="face_id")
    d = np.diff(t)
    bad = np.flatnonzero(d <= 0)
    if bad.size:
        r = int(bad[0]) + 1
        raise DataError(path, f"timestamp not increasing ({t[r - 1]:.6f} then {t[r]:.6f})", line=r + 2,
                        column="timestamp")
    if not valid.any():
        raise DataError(path, f"no face in the whole recording: success == 0 on all {n} rows", line=2,
                        column="success")
    X = np.column_stack([arr[c] for c in FAU_COLUMNS])
    for j, c in enumerate(FAU_COLUMNS):
        x = X[valid, j]
        bad = ~np.isfinite(x) | (np.abs(x) > FLOAT32_MAX)
        if bad.any():
            r = int(np.flatnonzero(valid)[np.flatnonzero(bad)[0]])
            v = X[r, j]
            why = "non-finite value" if not math.isfinite(v) else f"value {v:g} beyond float32's range"
            raise DataError(path, f"{why} on a row with a face (success == 1)", line=r + 2, column=c)
    return OpenFaceTable(path=path, times=t, values=X, valid=valid)
