"""`emofusion train`: one training run on one or more feature caches (early fusion)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "train the multitask LSTM on feature cache(s); write predictions, scores.json, model.ckpt"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..tracking_spec import TrackingSpec

    p.add_argument("--features", required=True, nargs="+", metavar="CACHE",
                   help="feature cache(s) <key>.npz; several are concatenated (early fusion)")
    p.add_argument("--labels-cache", metavar="LABELS_NPZ",
                   help="labels cache (labels.npz, from `emofusion cache --labels-out`); required")
    # the old spelling: --labels means a label *folder* in score/compare/fuse, so train's is --labels-cache
    p.add_argument("--labels", dest="labels_deprecated", metavar="LABELS_NPZ", help=argparse.SUPPRESS)
    p.add_argument("--out", required=True, metavar="DIR", help="run folder (predictions/, scores.json, model.ckpt)")
    p.add_argument("--run-name", required=True, help="MLflow run name, e.g. fau_func or boaw_egemaps+fau_func")
    p.add_argument("--kind", default="unimodal", choices=("unimodal", "bimodal", "ablation", "search"),
                   help="MLflow tag 'kind' (default unimodal)")
    p.add_argument("--params-json", metavar="FILE", help="JSON file of hyper-parameters (missing keys: paper values)")
    p.add_argument("--set", dest="overrides", nargs="*", default=[], metavar="KEY=VALUE",
                   help="override hyper-parameters, VALUE parsed as JSON (e.g. epochs=5 hidden=[64,32])")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow store (default sqlite:///<cwd>/results/mlflow.db; 'off' disables tracking)")
    experiment = TrackingSpec().experiment
    p.add_argument("--experiment", default=experiment, help=f"MLflow experiment name (default {experiment})")
    p.add_argument("--tag", dest="tags", nargs="*", default=[], metavar="KEY=VALUE", help="extra MLflow tags")


def _pairs(items: list[str], what: str, parse_json: bool) -> dict:
    from ..errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what}: expected KEY=VALUE, got {item!r}")
        if parse_json:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass  # a bare string such as loss_mode=mtl1
        out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    import sys

    from ..errors import ConfigError
    from ..training.trainer import train_run

    if args.labels_deprecated is not None:
        if args.labels_cache is not None:
            raise ConfigError("give --labels-cache only (--labels is its deprecated spelling)")
        print("emofusion train: warning: --labels is deprecated for train, use --labels-cache", file=sys.stderr)
        args.labels_cache = args.labels_deprecated
    if args.labels_cache is None:
        raise ConfigError("--labels-cache LABELS_NPZ is required (the labels cache, labels.npz)")

    params: dict = {}
    if args.params_json:
        path = Path(args.params_json)
        try:
            params = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--params-json {path}: {exc}") from None
        if not isinstance(params, dict):
            raise ConfigError(f"--params-json {path}: expected a JSON object")
    params.update(_pairs(args.overrides, "--set", parse_json=True))
    train_run([Path(f) for f in args.features], Path(args.labels_cache), Path(args.out), run_name=args.run_name,
              kind=args.kind, params=params, seed=args.seed, tracking_uri=args.tracking_uri,
              experiment_name=args.experiment, tags=_pairs(args.tags, "--tag", parse_json=False))
    return 0
