"""Uncertainty: recording-level bootstrap intervals of prediction folders
(:func:`emofusion.results.metrics.bootstrap_ccc`, :func:`~emofusion.results.metrics.paired_bootstrap`),
with the settings (:data:`BOOTSTRAP`) every interval in the tables and figures uses and the sentence
that describes them (:func:`bootstrap_note`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Bootstrap settings of every interval in the tables and figures: resamples of recordings
#: (stratified by culture), seed, and the interval's level.
BOOTSTRAP: dict[str, Any] = {"n_boot": 1000, "seed": 0, "level": 0.95}
SPLITS = ("devel", "test")


class Scorer:
    """Dev (and, where known, test) labels of one label cache, and bootstrap intervals of prediction
    folders against them. ``folder`` is any AVEC-format prediction folder (a run's or a fusion
    stage's ``predictions/``); results are cached per folder."""

    def __init__(self, labels_npz: str | Path):
        from ..data.cache import load_label_cache

        cache = load_label_cache(labels_npz)
        self.path = str(labels_npz)
        self.labels: dict[str, dict] = {"devel": {n: cache.get(n) for n in cache.names if n.startswith("Devel_")}}
        if cache.test is not None and cache.test.names:
            self.labels["test"] = {n: cache.test.get(n) for n in cache.test.names}
        self._preds: dict[tuple[str, str], dict] = {}
        self._ivals: dict[str, dict] = {}

    @property
    def splits(self) -> list[str]:
        """The scored splits: ``devel``, and ``test`` where its labels are known."""
        return [s for s in SPLITS if s in self.labels]

    @property
    def loaded(self) -> int:
        """How many (prediction folder, split) pairs have been read so far."""
        return len(self._preds)

    def preds(self, folder: str | Path, split: str) -> dict:
        """``{recording: predictions}`` of ``folder`` for the recordings of ``split`` (cached)."""
        from ..data.layout import read_prediction_dir

        key = (str(folder), split)
        if key not in self._preds:
            lengths = {n: len(v) for n, v in self.labels[split].items()}
            self._preds[key] = read_prediction_dir(folder, lengths)
        return self._preds[key]

    def intervals(self, folder: str | Path) -> dict:
        """``{split: {group: {target: {"ccc", "lo", "hi"}}}}`` (:func:`emofusion.results.metrics.bootstrap_ccc`)."""
        from .metrics import bootstrap_ccc

        key = str(folder)
        if key not in self._ivals:
            self._ivals[key] = {sp: bootstrap_ccc(self.labels[sp], self.preds(folder, sp), **BOOTSTRAP)
                                for sp in self.splits}
        return self._ivals[key]

    def paired(self, folder_a: str | Path, folder_b: str | Path) -> dict:
        """``{split: {group: {target: {"a", "b", "diff", "lo", "hi", "p_gt0"}}}}``: b against a."""
        from .metrics import paired_bootstrap

        return {sp: paired_bootstrap(self.labels[sp], self.preds(folder_a, sp), self.preds(folder_b, sp),
                                     **BOOTSTRAP) for sp in self.splits}


def bootstrap_note() -> str:
    """The sentence that says how every interval was computed (:data:`BOOTSTRAP`), for a table's notes."""
    return (f"Intervals: {100 * BOOTSTRAP['level']:g} % percentile intervals of a recording-level bootstrap "
            f"({BOOTSTRAP['n_boot']} resamples of the scored recordings, drawn with replacement within each "
            f"culture, seed {BOOTSTRAP['seed']}; CCC recomputed on each resample's concatenated frames).")
