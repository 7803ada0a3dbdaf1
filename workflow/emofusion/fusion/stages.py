"""Multistage SVR fusion of AVEC-format prediction folders, as a chain of stages.

Per target, a linear SVR (L2-regularised least-absolute-deviation regression: sklearn's
``LinearSVR`` defaults, eps = 0, regularised intercept) on all 3 predicted dimensions of every input
run with a context window of +-k frames, over a grid of k and C; stage n+1 = the base runs plus
stage n's output. Every fit of the grid is solved to a relative duality gap <= ``tol``
(:mod:`emofusion.fusion.solver`), recorded, and flagged where it is not reached.

Context windows (``method: emofusion``): a true +-k frames (2k+1 frames, centre once), built per
recording; at a recording's edges the first/last frame is repeated, so a window never reads another
recording. Columns are lag-major (constant, lag 0, -1, +1, -2, +2, ...), so the design of a smaller
k is a leading block of the design of the largest k. ``method: avec2019`` is the AVEC 2019
``fuse_results.py`` construction and solver instead (see :mod:`emofusion.fusion.avec`).

The chain
---------
A stage of a protocol is made of *parts*, each an independent job whose only fusion input is the
same part of the previous stage (a ``.npz`` chain file, :class:`PartState`):

``in-sample`` (the paper's protocol, labelled as such): one part, ``all``: fit the grid on all dev,
select (k, C) per target by dev CCC, predict dev and test.

``grouped-cv``: part ``fold<i>`` for each outer fold i of dev recordings (culture-stratified): stages
are fitted on the other folds only; inside them (k, C) per target are chosen by an inner grouped CV,
the chosen model is refitted on all the other folds and predicts fold i; the next stage trains on
this stage's inner out-of-fold predictions (stored in the chain file) and is applied to fold i's
stage output. Fold i's labels are never read for its own predictions. Part ``all`` makes the test
predictions: (k, C) chosen by grouped CV over all dev (the outer folds), then a refit on all dev.

:func:`gather_stage` joins a stage's parts into ``predictions/`` and ``scores.json``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import SCORE_COLUMNS, TARGETS
from ..data.layout import list_recordings, read_prediction_dir, write_prediction_dir
from ..errors import ConfigError, DataError
from ..formats import write_scores
from ..io import atomic_write_text
from ..results.metrics import culture_of, score_recordings
from ..spec import check_block
from .chain import PartState, with_prev
from .selection import REPORT_TOL, TIE_MARGIN, ccc_columns, choose, column_cccs, score_noise, tol_levels
from .solver import Problem, Solution, solve

PROTOCOLS = ("in-sample", "grouped-cv")
IN_SAMPLE_LABEL = "in-sample (fit, selected and scored on the same dev frames)"
GROUPED_LABEL = "grouped-cv (outer folds by recording; k, C chosen by inner grouped CV)"
T = len(TARGETS)

Log = Callable[[str], None]


def _quiet(_msg: str) -> None:
    pass


# --------------------------------------------------------------------------------------------- spec

@dataclass(frozen=True)
class FusionSpec:
    """Every fusion setting, with its one default. The workflow, the CLI and the tests build it."""

    ks: tuple[int, ...] = (11, 13, 15, 17, 19)
    Cs: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0)
    tol: float = 1e-3
    outer_folds: int = 4
    inner_folds: int = 3
    seed: int = 0
    method: str = "emofusion"

    def __post_init__(self):
        object.__setattr__(self, "ks", tuple(int(k) for k in self.ks))
        object.__setattr__(self, "Cs", tuple(float(c) for c in self.Cs))
        # the config schema's rules for these keys (the one check; the workflow's config check uses them too)
        check_block("fusion", {"ks": list(self.ks), "Cs": list(self.Cs), "tol": self.tol, "method": self.method,
                               "outer_folds": self.outer_folds, "inner_folds": self.inner_folds, "seed": self.seed},
                    "fusion")
        if self.method == "avec2019" and min(self.ks) < 1:  # across two keys: not in the schema
            raise ConfigError("fusion.ks: the avec2019 window needs k >= 1")

    @property
    def K(self) -> int:
        return max(self.ks)

    def configs(self) -> list[tuple[int, float]]:
        """Grid points (k, C), k-major; a grid column is ``config index * T + target``."""
        return [(k, C) for k in self.ks for C in self.Cs]


def parts(protocol: str, outer_folds: int) -> list[str]:
    """The parts of one stage: ``all`` for in-sample; ``fold1..foldG`` and ``all`` for grouped-cv."""
    if protocol == "in-sample":
        return ["all"]
    if protocol == "grouped-cv":
        return [f"fold{i}" for i in range(1, outer_folds + 1)] + ["all"]
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


# --------------------------------------------------------------------------------------------- inputs

def fusion_labels(labels: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    """Labels as every fusion caller fits and scores them: rounded to float32 (the workflow's label
    cache holds float32), then float64. The CLI reads label CSVs, the workflow its cache: both pass
    through here, so both fit the same problem to the last bit."""
    if labels is None:
        return None
    return {n: np.asarray(v, dtype=np.float32).astype(np.float64) for n, v in labels.items()}


def ordered_runs(run_dirs: Mapping[str, Path]) -> dict[str, Path]:
    """Runs in the one order fusion uses: by name (the design's columns, hence where the solver
    stops, follow it; argument order on the command line or rank order in the workflow must not)."""
    return {r: Path(run_dirs[r]) for r in sorted(run_dirs)}


def load_runs(labels: Mapping[str, np.ndarray], run_dirs: Mapping[str, Path]
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Read every run folder; returns (dev channels, test channels, notes).

    Channels of a recording are ``(frames, 3 * R)`` float32, run by run in name order
    (:func:`ordered_runs`, whatever the order of ``run_dirs``), TARGETS
    within a run. Devel predictions are cropped to the label length; test recordings to the
    shortest file across runs. Misaligned inputs (a missing recording, a short file, a different
    set of test recordings) raise one DataError naming the run and the recording.
    """
    if not run_dirs:
        raise DataError(None, "fusion needs at least one prediction folder")
    if not labels:
        raise DataError(None, "fusion needs Devel labels (none given)")
    run_dirs = ordered_runs(run_dirs)
    lengths = {n: int(np.asarray(v).shape[0]) for n, v in labels.items()}
    dev_tables: dict[str, dict[str, np.ndarray]] = {}
    test_sets: dict[str, list[str]] = {}
    for run, folder in run_dirs.items():
        folder = Path(folder)
        if not folder.is_dir():
            raise DataError(folder, f"run {run!r}: predictions folder not found")
        missing = [n for n in sorted(lengths) if not (folder / f"{n}.csv").is_file()]
        if missing:
            raise DataError(folder / f"{missing[0]}.csv",
                            f"run {run!r} has no prediction for recording {missing[0]}"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        try:
            dev_tables[run] = read_prediction_dir(folder, lengths)
        except DataError as exc:
            raise DataError(exc.path, f"run {run!r}: {exc.message}", exc.line, exc.column) from None
        test_sets[run] = list_recordings(folder, partitions=["Test"])
    runs = list(run_dirs)
    ref_test = set(test_sets[runs[0]])
    for run in runs[1:]:
        diff = sorted(ref_test.symmetric_difference(test_sets[run]))
        if diff:
            holder = runs[0] if diff[0] in ref_test else run
            lacker = run if holder == runs[0] else runs[0]
            raise DataError(Path(run_dirs[lacker]) / f"{diff[0]}.csv",
                            f"test recording {diff[0]} is in run {holder!r} but not in run {lacker!r}")
    dev = {n: np.concatenate([dev_tables[r][n] for r in runs], axis=1).astype(np.float32) for n in sorted(lengths)}
    test, cropped = stack_unlabelled(run_dirs, sorted(ref_test))
    return dev, test, {"test_cropped": cropped}


def stack_unlabelled(run_dirs: Mapping[str, Path], names: Sequence[str]) -> tuple[dict[str, np.ndarray], dict]:
    """The channels of recordings without labels (Test; new recordings in ``emofusion predict``):
    every run's whole file, run by run in name order, cropped to the shortest run's; returns
    (channels, {name: frames} of the recordings cropped)."""
    run_dirs = ordered_runs(run_dirs)
    tables = {r: read_prediction_dir(d, names=list(names)) for r, d in run_dirs.items()}
    out: dict[str, np.ndarray] = {}
    cropped: dict[str, int] = {}
    for name in names:
        vals = [tables[r][name] for r in run_dirs]
        n = min(v.shape[0] for v in vals)
        if max(v.shape[0] for v in vals) != n:
            cropped[name] = n
        out[name] = np.concatenate([v[:n] for v in vals], axis=1).astype(np.float32)
    return out, cropped


# --------------------------------------------------------------------------------------------- design

def context_design(chans: np.ndarray, K: int) -> np.ndarray:
    """One recording's design matrix: constant column, then lag-major +-K context (edge replication).

    ``chans`` (n, m) -> (n, 1 + m (2K + 1)) float64; block j (j = 0, 1, 2, ...) holds lag
    0, -1, +1, -2, +2, ...; frames before the start repeat frame 0, after the end the last frame.
    """
    chans = np.asarray(chans, dtype=np.float64)
    n, m = chans.shape
    padded = np.concatenate([np.repeat(chans[:1], K, axis=0), chans, np.repeat(chans[-1:], K, axis=0)])
    X = np.empty((n, 1 + m * (2 * K + 1)))
    X[:, 0] = 1.0
    for j, lag in enumerate(lag_order(K)):
        X[:, 1 + j * m:1 + (j + 1) * m] = padded[K + lag:K + lag + n]
    return X


def lag_order(K: int) -> list[int]:
    return [0] + [s for j in range(1, K + 1) for s in (-j, j)]


def n_columns(m: int, k: int) -> int:
    return 1 + m * (2 * k + 1)


def _expand_weights(W: np.ndarray, m_old: int, m_new: int, K: int) -> np.ndarray:
    """Weights for ``m_old`` channels -> the layout with ``m_new`` channels (new channels last, 0)."""
    out = np.zeros((n_columns(m_new, K),) + W.shape[1:])
    out[0] = W[0]
    for j in range(2 * K + 1):
        out[1 + j * m_new:1 + j * m_new + m_old] = W[1 + j * m_old:1 + (j + 1) * m_old]
    return out


class _Design:
    """Per-recording design matrices and Grams of one part-stage; fits on any set of recordings."""

    def __init__(self, chans: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], train: Sequence[str],
                 spec: FusionSpec):
        self.spec = spec
        self.m = next(iter(chans.values())).shape[1]
        self.X = {n: context_design(c, spec.K) for n, c in chans.items()}
        # X^T X per recording over the narrowest width only: the solver needs it for the cold start
        # of the smallest k (wider problems start from the narrower solutions)
        p0 = n_columns(self.m, min(spec.ks))
        self.G = {n: self.X[n][:, :p0].T @ self.X[n][:, :p0] for n in train}
        self.Y = {n: np.asarray(Y[n], dtype=np.float64) for n in train}
        self.lengths = {n: len(x) for n, x in self.X.items()}

    def problems(self, configs: Sequence[tuple[int, float, int]]) -> list[Problem]:
        return [Problem(n_columns(self.m, k), C, t) for k, C, t in configs]

    def fit(self, names: Sequence[str], problems: list[Problem], W0: np.ndarray | None, *,
            lam0: np.ndarray | None = None, sigma0: np.ndarray | None = None, tol: float | None = None) -> Solution:
        X = np.concatenate([self.X[n] for n in names])
        Y = np.concatenate([self.Y[n] for n in names])
        G = None if sigma0 is not None else sum(self.G[n] for n in names)
        return solve(X, Y, problems, tol=self.spec.tol if tol is None else tol, G=G, W0=W0, lam0=lam0, sigma0=sigma0)

    def predict(self, names: Sequence[str], W: np.ndarray) -> dict[str, np.ndarray]:
        return {n: self.X[n] @ W for n in names}


