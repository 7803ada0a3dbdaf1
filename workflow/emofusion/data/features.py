"""Feature sets: alignment to the 0.1 s label frames, Train-only z-normalisation, the binary cache.

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

Normalisation: mean and (population) standard deviation per column over all frames of the Train
recordings only, applied to every partition; a column whose Train std is below ``STD_FLOOR`` gets
std 1, so a column constant on Train maps to 0 there.

Cache: one ``np.savez`` file per feature set (no pickle) with ``key, source, names, lengths,
offsets, X (float32, normalised), mean, std, rate_hz``, and one ``labels.npz`` with the label
frames (test labels of the generated corpus kept apart under ``test_*``). Loading a cache is one
``np.load``; no CSV is parsed after the cache is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError, path_problem
from ..io import atomic_savez
from .layout import (
    FRAME_S,
    PARTITIONS,
    folder_problem,
    list_recordings,
    parse_name,
    read_label_file,
    read_table,
)

log = logging.getLogger(__name__)
Warn = Callable[[str], None]


@dataclass(frozen=True)
class FeatureSet:
    """One of the 12 AVEC 2019 CES feature sets: registry key, default folder, dim, rate, modality."""

    key: str
    folder: str
    dim: int
    rate: str  # "frame" (0.1 s) | "lld" (100 Hz) | "video" (video frame rate)
    modality: str  # "audio" | "visual"
    #: the file's first feature column is ``success`` (1 face, 0 none): rows with 0 are masked, and
    #: the column itself is not a feature (the face LLDs extracted from video, emofusion.data.video)
    masked: bool = False


FEATURE_SETS: dict[str, FeatureSet] = {
    fs.key: fs
    for fs in (
        FeatureSet("egemaps", "audio_features_egemaps", 23, "lld", "audio"),
        FeatureSet("egemaps_func", "audio_features_egemaps_functionals", 46, "frame", "audio"),
        FeatureSet("boaw_egemaps", "audio_features_egemaps_xbow", 100, "frame", "audio"),
        FeatureSet("mfcc", "audio_features_mfcc", 39, "lld", "audio"),
        FeatureSet("mfcc_func", "audio_features_mfcc_functionals", 78, "frame", "audio"),
        FeatureSet("boaw_mfcc", "audio_features_mfcc_xbow", 100, "frame", "audio"),
        FeatureSet("deepspectrum", "audio_features_DeepSpectrum_VGG16", 4096, "frame", "audio"),
        FeatureSet("fau", "visual_features", 18, "video", "visual"),
        FeatureSet("fau_func", "visual_features_functionals", 36, "frame", "visual"),
        FeatureSet("bovw", "visual_features_xbow", 100, "frame", "visual"),
        FeatureSet("resnet", "visual_features_ResNet", 2048, "video", "visual"),
        FeatureSet("vgg", "visual_features_VGG", 4096, "video", "visual"),
    )
}

#: sets this project extracts from video files (emofusion.data.video); not among AVEC 2019's 12, so
#: the generated feature corpus and ``emofusion validate``'s default sets leave them out
EXTRACTED_SETS: dict[str, FeatureSet] = {
    fs.key: fs
    for fs in (
        FeatureSet("face", "visual_features_face", 13, "video", "visual", masked=True),
        FeatureSet("face_func", "visual_features_face_functionals", 26, "frame", "visual"),
        FeatureSet("bovw_face", "visual_features_face_xbow", 100, "frame", "visual"),
    )
}
ALL_SETS: dict[str, FeatureSet] = {**FEATURE_SETS, **EXTRACTED_SETS}


def modality_of(keys: Iterable[str]) -> str:
    """``audio``, ``visual`` or ``audiovisual`` of a run's feature-set keys, from :data:`FEATURE_SETS`
    (``unknown`` when none is a registry key)."""
    mods = sorted({ALL_SETS[k].modality for k in keys if k in ALL_SETS})
    if not mods:
        return "unknown"
    return mods[0] if len(mods) == 1 else "audiovisual"


#: expected native time step per rate class (None: any rate, read from the time column)
EXPECTED_STEP: dict[str, float | None] = {"frame": FRAME_S, "lld": 0.01, "video": None}
RATE_RTOL = 0.02  # relative tolerance on the median time step against EXPECTED_STEP
VIDEO_STEP_RANGE = (0.001, 1.0)  # seconds: a video-rate set's median step (1-1000 fps), else the times are not seconds
# The defaults of the data settings, here once: the CLI (`emofusion validate`, `emofusion cache`) and the
# workflow (config `data.pad_tolerance: null`, `data.label_range: null`) both take them from here.
PAD_TOLERANCE = 5  # label frames (0.5 s) of offset, gap or length difference corrected (with a warning)
LABEL_RANGE = (-1.0, 1.0)  # AVEC 2019 labels lie in [-1, 1]
MAX_FRAMES = 1768  # longest AVEC 2019 CES sequence; cap for Test recordings without labels
GRID_TOL = 0.25  # a 0.1 s set's row may sit this many frames off its file's 0.1 s grid
STD_FLOOR = 1e-8
_EPS = 1e-9  # seconds; puts a native frame sitting on a window edge into the later window


def get_feature_set(key: str) -> FeatureSet:
    try:
        return ALL_SETS[key]
    except KeyError:
        raise ConfigError(f"unknown feature set {key!r}: expected one of {', '.join(ALL_SETS)}") from None


def cache_path(cache_dir: str | Path, key: str) -> Path:
    """``<cache_dir>/<key>.npz``."""
    return Path(cache_dir) / f"{key}.npz"


# --------------------------------------------------------------------------------------------------
# alignment


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


# --------------------------------------------------------------------------------------------------
# normalisation


def _is_train(name: str) -> bool:
    return parse_name(name)[0] == "Train"


def normalise_train_only(per_recording: Mapping[str, np.ndarray], *,
                         std_floor: float = STD_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and population std over the frames of the ``Train_*`` recordings only.

    Other partitions never enter the statistics. A std below ``std_floor`` becomes 1, so a column
    constant on Train maps to 0 there. Merged per recording in float64 (Chan et al.), so no copy of
    the whole set is made.
    """
    n = 0
    mean = m2 = None
    for name in sorted(per_recording):
        if not _is_train(name):
            continue
        A = np.asarray(per_recording[name], dtype=np.float64)
        k = A.shape[0]
        if k == 0:
            continue
        mk = A.mean(axis=0)
        m2k = ((A - mk) ** 2).sum(axis=0)
        if mean is None:
            mean, m2, n = mk, m2k, k
        else:
            delta = mk - mean
            tot = n + k
            mean = mean + delta * (k / tot)
            m2 = m2 + m2k + delta**2 * (n * k / tot)
            n = tot
    if mean is None:
        raise DataError(None, "no Train frames: normalisation statistics come from Train recordings only")
    std = np.sqrt(m2 / n)
    std = np.where(std > std_floor, std, 1.0)
    return mean, std


