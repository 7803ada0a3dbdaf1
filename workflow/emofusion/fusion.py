"""Multistage SVR fusion of AVEC-format prediction folders (DESIGN.md section 4).

Per target, a linear SVR (L2-regularised least-absolute-deviation regression: sklearn's
``LinearSVR`` defaults, eps = 0, regularised intercept) on all 3 predicted dimensions of every input
run with a context window of +-k frames, over a grid of k and C; stage n+1 = the base runs plus
stage n's output. The solver is :mod:`emofusion.fusion_solver` (batched ADMM over the whole grid).

Context windows: a true +-k frames (2k+1 frames, centre once), built per recording; at a recording's
edges the first/last frame is repeated (edge replication), so a window never reads another
recording. Columns are lag-major (constant, lag 0, -1, +1, -2, +2, ...), so the design of a
smaller k is a leading block of the design of the largest k, and so is its Gram matrix.

Protocols
---------
``in-sample`` (the paper's, reproduced and labelled as such): fitted, selected and scored on the
same dev frames.

``grouped-cv``: G outer folds of dev recordings (grouped by recording, culture-stratified). For
each outer fold, stages 1..n are fitted on the other folds only: inside them, (k, C) per target and
stage are chosen by an inner grouped CV (its folds are again culture-stratified), the chosen model
is refitted on all the other folds and predicts the held-out fold; stage n+1 trains on stage n's
inner out-of-fold predictions and is applied to the held-out fold's stage-n output. A held-out
fold's labels are never read for its own predictions (a test replaces them with NaN). Cheaper than
full nesting in one documented way: the inner CV of stage n+1 reuses stage n's inner out-of-fold
predictions (made with the same inner folds), as usual stacking does; the outer no-leak rule holds.

Test predictions (``Test_*`` recordings present in every input folder) come from models fitted on
all Devel: in-sample, the in-sample models; grouped-cv, selection by grouped CV over all Devel
(the outer folds), then a refit on all Devel. Without test labels a test file has one row per
feature frame, so each test recording is cropped to the shortest of its files across runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import TARGETS
from .corpus import list_recordings, read_label_file, read_prediction_dir, write_prediction_dir
from .errors import DataError
from .fusion_solver import Group, solve_lad_svr
from .io import atomic_write_json, atomic_write_text
from .metrics import ccc, culture_of, score_recordings

PROTOCOLS = ("in-sample", "grouped-cv")
IN_SAMPLE_LABEL = "in-sample (fit, selected and scored on the same dev frames)"
GROUPED_LABEL = "grouped-cv (outer folds by recording; k, C chosen by inner grouped CV)"
T = len(TARGETS)

#: solver stopping rule: relative duality gap 3e-3 or 80 iterations. Measured on in-sample stage 1 of
#: the 9 official runs (all 60 grid columns): CCCs within 0.0028 of a 300-iteration solve (whose gaps
#: are <= 1.6e-3); tighter settings cost time roughly in proportion to the iterations.
SOLVER_TOL = 3e-3
SOLVER_MAX_ITER = 80


# --------------------------------------------------------------------------------------------- inputs

def load_runs(labels: Mapping[str, np.ndarray], run_dirs: Mapping[str, Path]
              ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Read every run folder; returns (dev channels, test channels, notes).

    Channels of a recording are ``(frames, 3 * R)`` float32, run by run in ``run_dirs`` order, TARGETS
    within a run. Devel predictions are cropped to the label length; test recordings to the
    shortest file across runs. Misaligned inputs (a missing recording, a short file, a different
    set of test recordings) raise one DataError naming the run and the recording.
    """
    if not run_dirs:
        raise DataError(None, "fusion needs at least one prediction folder")
    if not labels:
        raise DataError(None, "fusion needs Devel labels (none given)")
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
    keys = {run: sorted(t) for run, t in dev_tables.items()}
    first = next(iter(keys))
    for run, k in keys.items():
        if k != keys[first]:
            raise DataError(run_dirs[run], f"run {run!r} covers other Devel recordings than run {first!r}")
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
    test: dict[str, np.ndarray] = {}
    notes: dict = {"test_cropped": {}}
    for name in sorted(ref_test):
        vals = [read_label_file(Path(run_dirs[r]) / f"{name}.csv")[1] for r in runs]
        n = min(v.shape[0] for v in vals)
        if max(v.shape[0] for v in vals) != n:
            notes["test_cropped"][name] = n
        test[name] = np.concatenate([v[:n] for v in vals], axis=1).astype(np.float32)
    return dev, test, notes


