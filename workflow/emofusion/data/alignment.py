"""Time alignment: one feature set's files read, checked and placed on the 0.1 s label frames.

Alignment (docs/data.md). Label frame ``i`` sits at ``start + i * 0.1`` s (``start`` is the
first label timestamp, 0.0 on AVEC data). Every set is placed on the label frames by its time
column, never by row count:

* 0.1 s sets (functionals, BoW, DeepSpectrum; ``rate == "frame"``): row ``r`` goes to label frame
  ``round((t_r - start) / 0.1)``. Rows must sit on one 0.1 s grid (a row more than a quarter frame
  off the grid of the file's first row, or two rows on one frame, is an error).
* Sets at another rate (100 Hz LLDs, video-rate FAU/ResNet/VGG; the native rate is read from the
  time column as the median step) are averaged within a window of ``window_s`` seconds centred on
  each label timestamp, half open ``[t - w/2, t + w/2)``: with the default ``w = 0.1`` the windows
  tile the time axis (window = hop), so every native frame is used exactly once. A window without a
  native frame takes the nearest one. Rows marked faceless (an OpenFace CSV's ``success == 0``,
  read with ``format: openface``, :mod:`emofusion.data.openface`) are masked: they count for the
  file's time coverage, but only rows with a face are averaged (never zeros filled in).

Then, in label frames, with ``pad_tolerance`` (:data:`PAD_TOLERANCE` unless configured) as the
limit for each of them: a late start, a gap inside the file, a file ending before its labels, a
file starting before its labels and a file running past its labels' end. Beyond the tolerance any
of them is a :class:`~emofusion.errors.DataError` naming the file, the line and the times. Within
it, a file running a few frames past its labels is cropped silently (feature extractors run to the
end of the audio); every other correction (missing frames filled from the neighbouring row or
native frame, leading rows dropped) is one warning naming the file.

The rate classes (:data:`EXPECTED_STEP`) are defined here; the alignment's data settings' defaults
(:data:`PAD_TOLERANCE`, :data:`MAX_FRAMES`) in the data block's spec, :mod:`emofusion.data_spec`, once;
the sets themselves are in :mod:`emofusion.data.feature_sets`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..data_spec import MAX_FRAMES, PAD_TOLERANCE
from ..errors import ConfigError, DataError
from .feature_sets import FeatureSet
from .layout import FRAME_S, parse_name, read_table

log = logging.getLogger(__name__)
Warn = Callable[[str], None]

#: expected native time step per rate class (None: any rate, read from the time column)
EXPECTED_STEP: dict[str, float | None] = {"frame": FRAME_S, "lld": 0.01, "video": None}
RATE_RTOL = 0.02  # relative tolerance on the median time step against EXPECTED_STEP
VIDEO_STEP_RANGE = (0.001, 1.0)  # seconds: a video-rate set's median step (1-1000 fps), else the times are not seconds
GRID_TOL = 0.25  # a 0.1 s set's row may sit this many frames off its file's 0.1 s grid
_EPS = 1e-9  # seconds; puts a native frame sitting on a window edge into the later window


def native_step(times: np.ndarray) -> float | None:
    """Median step of a time column in seconds (None for fewer than two rows)."""
    times = np.asarray(times, dtype=np.float64)
    if times.size < 2:
        return None
    return float(np.median(np.diff(times)))


def check_rate(fs: FeatureSet, step: float | None, path: str | Path | None = None) -> None:
    """DataError unless the median time step matches the set's rate class (``EXPECTED_STEP``)."""
    expected = EXPECTED_STEP[fs.rate]
    if step is None:
        return
    if step <= 0:
        raise DataError(path, f"time column median step {step:.6f} s: expected increasing times", column=2)
    if expected is None and not VIDEO_STEP_RANGE[0] <= step <= VIDEO_STEP_RANGE[1]:
        raise DataError(path, f"time column steps {step:.6f} s (median, {1 / step:.4g} Hz): not a video frame rate "
                              f"({1 / VIDEO_STEP_RANGE[1]:g}-{1 / VIDEO_STEP_RANGE[0]:g} Hz); times must be in seconds",
                        column=2)
    if expected is not None and abs(step - expected) > RATE_RTOL * expected:
        raise DataError(path, f"time column steps {step:.6f} s (median, {1 / step:.2f} Hz), expected "
                              f"{expected:.6f} s for {fs.key} ({fs.rate} rate)", column=2)


