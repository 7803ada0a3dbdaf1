"""`emofusion synth`: write a generated corpus in the AVEC 2019 CES layout with planted truth."""

from __future__ import annotations

import argparse

HELP = "generate a corpus in the exact AVEC 2019 CES layout with planted, documented structure (truth.json)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="corpus folder to write (replaced as a whole if it is a generated corpus)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same bytes")
    p.add_argument("--size", choices=("tiny", "demo", "full"), default="demo",
                   help="tiny: unit tests; demo: the default pipeline (minutes); full: the real counts, lengths, dims")
    p.add_argument("--feature-sets", nargs="+", metavar="KEY", default=None,
                   help="write only these feature sets (keys as in config.yaml; default all 12)")
    p.add_argument("--complementarity", type=float, default=0.5,
                   help="0..1: how independent the sets' errors are (0: one shared noise, fusion cannot help; "
                        "1: independent); default 0.5")
    p.add_argument("--audio", action="store_true",
                   help="write an audio data root instead (audio/*.wav, labels, a no-signal visual control; "
                        "sizes tiny|demo; see emofusion/data/audio_synth.py)")
    p.add_argument("--video", action="store_true",
                   help="write a video data root (video/*.mp4 of a real face animated with planted signals, "
                        "labels; with --audio also the audio root; sizes tiny|demo; see "
                        "emofusion/data/video_synth.py)")
    p.add_argument("--cache-only", metavar="CACHE_DIR", default=None,
                   help="write the feature cache (<key>.npz, labels.npz) to CACHE_DIR instead of feature CSVs")


def run(args: argparse.Namespace) -> int:
    import time

    from ..data.synth import generate_corpus

    t0 = time.perf_counter()
    if args.video:
        return _run_video(args, t0)
    if args.audio:
        return _run_audio(args, t0)
    truth = generate_corpus(args.out, seed=args.seed, size=args.size, feature_sets=args.feature_sets,
                            complementarity=args.complementarity, cache_dir=args.cache_only)
    dt = time.perf_counter() - t0
    n_rec = len(truth["lengths"])
    frames = sum(truth["lengths"].values())
    where = f"{args.out} (labels) + {args.cache_only} (feature cache)" if args.cache_only else args.out
    print(f"emofusion synth: {args.size} corpus, seed {args.seed}, complementarity {truth['complementarity']:g}: "
          f"{n_rec} recordings, {frames} label frames, {len(truth['feature_sets'])} feature sets -> {where} "
          f"in {dt:.1f} s")
    return 0


def _run_audio(args: argparse.Namespace, t0: float) -> int:
    import time

    from ..data.audio_synth import duration_s, generate_audio_corpus

    truth = generate_audio_corpus(args.out, seed=args.seed, size=args.size)
    print(f"emofusion synth: {args.size} audio corpus, seed {args.seed}: {len(truth['lengths'])} recordings, "
          f"{duration_s(truth):.1f} s of 16 kHz audio -> {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _run_video(args: argparse.Namespace, t0: float) -> int:
    import time

    from ..data.video_synth import generate_video_corpus

    truth = generate_video_corpus(args.out, seed=args.seed, size=args.size, audio=args.audio)
    frames = sum(truth["video_frames"].values())
    fps = truth["planted"]["video"]["fps"]
    what = "audiovisual" if args.audio else "video"
    print(f"emofusion synth: {args.size} {what} corpus, seed {args.seed}: {len(truth['lengths'])} recordings, "
          f"{frames} video frames ({frames / fps:.1f} s at {fps} fps) -> {args.out} in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
