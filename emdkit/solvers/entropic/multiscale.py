"""The multiscale geometry: Sinkhorn on large low-dimensional clouds, coarse to fine.

The two clouds share one grid. At large epsilon the problem is solved between the
occupied cells of a coarse level (weights summed, points at the weighted centroids),
whose kernel is all pairs; when epsilon falls below the cells' diameter ``** p`` the
potentials move down to the next finer level (each cell takes its parent's), and at
the end to the points themselves, down to the target epsilon. On every level the
kernel is the truncated one of ``sparse`` (built from the exact c-transforms and the
cell tree), so memory stays O((n + m) k).

The certified bracket uses no (n, m) matrix either (``certificate``): above, the
sparse plan rounded onto the marginals; below, the dual objective of the potentials
after exact c-transforms. With ``rtol`` (``stop_within``) the bracket is also taken on
the points at the end of each level, from the level's plan and potentials, and the
solve stops at the first level where it is narrow enough: the accuracy asked for,
not the number of points, then sets the work where W_p is large against the cells
(``emdkit.bench.multiscale_bench`` measures both kinds of pair).
"""

from __future__ import annotations

import math

import numpy as np

from ...geometry.units import rooted_value
from ...bounds import combine, within
from . import driver
from ...geometry.cells import METRICS, ctransform
from ...geometry.multiscale import CellGrid
from .sparse import SparseOperator

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
#: With ``rtol``, a level whose bracket on the points would be within it but for the
#: rounding of its marginals is solved again, this many times at most, at a tenfold
#: smaller marginal tolerance each time.
LEVEL_RETRIES = 2
#: A retry may take this many times the iterations of the level's solve before it
#: (at least RETRY_ITER_MIN); if it does not converge, the next level goes on from it.
RETRY_ITER_FACTOR, RETRY_ITER_MIN = 4, 500
_SAMPLE = 2000


