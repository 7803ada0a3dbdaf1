"""Choosing the fusion's (k, C) per target from the grid's selection scores.

The rule (docs/fusion.md, "How (k, C) is chosen"): per target, the selection score of a grid point
is its CCC (in-sample: on the fitted frames; grouped-cv: of the inner out-of-fold predictions).
Scores within TIE_MARGIN of the best are ties, and a tie goes to the simpler model: smaller k, then
smaller C. A score is only known to within what the solver's gap allows, so a grid point the choice
depends on (one that could be on either side of the margin, and the one that bounds the best from
above) is re-solved to the gap of SELECT_TOLS (1e-4) first, resuming its fit, and the choice is made
on the re-solved scores. The chosen models are always solved to REPORT_TOL = 1e-5 (their predictions
are what the tables report and the next stage reads), so a reported CCC moves by at most
score_noise(1e-5) = 3.2e-4 with the solver's stopping point: under half a unit of the printed third
decimal (docs/fusion.md, "Which digits are certified").

Faithful mode keeps the challenge script's rule, the first highest score (:func:`best_columns`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .. import TARGETS
from ..results.metrics import ccc

T = len(TARGETS)


def ccc_columns(preds: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """CCC of every grid column (config-major, targets within) against its target."""
    width = next(iter(preds.values())).shape[1]
    return column_cccs(preds, Y, names, [j % T for j in range(width)])


def column_cccs(preds: Mapping[str, np.ndarray], Y: Mapping[str, np.ndarray], names: Sequence[str],
                 targets: Sequence[int]) -> np.ndarray:
    """CCC of prediction column i against target ``targets[i]`` over ``names`` joined."""
    P = np.concatenate([preds[n] for n in names])
    y = np.concatenate([Y[n] for n in names])
    return np.array([ccc(P[:, i], y[:, t]) for i, t in enumerate(targets)])


def best_columns(cccs: np.ndarray, n_configs: int) -> list[int]:
    """Per target, the grid column with the highest CCC, the first one on exact ties (faithful mode's
    rule, as the challenge script chooses)."""
    c = cccs.reshape(n_configs, T)
    c = np.where(np.isfinite(c), c, -np.inf)
    return [int(np.argmax(c[:, t])) * T + t for t in range(T)]


TIE_MARGIN = 1e-3  # selection CCCs that differ by less than the tables' third decimal are ties
#: the gaps an undecided grid point is re-solved to, one level at a time (each resumes the last)
SELECT_TOLS = (1e-4,)
#: the gap the chosen models are solved to: their predictions are what the tables report and the next
#: stage reads; score_noise(1e-5) = 3.2e-4, under the third decimal's half unit (5e-4)
REPORT_TOL = 1e-5


def tol_levels(tol: float) -> list[float]:
    """The working gap ``tol``, then every tighter re-solve level of :data:`SELECT_TOLS`."""
    return [tol] + [t for t in SELECT_TOLS if t < tol]


def score_noise(tol: float) -> float:
    """How far a grid point's selection CCC may move between a fit to relative gap ``tol`` and the
    exact optimum: 0.1 sqrt(tol). Measured on the 9 official AVEC 2019 runs (stage 1, ks 1 3 5, the
    4 Cs; the largest move over the grid, in-sample and inner-cv, at tol 1e-3 .. 1e-6 against 1e-8),
    this bound is above every measured move by a factor of 1.2 or more."""
    return 0.1 * float(np.sqrt(tol))


def simplicity_order(configs: Sequence[tuple[int, float]]) -> list[int]:
    """Config indices from the simplest model: smaller k (fewer columns), then smaller C (stronger
    regularisation); the order a tie is broken in, whatever the order of the grid in the config."""
    return sorted(range(len(configs)), key=lambda i: (configs[i][0], configs[i][1]))


def choose(scores: np.ndarray, configs: Sequence[tuple[int, float]], noises: Sequence[float],
           rescore: Callable[[list[int], int], np.ndarray],
           margin: float = TIE_MARGIN) -> tuple[list[int], dict]:
    """Per target, the grid column the rule picks (see the module docstring), and what it took.

    ``scores``: the selection CCC of every grid column (config-major, targets within) from fits to
    the working gap, each known to within ``noises[0]``; ``rescore(columns, level)`` re-solves those
    columns to re-solve level ``level`` (1 .. len(noises) - 1) and returns their new scores, known to
    within ``noises[level]``. A point the choice depends on is tightened one level at a time: the
    candidate itself and the point that bounds the best from above, so a decision usually costs a
    few re-solves, not the grid's. Returns the chosen columns (one per target, in TARGETS order) and,
    per target, the chosen score, the best score and the number of re-solved grid points.
    """
    n, last = len(configs), len(noises) - 1
    vals = np.where(np.isfinite(scores), scores, -np.inf).astype(np.float64)
    level = np.zeros(vals.shape, dtype=int)
    noise = np.asarray(noises, dtype=np.float64)
    order = simplicity_order(configs)
    cols, info = [], {}
    for t in range(T):
        idx = np.array([i * T + t for i in range(n)])
        while True:
            v, e, lv = vals[idx], noise[level[idx]], level[idx]
            lo, hi = np.max(v - e), np.max(v + e)  # the best score lies in [lo, hi]
            need: list[int] = []
            pick = None
            for i in order:
                if v[i] + e[i] < lo - margin:  # certainly not within the margin of the best
                    continue
                if v[i] - e[i] >= hi - margin:  # certainly within it: the simplest such model
                    pick = i
                    break
                # undecided: tighten this point, and the point whose upper bound is highest among
                # those that can still be tightened and could beat it by more than the margin
                if lv[i] < last:
                    need.append(i)
                rivals = [j for j in range(n) if j != i and lv[j] < last and v[j] + e[j] > v[i] - e[i] + margin]
                if rivals:
                    need.append(max(rivals, key=lambda j: (v[j] + e[j], -j)))
                if not need:  # as tight as the levels go: decide on the scores as they are
                    if v[i] >= np.max(v) - margin:
                        pick = i
                        break
                    continue
                break
            if pick is not None or not need:
                break
            for L in sorted({int(lv[i]) + 1 for i in need}):  # one batch per level
                cs = [int(idx[i]) for i in need if lv[i] + 1 == L]
                new = np.asarray(rescore(cs, L), dtype=np.float64)
                vals[cs] = np.where(np.isfinite(new), new, -np.inf)
                level[cs] = L
        if pick is None:  # every score non-finite
            pick = order[0]
        cols.append(int(idx[pick]))
        info[TARGETS[t]] = {"score": float(vals[idx[pick]]), "best_score": float(np.max(vals[idx])),
                            "resolved": int((level[idx] > 0).sum())}
    return cols, info
