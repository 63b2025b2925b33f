"""Newton's method on the entropic dual: the one finish of every backend (Brauer et
al. 2017).

Near the end of the last epsilon stage Sinkhorn converges linearly at a rate that can
be close to 1; Newton's method on the dual converges quadratically from there. The
loop (:func:`run`) is written once, for a batch of problems (numpy's dense and sparse
operators are a batch of one, the torch loop's a batch on any device), with its
safeguards: a trust region (no potential moves by more than ``TRUST`` epsilons),
backtracking on the L1 marginal error (``HALVINGS`` halvings of the step), and
increasing Levenberg-Marquardt ridges (``RIDGES``) for an item whose step finds no
decrease. The direction is the backend's: the Schur complement
``diag(c) - P^T diag(1/r) P`` of the dual Hessian over the plan's row and column
products (:func:`schur_direction` for numpy, dense or sparse; ``torch_newton`` for a
torch batch), factored densely for small m and by conjugate gradients beyond.
"""

from __future__ import annotations

import numpy as np

from .gibbs import plan_error

#: Up to this many columns the Newton system is factored densely (Cholesky); beyond,
#: it is solved by conjugate gradients on the plan with its negligible entries dropped.
DENSE_SCHUR_MAX = 1500
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
    reach a small residual (a badly conditioned plan at a tiny epsilon), or the plan
    is not sparse (``SPARSE_FILL_MAX``), and m allows, the dense factorisation takes
    over."""
    m = c.shape[0]
    if m <= DENSE_SCHUR_MAX:
        return _dense_schur(P, inv_r, c, rhs)
    Ps = _sparse_plan(P, _SPARSE_DROP * P.max(),
                      SPARSE_FILL_MAX if m <= _DENSE_FALLBACK_MAX else 1.0)
    if Ps is None:          # not sparse: conjugate gradients would crawl
        return _dense_schur(P, inv_r, c, rhs)
    import scipy.sparse as sp

    Pt = Ps.T.tocsr()
    # the Schur complement of the sparse plan itself (its own row and column sums),
    # so that it is positive semi-definite with 1 in its kernel
    r_s, c_s = np.asarray(Ps.sum(axis=1)).ravel(), np.asarray(Ps.sum(axis=0)).ravel()
    inv_rs = np.where(r_s > 0, 1.0 / np.where(r_s > 0, r_s, 1.0), 0.0)
    live = c_s > 0                          # columns with no kept entry: left at 0
    # the kept plan may split into blocks (a point whose only kept pairs are with
    # one partner that has no other): each block's constant is then in the kernel
    # of the sparse system, and the right-hand side must be centred on each block,
    # or conjugate gradients stall on what no w can reach (n = m = 10^4 at a small
    # epsilon: a residual of 1e-2, then a sparse LU of 48 s)
    from ...kernels.transport import column_blocks

    labels, k = column_blocks(Ps.indptr, Ps.indices, m)

    def apply(w):
        return c_s * w - Pt @ (inv_rs * (Ps @ w))
    diag = c_s - Pt.multiply(Pt) @ inv_rs
    inv_diag = np.where(live, 1.0 / np.maximum(diag, 1e-12 * c_s.max()), 0.0)
    b = _block_centred(np.where(live, rhs, 0.0), labels, k)
    w = _block_centred(pcg(apply, b, inv_diag, 1e-8, min(4 * m, CG_MAX_ITER)), labels, k)
    if np.linalg.norm(apply(w) - b) <= 1e-3 * np.linalg.norm(b):
        return w if k == 1 else _block_offsets(P, inv_r, c, rhs, w, labels, k)
    if m <= _DENSE_FALLBACK_MAX:
        return _dense_schur(P, inv_r, c, rhs)
    from scipy.sparse.linalg import splu   # too large to factor densely: sparse LU

    S = sp.diags(c_s + 1e-10 * c_s.mean()) - Pt @ sp.diags(inv_rs) @ Ps
    return splu(S.tocsc()).solve(b)


def _block_centred(v, labels, k):
    """``v`` less its mean on each block of columns (``labels``, ``k`` blocks)."""
    if k == 1:
        return v - v.mean()
    counts = np.bincount(labels, minlength=k)
    return v - (np.bincount(labels, weights=v, minlength=k) / counts)[labels]


#: Blocks beyond this many (or small blocks holding more than half the columns):
#: no coarse correction (the direction stays within the blocks).
BLOCKS_MAX = 256


def _block_offsets(P, inv_r, c, rhs, w, labels, k):
    """``w`` (the sparse system's solution, centred on each block) plus one constant
    per block: the Galerkin correction on the blocks' indicators ``E`` with the
    whole plan, ``(E^T S E) alpha = E^T (rhs - S w)``, ``S = diag(c) - P^T diag(inv_r)
    P`` (the couplings between blocks are the entries the sparse plan dropped)."""
    counts = np.bincount(labels, minlength=k)
    big = int(np.argmax(counts))
    small = np.flatnonzero(labels != big)
    if k > BLOCKS_MAX or 2 * small.size > labels.size:
        return w
    small = small[np.argsort(labels[small], kind="stable")]
    others = np.delete(np.arange(k), big)
    PE = np.empty((P.shape[0], k))
    starts = np.flatnonzero(np.r_[True, labels[small][1:] != labels[small][:-1]])
    PE[:, others] = np.add.reduceat(P[:, small], starts, axis=1)
    PE[:, big] = P.sum(axis=1) - PE[:, others].sum(axis=1)
    S_k = np.diag(np.bincount(labels, weights=c, minlength=k)) - PE.T @ (inv_r[:, None] * PE)
    res = rhs - (c * w - P.T @ (inv_r * (P @ w)))
    alpha = np.linalg.lstsq(S_k, np.bincount(labels, weights=res, minlength=k),
                            rcond=None)[0]
    out = w + alpha[labels]
    return out - out.mean()


#: Conjugate-gradient iterations before the dense (or sparse LU) factorisation takes
#: over: on a plan that is not sparse (p = 1, n = m = 4000, the default epsilon) CG
#: crawled through ~2,750 iterations of 4 ms per Newton step, 11 s, where the dense
#: factorisation takes about 1 s.
CG_MAX_ITER = 300
#: Largest m for which a failed conjugate-gradient solve falls back to the dense
#: factorisation (6000 x 6000 float64: 290 MB and a few seconds).
_DENSE_FALLBACK_MAX = 6000


#: A plan with more than this fraction of its entries above the drop threshold is
#: not sparse: its Newton system is factored densely where m allows. (Kept as a
#: sparse matrix it took about 24 bytes an entry beside the dense plan, 55 bytes a
#: pair in all at n = m = 4000, p = 1, past what the memory check reserves.)
SPARSE_FILL_MAX = 0.1
#: Rows of the plan read at a time (the temporaries are this many rows).
_BLOCK_ROWS = 256


def _sparse_plan(P, thresh, fill_max):
    """The entries of ``P`` above ``thresh`` as a CSR matrix, read by blocks of rows
    (no temporary of P's size); None as soon as they pass ``fill_max`` of all."""
    import scipy.sparse as sp

    n, m = P.shape
    limit, kept = fill_max * n * m, 0
    vals, cols, counts = [], [], []
    for i0 in range(0, n, _BLOCK_ROWS):
        blk = P[i0:i0 + _BLOCK_ROWS]
        r, col = np.nonzero(blk > thresh)
        kept += r.size
        if kept > limit:
            return None
        vals.append(blk[r, col])
        cols.append(col.astype(np.int32))
        counts.append(np.bincount(r, minlength=blk.shape[0]))
    indptr = np.concatenate(([0], np.cumsum(np.concatenate(counts))))
    return sp.csr_matrix((np.concatenate(vals), np.concatenate(cols), indptr),
                         shape=(n, m))


def _dense_schur(P, inv_r, c, rhs):
    from scipy.linalg import LinAlgError, cho_factor, cho_solve, solve

    # a tiny ridge: the plan of a small epsilon underflows into nearly separate
    # blocks, whose Schur complement is singular beyond the constant direction
    ridge = 1e-10 * float(c.mean())
    S = _schur_matrix(P, inv_r, c, ridge)
    try:
        return cho_solve(cho_factor(S, lower=False, overwrite_a=True,
                                    check_finite=False), rhs)
    except LinAlgError:
        pass
    # not positive definite in rounding: the symmetric LDL of the same matrix, built
    # again (Cholesky overwrote it; the first one's memory freed before)
    S = None
    S = _schur_matrix(P, inv_r, c, ridge)
    return solve(S, rhs, assume_a="sym", lower=False, overwrite_a=True,
                 check_finite=False)


def _schur_matrix(P, inv_r, c, ridge):
    """The upper triangle of ``diag(c + ridge) - P^T diag(inv_r) P + 1/m``, summed
    over blocks of rows by BLAS's rank-k update (no temporary of P's size or of the
    result's)."""
    from scipy.linalg.blas import dsyrk

    m = c.shape[0]
    S = np.full((m, m), 1.0 / m, order="F")
    S[np.diag_indices(m)] += c + ridge
    root = np.sqrt(inv_r)
    for i0 in range(0, P.shape[0], _BLOCK_ROWS):
        Q = P[i0:i0 + _BLOCK_ROWS] * root[i0:i0 + _BLOCK_ROWS, None]
        S = dsyrk(-1.0, Q, beta=1.0, c=S, trans=1, lower=0, overwrite_c=1)
    return S


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


#: Ridges tried in turn when a Newton step finds no decrease of the marginal error.
RIDGES = (0.0, 1e-2, 1e-1, 1.0)
#: Halvings of the step in the line search (down to about 1e-3).
HALVINGS = 10


def run(problem, f, g, tol, budget, *, max_steps=None):
    """Newton steps on the ``problem``'s items until each item's marginal error is
    below ``tol``, its ridges run out, it is limited (``accept``), or ``budget``
    (or ``max_steps``) steps were taken; a step is one direction and its line search.
    Returns ``(f, g, state, steps)``, ``state`` the plan of the final potentials.

    ``problem`` gives:

    - ``plan(f, g)``: the state at the potentials, with ``state.err`` the items' L1
      marginal errors (a list);
    - ``direction(state, ridges)``: ``(df, dg)``, each item's Newton direction with its
      ridge, shortened to the trust region (:func:`trust`);
    - ``step(f, g, df, dg, alphas)``: the potentials moved by each item's ``alpha``;
    - ``keep(ok, new, old)``: the triple ``(f, g, state)`` of ``new`` for the items
      ``ok``, of ``old`` for the others;
    - ``accept(ft, gt)``: whether each item may move there (None: always);
    - ``stale``: whether a trial's plan overwrites the current state (one buffer), so
      that the state is taken again before a direction after a rejected trial.
    """
    state = problem.plan(f, g)
    err = list(state.err)
    size, last = len(err), len(RIDGES) - 1
    rung, limited, steps, fresh = [0] * size, [False] * size, 0, True
    while steps < budget and (max_steps is None or steps < max_steps):
        todo = [e > tol and r <= last and not lim
                for e, r, lim in zip(err, rung, limited)]
        if not any(todo):
            break
        if not fresh:
            state, fresh = problem.plan(f, g), True
        df, dg = problem.direction(state, [RIDGES[min(r, last)] for r in rung])
        alpha, moved = [1.0] * size, [False] * size
        for _ in range(HALVINGS):
            ft, gt = problem.step(f, g, df, dg, alpha)
            allowed = [True] * size if problem.accept is None else problem.accept(ft, gt)
            for i in range(size):
                if todo[i] and not moved[i] and not allowed[i]:
                    limited[i] = True       # the backend's limit: it stops after this step
            if any(t and not m and ok for t, m, ok in zip(todo, moved, allowed)):
                trial = problem.plan(ft, gt)
                ok = [t and not m and a and e_new < e for t, m, a, e_new, e
                      in zip(todo, moved, allowed, trial.err, err)]
                fresh = not problem.stale
                if any(ok):
                    f, g, state = problem.keep(ok, (ft, gt, trial), (f, g, state))
                    err = [e_new if o else e for o, e_new, e in zip(ok, trial.err, err)]
                    moved = [m or o for m, o in zip(moved, ok)]
                    fresh = True
            if all(m or not t for m, t in zip(moved, todo)):
                break
            alpha = [a if m else 0.5 * a for a, m in zip(alpha, moved)]
        # a step that moved resets the ridge; one that found nothing tries the next
        rung = [0 if m else (r + 1 if t else r) for r, m, t in zip(rung, moved, todo)]
        steps += 1
    if not fresh:
        state = problem.plan(f, g)
    return f, g, state, steps


def trust(df, dg, eps):
    """``(df, dg)`` shortened so that no potential moves by more than ``TRUST * eps``
    (numpy, one problem): on a plan that nearly splits into blocks the quadratic
    model asks for huge moves along the near-null directions, which the exponential
    does not follow."""
    size = max(float(np.abs(df).max()), float(np.abs(dg).max()))
    if size > TRUST * eps:
        df, dg = df * (TRUST * eps / size), dg * (TRUST * eps / size)
    return df, dg


def schur_direction(rows, cols, r, c, a, b, eps, ridge, solve):
    """The Newton direction ``(df, dg)`` of one problem at a plan ``P`` given by its
    products ``rows(w) = P w`` and ``cols(w) = P^T w`` and its sums ``r``, ``c``:
    ``dg`` solves the Schur complement ``(diag(c) - P^T diag(1/r) P) dg = rhs`` by
    ``solve(inv_r, c, rhs)``; ``ridge`` adds ``ridge diag(r, c)`` to the Hessian
    (Levenberg-Marquardt: it damps the near-null directions of a plan that nearly
    splits into blocks); the step shortened to the trust region."""
    inv_r = np.where(r > 0, 1.0 / np.where(r > 0, r, 1.0), 0.0) / (1.0 + ridge)
    cc = c * (1.0 + ridge)
    ra, rb = eps * (a - r), eps * (b - c)
    dg = solve(inv_r, cc, rb - cols(ra * inv_r))
    df = (ra - rows(dg)) * inv_r
    return trust(df, dg, eps)


class _State:
    """One problem's plan: its L1 marginal error (as a list of one) and its sums."""

    def __init__(self, P, r, c, err):
        self.P, self.r, self.c, self.err = P, r, c, [err]


class OneProblem:
    """What :func:`run` needs of one numpy problem (a batch of one): ``plan(f, g)``
    returns ``(P, r, c, err)``; ``direction(P, r, c, ridge)`` the direction."""

    stale = False
    accept = None

    def __init__(self, plan, direction, accept=None, stale=False):
        self._plan, self._direction, self.stale = plan, direction, stale
        if accept is not None:
            self.accept = lambda ft, gt: [accept(ft, gt)]

    def plan(self, f, g):
        return _State(*self._plan(f, g))

    def direction(self, state, ridges):
        return self._direction(state.P, state.r, state.c, ridges[0])

    @staticmethod
    def step(f, g, df, dg, alphas):
        return f + alphas[0] * df, g + alphas[0] * dg

    @staticmethod
    def keep(ok, new, old):
        return new if ok[0] else old


def newton(C, f, g, a, b, eps, tol, budget, K):
    """The dense operator's finish: :func:`run` on the plan of (f, g) written into
    ``K`` (one buffer: a trial's plan overwrites it), the Schur system by
    ``_schur_solve``. Returns ``(f, g, err, steps)``; K holds the final plan."""
    def plan(f, g):
        return K, None, None, plan_error(C, f, g, a, b, eps, K)

    def direction(P, r, c, ridge):
        r, c = P.sum(1), P.sum(0)
        return schur_direction(lambda w: P @ w, lambda w: P.T @ w, r, c, a, b, eps,
                               ridge, lambda inv_r, cc, rhs: _schur_solve(P, inv_r, cc,
                                                                          rhs))
    f, g, state, steps = run(OneProblem(plan, direction, stale=True), f, g, tol, budget)
    return f, g, state.err[0], steps
