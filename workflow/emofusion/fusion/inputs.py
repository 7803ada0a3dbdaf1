"""The fusion's inputs: the labels and the runs' prediction folders, read into the channels every
fit and every re-application of a chain works on.

A recording's channels are ``(frames, 3 * R)`` float32: the R runs' predictions of the TARGETS, run
by run in name order (:func:`ordered_runs`), whatever order the command line or the ranking gives.
Labels pass through :func:`fusion_labels`, so the CLI (label CSVs) and the workflow (its float32
label cache) fit the same problem to the last bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..data.layout import list_recordings, read_prediction_dir
from ..errors import DataError


def fusion_labels(labels: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """Labels as every fusion caller fits and scores them: rounded to float32 (the workflow's label
    cache holds float32), then float64. The CLI reads label CSVs, the workflow its cache: both pass
    through here, so both fit the same problem to the last bit."""
    if labels is None:
        return None
    return {n: np.asarray(v, dtype=np.float32).astype(np.float64) for n, v in labels.items()}


def labels_from_cache(labels_cache: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Devel labels and test labels (None where unknown) from the workflow's label cache, as
    :func:`fusion_labels` gives them."""
    from ..data.cache import load_label_cache

    labels = load_label_cache(labels_cache)
    devel = {n: labels.get(n) for n in labels.names if n.startswith("Devel_")}
    test = None if labels.test is None else {n: labels.test.get(n) for n in labels.test.names}
    return fusion_labels(devel), fusion_labels(test)


def ordered_runs(run_dirs: Mapping[str, Path]) -> dict[str, Path]:
    """Runs in the one order fusion uses: by name (the design's columns, hence where the solver
    stops, follow it; argument order on the command line or rank order in the workflow must not)."""
    return {r: Path(run_dirs[r]) for r in sorted(run_dirs)}


def load_runs(labels: Mapping[str, np.ndarray], run_dirs: Mapping[str, Path]
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Read every run folder; returns (dev channels, test channels, notes).

    Channels of a recording are ``(frames, 3 * R)`` float32, run by run in name order
    (:func:`ordered_runs`, whatever the order of ``run_dirs``), TARGETS
    within a run. Devel predictions are cropped to the label length; test recordings to the
    shortest file across runs. Misaligned inputs (a missing recording, a short file, a different
    set of test recordings) raise one DataError naming the run and the recording.
    """
    if not run_dirs:
        raise DataError(None, "fusion needs at least one prediction folder")
    if not labels:
        raise DataError(None, "fusion needs Devel labels (none given)")
    run_dirs = ordered_runs(run_dirs)
    lengths = {n: int(np.asarray(v).shape[0]) for n, v in labels.items()}
    dev_tables: dict[str, dict[str, np.ndarray]] = {}
    test_sets: dict[str, list[str]] = {}
    for run, folder in run_dirs.items():
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(folder, f"run {run!r}: predictions folder not found")
        missing = [n for n in sorted(lengths) if not (folder / f"{n}.csv").is_file()]
        if missing:
            raise DataError(folder / f"{missing[0]}.csv",
                            f"run {run!r} has no prediction for recording {missing[0]}"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        try:
            dev_tables[run] = read_prediction_dir(folder, lengths)
        except DataError as exc:
            raise DataError(exc.path, f"run {run!r}: {exc.message}", exc.line, exc.column) from None
        test_sets[run] = list_recordings(folder, partitions=["Test"])
    runs = list(run_dirs)
    ref_test = set(test_sets[runs[0]])
    for run in runs[1:]:
        diff = sorted(ref_test.symmetric_difference(test_sets[run]))
        if diff:
            holder = runs[0] if diff[0] in ref_test else run
            lacker = run if holder == runs[0] else runs[0]
            raise DataError(Path(run_dirs[lacker]) / f"{diff[0]}.csv",
                            f"test recording {diff[0]} is in run {holder!r} but not in run {lacker!r}")
    dev = {n: np.concatenate([dev_tables[r][n] for r in runs], axis=1).astype(np.float32) for n in sorted(lengths)}
    test, cropped = stack_unlabelled(run_dirs, sorted(ref_test))
    return dev, test, {"test_cropped": cropped}


def stack_unlabelled(run_dirs: Mapping[str, Path], names: Sequence[str]) -> tuple[dict[str, np.ndarray], dict]:
    """The channels of recordings without labels (Test; new recordings in ``emofusion predict``):
    every run's whole file, run by run in name order, cropped to the shortest run's; returns
    (channels, {name: frames} of the recordings cropped)."""
    run_dirs = ordered_runs(run_dirs)
    tables = {r: read_prediction_dir(d, names=list(names)) for r, d in run_dirs.items()}
    out: dict[str, np.ndarray] = {}
    cropped: dict[str, int] = {}
    for name in names:
        vals = [tables[r][name] for r in run_dirs]
        n = min(v.shape[0] for v in vals)
        if max(v.shape[0] for v in vals) != n:
            cropped[name] = n
        out[name] = np.concatenate([v[:n] for v in vals], axis=1).astype(np.float32)
    return out, cropped