class MultiscaleSinkhorn(CellGrid):
    """Sinkhorn on a :class:`~emdkit.geometry.multiscale.CellGrid`, coarse to fine."""

    dense = False

    def __init__(self, grid: CellGrid):
        self.__dict__.update(grid.__dict__)      # the grid's clouds and levels
        self.stats: dict = {}
        self._target = self._fine = self._stopped = None

    def stop_within(self, rtol: float, scale: float, projection: float):
        """With ``rtol`` (``sinkhorn``'s): the next ``solve`` from scratch stops at the
        first level whose bracket on the points is within ``rtol`` (``scale`` and
        ``projection`` as for ``bracket``); the plan of a level is then not
        returned (``Solution.plan`` is None)."""
        self._target = (rtol, scale, projection)

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
    def _switch(self) -> float:
        """The fraction of a cell's diameter at which a level hands over (see
        ``SWITCH_PAIRS``), at most 1."""
        from .sparse import THETA

        d = self.x.shape[1]
        ball = math.pi ** (d / 2) / math.gamma(d / 2 + 1)
        cells = ball * (THETA ** (1.0 / self.p) * math.sqrt(d)) ** d * 2.0 ** d
        return min(1.0, (SWITCH_PAIRS / cells) ** (1.0 / d))

    # ------------------------------------------------------------------- solve
    def solve(self, a, b, symmetric, eps, eps0, opts, warm=None):
        """``(Solution, (transport, mass))`` in the caller's order, every point's
        potential finite (zero weights: the exact c-transform). After ``stop_within``,
        possibly of a level's cells (see there)."""
        ia, ib = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
        x, y, wa, wb = self.x[ia], self.y[ib], a[ia], b[ib]
        self._fine = None
        kx, ky = self.keys(x), (None if symmetric else self.keys(y))
        opts = dict(opts, stage_tol=min(opts["stage_tol"], STAGE_TOL))
        budget, cur = opts.pop("max_iter"), eps0
        count = np.zeros(4, dtype=np.int64)     # iterations, stages, rescues, Newton
        f0 = g0 = None              # the next level's start, from the previous one
        prev = None                 # (level, cell keys of x, of y)
        levels = [] if warm is not None else self.levels(kx, kx if symmetric else ky,
                                                          x.shape[0], y.shape[0])
        self.stats = {"levels": levels, "max_nnz": 0, "refreshes": 0}
        for level in levels + [None]:
            end = eps if level is None else max(
                eps, (self._switch() * self.diameter(level)) ** self.p)
            if level is not None and cur <= end:
                continue
            if level is None:
                px, pwa, ckx = x, wa, kx
                py, pwb, cky = (x, wa, kx) if symmetric else (y, wb, ky)
            else:
                ckx, px, pwa = self.cells(x, wa, kx, level)
                cky, py, pwb = (ckx, px, pwa) if symmetric else self.cells(y, wb, ky, level)
            f0, g0 = (warm[0][ia], warm[1][ib]) if warm is not None else self._prolong(
                prev, f0, g0, ckx, cky, level)
            tol = opts["tol"] if level is None else max(opts["tol"], opts["stage_tol"])
            cap = budget
            for retry in range(LEVEL_RETRIES + 1):
                op, xt, yt = self._operator(px, py, pwa, pwb, symmetric, f0, g0, tol,
                                            opts["stage_tol"], level is None)
                sol = driver.solve(op, xt_w(pwa, xt), xt_w(pwb, yt), end, eps0=cur,
                                   max_iter=max(min(budget - int(count[0]), cap), 1),
                                   **dict(opts, tol=tol))
                cap = max(RETRY_ITER_MIN, RETRY_ITER_FACTOR * sol.n_iter)
                count += (sol.n_iter, sol.n_stages, sol.n_rescues, sol.n_newton)
                self._record(op)
                cur, f0, g0 = sol.eps, _unsorted(sol.f, xt), _unsorted(sol.g, yt)
                if level is None or self._target is None:
                    break
                stop, closer = self._level_bracket(op, xt, yt, x, y, wa, wb, kx, ky,
                                                   level, (ckx, px), (cky, py))
                if stop is not None:    # certified within rtol: done, whatever
                    return self._stopped_at(stop, sol, a, b, ia, ib, count, True)
                if not (closer and sol.converged):
                    break
                tol *= 0.1          # the level's marginals are what keeps it wide
            prev = (level, ckx, cky)
        self._final, self._stopped = (xt, yt, ia, ib), None
        out, totals = self._assemble(sol, op, xt, yt, ia, ib, a, b, *count[:3].tolist(),
                                     sol.converged and count[0] <= budget)
        out.n_newton = int(count[3])
        return out, totals

    def _stopped_at(self, stop, sol, a, b, ia, ib, count, converged):
        """The Solution of a solve stopped at a level: potentials on the points; the
        level's cells and plan in ``stats["level"]`` (see ``_level_info``)."""
        lo, up, f, g, X, Y, cells = stop
        self._stopped = (lo, up)
        self.stats["level"] = self._level_info(cells, ia, ib, a.shape[0], b.shape[0])
        out = driver.Solution(*self._on_points(a, b, ia, ib, f, g, X, Y), sol.eps,
                              int(count[0]), sol.err, converged, int(count[1]),
                              n_rescues=int(count[2]), n_newton=int(count[3]))
        return out, (lo, 1.0)

    def _level_bracket(self, op, xt, yt, x, y, wa, wb, kx, ky, level, cx, cy):
        """With ``rtol``, at the end of a level (cell keys and centroids ``cx``,
        ``cy``): ``(stop, closer)``. ``stop`` is ``(lower, upper, f, g, X, Y,
        cells)`` on the points (scaled ``** p``; the potentials in the orders of the
        points' trees ``X``, ``Y``; ``cells`` for ``_level_info``) when that bracket
        is within ``rtol``, else None. The upper end: the level's rounded plan
        lifted to the points (``certificate.lifted``), or for p = 2 Euclidean the
        points' own assignment by the carried potentials (``certificate.assigned``)
        where cheaper; the lower end: the level's potentials carried to the points by
        c-transforms (``certificate.dual``). The points' part is computed only where
        the lifted upper end is within ``rtol`` of the level's own lower bound.
        ``closer``: whether the plan's own cost, lifted, is within ``rtol`` of the
        lower end (the points', where computed), so that better marginals would
        narrow the bracket enough."""
        from . import certificate as cert

        rtol, scale, proj = self._target

        def narrow(lo, up):
            return within(combine(rooted_value(lo, scale, self.p), rooted_value(up, scale, self.p),
                                  proj), rtol)
        shift = x.shape[1] * (self.bits - level)
        ix, iy = np.searchsorted(cx[0], kx >> shift), np.searchsorted(cy[0], ky >> shift)
        dx, dy = x - cx[1][ix], y - cy[1][iy]
        up = cert.lifted(self, cert.rounded_cost(self, op, xt, yt), dx, dy, wa, wb)
        lo_cells = cert.dual(self, op.f, xt, xt, yt, op.a, op.b)[0]
        transport, mass = op.totals(None)
        own = cert.lifted(self, transport / mass, dx, dy, wa, wb)
        if not narrow(lo_cells, up):
            return None, narrow(lo_cells, own)
        X, Y = self._trees(x, y, False, True)
        lo, f, g, arg = cert.dual(self, op.f, xt, X, Y, wa[X.order], wb[Y.order])
        if self.p == 2.0 and self.metric == "euclidean" and not narrow(lo, up):
            up = min(up, cert.assigned(self, X, Y, wa[X.order], wb[Y.order], arg))
        if not narrow(lo, up):
            return None, narrow(lo, own)      # the points' own lower end, now known
        return (lo, up, f, g, X, Y, (level, op, xt, yt, ix, iy, cx[1], cy[1])), True

    def _level_info(self, cells, ia, ib, n, m):
        """What ``info["multiscale"]["level"]`` gives of the level a solve stopped
        at: its grid level, the number of cells a side, their weighted centroids
        (``x_cells``, ``y_cells``, in the caller's units), each point's cell
        (``x_cell``, ``y_cell``; -1 for a zero weight) and the entropic plan between
        the cells (``plan``, CSR, rows and columns in the centroids' orders)."""
        import scipy.sparse as sp

        from ...kernels.tree import permute_rows

        level, op, xt, yt, ix, iy, cen_x, cen_y = cells
        unit = self._target[1]                   # the scaled coordinates' unit
        x_cell, y_cell = np.full(n, -1, np.int64), np.full(m, -1, np.int64)
        x_cell[ia], y_cell[ib] = ix, iy
        ptr, cols, vals = permute_rows(op.indptr, op.idx, op.plan, xt.order,
                                       yt.order.astype(np.int32), xt.n)
        return {"level": level, "cells": (xt.n, yt.n), "x_cells": cen_x * unit,
                "y_cells": cen_y * unit, "x_cell": x_cell, "y_cell": y_cell,
                "plan": sp.csr_matrix((vals, cols, ptr), shape=(xt.n, yt.n))}

    def _on_points(self, a, b, ia, ib, f, g, X, Y):
        """Potentials in the trees' orders (of the live points) to the caller's,
        zero weights by the exact c-transform."""
        c = METRICS[self.metric]
        fo, go = np.empty(a.shape[0]), np.empty(b.shape[0])
        fo[ia[X.order]], go[ib[Y.order]] = f, g
        dead_a, dead_b = np.flatnonzero(~(a > 0)), np.flatnonzero(~(b > 0))
        if dead_a.size:
            fo[dead_a] = ctransform(self.x[dead_a], Y, g, c, self.p)[0]
        if dead_b.size:
            go[dead_b] = ctransform(self.y[dead_b], X, f, c, self.p)[0]
        return fo, go

    def _trees(self, px, py, symmetric, fine):
        """The trees of two point sets; those of the points themselves (``fine``)
        kept once built (a level's bracket needs them, and then the last level)."""
        if fine and self._fine is not None and not symmetric:
            return self._fine
        xt = self.tree(px)
        yt = xt if symmetric else self.tree(py)
        if fine and not symmetric:
            self._fine = (xt, yt)
        return xt, yt

    def _operator(self, px, py, pwa, pwb, symmetric, f0, g0, tol, stage_tol, fine):
        xt, yt = self._trees(px, py, symmetric, fine)
        f0 = None if f0 is None else f0[xt.order]
        g0 = None if g0 is None else g0[yt.order]
        op = SparseOperator(xt, yt, pwa[xt.order], pwb[yt.order], self.metric, self.p,
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
        """Certified ``(lower, upper)`` on W_p, rooted and unscaled (``certificate``):
        of the last solve, on the points or at the level it stopped at."""
        from . import certificate as cert

        if self._stopped is not None:
            lo, up = self._stopped
        else:
            xt, yt, ia, ib = self._final
            up = cert.rounded_cost(self, sol.sparse, xt, yt)
            lo = cert.dual(self, sol.f[ia][xt.order], xt, xt, yt, a[ia][xt.order],
                           b[ib][yt.order])[0]
        return combine(rooted_value(lo, scale, prob.p), rooted_value(up, scale, prob.p), projection)

    def info(self) -> dict:
        return {"multiscale": dict(self.stats)}


def xt_w(w, tree):
    """Weights in a tree's sorted order."""
    return w[tree.order]


def _unsorted(pot, tree):
    out = np.empty_like(pot)
    out[tree.order] = pot
    return out