# --------------------------------------------------------------------------------------------- design

def context_design(chans: np.ndarray, K: int) -> np.ndarray:
    """One recording's design matrix: constant column, then lag-major +-K context (edge replication).

    ``chans`` (n, m) -> (n, 1 + m (2K + 1)) float32; block j (j = 0, 1, 2, ...) holds lag
    0, -1, +1, -2, +2, ...; frames before the start repeat frame 0, after the end the last frame.
    """
    chans = np.asarray(chans, dtype=np.float32)
    n, m = chans.shape
    padded = np.concatenate([np.repeat(chans[:1], K, axis=0), chans, np.repeat(chans[-1:], K, axis=0)])
    X = np.empty((n, 1 + m * (2 * K + 1)), dtype=np.float32)
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
    P_new = n_columns(m_new, K)
    out = np.zeros((P_new,) + W.shape[1:])
    out[0] = W[0]
    for j in range(2 * K + 1):
        out[1 + j * m_new:1 + j * m_new + m_old] = W[1 + j * m_old:1 + (j + 1) * m_old]
    return out


# --------------------------------------------------------------------------------------------- fitting

@dataclass
class Grid:
    ks: tuple[int, ...]
    Cs: tuple[float, ...]
    tol: float = SOLVER_TOL
    max_iter: int = SOLVER_MAX_ITER

    @property
    def K(self) -> int:
        return max(self.ks)

    def configs(self) -> list[tuple[int, float]]:
        return [(k, C) for k in self.ks for C in self.Cs]


@dataclass
class _Data:
    """Design matrices and Grams per recording for one stage."""

    X: dict[str, np.ndarray]
    G: dict[str, np.ndarray] = field(default_factory=dict)
    XtY: dict[str, np.ndarray] = field(default_factory=dict)

    def stack(self, names: Sequence[str]) -> np.ndarray:
        return np.concatenate([self.X[n] for n in names]) if len(names) > 1 else self.X[names[0]]

    def gram(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        G = np.zeros_like(self.G[names[0]])
        XtY = np.zeros_like(self.XtY[names[0]])
        for n in names:
            G += self.G[n]
            XtY += self.XtY[n]
        return G, XtY


def _stage_data(chans: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], train_names: Sequence[str],
                K: int) -> _Data:
    d = _Data({n: context_design(c, K) for n, c in chans.items()})
    for n in train_names:
        X = d.X[n]
        d.G[n] = (X.T @ X).astype(np.float64)
        d.XtY[n] = (X.T @ np.asarray(Y[n], dtype=np.float32)).astype(np.float64)
    return d


def _grid_groups(grid: Grid, m: int) -> list[Group]:
    return [Group(n_columns(m, k), float(C), tuple(range(T))) for k, C in grid.configs()]


def _fit_grid(d: _Data, Y: Mapping[str, np.ndarray], names: Sequence[str], groups: list[Group], grid: Grid,
              W0: np.ndarray | None, rho0: np.ndarray | None = None):
    X = d.stack(names)
    y = np.concatenate([Y[n] for n in names]).astype(np.float32)
    G, XtY = d.gram(names)
    return solve_lad_svr(X, G, XtY, y, groups, W0=W0, tol=grid.tol, max_iter=grid.max_iter, rho0=rho0)