# --------------------------------------------------------------------------------------------------
# caches


@dataclass
class FeatureCache:
    """One aligned, Train-normalised feature set: frames of all recordings stacked in ``X``."""

    key: str
    source: str
    names: list[str]
    lengths: np.ndarray  # (R,) int64
    offsets: np.ndarray  # (R+1,) int64
    X: np.ndarray  # (sum(lengths), d) float32
    mean: np.ndarray  # (d,) float64
    std: np.ndarray  # (d,) float64
    rate_hz: float
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {n: i for i, n in enumerate(self.names)}

    @property
    def dim(self) -> int:
        return int(self.X.shape[1])

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"recording {name!r} not in feature cache {self.key!r}") from None

    def get(self, name: str) -> np.ndarray:
        """``(T, d)`` float32 view of one recording's frames."""
        i = self.index(name)
        return self.X[self.offsets[i]:self.offsets[i + 1]]


@dataclass
class LabelCache:
    """Label frames ``Y (sum(lengths), 3)`` in TARGETS order; ``test`` holds test labels kept apart."""

    names: list[str]
    lengths: np.ndarray
    offsets: np.ndarray
    Y: np.ndarray
    test: LabelCache | None = None
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index = {n: i for i, n in enumerate(self.names)}

    def index(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"recording {name!r} not in label cache") from None

    def get(self, name: str) -> np.ndarray:
        i = self.index(name)
        return self.Y[self.offsets[i]:self.offsets[i + 1]]

    def to_dict(self, partition: str | None = None) -> dict[str, np.ndarray]:
        """``{name: (T, 3)}`` (optionally one partition), e.g. for ``results.metrics.score_recordings``."""
        return {n: self.get(n) for n in self.names if partition is None or parse_name(n)[0] == partition}


def _offsets(lengths: np.ndarray) -> np.ndarray:
    off = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    return off


def _names_array(names: list[str]) -> np.ndarray:
    return np.array(names, dtype=str) if names else np.zeros(0, dtype="<U1")


