"""`emofusion init-tracking`: initialise the MLflow store and create the experiment, once."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "initialise the MLflow store (schema) and create the experiment; write its id to --out (JSON)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..tracking_spec import TrackingSpec

    d = TrackingSpec()
    p.add_argument("--uri", default=d.uri, help="tracking URI (default sqlite:///<cwd>/results/mlflow.db)")
    p.add_argument("--experiment", default=d.experiment, help=f"experiment name (default {d.experiment})")
    p.add_argument("--artifact-location", default=None,
                   help="artifact root of a new experiment (default: mlartifacts/ beside a sqlite db)")
    p.add_argument("--out", required=True, help="JSON file written with tracking_uri, experiment_name, experiment_id")


def run(args: argparse.Namespace) -> int:
    from ..tracking import init_tracking
    from ..tracking_spec import TrackingSpec

    spec = TrackingSpec(uri=args.uri, experiment=args.experiment, artifact_location=args.artifact_location)
    uri = spec.store_uri()
    exp_id = init_tracking(uri, spec.experiment, spec.artifact_location, Path(args.out))
    print(f"experiment {spec.experiment!r} (id {exp_id}) ready in {uri}")
    return 0