def _grid(spec: FusionSpec) -> list[tuple[int, float, int]]:
    return [(k, C, t) for k, C in spec.configs() for t in range(T)]


# --------------------------------------------------------------------------------------------- one part

def _fit_warning(log: Log, what: str, sol: Solution, tol: float) -> None:
    bad = np.flatnonzero(~sol.converged)
    if bad.size:
        log(f"WARNING {what}: {bad.size} fit(s) stopped above tol {tol:g} (largest gap {sol.gap.max():.2e})")


def fit_part(base: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], train: Sequence[str],
             targets: Sequence[str], folds: Sequence[Sequence[str]] | None, prev: PartState | None,
             spec: FusionSpec, *, where: str = "", log: Log = _quiet) -> PartState:
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
    d = _Design(chans, Y, train, spec)
    grid = _grid(spec)
    configs = spec.configs()
    problems = d.problems(grid)
    W0 = None if prev is None else _expand_weights(prev.W, prev.m, d.m, spec.K)
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


def grouped_folds(names: Sequence[str], n_folds: int, seed: int) -> list[list[str]]:
    """Culture-stratified folds of recordings: shuffle each culture (seeded), deal round robin,
    continuing the dealer position across cultures so fold sizes differ by at most one."""
    if n_folds < 2:
        raise ValueError("grouped CV needs at least 2 folds")
    if len(names) < n_folds:
        raise DataError(None, f"grouped CV with {n_folds} folds needs at least {n_folds} recordings, got {len(names)}")
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    pos = 0
    for cult in sorted({culture_of(n) for n in names}):
        members = sorted(n for n in names if culture_of(n) == cult)
        for i in rng.permutation(len(members)):
            folds[pos % n_folds].append(members[i])
            pos += 1
    return [sorted(f) for f in folds]


