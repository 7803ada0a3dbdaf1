"""The workflow's ``system`` job: the trained system written as a bundle (results/system/,
:func:`emofusion.system.write_bundle`: checkpoints, normalisation, the in-sample chain and the
manifest); then, with a ``model_name`` and a tracking store, the bundle logged as an MLflow pyfunc
model and registered under that name (:mod:`emofusion.system_mlflow`, imported only then).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from .formats import read_tracking
from .system import write_bundle


def system_bundle_job(out_dir: str | Path, *, ranking_tsv: str | Path, runs_root: str | Path, seeds: Sequence[int],
                      feature_caches: Sequence[str | Path], feature_settings: Mapping[str, Mapping],
                      chain_files: Sequence[str | Path], summary_tsv: str | Path, config: Mapping, stage: int,
                      code_version: str, tracking_json: str | Path | None = None, model_name: str | None = None,
                      codebooks: Sequence[str | Path] = ()) -> None:
    """Write the bundle; register it when ``model_name`` is set and ``tracking_json`` names a store."""
    write_bundle(out_dir, ranking_tsv=ranking_tsv, runs_root=runs_root, seeds=seeds,
                 feature_caches={Path(f).stem: f for f in feature_caches}, feature_settings=feature_settings,
                 chain_files=list(chain_files), summary_tsv=summary_tsv, config=config, stage=int(stage),
                 code_version=code_version, codebooks=list(codebooks), log=lambda m: print(m, flush=True))
    tracking = read_tracking(tracking_json) if tracking_json else {"tracking_uri": None}
    if model_name and tracking["tracking_uri"]:
        from .system_mlflow import log_system_model

        run_id, version = log_system_model(out_dir, tracking_uri=tracking["tracking_uri"],
                                           experiment=tracking["experiment_name"], model_name=model_name,
                                           workdir=os.getcwd())
        print(f"registered the system as MLflow model {model_name!r} version {version} (run {run_id})", flush=True)
