"""The small files the workflow's rules hand each other: each one is written, read and checked by
the functions here and nowhere else (docs/contracts.md gives the layouts).

=====================  ============================================================================
scores.json            :func:`write_scores`; :func:`read_scores` (checked); :func:`pooled_group`
ranking TSV            :func:`write_ranking`; :func:`read_ranking` (checked); :func:`read_selected`
(``results/ranking/``)
tracking.json          :func:`write_tracking`; :func:`read_tracking` (checked)
weights.json           :func:`write_weights`; :func:`read_weights` (checked)
(``results/search/``)
=====================  ============================================================================

The other exchanged files have one owner each elsewhere: prediction folders (AVEC CSV)
:func:`emofusion.data.layout.write_prediction_dir` / :func:`emofusion.data.layout.read_prediction_dir`;
``results/fusion/summary.tsv`` :func:`emofusion.fusion.summary.write_summary`; every atomic write
:mod:`emofusion.io`. The score columns are :data:`emofusion.SCORE_COLUMNS`.

Light to import (the workflow reads the ranking while it is parsed): no numpy, no torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import SCORE_COLUMNS
from .errors import DataError
from .io import atomic_write_json, atomic_write_text


def read_json(path: str | Path, what: str) -> Any:
    """A JSON file's content; unreadable or not JSON is a DataError naming ``what``, the file and the line."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise DataError(path, f"cannot read {what}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None


# --------------------------------------------------------------------------------------------- scores.json


def pooled_group(block: Mapping[str, Any]) -> str:
    """The all-cultures group of a scores block (``scores["devel"]``): its first key, ``"DE+HU"`` on
    the paper's data. :func:`emofusion.results.metrics.score_recordings` writes it first, then one group
    per culture."""
    return next(iter(block))


def write_scores(path: str | Path, scores: Mapping[str, Any]) -> None:
    """A scores.json: ``{"devel": {group: {target: CCC, .., "mean": ..}}, "test": {..}?, ..}``
    (other keys, e.g. a fusion stage's settings, follow), atomically."""
    atomic_write_json(path, scores)


def read_scores(path: str | Path) -> dict:
    """A scores.json, checked: ``devel`` (and ``test`` when present) map each culture group, the
    pooled one first, to the four numbers. A bad file is a DataError naming it (and the line)."""
    path = Path(path)
    data = read_json(path, "scores file")
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object with a 'devel' key")
    for split in ("devel", "test"):
        if split not in data:
            if split == "devel":
                raise DataError(path, "key 'devel' is missing")
            continue
        block = data[split]
        if not isinstance(block, dict) or not block:
            raise DataError(path, f"key '{split}': expected culture groups, got {block!r}")
        for group, row in block.items():
            if not isinstance(row, dict):
                raise DataError(path, f"key '{split}.{group}' is missing")
            for c in SCORE_COLUMNS:
                v = row.get(c)
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise DataError(path, f"key '{split}.{group}.{c}': expected a number, got {v!r}")
    return data


# --------------------------------------------------------------------------------------------- ranking TSV

#: Columns of a ranking TSV, in order (``rank`` from 1; ``selected`` 1 or 0).
RANKING_COLUMNS = ("rank", "run", "kind", *SCORE_COLUMNS, "mean_sd", "seeds", "selected")


def write_ranking(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """A ranking TSV from ``rows`` in rank order: each ``{"run", "kind", "dev": {column: CCC},
    "mean_sd", "seeds", "selected"}``; CCCs with 6 decimals, atomically."""
    lines = ["\t".join(RANKING_COLUMNS)]
    for i, r in enumerate(rows, start=1):
        vals = "\t".join(f"{r['dev'][c]:.6f}" for c in SCORE_COLUMNS)
        lines.append(f"{i}\t{r['run']}\t{r['kind']}\t{vals}\t{r['mean_sd']:.6f}\t{r['seeds']}\t{int(r['selected'])}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_ranking(tsv: str | Path) -> list[dict]:
    """Rows of a ranking TSV as dicts, in rank order, numbers parsed (``rank`` int, ``selected``
    bool); checked. A bad file is a DataError naming it, the line and the column."""
    tsv = Path(tsv)
    try:
        lines = tsv.read_text().splitlines()
    except OSError as exc:
        raise DataError(tsv, f"cannot read ranking: {exc.strerror or exc}") from None
    if not lines:
        raise DataError(tsv, "empty ranking file")
    header = lines[0].split("\t")
    need = ("rank", "run", "kind", *SCORE_COLUMNS, "selected")
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(tsv, f"header lacks column {missing[0]!r}", line=1)
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(tsv, f"expected {len(header)} tab-separated fields, got {len(fields)}", line=i)
        row: dict[str, Any] = dict(zip(header, fields, strict=True))
        for c in (*SCORE_COLUMNS, "mean_sd"):
            if c in row:
                try:
                    row[c] = float(row[c])
                except ValueError:
                    raise DataError(tsv, f"not a number: {row[c]!r}", line=i, column=c) from None
        row["rank"] = int(row["rank"])
        row["selected"] = row["selected"] == "1"
        rows.append(row)
    if not rows:
        raise DataError(tsv, "no runs in the ranking")
    return sorted(rows, key=lambda r: r["rank"])


def read_selected(tsv: str | Path) -> list[str]:
    """The runs marked selected in a ranking TSV, in rank order."""
    return [r["run"] for r in read_ranking(tsv) if r["selected"]]


# --------------------------------------------------------------------------------------------- tracking.json

TRACKING_KEYS = ("tracking_uri", "experiment_name", "experiment_id")


def write_tracking(path: str | Path, tracking_uri: str, experiment_name: str, experiment_id: str,
                   runs_view: str) -> None:
    """The tracking file: where every job logs (MLflow store and experiment), atomically."""
    atomic_write_json(path, {"tracking_uri": tracking_uri, "experiment_name": experiment_name,
                             "experiment_id": experiment_id, "runs_view": runs_view})


def read_tracking(path: str | Path) -> dict:
    """The tracking file, checked: ``tracking_uri``, ``experiment_name`` and ``experiment_id``."""
    path = Path(path)
    data = read_json(path, "tracking file")
    missing = [k for k in TRACKING_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise DataError(path, f"not a tracking file (no {missing[0]!r}; run init-tracking first)")
    return data


# --------------------------------------------------------------------------------------------- weights.json

WEIGHT_KEYS = ("alpha", "beta", "gamma")


def write_weights(out_json: str | Path, weights: Mapping[str, float]) -> None:
    """The weights a search run was trained with, beside its scores (read by the search table)."""
    atomic_write_json(out_json, {k: float(weights[k]) for k in WEIGHT_KEYS})


def read_weights(path: str | Path) -> dict[str, float]:
    """A search run's weights file, checked: ``{"alpha", "beta", "gamma"}`` as numbers."""
    try:
        w = json.loads(Path(path).read_text())
        return {k: float(w[k]) for k in WEIGHT_KEYS}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(path, f"expected {{alpha, beta, gamma}} numbers: {exc}") from None
