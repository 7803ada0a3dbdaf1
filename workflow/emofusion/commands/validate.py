"""`emofusion validate`: check an AVEC-layout data root before a long run."""

from __future__ import annotations

import argparse

HELP = ("check an AVEC 2019 CES data root (encodings, names, recordings, rates, time alignment, dims, "
        "NaN/inf, label ranges); print a summary")


def add_data_arguments(p: argparse.ArgumentParser) -> None:
    """The data settings `validate` and `cache` share, with the library's defaults (the data block's
    spec, :class:`~emofusion.data_spec.DataSpec`; :func:`data_spec` builds it from the arguments)."""
    from ..data_spec import DataSpec

    d = DataSpec()
    p.add_argument("--cultures", nargs="+", default=list(d.cultures), choices=["DE", "HU", "CN"])
    p.add_argument("--labels-folder", default="labels", help="label folder under DIR (default labels)")
    p.add_argument("--window-s", type=float, default=d.window_s,
                   help=f"averaging window of non-0.1 s sets in seconds (default {d.window_s})")
    p.add_argument("--pad-tolerance", type=int, default=d.pad_tolerance,
                   help="label frames of start offset, gap or length difference corrected with a warning; "
                        f"beyond it an error (default {d.pad_tolerance})")
    p.add_argument("--label-range", metavar="LO,HI", default=None,
                   help=f"allowed label values (default {d.label_range[0]:g},{d.label_range[1]:g}, the AVEC range)")
    p.add_argument("--max-frames", type=int, default=d.max_frames,
                   help=f"cap on frames of Test recordings without labels (default {d.max_frames})")


def data_spec(args: argparse.Namespace):
    """The :class:`~emofusion.data_spec.DataSpec` of the data arguments (:func:`add_data_arguments`)."""
    from ..data.validate import parse_label_range
    from ..data_spec import DataSpec

    return DataSpec.from_settings({"cultures": args.cultures, "window_s": args.window_s,
                                   "pad_tolerance": args.pad_tolerance, "max_frames": args.max_frames,
                                   "label_range": parse_label_range(args.label_range)})


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_root", metavar="DIR", help="data root holding labels/ and the feature folders")
    p.add_argument("--sets", nargs="+", metavar="KEY",
                   help="feature sets to check (default: every registry set whose folder is present); "
                        "a set asked for here whose folder is missing is an error")
    p.add_argument("--folders", nargs="+", default=[], metavar="KEY=FOLDER",
                   help="folder of a set when it differs from the default (e.g. deepspectrum=my_ds_folder)")
    p.add_argument("--formats", nargs="+", default=[], metavar="KEY=FORMAT",
                   help="file format of a set when not the AVEC layout: fau=openface reads OpenFace 2.0 CSVs")
    p.add_argument("--partitions", nargs="+", default=["Train", "Devel", "Test"], choices=["Train", "Devel", "Test"])
    add_data_arguments(p)


def run(args: argparse.Namespace) -> int:
    from ..data.validate import (
        format_report,
        parse_folder_overrides,
        parse_format_overrides,
        validate_root,
    )

    data = data_spec(args)
    report = validate_root(args.data_root, sets=args.sets, folders=parse_folder_overrides(args.folders),
                           formats=parse_format_overrides(args.formats),
                           partitions=args.partitions, cultures=data.cultures, labels_folder=args.labels_folder,
                           window_s=data.window_s, pad_tolerance=data.pad_tolerance, max_frames=data.max_frames,
                           label_range=data.label_range)
    from ..data.audio import (
        validate_audio_root,  # audio data roots (audio/*.wav): None where there is no audio/
    )

    audio = validate_audio_root(args.data_root, partitions=args.partitions, cultures=data.cultures,
                                labels_folder=args.labels_folder, tolerance_frames=data.pad_tolerance)
    from ..data.video import validate_video_root  # video data roots (video/*): None where there is no video/

    video = validate_video_root(args.data_root, partitions=args.partitions, cultures=data.cultures,
                                labels_folder=args.labels_folder, tolerance_frames=data.pad_tolerance)
    print(format_report(report))
    if audio:
        print(audio)
    if video:
        print(video)
    return 0
