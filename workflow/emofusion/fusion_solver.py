"""A batched ADMM solver for L2-regularised least-absolute-deviation regression (linear SVR, eps = 0).

It minimises, for every column j of a batch, the objective of ``sklearn.svm.LinearSVR`` with its
defaults (``loss='epsilon_insensitive'``, ``epsilon=0``, ``fit_intercept=True``,
``intercept_scaling=1``: the intercept is a regularised constant feature, the caller puts it in
column 0 of ``X``)::

    min_w  0.5 ||w||^2 + C_j * sum_i |y_ij - x_i[:p_j] . w|

Many problems share one design matrix: the fusion grid is (context k) x (C) x (target), and the
design of a smaller k is the leading ``p_k`` columns of the design of the largest k (columns are
lag-major: constant, lag 0, lag -1, lag +1, ...). So one float32 GEMM ``X @ W`` per iteration
serves the whole grid (weights of unused lags are held at 0), instead of one matvec per problem.

ADMM splitting (Boyd et al. 2011, section 6.1 form) with ``z = y - X w``:

* w-update: ``(G_p + I / rho) w = X_p^T (y - z - u)`` -- a Cholesky solve, ``G = X^T X`` computed
  once by the caller (the Gram of a smaller k is a leading submatrix);
* z-update: soft threshold at ``C / rho`` (with over-relaxation ``alpha``);
* ``X^T z`` is the only second GEMM; ``X^T u`` is carried by a recurrence in the p-space.

The scaled dual ``u`` always satisfies ``|rho u| <= C``, so ``lambda = -rho u`` is dual feasible and
the duality gap ``P(w) - D(lambda)`` with ``D = lambda . y - 0.5 ||X^T lambda||^2`` is a free,
rigorous convergence certificate: a column stops when its relative gap is below ``tol``.
``rho`` is adapted a few times (residual balancing) per (p, C) group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

ADAPT_AT = frozenset(range(5, 101, 5))  # iterations at which rho may change (factors are cached by rho)


@dataclass(frozen=True)
class Group:
    """Problems that share a Cholesky factor: the first ``p`` columns of X, one C, several targets."""

    p: int
    C: float
    targets: tuple[int, ...]


@dataclass
class SolveResult:
    W: np.ndarray  # (P, ncols) float64, rows >= p of a column are 0
    gap: np.ndarray  # (ncols,) relative duality gap at exit
    primal: np.ndarray  # (ncols,) primal objective at exit
    iterations: int
    rho: np.ndarray  # (ngroups,) final ADMM penalty per group: a warm start for a similar problem


def _soft_update(v: np.ndarray, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.clip(v, -thr, thr)
    return v - c, c  # z, and -u


def solve_lad_svr(X: np.ndarray, G: np.ndarray, XtY: np.ndarray, Y: np.ndarray, groups: Sequence[Group], *,
                  W0: np.ndarray | None = None, tol: float = 1e-3, max_iter: int = 300, alpha: float = 1.6,
                  rho0: float | np.ndarray | None = None) -> SolveResult:
    """Solve every (group, target) problem; columns are ordered group by group, targets within.

    ``X`` (N, P) float32 with the constant column first; ``G`` (P, P) = X^T X; ``XtY`` (P, T) = X^T Y;
    ``Y`` (N, T). ``W0`` (P, ncols) warm start (e.g. the same grid solved on a neighbouring fold);
    ``rho0``: per-group initial ADMM penalty (e.g. ``SolveResult.rho`` of that solve), or a factor
    times C (default 10 C).
    """
    X = np.ascontiguousarray(X, dtype=np.float32)
    N, P = X.shape
    G = np.asarray(G, dtype=np.float64)
    XtY = np.asarray(XtY, dtype=np.float64)
    Y32 = np.asarray(Y, dtype=np.float32)
    col_t = np.array([t for g in groups for t in g.targets], dtype=int)
    col_g = np.array([i for i, g in enumerate(groups) for _ in g.targets], dtype=int)
    col_p = np.array([groups[i].p for i in col_g])
    col_C = np.array([groups[i].C for i in col_g], dtype=np.float64)
    n = col_t.size
    if n == 0:
        return SolveResult(np.zeros((P, 0)), np.zeros(0), np.zeros(0), 0, np.zeros(0))
    if (col_p > P).any() or (col_p < 1).any():
        raise ValueError(f"group column counts must lie in 1..{P}")
    mask = (np.arange(P)[:, None] < col_p[None, :]).astype(np.float64)  # (P, n)
    Yc = np.ascontiguousarray(Y32[:, col_t])
    Xy = XtY[:, col_t] * mask
    # rho starts at 10 C (residuals of order 0.1 make the threshold C / rho comparable to them)
    if rho0 is None or np.ndim(rho0) == 0:
        scale = 10.0 if rho0 is None else float(rho0)
        rho = np.array([scale * g.C for g in groups], dtype=np.float64)
    else:
        rho = np.array(rho0, dtype=np.float64).reshape(len(groups)).copy()
    cache: dict[tuple[int, float], tuple] = {}

    def factor(i: int):
        key = (groups[i].p, float(rho[i]))
        if key not in cache:
            p = groups[i].p
            A = G[:p, :p].copy()
            A[np.diag_indices(p)] += 1.0 / rho[i]
            cache[key] = sla.cho_factor(A, lower=False, check_finite=False)
        return cache[key]

    # state of the active columns only (compacted when a whole group has converged)
    act = np.arange(n)
    W = np.zeros((P, n))
    Wout = np.zeros((P, n))
    gap_out = np.full(n, np.inf)
    pobj_out = np.full(n, np.nan)
    ya = Yc
    Xya = Xy
    maska = mask
    thr = (col_C / rho[col_g]).astype(np.float32)
    if W0 is not None:
        W = np.asarray(W0, dtype=np.float64) * mask
        r = ya - X @ W.astype(np.float32)
        negu = np.clip(r, -thr, thr)
        z = r - negu
        u = -negu
        q = (X.T @ np.concatenate([z, u], axis=1)).astype(np.float64)
        qz, qu = q[:, :n] * mask, q[:, n:] * mask
    else:
        z = np.zeros((N, n), dtype=np.float32)
        u = np.zeros((N, n), dtype=np.float32)
        qz = np.zeros((P, n))
        qu = np.zeros((P, n))
    it = 0
    for it in range(1, max_iter + 1):
        ga = col_g[act]
        gids = np.unique(ga)
        rhs = Xya - qz - qu
        for i in gids:
            c = np.flatnonzero(ga == i)
            p = groups[i].p
            W[:p, c] = sla.cho_solve(factor(i), rhs[:p, c], check_finite=False)
        Xw = X @ W.astype(np.float32)
        xh = alpha * Xw
        xh += (1.0 - alpha) * (ya - z)
        v = ya - xh
        v -= u
        negu = np.clip(v, -thr, thr, out=u)  # reuse u's buffer: u_new = -clip(v)
        np.subtract(v, negu, out=v)
        z_new = v
        u = np.negative(negu, out=negu)
        qz_new = (X.T @ z_new).astype(np.float64) * maska
        qxh = alpha * (G @ W) + (1.0 - alpha) * (Xya - qz)
        qu += qxh + qz_new - Xya
        qu *= maska
        check = it % 5 == 0 or it == max_iter
        if check or it in ADAPT_AT:
            rr = rho[ga]
            r = ya - Xw
            pobj = 0.5 * np.einsum("pc,pc->c", W, W) + col_C[act] * np.abs(r).sum(0, dtype=np.float64)
            dobj = -rr * np.einsum("nc,nc->c", u, ya, dtype=np.float64) - 0.5 * rr**2 * np.einsum("pc,pc->c", qu, qu)
            gap = (pobj - dobj) / np.maximum(np.abs(pobj), 1e-300)
            prim = np.sqrt(np.einsum("nc,nc->c", Xw + z_new - ya, Xw + z_new - ya, dtype=np.float64))
            dual = rr * np.sqrt(np.einsum("pc,pc->c", qz_new - qz, qz_new - qz))
        z, qz = z_new, qz_new
        if it in ADAPT_AT:
            changed = False
            for i in gids:
                c = np.flatnonzero(ga == i)
                pr, du = prim[c].sum(), dual[c].sum()
                f = 2.0 if pr > 10.0 * du else 0.5 if du > 10.0 * pr else 1.0
                if f != 1.0:
                    rho[i] *= f
                    u[:, c] /= f
                    qu[:, c] /= f
                    changed = True
            if changed:
                thr = (col_C[act] / rho[ga]).astype(np.float32)
        if check:
            done_g = [i for i in gids if (gap[ga == i] <= tol).all()]
            if done_g or it == max_iter:
                fin = np.isin(ga, done_g) if it < max_iter else np.ones(act.size, dtype=bool)
                Wout[:, act[fin]] = W[:, fin]
                gap_out[act[fin]] = gap[fin]
                pobj_out[act[fin]] = pobj[fin]
                keep = ~fin
                if not keep.any():
                    break
                act = act[keep]
                W, z, u, qz, qu = W[:, keep], np.ascontiguousarray(z[:, keep]), np.ascontiguousarray(u[:, keep]), qz[:, keep], qu[:, keep]
                ya, Xya, maska, thr = np.ascontiguousarray(ya[:, keep]), Xya[:, keep], maska[:, keep], thr[keep]
    return SolveResult(Wout, gap_out, pobj_out, it, rho)


def fit_one(X: np.ndarray, y: np.ndarray, C: float, *, tol: float = 1e-4, max_iter: int = 2000) -> tuple[np.ndarray, float]:
    """One problem, sklearn-style input (no constant column): returns ``(coef, intercept)``.

    Same objective as ``LinearSVR(C=C)`` with its defaults; for tests and small uses.
    """
    X = np.asarray(X, dtype=np.float32)
    X1 = np.concatenate([np.ones((X.shape[0], 1), dtype=np.float32), X], axis=1)
    G = X1.astype(np.float64).T @ X1.astype(np.float64)
    y2 = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    res = solve_lad_svr(X1, G, X1.astype(np.float64).T @ y2, y2, [Group(X1.shape[1], float(C), (0,))],
                        tol=tol, max_iter=max_iter)
    w = res.W[:, 0]
    return w[1:], float(w[0])
