"""Faithful mode (``fusion.method: avec2019``): the AVEC 2019 baseline's own fusion, opt-in.

It rebuilds what the challenge's ``fuse_results.py`` does, so the published numbers can be checked
with the published method:

* the context window of a frame is the frame itself, then frames ``m - c`` and ``m + c`` for
  ``c = 0 .. k-1`` (so the centre frame appears three times and the reach is k-1), clamped to the
  ends of the *concatenated* set of recordings in file (name) order, not per recording;
* float64 features, then scikit-learn's ``LinearSVR(C=C)`` with its defaults as the challenge ran
  it (epsilon 0, tol 1e-4, max_iter 1000; ``random_state=0`` so runs repeat), per target.

liblinear often stops at its iteration limit on these inputs (a ConvergenceWarning): that is part of
what is reproduced, and recorded per fit (``converged``, ``newton`` = liblinear's iterations, no
duality gap). Slow: order of an hour per stage on 2 cores at paper scale.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

from .. import TARGETS

T = len(TARGETS)


def author_context(P: np.ndarray, k: int) -> np.ndarray:
    """``fuse_results.py``'s window over one concatenated block ``P`` (frames, channels)."""
    idx = np.arange(P.shape[0])
    cols = [P] + [P[np.maximum(0, idx - c)] for c in range(k)] + [P[np.minimum(P.shape[0] - 1, idx + c)]
                                                                for c in range(k)]
    return np.concatenate(cols, axis=1)


def _block(chans: Mapping[str, np.ndarray], names: Sequence[str], k: int) -> dict[str, np.ndarray]:
    """The author's design of the concatenation of ``names`` (in order), split back per recording."""
    if not names:
        return {}
    P = np.concatenate([np.asarray(chans[n], dtype=np.float64) for n in names])
    X = author_context(P, k)
    out, i = {}, 0
    for n in names:
        out[n] = X[i:i + len(chans[n])]
        i += len(chans[n])
    return out


def fit_svr(X: np.ndarray, y: np.ndarray, C: float):
    """One challenge-style fit; returns (model, converged, iterations)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVR

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model = LinearSVR(C=C, random_state=0).fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return model, converged, int(np.max(model.n_iter_))


def fit_part_avec(base, Y, train, targets, folds, prev, spec, *, where: str = "", log=None):
    from .chain import PartState, with_prev
    from .selection import best_columns, ccc_columns

    log = log or (lambda _m: None)
    t0, started = time.perf_counter(), time.time()
    train, targets = sorted(train), sorted(targets)
    chans = with_prev(base, prev, (*train, *targets))
    configs = spec.configs()
    designs = {k: {**_block(chans, train, k), **_block(chans, targets, k)} for k in spec.ks}
    Yt = {n: np.asarray(Y[n], dtype=np.float64) for n in train}

    def fit_predict(fit_on, predict_on, cols=None):
        preds = {n: np.zeros((len(chans[n]), len(configs) * T)) for n in predict_on}
        info = {}
        for ci, (k, C) in enumerate(configs):
            X = np.concatenate([designs[k][n] for n in fit_on])
            for t in range(T):
                col = ci * T + t
                if cols is not None and col not in cols:
                    continue
                y = np.concatenate([Yt[n][:, t] for n in fit_on])
                t1 = time.perf_counter()
                model, conv, iters = fit_svr(X, y, C)
                info[col] = (conv, iters)
                log(f"{where} fit k={k} C={C:g} {TARGETS[t]} on {len(fit_on)} recordings: liblinear {iters} "
                    f"iterations{'' if conv else ' (max_iter)'}, {time.perf_counter() - t1:.1f} s")
                for n in predict_on:
                    preds[n][:, col] = model.predict(designs[k][n])
        return preds, info

    if folds is None:
        preds, info = fit_predict(train, (*train, *targets))
        cols = best_columns(ccc_columns(preds, Yt, train), len(configs))
        pred = {n: v[:, cols] for n, v in preds.items()}
        oof = {}
        all_info = info
    else:
        oof_all, all_info = {}, {}
        for f in folds:
            fit_on = [n for n in train if n not in set(f)]
            p, info = fit_predict(fit_on, sorted(f))
            oof_all.update(p)
            all_info.update({(len(all_info), c): v for c, v in info.items()})
        cols = best_columns(ccc_columns(oof_all, Yt, train), len(configs))
        p, info = fit_predict(train, targets, set(cols))
        pred = {n: v[:, cols] for n, v in p.items()}
        oof = {n: v[:, cols] for n, v in oof_all.items()}
        all_info.update({("refit", c): v for c, v in info.items()})
    chosen = info
    selected = {}
    for t, c in enumerate(cols):
        k, C = configs[c // T]
        conv, iters = chosen[c]
        selected[TARGETS[t]] = {"k": int(k), "C": float(C), "gap": None, "newton": iters, "converged": conv}
        log(f"{where} {TARGETS[t]}: k={k} C={C:g} liblinear {iters} iterations"
            f"{'' if conv else ' NOT converged'} ({time.perf_counter() - t0:.1f} s)")
    n_bad = sum(not v[0] for v in all_info.values())
    if n_bad:
        log(f"WARNING {where}: {n_bad} of {len(all_info)} liblinear fits stopped at max_iter (as in the challenge)")
    report = {"selected": selected, "max_gap": None, "fits": len(all_info), "unconverged_fits": n_bad,
              "tol": None, "solver": "liblinear (sklearn LinearSVR)", "seconds": time.perf_counter() - t0,
              "start_time": started, "end_time": time.time()}
    return PartState({n: v.astype(np.float32) for n, v in pred.items()},
                     {n: v.astype(np.float32) for n, v in oof.items()}, np.zeros((0, 0)), 0, report)