def part_stage(protocol: str, part: str, stage: int, base_dev: Mapping[str, np.ndarray],
               base_test: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], prev: PartState | None,
               spec: FusionSpec, log: Log = _quiet) -> PartState:
    """Stage ``stage`` of one part of a protocol (see the module docstring). Only the labels of the
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


# --------------------------------------------------------------------------------------------- a stage

def stage_predictions(protocol: str, states: Mapping[str, PartState]) -> tuple[dict, dict]:
    """(dev, test) predictions of a stage from its parts."""
    if protocol == "in-sample":
        pred = states["all"].pred
        return ({n: v for n, v in pred.items() if not n.startswith("Test_")},
                {n: v for n, v in pred.items() if n.startswith("Test_")})
    dev: dict[str, np.ndarray] = {}
    for part, st in states.items():
        if part != "all":
            dev.update(st.pred)
    return dev, dict(states["all"].pred) if "all" in states else {}


def stage_solver_report(states: Mapping[str, PartState]) -> dict:
    """The solver figures of a stage: the largest gap over every fit of every part (None where the
    faithful mode's liblinear gives none), fits that stopped above tol, the parts' real start and end."""
    reps = [s.report for s in states.values() if s.report.get("fits")]
    gaps = [r["max_gap"] for r in reps]
    return {"tol": next((r["tol"] for r in reps), None),
            "max_gap": None if any(g is None for g in gaps) else max(gaps, default=0.0),
            "fits": sum(r["fits"] for r in reps), "unconverged_fits": sum(r["unconverged_fits"] for r in reps),
            **({"select_tols": reps[0]["select_tols"], "report_tol": reps[0]["report_tol"],
                "tie_margin": reps[0]["tie_margin"],
                "tight_fits": sum(r["tight_fits"] for r in reps)} if reps and "select_tols" in reps[0] else {}),
            "converged": all(r["unconverged_fits"] == 0 for r in reps),
            "start_time": min(s.report["start_time"] for s in states.values()),
            "end_time": max(s.report["end_time"] for s in states.values())}


def gather_stage(protocol: str, stage: int, states: Mapping[str, PartState], labels: Mapping[str, np.ndarray],
                 test_labels: Mapping[str, np.ndarray] | None, inputs: Sequence[str], out_dir: str | Path,
                 spec: FusionSpec, test_cropped: Mapping[str, int] | None = None) -> dict:
    """Write ``out_dir/predictions/`` and ``out_dir/scores.json`` (last) of one stage; return the doc."""
    out_dir = Path(out_dir)
    dev, test = stage_predictions(protocol, states)
    scores = {"devel": score_recordings(labels, dev)}
    if test_labels:
        have = {n: v for n, v in test_labels.items() if n in test}
        for n, v in have.items():
            if len(test[n]) < len(v):
                raise DataError(None, f"test recording {n}: {len(v)} label frames, but the shortest run's "
                                      f"prediction file has only {len(test[n])} rows")
        if have:
            scores["test"] = score_recordings(have, test)
    if protocol == "in-sample":
        selected = states["all"].report["selected"]
        layout = {}
    else:
        folds = sorted((p for p in states if p != "all"), key=lambda p: int(p[4:]))
        selected = {"outer_folds": [states[p].report["selected"] for p in folds]}
        if test:
            selected["test"] = states["all"].report["selected"]
        layout = {"outer_folds": grouped_folds(sorted(labels), spec.outer_folds, spec.seed)}
    solver = stage_solver_report(states)
    doc = {**scores, "protocol": protocol,
           "protocol_description": IN_SAMPLE_LABEL if protocol == "in-sample" else GROUPED_LABEL,
           "stage": stage, "inputs": sorted(inputs) + ([f"stage{stage - 1}"] if stage > 1 else []),
           "method": spec.method, "selected": selected, "solver": solver, **layout}
    if test_cropped:
        doc["test_cropped_to_shortest_run"] = dict(test_cropped)
    write_prediction_dir(out_dir / "predictions", {**dev, **test})
    write_scores(out_dir / "scores.json", doc)
    return doc


def log_stage_run(tracking_uri: str, experiment_name: str, run_name: str, doc: dict, scores_path: Path,
                  workdir: str | None = None) -> None:
    """One MLflow run per stage and protocol, with the stage's real start and end (its parts' jobs)."""
    from mlflow.tracking import MlflowClient

    from ..tracking import (
        METRIC_DECIMALS,
        RESULT_TAG,
        close_stale_runs,
        replace_runs_of_same_result,
        result_digest,
        run_artifacts,
        source_tags,
    )

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        raise DataError(None, f"MLflow experiment {experiment_name!r} not found at {tracking_uri} "
                              "(run init-tracking first)")
    tags = {"kind": "fusion", "protocol": doc["protocol"], "stage": str(doc["stage"])}
    if workdir:
        tags["emofusion.workdir"] = workdir
    close_stale_runs(tracking_uri, experiment_name, run_name, tags)
    # exactly one run per stage: an attempt killed after scores.json was written left a run of this
    # same result (RUNNING, or FINISHED if the kill came after it closed): this one replaces it
    tags[RESULT_TAG] = result_digest(scores_path)
    replace_runs_of_same_result(tracking_uri, experiment_name, run_name, tags)
    # what the SVR saw: in-sample stages are fitted (and their k, C chosen) on the very frames scored
    tags["fitted_on"] = ("the scored dev frames (optimistic)" if doc["protocol"] == "in-sample"
                         else "other dev recordings (held out)")
    tags.update(source_tags("emofusion.fusion.stages.log_stage_run"))
    solver = doc["solver"]
    run = client.create_run(exp.experiment_id, run_name=run_name, tags=tags,
                            start_time=int(solver["start_time"] * 1000))
    rid = run.info.run_id
    try:
        from mlflow.entities import Metric, Param

        sel = doc["selected"]
        params = [Param("inputs", ",".join(doc["inputs"])[:6000]), Param("protocol", doc["protocol"]),
                  Param("method", doc["method"]), Param("tol", f"{solver['tol']}")]
        for t in TARGETS:
            rows = sel["outer_folds"] if "outer_folds" in sel else [sel]
            params.append(Param(f"k_{t}", ",".join(str(r[t]["k"]) for r in rows)))
            params.append(Param(f"C_{t}", ",".join(f"{r[t]['C']:g}" for r in rows)))
        now = int(solver["end_time"] * 1000)
        metrics = [] if solver["max_gap"] is None else [Metric("solver_max_gap", float(solver["max_gap"]), now, 0)]
        for split in ("devel", "test"):
            for cult, row in (doc.get(split) or {}).items():
                for t, v in row.items():
                    if v is not None and np.isfinite(v):
                        metrics.append(Metric(f"{split}_{cult}_{t}".replace("+", "_"),
                                              round(float(v), METRIC_DECIMALS), now, 0))
        client.log_batch(rid, metrics=metrics, params=params)
        run_artifacts(tracking_uri, rid, run.info.artifact_uri).log_artifact(str(scores_path))
        client.set_terminated(rid, "FINISHED", end_time=max(now, int(time.time() * 1000)))
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise


# --------------------------------------------------------------------------------------------- the whole chain

def run_chain(labels: Mapping[str, np.ndarray], run_dirs: Mapping[str, Path], chain_dir: str | Path, *,
              protocol: str, stages: int, spec: FusionSpec, test_labels: Mapping[str, np.ndarray] | None = None,
              tracking_uri: str | None = None, experiment_name: str | None = None, run_prefix: str = "",
              n_jobs: int = 1, first_stage: int = 1, log: Log = _quiet) -> list[dict]:
    """Stages ``first_stage``..``stages`` of one protocol exactly as the workflow's chain of rules
    computes them (the same part files), into ``chain_dir/stage{n}/``; returns each stage's doc. From
    ``first_stage`` > 1 on, the chain resumes from stage ``first_stage - 1``'s files.

    ``n_jobs`` > 1 runs parts in that many processes (the results do not depend on it)."""
    return run_chains(labels, run_dirs, {protocol: chain_dir}, stages=stages, spec=spec, test_labels=test_labels,
                      tracking_uri=tracking_uri, experiment_name=experiment_name, run_prefix=run_prefix,
                      n_jobs=n_jobs, first_stage=first_stage, log=log)[protocol]


def run_chains(labels: Mapping[str, np.ndarray], run_dirs: Mapping[str, Path], chain_dirs: Mapping[str, str | Path],
               *, stages: int, spec: FusionSpec, test_labels: Mapping[str, np.ndarray] | None = None,
               tracking_uri: str | None = None, experiment_name: str | None = None, run_prefix: str = "",
               n_jobs: int = 1, first_stage: int = 1, log: Log = _quiet) -> dict[str, list[dict]]:
    """The chains of several protocols (``chain_dirs``: protocol -> its folder), scheduled as the
    workflow's DAG is: a part of stage n starts as soon as the same part of stage n - 1 is done, in
    ``n_jobs`` processes, and a stage is joined (``gather_stage``, its MLflow run) as soon as all its
    parts are. Returns each protocol's stage docs in stage order."""
    for proto in chain_dirs:
        if proto not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {proto!r}")
    dirs = {proto: Path(d) for proto, d in chain_dirs.items()}
    labels, test_labels = fusion_labels(labels), fusion_labels(test_labels)
    base_dev, base_test, notes = load_runs(labels, run_dirs)
    names = {proto: parts(proto, spec.outer_folds) for proto in dirs}
    docs: dict[str, list[dict]] = {proto: [] for proto in dirs}
    done: dict[tuple[str, int], dict[str, PartState]] = {}
    ready = []  # (stage, protocol, part, previous state)
    for proto in dirs:
        for p in names[proto]:
            prev = None if first_stage == 1 else PartState.load(dirs[proto] / f"stage{first_stage - 1}" / f"{p}.npz")
            ready.append((first_stage, proto, p, prev))

    def finish(s: int, proto: str, p: str, st: PartState, lines: list[str]) -> None:
        for line in lines:
            log(line)
        st.save(dirs[proto] / f"stage{s}" / f"{p}.npz")
        states = done.setdefault((proto, s), {})
        states[p] = st
        if s < stages:
            ready.append((s + 1, proto, p, st))
        if len(states) == len(names[proto]):
            states = {q: states[q] for q in names[proto]}
            sdir = dirs[proto] / f"stage{s}"
            doc = gather_stage(proto, s, states, labels, test_labels, list(run_dirs), sdir, spec,
                               notes["test_cropped"])
            if tracking_uri:
                log_stage_run(tracking_uri, experiment_name or "Default", f"{run_prefix}fusion/{proto}/stage{s}",
                              doc, sdir / "scores.json")
            docs[proto].append(doc)
            del done[(proto, s)]

    def job(item):
        s, proto, p, prev = item
        return (proto, p, s, base_dev, base_test, labels, prev, spec)

    if n_jobs <= 1:
        while ready:
            item = ready.pop(0)
            st = part_stage(*job(item), log=log)  # logs as it goes (in processes: when the part is done)
            finish(item[0], item[1], item[2], st, [])
        return docs
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context("fork")) as ex:
        running = {}
        while ready or running:
            ready.sort(key=lambda it: (it[0], it[1] == "in-sample", it[2]))  # earliest stage first
            while ready and len(running) < n_jobs:
                item = ready.pop(0)
                running[ex.submit(_part_job, job(item))] = item
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: running[f][:3]):
                s, proto, p, _ = running.pop(fut)
                st, lines = fut.result()
                finish(s, proto, p, st, lines)
    return docs


