"""Newton's method on the entropic dual, the dense operator's finish (Brauer et al. 2017).

Near the end of the last epsilon stage Sinkhorn converges linearly at a rate that can
be close to 1; Newton's method on the dual converges quadratically from there. The
system is the Schur complement ``diag(c) - P^T diag(1/r) P`` of the dual Hessian,
factored densely for small m and solved by conjugate gradients on the sparse plan
beyond, with a trust region, backtracking on the marginal error and increasing
Levenberg-Marquardt ridges where a plain step changes nothing.
"""

from __future__ import annotations

import numpy as np

from .gibbs import plan_error

#: Up to this many columns the Newton system is factored densely (Cholesky); beyond,
#: it is solved by conjugate gradients on the plan with its negligible entries dropped.
_DENSE_SCHUR_MAX = 1500
#: Entries of the plan below this fraction of its largest are dropped for the
#: conjugate-gradient Newton system (the direction only steers a line search).
_SPARSE_DROP = 1e-12
#: A Newton step moves no potential by more than this many epsilons: on a plan that
#: nearly splits into blocks the quadratic model asks for huge moves along the
#: near-null directions, which the exponential does not follow.
TRUST = 30.0


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
    w = pcg(apply, b, inv_diag, 1e-8, min(4 * m, _CG_MAX_ITER))
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


def pcg(A, rhs, inv_diag, rtol, max_iter):
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
    shortened so that no potential moves by more than ``TRUST * eps``. ``ridge``
    adds ``ridge * diag(r, c)`` to the Hessian (Levenberg-Marquardt): it damps the
    near-null directions of a plan that nearly splits into blocks, along which the
    plain step is huge and changes nothing."""
    r, c = P.sum(1), P.sum(0)
    inv_r = np.where(r > 0, 1.0 / np.where(r > 0, r, 1.0), 0.0) / (1.0 + ridge)
    ra, rb = eps * (a - r), eps * (b - c)
    dg = _schur_solve(P, inv_r, c * (1.0 + ridge), rb - P.T @ (ra * inv_r))
    df = (ra - P @ dg) * inv_r
    size = max(float(np.abs(df).max()), float(np.abs(dg).max()))
    if size > TRUST * eps:
        df, dg = df * (TRUST * eps / size), dg * (TRUST * eps / size)
    return df, dg


#: Ridges tried in turn when a Newton step finds no decrease of the marginal error.
RIDGES = (0.0, 1e-2, 1e-1, 1.0)


def newton(C, f, g, a, b, eps, tol, budget, K):
    """Newton's method on the dual (Brauer et al. 2017) with backtracking on the
    marginal error, and increasing ridges when a step finds no decrease. Returns
    (f, g, err, steps); K holds the final plan."""
    err = plan_error(C, f, g, a, b, eps, K)
    steps = 0
    while err > tol and steps < budget:
        improved = False
        for k, ridge in enumerate(RIDGES):
            if k:
                plan_error(C, f, g, a, b, eps, K)     # K back to the plan of (f, g)
            df, dg = _newton_step(K, a, b, eps, ridge)
            alpha = 1.0
            while alpha > 1e-3:
                trial = plan_error(C, f + alpha * df, g + alpha * dg, a, b, eps, K)
                if trial < err:
                    f, g, err, improved = f + alpha * df, g + alpha * dg, trial, True
                    break
                alpha *= 0.5
            if improved:
                break
        steps += 1
        if not improved:
            err = plan_error(C, f, g, a, b, eps, K)
            break
    return f, g, err, steps