def _is_rowwise(rate: str | None, times: np.ndarray, frame_s: float) -> bool:
    if rate is not None:
        if rate not in EXPECTED_STEP:
            raise ValueError(f"rate must be one of {tuple(EXPECTED_STEP)} or None, got {rate!r}")
        return rate == "frame"
    step = native_step(times)
    return step is None or abs(step - frame_s) <= RATE_RTOL * frame_s


def available_frames(times: np.ndarray, *, rowwise: bool, window_s: float = FRAME_S, start: float = 0.0,
                     frame_s: float = FRAME_S) -> int:
    """How many label frames a feature file covers with data of its own (no padding)."""
    times = np.asarray(times, dtype=np.float64)
    if times.size == 0:
        return 0
    if rowwise:
        return int(times.size)
    # frame i has data iff its window start c_i - w/2 is not after the last native frame
    n = int(np.floor((times[-1] - start + window_s / 2 + _EPS) / frame_s)) + 1
    return max(n, 0)


def align_to_frames(times: np.ndarray, X: np.ndarray, n_frames: int, window_s: float = FRAME_S, *,
                    start: float = 0.0, frame_s: float = FRAME_S, rate: str | None = None) -> np.ndarray:
    """Align native feature frames to ``n_frames`` label frames -> ``(n_frames, d)`` float64.

    ``rate``: ``"frame"`` places row ``r`` on frame ``round((t_r - start) / frame_s)`` (a frame
    without a row repeats the row before it; frames before the first row take the first); ``"lld"`` or
    ``"video"`` average within the window centred on each label timestamp ``start + i * frame_s``;
    ``None`` decides from the time column (median step 0.1 s -> row by row). Padding tolerance is
    the caller's business (see :func:`available_frames`); here a short input is always padded.
    """
    times = np.asarray(times, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or times.shape != (X.shape[0],):
        raise ValueError(f"times {times.shape} and X {X.shape} do not match")
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    d = X.shape[1]
    if n_frames == 0:
        return np.zeros((0, d))
    if X.shape[0] == 0:
        raise ValueError("no native frames to align")
    if _is_rowwise(rate, times, frame_s):
        # by time: label frame j takes the last row at or before it (the first row before the first)
        k = np.rint((times - start) / frame_s).astype(np.int64)
        j = np.searchsorted(k, np.arange(n_frames), side="right") - 1
        j = np.clip(j, 0, X.shape[0] - 1)
        if j.size and j[0] == 0 and np.array_equal(j, np.arange(j.size)):
            return X[:n_frames].copy()  # the common case: one row per frame from the start
        return X[j]
    if window_s <= 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    centres = start + np.arange(n_frames) * frame_s
    lo = np.searchsorted(times, centres - window_s / 2 - _EPS, side="left")
    hi = np.searchsorted(times, centres + window_s / 2 - _EPS, side="left")
    cs = np.zeros((X.shape[0] + 1, d))
    np.cumsum(X, axis=0, out=cs[1:])
    counts = hi - lo
    out = (cs[hi] - cs[lo]) / np.maximum(counts, 1)[:, None]
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        c = centres[empty]
        j = np.clip(np.searchsorted(times, c), 1, times.size - 1) if times.size > 1 else np.zeros(c.size, int)
        if times.size > 1:
            left_closer = (c - times[j - 1]) <= (times[j] - c)
            j = np.where(left_closer, j - 1, j)
        out[empty] = X[j]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(first, last), ...]`` index runs where ``mask`` is True."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    cut = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[cut + 1]])
    ends = np.concatenate([idx[cut], [idx[-1]]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _frame_extent(times: np.ndarray, rowwise: bool, window_s: float, start: float) -> tuple[np.ndarray, int, int]:
    """``(k, first, last)``: the label frame of each native row (row-wise sets) or the window that
    holds it (first window when windows overlap), and the first and last label frame with data."""
    if rowwise:
        k = np.rint((times - start) / FRAME_S).astype(np.int64)
        return k, int(k[0]), int(k[-1])
    k = np.floor((times - start - window_s / 2 + _EPS) / FRAME_S).astype(np.int64) + 1
    last = int(np.floor((times[-1] - start + window_s / 2 + _EPS) / FRAME_S))
    return k, int(k[0]), last


def read_aligned(path: str | Path, fs: FeatureSet, n_frames: int | None, *, window_s: float = FRAME_S,
                 pad_tolerance: int = PAD_TOLERANCE, max_frames: int = MAX_FRAMES, start: float = 0.0,
                 warn: Warn | None = None, fmt: str = "avec") -> tuple[np.ndarray, float | None, int]:
    """Read one feature file, check its rate, place it on the label frames by its time column:
    ``(aligned (n, d) float32, native step, native rows)``.

    ``n_frames`` is the label length; None (Test without labels) takes every frame up to the last
    one with data, capped at ``max_frames``. Offsets, gaps and length differences beyond
    ``pad_tolerance`` label frames are DataErrors naming the file, the line and the times; the
    corrections made within it go to ``warn`` (one line naming the file; default: the logger).

    ``fmt``: ``"avec"`` (the AVEC layout) or ``"openface"`` (an OpenFace 2.0 CSV, read by
    :func:`~emofusion.data.openface.read_openface`). OpenFace rows without a face (``success == 0``)
    are masked: they count for the checks of start, gaps and end (the file's time coverage), but
    only the rows with a face are averaged into the windows; a label frame whose window holds no
    face takes the nearest frame with one. A recording with more than
    :data:`~emofusion.data.openface.FACELESS_WARN` of its frames faceless gets a warning naming it.
    """
    warn = warn or log.warning
    path = Path(path)
    valid = None
    if fmt == "openface":
        from .openface import read_openface

        parse_name(path.stem, path)
        of = read_openface(path)
        times, X, valid, hdr = of.times, of.values, of.valid, 1
    elif fmt == "avec" and fs.masked:
        from .face import read_face_file

        times, X, valid = read_face_file(path)
        hdr = 1
    elif fmt == "avec":
        try:
            tab = read_table(path, min_cols=3)
        except DataError as exc:
            from .openface import looks_like_openface

            if looks_like_openface(path):
                raise DataError(path, f"{exc.message} (the header is OpenFace's: give this set `format: openface`, "
                                      "or --formats/--format openface)", line=exc.line, column=exc.column) from None
            raise
        from .layout import check_single_name, check_times

        check_single_name(tab, path.stem)
        check_times(tab)
        times, X = tab.times, tab.values
        hdr = int(tab.header is not None)
    else:
        raise ConfigError(f"format: {fmt!r} is not a feature file format (expected avec or openface)")

    def line(row: int) -> int:
        return row + 1 + hdr

    step = native_step(times)
    check_rate(fs, step, path)
    rowwise = fs.rate == "frame"
    tol = pad_tolerance
    k, first, last = _frame_extent(times, rowwise, window_s, start)
    if rowwise and times.size > 1:
        rel = (times - times[0]) / FRAME_S
        off = np.abs(rel - np.rint(rel))
        bad = np.flatnonzero(off > GRID_TOL)
        if bad.size:
            i = int(bad[0])
            raise DataError(path, f"time {times[i]:.6f} s is off the 0.1 s grid of this file (first row "
                                  f"{times[0]:.6f} s): {fs.key} is a 0.1 s set, one row per label frame",
                            line=line(i), column=2)
        same = np.flatnonzero(np.diff(k) == 0)
        if same.size:
            i = int(same[0])
            raise DataError(path, f"rows at {times[i]:.6f} s and {times[i + 1]:.6f} s fall on the same 0.1 s "
                                  "label frame", line=line(i + 1), column=2)
    n = min(last + 1, max_frames) if n_frames is None else n_frames
    label_end = start + (n - 1) * FRAME_S
    notes = []
    # start: late (frames missing at the beginning) or early (data before the labels)
    if first > 0:
        if first > tol:
            raise DataError(path, f"starts late: first time {times[0]:.6f} s, the labels start at {start:.6f} s: "
                                  f"{first} label frames without data (tolerance {tol})", line=line(0), column=2)
        notes.append(f"starts {first} frame(s) late ({times[0]:.6f} s): filled from its first row")
    elif first < 0:
        before = int(np.sum(k < 0)) if rowwise else -first
        if -first > tol:
            raise DataError(path, f"starts early: first time {times[0]:.6f} s, the labels start at {start:.6f} s: "
                                  f"{-first} label frames before them (tolerance {tol})", line=line(0), column=2)
        notes.append(f"starts {-first} frame(s) before its labels ({times[0]:.6f} s): {before} row(s) dropped")
    # gaps inside: frames in [max(first, 0), min(last, n - 1)] without a row / native frame
    lo, hi = max(first, 0), min(last, n - 1)
    if hi > lo:
        if rowwise:
            has = np.zeros(hi - lo + 1, dtype=bool)
            kk = k[(k >= lo) & (k <= hi)]
            has[kk - lo] = True
        else:
            centres = start + np.arange(lo, hi + 1) * FRAME_S
            a = np.searchsorted(times, centres - window_s / 2 - _EPS, side="left")
            b = np.searchsorted(times, centres + window_s / 2 - _EPS, side="left")
            has = b > a
        gaps = [(lo + g0, lo + g1) for g0, g1 in _runs(~has)]
        if gaps:
            g0, g1 = max(gaps, key=lambda g: g[1] - g[0])
            size = g1 - g0 + 1
            if size > tol:
                r = int(np.searchsorted(times, start + g1 * FRAME_S))  # first row after the gap
                r = min(r, times.size - 1)
                raise DataError(path, f"gap: no data from {times[max(r - 1, 0)]:.6f} s to {times[r]:.6f} s, "
                                      f"{size} label frames (tolerance {tol})", line=line(r), column=2)
            total = sum(e - s0 + 1 for s0, e in gaps)
            notes.append(f"{total} label frame(s) in {len(gaps)} gap(s) (longest {size}) filled from the "
                         f"{'row before' if rowwise else 'nearest native frame'}")
    # end: shorter or longer than the labels
    if n_frames is not None:
        if last < n - 1:
            short = n - 1 - last
            if short > tol:
                raise DataError(path, f"feature file far shorter than its labels: it covers {last + 1} label frames, "
                                      f"the labels have {n} (pad tolerance {tol} frames); its last time is "
                                      f"{times[-1]:.6f} s, the labels end at {label_end:.6f} s",
                                line=line(times.size - 1), column=2)
            notes.append(f"{short} frame(s) shorter than its labels: padded with its last "
                         f"{'row' if rowwise else 'native frame'}")
        elif last - (n - 1) > tol:
            r = int(np.flatnonzero(k > n - 1 + tol)[0]) if rowwise else int(
                np.searchsorted(times, label_end + (tol + 0.5) * FRAME_S + _EPS))
            r = min(r, times.size - 1)
            raise DataError(path, f"feature file far longer than its labels: data runs to {times[-1]:.6f} s, "
                                  f"{last - (n - 1)} label frames past the labels' end at {label_end:.6f} s "
                                  f"(tolerance {tol})", line=line(r), column=2)
    if valid is not None and not valid.all():
        from .openface import FACELESS_WARN

        share = 1.0 - float(valid.mean())
        if share > FACELESS_WARN:
            notes.append(f"{share:.0%} of its frames without a face (success == 0; above {FACELESS_WARN:.0%}): "
                         "masked, their windows take the nearest frame with a face")
        if not valid.any():
            raise DataError(path, "no frame with a face (success == 0 on every row)", column="success")
        times, X = times[valid], X[valid]
    if notes:
        warn(f"{path}: " + "; ".join(notes))
    A = align_to_frames(times, X, n, window_s, start=start, rate=fs.rate)
    return A.astype(np.float32), step, int(times.size)


def iter_aligned(feat_dir: Path, names: Sequence[str], labels: Mapping[str, tuple[int, float]], fs: FeatureSet, *,
                 window_s: float, pad_tolerance: int, max_frames: int, warn: Warn | None = None,
                 fmt: str = "avec"):
    """Read and align each recording of one set: yields ``(name, path, aligned (T, d) float32, native
    step or None, native rows)``. ``labels[name] = (label frames, first label time)`` where labels
    exist. ``fmt``: the files' format (:func:`read_aligned`). The dim must be constant within a set
    (one DataError naming the file otherwise)."""
    dim = first = None
    for n in names:
        path = feat_dir / f"{n}.csv"
        n_frames, start = labels.get(n, (None, 0.0))
        A, step, rows = read_aligned(path, fs, n_frames, window_s=window_s, pad_tolerance=pad_tolerance,
                                     max_frames=max_frames, start=start, warn=warn, fmt=fmt)
        if dim is None:
            dim, first = A.shape[1], path.name
        elif A.shape[1] != dim:
            raise DataError(path, f"{A.shape[1]} feature columns, expected {dim} as in {first} "
                                  "(dim must be constant within a set)", line=1)
        yield n, path, A, step, rows