def _part_job(job):
    lines: list[str] = []
    return part_stage(*job, log=lines.append), lines


# --------------------------------------------------------------------------------------------- tables

SUMMARY_COLUMNS = ["protocol", "stage", "split", "culture", *SCORE_COLUMNS,
                   *(f"{t}_{e}" for t in SCORE_COLUMNS for e in ("lo", "hi")), "solver_max_gap", "converged"]
BOOTSTRAP = {"n_boot": 1000, "seed": 0, "level": 0.95}  # the intervals of summary.tsv


def summarise(score_files: Sequence[str | Path], labels: Mapping[str, np.ndarray],
              test_labels: Mapping[str, np.ndarray] | None = None):
    """Long table of the given stage ``scores.json`` files (protocol and stage read from each), with
    a 95 % recording-level bootstrap interval (1000 resamples, stratified by culture, seeded) of every
    CCC, from the stage's ``predictions/`` beside its ``scores.json``."""
    import pandas as pd

    from ..formats import read_scores
    from ..results.metrics import bootstrap_ccc

    rows = []
    for f in score_files:
        f = Path(f)
        doc = read_scores(f)
        for key in ("protocol", "stage", "solver"):
            if key not in doc:
                raise DataError(f, f"not a fusion stage's scores.json (no {key!r})")
        for split, lab in (("devel", labels), ("test", test_labels)):
            if not doc.get(split):
                continue
            lab = {n: v for n, v in (lab or {}).items() if split == "devel" or n.startswith("Test_")}
            preds = read_prediction_dir(f.parent / "predictions", {n: len(v) for n, v in lab.items()})
            ci = bootstrap_ccc(lab, preds, **BOOTSTRAP)
            for cult, row in doc[split].items():
                bounds = {f"{t}_{e}": ci[cult][t][e] for t in SCORE_COLUMNS for e in ("lo", "hi")}
                rows.append({"protocol": doc["protocol"], "stage": int(doc["stage"]), "split": split,
                             "culture": cult, **{t: row[t] for t in SCORE_COLUMNS}, **bounds,
                             "solver_max_gap": doc["solver"]["max_gap"],
                             "converged": bool(doc["solver"]["converged"])})
    df = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return df.sort_values(["protocol", "stage"], kind="stable").reset_index(drop=True)


