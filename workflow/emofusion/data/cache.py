"""The binary caches: the aligned, Train-normalised feature sets and the label frames as ``.npz``.

One ``np.savez`` file per feature set (no pickle) with ``key, source, names, lengths, offsets, X
(float32, normalised), mean, std, rate_hz``, and one ``labels.npz`` with the label frames (test
labels of the generated corpus kept apart under ``test_*``); docs/contracts.md. Saving is atomic
(:func:`emofusion.io.atomic_savez`). Loading a cache is one ``np.load``; no CSV is parsed after the
cache is built (:mod:`emofusion.data.build_cache`). A missing, damaged or inconsistent cache is one
:class:`~emofusion.errors.DataError` naming the file and saying how to rebuild it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError, path_problem
from ..io import atomic_savez
from .layout import parse_name


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



def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """``(R+1,)`` int64 row offsets of recordings of ``lengths`` stacked in order (``offsets[0] == 0``)."""
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


def cache_path(cache_dir: str | Path, key: str) -> Path:
    """``<cache_dir>/<key>.npz``."""
    return Path(cache_dir) / f"{key}.npz"
