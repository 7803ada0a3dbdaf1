"""`emofusion fuse`: multistage SVR fusion of AVEC-format prediction folders (DESIGN.md section 4)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "multistage linear-SVR fusion of prediction folders (in-sample and/or grouped-cv protocol)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--labels", required=True, help="folder of Devel label files")
    p.add_argument("--predictions", required=True, nargs="+", help="prediction folders (run name = folder name)")
    p.add_argument("--stages", type=int, default=5, help="number of fusion stages (default 5)")
    p.add_argument("--protocol", choices=["in-sample", "grouped-cv", "both"], default="both")
    p.add_argument("--out", required=True, help="output folder; with --protocol both, one subfolder per protocol")
    p.add_argument("--test-labels", help="folder of Test label files (generated corpus), to score test predictions")
    p.add_argument("--outer-folds", type=int, default=4)
    p.add_argument("--inner-folds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="processes for grouped-cv outer folds")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (each stage becomes a run); default or 'off': "
                   "no tracking")
    p.add_argument("--experiment", help="MLflow experiment name (must exist)")


def run(args: argparse.Namespace) -> int:
    from ..corpus import read_label_dir
    from ..errors import DataError
    from ..fusion import PROTOCOLS, format_stage_table, fuse

    labels = read_label_dir(args.labels, partitions=["Devel"])
    test_labels = read_label_dir(args.test_labels, partitions=["Test"]) if args.test_labels else None
    runs = {}
    for folder in args.predictions:
        name = Path(folder).resolve().name
        if name in runs:
            raise DataError(folder, f"two prediction folders are named {name!r}: run names must differ")
        runs[name] = Path(folder)
    protocols = PROTOCOLS if args.protocol == "both" else (args.protocol,)
    out = Path(args.out)
    for proto in protocols:
        summary = fuse(labels, runs, out / proto if args.protocol == "both" else out, protocol=proto,
                       stages=args.stages, outer_folds=args.outer_folds, inner_folds=args.inner_folds,
                       seed=args.seed, test_labels=test_labels,
                       tracking_uri=None if args.tracking_uri in (None, "off") else args.tracking_uri,
                       experiment_name=args.experiment, n_jobs=args.jobs,
                       log=lambda msg: print(msg, file=sys.stderr))
        print(format_stage_table(summary))
        print(f"({summary['seconds']:.1f} s)")
        print()
    return 0
