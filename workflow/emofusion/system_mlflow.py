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
    from .tracking import source_tags

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
        for st, block in gcv.items():
            for cult, row in block.get("devel", {}).items():
                for t in ("arousal", "valence", "liking", "mean"):
                    if row.get(t) is not None and np.isfinite(row[t]):
                        mlflow.log_metric(f"grouped_cv_{st}_devel_{cult.replace('+', '_')}_{t}", float(row[t]))
        info = mlflow.pyfunc.log_model(
            name="system", python_model=SystemModel(), artifacts={"system": str(bundle)},
            code_paths=[str(Path(__file__).resolve().parent)], signature=signature(manifest["default_stage"]),
            pip_requirements=["mlflow", "torch", "pytorch-lightning", "numpy", "pandas", "threadpoolctl"],
            registered_model_name=model_name)
    return run.info.run_id, str(info.registered_model_version)
