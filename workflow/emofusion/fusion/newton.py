"""The Newton direction of one SSNAL subproblem (:mod:`emofusion.fusion.solver`): the solve of
``(I + sigma X_J^T X_J) d = -g`` over the rows ``J`` in the quadratic zone, in the cheapest form, with
each problem's ``X_J^T X_J`` kept from its last step and updated in place (:class:`KeptGram`).

Only a search direction depends on what is computed here, so the products and factorisations may
be float32 (``Xg``, the solver's float32 copy of ``X``, or ``X`` itself below the solver's
``FLOAT32_TOL``; docs/fusion.md).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.linalg import blas, lapack

FLOAT32_UPDATES = 8  # float32 updates in a row before X_J^T X_J is formed afresh
FLOAT32_SCALE = 1e6  # the Newton matrix I + sigma X_J^T X_J is factorised in float32 while sigma times its
#                      largest diagonal entry is at most this (float32 then keeps the identity to about 6 %;
#                      the official runs' grids stayed below 6e5 at tol 1e-3), else in float64


class KeptGram:
    """``X_J^T X_J`` of one problem's last Newton step (upper triangle, float32), kept so that the next
    step, whose ``J`` differs in some rows, costs an in-place update by those rows instead of a new
    product."""

    __slots__ = ("J", "H", "updates")

    def __init__(self):
        self.J: np.ndarray | None = None
        self.H: np.ndarray | None = None
        self.updates = 0  # updates since the product was last formed afresh


def gram(X: np.ndarray, Xg: np.ndarray, G: np.ndarray | None, J: np.ndarray, p: int, nJ: int,
         cache: KeptGram | None) -> np.ndarray:
    """``X_J^T X_J`` over the first ``p`` columns in the precision of ``Xg`` (``X`` in float32, or ``X``
    itself; upper triangle valid), in the cheapest form:
    the kept product of the previous step, updated in place by the rows that entered and left ``J``
    (up to FLOAT32_UPDATES in a row, so that rounding does not pile up); ``G`` minus the rows out of
    ``J`` when most rows are in; else a fresh symmetric rank-k product."""
    N = J.size
    syrk = blas.ssyrk if Xg.dtype == np.float32 else blas.dsyrk
    if cache is not None and cache.H is not None:  # J and H are set together; p is the problem's own
        add = J & ~cache.J
        rem = cache.J & ~J
        if int(add.sum() + rem.sum()) < nJ and cache.updates < FLOAT32_UPDATES:
            H = cache.H
            if add.any():
                H = syrk(1.0, Xg[add, :p].T, trans=0, beta=1.0, c=H, overwrite_c=1)
            if rem.any():
                H = syrk(-1.0, Xg[rem, :p].T, trans=0, beta=1.0, c=H, overwrite_c=1)
            cache.J, cache.H, cache.updates = J, H, cache.updates + 1
            return H
    if G is not None and G.shape[0] >= p and nJ > N // 2:
        H = (G[:p, :p] - blas.dsyrk(1.0, X[~J, :p].T, trans=0)).astype(Xg.dtype)
    else:
        H = syrk(1.0, Xg[J, :p].T, trans=0)
    if cache is not None:
        cache.J, cache.H, cache.updates = J, H, 0
    return H


def newton_direction(X: np.ndarray, Xg: np.ndarray, G: np.ndarray | None, J: np.ndarray, p: int, sigma: float,
                     g: np.ndarray, cache: KeptGram | None = None) -> np.ndarray:
    """Solve ``(I + sigma X_J^T X_J) d = -g`` over the first ``p`` columns, in the cheapest form:
    the row space (Woodbury, float64) for few rows, else the p-space with ``X_J^T X_J`` from
    :func:`gram` and a float32 Cholesky factorisation while the penalty is moderate (FLOAT32_SCALE),
    else exact float64 from scratch (also where float32 rounding breaks definiteness)."""
    nJ = int(J.sum())
    if nJ == 0:
        return -g
    if nJ < 0.7 * p:
        XJ = X[J, :p]
        M = XJ @ XJ.T
        M[np.diag_indices(nJ)] += 1.0 / sigma
        try:
            return -g + XJ.T @ sla.cho_solve(sla.cho_factor(M, lower=False, check_finite=False), XJ @ g,
                                             check_finite=False)
        except np.linalg.LinAlgError:
            pass  # rank-deficient rows (repeated frames): the p-space form below is always definite
    A = gram(X, Xg, G, J, p, nJ, cache)
    if A.dtype == np.float32:
        if sigma * float(A.diagonal().max()) <= FLOAT32_SCALE:
            H = A * np.float32(sigma)
            H[np.diag_indices(p)] += 1.0
            c, info = lapack.spotrf(H, lower=0, overwrite_a=1, clean=0)
            if info == 0:
                return -lapack.spotrs(c, g.astype(np.float32), lower=0)[0].astype(np.float64)
        A = blas.dsyrk(1.0, X[J, :p].T, trans=0)
        if cache is not None:
            cache.J, cache.H, cache.updates = J, A.astype(np.float32), 0
    H = A * sigma
    H[np.diag_indices(p)] += 1.0
    # a penalty so large that the identity is lost in float64 rounding: the smallest diagonal shift
    # that makes the factorisation succeed (the direction only needs to be a descent direction)
    shift = 0.0
    while True:
        c, info = lapack.dpotrf(H, lower=0, clean=0)
        if info == 0:
            return -lapack.dpotrs(c, g, lower=0)[0]
        shift = max(10.0 * shift, 1e-14 * float(H.diagonal().max()))
        H[np.diag_indices(p)] += shift
