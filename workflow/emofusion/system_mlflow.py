"""The system bundle as an MLflow pyfunc model (docs/predict.md), registered under a configurable name.

Input: a DataFrame with one column ``data_root`` (string), one row per data root of feature folders
(what ``emofusion predict --data-root`` reads); param ``stage`` (integer; default: the bundle's
default stage). Output: one row per recording and 0.1 s frame, columns ``name``, ``timestamp``,
``arousal``, ``valence``, ``liking``: the values ``emofusion predict`` writes (the same float32
numbers; formatted to 6 decimals they are its files' text), recordings in name order.

The model's artifact is the bundle folder itself, and the emofusion package travels with it
(``code_paths``), so ``mlflow.pyfunc.load_model("models:/<name>/<version>")``, ``mlflow models
predict`` and ``mlflow models serve`` (with ``--env-manager local``) need nothing else.
"""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import numpy as np

from . import TARGETS

COLUMNS = ("name", "timestamp", *TARGETS)


def predictions_frame(preds):
    """``{recording: (frames, 3)}`` -> the model's output DataFrame (recordings in name order)."""
    import pandas as pd

    from .data.layout import FRAME_S

    parts = []
    for name in sorted(preds):
        v = np.asarray(preds[name], dtype=np.float64)
        parts.append(pd.DataFrame({"name": name, "timestamp": np.round(np.arange(len(v)) * FRAME_S, 6),
                                   **{t: v[:, i] for i, t in enumerate(TARGETS)}}))
    if not parts:
        return pd.DataFrame({c: [] for c in COLUMNS})
    return pd.concat(parts, ignore_index=True)[list(COLUMNS)]


class SystemModel(mlflow.pyfunc.PythonModel):
    """The pyfunc wrapper: loads the bundle from the model's ``system`` artifact."""

    def load_context(self, context):
        from .system import load_system

        self.system = load_system(context.artifacts["system"])  # no code-version warning: the code travels with it

    def predict(self, context, model_input, params=None):
        from .system import predict_root

        stage = (params or {}).get("stage")
        frames = [predictions_frame(predict_root(self.system, root, stage=None if stage is None else int(stage),
                                                 warn=lambda m: None))
                  for root in model_input["data_root"]]
        import pandas as pd

        return pd.concat(frames, ignore_index=True) if frames else predictions_frame({})


def signature(default_stage: int):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", "data_root")]),
                          outputs=Schema([ColSpec("string", "name"), ColSpec("double", "timestamp"),
                                          *(ColSpec("double", t) for t in TARGETS)]),
                          params=ParamSchema([ParamSpec("stage", "long", int(default_stage))]))


def log_system_model(bundle: str | Path, *, tracking_uri: str, experiment: str, model_name: str,
                     workdir: str | None = None) -> tuple[str, str]:
    """Log the bundle as a pyfunc model in a run named ``system`` and register it as ``model_name``;
    returns (run id, model version)."""
    import json

    import mlflow

    from .errors import DataError
    from .tracking import score_metrics, source_tags

    bundle = Path(bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    mlflow.set_tracking_uri(tracking_uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        raise DataError(None, f"MLflow experiment {experiment!r} not found at {tracking_uri} (run init-tracking first)")
    tags = {"kind": "system", "emofusion.runs": ",".join(manifest["runs"]),
            "emofusion.code_version": manifest["code_version"], **source_tags("emofusion.system_mlflow")}
    if workdir:
        tags["emofusion.workdir"] = workdir
    with mlflow.start_run(experiment_id=exp.experiment_id, run_name="system", tags=tags) as run:
        mlflow.log_params({"runs": ",".join(manifest["runs"])[:6000], "seeds": ",".join(map(str, manifest["seeds"])),
                           "stages": manifest["fusion"]["stages"], "default_stage": manifest["default_stage"]})
        gcv = manifest.get("scores", {}).get("grouped-cv", {})
        # the accuracy to expect on new recordings, per stage: grouped-cv/stage1/dev/CCC, ...
        mlflow.log_metrics({f"grouped-cv/{st}/{k}": v for st, block in gcv.items()
                            for k, v in score_metrics({"devel": block.get("devel", {})}).items()})
        info = mlflow.pyfunc.log_model(
            name="system", python_model=SystemModel(), artifacts={"system": str(bundle)},
            code_paths=[str(Path(__file__).resolve().parent)], signature=signature(manifest["default_stage"]),
            pip_requirements=["mlflow", "torch", "pytorch-lightning", "numpy", "pandas", "threadpoolctl"],
            registered_model_name=model_name)
        version = str(info.registered_model_version)
        linked = link_runs(mlflow.MlflowClient(), exp.experiment_id, manifest, model_name, version)
        mlflow.set_tag("emofusion.linked_run_ids", ",".join(r for _, r in linked))
    return run.info.run_id, version


def source_runs(client, experiment_id: str, manifest: dict) -> list[tuple[str, str]]:
    """(label, MLflow run id) of the runs the system is made of: each fused training run per seed and
    the in-sample fusion stage runs of its chain (the newest finished run of each name)."""
    want = {(r, str(s)): f"{r} (seed {s})" for r in manifest["runs"] for s in manifest["seeds"]}
    stages = {f"fusion/in-sample/stage{n}": f"fusion/in-sample/stage{n}"
              for n in range(1, int(manifest["fusion"]["stages"]) + 1)}
    newest: dict[str, tuple[int, str]] = {}
    for r in client.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'", max_results=5000):
        tags, name = r.data.tags, r.info.run_name
        if tags.get("kind") in ("unimodal", "bimodal"):
            label = want.get((name, tags.get("seed")))
        elif tags.get("kind") == "fusion":
            label = stages.get(name)
        else:
            label = None
        if label and r.info.start_time >= newest.get(label, (-1, ""))[0]:
            newest[label] = (r.info.start_time, r.info.run_id)
    order = [*want.values(), *stages.values()]
    return [(label, newest[label][1]) for label in order if label in newest]


def link_runs(client, experiment_id: str, manifest: dict, model_name: str, version: str) -> list[tuple[str, str]]:
    """Link the registered model version to its runs in the MLflow UI: a tag with their run ids and a
    description listing each as a link to its run page (the source run is the `system` run)."""
    linked = source_runs(client, experiment_id, manifest)
    client.set_model_version_tag(model_name, version, "emofusion.linked_run_ids", ",".join(r for _, r in linked))
    gcv = manifest.get("scores", {}).get("grouped-cv", {}).get(f"stage{manifest['default_stage']}", {})
    pooled = gcv.get("devel", {}).get("DE+HU")
    lines = [f"emofusion trained system: {len(manifest['runs'])} runs x {len(manifest['seeds'])} seeds, in-sample "
             f"fusion chain of {manifest['fusion']['stages']} stages (default stage {manifest['default_stage']}).",
             "Accuracy to expect: the grouped-cv figure" + (f", mean dev CCC {pooled['mean']:.3f} (95 % interval "
                                                           f"{pooled['mean_lo']:.3f}..{pooled['mean_hi']:.3f})"
                                                           if pooled else "") + ".", "", "Runs:"]
    lines += [f"- [{label}](#/experiments/{experiment_id}/runs/{rid})" for label, rid in linked]
    client.update_model_version(model_name, version, description="\n".join(lines))
    return linked
