"""The fusion summary: ``results/fusion/summary.tsv``, every stage of every protocol as one long
table, each CCC with its recording-level bootstrap interval (:data:`BOOTSTRAP`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import SCORE_COLUMNS
from ..data.layout import read_prediction_dir
from ..errors import DataError
from ..io import atomic_write_text
from .inputs import labels_from_cache

SUMMARY_COLUMNS = ["protocol", "stage", "split", "culture", *SCORE_COLUMNS,
                   *(f"{t}_{e}" for t in SCORE_COLUMNS for e in ("lo", "hi")), "solver_max_gap", "converged"]
BOOTSTRAP = {"n_boot": 1000, "seed": 0, "level": 0.95}  # the intervals of summary.tsv


def summarise(score_files: Sequence[str | Path], labels: Mapping[str, np.ndarray],
              test_labels: Mapping[str, np.ndarray] | None = None):
    """Long table of the given stage ``scores.json`` files (protocol and stage read from each), with
    a 95 % recording-level bootstrap interval (1000 resamples, stratified by culture, seeded) of every
    CCC, from the stage's ``predictions/`` beside its ``scores.json``."""
    import pandas as pd

    from ..formats import read_scores
    from ..results.metrics import bootstrap_ccc

    rows = []
    for f in score_files:
        f = Path(f)
        doc = read_scores(f)
        for key in ("protocol", "stage", "solver"):
            if key not in doc:
                raise DataError(f, f"not a fusion stage's scores.json (no {key!r})")
        for split, lab in (("devel", labels), ("test", test_labels)):
            if not doc.get(split):
                continue
            lab = {n: v for n, v in (lab or {}).items() if split == "devel" or n.startswith("Test_")}
            preds = read_prediction_dir(f.parent / "predictions", {n: len(v) for n, v in lab.items()})
            ci = bootstrap_ccc(lab, preds, **BOOTSTRAP)
            for cult, row in doc[split].items():
                bounds = {f"{t}_{e}": ci[cult][t][e] for t in SCORE_COLUMNS for e in ("lo", "hi")}
                rows.append({"protocol": doc["protocol"], "stage": int(doc["stage"]), "split": split,
                             "culture": cult, **{t: row[t] for t in SCORE_COLUMNS}, **bounds,
                             "solver_max_gap": doc["solver"]["max_gap"],
                             "converged": bool(doc["solver"]["converged"])})
    df = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return df.sort_values(["protocol", "stage"], kind="stable").reset_index(drop=True)


def write_summary(score_files: Sequence[str | Path], labels: Mapping[str, np.ndarray],
                  test_labels: Mapping[str, np.ndarray] | None, out_tsv: str | Path) -> None:
    df = summarise(score_files, labels, test_labels)
    atomic_write_text(out_tsv, df.to_csv(sep="\t", index=False, float_format="%.4g"))


def fusion_summary_job(score_files: Sequence[str | Path], labels_cache: str | Path, out_tsv: str | Path) -> None:
    """The workflow's ``fusion_summary`` job: :func:`write_summary` with the label cache's labels."""
    devel, test = labels_from_cache(labels_cache)
    write_summary(list(score_files), devel, test, Path(out_tsv))
    print(f"read: {len(score_files)} stage scores and their predictions; wrote: {out_tsv}", flush=True)
