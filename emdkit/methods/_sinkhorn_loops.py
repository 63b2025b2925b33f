"""The Sinkhorn iterations, in numpy, on a problem whose costs are of order one.

Two loops share one epsilon schedule and one stopping rule (the L1 error of the row
marginal, the columns being exact after each column update):

- ``dense``: the log-stabilised scaling of Schmitzer (2019): the kernel
  ``K = exp((f + g - C) / eps)`` is built around the current potentials, the iterations
  are two matrix-vector products on it (BLAS), and the scalings ``u``, ``v`` are
  absorbed into ``f``, ``g`` whenever they leave [1e-50, 1e50], at every change of
  epsilon, and at the end. As stable as log-domain updates, at the price of plain ones.
- ``online``: exact log-domain updates by blocks of rows, the cost recomputed from the
  coordinates block by block, so memory stays O((n + m) * block) and no (n, m) matrix
  exists.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

_BIG = 1e50


@dataclass
class Solution:
    f: np.ndarray
    g: np.ndarray
    eps: float
    n_iter: int
    err: float
    converged: bool
    n_stages: int
    plan: Optional[np.ndarray] = None   # dense only
    n_newton: int = 0


def schedule(eps0: float, eps: float, scaling: float) -> List[float]:
    """Geometric epsilon schedule from ``eps0`` down to ``eps`` (exactly, last)."""
    if eps >= eps0 or scaling == 0.0:
        return [eps]
    k = math.ceil(math.log(eps / eps0) / math.log(scaling))
    return [eps0 * scaling ** i for i in range(k)] + [eps]


def _row_error(a, ratio):
    """L1 error of the row marginal ``a * ratio`` against ``a``."""
    with np.errstate(over="ignore", invalid="ignore"):
        dev = np.abs(a * (ratio - 1.0))
    dev[a == 0] = 0.0
    return float(dev.sum())


def lse_rows(M):
    """Row-wise log-sum-exp of M, in place; rows of all -inf give -inf."""
    mx = M.max(axis=1)
    safe = np.where(np.isfinite(mx), mx, 0.0)
    M -= safe[:, None]
    np.exp(M, out=M)
    with np.errstate(divide="ignore"):
        return np.log(M.sum(axis=1)) + safe


# --------------------------------------------------------------------------- dense


def _row_chunks(n, min_rows=256):
    """Row ranges, one per worker thread (a single one for small matrices)."""
    from .._threads import workers

    k = max(1, min(workers(), n // min_rows))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [(int(i0), int(i1)) for i0, i1 in zip(edges[:-1], edges[1:])]


def _by_rows(fn, n):
    """Run ``fn(i0, i1)`` over row blocks on the worker threads (numpy's ufuncs
    release the GIL, so building a kernel uses every core); returns the results."""
    from .._threads import run_all

    chunks = _row_chunks(n)
    return run_all([lambda c=c: fn(*c) for c in chunks], parallel=len(chunks) > 1)


def _kernel_rows(C, f, g, eps, out, i0, i1):
    """Rows i0:i1 of ``exp((f + g - C) / eps)`` into ``out``; returns that view."""
    o = out[i0:i1]
    np.add(f[i0:i1, None], g[None, :], out=o)
    o -= C[i0:i1]
    o *= 1.0 / eps
    with np.errstate(over="ignore", under="ignore"):
        np.exp(o, out=o)
    return o


def _kernel(C, f, g, eps, out):
    """``exp((f + g - C) / eps)``; entries may underflow to 0 or overflow to inf,
    which the callers detect (no numpy warning: it is expected and handled)."""
    _by_rows(lambda i0, i1: _kernel_rows(C, f, g, eps, out, i0, i1), C.shape[0])
    return out


def _log_rescue(C, f, g, loga, logb, eps):
    """Exact log-domain half steps (used when the scalings under- or overflow)."""
    M = (g[None, :] + eps * logb[None, :] - C) / eps
    f = -eps * lse_rows(M)
    M = (f[:, None] + eps * loga[:, None] - C).T / eps
    g = -eps * lse_rows(np.ascontiguousarray(M))
    return f, g


class _Relaxation:
    """Adaptive over-relaxation (Thibault et al. 2017; Lehmann et al. 2021).

    For the linearised iteration with plain contraction factor kappa, relaxing by
    omega < omega* = 2 / (1 + sqrt(1 - kappa)) contracts by lambda with
    ``(lambda + omega - 1) ** 2 = lambda * omega ** 2 * kappa``. So every ``WINDOW``
    iterations the observed lambda (from the marginal errors) gives kappa, and omega
    moves to that kappa's optimum; at omega >= omega* the observed rate is omega - 1
    and omega stays put. If the error grows tenfold above its best, omega drops back
    to 1 (plain Sinkhorn, which always converges) and the estimate starts again.
    """

    WINDOW = 16
    MAX_OMEGA = 1.95

    def __init__(self):
        self.omega = 1.0
        self.hist: List[float] = []
        self.best = math.inf

    def update(self, err: float) -> float:
        h = self.hist
        h.append(err)
        self.best = min(self.best, err)
        w = self.WINDOW
        if self.omega > 1.0 and err > 10.0 * self.best:
            self.omega, self.hist, self.best = 1.0, [], err
        elif len(h) >= w and len(h) % (w // 2) == 0 and 0 < h[-1] < h[-w // 2]:
            lam = (h[-1] / h[-w // 2]) ** (2.0 / w)
            om = self.omega
            kappa = min((lam + om - 1.0) ** 2 / (lam * om * om), 1.0 - 1e-12)
            self.omega = min(self.MAX_OMEGA, 2.0 / (1.0 + math.sqrt(1.0 - kappa)))
        return self.omega

    def hopeless(self, tol: float, budget: int) -> bool:
        """True when, at the rate of the last iterations, reaching ``tol`` would take
        more than ``budget`` further iterations (judged after ``2 * WINDOW``)."""
        h = self.hist
        w = self.WINDOW
        if len(h) < 2 * w or not 0 < h[-1] < h[-w]:
            return len(h) >= 4 * w and not 0 < h[-1] < h[-w]
        lam = (h[-1] / h[-w]) ** (1.0 / (w - 1))
        if not 0.0 < lam < 1.0:          # stalled at this precision
            return True
        return math.log(tol / h[-1]) / math.log(lam) > budget


def _relaxed(old, new_inv, omega):
    """``old ** (1 - omega) * (1 / new_inv) ** omega`` for positive scalings."""
    if omega == 1.0:
        return 1.0 / new_inv
    return np.exp((1.0 - omega) * np.log(old) - omega * np.log(new_inv))


#: In the last stage Sinkhorn hands over to Newton's method once, at its current
#: rate, it would need more than this many further iterations.
NEWTON_AFTER = 200
#: Up to this many columns the Newton system is factored densely (Cholesky); beyond,
#: it is solved by conjugate gradients on the plan with its negligible entries dropped.
_DENSE_SCHUR_MAX = 1500
#: Entries of the plan below this fraction of its largest are dropped for the
#: conjugate-gradient Newton system (the direction only steers a line search).
_SPARSE_DROP = 1e-12
#: A Newton step moves no potential by more than this many epsilons: on a plan that
#: nearly splits into blocks the quadratic model asks for huge moves along the
#: near-null directions, which the exponential does not follow.
_TRUST = 30.0


def _schur_solve(P, inv_r, c, rhs):
    """Solve ``(diag(c) - P^T diag(inv_r) P) w = rhs`` (singular along 1, rhs _|_ 1):
    Cholesky for small m, else conjugate gradients with a Jacobi preconditioner on
    the sparse plan (each iteration two sparse products: milliseconds where the dense
    factorisation costs O(m^3), 1.5 s at m = 4000). Where conjugate gradients do not
    reach a small residual (a badly conditioned plan at a tiny epsilon) and m allows,
    the dense factorisation takes over."""
    m = c.shape[0]
    if m <= _DENSE_SCHUR_MAX:
        return _dense_schur(P, inv_r, c, rhs)
    import scipy.sparse as sp

    n = P.shape[0]
    flat = np.flatnonzero(P > _SPARSE_DROP * P.max())
    rows, cols = np.divmod(flat, m)
    indptr = np.concatenate(([0], np.cumsum(np.bincount(rows, minlength=n))))
    Ps = sp.csr_matrix((P.ravel()[flat], cols, indptr), shape=(n, m))
    Pt = Ps.T.tocsr()
    # the Schur complement of the sparse plan itself (its own row and column sums),
    # so that it is positive semi-definite with 1 in its kernel
    r_s, c_s = np.asarray(Ps.sum(axis=1)).ravel(), np.asarray(Ps.sum(axis=0)).ravel()
    inv_rs = np.where(r_s > 0, 1.0 / np.where(r_s > 0, r_s, 1.0), 0.0)
    live = c_s > 0                          # columns with no kept entry: left at 0

    def apply(w):
        return c_s * w - Pt @ (inv_rs * (Ps @ w))
    diag = c_s - Pt.multiply(Pt) @ inv_rs
    inv_diag = np.where(live, 1.0 / np.maximum(diag, 1e-12 * c_s.max()), 0.0)
    b = np.where(live, rhs, 0.0)
    b -= b.mean()
    w = _pcg(apply, b, inv_diag, 1e-8, min(4 * m, _CG_MAX_ITER))
    if np.linalg.norm(apply(w) - b) <= 1e-3 * np.linalg.norm(b):
        return w
    if m <= _DENSE_FALLBACK_MAX:
        return _dense_schur(P, inv_r, c, rhs)
    from scipy.sparse.linalg import splu   # too large to factor densely: sparse LU

    S = sp.diags(c_s + 1e-10 * c_s.mean()) - Pt @ sp.diags(inv_rs) @ Ps
    return splu(S.tocsc()).solve(b)


#: Conjugate-gradient iterations before the dense (or sparse LU) factorisation takes
#: over: on a plan that is not sparse (p = 1, n = m = 4000, the default epsilon) CG
#: crawled through ~2,750 iterations of 4 ms per Newton step, 11 s, where the dense
#: factorisation takes about 1 s.
_CG_MAX_ITER = 300
#: Largest m for which a failed conjugate-gradient solve falls back to the dense
#: factorisation (6000 x 6000 float64: 290 MB and a few seconds).
_DENSE_FALLBACK_MAX = 6000


def _dense_schur(P, inv_r, c, rhs):
    from scipy.linalg import LinAlgError, cho_factor, cho_solve

    m = c.shape[0]
    Q = P * np.sqrt(inv_r)[:, None]
    S = -(Q.T @ Q)
    S[np.diag_indices(m)] += c
    S += 1.0 / m
    try:
        return cho_solve(cho_factor(S, overwrite_a=True, check_finite=False), rhs)
    except LinAlgError:   # a plan that underflowed into blocks: a tiny ridge
        S = -(Q.T @ Q)
        S[np.diag_indices(m)] += c + 1e-10 * c.mean()
        S += 1.0 / m
        return np.linalg.solve(S, rhs)


def _pcg(A, rhs, inv_diag, rtol, max_iter):
    """Preconditioned conjugate gradients for a positive semi-definite ``A`` and a
    consistent right-hand side, from zero (the iterates stay in A's range)."""
    w = np.zeros_like(rhs)
    r = rhs.copy()
    z = inv_diag * r
    d = z.copy()
    rz = float(r @ z)
    stop = rtol * float(np.linalg.norm(rhs))
    for _ in range(max_iter):
        Ad = A(d)
        dAd = float(d @ Ad)
        if not dAd > 0 or not np.isfinite(dAd):
            break
        step = rz / dAd
        w += step * d
        r -= step * Ad
        res = float(np.linalg.norm(r))
        if res <= stop or not res < 1e6 * stop / rtol:    # converged, or diverging
            break
        z = inv_diag * r
        rz, rz_old = float(r @ z), rz
        d *= rz / rz_old
        d += z
    return w - w.mean()


def _newton_step(P, a, b, eps, ridge=0.0):
    """Newton direction (df, dg) for the dual at the plan P (rows of a > 0 only),
    shortened so that no potential moves by more than ``_TRUST * eps``. ``ridge``
    adds ``ridge * diag(r, c)`` to the Hessian (Levenberg-Marquardt): it damps the
    near-null directions of a plan that nearly splits into blocks, along which the
    plain step is huge and changes nothing."""
    r, c = P.sum(1), P.sum(0)
    inv_r = np.where(r > 0, 1.0 / np.where(r > 0, r, 1.0), 0.0) / (1.0 + ridge)
    ra, rb = eps * (a - r), eps * (b - c)
    dg = _schur_solve(P, inv_r, c * (1.0 + ridge), rb - P.T @ (ra * inv_r))
    df = (ra - P @ dg) * inv_r
    size = max(float(np.abs(df).max()), float(np.abs(dg).max()))
    if size > _TRUST * eps:
        df, dg = df * (_TRUST * eps / size), dg * (_TRUST * eps / size)
    return df, dg


#: Ridges tried in turn when a Newton step finds no decrease of the marginal error.
_RIDGES = (0.0, 1e-2, 1e-1, 1.0)


def _plan_error(C, f, g, a, b, eps, out):
    """The plan of (f, g) into ``out`` and its L1 marginal error."""
    def rows(i0, i1):
        o = _kernel_rows(C, f, g, eps, out, i0, i1)
        o *= a[i0:i1, None]
        o *= b[None, :]
        return o.sum(1), o.sum(0)
    parts = _by_rows(rows, C.shape[0])
    r = np.concatenate([p_[0] for p_ in parts])
    c = sum(p_[1] for p_ in parts)
    return float(np.abs(r - a).sum() + np.abs(c - b).sum())


def _newton(C, f, g, a, b, eps, tol, budget, K):
    """Newton's method on the dual (Brauer et al. 2017) with backtracking on the
    marginal error, and increasing ridges when a step finds no decrease. Returns
    (f, g, err, steps); K holds the final plan."""
    err = _plan_error(C, f, g, a, b, eps, K)
    steps = 0
    while err > tol and steps < budget:
        improved = False
        for k, ridge in enumerate(_RIDGES):
            if k:
                _plan_error(C, f, g, a, b, eps, K)     # K back to the plan of (f, g)
            df, dg = _newton_step(K, a, b, eps, ridge)
            alpha = 1.0
            while alpha > 1e-3:
                trial = _plan_error(C, f + alpha * df, g + alpha * dg, a, b, eps, K)
                if trial < err:
                    f, g, err, improved = f + alpha * df, g + alpha * dg, trial, True
                    break
                alpha *= 0.5
            if improved:
                break
        steps += 1
        if not improved:
            err = _plan_error(C, f, g, a, b, eps, K)
            break
    return f, g, err, steps


def _positive(s):
    return bool(np.all(s > 0) and np.all(np.isfinite(s)))


def _restart(C, K, f, g, u, v, a, b, e):
    """When the scalings under- or overflow: absorb what is finite, take exact
    log-domain half steps, rebuild the kernel; plain iterations from there."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lu, lv = np.log(u), np.log(v)
        loga, logb = np.log(a), np.log(b)
    f = f + e * np.where(np.isfinite(lu), lu, 0.0)
    g = g + e * np.where(np.isfinite(lv), lv, 0.0)
    f, g = _log_rescue(C, f, g, loga, logb, e)
    _kernel(C, f, g, e, K)
    return (f, g, np.ones(C.shape[0]), np.ones(C.shape[1]), _Relaxation(),
            _row_error(b, K.T @ a))


def _squares(e_prev, e, u, v):
    """Whether the next stage may square the kernel (epsilon exactly halved, and the
    squared scalings stay within bounds)."""
    return (e_prev == 2.0 * e and u.max() ** 2 < _BIG and u.min() ** 2 > 1 / _BIG
            and v.max() ** 2 < _BIG and v.min() ** 2 > 1 / _BIG)


def dense(C, a, b, eps, *, tol, max_iter, scaling, stage_tol, eps0, f0=None,
          g0=None) -> Solution:
    """``f0``, ``g0``: potentials to start from (a warm start, e.g. from a solve at a
    larger epsilon, with ``eps0`` that epsilon); zeros by default."""
    n, m = C.shape
    f = np.zeros(n) if f0 is None else np.array(f0, dtype=np.float64)
    g = np.zeros(m) if g0 is None else np.array(g0, dtype=np.float64)
    with np.errstate(divide="ignore"):
        loga, logb = np.log(a), np.log(b)
    K = np.empty_like(C)
    n_iter, err, stages = 0, math.inf, schedule(eps0, eps, scaling)
    u, v = np.ones(n), np.ones(m)
    for k, e in enumerate(stages):
        last = k == len(stages) - 1
        target = tol if last else max(tol, stage_tol)
        if k > 0 and not last and _squares(stages[k - 1], e, u, v):
            # halving epsilon squares the kernel and the scalings: one pass, no exp
            np.square(K, out=K)
            u, v = u * u, v * v
        else:
            if k > 0:
                f, g = f + stages[k - 1] * np.log(u), g + stages[k - 1] * np.log(v)
            _kernel(C, f, g, e, K)        # exact rebuild: first and last stages
            u, v = np.ones(n), np.ones(m)
        col_err = _row_error(b, v * (K.T @ (a * u)))   # plan (u, v)
        relax = _Relaxation()
        stage_end = min(max_iter, n_iter + NEWTON_AFTER) if last else max_iter
        while True:
            s = K @ (b * v)
            if not _positive(s):
                f, g, u, v, relax, col_err = _restart(C, K, f, g, u, v, a, b, e)
                n_iter += 1
                if n_iter >= max_iter:
                    break
                continue
            err = _row_error(a, u * s) + col_err      # both marginals of plan (u, v)
            if err <= target or n_iter >= stage_end:
                break
            omega = relax.update(err)
            if last and err > tol and relax.hopeless(tol, NEWTON_AFTER):
                break                                   # Newton will be quicker
            u = _relaxed(u, s, omega)
            t = K.T @ (a * u)
            if not _positive(t):
                f, g, u, v, relax, col_err = _restart(C, K, f, g, u, v, a, b, e)
                n_iter += 1
                if n_iter >= max_iter:
                    break
                continue
            v = _relaxed(v, t, omega)
            col_err = _row_error(b, v * t)
            n_iter += 1
            if u.max() > _BIG or u.min() < 1 / _BIG or v.max() > _BIG or v.min() < 1 / _BIG:
                f, g = f + e * np.log(u), g + e * np.log(v)
                _kernel(C, f, g, e, K)
                u, v = np.ones(n), np.ones(m)
                col_err = _row_error(b, (K.T @ a))
        if not (last or n_iter >= max_iter):
            continue
        f, g = f + e * np.log(u), g + e * np.log(v)
        n_newton = 0
        if last and err > tol and n_iter < max_iter:
            f, g, err, n_newton = _newton(C, f, g, a, b, e, tol, max_iter - n_iter, K)
            n_iter += n_newton
        while last and err > tol and n_iter < max_iter:
            # Newton stalled (rare): plain log-domain Sinkhorn to the end
            f, g = _log_rescue(C, f, g, loga, logb, e)
            n_iter += 1
            err = _plan_error(C, f, g, a, b, e, K)
        if not n_newton:
            err = _plan_error(C, f, g, a, b, e, K)   # the plan, rebuilt exactly
        return Solution(f, g, e, n_iter, err, err <= tol and last, k + 1, plan=K,
                        n_newton=n_newton)
    raise AssertionError("unreachable")  # pragma: no cover


def dense_symmetric(C, a, eps, *, tol, max_iter, scaling, stage_tol, eps0) -> Solution:
    """OT_eps(a, a): the averaged update ``f <- (f + T(f)) / 2``, in scaling form
    ``u <- sqrt(u / (K (a u)))`` on the stabilised kernel: one matrix-vector product
    an iteration, and a few iterations where alternating updates crawl."""
    n = C.shape[0]
    f = np.zeros(n)
    K = np.empty_like(C)
    n_iter, err, stages = 0, math.inf, schedule(eps0, eps, scaling)
    u = np.ones(n)
    for k, e in enumerate(stages):
        last = k == len(stages) - 1
        target = tol if last else max(tol, stage_tol)
        if k > 0 and not last and _squares(stages[k - 1], e, u, u):
            np.square(K, out=K)
            u = u * u
        else:
            if k > 0:
                f = f + stages[k - 1] * np.log(u)
            _kernel(C, f, f, e, K)
            u = np.ones(n)
        while True:
            s = K @ (a * u)
            if not (np.all(s > 0) and np.all(np.isfinite(s))):
                break                                # leave it to the caller's fallback
            err = 2.0 * _row_error(a, u * s)
            if err <= target or n_iter >= max_iter:
                break
            u = np.sqrt(u / s)
            n_iter += 1
            if u.max() > _BIG or u.min() < 1 / _BIG:
                f = f + e * np.log(u)
                _kernel(C, f, f, e, K)
                u = np.ones(n)
        if last or n_iter >= max_iter or not np.isfinite(err):
            f = f + e * np.log(u)
            K *= (a * u)[:, None]
            K *= (a * u)[None, :]
            return Solution(f, f.copy(), e, n_iter, err, err <= tol and last, k + 1,
                            plan=K)
    raise AssertionError("unreachable")  # pragma: no cover


# -------------------------------------------------------------------------- online


def _softmin(cost_block: Callable, rows: int, h: np.ndarray, eps: float,
             block: int, transpose: bool) -> np.ndarray:
    """``-eps * LSE_j((h_j - C_ij) / eps)`` for every row i, by blocks of rows, the
    blocks shared out between the cores (cdist and numpy release the GIL)."""
    from .._threads import run_all, workers

    out = np.empty(rows)

    def rows_from(start):
        for i0 in range(start * block, rows, block * workers()):
            i1 = min(i0 + block, rows)
            M = cost_block(i0, i1, transpose)     # fresh (i1 - i0, other) array
            np.subtract(h[None, :], M, out=M)
            M *= 1.0 / eps
            out[i0:i1] = -eps * lse_rows(M)

    run_all([lambda k=k: rows_from(k) for k in range(workers())],
            parallel=rows > block)
    return out


def online(cost_block: Callable, a, b, eps, *, tol, max_iter, scaling, stage_tol, eps0,
           block: int, symmetric: bool = False) -> Solution:
    """``cost_block(i0, i1, transpose)`` returns rows i0:i1 of C (or of C.T).
    ``symmetric``: the problem OT(a, a), solved with the averaged update
    ``f <- (f + T(f)) / 2`` (f = g by symmetry), which converges in a few steps where
    alternating updates crawl."""
    if symmetric:
        return _online_symmetric(cost_block, a, eps, tol=tol, max_iter=max_iter,
                                 scaling=scaling, stage_tol=stage_tol, eps0=eps0,
                                 block=block)
    n, m = a.shape[0], b.shape[0]
    with np.errstate(divide="ignore"):
        loga, logb = np.log(a), np.log(b)
    f, g = np.zeros(n), np.zeros(m)
    n_iter, err, stages = 0, math.inf, schedule(eps0, eps, scaling)
    for k, e in enumerate(stages):
        target = tol if k == len(stages) - 1 else max(tol, stage_tol)
        relax, col_err = _Relaxation(), 0.0
        while True:
            f_new = _softmin(cost_block, n, g + e * logb, e, block, False)
            with np.errstate(over="ignore"):
                err = _row_error(a, np.exp((f - f_new) / e)) + col_err
            if err <= target or n_iter >= max_iter:
                break
            omega = relax.update(err)
            f = f_new if omega == 1.0 else (1.0 - omega) * f + omega * f_new
            g_new = _softmin(cost_block, m, f + e * loga, e, block, True)
            if omega == 1.0:
                g, col_err = g_new, 0.0
            else:
                g_next = (1.0 - omega) * g + omega * g_new
                with np.errstate(over="ignore"):
                    col_err = _row_error(b, np.exp((g_next - g_new) / e))
                g = g_next
            n_iter += 1
        if k == len(stages) - 1 or n_iter >= max_iter:
            return Solution(f, g, e, n_iter, err, err <= tol and k == len(stages) - 1, k + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def _online_symmetric(cost_block, a, eps, *, tol, max_iter, scaling, stage_tol, eps0,
                      block) -> Solution:
    n = a.shape[0]
    with np.errstate(divide="ignore"):
        loga = np.log(a)
    f = np.zeros(n)
    n_iter, err, stages = 0, math.inf, schedule(eps0, eps, scaling)
    for k, e in enumerate(stages):
        target = tol if k == len(stages) - 1 else max(tol, stage_tol)
        while True:
            Tf = _softmin(cost_block, n, f + e * loga, e, block, False)
            with np.errstate(over="ignore"):
                err = 2.0 * _row_error(a, np.exp((f - Tf) / e))
            if err <= target or n_iter >= max_iter:
                break
            f = 0.5 * (f + Tf)
            n_iter += 1
        if k == len(stages) - 1 or n_iter >= max_iter:
            return Solution(f, f.copy(), e, n_iter, err,
                            err <= tol and k == len(stages) - 1, k + 1)
    raise AssertionError("unreachable")  # pragma: no cover


def online_plan_sums(cost_block: Callable, f, g, a, b, eps, block: int):
    """``(<P, C>, sum P, row sums of P)`` of the plan of (f, g), by blocks."""
    n = f.shape[0]
    with np.errstate(divide="ignore"):
        loga, logb = np.log(a), np.log(b)
    transport, rows = 0.0, np.empty(n)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        C = cost_block(i0, i1, False)
        P = (f[i0:i1, None] + g[None, :] - C) / eps + loga[i0:i1, None] + logb[None, :]
        np.exp(P, out=P)
        transport += float(np.vdot(P, C))
        rows[i0:i1] = P.sum(axis=1)
    return transport, float(rows.sum()), rows
