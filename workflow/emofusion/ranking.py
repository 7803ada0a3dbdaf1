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

from . import TARGETS
from .io import atomic_dir, atomic_write_json, atomic_write_text

COLUMNS = (*TARGETS, "mean")


def run_name(sets: Sequence[str]) -> str:
    """Feature-set keys joined by '+' in sorted order (docs/contracts.md)."""
    return "+".join(sorted(sets))


def pairs(sets: Sequence[str]) -> list[str]:
    """All unordered pairs of ``sets`` as run names, sorted."""
    return sorted(run_name(p) for p in itertools.combinations(sorted(set(sets)), 2))


def _mean_sd(blocks: list[Mapping]) -> tuple[dict, dict]:
    mean, sd = {}, {}
    for group in blocks[0]:
        mean[group] = {c: float(np.mean([b[group][c] for b in blocks])) for c in COLUMNS}
        sd[group] = {c: float(np.std([b[group][c] for b in blocks])) for c in COLUMNS}
    return mean, sd


def aggregate_seeds(seed_dirs: Sequence[str | Path], out_dir: str | Path) -> dict:
    """Write ``out_dir/predictions/`` and ``out_dir/scores.json`` from per-seed run folders."""
    from .corpus import format_avec_csv, read_label_file

    seed_dirs = [Path(d) for d in seed_dirs]
    out_dir = Path(out_dir)
    scores = [json.loads((d / "scores.json").read_text()) for d in seed_dirs]
    result: dict = {"seeds": [d.name for d in seed_dirs]}
    sd: dict = {}
    for split in ("devel", "test"):
        if all(split in s for s in scores):
            result[split], sd[split] = _mean_sd([s[split] for s in scores])
    result["sd"] = sd
    names = sorted(p.stem for p in (seed_dirs[0] / "predictions").glob("*.csv"))
    with atomic_dir(out_dir / "predictions") as tmp:
        for name in names:
            arrays = [read_label_file(d / "predictions" / f"{name}.csv")[1] for d in seed_dirs]
            n = min(a.shape[0] for a in arrays)
            (tmp / f"{name}.csv").write_text(format_avec_csv(name, np.mean([a[:n] for a in arrays], axis=0)))
    atomic_write_json(out_dir / "scores.json", result)
    return result


def rank_runs(score_files: Mapping[str, str | Path], top: int, out_tsv: str | Path,
              kinds: Mapping[str, str] | None = None) -> list[str]:
    """Rank runs by mean dev CCC (DE+HU, mean over seeds); write a TSV; return the top ``top`` names.

    Ties are broken by run name so the ranking is deterministic.
    """
    rows = []
    for run, path in score_files.items():
        s = json.loads(Path(path).read_text())
        dev = s["devel"]
        key = next(iter(dev))  # the all-cultures group ("DE+HU") comes first
        sd = s.get("sd", {}).get("devel", {}).get(key, {})
        rows.append((run, dev[key], sd.get("mean", 0.0), len(s.get("seeds", [1]))))
    if top > len(rows):
        raise ValueError(f"top {top} is larger than the {len(rows)} runs available")
    rows.sort(key=lambda r: (-r[1]["mean"], r[0]))
    lines = ["rank\trun\tkind\tarousal\tvalence\tliking\tmean\tmean_sd\tseeds\tselected"]
    for i, (run, dev, sd, nseeds) in enumerate(rows, start=1):
        kind = (kinds or {}).get(run, "bimodal" if "+" in run else "unimodal")
        vals = "\t".join(f"{dev[c]:.6f}" for c in COLUMNS)
        lines.append(f"{i}\t{run}\t{kind}\t{vals}\t{sd:.6f}\t{nseeds}\t{int(i <= top)}")
    atomic_write_text(out_tsv, "\n".join(lines) + "\n")
    return [r[0] for r in rows[:top]]


def read_selected(tsv: str | Path) -> list[str]:
    """The runs marked selected in a ranking TSV, in rank order."""
    lines = Path(tsv).read_text().splitlines()
    header = lines[0].split("\t")
    i_run, i_sel = header.index("run"), header.index("selected")
    return [f[i_run] for f in (ln.split("\t") for ln in lines[1:] if ln) if f[i_sel] == "1"]


def planted_agreement(unimodal_tsv: str | Path, truth_json: str | Path) -> dict:
    """How well a unimodal ranking recovers a generated corpus' planted truth.

    Returns the Spearman rank correlation between each set's measured mean dev CCC and its planted
    mean informativeness (``truth.json``), the noise-only sets (informativeness 0 everywhere), and
    the best set's and the noise sets' mean dev CCC.
    """
    from scipy.stats import spearmanr

    truth = json.loads(Path(truth_json).read_text())["informativeness"]
    lines = Path(unimodal_tsv).read_text().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:] if ln]
    measured = {r["run"]: float(r["mean"]) for r in rows}
    sets = [s for s in measured if s in truth]
    planted = {s: float(np.mean([truth[s][t] for t in TARGETS])) for s in sets}
    rho = spearmanr([measured[s] for s in sets], [planted[s] for s in sets]).statistic
    noise = [s for s in sets if planted[s] == 0.0]
    return {"spearman": float(rho), "n_sets": len(sets), "noise_sets": noise,
            "best": max(sets, key=lambda s: measured[s]), "best_mean": max(measured[s] for s in sets),
            "noise_mean": {s: measured[s] for s in noise}, "measured": measured, "planted": planted}
