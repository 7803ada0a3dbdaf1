"""Fitting: one stage of one part of a protocol, from its training recordings to the chain file.

Per target, a linear SVR (L2-regularised least-absolute-deviation regression: sklearn's
``LinearSVR`` defaults, eps = 0, regularised intercept) on all 3 predicted dimensions of every input
run with a context window of +-k frames (:mod:`emofusion.fusion.design`), over a grid of k and C;
stage n+1 = the base runs plus stage n's output (:func:`~emofusion.fusion.chain.with_prev`). Every
fit of the grid is solved to a relative duality gap <= ``tol`` (:mod:`emofusion.fusion.solver`),
recorded, and flagged where it is not reached; (k, C) per target is chosen by the rule of
:mod:`emofusion.fusion.selection`, which re-solves the grid points that decide it.

:func:`part_stage` is one part's job (which recordings it fits on and predicts, by protocol:
:mod:`emofusion.fusion.protocols`); :func:`fit_part` the fit, in-sample or by inner grouped CV;
``method: avec2019`` hands it to :func:`emofusion.fusion.avec.fit_part_avec`. The result is the
part's :class:`~emofusion.fusion.chain.PartState`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import TARGETS
from ..formats import read_selected
from ..fusion_spec import FusionSpec
from .chain import PartState, with_prev
from .design import Design, expand_weights, grid_columns
from .inputs import labels_from_cache, load_runs
from .protocols import grouped_folds
from .selection import REPORT_TOL, TIE_MARGIN, ccc_columns, choose, column_cccs, score_noise, tol_levels
from .solver import Solution

Log = Callable[[str], None]


def quiet(_msg: str) -> None:
    """A :data:`Log` that drops every line."""


def _fit_warning(log: Log, what: str, sol: Solution, tol: float) -> None:
    bad = np.flatnonzero(~sol.converged)
    if bad.size:
        log(f"WARNING {what}: {bad.size} fit(s) stopped above tol {tol:g} (largest gap {sol.gap.max():.2e})")


def fit_part(base: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], train: Sequence[str],
             targets: Sequence[str], folds: Sequence[Sequence[str]] | None, prev: PartState | None,
             spec: FusionSpec, *, where: str = "", log: Log = quiet) -> PartState:
    """One stage of one part: fit on ``train`` only, predict ``targets``; labels of ``targets`` are
    never read (``Y`` may lack them).

    ``folds`` None: in-sample (fit the grid on all ``train``, select by its in-sample CCC, predict
    ``train`` and ``targets``). Otherwise: the grid is fitted on each fold's complement (warm-started
    from the previous fold), (k, C) per target chosen by the CCC of the concatenated out-of-fold
    predictions, the chosen models refitted on all ``train`` and applied to ``targets``.
    """
    if spec.method == "avec2019":
        from .avec import fit_part_avec

        return fit_part_avec(base, Y, train, targets, folds, prev, spec, where=where, log=log)
    from threadpoolctl import threadpool_limits

    # one BLAS thread for the design products too (not only inside the solver): their last bits
    # depend on the thread count, and a job with `threads: 1` must fit what the CLI fits
    with threadpool_limits(1):
        return _fit_part(base, Y, train, targets, folds, prev, spec, where, log)


def _fit_part(base, Y, train, targets, folds, prev, spec: FusionSpec, where: str, log: Log) -> PartState:
    t0 = time.perf_counter()
    started = time.time()
    train, targets = sorted(train), sorted(targets)
    chans = with_prev(base, prev, (*train, *targets))
    d = Design(chans, Y, train, spec)
    grid = grid_columns(spec)
    configs = spec.configs()
    problems = d.problems(grid)
    W0 = None if prev is None else expand_weights(prev.W, prev.m, d.m, spec.K)
    tols = tol_levels(spec.tol)  # the working gap, then the re-solve levels
    noises = [score_noise(t) for t in tols]
    report_tol = min(REPORT_TOL, spec.tol)
    fits: list[Solution] = []  # the grid's fits (and the grouped-cv refit), to the working gap
    # re-solves with their tol and purpose: "select" (a deciding grid point to a tighter level) or
    # "report" (the chosen models to the report gap, and the grouped-cv refit)
    resolves: list[tuple[Solution, float, str]] = []
    # re-solved columns: column -> its latest state per fit (one fit in-sample, one per inner fold)
    tight: dict[int, dict] = {}

    def resolve(fit_sets: Sequence[Sequence[str]], sols: Sequence[Solution], cols: list[int], tol: float,
                why: str = "select") -> None:
        cols = [c for c in cols if tight.get(c, {}).get("tol", spec.tol) > tol]
        if not cols:
            return
        parts = []
        for f, (names, sol) in enumerate(zip(fit_sets, sols, strict=False)):
            start = [tight[c]["fits"][f] if c in tight else sol.take([c]) for c in cols]
            parts.append(d.fit(names, [problems[c] for c in cols], np.concatenate([s.W for s in start], axis=1),
                               lam0=np.concatenate([s.lam for s in start], axis=1),
                               sigma0=np.concatenate([s.sigma for s in start]), tol=tol))
        resolves.extend((part, tol, why) for part in parts)
        for i, c in enumerate(cols):
            st = tight.setdefault(c, {"newton": 0})
            st["fits"] = [part.take([i]) for part in parts]
            st["newton"] += sum(int(part.newton[i]) for part in parts)
        for c in cols:
            tight[c]["tol"] = tol
            tight[c]["gap"] = max(float(s.gap[0]) for s in tight[c]["fits"])

    def weights(sols: Sequence[Solution], cols: Sequence[int]) -> list[np.ndarray]:
        """Per fit, the (re-solved where done) weights of ``cols``."""
        return [np.stack([tight[c]["fits"][f].W[:, 0] if c in tight else sols[f].W[:, c] for c in cols], axis=1)
                for f in range(len(sols))]

    if folds is None:
        t1 = time.perf_counter()
        sol = d.fit(train, problems, W0)
        fits.append(sol)
        _fit_warning(log, where, sol, spec.tol)
        preds = d.predict(train, sol.W)

        def rescore(cols: list[int], level: int) -> np.ndarray:
            resolve([train], [sol], cols, tols[level])
            P = d.predict(train, weights([sol], cols)[0])
            return column_cccs(P, d.Y, train, [grid[c][2] for c in cols])

        cols, how = choose(ccc_columns(preds, d.Y, train), configs, noises, rescore)
        resolve([train], [sol], cols, report_tol, "report")  # the chosen models to the report gap, always
        Wc = weights([sol], cols)[0]
        W = sol.W.copy()
        W[:, cols] = Wc
        pred = d.predict((*train, *targets), Wc)
        oof: dict[str, np.ndarray] = {}
        record = _records(sol, cols, tight, report_tol)
        log(f"{where} grid of {len(problems)} fits: largest gap {sol.gap.max():.1e}, "
            f"{int(sol.newton.sum())} Newton steps, {time.perf_counter() - t1:.1f} s")
    else:
        sols, fit_sets = [], []
        W = W0
        for i, f in enumerate(folds, start=1):
            t1 = time.perf_counter()
            fit_on = [n for n in train if n not in set(f)]
            sol = d.fit(fit_on, problems, W)
            fits.append(sol)
            sols.append(sol)
            fit_sets.append(fit_on)
            W = sol.W
            _fit_warning(log, f"{where} inner fold {i}", sol, spec.tol)
            log(f"{where} inner fold {i}/{len(folds)}: grid of {len(problems)} fits, largest gap "
                f"{sol.gap.max():.1e}, {int(sol.newton.sum())} Newton steps, {time.perf_counter() - t1:.1f} s")

        def oof_of(cols: Sequence[int]) -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            for f, Wf in zip(folds, weights(sols, cols), strict=False):
                out.update(d.predict(sorted(f), Wf))
            return out

        def rescore(cols: list[int], level: int) -> np.ndarray:
            resolve(fit_sets, sols, cols, tols[level])
            return column_cccs(oof_of(cols), d.Y, train, [grid[c][2] for c in cols])

        everything = list(range(len(grid)))
        cols, how = choose(ccc_columns(oof_of(everything), d.Y, train), configs, noises, rescore)
        resolve(fit_sets, sols, cols, report_tol, "report")  # the chosen models to the report gap in every inner fold
        oof = oof_of(cols)
        W = np.mean([s.W for s in sols], axis=0)
        t1 = time.perf_counter()
        Wr = np.mean(weights(sols, cols), axis=0)
        chosen = d.fit(train, [problems[c] for c in cols], Wr, tol=report_tol)
        resolves.append((chosen, report_tol, "report"))
        _fit_warning(log, f"{where} refit", chosen, report_tol)
        pred = d.predict(targets, chosen.W)
        record = _records(chosen, list(range(len(cols))), {}, report_tol)
        log(f"{where} refit of the chosen models on all {len(train)} training recordings: "
            f"{time.perf_counter() - t1:.1f} s")
    gaps = np.concatenate([s.gap for s in fits])
    tight_gaps = np.concatenate([s.gap for s, _, _ in resolves]) if resolves else np.zeros(0)
    tight_over = sum(int((s.gap > tol).sum()) for s, tol, _ in resolves)
    steps = {why: sum(int(s.newton.sum()) for s, _, w in resolves if w == why) for why in ("select", "report")}
    selected = {}
    for t, c in zip(TARGETS, cols, strict=False):
        k, C, _ = grid[c]
        selected[t] = {"k": int(k), "C": float(C), **record[t], **how[t]}
    seconds = time.perf_counter() - t0
    for t in TARGETS:
        s = selected[t]
        log(f"{where} {t}: k={s['k']} C={s['C']:g} gap {s['gap']:.1e} newton {s['newton']} "
            f"({s['resolved']} grid points re-solved; {seconds:.1f} s)")
    report = {"selected": selected, "max_gap": float(gaps.max()), "fits": int(gaps.size),
              "unconverged_fits": int((gaps > spec.tol).sum()) + tight_over, "tol": spec.tol,
              "select_tols": tols[1:], "report_tol": report_tol, "tie_margin": TIE_MARGIN,
              "tight_fits": int(tight_gaps.size),
              "newton_steps": int(sum(int(s.newton.sum()) for s in fits)) + steps["select"] + steps["report"],
              "select_newton_steps": steps["select"], "report_newton_steps": steps["report"],
              "seconds": seconds,
              "start_time": started, "end_time": time.time()}
    # the weights that made `pred` (in-sample: the chosen grid points; grouped-cv: the refit), kept so
    # the chain re-applies to new recordings (fusion.apply)
    W_chosen = Wc if folds is None else chosen.W
    return PartState({n: np.asarray(v, dtype=np.float32) for n, v in pred.items()},
                     {n: np.asarray(v, dtype=np.float32) for n, v in oof.items()}, W, d.m, report,
                     W_chosen=np.asarray(W_chosen, dtype=np.float64), K=spec.K)


def _records(sol: Solution, cols: Sequence[int], tight: Mapping[int, tuple], tol: float) -> dict:
    """Per target: the chosen model's gap and Newton steps (of its re-solve where it was re-solved);
    ``tol``: the gap it was solved to."""
    out = {}
    for t, c in zip(TARGETS, cols, strict=False):
        gap, newton = ((tight[c]["gap"], tight[c]["newton"]) if c in tight
                       else (float(sol.gap[c]), int(sol.newton[c])))
        out[t] = {"gap": gap, "newton": newton, "converged": bool(gap <= tol)}
    return out



def part_stage(protocol: str, part: str, stage: int, base_dev: Mapping[str, np.ndarray],
               base_test: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], prev: PartState | None,
               spec: FusionSpec, log: Log = quiet) -> PartState:
    """Stage ``stage`` of one part of a protocol (see :mod:`emofusion.fusion.protocols`). Only the labels of the
    part's training recordings are passed on to the fits."""
    dev = sorted(base_dev)
    where = f"{protocol} stage {stage} {part}"
    base = {**base_dev, **base_test}
    if protocol == "in-sample":
        if part != "all":
            raise ValueError(f"in-sample has one part, 'all'; got {part!r}")
        return fit_part(base, labels, dev, sorted(base_test), None, prev, spec, where=where, log=log)
    outer = grouped_folds(dev, spec.outer_folds, spec.seed)
    if part == "all":
        if not base_test:
            return PartState({}, {}, np.zeros((0, 0)), 0, {"selected": {}, "max_gap": 0.0, "fits": 0,
                                                           "unconverged_fits": 0, "tol": spec.tol,
                                                           "start_time": time.time(), "end_time": time.time()})
        return fit_part(base, labels, dev, sorted(base_test), outer, prev, spec, where=where, log=log)
    if not part.startswith("fold") or not part[4:].isdigit() or not 1 <= int(part[4:]) <= spec.outer_folds:
        raise ValueError(f"grouped-cv parts are fold1..fold{spec.outer_folds} and all; got {part!r}")
    i = int(part[4:]) - 1
    held = set(outer[i])
    train = [n for n in dev if n not in held]
    inner = grouped_folds(train, spec.inner_folds, spec.seed + 1 + i)
    return fit_part(base, {n: labels[n] for n in train}, train, sorted(held), inner, prev, spec, where=where,
                    log=log)


def fuse_part_job(ranking_tsv: str | Path, runs_root: str | Path, labels_cache: str | Path, prev_state: str | None,
                  out_state: str | Path, *, protocol: str, stage: int, part: str, settings: Mapping) -> None:
    """The workflow's ``fuse_part`` job: one part of one fusion stage (a chain file) from the ranking's
    selected runs and the label cache; reads the previous stage's same part."""
    spec = FusionSpec.from_settings(settings)
    devel, _ = labels_from_cache(labels_cache)
    run_dirs = {r: Path(runs_root) / r / "predictions" for r in read_selected(ranking_tsv)}
    base_dev, base_test, notes = load_runs(devel, run_dirs)
    prev = PartState.load(prev_state) if prev_state else None
    print(f"read: {len(run_dirs)} runs ({', '.join(run_dirs)}), {len(base_dev)} Devel and {len(base_test)} Test "
          f"recordings; previous stage: {prev_state or 'none (stage 1)'}", flush=True)
    state = part_stage(protocol, part, int(stage), base_dev, base_test, devel, prev, spec,
                       log=lambda m: print(m, flush=True))
    state.report["test_cropped"] = notes["test_cropped"]
    state.save(out_state)
    print(f"wrote: {out_state}", flush=True)
