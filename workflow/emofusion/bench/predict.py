"""`python -m emofusion.bench predict [--system DIR] [--data-root DIR] [--stage N] [--repeat R]`

Times `emofusion predict`'s work in one process (load the bundle, extract the sets the system
extracts from audio/ and video/ where the root has no folder of them, align and normalise every set
the system needs, every run's LSTM per seed, the fusion chain), without writing the output, and
prints seconds per hour of input (input = the recordings' 0.1 s frames). Default system:
results/system; default data root: new recordings without labels, copied to a temp root: the Test
files of the generated corpus in results/corpus, or, for a system that extracts sets, the Test WAVs
and videos of the run's data root (with the Test files of its other sets). Python start-up and
imports are not included.
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

    from ..system import aligned_caches, load_system, predict_root
    from ..system_extract import SOURCES, extract_missing

    system = load_system(args.system, warn=print)
    sets = system.manifest["feature_sets"]
    tmp = Path(tempfile.mkdtemp(prefix="emofusion-bench-predict-"))
    root = Path(args.data_root) if args.data_root else None
    if root is None:
        extracts = {i["extract"]["source"] for i in sets.values() if "extract" in i}
        src = Path(system.manifest["config"]["data_root"] or "") if extracts else None
        corpus = src if extracts else Path(args.system).resolve().parent / "corpus"
        root = tmp / "root"
        for sub in (s for s in SOURCES if s in extracts):
            (root / sub).mkdir(parents=True)
            for f in sorted((src / sub).glob("Test_*")):
                shutil.copyfile(f, root / sub / f.name)
        for info in sets.values():
            if "extract" in info:
                continue
            (root / info["folder"]).mkdir(parents=True)
            for f in sorted((corpus / info["folder"]).glob("Test_*.csv")):
                shutil.copyfile(f, root / info["folder"] / f.name)

    def prepare(i: int) -> dict:
        folders = extract_missing(sets, root, system.folder, tmp / f"extracted{i}", warn=lambda m: None)
        return aligned_caches(system, folders, warn=lambda m: None)[0]

    try:
        caches = prepare(0)
        frames = int(next(iter(caches.values())).lengths.sum())
        hours = frames * 0.1 / 3600
        extracted = sorted(k for k, i in sets.items() if "extract" in i and not (root / i["folder"]).is_dir())
        rows = []
        for i in range(args.repeat):
            t0 = time.perf_counter()
            prepare(i + 1)
            t1 = time.perf_counter()
            preds = predict_root(system, root, stage=args.stage, warn=lambda m: None)
            t2 = time.perf_counter()
            rows.append((t1 - t0, t2 - t1))
        stage = args.stage or system.manifest["default_stage"]
        print(f"predict: {len(preds)} recordings, {frames} frames = {hours * 3600:.0f} s of input; {len(system.runs)} "
              f"runs x {len(system.manifest['seeds'])} seeds, fusion stage {stage}; one process, "
              f"EMOFUSION_THREADS={os.environ.get('EMOFUSION_THREADS', '1')}, load average {os.getloadavg()[0]:.1f}")
        print(f"sets extracted from the root's media: {', '.join(extracted) or 'none (feature folders)'}")
        print(f"{'repeat':<8} {'align s':>9} {'predict s':>10} {'s per hour of input':>20}   (align includes the "
              "extraction; predict includes both)")
        for i, (a, t) in enumerate(rows, start=1):
            print(f"{i:<8} {a:>9.2f} {t:>10.2f} {t / hours:>20.1f}")
        best = min(t for _, t in rows)
        print(f"best: {best:.2f} s, {best / hours:.1f} s per hour of input")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0
