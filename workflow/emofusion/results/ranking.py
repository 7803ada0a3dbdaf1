"""Run ranking and seed aggregation. Reads the runs' scores files, never MLflow (docs/pipeline.md).

A run folder ``results/runs/{run}/`` holds one ``seed{N}/`` folder per seed (predictions/,
scores.json, model.ckpt) and the run's aggregate: ``scores.json`` (per-seed-mean CCCs in the
docs/contracts.md shape, plus ``sd`` and ``seeds``) and ``predictions/`` (with one seed, that
seed's predictions; with several, their frame-wise mean -- a seed ensemble, which the fusion uses).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import SCORE_COLUMNS, TARGETS
from ..errors import DataError
from ..formats import pooled_group, read_ranking, read_scores, write_ranking, write_scores


def run_name(sets: Sequence[str]) -> str:
    """Feature-set keys joined by '+' in sorted order (docs/contracts.md)."""
    return "+".join(sorted(sets))


def pairs(sets: Sequence[str]) -> list[str]:
    """All unordered pairs of ``sets`` as run names, sorted."""
    return sorted(run_name(p) for p in itertools.combinations(sorted(set(sets)), 2))


def _mean_sd(blocks: list[Mapping]) -> tuple[dict, dict]:
    mean, sd = {}, {}
    for group in blocks[0]:
        mean[group] = {c: float(np.mean([b[group][c] for b in blocks])) for c in SCORE_COLUMNS}
        sd[group] = {c: float(np.std([b[group][c] for b in blocks])) for c in SCORE_COLUMNS}
    return mean, sd


def aggregate_seeds(seed_dirs: Sequence[str | Path], out_dir: str | Path) -> dict:
    """Write ``out_dir/predictions/`` and ``out_dir/scores.json`` from per-seed run folders."""
    from ..data.layout import write_prediction_dir

    seed_dirs = [Path(d) for d in seed_dirs]
    out_dir = Path(out_dir)
    scores = [read_scores(d / "scores.json") for d in seed_dirs]
    result: dict = {"seeds": [d.name for d in seed_dirs]}
    sd: dict = {}
    for split in ("devel", "test"):
        if all(split in s for s in scores):
            result[split], sd[split] = _mean_sd([s[split] for s in scores])
    result["sd"] = sd
    write_prediction_dir(out_dir / "predictions", mean_over_seeds([d / "predictions" for d in seed_dirs]))
    write_scores(out_dir / "scores.json", result)
    return result


def mean_over_seeds(pred_dirs: Sequence[str | Path]) -> dict[str, np.ndarray]:
    """A run's predictions over seeds: per recording, the mean of the seeds' AVEC files (read back as
    written, 6 decimals), cropped to the shortest; the one rule for the workflow and ``emofusion predict``."""
    from ..data.layout import read_prediction_dir

    pred_dirs = [Path(d) for d in pred_dirs]
    preds = [read_prediction_dir(d) for d in pred_dirs]
    mean = {}
    for name in preds[0]:
        lacking = [d for d, p in zip(pred_dirs, preds, strict=True) if name not in p]
        if lacking:
            raise DataError(lacking[0] / f"{name}.csv", "prediction file missing")
        arrays = [p[name] for p in preds]
        n = min(a.shape[0] for a in arrays)
        mean[name] = np.mean([a[:n] for a in arrays], axis=0)
    return mean


def rank_runs(score_files: Mapping[str, str | Path], top: int, out_tsv: str | Path,
              kinds: Mapping[str, str] | None = None) -> list[str]:
    """Rank runs by mean dev CCC (DE+HU, mean over seeds); write a TSV; return the top ``top`` names.

    Ties are broken by run name so the ranking is deterministic.
    """
    rows = []
    for run, path in score_files.items():
        s = read_scores(path)
        dev = s["devel"]
        key = pooled_group(dev)
        sd = s.get("sd", {}).get("devel", {}).get(key, {})
        rows.append({"run": run, "kind": (kinds or {}).get(run, "bimodal" if "+" in run else "unimodal"),
                     "dev": dev[key], "mean_sd": sd.get("mean", 0.0), "seeds": len(s.get("seeds", [1]))})
    if top > len(rows):
        raise ValueError(f"top {top} is larger than the {len(rows)} runs available")
    rows.sort(key=lambda r: (-r["dev"]["mean"], r["run"]))
    for i, r in enumerate(rows, start=1):
        r["selected"] = i <= top
    write_ranking(out_tsv, rows)
    return [r["run"] for r in rows[:top]]


def rank_job(score_files: Sequence[str | Path], runs: Sequence[str], out_tsv: str | Path, *, top: int) -> None:
    """The workflow's ranking jobs (``rank_unimodal``, ``rank_runs``): :func:`rank_runs`, and the
    ranking as the job's log shows it."""
    print(f"read {len(score_files)} scores files: {', '.join(map(str, score_files))}")
    selected = rank_runs(dict(zip(runs, score_files, strict=True)), top, out_tsv)
    rows = read_ranking(out_tsv)
    print(f"ranked {len(rows)} runs by mean dev CCC (DE+HU: mean of arousal, valence, liking; mean over "
          f"seeds); selected the top {top}:")
    for r in rows:
        print(f"  {r['rank']:>3}. {r['run']:<32} mean {r['mean']:.3f}  (arousal {r['arousal']:.3f}, "
              f"valence {r['valence']:.3f}, liking {r['liking']:.3f})" + ("  SELECTED" if r["selected"] else ""))
    print(f"selected: {', '.join(selected)}")
    print(f"wrote {out_tsv}")


def planted_agreement(unimodal_tsv: str | Path, truth_json: str | Path) -> dict:
    """How well a unimodal ranking recovers a generated corpus' planted truth.

    Returns the Spearman rank correlation between each set's measured mean dev CCC and its planted
    mean informativeness (``truth.json``), the noise-only sets (informativeness 0 everywhere), and
    the best set's and the noise sets' mean dev CCC.
    """
    from scipy.stats import spearmanr

    truth = json.loads(Path(truth_json).read_text())["informativeness"]
    measured = {r["run"]: r["mean"] for r in read_ranking(unimodal_tsv)}
    sets = [s for s in measured if s in truth]
    planted = {s: float(np.mean([truth[s][t] for t in TARGETS])) for s in sets}
    rho = spearmanr([measured[s] for s in sets], [planted[s] for s in sets]).statistic
    noise = [s for s in sets if planted[s] == 0.0]
    return {"spearman": float(rho), "n_sets": len(sets), "noise_sets": noise,
            "best": max(sets, key=lambda s: measured[s]), "best_mean": max(measured[s] for s in sets),
            "noise_mean": {s: measured[s] for s in noise}, "measured": measured, "planted": planted}
