"""Feature sets: alignment to the 0.1 s label frames, Train-only z-normalisation, the binary cache.

Alignment (DESIGN.md section 2). Label frame ``i`` sits at ``start + i * 0.1`` s (``start`` is the
first label timestamp, 0.0 on AVEC data).

* 0.1 s sets (functionals, BoW, DeepSpectrum; ``rate == "frame"``) are taken row by row: a longer
  file is cropped to the label length, a shorter one is padded by repeating its last row, but only
  by up to ``pad_tolerance`` frames; beyond that it is a :class:`~emofusion.errors.DataError`.
* Sets at another rate (100 Hz LLDs, video-rate FAU/ResNet/VGG; the native rate is read from the
  time column as the median step) are averaged within a window of ``window_s`` seconds centred on
  each label timestamp, half open ``[t - w/2, t + w/2)``: with the default ``w = 0.1`` the windows
  tile the time axis (window = hop), so every native frame is used exactly once. A window holding
  no native frame takes the native frame nearest to its centre. A file whose last native frame
  leaves more than ``pad_tolerance`` label frames without any data is too short (DataError).

Normalisation: mean and (population) standard deviation per column over all frames of the Train
recordings only, applied to every partition; a column whose Train std is below ``STD_FLOOR`` gets
std 1, so a column constant on Train maps to 0 there.

Cache: one ``np.savez`` file per feature set (no pickle) with ``key, source, names, lengths,
offsets, X (float32, normalised), mean, std, rate_hz``, and one ``labels.npz`` with the label
frames (test labels of the generated corpus kept apart under ``test_*``). Loading a cache is one
``np.load``; no CSV is parsed after the cache is built.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .corpus import FRAME_S, list_recordings, parse_name, read_feature_file, read_label_file
from .errors import ConfigError, DataError


@dataclass(frozen=True)
class FeatureSet:
    """One of the 12 AVEC 2019 CES feature sets: registry key, default folder, dim, rate, modality."""

    key: str
    folder: str
    dim: int
    rate: str  # "frame" (0.1 s) | "lld" (100 Hz) | "video" (video frame rate)
    modality: str  # "audio" | "visual"


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

#: expected native time step per rate class (None: any rate, read from the time column)
EXPECTED_STEP: dict[str, float | None] = {"frame": FRAME_S, "lld": 0.01, "video": None}
RATE_RTOL = 0.02  # relative tolerance on the median time step against EXPECTED_STEP
PAD_TOLERANCE = 10  # label frames (1 s) a feature file may fall short of its labels
MAX_FRAMES = 1768  # longest AVEC 2019 CES sequence; cap for Test recordings without labels
STD_FLOOR = 1e-8
_EPS = 1e-9  # seconds; puts a native frame sitting on a window edge into the later window


def get_feature_set(key: str) -> FeatureSet:
    try:
        return FEATURE_SETS[key]
    except KeyError:
        raise ConfigError(f"unknown feature set {key!r}: expected one of {', '.join(FEATURE_SETS)}") from None


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

    ``rate``: ``"frame"`` takes rows one by one (crop, or repeat the last row to pad); ``"lld"`` or
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
        out = X[:n_frames]
        if out.shape[0] < n_frames:
            out = np.concatenate([out, np.repeat(out[-1:], n_frames - out.shape[0], axis=0)])
        return np.array(out, dtype=np.float64)
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


def _data_line(path: str | Path, row: int) -> int:
    """1-based line in ``path`` of data row ``row`` (0-based): one more when the file has a header."""
    with open(path) as fh:
        first = fh.readline()
    return row + 1 + (1 if first.lstrip().lstrip("'\"").startswith("name") else 0)


def read_aligned(path: str | Path, fs: FeatureSet, n_frames: int | None, *, window_s: float = FRAME_S,
                 pad_tolerance: int = PAD_TOLERANCE, max_frames: int = MAX_FRAMES,
                 start: float = 0.0) -> tuple[np.ndarray, float | None, int]:
    """Read one feature file, check its rate, align it: ``(aligned (n, d) float32, native step, native rows)``.

    ``n_frames`` is the label length; None (Test without labels) takes every covered frame, capped
    at ``max_frames``. A file more than ``pad_tolerance`` frames short of its labels is a DataError.
    """
    times, X = read_feature_file(path)
    step = native_step(times)
    check_rate(fs, step, path)
    rowwise = fs.rate == "frame"
    if rowwise and times.size > 1:
        d = np.diff(times)
        bad = np.flatnonzero(np.abs(d - FRAME_S) > 0.5 * FRAME_S)
        if bad.size:
            i = int(bad[0])
            raise DataError(path, f"time step {d[i]:.6f} s, expected {FRAME_S:.6f} s: a {fs.key} file is read row "
                                  f"by row and needs regular rows", line=_data_line(path, i + 1), column=2)
    avail = available_frames(times, rowwise=rowwise, window_s=window_s, start=start)
    if n_frames is None:
        n = min(avail, max_frames)
    else:
        n = n_frames
        if n - avail > pad_tolerance:
            raise DataError(path, f"feature file far shorter than its labels: it covers {avail} label frames, "
                                  f"the labels have {n} (pad tolerance {pad_tolerance} frames)")
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
        """``{name: (T, 3)}`` (optionally one partition), e.g. for ``metrics.score_recordings``."""
        return {n: self.get(n) for n in self.names if partition is None or parse_name(n)[0] == partition}


def _offsets(lengths: np.ndarray) -> np.ndarray:
    off = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    return off


def _atomic_savez(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _names_array(names: list[str]) -> np.ndarray:
    return np.array(names, dtype=str) if names else np.zeros(0, dtype="<U1")


def save_feature_cache(path: str | Path, cache: FeatureCache) -> None:
    """Write ``cache`` to ``path`` (np.savez, no pickle) atomically."""
    _atomic_savez(path, {
        "key": np.array(cache.key), "source": np.array(cache.source), "names": _names_array(cache.names),
        "lengths": np.asarray(cache.lengths, dtype=np.int64), "offsets": np.asarray(cache.offsets, dtype=np.int64),
        "X": np.asarray(cache.X, dtype=np.float32), "mean": np.asarray(cache.mean, dtype=np.float64),
        "std": np.asarray(cache.std, dtype=np.float64), "rate_hz": np.array(float(cache.rate_hz)),
    })


def _open_npz(path: Path, required: Iterable[str], what: str):
    if not path.is_file():
        raise DataError(path, f"{what} not found")
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(path, f"not a readable {what} (.npz): {exc}") from None
    missing = [k for k in required if k not in z.files]
    if missing:
        z.close()
        raise DataError(path, f"not a {what}: missing {', '.join(missing)}")
    return z


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
    _atomic_savez(path, arrays)


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


def _stack_labels(folder: Path, names: list[str]) -> LabelCache:
    ys = [read_label_file(folder / f"{n}.csv")[1].astype(np.float32) for n in names]
    lengths = np.array([len(y) for y in ys], dtype=np.int64)
    Y = np.concatenate(ys) if ys else np.zeros((0, 3), dtype=np.float32)
    return LabelCache(list(names), lengths, _offsets(lengths), Y)


def build_label_cache(data_root: str | Path, out_path: str | Path | None,
                      partitions: Iterable[str] = ("Train", "Devel"), cultures: Iterable[str] = ("DE", "HU"), *,
                      labels_folder: str = "labels") -> LabelCache:
    """Label frames of every labelled recording in ``<root>/labels`` for ``partitions`` x ``cultures``.

    When ``<root>/test_labels/`` exists (generated corpus only) its Test files go to ``.test``,
    kept apart and used only for scoring. Written to ``out_path`` when given.
    """
    root = Path(data_root)
    partitions, cultures = tuple(partitions), tuple(cultures)
    ldir = root / labels_folder
    names = list_recordings(ldir, partitions, cultures)
    if not names:
        raise DataError(ldir, f"no label files for partitions {'/'.join(partitions)} and cultures {'/'.join(cultures)}")
    lc = _stack_labels(ldir, names)
    tdir = root / "test_labels"
    if tdir.is_dir():
        tnames = list_recordings(tdir, ("Test",), cultures)
        if tnames:
            lc.test = _stack_labels(tdir, tnames)
    if out_path is not None:
        save_label_cache(out_path, lc)
    return lc


def _label_index(ldir: Path, partitions: tuple[str, ...], cultures: tuple[str, ...]) -> dict[str, tuple[int, float]]:
    """``{name: (label frames, first label timestamp)}`` for the label files present."""
    out = {}
    if not ldir.is_dir():
        raise DataError(ldir, "labels folder not found")
    for n in list_recordings(ldir, partitions, cultures):
        times, _ = read_label_file(ldir / f"{n}.csv")
        out[n] = (int(times.size), float(times[0]))
    return out


def expected_recordings(feat_dir: Path, labels: Mapping[str, tuple[int, float]], partitions: tuple[str, ...],
                        cultures: tuple[str, ...]) -> list[str]:
    """Recordings a feature folder must hold: every label file's, plus its unlabelled Test files.

    A missing feature file for a label file, or a Train/Devel feature file without labels, is a DataError.
    """
    if not feat_dir.is_dir():
        raise DataError(feat_dir, "feature folder not found")
    present = set(list_recordings(feat_dir, partitions, cultures))
    for n in sorted(labels):
        if n not in present:
            raise DataError(feat_dir / f"{n}.csv", f"missing recording: label file {n}.csv has no feature file here")
    for n in sorted(present - set(labels)):
        if parse_name(n)[0] != "Test":
            raise DataError(feat_dir / f"{n}.csv", f"feature file without a label file ({n}.csv not in the labels folder)")
    return sorted(present | set(labels))


def iter_aligned(feat_dir: Path, names: Sequence[str], labels: Mapping[str, tuple[int, float]], fs: FeatureSet, *,
                 window_s: float, pad_tolerance: int, max_frames: int):
    """Read and align each recording of one set: yields ``(name, path, aligned (T, d) float32, native
    step or None, native rows)``. ``labels[name] = (label frames, first label time)`` where labels
    exist. The dim must be constant within a set (one DataError naming the file otherwise)."""
    dim = first = None
    for n in names:
        path = feat_dir / f"{n}.csv"
        n_frames, start = labels.get(n, (None, 0.0))
        A, step, rows = read_aligned(path, fs, n_frames, window_s=window_s, pad_tolerance=pad_tolerance,
                                     max_frames=max_frames, start=start)
        if dim is None:
            dim, first = A.shape[1], path.name
        elif A.shape[1] != dim:
            raise DataError(path, f"{A.shape[1]} feature columns, expected {dim} as in {first} "
                                  "(dim must be constant within a set)", line=1)
        yield n, path, A, step, rows


def build_feature_cache(data_root: str | Path, key: str, out_path: str | Path | None, *, folder: str | None = None,
                        partitions: Iterable[str] = ("Train", "Devel", "Test"), cultures: Iterable[str] = ("DE", "HU"),
                        window_s: float = FRAME_S, pad_tolerance: int = PAD_TOLERANCE,
                        max_frames: int = MAX_FRAMES, labels_folder: str = "labels") -> FeatureCache:
    """Read, check, align and Train-normalise one feature set of an AVEC root; save it to ``out_path``.

    Recordings: every label file of ``partitions`` x ``cultures`` in ``<root>/labels`` (length = label
    frames), plus Test feature files without labels (length = covered frames, at most ``max_frames``);
    Test is included only when its files are present. ``folder`` overrides the registry folder.
    """
    fs = get_feature_set(key)
    root = Path(data_root)
    partitions, cultures = tuple(partitions), tuple(cultures)
    source = folder or fs.folder
    feat_dir = root / source
    labels = _label_index(root / labels_folder, partitions, cultures)
    names = expected_recordings(feat_dir, labels, partitions, cultures)
    if not any(_is_train(n) for n in names):
        raise DataError(root / labels_folder, "no Train recordings: normalisation statistics need Train")
    per: dict[str, np.ndarray] = {}
    steps = []
    for n, _, A, step, _ in iter_aligned(feat_dir, names, labels, fs, window_s=window_s,
                                         pad_tolerance=pad_tolerance, max_frames=max_frames):
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
