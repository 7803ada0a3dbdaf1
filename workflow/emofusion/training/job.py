"""The training stage's jobs: a run of the workflow's DAG (the ``train`` rule) and a run outside it
(the loss ablation, the weight search), from a rule's paths and params; both train with
:func:`emofusion.training.trainer.train_run`, tracked in the store ``tracking.json`` names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ..formats import read_tracking, write_weights
from ..spec import TrainSpec
from .trainer import train_run


def _train(feature_caches: Sequence[str | Path], labels_cache: str | Path, tracking_json: str | Path,
           out_dir: str | Path, *, run_name: str, seed: int, kind: str, spec: TrainSpec,
           tags: Mapping[str, str]) -> None:
    tracking = read_tracking(tracking_json)
    train_run([Path(f) for f in feature_caches], Path(labels_cache), Path(out_dir), run_name=run_name, kind=kind,
              params=spec, seed=int(seed), tracking_uri=tracking["tracking_uri"],
              experiment_name=tracking["experiment_name"], tags=dict(tags))


def train_job(feature_caches: Sequence[str | Path], labels_cache: str | Path, tracking_json: str | Path,
              out_dir: str | Path, *, run: str, seed: int, kind: str, params: Mapping) -> None:
    """One run of the DAG: named after the run (its sets joined by '+'), as is its feature_sets tag."""
    _train(feature_caches, labels_cache, tracking_json, out_dir, run_name=run, seed=seed, kind=kind,
           spec=TrainSpec.from_dict(params), tags={"feature_sets": "+".join(run.split("+"))})


def train_extra_job(feature_caches: Sequence[str | Path], labels_cache: str | Path, tracking_json: str | Path,
                    out_dir: str | Path, *, run_name: str, seed: int, kind: str, params: Mapping,
                    tags: Mapping[str, str], weights_json: str | Path | None = None) -> None:
    """A run outside the main DAG (loss ablation, weight search): the same training, its own folder,
    MLflow run name and tags. ``weights_json`` (when given) records the loss weights it trained with."""
    spec = TrainSpec.from_dict(params)
    if weights_json is not None:
        write_weights(weights_json, dict(zip(("alpha", "beta", "gamma"), spec.resolved_weights(), strict=True)))
    _train(feature_caches, labels_cache, tracking_json, out_dir, run_name=run_name, seed=seed, kind=kind, spec=spec,
           tags=tags)