def save_feature_cache(path: str | Path, cache: FeatureCache) -> None:
    """Write ``cache`` to ``path`` (np.savez, no pickle) atomically."""
    atomic_savez(path, {
        "key": np.array(cache.key), "source": np.array(cache.source), "names": _names_array(cache.names),
        "lengths": np.asarray(cache.lengths, dtype=np.int64), "offsets": np.asarray(cache.offsets, dtype=np.int64),
        "X": np.asarray(cache.X, dtype=np.float32), "mean": np.asarray(cache.mean, dtype=np.float64),
        "std": np.asarray(cache.std, dtype=np.float64), "rate_hz": np.array(float(cache.rate_hz)),
    })


def _open_npz(path: Path, required: Iterable[str], what: str):
    if not path.is_file():
        problem = path_problem(path)
        raise DataError(path, f"{what} not found" if problem in (None, "not found") else f"{what} expected: {problem}")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise _damaged(path, what, exc) from None
    missing = [k for k in required if k not in z.files]
    if missing:
        z.close()
        raise DataError(path, f"not a {what}: missing {', '.join(missing)}; {_REBUILD}")
    return _CheckedNpz(z, path, what)


_REBUILD = ("rebuild it: delete the file and run the same command again (the workflow's cache job, or "
            "`emofusion cache`, writes it anew)")


def _damaged(path: Path, what: str, exc: BaseException) -> DataError:
    return DataError(path, f"not a readable {what} (.npz; truncated or damaged: {str(exc)[:120]}); {_REBUILD}")


class _CheckedNpz:
    """An open .npz whose arrays, read one by one, raise a DataError naming the file when its bytes are
    damaged (a truncated or corrupted member is found only when it is read)."""

    def __init__(self, z, path: Path, what: str):
        self._z, self._path, self._what = z, path, what
        self.files = z.files

    def __getitem__(self, key: str):
        try:
            return self._z[key]
        except Exception as exc:
            raise _damaged(self._path, self._what, exc) from None

    def close(self) -> None:
        self._z.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_layout(path: Path, names, lengths, offsets, data, what: str) -> None:
    ok = (len(names) == len(lengths) == len(offsets) - 1 and offsets[0] == 0
          and np.array_equal(np.diff(offsets), lengths) and offsets[-1] == data.shape[0])
    if not ok:
        raise DataError(path, f"inconsistent {what}: names/lengths/offsets do not match the data rows")


def load_feature_cache(path: str | Path) -> FeatureCache:
    """Read a cache written by :func:`save_feature_cache` (one np.load, no CSV)."""
    path = Path(path)
    with _open_npz(path, ("key", "source", "names", "lengths", "offsets", "X", "mean", "std", "rate_hz"),
                   "feature cache") as z:
        c = FeatureCache(key=str(z["key"]), source=str(z["source"]), names=[str(n) for n in z["names"]],
                         lengths=z["lengths"], offsets=z["offsets"], X=z["X"], mean=z["mean"], std=z["std"],
                         rate_hz=float(z["rate_hz"]))
    _check_layout(path, c.names, c.lengths, c.offsets, c.X, "feature cache")
    return c


def _label_arrays(prefix: str, lc: LabelCache) -> dict[str, np.ndarray]:
    return {f"{prefix}names": _names_array(lc.names), f"{prefix}lengths": np.asarray(lc.lengths, dtype=np.int64),
            f"{prefix}offsets": np.asarray(lc.offsets, dtype=np.int64), f"{prefix}Y": np.asarray(lc.Y, np.float32)}


def save_label_cache(path: str | Path, labels: LabelCache) -> None:
    arrays = _label_arrays("", labels)
    if labels.test is not None:
        arrays.update(_label_arrays("test_", labels.test))
    atomic_savez(path, arrays)


def load_label_cache(path: str | Path) -> LabelCache:
    path = Path(path)
    with _open_npz(path, ("names", "lengths", "offsets", "Y"), "label cache") as z:
        parts = {}
        for prefix in ("", "test_"):
            if f"{prefix}names" not in z.files:
                continue
            names = [str(n) for n in z[f"{prefix}names"]]
            lengths, offsets, Y = z[f"{prefix}lengths"], z[f"{prefix}offsets"], z[f"{prefix}Y"]
            _check_layout(path, names, lengths, offsets, Y, "label cache")
            parts[prefix] = LabelCache(names, lengths, offsets, Y)
    main = parts[""]
    main.test = parts.get("test_")
    return main


