"""`emofusion cache`: build the binary cache of one feature set and/or of the labels."""

from __future__ import annotations

import argparse

HELP = "align, check and Train-normalise one feature set into <out>.npz (and/or cache the labels)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..features import MAX_FRAMES, PAD_TOLERANCE

    p.add_argument("--data-root", required=True, metavar="DIR", help="AVEC-layout data root")
    p.add_argument("--set", dest="key", metavar="KEY", help="feature set key (e.g. deepspectrum)")
    p.add_argument("--out", metavar="PATH", help="feature cache to write (e.g. results/cache/deepspectrum.npz)")
    p.add_argument("--labels-out", metavar="PATH", help="also (or only) write the label cache here (labels.npz)")
    p.add_argument("--folder", help="feature folder under DIR when it differs from the set's default")
    p.add_argument("--partitions", nargs="+", default=None, choices=["Train", "Devel", "Test"],
                   help="partitions (default: Train Devel Test for features, Test only when present; "
                        "Train Devel for labels)")
    p.add_argument("--cultures", nargs="+", default=["DE", "HU"], choices=["DE", "HU", "CN"])
    p.add_argument("--labels-folder", default="labels", help="label folder under DIR (default labels)")
    p.add_argument("--window-s", type=float, default=0.1, help="averaging window of non-0.1 s sets (seconds)")
    p.add_argument("--pad-tolerance", type=int, default=PAD_TOLERANCE,
                   help=f"label frames a feature file may fall short of its labels (default {PAD_TOLERANCE})")
    p.add_argument("--max-frames", type=int, default=MAX_FRAMES,
                   help=f"cap on frames of Test recordings without labels (default {MAX_FRAMES})")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..features import build_feature_cache, build_label_cache

    if (args.key is None) != (args.out is None):
        raise ConfigError("--set and --out go together")
    if args.key is None and args.labels_out is None:
        raise ConfigError("nothing to do: give --set KEY --out PATH and/or --labels-out PATH")
    if args.key is not None:
        kw = {} if args.partitions is None else {"partitions": args.partitions}
        c = build_feature_cache(args.data_root, args.key, args.out, folder=args.folder, cultures=args.cultures,
                                window_s=args.window_s, pad_tolerance=args.pad_tolerance,
                                max_frames=args.max_frames, labels_folder=args.labels_folder, **kw)
        print(f"{args.out}: {c.key} from {c.source}: {len(c.names)} recordings, {int(c.lengths.sum())} frames, "
              f"dim {c.dim}, native rate {c.rate_hz:g} Hz")
    if args.labels_out is not None:
        kw = {} if args.partitions is None else {"partitions": args.partitions}
        lc = build_label_cache(args.data_root, args.labels_out, cultures=args.cultures,
                               labels_folder=args.labels_folder, **kw)
        extra = f", test labels kept apart: {len(lc.test.names)}" if lc.test is not None else ""
        print(f"{args.labels_out}: {len(lc.names)} labelled recordings, {int(lc.lengths.sum())} frames{extra}")
    return 0