def write_summary(score_files: Sequence[str | Path], labels: Mapping[str, np.ndarray],
                  test_labels: Mapping[str, np.ndarray] | None, out_tsv: str | Path) -> None:
    df = summarise(score_files, labels, test_labels)
    atomic_write_text(out_tsv, df.to_csv(sep="\t", index=False, float_format="%.4g"))


def format_stage_table(protocol: str, docs: Sequence[dict]) -> str:
    """Stage x target CCC (devel, the pooled culture group) of one protocol, with the protocol named
    and the solver's largest gap."""
    from ..formats import pooled_group

    title = IN_SAMPLE_LABEL if protocol == "in-sample" else GROUPED_LABEL
    lines = [f"fusion {title}",
             f"{'stage':<7}" + "".join(f"{t:>9}" for t in SCORE_COLUMNS) + f"{'max gap':>10}"]
    for doc in docs:
        row = doc["devel"][pooled_group(doc["devel"])]
        flag = "" if doc["solver"]["converged"] else "  NOT CONVERGED"
        lines.append(f"{doc['stage']:<7}" + "".join(f"{row[t]:>9.3f}" for t in SCORE_COLUMNS)
                     + (f"{doc['solver']['max_gap']:>10.1e}" if doc["solver"]["max_gap"] is not None else f"{'-':>10}")
                     + flag)
    return "\n".join(lines)