def _stack_labels(folder: Path, names: list[str], label_range: tuple[float, float] | None) -> LabelCache:
    ys = [read_label_file(folder / f"{n}.csv", label_range)[1].astype(np.float32) for n in names]
    lengths = np.array([len(y) for y in ys], dtype=np.int64)
    Y = np.concatenate(ys) if ys else np.zeros((0, 3), dtype=np.float32)
    return LabelCache(list(names), lengths, _offsets(lengths), Y)


def _check_numbers(folder: Path, names: Iterable[str]) -> None:
    for n in names:
        if parse_name(n)[2] < 1:
            raise DataError(folder / f"{n}.csv", "recording number 00: numbers are 1-based (01, 02, ...)")


def label_names(ldir: Path, partitions: Iterable[str], cultures: Iterable[str]) -> list[str]:
    """Label recordings of ``partitions`` x ``cultures`` in ``ldir`` (checked names, 1-based numbers)."""
    if not ldir.is_dir():
        raise DataError(ldir, folder_problem(ldir, "labels folder"))
    names = list_recordings(ldir, partitions, cultures)
    _check_numbers(ldir, names)
    return names


def build_label_cache(data_root: str | Path, out_path: str | Path | None,
                      partitions: Iterable[str] = ("Train", "Devel"), cultures: Iterable[str] = ("DE", "HU"), *,
                      labels_folder: str = "labels", label_range: tuple[float, float] | None = LABEL_RANGE
                      ) -> LabelCache:
    """Label frames of every labelled recording in ``<root>/labels`` for ``partitions`` x ``cultures``.

    When ``<root>/test_labels/`` exists (generated corpus only) its Test files go to ``.test``,
    kept apart and used only for scoring. Every value must lie in ``label_range``. Written to
    ``out_path`` when given (nothing is written when a check fails).
    """
    root = Path(data_root)
    partitions, cultures = tuple(partitions), tuple(cultures)
    ldir = root / labels_folder
    names = label_names(ldir, partitions, cultures)
    if not names:
        raise DataError(ldir, f"no label files for partitions {'/'.join(partitions)} and cultures {'/'.join(cultures)}")
    lc = _stack_labels(ldir, names, label_range)
    tdir = root / "test_labels"
    if tdir.is_dir():
        tnames = label_names(tdir, ("Test",), cultures)
        if tnames:
            lc.test = _stack_labels(tdir, tnames, label_range)
    if out_path is not None:
        save_label_cache(out_path, lc)
    return lc


def label_index(ldir: Path, partitions: Iterable[str], cultures: Iterable[str],
                label_range: tuple[float, float] | None = LABEL_RANGE) -> dict[str, tuple[int, float]]:
    """``{name: (label frames, first label timestamp)}`` of the label files present, each read with
    every check (range included)."""
    out = {}
    for n in label_names(ldir, tuple(partitions), tuple(cultures)):
        times, _ = read_label_file(ldir / f"{n}.csv", label_range)
        out[n] = (int(times.size), float(times[0]))
    return out


def expected_recordings(feat_dir: Path, labels: Mapping[str, tuple[int, float]], partitions: tuple[str, ...],
                        cultures: tuple[str, ...]) -> list[str]:
    """Recordings a feature folder must hold: every label file's, plus its unlabelled Test files.

    A missing feature file for a label file, or a Train/Devel feature file without labels, is a DataError.
    """
    if not feat_dir.is_dir():
        raise DataError(feat_dir, folder_problem(feat_dir, "feature folder"))
    present = set(list_recordings(feat_dir, partitions, cultures))
    _check_numbers(feat_dir, sorted(present))
    for n in sorted(labels):
        if n not in present:
            raise DataError(feat_dir / f"{n}.csv", f"missing recording: label file {n}.csv has no feature file here")
    for n in sorted(present - set(labels)):
        if parse_name(n)[0] != "Test":
            raise DataError(feat_dir / f"{n}.csv", f"feature file without a label file ({n}.csv not in the labels folder)")
    return sorted(present | set(labels))


