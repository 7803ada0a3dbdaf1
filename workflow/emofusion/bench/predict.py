"""`python -m emofusion.bench predict [--system DIR] [--data-root DIR] [--stage N] [--repeat R]`

Times `emofusion predict`'s work in one process (load the bundle, align and normalise every set the
system needs, every run's LSTM per seed, the fusion chain), without writing the output, and prints
seconds per hour of input (input = the recordings' 0.1 s frames). Default system: results/system;
default data root: the Test feature files of the generated corpus in results/corpus (copied to a
temp root of new recordings without labels). Features data roots only: `predict` does not extract
from audio or video yet. Python start-up and imports are not included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emofusion.bench predict", description=__doc__.splitlines()[0])
    p.add_argument("--system", default="results/system")
    p.add_argument("--data-root", help="feature folders of the recordings (default: results/corpus's Test files)")
    p.add_argument("--stage", type=int)
    p.add_argument("--repeat", type=int, default=3, help="timed repeats (the best is reported too)")
    args = p.parse_args(argv)

    from ..system import _aligned_caches, load_system, predict_root

    system = load_system(args.system, warn=print)
    tmp = None
    root = Path(args.data_root) if args.data_root else None
    if root is None:
        corpus = Path(args.system).resolve().parent / "corpus"
        tmp = root = Path(tempfile.mkdtemp(prefix="emofusion-bench-predict-"))
        for info in system.manifest["feature_sets"].values():
            (root / info["folder"]).mkdir(parents=True)
            for f in sorted((corpus / info["folder"]).glob("Test_*.csv")):
                shutil.copyfile(f, root / info["folder"] / f.name)
    try:
        caches, names = _aligned_caches(system, root, warn=lambda m: None)
        frames = int(next(iter(caches.values())).lengths.sum())
        hours = frames * 0.1 / 3600
        rows = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            _aligned_caches(system, root, warn=lambda m: None)
            t1 = time.perf_counter()
            preds = predict_root(system, root, stage=args.stage, warn=lambda m: None)
            t2 = time.perf_counter()
            rows.append((t1 - t0, t2 - t1))
        stage = args.stage or system.manifest["default_stage"]
        print(f"predict: {len(preds)} recordings, {frames} frames = {hours * 3600:.0f} s of input; {len(system.runs)} "
              f"runs x {len(system.manifest['seeds'])} seeds, fusion stage {stage}; one process, "
              f"EMOFUSION_THREADS={os.environ.get('EMOFUSION_THREADS', '1')}, load average {os.getloadavg()[0]:.1f}")
        print(f"{'repeat':<8} {'align s':>9} {'predict s':>10} {'s per hour of input':>20}   (predict includes the align)")
        for i, (a, t) in enumerate(rows, start=1):
            print(f"{i:<8} {a:>9.2f} {t:>10.2f} {t / hours:>20.1f}")
        best = min(t for _, t in rows)
        print(f"best: {best:.2f} s, {best / hours:.1f} s per hour of input")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0
