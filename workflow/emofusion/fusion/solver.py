"""An exact-to-tolerance solver for L2-regularised least-absolute-deviation regression (linear SVR, eps = 0).

For every problem j of a batch it minimises the objective of ``sklearn.svm.LinearSVR`` with its
defaults (``loss='epsilon_insensitive'``, ``epsilon=0``, ``fit_intercept=True``,
``intercept_scaling=1``: the intercept is a regularised constant feature; the caller puts it in
column 0 of ``X``)::

    P(w) = 0.5 ||w||^2 + C_j * sum_i |y_ij - x_i[:p_j] . w|

The fusion grid is (context k) x (C) x (target), and the design of a smaller k is the leading ``p_k``
columns of the design of the largest k (columns are lag-major), so all problems share one ``X``.
Every problem but the first of each target starts from a solved neighbour
(:func:`warm_start_sources`): the next smaller C at its width (the C path), else, for the smallest C,
the same C at the next narrower width (the column path: weights padded with 0). The grid is solved
in rounds, each problem one round after its source, a round's problems batched (a wavefront over
widths and Cs).

Method: an augmented Lagrangian on the split ``z = y - X w`` whose subproblems are solved by a
semismooth Newton method (SSNAL; X. Li, D. Sun, K.-C. Toh, "A highly efficient semismooth Newton
augmented Lagrangian method for solving Lasso problems", SIAM J. Optim. 2018, applied here to the
LAD-SVR objective). With multiplier ``lam`` and penalty ``sigma``, eliminating ``z`` leaves the
smooth, 1-strongly convex, piecewise-quadratic function

    psi(w) = 0.5 ||w||^2 + sum_i h(y_i - x_i . w + lam_i / sigma),
    h(v) = sigma v^2 / 2 if |v| <= C / sigma else C |v| - C^2 / (2 sigma)  (a Huber function),

with gradient ``w - X^T clip(sigma v, -C, C)`` and generalised Hessian ``I + sigma X_J^T X_J`` over the
rows ``J`` inside the quadratic zone. Near the solution ``J`` holds about ``p`` rows (the frames the
fit interpolates), so a Newton step is a small dense solve (in the row space when ``|J| < p``, by the
Woodbury identity). After each subproblem ``lam <- clip(sigma v, -C, C)`` and ``sigma`` grows.

Certificate: at every iterate ``g = grad psi(w)``, ``lam' = clip(sigma v, -C, C)`` is dual feasible
(``|lam'| <= C``) and ``X^T lam' = w - g``, so the duality gap ``P(w) - D(lam')`` with
``D(lam) = lam . y - 0.5 ||X^T lam||^2`` costs nothing extra (the best feasible multiple ``s lam'``
is taken, a free tightening). The lowest ``P`` and the highest ``D`` seen so far are kept (both stay
bounds; the iterate of the lowest ``P`` is returned): the dual candidate is only good once a
subproblem is nearly solved, while ``P`` is often within tol several steps earlier. A problem stops
when its relative gap ``(P - D) / P`` is at most ``tol``; since ``D <= min P``, ``P(w)`` is then
within ``tol`` of the optimum.

Iterates, dual bounds and line searches are float64. float32 is used where only a search direction
depends on it: forming, updating and factorising a Newton matrix (:mod:`emofusion.fusion.newton`:
each problem keeps its last ``X_J^T X_J`` and updates it in place by the rows that enter and leave
``J``) and the product ``X d`` (the running residuals then carry float32 rounding; the reported
objective and gap are recomputed exactly). The GEMMs of all active problems are batched; each
problem's Newton system is its own. The result depends only on the inputs and the BLAS thread
count; :func:`solve` runs BLAS on one thread, so results are the same however many processes or
cores run beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla

from .newton import KeptGram, newton_direction

SIGMA_GROWTH = 2.0  # penalty factor between subproblems (5 and 10 took more Newton steps on the official runs)
INNER_RTOL = 1e-6  # a subproblem is solved when ||grad psi|| <= INNER_RTOL * (1 + ||w||)
ZONE0 = 0.05  # initial share of residuals in the quadratic zone (from w = 0, shares below 0.2 stalled on
#               labels with runs of exact zeros; from the ridge start or a warm start 0.05 was fastest)
STATIONARITY_SHARE = 0.1  # 0.01 and 0.1 saved 3-7 % of the Newton steps on the official runs' grids; 0.3 saved less
FLOAT32_TOL = 1e-6  # below this tol everything is float64 (float32 rounding of the running residuals is
#                    about 1e-8 of the objective: a gap far below 1e-6 could not be certified)
GAP_MARGIN = 1e-4  # stop at (1 - GAP_MARGIN) tol: the running objective's float32 rounding stays far below
MAX_NEWTON = 400  # Newton steps per problem, all subproblems together (a safety net, never the stopping rule)


@dataclass(frozen=True)
class Problem:
    """One fit: the first ``p`` columns of X, penalty ``C``, column ``target`` of Y."""

    p: int
    C: float
    target: int


@dataclass
class Solution:
    W: np.ndarray  # (P, n) float64 weights; rows >= p of a problem are 0
    lam: np.ndarray  # (N, n) float64 dual variables (|lam| <= C): a warm start for a similar problem
    gap: np.ndarray  # (n,) relative duality gap at exit
    primal: np.ndarray  # (n,) primal objective at exit
    newton: np.ndarray  # (n,) Newton steps taken
    converged: np.ndarray  # (n,) bool: gap <= tol
    sigma: np.ndarray  # (n,) penalty at exit (with ``lam``, the start of a neighbouring problem)

    def take(self, cols: Sequence[int]) -> Solution:
        cols = list(cols)
        return Solution(self.W[:, cols], self.lam[:, cols], self.gap[cols], self.primal[cols], self.newton[cols],
                        self.converged[cols], self.sigma[cols])


def objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, C: float) -> float:
    """``P(w)`` of one problem (``w`` may be shorter than X's width: the leading columns)."""
    w = np.asarray(w, dtype=np.float64)
    r = np.asarray(y, dtype=np.float64) - np.asarray(X, dtype=np.float64)[:, :w.size] @ w
    return float(0.5 * w @ w + C * np.abs(r).sum())


def solve(X: np.ndarray, Y: np.ndarray, problems: Sequence[Problem], *, tol: float = 1e-3,
          G: np.ndarray | None = None, W0: np.ndarray | None = None, lam0: np.ndarray | None = None,
          sigma0: np.ndarray | None = None, max_newton: int = MAX_NEWTON) -> Solution:
    """Solve every problem to a relative duality gap <= ``tol`` (or stop at ``max_newton`` steps).

    ``X`` (N, P) with the constant column first; ``Y`` (N, T); ``G`` = the leading block of X^T X if
    known (any width; the cold start of a width it does not cover computes its own). Without ``W0``
    each problem starts from ridge least squares. ``W0`` (P, n) and ``lam0`` (N, n)
    warm-start the primal and dual (a solution of a neighbouring problem: another C, fold or stage).
    ``sigma0`` (n,) with ``W0`` and ``lam0`` of a :class:`Solution` of the same problems resumes each
    problem from that state (its weights, multipliers and penalty; no warm start between problems):
    a re-solve to a tighter ``tol`` then continues where the looser solve stopped.
    BLAS runs on one thread inside (deterministic results whatever runs beside it).
    """
    if sigma0 is not None and (W0 is None or lam0 is None):
        raise ValueError("sigma0 resumes a state: give W0 and lam0 too")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return _solve(X, Y, problems, tol, G, W0, lam0, sigma0, max_newton)


def _solve(X, Y, problems, tol, G, W0, lam0, sigma0, max_newton) -> Solution:
    X = np.ascontiguousarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(X.shape[0], -1)
    N, P = X.shape
    n = len(problems)
    ps = np.array([q.p for q in problems], dtype=int)
    Cs = np.array([q.C for q in problems], dtype=np.float64)
    if n and ((ps < 1).any() or (ps > P).any()):
        raise ValueError(f"problem column counts must lie in 1..{P}")
    if n and (Cs <= 0).any():
        raise ValueError("C must be > 0")
    G = None if G is None else np.asarray(G, dtype=np.float64)
    Yc = np.ascontiguousarray(Y[:, [q.target for q in problems]])  # (N, n)
    out = Solution(np.zeros((P, n)), np.zeros((N, n)), np.full(n, np.inf), np.full(n, np.nan),
                   np.zeros(n, dtype=int), np.zeros(n, dtype=bool), np.zeros(n))
    # warm starts (warm_start_sources): from the next smaller C at the same width and target (the C
    # path), else from the same (C, target) at the next narrower width (the column path), else cold
    src = warm_start_sources(ps, Cs, [q.target for q in problems]) if sigma0 is None else np.full(n, -1)
    # rounds: a problem is solved one round after its source, and a round's problems form one batch
    # (a wavefront over the grid: their widths may differ). A source's exact final residuals (the
    # same for the zero-padded weights) and, at the same width, its kept Newton matrix start it.
    R_end = np.zeros((N, n))
    kept: dict[int, KeptGram] = {}
    same_width = {int(src[j]) for j in range(n) if src[j] >= 0 and ps[src[j]] == ps[j]}
    rnd = np.zeros(n, dtype=int)
    for j in sorted(range(n), key=lambda j: (ps[j], Cs[j])):
        rnd[j] = 0 if src[j] < 0 else rnd[src[j]] + 1
    # float32 copy for the Newton matrices and X d, unless the tolerance is below what its rounding allows
    Xg = X.astype(np.float32) if tol >= FLOAT32_TOL else X
    for r in np.unique(rnd):
        idx = np.flatnonzero(rnd == r)
        pm = int(ps[idx].max())
        W = np.zeros((pm, idx.size))
        lam = np.zeros((N, idx.size))
        sigma = np.zeros(idx.size)
        R = np.empty((N, idx.size))
        grams = [KeptGram() for _ in idx]
        for w in np.unique(ps[idx]):  # cold starts, by width
            cold = (ps[idx] == w) & (src[idx] < 0)
            if cold.any():
                c = idx[cold]
                Xw = X[:, :w]  # a view: BLAS reads it in place
                if sigma0 is not None:  # resume each problem from its own state (no ridge start, no Gram)
                    W[:w, cold] = np.asarray(W0, dtype=np.float64)[:w, c]
                    lam[:, cold] = np.clip(np.asarray(lam0, dtype=np.float64)[:, c], -Cs[c], Cs[c])
                    sigma[cold] = np.asarray(sigma0, dtype=np.float64)[c]
                    R[:, cold] = Yc[:, c] - Xw @ W[:w, cold]
                    continue
                Gw = G[:w, :w] if G is not None and G.shape[0] >= w else Xw.T @ Xw
                W[:w, cold], lam[:, cold], sigma[cold], R[:, cold] = _cold_start(
                    Xw, Gw, Yc[:, c], Cs[c], None if W0 is None else W0[:w, c], None if lam0 is None else lam0[:, c])
        for i, j in enumerate(idx):
            k = src[j]
            if k >= 0:
                W[:ps[k], i] = out.W[:ps[k], k]
                lam[:, i] = out.lam[:, k]  # feasible for C_j >= C_k
                # the penalty scaled with C keeps the quadratic zone |v| < C / sigma of the source
                # (unscaled: 2.1x the Newton steps on four of the official runs' grids)
                sigma[i] = out.sigma[k] * Cs[j] / Cs[k]
                R[:, i] = R_end[:, k]
                if ps[k] == ps[j] and k in kept:  # the source's last Newton matrix, at the same width
                    grams[i] = kept.pop(k)
        sol, R_end[:, idx] = _solve_batch(X[:, :pm], Xg[:, :pm], G, Yc[:, idx], Cs[idx], ps[idx], W, lam, sigma, R,
                                          grams, tol, max_newton)
        kept.update({int(j): grams[i] for i, j in enumerate(idx) if j in same_width})
        out.W[:pm, idx] = sol.W
        out.lam[:, idx] = sol.lam
        out.gap[idx], out.primal[idx], out.newton[idx] = sol.gap, sol.primal, sol.newton
        out.converged[idx], out.sigma[idx] = sol.converged, sol.sigma
    return out


def warm_start_sources(ps: np.ndarray, Cs: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """The warm-start source of each problem (-1: a cold start): the next smaller C at the same width
    and target (along C the solution moves least: on four of the official runs' grids this took 874
    Newton steps, against 1172 along the widths alone), else the same (C, target) at the next
    narrower width, else none."""
    n = ps.size
    src = np.full(n, -1)
    for j in range(n):
        same = [k for k in range(n) if targets[k] == targets[j]]
        smaller = [k for k in same if ps[k] == ps[j] and Cs[k] < Cs[j]]
        narrower = [k for k in same if Cs[k] == Cs[j] and ps[k] < ps[j]]
        if smaller:
            src[j] = max(smaller, key=lambda k: (Cs[k], -k))
        elif narrower:
            src[j] = max(narrower, key=lambda k: (ps[k], -k))
    return src


def _cold_start(X, G, Yc, Cs, W0, lam0):
    """Start of problems with no narrower solution: ridge least squares (or ``W0`` where its
    objective is lower), multiplier ``lam0`` or 0, and the penalty that puts a share ZONE0 of the
    residuals in the quadratic zone."""
    N, p = X.shape
    A = G.copy()
    A[np.diag_indices(p)] += 1.0
    # ridge least squares: its residuals have no spike at 0 (which stalls Newton steps from w = 0 on
    # labels with runs of exact zeros)
    W = sla.cho_solve(sla.cho_factor(A, check_finite=False), X.T @ Yc, check_finite=False)
    if W0 is not None:
        # a warm start (a neighbouring fold's or stage's fit) is taken where its objective is lower
        # than the ridge start's: one that interpolates other frames can be far worse
        W0 = np.asarray(W0, dtype=np.float64)

        def pobj0(Wx):
            return 0.5 * np.einsum("pc,pc->c", Wx, Wx) + Cs * np.abs(Yc - X @ Wx).sum(axis=0)

        better = pobj0(W0) < pobj0(W)
        W[:, better] = W0[:, better]
    lam = np.zeros(Yc.shape) if lam0 is None else np.clip(np.asarray(lam0, dtype=np.float64), -Cs, Cs)
    R = Yc - X @ W
    absr = np.abs(R)
    kth = int(ZONE0 * (N - 1))
    thr = np.maximum(np.partition(absr, kth, axis=0)[kth], 1e-6 * absr.mean(axis=0) + 1e-12)
    return W, lam, Cs / thr, R


def _solve_batch(X, Xg, G, Yc, Cs, ps, W, lam, sigma, R, grams, tol, max_newton):
    """The SSNAL iterations of a batch of problems, problem j on the first ``ps[j]`` columns of ``X``
    (its weights beyond them stay 0), from ``W``, ``lam``, ``sigma``, the residuals ``R = Yc - X W``
    and the Newton matrices ``grams`` (updated in place: each ends as its problem's last); the
    certificate is the best bounds seen so far (module docstring). Returns the solution and its
    exact residuals."""
    N, p = X.shape
    n = Cs.size
    outside = np.arange(p)[:, None] >= ps[None, :]  # (p, n): the columns a problem does not use
    W, lam, sigma, R = W.copy(), lam.copy(), sigma.copy(), R.copy()
    gap = np.full(n, np.inf)
    pbest = np.full(n, np.inf)
    dbest = np.full(n, -np.inf)
    Wbest = W.copy()
    steps = np.zeros(n, dtype=int)
    active = np.arange(n)
    while active.size:
        a = active
        Ca, sa = Cs[a], sigma[a]
        V = R[:, a] + lam[:, a] / sa
        Hp = np.clip(V * sa, -Ca, Ca)
        Wa = W[:, a]
        U = X.T @ Hp  # each problem's X^T lam' (over its own columns)
        U[outside[:, a]] = 0.0
        Gr = Wa - U
        pobj = 0.5 * np.einsum("pc,pc->c", Wa, Wa) + Ca * np.abs(R[:, a]).sum(axis=0)
        dobj = best_scaled_dual(np.einsum("nc,nc->c", Hp, Yc[:, a]), np.einsum("pc,pc->c", U, U),
                                Ca / np.maximum(np.abs(Hp).max(axis=0), 1e-300))
        better = pobj < pbest[a]
        pbest[a[better]] = pobj[better]
        Wbest[:, a[better]] = Wa[:, better]
        dbest[a] = np.maximum(dbest[a], dobj)
        gap[a] = (pbest[a] - dbest[a]) / np.maximum(np.abs(pbest[a]), 1e-300)
        gnorm = np.sqrt(np.einsum("pc,pc->c", Gr, Gr))
        wnorm = np.sqrt(np.einsum("pc,pc->c", Wa, Wa))
        done = (gap[a] <= tol * (1.0 - GAP_MARGIN)) | (steps[a] >= max_newton)
        # a subproblem is solved when its gradient is small, or when the gradient's share of the gap
        # (0.5 ||g||^2 of P - D) is at most STATIONARITY_SHARE of tol: polishing it further cannot
        # close the gap, only a multiplier update can
        inner = ((gnorm <= INNER_RTOL * (1.0 + wnorm))
                 | (0.5 * gnorm ** 2 <= STATIONARITY_SHARE * tol * np.abs(pobj))) & ~done
        if inner.any():  # subproblem solved: multiplier update, larger penalty
            c = a[inner]
            lam[:, c] = Hp[:, inner]
            sigma[c] *= SIGMA_GROWTH
        step = ~done & ~inner
        if step.any():
            cols = np.flatnonzero(step)
            D = np.empty((p, cols.size))
            for i, col in enumerate(cols):
                j = a[col]
                D[:, i] = 0.0
                D[:ps[j], i] = newton_direction(X, Xg, G, np.abs(V[:, col]) < Cs[j] / sigma[j], ps[j], sigma[j],
                                                Gr[:ps[j], col], grams[j])
            # X d in float32 (half the memory traffic of the pass) when tol >= FLOAT32_TOL: the residuals
            # then carry float32 rounding (about 1e-8 of the objective on the official runs); the dual
            # bound uses the exact X^T lam', and the objective is recomputed exactly for the final gap
            XD = (Xg @ D.astype(Xg.dtype, copy=False)).astype(np.float64, copy=False)
            for i, col in enumerate(cols):
                j = a[col]
                t = _line_search(W[:, j], D[:, i], V[:, col], XD[:, i], Cs[j], sigma[j])
                W[:, j] += t * D[:, i]
                R[:, j] -= t * XD[:, i]
                steps[j] += 1
        active = a[~done]
    R = Yc - X @ Wbest  # exact residuals for the reported objective and gap
    pobj = 0.5 * np.einsum("pc,pc->c", Wbest, Wbest) + Cs * np.abs(R).sum(axis=0)
    gap = (pobj - dbest) / np.maximum(np.abs(pobj), 1e-300)
    return Solution(Wbest, np.clip(lam, -Cs, Cs), gap, pobj, steps, gap <= tol, sigma), R


def best_scaled_dual(ly: np.ndarray, uu: np.ndarray, s_max: np.ndarray) -> np.ndarray:
    """``max D(s lam)`` over ``0 <= s <= s_max`` (``|s lam| <= C`` stays dual feasible), per column, with
    ``ly = lam . y`` and ``uu = ||X^T lam||^2``: ``D(s lam) = s ly - s^2 uu / 2``. A free tightening of
    the certificate (``s = 1`` is the plain ``D(lam)``, always allowed since ``s_max >= 1``)."""
    s = np.clip(ly / np.maximum(uu, 1e-300), 0.0, s_max)
    s = np.where(uu > 0, s, s_max * (ly > 0))
    return np.maximum(s * ly - 0.5 * s * s * uu, ly - 0.5 * uu)


def _line_search(w, d, v, xd, C, sigma) -> float:
    """The exact minimiser of psi along ``d`` (Armijo backtracking took about 1.4x more Newton steps
    on the official runs' grids). ``psi(w + t d)`` is convex and piecewise quadratic in ``t``, so its
    derivative ``phi'(t) = (w + t d) . d - clip(sigma (v - t X d), -C, C) . X d`` is increasing and
    piecewise linear: its root is found by Newton steps on ``phi'`` inside a bracket (bisection where
    a Newton step leaves it), each O(N) since ``X d`` is known."""
    wd, dd = float(w @ d), float(d @ d)
    thr = C / sigma

    def dphi(t):
        return wd + t * dd - np.clip(sigma * (v - t * xd), -C, C) @ xd

    lo, hi = 0.0, 1.0
    f = dphi(hi)
    while f < 0 and hi < 1e6:  # bracket the root
        lo, hi = hi, 2.0 * hi
        f = dphi(hi)
    t = hi
    for _ in range(60):
        if f == 0:
            break
        if f > 0:
            hi = t
        else:
            lo = t
        if hi - lo <= 1e-10 * hi:
            break
        zone = np.abs(v - t * xd) < thr
        slope = dd + sigma * float(xd[zone] @ xd[zone])
        t_new = t - f / slope
        t = t_new if lo < t_new < hi else 0.5 * (lo + hi)
        f = dphi(t)
    return t


def fit_one(X: np.ndarray, y: np.ndarray, C: float, *, tol: float = 1e-6) -> tuple[np.ndarray, float]:
    """One problem, sklearn-style input (no constant column): returns ``(coef, intercept)``.

    Same objective as ``LinearSVR(C=C)`` with its defaults; for tests and small uses.
    """
    X = np.asarray(X, dtype=np.float64)
    X1 = np.concatenate([np.ones((X.shape[0], 1)), X], axis=1)
    sol = solve(X1, np.asarray(y, dtype=np.float64).reshape(-1, 1), [Problem(X1.shape[1], float(C), 0)], tol=tol)
    w = sol.W[:, 0]
    return w[1:], float(w[0])