def check_recording_sets(root: str | Path, folders: Mapping[str, str], *, partitions: Iterable[str] = PARTITIONS,
                         cultures: Iterable[str] = ("DE", "HU"), labels_folder: str = "labels") -> dict[str, list[str]]:
    """The same recordings in every feature folder and in the labels, every partition (Test included).

    Train/Devel: each folder holds exactly the label files' recordings. Test (no labels on real data):
    every folder holds every Test recording that any folder, ``labels/`` or ``test_labels/`` holds.
    File names only (no file is parsed). Returns ``{set key: recordings}``; the first mismatch is a
    DataError naming the missing file and where the recording was seen.
    """
    root = Path(root)
    partitions, cultures = tuple(partitions), tuple(cultures)
    ldir = root / labels_folder
    labelled = set(label_names(ldir, partitions, cultures))
    seen: dict[str, str] = {n: labels_folder for n in labelled}
    tdir = root / "test_labels"
    if "Test" in partitions and tdir.is_dir():
        for n in label_names(tdir, ("Test",), cultures):
            seen.setdefault(n, "test_labels")
    per = {}
    for key, folder in folders.items():
        get_feature_set(key)
        labels = {n: (0, 0.0) for n in labelled}
        per[key] = expected_recordings(root / folder, labels, partitions, cultures)
        for n in per[key]:
            seen.setdefault(n, folder)
    for key, folder in folders.items():
        have = set(per[key])
        for n in sorted(seen):
            if n not in have:
                raise DataError(root / folder / f"{n}.csv", f"missing recording: {n} is in {seen[n]}/ but not in "
                                                           f"{folder}/ (every feature set needs the same recordings)")
    return per


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


def build_feature_cache(data_root: str | Path, key: str, out_path: str | Path | None, *, folder: str | None = None,
                        partitions: Iterable[str] = PARTITIONS, cultures: Iterable[str] = ("DE", "HU"),
                        window_s: float = FRAME_S, pad_tolerance: int = PAD_TOLERANCE,
                        max_frames: int = MAX_FRAMES, labels_folder: str = "labels",
                        label_range: tuple[float, float] | None = LABEL_RANGE,
                        compare_folders: Mapping[str, str] | None = None, warn: Warn | None = None,
                        fmt: str = "avec") -> FeatureCache:
    """Read, check, align and Train-normalise one feature set of an AVEC root; save it to ``out_path``.

    Recordings: every label file of ``partitions`` x ``cultures`` in ``<root>/labels`` (length = label
    frames, each label file checked as by ``emofusion validate``), plus Test feature files without
    labels (length = covered frames, at most ``max_frames``); Test is included only when its files are
    present. ``folder`` overrides the registry folder. ``compare_folders`` (``{key: folder}``) adds
    :func:`check_recording_sets` over this set and those. ``fmt``: the files' format, ``avec`` or
    ``openface`` (``fau`` only; :mod:`emofusion.data.openface`). Nothing is written when a check fails.
    """
    fs = get_feature_set(key)
    from .openface import check_format

    check_format(key, fmt)
    root = Path(data_root)
    partitions, cultures = tuple(partitions), tuple(cultures)
    source = folder or fs.folder
    feat_dir = root / source
    if compare_folders:
        check_recording_sets(root, {**compare_folders, key: source}, partitions=partitions, cultures=cultures,
                             labels_folder=labels_folder)
    labels = label_index(root / labels_folder, partitions, cultures, label_range)
    names = expected_recordings(feat_dir, labels, partitions, cultures)
    if not any(_is_train(n) for n in names):
        raise DataError(root / labels_folder, "no Train recordings: normalisation statistics need Train")
    per: dict[str, np.ndarray] = {}
    steps = []
    for n, _, A, step, _ in iter_aligned(feat_dir, names, labels, fs, window_s=window_s,
                                         pad_tolerance=pad_tolerance, max_frames=max_frames, warn=warn, fmt=fmt):
        if step is not None:
            steps.append(step)
        per[n] = A
    dim = per[names[0]].shape[1]
    mean, std = normalise_train_only(per)
    lengths = np.array([per[n].shape[0] for n in names], dtype=np.int64)
    offsets = _offsets(lengths)
    X = np.empty((int(offsets[-1]), dim), dtype=np.float32)
    for i, n in enumerate(names):
        A = per.pop(n)  # free as we go: peak memory stays near one copy of the set
        X[offsets[i]:offsets[i + 1]] = (A - mean) / std
    step = float(np.median(steps)) if steps else (EXPECTED_STEP[fs.rate] or FRAME_S)
    cache = FeatureCache(key=fs.key, source=source, names=names, lengths=lengths, offsets=offsets, X=X,
                         mean=mean, std=std, rate_hz=round(1.0 / step, 6))
    if out_path is not None:
        save_feature_cache(out_path, cache)
    return cache
