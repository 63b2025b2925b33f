"""The operator on a truncated kernel: sparse scaling (Schmitzer 2019) over a cell tree.

Only the pairs whose reduced cost ``C_ij - f_i - g_j`` is at most ``THETA * eps`` are
kept (CSR rows; the column products scatter over them); every other entry of
the kernel is below ``exp(-THETA)``, so all of them together carry less than
``exp(-THETA)`` of the mass (the weights sum to 1). The support is found by the
branch-and-bound queries of ``kernels.tree``, which skip a cell only when a bound over
the whole cell exceeds the threshold: nothing above it is missed. A bound ``t_eff`` on
the reduced cost of every pair outside the support follows the potentials as they
rise: when epsilon halves the support is pruned in place while that bound allows, and
it is searched anew whenever a dropped entry could have grown above ``exp(-safe)``,
``safe`` set by the stage's target marginal error (the truncation safety check, every
iteration, O(n + m)).

Scaling form as in ``dense``: the kernel is built around reference potentials (those
of the support), the iterations are sparse products, the scalings absorbed at every
rebuild. Memory O(nnz) = O((n + m) k) for k kept pairs per point.
"""

from __future__ import annotations

import math

import numpy as np

from ...threads import run_all
from ...geometry.cells import METRICS, parallel, ranges, ctransform, support

#: Pairs with reduced cost above THETA * eps are dropped (kernel below e^-THETA), or
#: above ``safe + ROOM`` where the stage's safety margin is larger.
THETA = 20.0
#: The support is searched anew before a dropped pair could exceed ``e^-safe``, with
#: ``safe = -log(SAFE_FRACTION * target)`` for the stage's target marginal error: all
#: the dropped pairs together then carry at most ``target * SAFE_FRACTION`` of the
#: mass (the weights sum to 1), so that the truncation can never be what the
#: stopping rule sees. (A fixed margin of 15 left 5 eps of room at every stage and
#: searched the support every ten iterations: 1e5 + 1e5 2-D points, 95 searches, 99 s
#: of a 115 s solve.)
SAFE_FRACTION = 0.1
#: The potentials may rise at least this many eps between two searches.
ROOM = 5.0
#: At a rebuild, potentials are brought within this many eps of their c-transform
#: (from below) so that every row and column keeps at least one pair.
THETA_CLAMP = 10.0
#: Newton may raise the potentials only as far as the support's bound allows; where
#: that stops it short of tol, the support is rebuilt with this threshold (more room;
#: the stage's own where that is larger, tol below about 1e-12) and Newton goes on,
#: at most _NEWTON_REBUILDS times.
THETA_NEWTON = 30.0
_NEWTON_REBUILDS = 12
#: Newton steps per support, at most (each is a conjugate-gradient solve).
_NEWTON_STEPS = 10
#: Conjugate-gradient iterations per Newton step, at most (an inexact step still
#: steers the line search).
_CG_MAX = 100
#: Newton finishes the last stage only up to this many points a side. The Schur
#: complement is a graph Laplacian of the support, whose condition number grows as
#: the clouds get denser; past this size the capped conjugate gradients give poor
#: steps and plain relaxed iterations are faster (to tol 1e-2: 3e4 + 3e4 2-D points,
#: final level 5.4 s with 2 Newton steps, 2.8 s with 174 iterations; 1e5 + 1e5, 78 s
#: with 7 Newton steps, 30 s with 341 iterations).
NEWTON_MAX_POINTS = 20_000


