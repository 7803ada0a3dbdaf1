"""`python -m emofusion.bench cache [--recordings N] [--frames T] [--dim D] [--keep DIR]`

Writes a 0.1 s feature set in AVEC CSV format (DeepSpectrum-like: 4096 non-negative ReLU-style
activations, about half of them 0, 6 decimals, ``;`` separator, header, quoted names) plus its label
files into a temporary data root, builds the feature cache, then times in one run:

* parse: the CSV reader path of ``build_feature_cache`` over every file (``read_aligned``: parse,
  validate, check rate, align), and
* load: ``load_feature_cache`` of the resulting ``.npz`` (median of 5 loads),

and prints both and their ratio. The CSV files were just written, so both sides read from the page
cache. Recordings are split Train/Devel over DE/HU so the cache is built exactly as in the pipeline.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def write_bench_root(root: Path, recordings: int, frames: int, dim: int, seed: int = 0) -> list[str]:
    """A labels/ folder and an ``audio_features_DeepSpectrum_VGG16`` folder in AVEC format."""
    from ..data.feature_sets import FEATURE_SETS
    from ..data.layout import format_avec_csv

    rng = np.random.default_rng(seed)
    folder = root / FEATURE_SETS["deepspectrum"].folder
    (root / "labels").mkdir(parents=True)
    folder.mkdir(parents=True)
    names = []
    parts = ["Train", "Devel"]
    for i in range(recordings):
        part, culture = parts[i % 2], ("DE", "HU")[(i // 2) % 2]
        name = f"{part}_{culture}_{i // 4 + 1:02d}"
        names.append(name)
        (root / "labels" / f"{name}.csv").write_text(
            format_avec_csv(name, np.round(rng.uniform(-0.5, 0.5, (frames, 3)), 6)))
        X = np.maximum(rng.normal(0.0, 1.0, (frames, dim)), 0.0)
        row_fmt = f"'{name}';%.6f;" + ";".join(["%.6f"] * dim) + "\n"
        with open(folder / f"{name}.csv", "w") as fh:
            fh.write("name;frameTime;" + ";".join(f"neuron_{j + 1}" for j in range(dim)) + "\n")
            for t in range(frames):
                fh.write(row_fmt % (t * 0.1, *X[t]))
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emofusion.bench cache", description=__doc__.splitlines()[0])
    p.add_argument("--recordings", type=int, default=8, help="number of recordings (default 8)")
    p.add_argument("--frames", type=int, default=600, help="0.1 s frames per recording (default 600 = 60 s)")
    p.add_argument("--dim", type=int, default=4096, help="feature dim (default 4096)")
    p.add_argument("--keep", metavar="DIR", help="write the data root here and keep it (default: a temp dir)")
    args = p.parse_args(argv)
    if args.recordings < 2:
        p.error("--recordings must be >= 2 (Train and Devel)")

    from ..data.alignment import read_aligned
    from ..data.build_cache import build_feature_cache
    from ..data.cache import load_feature_cache
    from ..data.feature_sets import FEATURE_SETS

    fs = FEATURE_SETS["deepspectrum"]
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="emofusion-bench-cache-"))
    try:
        t0 = time.perf_counter()
        names = write_bench_root(tmp, args.recordings, args.frames, args.dim)
        t_write = time.perf_counter() - t0
        csv_bytes = sum(f.stat().st_size for f in (tmp / fs.folder).glob("*.csv"))
        out = tmp / "cache" / "deepspectrum.npz"

        t0 = time.perf_counter()
        build_feature_cache(tmp, "deepspectrum", out)
        t_build = time.perf_counter() - t0

        t0 = time.perf_counter()
        for n in names:
            read_aligned(tmp / fs.folder / f"{n}.csv", fs, args.frames)
        t_parse = time.perf_counter() - t0

        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            c = load_feature_cache(out)
            loads.append(time.perf_counter() - t0)
        t_load = statistics.median(loads)
        assert c.X.shape == (args.recordings * args.frames, args.dim)

        print(f"data: {args.recordings} recordings x {args.frames} frames x {args.dim} dims, "
              f"CSV {csv_bytes / 1e6:.1f} MB, cache {out.stat().st_size / 1e6:.1f} MB "
              f"(written in {t_write:.1f} s)")
        print(f"build_feature_cache (parse + check + align + normalise + save): {t_build:.3f} s")
        print(f"parse CSVs (reader path of build_feature_cache): {t_parse:.3f} s")
        print(f"load_feature_cache (median of 5):                {t_load:.4f} s")
        print(f"ratio parse / load: {t_parse / t_load:.1f}x  (goal >= 20x)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0
