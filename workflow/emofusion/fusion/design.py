"""Design matrices of the fusion's linear SVRs: the context windows of a recording's channels.

Context windows (``method: emofusion``): a true +-k frames (2k+1 frames, centre once), built per
recording; at a recording's edges the first/last frame is repeated, so a window never reads another
recording. Columns are lag-major (constant, lag 0, -1, +1, -2, +2, ...), so the design of a smaller
k is a leading block of the design of the largest k: one design of the largest k serves the whole
grid. :func:`expand_weights` lays the previous stage's weights out for this stage's channels (its
output appended last), the warm start of the stage's first fit. ``method: avec2019`` builds the
AVEC 2019 ``fuse_results.py`` window instead (:mod:`emofusion.fusion.avec`).

:class:`Design` holds one part-stage's designs and Grams and fits them with the solver
(:mod:`emofusion.fusion.solver`) on any set of recordings; a grid column is (k, C, target), k-major
(:func:`grid_columns`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .. import TARGETS
from ..fusion_spec import FusionSpec
from .solver import Problem, Solution, solve

T = len(TARGETS)


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


def expand_weights(W: np.ndarray, m_old: int, m_new: int, K: int) -> np.ndarray:
    """Weights for ``m_old`` channels -> the layout with ``m_new`` channels (new channels last, 0)."""
    out = np.zeros((n_columns(m_new, K),) + W.shape[1:])
    out[0] = W[0]
    for j in range(2 * K + 1):
        out[1 + j * m_new:1 + j * m_new + m_old] = W[1 + j * m_old:1 + (j + 1) * m_old]
    return out


class Design:
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


def grid_columns(spec: FusionSpec) -> list[tuple[int, float, int]]:
    """The grid's columns (k, C, target), k-major: column ``config index * T + target``."""
    return [(k, C, t) for k, C in spec.configs() for t in range(T)]
