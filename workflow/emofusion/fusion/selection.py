"""Choosing the fusion's (k, C) per target from the grid's selection scores.

The rule (docs/fusion.md, "How (k, C) is chosen"): per target, the selection score of a grid point
is its CCC (in-sample: on the fitted frames; grouped-cv: of the inner out-of-fold predictions).
Scores within TIE_MARGIN of the best are ties, and a tie goes to the simpler model: smaller k, then
smaller C. A score is only known to within what the solver's gap allows, so a grid point the choice
depends on (one that could be on either side of the margin, or could be the best) is re-solved to
SELECT_TOL first, and the choice is made on the re-solved scores. The chosen models are always
re-solved to SELECT_TOL (their predictions are what the tables report and the next stage reads).

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
SELECT_TOL = 1e-4  # the gap the deciding grid points and the chosen models are re-solved to (1e-5 cost
#                    1.7x its Newton steps on the official runs, and some re-solves hit the step limit)


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


def choose(scores: np.ndarray, configs: Sequence[tuple[int, float]], noise: float,
           rescore: Callable[[list[int]], np.ndarray], tight_noise: float,
           margin: float = TIE_MARGIN) -> tuple[list[int], dict]:
    """Per target, the grid column the rule picks (see the comment above), and what it took.

    ``scores``: the selection CCC of every grid column (config-major, targets within) from fits to
    the working gap, each known to within ``noise``; ``rescore(columns)`` re-solves those columns to
    the tight gap and returns their new scores (known to within ``tight_noise``). Returns the chosen
    columns (one per target, in TARGETS order) and, per target, the chosen score, the best score and
    the number of re-solved grid points.
    """
    n = len(configs)
    vals = np.where(np.isfinite(scores), scores, -np.inf).astype(np.float64)
    eta = np.full(vals.shape, noise if noise > tight_noise else tight_noise)
    tight = np.zeros(vals.shape, dtype=bool) if noise > tight_noise else np.ones(vals.shape, dtype=bool)
    order = simplicity_order(configs)
    cols, info = [], {}
    for t in range(T):
        idx = np.array([i * T + t for i in range(n)])
        while True:
            v, e = vals[idx], eta[idx]
            lo, hi = np.max(v - e), np.max(v + e)  # the best score lies in [lo, hi]
            need: set[int] = set()
            pick = None
            for i in order:
                if v[i] + e[i] < lo - margin:  # certainly not within the margin of the best
                    continue
                if v[i] - e[i] >= hi - margin:  # certainly within it: the simplest such model
                    pick = i
                    break
                # undecided: this grid point and every one that may be the best decide it
                need = {int(idx[i])} | {int(idx[j]) for j in range(n) if v[j] + e[j] > lo}
                need = {c for c in need if not tight[c]}
                if not need:  # all re-solved: decide on the tight scores as they are
                    pick = i if v[i] >= np.max(v) - margin else None
                    if pick is None:
                        continue
                break
            if pick is not None or not need:
                break
            cs = sorted(need)
            vals[cs] = np.where(np.isfinite(new := np.asarray(rescore(cs), dtype=np.float64)), new, -np.inf)
            eta[cs], tight[cs] = tight_noise, True
        if pick is None:  # every score non-finite
            pick = order[0]
        cols.append(int(idx[pick]))
        info[TARGETS[t]] = {"score": float(vals[idx[pick]]), "best_score": float(np.max(vals[idx])),
                            "resolved": int(tight[idx].sum()) if noise > tight_noise else 0}
    return cols, info
