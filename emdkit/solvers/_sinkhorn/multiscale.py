"""The multiscale geometry: Sinkhorn on large low-dimensional clouds, coarse to fine.

The two clouds share one grid. At large epsilon the problem is solved between the
occupied cells of a coarse level (weights summed, points at the weighted centroids),
whose kernel is all pairs; when epsilon falls below the cells' diameter ``** p`` the
potentials move down to the next finer level (each cell takes its parent's), and at
the end to the points themselves, down to the target epsilon. On every level the
kernel is the truncated one of ``sparse`` (built from the exact c-transforms and the
cell tree), so memory stays O((n + m) k).

The certified bracket uses no (n, m) matrix either: above, the sparse plan rounded
onto the marginals (its rank-one correction costed exactly for p = 2 and the Euclidean
metric, bounded through the triangle inequality otherwise); below, the dual objective
of the potentials after two exact c-transforms (``sparse.ctransform``).
"""

from __future__ import annotations

import math

import numpy as np

from ...bounds import U, combine, rooted
from . import driver
from .cells import METRICS, Tree, ctransform
from .sparse import SparseKernel

#: The coarsest level has at most this many cells per cloud (its kernel is all pairs).
COARSE_MAX = 1024
#: A level is used while it has fewer than this fraction of the points as cells.
LEVEL_FRACTION = 0.9
#: The default epsilon keeps about this many pairs per point in the final kernel.
NEIGHBOURS = 128
#: A level hands over to the next finer one when epsilon falls below
#: ``(switch * cell diameter) ** p``, ``switch`` chosen so that the finer level's first
#: kernel keeps about this many pairs per point: a ball of radius
#: ``THETA ** (1/p) * switch * diameter`` holds about
#: ``v_d (THETA ** (1/p) switch sqrt(d)) ** d 2 ** d`` cells of the finer level
#: (``v_d`` the unit ball's volume). At switch = 1 that was 3,000 pairs a point in 3-D
#: (128 million at 3e4 + 3e4 points, 10 GB).
SWITCH_PAIRS = 256
#: Every epsilon stage but the last stops at this marginal error: the dense default,
#: 1e-2, leaves more to Newton at the last epsilon, which costs more here than plain
#: iterations at the earlier ones (5e4 + 5e4 2-D points: 68 s against 56 s).
STAGE_TOL = 1e-3
_SAMPLE = 2000


