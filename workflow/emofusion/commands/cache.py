"""`emofusion cache`: build the binary cache of one feature set and/or of the labels."""

from __future__ import annotations

import argparse

HELP = "align, check and Train-normalise one feature set into <out>.npz (and/or cache the labels)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .validate import add_data_arguments

    p.add_argument("--data-root", required=True, metavar="DIR", help="AVEC-layout data root")
    p.add_argument("--set", dest="key", metavar="KEY", help="feature set key (e.g. deepspectrum)")
    p.add_argument("--out", metavar="PATH", help="feature cache to write (e.g. results/cache/deepspectrum.npz)")
    p.add_argument("--labels-out", metavar="PATH", help="also (or only) write the label cache here (labels.npz)")
    p.add_argument("--folder", help="feature folder under DIR when it differs from the set's default")
    p.add_argument("--format", dest="fmt", default="avec", choices=["avec", "openface"],
                   help="the set's file format (default avec; openface: OpenFace 2.0 CSVs, for --set fau)")
    p.add_argument("--partitions", nargs="+", default=None, choices=["Train", "Devel", "Test"],
                   help="partitions (default: Train Devel Test for features, Test only when present; "
                        "Train Devel for labels)")
    add_data_arguments(p)


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from ..data.build_cache import build_feature_cache, build_label_cache
    from ..data.cache import save_feature_cache, save_label_cache
    from ..data.feature_sets import FEATURE_SETS
    from ..errors import ConfigError
    from .validate import data_spec

    if (args.key is None) != (args.out is None):
        raise ConfigError("--set and --out go together")
    if args.key is None and args.fmt != "avec":
        raise ConfigError("--format goes with --set")
    if args.key is None and args.labels_out is None:
        raise ConfigError("nothing to do: give --set KEY --out PATH and/or --labels-out PATH")
    data = data_spec(args)
    kw = {} if args.partitions is None else {"partitions": args.partitions}

    def warn(msg: str) -> None:
        print(f"emofusion cache: warning: {msg}", file=sys.stderr)

    c = lc = None
    if args.key is not None:
        # the other registry sets present: every set must hold the same recordings (Test included)
        others = {k: fs.folder for k, fs in FEATURE_SETS.items()
                  if k != args.key and (Path(args.data_root) / fs.folder).is_dir()}
        c = build_feature_cache(args.data_root, args.key, None, folder=args.folder, cultures=data.cultures,
                                window_s=data.window_s, pad_tolerance=data.pad_tolerance,
                                max_frames=data.max_frames, labels_folder=args.labels_folder,
                                label_range=data.label_range, compare_folders=others, warn=warn, fmt=args.fmt, **kw)
    if args.labels_out is not None:
        lc = build_label_cache(args.data_root, None, cultures=data.cultures, labels_folder=args.labels_folder,
                               label_range=data.label_range, **kw)
    # everything checked: only now is anything written
    if c is not None:
        save_feature_cache(args.out, c)
        print(f"{args.out}: {c.key} from {c.source}: {len(c.names)} recordings, {int(c.lengths.sum())} frames, "
              f"dim {c.dim}, native rate {c.rate_hz:g} Hz")
    if lc is not None:
        save_label_cache(args.labels_out, lc)
        extra = f", test labels kept apart: {len(lc.test.names)}" if lc.test is not None else ""
        print(f"{args.labels_out}: {len(lc.names)} labelled recordings, {int(lc.lengths.sum())} frames{extra}")
    return 0