def _ccc_columns(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CCC of every grid column (config-major, targets within) against its target."""
    out = np.empty(pred.shape[1])
    for j in range(pred.shape[1]):
        out[j] = ccc(pred[:, j], y[:, j % T])
    return out


def _select(cccs: np.ndarray, grid: Grid) -> list[int]:
    """Per target, the grid column with the highest CCC (first one on ties: smaller k, then C)."""
    c = cccs.reshape(len(grid.configs()), T)
    c = np.where(np.isfinite(c), c, -np.inf)
    return [int(np.argmax(c[:, t])) * T + t for t in range(T)]


def _selection_dict(cols: list[int], grid: Grid) -> dict:
    cfg = grid.configs()
    return {TARGETS[t]: {"k": int(cfg[cols[t] // T][0]), "C": float(cfg[cols[t] // T][1])} for t in range(T)}


def _split_preds(pred: np.ndarray, names: Sequence[str], lengths: Mapping[str, int]) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for n in names:
        out[n] = pred[i:i + lengths[n]]
        i += lengths[n]
    return out


def _with_prev(base: Mapping[str, np.ndarray], prev: Mapping[str, np.ndarray] | None, names) -> dict:
    if prev is None:
        return {n: base[n] for n in names}
    return {n: np.concatenate([base[n], prev[n].astype(np.float32)], axis=1) for n in names}


def in_sample(base_dev: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], base_test: Mapping[str, np.ndarray],
              grid: Grid, stages: int, log=None) -> list[dict]:
    """The paper's protocol: per stage fit the whole grid on all dev, select by dev CCC, predict."""
    dev_names = sorted(base_dev)
    test_names = sorted(base_test)
    lengths = {n: len(v) for n, v in {**base_dev, **base_test}.items()}
    prev_dev = prev_test = None
    W_prev, m_prev, rho = None, None, None
    out = []
    ycat = np.concatenate([Y[n] for n in dev_names])
    for s in range(1, stages + 1):
        t0 = time.perf_counter()
        chans = {**_with_prev(base_dev, prev_dev, dev_names), **_with_prev(base_test, prev_test, test_names)}
        m = next(iter(chans.values())).shape[1]
        d = _stage_data(chans, Y, dev_names, grid.K)
        groups = _grid_groups(grid, m)
        W0 = None if W_prev is None else _expand_weights(W_prev, m_prev, m, grid.K)
        fit = _fit_grid(d, Y, dev_names, groups, grid, W0, rho)
        W, rho = fit.W, fit.rho
        pred = d.stack(dev_names) @ W.astype(np.float32)
        cols = _select(_ccc_columns(pred, ycat), grid)
        prev_dev = _split_preds(pred[:, cols], dev_names, lengths)
        prev_test = (_split_preds(d.stack(test_names) @ W[:, cols].astype(np.float32), test_names, lengths)
                     if test_names else {})
        W_prev, m_prev = W, m
        out.append({"dev": prev_dev, "test": prev_test, "selected": _selection_dict(cols, grid),
                    "seconds": time.perf_counter() - t0})
        if log:
            log(f"in-sample stage {s}: {time.perf_counter() - t0:.1f} s")
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


def cv_stack(base: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], train: Sequence[str],
             targets: Sequence[str], folds: Sequence[Sequence[str]], grid: Grid, stages: int) -> list[dict]:
    """Stacked fusion with CV selection: fit on ``train`` only, predict ``targets``.

    Per stage: the grid is fitted on each fold's complement (warm-started from the previous fold),
    (k, C) per target chosen by the CCC of the concatenated out-of-fold predictions, the chosen
    models refitted on all ``train`` and applied to ``targets``. Stage n+1's input on ``train`` is
    stage n's out-of-fold output, on ``targets`` the refitted models' output. Labels of ``targets``
    are never read.
    """
    train = sorted(train)
    targets = sorted(targets)
    lengths = {n: len(base[n]) for n in (*train, *targets)}
    prev = None
    W_prev, m_prev, rho = None, None, None
    ytrain = np.concatenate([Y[n] for n in train])
    out = []
    for _s in range(1, stages + 1):
        chans = _with_prev(base, prev, (*train, *targets))
        m = chans[train[0]].shape[1]
        d = _stage_data(chans, Y, train, grid.K)
        groups = _grid_groups(grid, m)
        W = None if W_prev is None else _expand_weights(W_prev, m_prev, m, grid.K)
        oof = {}
        Ws = []
        for f in folds:
            fit_on = [n for n in train if n not in set(f)]
            fit = _fit_grid(d, Y, fit_on, groups, grid, W, rho)
            W, rho = fit.W, fit.rho
            Ws.append(W)
            pf = d.stack(list(f)) @ W.astype(np.float32)
            oof.update(_split_preds(pf, sorted(f), lengths))
        oof_cat = np.concatenate([oof[n] for n in train])
        cols = _select(_ccc_columns(oof_cat, ytrain), grid)
        sel = _selection_dict(cols, grid)
        cfg = grid.configs()
        refit_groups = [Group(n_columns(m, cfg[cols[t] // T][0]), float(cfg[cols[t] // T][1]), (t,)) for t in range(T)]
        W_mean = np.mean(Ws, axis=0)
        Wr = _fit_grid(d, Y, train, refit_groups, grid, W_mean[:, cols], rho[[c // T for c in cols]]).W
        pred_targets = _split_preds(d.stack(targets) @ Wr.astype(np.float32), targets, lengths)
        oof_sel = {n: v[:, cols] for n, v in oof.items()}
        prev = {**oof_sel, **pred_targets}
        W_prev, m_prev = W_mean, m
        out.append({"pred": pred_targets, "oof": oof_sel, "selected": sel})
    return out


def outer_fold(base_dev: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], outer: Sequence[Sequence[str]],
               i: int, grid: Grid, stages: int, inner_folds: int, seed: int) -> list[dict]:
    """Stages 1..n for outer fold ``i``: fitted on the other folds only; per stage its predictions
    for fold ``i`` (``"pred"``) and the selection. Only the other folds' labels are passed on."""
    fold = set(outer[i])
    train = sorted(n for n in base_dev if n not in fold)
    inner = grouped_folds(train, inner_folds, seed + 1 + i)
    return cv_stack(base_dev, {n: Y[n] for n in train}, train, sorted(fold), inner, grid, stages)


def _outer_job(args):
    from threadpoolctl import threadpool_limits

    *call, threads = args
    t0 = time.perf_counter()
    with threadpool_limits(threads):
        res = outer_fold(*call)
    return res, time.perf_counter() - t0


def grouped_cv(base_dev: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray],
               base_test: Mapping[str, np.ndarray], grid: Grid, stages: int, outer_folds: int,
               inner_folds: int, seed: int, log=None, n_jobs: int = 1) -> tuple[list[dict], dict]:
    """The honest protocol; returns per stage {"dev", "test", "selected"} and the fold layout.

    ``n_jobs`` > 1 runs outer folds in that many processes (one BLAS thread each)."""
    dev_names = sorted(base_dev)
    outer = grouped_folds(dev_names, outer_folds, seed)
    jobs = [(base_dev, Y, outer, i, grid, stages, inner_folds, seed, 1 if n_jobs > 1 else None)
            for i in range(len(outer))]
    if n_jobs > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(n_jobs, len(jobs)), mp_context=mp.get_context("fork")) as ex:
            done = list(ex.map(_outer_job, jobs))
    else:
        done = [_outer_job(j) for j in jobs]
    per_fold = [d[0] for d in done]
    if log:
        for i, d in enumerate(done):
            log(f"grouped-cv outer fold {i + 1}/{len(outer)}: {d[1]:.1f} s")
    test_runs = None
    if base_test:
        t0 = time.perf_counter()
        allb = {**base_dev, **base_test}
        test_runs = cv_stack(allb, Y, dev_names, sorted(base_test), outer, grid, stages)
        if log:
            log(f"grouped-cv test models (CV over all dev, refit on all dev): {time.perf_counter() - t0:.1f} s")
    out = []
    for s in range(stages):
        dev = {}
        for fr in per_fold:
            dev.update(fr[s]["pred"])
        sel = {"outer_folds": [fr[s]["selected"] for fr in per_fold]}
        if test_runs is not None:
            sel["test"] = test_runs[s]["selected"]
        out.append({"dev": dev, "test": test_runs[s]["pred"] if test_runs else {}, "selected": sel})
    return out, {"outer_folds": outer}


# --------------------------------------------------------------------------------------------- outputs

def _log_mlflow(tracking_uri: str, experiment_name: str | None, run_name: str, protocol: str, stage: int,
                inputs: list[str], selected: dict, scores: dict, scores_path: Path) -> None:
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri)
    name = experiment_name or "Default"
    exp = client.get_experiment_by_name(name)
    if exp is None:
        raise DataError(None, f"MLflow experiment {name!r} not found at {tracking_uri} (run init-tracking first)")
    run = client.create_run(exp.experiment_id, run_name=run_name,
                            tags={"kind": "fusion", "protocol": protocol, "stage": str(stage)})
    rid = run.info.run_id
    try:
        client.log_param(rid, "inputs", ",".join(inputs)[:6000])
        client.log_param(rid, "protocol", protocol)
        for t in TARGETS:
            if "outer_folds" in selected:
                ks = [s[t]["k"] for s in selected["outer_folds"]]
                cs = [s[t]["C"] for s in selected["outer_folds"]]
                client.log_param(rid, f"k_{t}", ",".join(map(str, ks)))
                client.log_param(rid, f"C_{t}", ",".join(f"{c:g}" for c in cs))
            else:
                client.log_param(rid, f"k_{t}", selected[t]["k"])
                client.log_param(rid, f"C_{t}", selected[t]["C"])
        for split, block in scores.items():
            if split not in ("devel", "test"):
                continue
            for cult, row in block.items():
                for t, v in row.items():
                    if v is not None and np.isfinite(v):
                        client.log_metric(rid, f"{split}_{cult}_{t}".replace("+", "_"), float(v))
        client.log_artifact(rid, str(scores_path))
        client.set_terminated(rid, "FINISHED")
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise


def fuse(labels: dict[str, np.ndarray], run_dirs: dict[str, Path], out_dir: Path, *, protocol: str,
         stages: int = 5, ks=(11, 13, 15, 17, 19), Cs=(1e-3, 1e-2, 1e-1, 1.0), outer_folds: int = 4,
         inner_folds: int = 3, seed: int = 0, test_labels: dict[str, np.ndarray] | None = None,
         tracking_uri: str | None = None, experiment_name: str | None = None, run_prefix: str = "",
         tol: float = SOLVER_TOL, max_iter: int = SOLVER_MAX_ITER, n_jobs: int = 1, log=None) -> dict:
    """Run one protocol for ``stages`` stages; write ``out_dir/stage{n}/{predictions/,scores.json}``.

    ``labels``: Devel labels ``{recording: (frames, 3)}``; ``run_dirs``: ``{run name: folder}``.
    Returns ``{"protocol", "stages": [{"stage", "scores", "selected", "seconds"}], ...}``.
    ``n_jobs``: processes for the grouped-cv outer folds; ``tol``/``max_iter``: solver stopping rule.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if stages < 1:
        raise ValueError("stages must be >= 1")
    ks = tuple(int(k) for k in ks)
    Cs = tuple(float(c) for c in Cs)
    if not ks or min(ks) < 0 or not Cs or min(Cs) <= 0:
        raise ValueError("ks must be >= 0 and Cs > 0, both non-empty")
    out_dir = Path(out_dir)
    labels = {n: np.asarray(v, dtype=np.float64) for n, v in labels.items()}
    t_start = time.perf_counter()
    base_dev, base_test, notes = load_runs(labels, run_dirs)
    grid = Grid(ks, Cs, tol=tol, max_iter=max_iter)
    layout: dict = {}
    if protocol == "in-sample":
        results = in_sample(base_dev, labels, base_test, grid, stages, log=log)
    else:
        results, layout = grouped_cv(base_dev, labels, base_test, grid, stages, outer_folds, inner_folds, seed,
                                     log=log, n_jobs=n_jobs)
    per_stage = []
    for s, res in enumerate(results, start=1):
        scores = {"devel": score_recordings(labels, res["dev"])}
        if test_labels:
            have = {n: v for n, v in test_labels.items() if n in res["test"]}
            for n, v in have.items():
                if len(res["test"][n]) < len(v):
                    raise DataError(None, f"test recording {n}: {len(v)} label frames, but the shortest run's "
                                          f"prediction file has only {len(res['test'][n])} rows")
            if have:
                scores["test"] = score_recordings(have, res["test"])
        doc = {**scores, "protocol": protocol,
               "protocol_description": IN_SAMPLE_LABEL if protocol == "in-sample" else GROUPED_LABEL,
               "stage": s, "inputs": list(run_dirs) + ([f"stage{s - 1}"] if s > 1 else []),
               "selected": res["selected"], **layout}
        if notes["test_cropped"]:
            doc["test_cropped_to_shortest_run"] = notes["test_cropped"]
        sdir = out_dir / f"stage{s}"
        write_prediction_dir(sdir / "predictions", {**res["dev"], **res["test"]})
        atomic_write_json(sdir / "scores.json", doc)
        if tracking_uri:
            _log_mlflow(tracking_uri, experiment_name, f"{run_prefix}fusion/{protocol}/stage{s}", protocol, s,
                        doc["inputs"], res["selected"], scores, sdir / "scores.json")
        per_stage.append({"stage": s, "scores": scores, "selected": res["selected"],
                          "seconds": res.get("seconds")})
    return {"protocol": protocol, "out_dir": str(out_dir), "stages": per_stage,
            "seconds": time.perf_counter() - t_start, **layout}


# --------------------------------------------------------------------------------------------- tables

SUMMARY_COLUMNS = ["protocol", "stage", "split", "culture", *TARGETS, "mean"]


def summarise(fusion_root: Path):
    """Long table of every ``fusion_root/{protocol}/stage{n}/scores.json``."""
    import pandas as pd

    rows = []
    root = Path(fusion_root)
    for proto_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for sdir in sorted(proto_dir.glob("stage*"), key=lambda p: (len(p.name), p.name)):
            f = sdir / "scores.json"
            if not f.is_file() or not sdir.name[5:].isdigit():
                continue
            try:
                doc = json.loads(f.read_text())
            except json.JSONDecodeError as exc:
                raise DataError(f, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
            for split in ("devel", "test"):
                for cult, row in (doc.get(split) or {}).items():
                    missing = [t for t in (*TARGETS, "mean") if t not in row]
                    if missing:
                        raise DataError(f, f"{split}.{cult} lacks {missing[0]!r}")
                    rows.append({"protocol": proto_dir.name, "stage": int(sdir.name[5:]), "split": split,
                                 "culture": cult, **{t: row[t] for t in (*TARGETS, "mean")}})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def write_summary(fusion_root: Path, out_tsv: Path) -> None:
    df = summarise(fusion_root)
    atomic_write_text(out_tsv, df.to_csv(sep="\t", index=False, float_format="%.4f"))


def format_stage_table(summary: dict) -> str:
    """Stage x target CCC (devel, DE+HU) of one :func:`fuse` result, with the protocol named."""
    proto = summary["protocol"]
    title = IN_SAMPLE_LABEL if proto == "in-sample" else GROUPED_LABEL
    lines = [f"fusion {title}", f"{'stage':<7}" + "".join(f"{t:>9}" for t in (*TARGETS, "mean"))]
    for st in summary["stages"]:
        row = next(iter(st["scores"]["devel"].values()))
        lines.append(f"{st['stage']:<7}" + "".join(f"{row[t]:>9.3f}" for t in (*TARGETS, "mean")))
    return "\n".join(lines)
