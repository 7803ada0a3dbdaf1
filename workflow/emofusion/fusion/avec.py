"""Faithful mode (``fusion.method: avec2019``): the AVEC 2019 baseline's own fusion, opt-in.

It rebuilds what the challenge's ``fuse_results.py`` does, so the published numbers can be checked
with the published method:

* the context window of a frame is the frame itself, then frames ``m - c`` and ``m + c`` for
  ``c = 0 .. k-1`` (so the centre frame appears three times and the reach is k-1);
* fitting and the choice of (k, C): the window is built over the *concatenated* training recordings
  in file (name) order, clamped to the ends of that concatenation, not per recording; each (k, C) is
  scored by the CCC of its predictions on that same joined design (first best on ties, k-major, as
  the script's strict ``>``);
* prediction (what is written, scored and passed to the next stage): per recording, as the script
  writes its prediction files: the recording's channels zero-padded to ``NUM_STEPS`` = 1768 rows
  (the script's ``num_steps``), the window built on that padded copy (clamped to its rows 0 and
  1767), then cropped to the recording's length. So a recording's first frames repeat its own first
  frame and its last k-1 frames read zeros past its end. A recording longer than 1768 rows (where
  the script would stop) is not padded: its window clamps to its own last frame;
* float64 features, then scikit-learn's ``LinearSVR(C=C)`` with its defaults as the challenge ran
  it (epsilon 0, tol 1e-4, max_iter 1000; ``random_state=0`` so runs repeat), per target.

The fusion's readers crop a prediction file to its labels (dev) or to the shortest file across runs
(test), so the rows that a longer file holds past that point are not seen here: the padding is
zeros, as it is for this project's own runs. The official AVEC 2019 dev files run to 1768 rows with
the runs' own outputs past each recording's end; the script's window reads those at the last k-1
frames of a recording (docs/fusion.md gives what that changes on the official runs).

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

#: ``fuse_results.py``'s ``num_steps``: the rows of every prediction file it reads and writes
NUM_STEPS = 1768


def author_context(P: np.ndarray, k: int) -> np.ndarray:
    """``fuse_results.py``'s window over one concatenated block ``P`` (frames, channels)."""
    idx = np.arange(P.shape[0])
    cols = [P] + [P[np.maximum(0, idx - c)] for c in range(k)] + [P[np.minimum(P.shape[0] - 1, idx + c)]
                                                                for c in range(k)]
    return np.concatenate(cols, axis=1)


def padded(chans: np.ndarray, n_steps: int = NUM_STEPS) -> np.ndarray:
    """One recording's channels as the script's prediction loop reads them: its rows, then zero rows
    up to ``n_steps`` rows (none where it already has that many or more)."""
    chans = np.asarray(chans, dtype=np.float64)
    return np.concatenate([chans, np.zeros((max(0, n_steps - len(chans)), chans.shape[1]))])


def script_design(chans: np.ndarray, k: int, n_steps: int = NUM_STEPS) -> np.ndarray:
    """The script's prediction design of one recording: its window over the padded copy
    (:func:`padded`), cropped to the recording's rows."""
    return author_context(padded(chans, n_steps), k)[:len(chans)]


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
    """:func:`emofusion.fusion.fit.fit_part` in faithful mode (same arguments, same PartState).

    ``folds`` None (in-sample, the script's protocol): fit the grid on the joined design of all
    ``train``, choose (k, C) per target by the CCC of its predictions on that joined design, then
    predict ``train`` and ``targets`` per recording (:func:`script_design`). Otherwise (grouped-cv):
    the grid is fitted on each fold's complement (joined design), predicts the held-out fold per
    recording, (k, C) chosen by the CCC of those out-of-fold predictions, the chosen models refitted
    on all ``train`` and applied to ``targets`` per recording.
    """
    from .chain import PartState, with_prev
    from .selection import best_columns, ccc_columns

    log = log or (lambda _m: None)
    t0, started = time.perf_counter(), time.time()
    train, targets = sorted(train), sorted(targets)
    chans = with_prev(base, prev, (*train, *targets))
    configs = spec.configs()
    designs = {k: _block(chans, train, k) for k in spec.ks}  # the joined training design, split per recording
    Yt = {n: np.asarray(Y[n], dtype=np.float64) for n in train}

    def fit_grid(fit_on, cols=None):
        """The grid's fits on the joined design of ``fit_on``: {column: model}, {column: (converged, iters)}."""
        models, info = {}, {}
        for ci, (k, C) in enumerate(configs):
            X = np.concatenate([designs[k][n] for n in fit_on])
            for t in range(T):
                col = ci * T + t
                if cols is not None and col not in cols:
                    continue
                y = np.concatenate([Yt[n][:, t] for n in fit_on])
                t1 = time.perf_counter()
                models[col], conv, iters = fit_svr(X, y, C)
                info[col] = (conv, iters)
                log(f"{where} fit k={k} C={C:g} {TARGETS[t]} on {len(fit_on)} recordings: liblinear {iters} "
                    f"iterations{'' if conv else ' (max_iter)'}, {time.perf_counter() - t1:.1f} s")
        return models, info

    def predict_joined(models, names):
        """Every grid column on the joined training design (the script's selection criterion)."""
        out = {n: np.zeros((len(chans[n]), len(configs) * T)) for n in names}
        for col, model in models.items():
            k = configs[col // T][0]
            for n in names:
                out[n][:, col] = model.predict(designs[k][n])
        return out

    def predict_script(models, cols, names):
        """Columns ``cols`` (in that order) per recording, as the script writes its prediction files."""
        out = {n: np.zeros((len(chans[n]), len(cols))) for n in names}
        for n in names:
            for k in sorted({configs[c // T][0] for c in cols}):
                X = script_design(chans[n], k)
                for j, c in enumerate(cols):
                    if configs[c // T][0] == k:
                        out[n][:, j] = models[c].predict(X)
        return out

    everything = list(range(len(configs) * T))
    if folds is None:
        models, info = fit_grid(train)
        cols = best_columns(ccc_columns(predict_joined(models, train), Yt, train), len(configs))
        pred = predict_script(models, cols, (*train, *targets))
        oof = {}
        all_info = info
    else:
        oof_all, all_info = {}, {}
        for f in folds:
            fit_on = [n for n in train if n not in set(f)]
            models, info = fit_grid(fit_on)
            oof_all.update(predict_script(models, everything, sorted(f)))
            all_info.update({(len(all_info), c): v for c, v in info.items()})
        cols = best_columns(ccc_columns(oof_all, Yt, train), len(configs))
        models, info = fit_grid(train, set(cols))
        pred = predict_script(models, cols, targets)
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
