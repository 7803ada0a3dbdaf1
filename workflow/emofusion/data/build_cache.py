"""Building the caches of a data root: every recording of a set read, checked, aligned, normalised, saved.

:func:`build_feature_cache` lists the recordings a set's folder must hold
(:mod:`emofusion.data.recordings`), aligns each to its label frames
(:mod:`emofusion.data.alignment`), z-normalises with the Train statistics
(:mod:`emofusion.data.normalisation`) and writes the feature cache (:mod:`emofusion.data.cache`);
:func:`build_label_cache` stacks the label files into the label cache. Nothing is written when a
check fails. :func:`cache_labels_job` and :func:`cache_features_job` are the workflow's cache
rules' jobs (a rule's paths, and its data settings as one :class:`~emofusion.data_spec.DataSpec`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..data_spec import CULTURES, DataSpec
from ..errors import DataError
from .alignment import EXPECTED_STEP, MAX_FRAMES, PAD_TOLERANCE, Warn, iter_aligned
from .cache import FeatureCache, LabelCache, offsets_of, save_feature_cache, save_label_cache
from .feature_sets import get_feature_set
from .layout import FRAME_S, PARTITIONS, read_label_file
from .normalisation import is_train, normalise_train_only
from .recordings import LABEL_RANGE, check_recording_sets, expected_recordings, label_index, label_names


def _stack_labels(folder: Path, names: list[str], label_range: tuple[float, float] | None) -> LabelCache:
    ys = [read_label_file(folder / f"{n}.csv", label_range)[1].astype(np.float32) for n in names]
    lengths = np.array([len(y) for y in ys], dtype=np.int64)
    Y = np.concatenate(ys) if ys else np.zeros((0, 3), dtype=np.float32)
    return LabelCache(list(names), lengths, offsets_of(lengths), Y)


def build_label_cache(data_root: str | Path, out_path: str | Path | None,
                      partitions: Iterable[str] = ("Train", "Devel"), cultures: Iterable[str] = CULTURES, *,
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


def build_feature_cache(data_root: str | Path, key: str, out_path: str | Path | None, *, folder: str | None = None,
                        partitions: Iterable[str] = PARTITIONS, cultures: Iterable[str] = CULTURES,
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
    if not any(is_train(n) for n in names):
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
    offsets = offsets_of(lengths)
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


def cache_labels_job(out_npz: str | Path, *, data_root: str | Path, data: DataSpec) -> None:
    """The workflow's ``cache_labels`` job: the Train and Devel label cache of ``data``'s cultures,
    every label within its label range."""
    build_label_cache(data_root, out_npz, partitions=("Train", "Devel"), cultures=data.cultures,
                      label_range=data.label_range)


def cache_features_job(out_npz: str | Path, *, key: str, data_root: str | Path, entry: Mapping,
                       data: DataSpec) -> None:
    """The workflow's ``cache_features`` job. ``entry``: the set's own config entry as the rule passes
    it (folder, and format when the set's files are not in the AVEC layout); ``data``: the data
    settings (its ``window_s`` the set's own where the entry gives one)."""
    build_feature_cache(data_root, key, out_npz, folder=entry["folder"], cultures=data.cultures,
                        window_s=data.window_s, pad_tolerance=data.pad_tolerance, label_range=data.label_range,
                        max_frames=data.max_frames, fmt=entry.get("format", "avec"))