class SparseOperator:
    """The driver's operator (see ``driver``) on the truncated kernel of two trees
    (the same tree twice, and ``symmetric``, for OT(a, a)); weights and potentials in
    the trees' sorted orders, every weight positive. Newton's method on the support
    finishes the last stage (``_newton``) up to ``NEWTON_MAX_POINTS`` points a side."""

    def __init__(self, xtree, ytree, a, b, metric, p, *, tol, stage_tol,
                 symmetric=False, f0=None, g0=None):
        self.xt, self.yt, self.a, self.b = xtree, ytree, a, b
        self.metric, self.p, self.symmetric = METRICS[metric], float(p), symmetric
        self.f = np.zeros(a.shape[0]) if f0 is None else np.array(f0, dtype=np.float64)
        self.g = self.f if symmetric else (
            np.zeros(b.shape[0]) if g0 is None else np.array(g0, dtype=np.float64))
        self.u, self.v = np.ones(a.shape[0]), np.ones(b.shape[0])
        self.cap = math.log(1.0 / b.min()) + 1.0     # f_soft <= c-transform + eps log(1/b_j)
        self.eps, self.rescues, self.refreshes, self.max_nnz = None, 0, 0, 0
        self.tol, self.stage_tol = tol, stage_tol
        self.newton = max(a.shape[0], b.shape[0]) <= NEWTON_MAX_POINTS
        self.safe, self.theta = _margins(tol)
        self.idx, self.t_eff = None, 0.0
        self._s = self._t = None

    # ----------------------------------------------------------------- support
    def _scalings(self):
        return (self.u, self.u) if self.symmetric else (self.u, self.v)

    def _absorb(self):
        """Fold the scalings into the reference potentials (u = v = 1 after); what
        that raises them by is taken off ``t_eff``, the bound on the reduced cost of
        every pair outside the support."""
        if self.eps is not None:
            u, v = self._scalings()
            self.t_eff -= self._moved(u, v)
            self.f = self.f + self.eps * np.log(u)
            self.g = self.f if self.symmetric else self.g + self.eps * np.log(v)
        self.u, self.v = np.ones_like(self.u), np.ones_like(self.v)

    def _moved(self, u, v):
        """How far the potentials rose above the reference, at most, summed over a
        row and a column (absolute units)."""
        with np.errstate(divide="ignore"):
            up = max(float(np.log(u.max())), 0.0)
            if not self.symmetric:
                up += max(float(np.log(v.max())), 0.0)
            else:
                up *= 2.0
        return self.eps * up

    def _clamped(self):
        """Potentials within reach of their c-transforms: every row keeps its best
        pair (``f_i >= min_j c_ij - g_j - THETA_CLAMP eps``) and no row keeps more
        than the entropic optimum can weigh (``f_i <= min_j ... + eps log(1/b_min)``);
        then every column keeps its best pair."""
        e, m, p = self.eps, self.metric, self.p
        ct, _ = ctransform(self.xt.x, self.yt, self.g, m, p)
        f = np.clip(self.f, ct - THETA_CLAMP * e, ct + self.cap * e)
        if self.symmetric:
            return f, f
        cg, _ = ctransform(self.yt.x, self.xt, f, m, p)
        return f, np.maximum(self.g, cg - THETA_CLAMP * e)

    def _rebuild(self, theta=None):
        """The support found anew around the potentials, by the tree; where a row or
        column would be empty (the first build of a level, whose potentials come
        from the coarser one), around potentials clamped to their c-transforms."""
        theta = self.theta if theta is None else theta
        self._absorb()
        clamp = self.idx is None
        self.idx = self.cost = self.K = None        # freed before the search
        while True:
            if clamp:
                self.f, self.g = self._clamped()
            self._set_support(*support(self.xt, self.yt, self.f, self.g,
                                       theta * self.eps, self.metric, self.p))
            if clamp or (np.diff(self.indptr).all() and np.bincount(
                    self.idx, minlength=self.g.shape[0]).all()):
                break
            clamp = True
        self.t_eff = theta * self.eps
        self.refreshes += 1
        self._values()

    def _prune(self):
        """At a smaller epsilon: drop the pairs of the support now above theta * eps
        (no search); a full rebuild instead if the bound on the pairs outside is too
        low, or a row or column would be left empty."""
        if self.t_eff < (self.safe + 2.0) * self.eps:
            return self._rebuild()
        row_of = self.row_of
        keep = self.cost - self.f[row_of] - self.g[self.idx] <= self.theta * self.eps
        counts = np.bincount(row_of[keep], minlength=self.f.shape[0])
        del row_of
        if not (counts.all() and np.bincount(self.idx[keep],
                                             minlength=self.g.shape[0]).all()):
            return self._rebuild()
        self._set_support(np.concatenate(([0], np.cumsum(counts))), self.idx[keep],
                          self.cost[keep])
        self.t_eff = min(self.t_eff, self.theta * self.eps)
        self._values()

    def _set_support(self, indptr, idx, cost):
        """A new support: CSR pattern (int32 columns) and costs."""
        self.indptr, self.idx, self.cost = indptr, idx, cost

    @property
    def row_of(self):
        """The row of each support entry (int32; built when asked, not kept)."""
        n = self.indptr.shape[0] - 1
        return np.repeat(np.arange(n, dtype=np.int32), np.diff(self.indptr))

    def _values(self):
        """The kernel on the support at the reference potentials."""
        from ...kernels import tree as k

        nnz = self.idx.shape[0]
        self.max_nnz = max(self.max_nnz, nnz)
        self.K = np.empty(nnz)
        parallel(lambda i0, i1: k.kernel_values(self.indptr, self.idx, self.cost,
                                                 self.f, self.g, self.eps, i0, i1, self.K),
                  self.f.shape[0])

    def _rows(self, x):
        return self.row_products(self.K, x)

    def _cols(self, x):
        return self.column_products(self.K, x)

    def row_products(self, val, x):
        """``val`` on the support (CSR) times ``x``: the row sums."""
        from ...kernels import tree as k

        out = np.empty(self.f.shape[0])
        parallel(lambda i0, i1: k.matvec(self.indptr, self.idx, val, x, i0, i1, out),
                 self.f.shape[0])
        return out

    def column_products(self, val, x):
        """Its transpose times ``x``: the column sums, each core scattering its rows
        into a vector of its own (no transposed copy of the support is kept)."""
        from ...kernels import tree as k

        parts = ranges(self.f.shape[0])
        outs = [np.empty(self.g.shape[0]) for _ in parts]
        run_all([lambda r=r, o=o: k.matvec_t(self.indptr, self.idx, val, x, *r, o)
                 for r, o in zip(parts, outs)])
        return outs[0] if len(outs) == 1 else np.sum(outs, axis=0)

    # ----------------------------------------------------------------- driver API
    def stage(self, eps, eps_prev, last):
        self._absorb()
        self.eps = eps
        self.safe, self.theta = _margins(self.tol if last else max(self.tol,
                                                                  self.stage_tol))
        if self.idx is None:
            self._rebuild()
        else:
            self._prune()

    def _check(self):
        """The truncation safety check: rebuild the support when the potentials rose
        so far that a pair outside it could exceed exp(-safe); re-reference the
        kernel when the scalings leave [1e-50, 1e50]."""
        u, v = self._scalings()
        if self.t_eff - self._moved(u, v) < self.safe * self.eps:
            self._rebuild()      # the same iterate on a larger support: no restart
        elif not (1e-50 < u.min() and 1e-50 < v.min() and u.max() < 1e50
                  and v.max() < 1e50):
            self._absorb()
            self._values()

    def row_ratio(self):
        s = self._rows(self.b * self._scalings()[1])
        if not (np.all(s > 0) and np.all(np.isfinite(s))):
            self._rebuild()
            self.rescues += 1
            s = self._rows(self.b * self._scalings()[1])
        self._s = s
        return self.u * s

    def set_rows(self, omega):
        from .dense import relaxed

        self.u = relaxed(self.u, self._s, omega)
        if self.symmetric:
            self._check()

    def col_ratio(self):
        t = self._cols(self.a * self.u)
        if not (np.all(t > 0) and np.all(np.isfinite(t))):
            self._rebuild()
            self.rescues += 1
            t = self._cols(self.a * self.u)
        self._t = t
        return self.v * t

    def set_cols(self, omega):
        from .dense import relaxed

        self.v = relaxed(self.v, self._t, omega)
        self._check()

    def _plan(self, f, g):
        """The plan of (f, g) on the support (CSR values), its row and column sums
        and its marginal L1 error."""
        from ...kernels import tree as k

        P, r = np.empty(self.idx.shape[0]), np.empty(f.shape[0])
        parallel(lambda i0, i1: k.plan_values(self.indptr, self.idx, self.cost, f, g,
                                               self.eps, self.a, self.b, i0, i1, P, r),
                 f.shape[0])
        c = self.column_products(P, np.ones(f.shape[0]))
        return P, r, c, float(np.abs(r - self.a).sum() + np.abs(c - self.b).sum())

    def weighted_rows(self, val, w):
        """``(sum_j val_ij w_j, sum_j val_ij w_j C_ij)`` per row, for ``val`` on the
        support (the rounded plan's row sums and cost, with no copy of the support)."""
        from ...kernels import tree as k

        n = self.f.shape[0]
        out, out_cost = np.empty(n), np.empty(n)
        parallel(lambda i0, i1: k.matvec2(self.indptr, self.idx, val, w, self.cost, i0,
                                           i1, out, out_cost), n)
        return out, out_cost

    def _newton(self, f, g, tol, budget, max_rise):
        """Newton's method on the dual restricted to the support (``newton.run``,
        the one finish, with the sparse plan's products): conjugate gradients on the
        Schur complement. No step raises the potentials by more than ``max_rise``
        (summed over a row and a column) above ``(f, g)``: beyond, a pair outside the
        support could matter, and Newton, which does not see those pairs, would not
        know; such a step ends the run (the support is then rebuilt)."""
        from .newton import OneProblem, pcg, run, schur_direction

        eps, a, b = self.eps, self.a, self.b
        f0, g0 = f, g

        def safe(ft, gt):
            return (max(float((ft - f0).max()), 0.0)
                    + max(float((gt - g0).max()), 0.0)) <= max_rise

        def direction(P, r, c, ridge):
            def rows(w):
                return self.row_products(P, w)

            def cols(w):
                return self.column_products(P, w)

            def solve(inv_r, cc, rhs):
                rhs = rhs - rhs.mean()
                # Jacobi preconditioner: the diagonal of diag(c) - P^T diag(1 / r) P
                diag = cc - np.bincount(self.idx, weights=P * P * inv_r[self.row_of],
                                        minlength=b.shape[0])
                return pcg(lambda w: cc * w - cols(inv_r * rows(w)), rhs,
                           1.0 / np.maximum(diag, 1e-12 * cc.max()), 1e-8, _CG_MAX)
            return schur_direction(rows, cols, r, c, a, b, eps, ridge, solve)

        f, g, state, steps = run(OneProblem(self._plan, direction, accept=safe), f, g,
                                 tol, budget, max_steps=_NEWTON_STEPS)
        return f, g, state.P, state.err[0], steps

    def finish(self, err, polish, tol, budget):
        """The potentials, and the exact plan of them on the support (CSR values),
        with its marginal error; with ``polish``, Newton down to ``tol`` first (and
        the support rebuilt if Newton moved the potentials too far for it)."""
        self._absorb()
        if not polish:
            self.K = None              # no more iterations: only the plan is needed
        steps, fresh = 0, False        # fresh: P is the plan on the current support
        n_newton = 0
        for _ in range(_NEWTON_REBUILDS):
            f, g = self.f, self.g
            P, _, _, err = self._plan(f, g)
            fresh = True
            if not (polish and err > tol and budget > steps):
                break
            f, g, P, err, k = self._newton(f, g, tol, budget - steps,
                                           self.t_eff - self.safe * self.eps)
            steps, n_newton = steps + k, n_newton + k
            rise = max(float((f - self.f).max()), 0.0) + max(float((g - self.g).max()), 0.0)
            self.f, self.g = f, g
            self.t_eff -= rise
            if err <= tol or k == 0:
                break
            # around the new potentials, with room for Newton to move, and again
            self._rebuild(max(THETA_NEWTON, self.theta))
            fresh = False
        if polish and err > tol and budget > steps:
            # Newton stalled: plain iterations from its potentials, to the end
            f, g, P, err, k = self._plain(tol, budget - steps)
            steps, fresh = steps + k, True
        if not fresh:                   # rebuilt after the last Newton run
            f, g = self.f, self.g
            P, _, _, err = self._plan(f, g)
        self.plan, self.K = P, None          # the kernel is not needed any more
        return f, (f.copy() if self.symmetric else g), err, n_newton, steps, P

    def _plain(self, tol, budget):
        """Sinkhorn iterations (safety-checked) until the marginal error is below
        ``tol`` or the budget is spent; the potentials, plan and error."""
        from .driver import row_error

        self._rebuild()
        steps, err = 0, math.inf
        while steps < budget:
            ratio = self.row_ratio()
            self.set_rows(1.0)
            col = self.col_ratio()
            self.set_cols(1.0)
            steps += 1
            if steps % 10 == 0:
                err = row_error(self.a, ratio) + row_error(self.b, col)
                if err <= tol:
                    break
        self._absorb()
        P, _, _, err = self._plan(self.f, self.g)
        return self.f, self.g, P, err, steps

    def totals(self, sol):
        return float(self.plan @ self.cost), float(self.plan.sum())

    def truncation_bound(self) -> float:
        """Mass all the pairs outside the final plan's support carry together, at most
        (the weights sum to 1): each reduced cost there is above ``t_eff``."""
        return math.exp(-self.t_eff / self.eps)


def _margins(target: float):
    """``(safe, theta)`` for a stage whose marginal error should reach ``target``."""
    safe = max(-math.log(SAFE_FRACTION * target), 0.0)
    return safe, max(THETA, safe + ROOM)
