"""Training data from feature caches: early fusion, label shift, padding, batching.

Feature caches and the labels cache follow the contract of :mod:`emofusion.data.cache`
(``<key>.npz``: names, lengths, offsets, X; ``labels.npz``: names, lengths, offsets, Y, plus an
optional separate test block used for scoring only).

- Early fusion: several caches are concatenated along the feature axis, frames aligned by
  recording. Their recording names must be identical, and so must the lengths of labelled
  recordings (a clear DataError otherwise). An unlabelled Test recording has one row per feature
  frame, which differs by a frame or two between sets: it is cropped to the shortest cache.
  The concatenation is done per recording as batches are built, so an 8192-dim pair never
  exists as one whole-corpus array.
- Annotation delay (``shift`` = s frames): for training, the target of frame t is the label of
  frame t + s (the first s labels are dropped, the last s frames have no target and are masked);
  predictions are shifted back (frame t takes the output of frame t - s; the first s frames repeat
  the first output) before they are written or scored. :func:`shift_targets` and
  :func:`unshift_predictions` are the two halves.
- Batches are zero-padded at the end to the batch's longest sequence; ``mask`` marks the frames
  that carry a target, so padding never enters the loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError


def _index(cache) -> dict[str, int]:
    return {str(n): i for i, n in enumerate(cache.names)}


def _rows(arr: np.ndarray, offsets: np.ndarray, i: int) -> np.ndarray:
    return arr[int(offsets[i]):int(offsets[i + 1])]


@dataclass
class TrainingData:
    """Aligned features (one or more caches) and labels, by recording name."""

    keys: list[str]
    caches: list  # FeatureCache objects (emofusion.data.cache)
    labels: object  # LabelCache
    paths: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._fidx = [_index(c) for c in self.caches]
        # frames every cache covers (equal for labelled recordings, checked by build_training_data)
        self._len = {n: min(int(c.lengths[idx[n]]) for c, idx in zip(self.caches, self._fidx, strict=True))
                     for n in self._fidx[0]}
        self._lidx = _index(self.labels)
        test = getattr(self.labels, "test", None)
        self._tidx = _index(test) if test is not None else {}

    @property
    def dim(self) -> int:
        return int(sum(c.X.shape[1] for c in self.caches))

    @property
    def names(self) -> list[str]:
        return [str(n) for n in self.caches[0].names]

    def partition(self, part: str) -> list[str]:
        return [n for n in self.names if n.split("_")[0] == part]

    def length(self, name: str) -> int:
        return self._len[name]

    def features(self, name: str) -> np.ndarray:
        """``(T, D)`` float32: the caches' rows for ``name``, concatenated along features."""
        n = self._len[name]
        parts = [_rows(c.X, c.offsets, idx[name])[:n] for c, idx in zip(self.caches, self._fidx, strict=True)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def targets(self, name: str) -> np.ndarray | None:
        """``(T, 3)`` labels used for training/dev, or None (an unlabelled Test recording)."""
        i = self._lidx.get(name)
        return None if i is None else _rows(self.labels.Y, self.labels.offsets, i)

    def test_targets(self, name: str) -> np.ndarray | None:
        """Test labels kept apart for scoring only (generated corpus); None when unknown."""
        i = self._tidx.get(name)
        return None if i is None else _rows(self.labels.test.Y, self.labels.test.offsets, i)


def build_training_data(caches: Sequence, labels, paths: Sequence[Path] | None = None,
                        labels_path: Path | None = None) -> TrainingData:
    """Check that ``caches`` (early fusion) and ``labels`` line up, and wrap them.

    Every cache must hold the same recording names with the same lengths; every labelled
    recording must have features of exactly its label length; every Train/Devel recording in the
    caches must have labels. Each violation is one DataError naming the cache file and recording.
    """
    if not caches:
        raise ValueError("build_training_data: no feature cache given")
    paths = [Path(p) for p in paths] if paths is not None else [Path(f"<{c.key}>") for c in caches]
    keys = [str(c.key) for c in caches]
    if len(set(keys)) != len(keys):
        raise DataError(paths[0], f"the same feature set is given twice: {keys}")
    ref, ref_path = caches[0], paths[0]
    ref_names = [str(n) for n in ref.names]
    ref_len = {n: int(x) for n, x in zip(ref_names, ref.lengths, strict=True)}
    for c, p in zip(caches[1:], paths[1:], strict=True):
        names = [str(n) for n in c.names]
        if names != ref_names:
            a, b = set(ref_names), set(names)
            only = sorted(b - a)[:3] or sorted(a - b)[:3]
            where = p if sorted(b - a) else ref_path
            raise DataError(where, f"recordings differ between {ref_path.name} ({len(a)}) and {p.name} "
                                   f"({len(b)}): e.g. {', '.join(only) or 'same set, different order'} "
                                   f"(early fusion needs the same recordings in every cache)")
    lpath = labels_path or Path("<labels>")
    lab_len = {str(n): int(x) for n, x in zip(labels.names, labels.lengths, strict=True)}
    for c, p in zip(caches[1:], paths[1:], strict=True):
        for n, x in zip((str(n) for n in c.names), c.lengths, strict=True):
            if int(x) != ref_len[n] and n in lab_len:
                raise DataError(p, f"recording {n} has {int(x)} frames here but {ref_len[n]} in "
                                   f"{ref_path.name} (early fusion aligns frames by recording)")
    for n, x in lab_len.items():
        if n not in ref_len:
            raise DataError(ref_path, f"no features for labelled recording {n} (labels: {lpath})")
        if ref_len[n] != x:
            raise DataError(ref_path, f"recording {n} has {ref_len[n]} feature frames but {x} label "
                                      f"frames in {lpath}")
    for n in ref_names:
        if n.split("_")[0] in ("Train", "Devel") and n not in lab_len:
            raise DataError(lpath, f"no labels for recording {n} (present in {ref_path.name})")
    return TrainingData(keys=keys, caches=list(caches), labels=labels, paths=list(paths))


def load_training_data(feature_caches: Sequence[str | Path], labels_cache: str | Path) -> TrainingData:
    """Load the caches (:mod:`emofusion.data.cache`) and :func:`build_training_data` them."""
    from ..data.cache import load_feature_cache, load_label_cache

    paths = [Path(p) for p in feature_caches]
    caches = [load_feature_cache(p) for p in paths]
    labels = load_label_cache(labels_cache)
    return build_training_data(caches, labels, paths, Path(labels_cache))


def shift_targets(y: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """``(y_shifted (T, K), valid (T,) bool)``: frame t's target is y[t + shift]; the last
    ``shift`` frames have none (zeros, invalid)."""
    t = y.shape[0]
    out = np.zeros_like(y)
    valid = np.zeros(t, dtype=bool)
    if shift < t:
        out[: t - shift] = y[shift:]
        valid[: t - shift] = True
    return out, valid


def unshift_predictions(p: np.ndarray, shift: int) -> np.ndarray:
    """Undo :func:`shift_targets` on model outputs: frame t gets output t - shift (the first
    ``shift`` frames repeat output 0). Length is kept."""
    if shift == 0 or p.shape[0] == 0:
        return p
    idx = np.maximum(np.arange(p.shape[0]) - shift, 0)
    return p[idx]


class SequenceDataset:
    """Items of one list of recordings: ``{"x": (T, D), "y": (T, 3), "valid": (T,), "idx": i}``.

    ``shift`` applies :func:`shift_targets` (training); ``max_frames`` crops each recording to its
    first frames (a speed option); recordings without labels get zero targets and no valid frame.
    """

    def __init__(self, data: TrainingData, names: Sequence[str], shift: int = 0, max_frames: int | None = None):
        self.data = data
        self.names = list(names)
        self.shift = int(shift)
        self.max_frames = max_frames

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict:
        name = self.names[i]
        x = self.data.features(name)
        y = self.data.targets(name)
        if y is None:
            y = np.zeros((x.shape[0], 3), dtype=np.float32)
            valid = np.zeros(x.shape[0], dtype=bool)
        else:
            y, valid = shift_targets(np.asarray(y, dtype=np.float32), self.shift)
        if self.max_frames is not None:
            x, y, valid = x[: self.max_frames], y[: self.max_frames], valid[: self.max_frames]
        return {"x": x, "y": y, "valid": valid, "idx": i}


def collate(items: list[dict]) -> dict:
    """Zero-pad a list of items at the end: x (B, T, D), y (B, T, 3), mask (B, T) bool,
    lengths (B,) int64, idx (B,) int64 (torch tensors)."""
    import torch

    lengths = [it["x"].shape[0] for it in items]
    tmax, d = max(lengths), items[0]["x"].shape[1]
    b = len(items)
    x = np.zeros((b, tmax, d), dtype=np.float32)
    y = np.zeros((b, tmax, 3), dtype=np.float32)
    mask = np.zeros((b, tmax), dtype=bool)
    for j, it in enumerate(items):
        n = lengths[j]
        x[j, :n] = it["x"]
        y[j, :n] = it["y"]
        mask[j, :n] = it["valid"]
    return {"x": torch.from_numpy(x), "y": torch.from_numpy(y), "mask": torch.from_numpy(mask),
            "lengths": torch.as_tensor(lengths, dtype=torch.int64),
            "idx": torch.as_tensor([it["idx"] for it in items], dtype=torch.int64)}
