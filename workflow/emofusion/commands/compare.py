"""`emofusion compare`: paired bootstrap of AVEC-format prediction folders against the first."""

from __future__ import annotations

import argparse
import json

from ._options import partition

HELP = ("compare prediction folders against the first: CCC difference per target and culture with its "
        "bootstrap interval (recordings resampled, stratified by culture)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--labels", required=True, help="folder of AVEC label files (e.g. <root>/labels)")
    p.add_argument("reference", metavar="A", help="the reference prediction folder")
    p.add_argument("others", metavar="B", nargs="+", help="prediction folders compared with A")
    p.add_argument("--partition", type=partition, default="Devel",
                   help="partition to score: Train, Devel or Test, any case (default Devel); the generated "
                        "corpus keeps its Test labels in <root>/test_labels")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="resampling seed (default 0)")
    p.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object: {B: {set: {target: {a, b, diff, lo, hi, p_gt0}}}} keyed by "
                        "each folder as given")


def run(args: argparse.Namespace) -> int:
    from ..data.layout import read_label_dir, read_prediction_dir
    from ..errors import ConfigError
    from ..results.metrics import format_paired_table, paired_bootstrap

    if args.n_boot < 1:
        raise ConfigError(f"--n-boot: must be >= 1, got {args.n_boot}")
    if not 0.0 < args.level < 1.0:
        raise ConfigError(f"--level: must be in (0, 1), got {args.level}")
    labels = read_label_dir(args.labels, partitions=[args.partition])
    lengths = {n: len(v) for n, v in labels.items()}
    ref = read_prediction_dir(args.reference, lengths)
    result = {}
    for folder in args.others:
        preds = read_prediction_dir(folder, lengths)
        result[folder] = paired_bootstrap(labels, ref, preds, n_boot=args.n_boot, seed=args.seed, level=args.level)
    if args.json:
        print(json.dumps({"reference": args.reference, "n_boot": args.n_boot, "seed": args.seed,
                          "level": args.level, "comparisons": result}, indent=2))
        return 0
    print(f"A = {args.reference}  ({args.partition}, {len(labels)} recordings, {args.n_boot} resamples "
          f"of recordings stratified by culture, seed {args.seed})")
    for folder, res in result.items():
        print()
        print(format_paired_table(res, title=f"B = {folder}", level=args.level))
    return 0
