"""The face sets derived from the face LLD files, over time windows of the frames with a face.

From the ``face`` LLD files (:mod:`emofusion.data.face_tracker` writes them, one per recording;
:func:`emofusion.data.face.read_face_file` reads them), one job per derived set:

* ``face_func``: mean and population standard deviation of the 13 LLD columns over the frames
  *with a face* within a 4 s window centred on each 0.1 s frame (by time, since the frame rate is
  the video's); a 0.1 s frame whose window holds no face takes the values of the nearest frame
  whose window holds one. 26 columns;
* ``bovw_face``: a bag of 100 visual words over the same windows, through the audio bag-of-words
  code (Train-only codebook, k-means++ seeding, seed 10, ``log10(1 + count)``), counting the frames
  with a face only (a window without a face is a bag of zeros). The LLDs are standardised with the
  Train statistics first: AVEC's visual bags skipped that, as its 17 AU intensities share one
  0-5 scale, but here pose in degrees and shape ratios do not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io import atomic_write_text
from .audio import (
    BOAW_SEED,
    BOAW_SIZE,
    FUNC_WINDOW_S,
    Codebook,
    format_feature_csv,
    frame_times,
    write_bag_files,
    write_train_codebook,
)
from .face import FACE_COLUMNS, read_face_file
from .layout import FRAME_S

# --------------------------------------------------------------------------------------------------
# functionals and bags of visual words, over time windows of the frames with a face


def _frame_count(times: np.ndarray) -> int:
    return int(math.floor(times[-1] / FRAME_S + 1e-6)) + 1 if times.size else 0


def _windows(times: np.ndarray, n_out: int, window_s: float) -> tuple[np.ndarray, np.ndarray]:
    c = np.arange(n_out) * FRAME_S
    half = window_s / 2
    return (np.searchsorted(times, c - half - 1e-9, side="left"),
            np.searchsorted(times, c + half + 1e-9, side="right"))


def _fill_empty(out: np.ndarray, empty: np.ndarray) -> np.ndarray:
    """Rows where ``empty`` take the nearest row that is not (ties: the earlier)."""
    if not empty.any():
        return out
    full = np.flatnonzero(~empty)
    idx = np.arange(out.shape[0])
    j = np.clip(np.searchsorted(full, idx), 1, max(full.size - 1, 1)) if full.size > 1 else np.zeros_like(idx)
    if full.size > 1:
        left = full[j - 1]
        right = full[j]
        j = np.where(np.abs(idx - left) <= np.abs(right - idx), left, right)
    else:
        j = np.full_like(idx, full[0])
    out[empty] = out[j[empty]]
    return out


def face_functionals(times: np.ndarray, X: np.ndarray, valid: np.ndarray, *,
                     window_s: float = FUNC_WINDOW_S) -> np.ndarray:
    """``(frames, 2d)`` at 0.1 s: mean then population std of each column over the frames with a
    face within ``window_s`` centred on each frame (module docstring)."""
    n_out = _frame_count(times)
    tv, Xv = times[valid], np.asarray(X, np.float64)[valid]
    lo, hi = _windows(tv, n_out, window_s)
    mu0 = Xv.mean(axis=0)
    Xc = Xv - mu0
    cs = np.zeros((Xv.shape[0] + 1, Xv.shape[1]))
    cs2 = np.zeros_like(cs)
    np.cumsum(Xc, axis=0, out=cs[1:])
    np.cumsum(Xc * Xc, axis=0, out=cs2[1:])
    n = np.maximum(hi - lo, 1)[:, None].astype(np.float64)
    mean = (cs[hi] - cs[lo]) / n
    var = np.maximum((cs2[hi] - cs2[lo]) / n - mean**2, 0.0)
    out = np.concatenate([mean + mu0, np.sqrt(var)], axis=1)
    return _fill_empty(out, hi == lo)


def face_bags(times: np.ndarray, X: np.ndarray, valid: np.ndarray, codebook: Codebook, *,
              window_s: float = FUNC_WINDOW_S) -> np.ndarray:
    """``(frames, size)`` at 0.1 s: ``log10(1 + count)`` of each word among the frames with a face
    in each frame's window."""
    n_out = _frame_count(times)
    tv = times[valid]
    size = codebook.words.shape[0]
    words = codebook.assign(np.asarray(X, np.float64)[valid])
    onehot = np.zeros((words.size + 1, size), dtype=np.int64)
    onehot[np.arange(1, words.size + 1), words] = 1
    cs = np.cumsum(onehot, axis=0)
    lo, hi = _windows(tv, n_out, window_s)
    return np.log10(1.0 + (cs[hi] - cs[lo]))


def write_face_functionals(lld_csvs: Sequence[str | Path], out_dir: str | Path, *,
                           window_s: float = FUNC_WINDOW_S) -> None:
    out_dir = Path(out_dir)
    names = [f"{c}_amean" for c in FACE_COLUMNS] + [f"{c}_stddev" for c in FACE_COLUMNS]
    for f in map(Path, lld_csvs):
        t, X, v = read_face_file(f)
        F = face_functionals(t, X, v, window_s=window_s)
        atomic_write_text(out_dir / f.name, format_feature_csv(f.stem, frame_times(F.shape[0]), F, names))


def _face_rows(path: Path) -> np.ndarray:
    """The LLD rows of the frames with a face of one face LLD file."""
    _, X, v = read_face_file(path)
    return X[v]


def write_face_codebook(lld_csvs: Sequence[str | Path], out_npz: str | Path, *, size: int = BOAW_SIZE,
                        seed: int = BOAW_SEED) -> Codebook:
    """The codebook of the face LLDs from the Train files' frames with a face (others ignored)."""
    return write_train_codebook(lld_csvs, out_npz, _face_rows, lld="face", size=size, seed=seed)


def write_face_bags(lld_csvs: Sequence[str | Path], codebook_npz: str | Path, out_dir: str | Path, *,
                    window_s: float = FUNC_WINDOW_S) -> None:
    write_bag_files(lld_csvs, codebook_npz, out_dir, lambda f, cb: face_bags(*read_face_file(f), cb, window_s=window_s))
