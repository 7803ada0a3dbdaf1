"""`python -m emofusion.bench bootstrap [--recordings N] [--frames T] [--resamples B] [--loop B2]`

Times the recording-level bootstrap of :mod:`emofusion.results.metrics` on synthetic dev data the size of
AVEC 2019 CES DE+HU dev (28 recordings, 14 per culture, ~1500 frames each: ~42k frames, 3 targets):

* ``bootstrap_ccc`` of one system and ``paired_bootstrap`` of two, B resamples each, everything
  included (per-recording sums, resampling, percentile intervals; median of 3), and
* the naive way for comparison: concatenate each resample's frames and call ``ccc`` per target
  (timed over B2 resamples, scaled to B),

and prints seconds and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _data(recordings: int, frames: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels, a, b = {}, {}, {}
    for i in range(recordings):
        name = f"Devel_{('DE', 'HU')[i % 2]}_{i // 2 + 1:02d}"
        t = int(rng.integers(frames // 2, frames * 3 // 2))
        y = np.cumsum(rng.normal(scale=0.05, size=(t, 3)), axis=0)
        labels[name] = y
        a[name] = y + rng.normal(scale=0.3, size=(t, 3))
        b[name] = y + rng.normal(scale=0.25, size=(t, 3))
    return labels, a, b


def _median_s(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emofusion.bench bootstrap", description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=int, default=28)
    ap.add_argument("--frames", type=int, default=1500, help="mean frames per recording")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--loop", type=int, default=50, help="resamples timed the naive way (scaled up)")
    args = ap.parse_args(argv)

    from .. import TARGETS
    from ..formats import pooled_group
    from ..results.metrics import bootstrap_ccc, ccc, paired_bootstrap, resample_counts

    labels, a, b = _data(args.recordings, args.frames)
    frames = sum(len(v) for v in labels.values())
    one = _median_s(lambda: bootstrap_ccc(labels, a, n_boot=args.resamples))
    paired = _median_s(lambda: paired_bootstrap(labels, a, b, n_boot=args.resamples))

    names = sorted(labels)
    counts = resample_counts(names, args.loop, 0)

    def naive():
        for row in counts:
            drawn = [n for n, k in zip(names, row, strict=True) for _ in range(k)]
            y = np.concatenate([labels[n] for n in drawn])
            for p in (a, b):
                x = np.concatenate([p[n] for n in drawn])
                for j in range(len(TARGETS)):
                    ccc(x[:, j], y[:, j])

    loop = _median_s(naive, repeats=1) * args.resamples / args.loop
    res = paired_bootstrap(labels, a, b, n_boot=args.resamples)
    res = res[pooled_group(res)]["mean"]
    print(f"data: {args.recordings} recordings, {frames} frames, 3 targets; {args.resamples} resamples "
          "(stratified by culture)")
    print(f"bootstrap_ccc (one system):     {one:.3f} s")
    print(f"paired_bootstrap (two systems): {paired:.3f} s")
    print(f"naive concatenate-and-ccc, two systems: {loop:.2f} s (timed over {args.loop} resamples, scaled)")
    print(f"ratio naive / paired: {loop / paired:.0f}x")
    print(f"(paired result, DE+HU mean: diff {res['diff']:+.3f} [{res['lo']:+.3f}, {res['hi']:+.3f}], "
          f"P(diff > 0) = {res['p_gt0']:.3f})")
    return 0
