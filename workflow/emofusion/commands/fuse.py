"""`emofusion fuse`: multistage SVR fusion of AVEC-format prediction folders (docs/fusion.md).

It computes exactly what the workflow's chain of fusion rules computes (the same parts, the same
chain files under ``--out``), with the same grid and solver settings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "multistage linear-SVR fusion of prediction folders (in-sample and/or grouped-cv protocol)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..fusion_spec import FusionSpec

    d = FusionSpec()
    p.add_argument("--labels", required=True, help="folder of Devel label files")
    p.add_argument("--predictions", required=True, nargs="+", help="prediction folders (run name = folder name; a folder named 'predictions' "
                   "takes its parent's name, as the workflow's results/runs/<run>/predictions)")
    p.add_argument("--stages", type=int, default=5, help="number of fusion stages (default 5)")
    p.add_argument("--protocol", choices=["in-sample", "grouped-cv", "both"], default="both")
    p.add_argument("--out", required=True, help="output folder; with --protocol both, one subfolder per protocol")
    p.add_argument("--test-labels", help="folder of Test label files (generated corpus), to score test predictions")
    p.add_argument("--ks", type=int, nargs="+", default=list(d.ks),
                   help=f"context half-widths (default {' '.join(map(str, d.ks))}: the paper's grid; the demo "
                        "corpus's shorter recordings want a narrower one, the workflow's config.yaml uses 1 3 5)")
    p.add_argument("--Cs", type=float, nargs="+", default=list(d.Cs),
                   help=f"SVR C grid (default {' '.join(map(str, d.Cs))}: the paper's, also config.yaml's)")
    p.add_argument("--tol", type=float, default=d.tol, help=f"relative duality gap of every fit (default {d.tol})")
    p.add_argument("--method", choices=["emofusion", "avec2019"], default=d.method,
                   help="avec2019: the challenge's own window and sklearn LinearSVR (slow)")
    p.add_argument("--outer-folds", type=int, default=d.outer_folds)
    p.add_argument("--inner-folds", type=int, default=d.inner_folds)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--jobs", type=int, default=1,
                   help="processes for the parts, scheduled as the workflow's DAG (results do not depend on it)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (each stage becomes a run); default or 'off': "
                   "no tracking")
    p.add_argument("--experiment", help="MLflow experiment name (must exist)")


def run_name(folder: str | Path) -> str:
    """A prediction folder's run name: its own name, or its parent's for a folder named
    ``predictions`` (the workflow's ``results/runs/<run>/predictions``)."""
    path = Path(folder).resolve()
    return path.parent.name if path.name == "predictions" else path.name


def run(args: argparse.Namespace) -> int:
    from ..data.layout import read_label_dir
    from ..errors import DataError
    from ..fusion.protocols import PROTOCOLS
    from ..fusion.scheduler import run_chains
    from ..fusion.stage import format_stage_table
    from ..fusion_spec import FusionSpec

    spec = FusionSpec(ks=args.ks, Cs=args.Cs, tol=args.tol, outer_folds=args.outer_folds,
                      inner_folds=args.inner_folds, seed=args.seed, method=args.method)
    if args.stages < 1:
        raise DataError(None, "--stages must be >= 1")
    labels = read_label_dir(args.labels, partitions=["Devel"])
    test_labels = read_label_dir(args.test_labels, partitions=["Test"]) if args.test_labels else None
    runs = {}
    for folder in args.predictions:
        name = run_name(folder)
        if name in runs:
            raise DataError(folder, f"two prediction folders are named {name!r}: run names must differ")
        runs[name] = Path(folder)
    import time

    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    out = Path(args.out)
    t0 = time.perf_counter()
    docs = run_chains(labels, runs, {p: out / p if args.protocol == "both" else out for p in protocols},
                      stages=args.stages, spec=spec, test_labels=test_labels,
                      tracking_uri=None if args.tracking_uri in (None, "off") else args.tracking_uri,
                      experiment_name=args.experiment, n_jobs=args.jobs,
                      log=lambda msg: print(msg, file=sys.stderr, flush=True))
    for proto in protocols:
        print(format_stage_table(proto, docs[proto]))
        print()
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0
