"""`emofusion predict`: apply a trained system (the workflow's results/system/) to new recordings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "predict arousal, valence and liking of new recordings with a trained system (results/system/)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--system", required=True, help="the system bundle folder the workflow wrote (results/system)")
    p.add_argument("--data-root", required=True,
                   help="folder holding the feature folders the system needs (AVEC layout; no labels needed)")
    p.add_argument("--out", required=True, help="output folder: one AVEC-format CSV per recording (written "
                   "whole, or not at all)")
    p.add_argument("--stage", type=int, help="fusion stage to apply (default: the bundle's, config system.stage)")
    p.add_argument("--labels", help="folder of label files (default: DATA_ROOT/labels where it exists): "
                   "the predicted recordings found there are scored (CCC and 95 %% intervals); never used to predict")
    p.add_argument("--traces", help="also write one figure per recording to this folder: arousal, valence and "
                   "liking over time (with the gold labels where found)")


def run(args: argparse.Namespace) -> int:
    import time

    from ..data.layout import write_prediction_dir
    from ..system import load_system, predict_root, score_with_labels

    def warn(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    system = load_system(args.system, warn=warn)
    preds = predict_root(system, args.data_root, stage=args.stage, warn=warn)
    stage = system.manifest["default_stage"] if args.stage is None else args.stage
    labels = Path(args.labels) if args.labels else Path(args.data_root) / "labels"
    scored = score_with_labels(preds, labels) if args.labels or labels.is_dir() else None
    write_prediction_dir(Path(args.out), preds)
    if args.traces:
        from ..data.layout import list_recordings, read_label_file
        from ..system_traces import write_traces

        gold = ({n: read_label_file(labels / f"{n}.csv")[1] for n in list_recordings(labels) if n in preds}
                if labels.is_dir() else {})
        n = write_traces(args.traces, preds, gold, stage=stage)
        print(f"wrote {n} trace figures to {args.traces}")
    gcv = system.manifest.get("scores", {}).get("grouped-cv", {}).get(f"stage{stage}", {}).get("devel", {})
    pooled = next(iter(gcv.values()), None)
    print(f"wrote {len(preds)} recordings' predictions (fusion stage {stage} of {len(system.states)}, "
          f"{len(system.runs)} runs) to {args.out} ({time.perf_counter() - t0:.1f} s)")
    if pooled:
        print(f"accuracy to expect: the grouped-cv dev CCC of stage {stage}, mean {pooled['mean']:.3f} "
              f"(95 % interval {pooled['mean_lo']:.3f}..{pooled['mean_hi']:.3f}; manifest.json 'scores')")
    if scored:
        from .. import SCORE_COLUMNS

        scores, ci, names = scored
        print(f"scores of the {len(names)} recordings with labels in {labels} (CCC, 95 % recording-level interval):")
        print(f"{'group':<7}" + "".join(f"{t:>22}" for t in SCORE_COLUMNS))
        for group, row in scores.items():
            print(f"{group:<7}" + "".join(f"{row[t]:>8.3f} ({ci[group][t]['lo']:.3f}..{ci[group][t]['hi']:.3f})"
                                          for t in SCORE_COLUMNS))
    return 0
