"""A fusion stage's MLflow run: one run per stage and protocol, with its params (inputs, the chosen
k and C of every part), its scores as metrics and its ``scores.json`` as an artifact."""

from __future__ import annotations

import time
from pathlib import Path

from .. import TARGETS
from ..errors import DataError

#: The ``fitted_on`` tag of a stage run: what its SVRs (and their k and C) were fitted on. The
#: first word is what the runs table's narrow column shows: in-sample stages are fitted on the
#: very frames they are scored on, so their scores are optimistic.
FITTED_ON = {"in-sample": "optimistic: fitted on the scored dev frames",
             "grouped-cv": "held out: fitted on other dev recordings"}


def log_stage_run(tracking_uri: str, experiment_name: str, run_name: str, doc: dict, scores_path: Path,
                  workdir: str | None = None) -> None:
    """One MLflow run per stage and protocol, with the stage's real start and end (its parts' jobs)."""
    from mlflow.tracking import MlflowClient

    from ..tracking import (
        METRIC_DECIMALS,
        RESULT_TAG,
        close_stale_runs,
        replace_runs_of_same_result,
        result_digest,
        run_artifacts,
        score_metrics,
        source_tags,
    )

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        raise DataError(None, f"MLflow experiment {experiment_name!r} not found at {tracking_uri} "
                              "(run init-tracking first)")
    tags = {"kind": "fusion", "protocol": doc["protocol"], "stage": str(doc["stage"])}
    if workdir:
        tags["emofusion.workdir"] = workdir
    close_stale_runs(tracking_uri, experiment_name, run_name, tags)
    # exactly one run per stage: an attempt killed after scores.json was written left a run of this
    # same result (RUNNING, or FINISHED if the kill came after it closed): this one replaces it
    tags[RESULT_TAG] = result_digest(scores_path)
    replace_runs_of_same_result(tracking_uri, experiment_name, run_name, tags)
    # what the SVR saw: in-sample stages are fitted (and their k, C chosen) on the very frames scored
    tags["fitted_on"] = FITTED_ON[doc["protocol"]]
    tags.update(source_tags("emofusion.fusion.mlflow_run.log_stage_run"))
    solver = doc["solver"]
    run = client.create_run(exp.experiment_id, run_name=run_name, tags=tags,
                            start_time=int(solver["start_time"] * 1000))
    rid = run.info.run_id
    try:
        from mlflow.entities import Metric, Param

        sel = doc["selected"]
        params = [Param("inputs", ",".join(doc["inputs"])[:6000]), Param("protocol", doc["protocol"]),
                  Param("method", doc["method"]), Param("tol", f"{solver['tol']}")]
        for t in TARGETS:
            rows = sel["outer_folds"] if "outer_folds" in sel else [sel]
            params.append(Param(f"k_{t}", ",".join(str(r[t]["k"]) for r in rows)))
            params.append(Param(f"C_{t}", ",".join(f"{r[t]['C']:g}" for r in rows)))
        now = int(solver["end_time"] * 1000)
        metrics = [] if solver["max_gap"] is None else [Metric("solver_max_gap", float(solver["max_gap"]), now, 0)]
        # the doc's devel and test blocks (score_metrics reads those splits only)
        metrics += [Metric(k, round(v, METRIC_DECIMALS), now, 0) for k, v in score_metrics(doc).items()]
        client.log_batch(rid, metrics=metrics, params=params)
        run_artifacts(tracking_uri, rid, run.info.artifact_uri).log_artifact(str(scores_path))
        client.set_terminated(rid, "FINISHED", end_time=max(now, int(time.time() * 1000)))
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
