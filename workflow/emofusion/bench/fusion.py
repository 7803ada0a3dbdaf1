"""`python -m emofusion.bench fusion [--stages 5] [--avec DIR] [--jobs 2] [--skip-sklearn]`

Runs both fusion protocols x N stages on the 9 official AVEC 2019 runs (../shared beside the repo
root by default) and prints the time per stage and protocol and the total; then times one sklearn
``LinearSVR`` fit (C=1, k=19, arousal, its default max_iter) on the same stage-1 design matrix and
one fit of our solver on that problem, and prints the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from ..corpus import read_label_dir
    from ..fusion import PROTOCOLS, context_design, format_stage_table, fuse, load_runs, n_columns
    from ..fusion_solver import Group, solve_lad_svr
    from ..metrics import ccc

    ap = argparse.ArgumentParser(prog="python -m emofusion.bench fusion")
    ap.add_argument("--stages", type=int, default=5)
    ap.add_argument("--avec", type=Path, default=Path(__file__).resolve().parents[3].parent / "shared" / "avec2019_ces_devel")
    ap.add_argument("--jobs", type=int, default=2, help="processes for grouped-cv outer folds")
    ap.add_argument("--skip-sklearn", action="store_true")
    args = ap.parse_args(argv)
    labels = read_label_dir(args.avec / "labels_devel")
    runs = {p.name: p for p in sorted((args.avec / "baseline_predictions").iterdir())
            if p.is_dir() and p.name != "predictions_svr"}
    print(f"{len(runs)} runs, {len(labels)} Devel recordings, {sum(len(v) for v in labels.values())} frames")
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for proto in PROTOCOLS:
            t0 = time.perf_counter()
            s = fuse(labels, runs, Path(tmp) / proto, protocol=proto, stages=args.stages, n_jobs=args.jobs,
                     log=lambda m: print("  " + m, flush=True))
            dt = time.perf_counter() - t0
            total += dt
            print(format_stage_table(s))
            print(f"{proto}: {dt:.1f} s for {args.stages} stages", flush=True)
    print(f"TOTAL both protocols x {args.stages} stages: {total:.1f} s ({total / 60:.1f} min)")
    if args.skip_sklearn:
        return 0
    from sklearn.svm import LinearSVR

    base, _, _ = load_runs(labels, runs)
    names = sorted(base)
    k = 19
    X = np.concatenate([context_design(base[n], k) for n in names])
    y = np.concatenate([labels[n][:, 0] for n in names])
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mdl = LinearSVR(C=1.0, random_state=0).fit(X[:, 1:].astype(np.float64), y)
    t_sk = time.perf_counter() - t0
    w_sk = np.concatenate([[mdl.intercept_[0]], mdl.coef_])
    obj_sk = 0.5 * w_sk @ w_sk + np.abs(y - X.astype(np.float64) @ w_sk).sum()
    t0 = time.perf_counter()
    G = (X.T @ X).astype(np.float64)
    res = solve_lad_svr(X, G, (X.T @ y.astype(np.float32)).astype(np.float64)[:, None], y[:, None],
                        [Group(n_columns(base[names[0]].shape[1], k), 1.0, (0,))], tol=3e-3, max_iter=300)
    t_us = time.perf_counter() - t0
    w = res.W[:, 0]
    obj_us = 0.5 * w @ w + np.abs(y - X.astype(np.float64) @ w).sum()
    print(f"sklearn LinearSVR C=1 k={k} arousal: {t_sk:.1f} s, {mdl.n_iter_} iterations, "
          f"{'NOT converged' if caught else 'converged'}, objective {obj_sk:.1f}, "
          f"CCC {ccc(mdl.predict(X[:, 1:]), y):.4f}")
    print(f"ours (ADMM, Gram included): {t_us:.1f} s, {res.iterations} iterations, rel. gap {res.gap[0]:.1e}, "
          f"objective {obj_us:.1f}, CCC {ccc(X @ w.astype(np.float32), y):.4f}")
    print(f"ratio sklearn / ours (one fit): {t_sk / t_us:.1f}x")
    return 0
