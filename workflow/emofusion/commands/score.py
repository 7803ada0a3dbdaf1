"""`emofusion score`: CCC tables of AVEC-format prediction folders."""

from __future__ import annotations

import argparse
import json

from ._options import partition

HELP = "score AVEC-format prediction folders against a label folder (CCC, DE+HU, DE, HU)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--labels", required=True, help="folder of AVEC label files (e.g. <root>/labels)")
    p.add_argument("--predictions", required=True, nargs="+", help="one or more prediction folders")
    p.add_argument("--partition", type=partition, default="Devel",
                   help="partition to score: Train, Devel or Test, any case (default Devel); the generated "
                        "corpus keeps its Test labels in <root>/test_labels")
    p.add_argument("--json", action="store_true", help="print one JSON object keyed by folder as given")


def run(args: argparse.Namespace) -> int:
    from ..data.layout import read_label_dir, read_prediction_dir
    from ..results.metrics import format_scores_table, score_recordings

    labels = read_label_dir(args.labels, partitions=[args.partition])
    lengths = {n: len(v) for n, v in labels.items()}
    result = {}
    for folder in args.predictions:
        preds = read_prediction_dir(folder, lengths)
        result[folder] = score_recordings(labels, preds)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for folder, scores in result.items():
            print(format_scores_table(scores, title=f"{folder}  ({args.partition}, CCC)"))
            print()
    return 0