class MultiscaleCost:
    """The geometry of two clouds (scaled coordinates, named metric) for ``problems``."""

    dense = False

    def __init__(self, x: np.ndarray, y: np.ndarray, metric: str, p: float):
        self.x, self.y, self.metric, self.p = x, y, metric, float(p)
        d = x.shape[1]
        self.lo = np.minimum(x.min(0), y.min(0))
        span = float((np.maximum(x.max(0), y.max(0)) - self.lo).max())
        self.span = span * (1.0 + 1e-9) if span > 0 else 1.0
        self.bits = max(1, min(63 // d, 20))
        self.stats: dict = {}

    def sparse_epsilon(self, a, b) -> float:
        """The epsilon at which the final kernel keeps about ``NEIGHBOURS`` pairs per
        point: ``r ** p / THETA`` for ``r`` the median distance from a point of one
        cloud to its ``NEIGHBOURS``-th nearest in the other (on a subsample)."""
        from scipy.spatial import cKDTree

        from .sparse import THETA

        y = self.y[b > 0]
        x = self.x[a > 0]
        k = min(NEIGHBOURS, y.shape[0])
        sub = x[np.unique(np.linspace(0, x.shape[0] - 1, min(x.shape[0], _SAMPLE)).astype(int))]
        norm = {"euclidean": 2, "cityblock": 1, "chebyshev": np.inf}[self.metric]
        r, _ = cKDTree(y).query(sub, k=[k], p=norm, workers=-1)
        r = float(np.median(r))
        return r ** self.p / THETA if r > 0 else math.inf

    # ------------------------------------------------------------------ levels
    def _keys(self, pts):
        from ...kernels.tree import morton_keys

        q = np.floor((pts - self.lo) / self.span * 2 ** self.bits).astype(np.int64)
        np.clip(q, 0, 2 ** self.bits - 1, out=q)
        return morton_keys(q, self.bits)

    def _diameter(self, level):
        side = self.span / 2 ** level
        d = self.x.shape[1]
        return side * {"euclidean": math.sqrt(d), "cityblock": d, "chebyshev": 1.0}[
            self.metric]

    def _switch(self) -> float:
        """The fraction of a cell's diameter at which a level hands over (see
        ``SWITCH_PAIRS``), at most 1."""
        from .sparse import THETA

        d = self.x.shape[1]
        ball = math.pi ** (d / 2) / math.gamma(d / 2 + 1)
        cells = ball * (THETA ** (1.0 / self.p) * math.sqrt(d)) ** d * 2.0 ** d
        return min(1.0, (SWITCH_PAIRS / cells) ** (1.0 / d))

    def _levels(self, kx, ky, n, m):
        """The grid levels to pass through, coarse to fine."""
        d, out = self.x.shape[1], []
        for level in range(1, self.bits + 1):
            shift = d * (self.bits - level)
            cx, cy = np.unique(kx >> shift).size, np.unique(ky >> shift).size
            if cx >= LEVEL_FRACTION * n or cy >= LEVEL_FRACTION * m:
                break
            if cx <= COARSE_MAX and cy <= COARSE_MAX:
                out = [level]
            elif out:
                out.append(level)
        return out

    def _cells(self, pts, w, keys, level):
        """Occupied cells of a level: (cell keys, centroids, summed weights)."""
        shift = self.x.shape[1] * (self.bits - level)
        ck, inv = np.unique(keys >> shift, return_inverse=True)
        mass = np.bincount(inv, weights=w, minlength=ck.size)
        cen = np.stack([np.bincount(inv, weights=w * pts[:, t], minlength=ck.size)
                        for t in range(pts.shape[1])], axis=1) / mass[:, None]
        return ck, cen, mass

    # ------------------------------------------------------------------- solve
    def solve(self, a, b, symmetric, eps, eps0, opts, warm=None):
        """``(Solution, (transport, mass))`` in the caller's order, every point's
        potential finite (zero weights: the exact c-transform)."""
        ia, ib = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
        x, y, wa, wb = self.x[ia], self.y[ib], a[ia], b[ib]
        kx, ky = self._keys(x), (None if symmetric else self._keys(y))
        opts = dict(opts, stage_tol=min(opts["stage_tol"], STAGE_TOL))
        budget, n_iter, n_stages, rescues, cur = opts.pop("max_iter"), 0, 0, 0, eps0
        n_newton = 0
        f_prev = g_prev = None      # potentials of the previous level, per its cells
        prev = None                 # (level, cell keys of x, of y)
        levels = [] if warm is not None else self._levels(kx, kx if symmetric else ky,
                                                          x.shape[0], y.shape[0])
        self.stats = {"levels": levels, "max_nnz": 0, "refreshes": 0}
        for level in levels + [None]:
            end = eps if level is None else max(
                eps, (self._switch() * self._diameter(level)) ** self.p)
            if level is not None and cur <= end:
                continue
            if level is None:
                px, pwa, ckx = x, wa, kx
                py, pwb, cky = (x, wa, kx) if symmetric else (y, wb, ky)
            else:
                ckx, px, pwa = self._cells(x, wa, kx, level)
                cky, py, pwb = (ckx, px, pwa) if symmetric else self._cells(y, wb, ky, level)
            f0, g0 = self._prolong(prev, f_prev, g_prev, ckx, cky, level)
            if warm is not None:
                f0, g0 = warm[0][ia], warm[1][ib]
            tol = opts["tol"] if level is None else max(opts["tol"], opts["stage_tol"])
            op, xt, yt = self._operator(px, py, pwa, pwb, symmetric, f0, g0, tol,
                                        opts["stage_tol"])
            sol = driver.solve(op, xt_w(pwa, xt), xt_w(pwb, yt), end, eps0=cur,
                               max_iter=max(budget - n_iter, 1), **dict(opts, tol=tol))
            n_iter, n_stages, rescues = (n_iter + sol.n_iter, n_stages + sol.n_stages,
                                         rescues + sol.n_rescues)
            n_newton += sol.n_newton
            self._record(op)
            cur = sol.eps
            f_prev, g_prev = _unsorted(sol.f, xt), _unsorted(sol.g, yt)
            prev = (level, ckx, cky)
        self._final = (xt, yt, ia, ib)
        out, totals = self._assemble(sol, op, xt, yt, ia, ib, a, b, n_iter, n_stages,
                                     rescues, sol.converged and n_iter <= budget)
        out.n_newton = n_newton
        return out, totals

    def _operator(self, px, py, pwa, pwb, symmetric, f0, g0, tol, stage_tol):
        xt = Tree(px, self.lo, self.span, self.bits)
        yt = xt if symmetric else Tree(py, self.lo, self.span, self.bits)
        f0 = None if f0 is None else f0[xt.order]
        g0 = None if g0 is None else g0[yt.order]
        op = SparseKernel(xt, yt, pwa[xt.order], pwb[yt.order], self.metric, self.p,
                          tol=tol, stage_tol=stage_tol, symmetric=symmetric, f0=f0,
                          g0=None if symmetric else g0)
        return op, xt, yt

    def _prolong(self, prev, f_prev, g_prev, ckx, cky, level):
        """Each cell (or point) of the next level takes its parent cell's potential."""
        if prev is None:
            return None, None
        d = self.x.shape[1]
        shift = d * ((self.bits if level is None else level) - prev[0])
        fx = f_prev[np.searchsorted(prev[1], ckx >> shift)]
        fy = g_prev[np.searchsorted(prev[2], cky >> shift)]
        return fx, fy

    def _record(self, op):
        s = self.stats
        s["max_nnz"] = max(s["max_nnz"], op.max_nnz)
        s["refreshes"] += op.refreshes

    def _assemble(self, sol, op, xt, yt, ia, ib, a, b, n_iter, n_stages, rescues,
                  converged):
        import scipy.sparse as sp

        from ...kernels.tree import permute_rows

        n, m = a.shape[0], b.shape[0]
        f, g = np.empty(n), np.empty(m)
        f[ia[xt.order]], g[ib[yt.order]] = sol.f, sol.g
        c = METRICS[self.metric]
        dead_a, dead_b = np.flatnonzero(~(a > 0)), np.flatnonzero(~(b > 0))
        if dead_a.size:            # zero weights: the exact c-transform of the other side
            f[dead_a] = ctransform(self.x[dead_a], yt, sol.g, c, self.p)[0]
        if dead_b.size:
            g[dead_b] = ctransform(self.y[dead_b], xt, sol.f, c, self.p)[0]
        # the plan in the caller's order, built row block by row block (int32 columns)
        ptr, cols, vals = permute_rows(op.indptr, op.idx, op.plan, ia[xt.order],
                                       ib[yt.order].astype(np.int32), n)
        plan = sp.csr_matrix((vals, cols, ptr), shape=(n, m))
        out = driver.Solution(f, g, sol.eps, n_iter, sol.err, converged, n_stages,
                              plan=plan, n_rescues=rescues, sparse=op)
        self.stats["truncation_bound"] = op.truncation_bound()
        return out, op.totals(sol)

    def extend(self, sol, u, v):
        pass                       # done in _assemble

    # ----------------------------------------------------------------- bracket
    def bracket(self, prob, sol, a, b, scale, projection):
        """Certified ``(lower, upper)`` on W_p, rooted and unscaled."""
        up = self._rounded(sol, a, b)
        lo = self._dual(sol, a, b)
        return combine(rooted(lo, scale, prob.p), rooted(up, scale, prob.p), projection)

    def _rounded(self, sol, a, b):
        """The cost of the sparse plan rounded onto the marginals (Altschuler, Weed &
        Rigollet 2017), in the operator's order and without copying the support:
        rows scaled down to ``a``, then columns to ``b``, the deficits coupled by
        ``_by_cells`` (or ``_rank_one``, where cheaper)."""
        op = sol.sparse
        xt, yt, ia, ib = self._final
        rows, cols = ia[xt.order], ib[yt.order]          # operator order -> caller's
        wa, wb = a[rows], b[cols]
        n, m = a.shape[0], b.shape[0]
        r = op.row_products(op.plan, np.ones(wb.shape[0]))
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = np.where(r > wa, wa / np.where(r > 0, r, 1.0), 1.0)
        c1 = op.column_products(op.plan, xs)
        with np.errstate(divide="ignore", invalid="ignore"):
            ys = np.where(c1 > wb, wb / np.where(c1 > 0, c1, 1.0), 1.0)
        r2, rc = op.weighted_rows(op.plan, ys)
        cost = float(xs @ rc)
        ea, eb = a.copy(), b.copy()                      # zero weights: no deficit
        ea[rows] = np.maximum(wa - xs * r2, 0.0)
        eb[cols] = np.maximum(wb - ys * c1, 0.0)
        mass = float(ea.sum())
        if mass > 0:
            cost += min(self._rank_one(ea, eb, mass), self._by_cells(ea, eb))
        miss = abs(mass - float(eb.sum()))
        if miss <= 4.0 * (n + m) * U:
            miss = 0.0
        cmax = self._diameter(0) ** self.p
        return (cost + miss * cmax) * (1.0 + 4.0 * (n + m) * U)

    def _rank_one(self, ea, eb, mass):
        """``sum_ij ea_i eb_j c(x_i, y_j) / mass``: exact for p = 2 and the Euclidean
        metric, else bounded by ``2 ** (p - 1) (sum ea d(x, o) ** p + sum eb d(y, o) ** p)``
        around the centre ``o`` of the deficits (triangle inequality, convexity)."""
        x, y = self.x, self.y
        if self.p == 2.0 and self.metric == "euclidean":
            mx, my = ea @ x, eb @ y
            val = (ea @ (x * x).sum(1) + eb @ (y * y).sum(1)) - 2.0 * float(mx @ my) / mass
            return max(float(val), 0.0) * (1.0 + 16.0 * U * x.shape[1])
        from scipy.spatial.distance import cdist

        o = ((ea @ x + eb @ y) / (2.0 * mass))[None, :]
        dx = cdist(x, o, metric=self.metric)[:, 0] ** self.p
        dy = cdist(y, o, metric=self.metric)[:, 0] ** self.p
        return 2.0 ** (self.p - 1.0) * float(ea @ dx + eb @ dy) * (1.0 + 16.0 * U)

    def _by_cells(self, ea, eb):
        """The cost of a coupling of the deficits ``ea`` (rows) and ``eb`` (columns)
        built cell by cell, finest level first: in each cell of the grid the mass
        both have there, ``min(EA, EB)``, is coupled as a product (costed exactly for
        p = 2 and the Euclidean metric, at most the cell's diameter ``** p``
        otherwise), and what is left goes up to the parent cell. The deficits of an
        almost converged plan are mostly local, which the rank-one coupling of
        ``_rank_one`` moves across the whole cloud."""
        x, y, d = self.x, self.y, self.x.shape[1]
        kx, ky = self._keys(x), self._keys(y)
        ra, rb, total = ea.copy(), eb.copy(), 0.0
        exact = self.p == 2.0 and self.metric == "euclidean"
        for level in range(self.bits, -1, -1):
            shift = d * (self.bits - level)
            cells, inv = np.unique(np.concatenate([kx >> shift, ky >> shift]),
                                   return_inverse=True)
            ix, iy = inv[:kx.size], inv[kx.size:]
            EA = np.bincount(ix, weights=ra, minlength=cells.size)
            EB = np.bincount(iy, weights=rb, minlength=cells.size)
            M = np.minimum(EA, EB)
            if not M.any():
                continue
            with np.errstate(divide="ignore", invalid="ignore"):
                qa = ra * np.where(EA > 0, np.minimum(M / EA, 1.0), 0.0)[ix]
                qb = rb * np.where(EB > 0, np.minimum(M / EB, 1.0), 0.0)[iy]
            if exact:      # sum_ij qa_i qb_j |x_i - y_j|^2 / M around each centroid
                QA = np.bincount(ix, weights=qa, minlength=cells.size)
                QB = np.bincount(iy, weights=qb, minlength=cells.size)
                o = np.stack([np.bincount(ix, weights=qa * x[:, t], minlength=cells.size)
                              for t in range(d)], 1) / np.where(QA > 0, QA, 1.0)[:, None]
                sx = np.stack([np.bincount(ix, weights=qa * (x[:, t] - o[ix, t]),
                                           minlength=cells.size) for t in range(d)], 1)
                sy = np.stack([np.bincount(iy, weights=qb * (y[:, t] - o[iy, t]),
                                           minlength=cells.size) for t in range(d)], 1)
                cross = (sx * sy).sum(1) / np.where(M > 0, M, 1.0)
                total += float(qa @ ((x - o[ix]) ** 2).sum(1)
                               + qb @ ((y - o[iy]) ** 2).sum(1) - 2.0 * cross.sum())
            else:
                total += float(M.sum()) * (self._diameter(level) * (1.0 + 1e-9)) ** self.p
            ra, rb = np.maximum(ra - qa, 0.0), np.maximum(rb - qb, 0.0)
        n = x.shape[0] + y.shape[0]
        return max(total, 0.0) * (1.0 + (4.0 * n + 16.0 * d) * U) + float(
            ra.sum() + rb.sum()) * self._diameter(0) ** self.p

    def _dual(self, sol, a, b):
        """The dual objective after two exact c-transforms, less rounding."""
        c = METRICS[self.metric]
        xt, yt, live_a, live_b = self._final      # the trees of the points solved on
        f = sol.f[live_a][xt.order]
        g, _ = ctransform(yt.x, xt, f, c, self.p)          # min_i c(x_i, y_j) - f_i
        f2, _ = ctransform(xt.x, yt, g, c, self.p)         # min_j c(x_i, y_j) - g_j
        wa, wb = a[live_a][xt.order], b[live_b][yt.order]
        if not (np.isfinite(f2).all() and np.isfinite(g).all()):
            return 0.0
        lower = float(wa @ f2 + wb @ g)
        big = self._diameter(0) ** self.p + float(np.abs(f2).max()) + float(np.abs(g).max())
        n, m = wa.shape[0], wb.shape[0]
        slack = 4.0 * (n + m) * U * float(wa @ np.abs(f2) + wb @ np.abs(g))
        return max(lower - slack - 16.0 * U * big, 0.0)

    def info(self) -> dict:
        return {"multiscale": dict(self.stats)}


def xt_w(w, tree):
    """Weights in a tree's sorted order."""
    return w[tree.order]


def _unsorted(pot, tree):
    out = np.empty_like(pot)
    out[tree.order] = pot
    return out
