"""`python -m emofusion.bench fusion --avec DIR [--stages 5] [--jobs 2] [--skip-sklearn]`

Runs both fusion protocols x N stages on the 9 official AVEC 2019 runs (``--avec DIR`` holding the
official dev labels in ``labels_devel/`` and the baseline predictions in ``baseline_predictions/``;
default: the folder in the environment variable ``EMOFUSION_AVEC_DEVEL``) exactly as the workflow's chain does, its parts scheduled in ``--jobs`` processes as
``snakemake --cores N`` schedules the ``fuse_part`` jobs (a part starts when its predecessor is
done, both protocols at once), and prints per stage and protocol: the span from its first part's
start to its last part's end, the part-seconds (sum over its parts), Newton steps (all; then those
of the re-solves that decide a (k, C) choice, ``select``, and of the chosen models' solves to the
report gap, ``report``, the grouped-cv refit included: the cost of certified figures), fits, the
largest duality gap and the dev CCCs; then the total wall time, and the ratio of one scikit-learn
``LinearSVR`` fit (C=1, k=19, arousal, its defaults) to our solver on the same problem, measured in
the same run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from ..data.layout import read_label_dir
    from ..formats import pooled_group
    from ..fusion.chain import PartState
    from ..fusion.design import context_design, n_columns
    from ..fusion.inputs import load_runs
    from ..fusion.protocols import PROTOCOLS
    from ..fusion.scheduler import run_chains
    from ..fusion.solver import Problem, objective, solve
    from ..fusion_spec import FusionSpec
    from ..results.metrics import ccc

    ap = argparse.ArgumentParser(prog="python -m emofusion.bench fusion")
    ap.add_argument("--stages", type=int, default=5)
    env = os.environ.get("EMOFUSION_AVEC_DEVEL")
    ap.add_argument("--avec", type=Path, default=Path(env) if env else None, required=not env,
                    help="folder with the official AVEC 2019 labels_devel/ and baseline_predictions/ "
                         "(default: $EMOFUSION_AVEC_DEVEL)")
    ap.add_argument("--jobs", type=int, default=2, help="processes for the parts (as snakemake --cores)")
    ap.add_argument("--tol", type=float, default=FusionSpec().tol)
    ap.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    ap.add_argument("--skip-sklearn", action="store_true")
    args = ap.parse_args(argv)
    if not (args.avec / "labels_devel").is_dir() or not (args.avec / "baseline_predictions").is_dir():
        ap.error(f"{args.avec}: needs labels_devel/ and baseline_predictions/ (the official AVEC 2019 dev data)")
    labels = read_label_dir(args.avec / "labels_devel")
    runs = {p.name: p for p in sorted((args.avec / "baseline_predictions").iterdir())
            if p.is_dir() and p.name != "predictions_svr"}
    print(f"{len(runs)} runs, {len(labels)} Devel recordings, {sum(len(v) for v in labels.values())} frames; "
          f"tol {args.tol:g}, {args.jobs} processes; load average {os.getloadavg()[0]:.1f}", flush=True)
    spec = FusionSpec(tol=args.tol)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        docs = run_chains(labels, runs, {p: Path(tmp) / p for p in args.protocols}, stages=args.stages, spec=spec,
                          n_jobs=args.jobs)
        total = time.perf_counter() - t0
        print(f"{'protocol':<11}{'stage':>6}{'span s':>8}{'part s':>8}{'newton':>8}{'select':>8}{'report':>8}"
              f"{'fits':>6}{'max gap':>10}"
              f"{'arousal':>9}{'valence':>9}{'liking':>9}", flush=True)
        for proto in args.protocols:
            for s, doc in enumerate(docs[proto], start=1):
                parts = [PartState.load(f) for f in sorted((Path(tmp) / proto / f"stage{s}").glob("*.npz"))]
                newton = sum(p.report.get("newton_steps", 0) for p in parts)
                select = sum(p.report.get("select_newton_steps", 0) for p in parts)
                report = sum(p.report.get("report_newton_steps", 0) for p in parts)
                busy = sum(p.report.get("seconds", 0.0) for p in parts)
                solver = doc["solver"]
                row = doc["devel"][pooled_group(doc["devel"])]
                print(f"{proto:<11}{s:>6}{solver['end_time'] - solver['start_time']:>8.1f}{busy:>8.1f}{newton:>8}"
                      f"{select:>8}{report:>8}"
                      f"{solver['fits']:>6}{solver['max_gap']:>10.1e}{row['arousal']:>9.3f}{row['valence']:>9.3f}"
                      f"{row['liking']:>9.3f}{'' if solver['converged'] else '  NOT CONVERGED'}", flush=True)
    print(f"TOTAL {' + '.join(args.protocols)} x {args.stages} stages: {total:.1f} s wall ({total / 60:.1f} min) "
          f"in {args.jobs} processes; load average now {os.getloadavg()[0]:.1f}", flush=True)
    if args.skip_sklearn:
        return 0
    from sklearn.svm import LinearSVR

    base, _, _ = load_runs({n: np.asarray(v) for n, v in labels.items()}, runs)
    names = sorted(base)
    k = 19
    X = np.concatenate([context_design(base[n], k) for n in names])
    y = np.concatenate([labels[n][:, 0] for n in names])
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mdl = LinearSVR(C=1.0, random_state=0).fit(X[:, 1:], y)
    t_sk = time.perf_counter() - t0
    w_sk = np.concatenate([[mdl.intercept_[0]], mdl.coef_])
    t0 = time.perf_counter()
    res = solve(X, y[:, None], [Problem(n_columns(base[names[0]].shape[1], k), 1.0, 0)], tol=args.tol)
    t_us = time.perf_counter() - t0
    w = res.W[:, 0]
    print(f"sklearn LinearSVR C=1 k={k} arousal: {t_sk:.1f} s, {int(np.max(mdl.n_iter_))} iterations, "
          f"{'NOT converged' if caught else 'converged'}, objective {objective(X, y, w_sk, 1.0):.1f}, "
          f"CCC {ccc(X @ w_sk, y):.4f}")
    print(f"ours (SSNAL, Gram included): {t_us:.1f} s, {int(res.newton[0])} Newton steps, rel. gap {res.gap[0]:.1e}, "
          f"objective {objective(X, y, w, 1.0):.1f}, CCC {ccc(X @ w, y):.4f}")
    print(f"ratio sklearn / ours (one fit): {t_sk / t_us:.1f}x")
    return 0

