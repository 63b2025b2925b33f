"""``method="exact", backend="multiscale"``: the transport LP of large low-dimensional
clouds, solved on a sparse set of candidate pairs and certified optimal over all pairs.

An optimal plan has at most n + m - 1 pairs, and between clouds in low dimension they
join near points. The solver goes coarse to fine on the grid of nested cells of
``geometry.multiscale.CellGrid``:

1. the coarsest level's cells (weights summed, points at their centroids) are solved
   exactly on all their pairs (``_simplex.network_simplex``);
2. on each finer level (and at the end on the points) every cell takes its parent's
   column potential; two exact c-transforms by the cell tree (``geometry.cells``) make
   the pair ``(f, g)`` c-concave, and the candidates are the pairs whose reduced cost
   ``c_ij - f_i - g_j`` is below a threshold set for about ``neighbours`` pairs per
   point (``geometry.cells.support``), with the north-west corner plan along the
   Morton curve so that the restricted problem is always feasible;
3. the LP restricted to the candidates is solved by a network simplex on the arc
   list that keeps its basis (``sparse_simplex.SparseSimplex``);
4. pricing: for every point, the smallest reduced cost over *all* partners, by branch
   and bound on the cell tree (exact c-transforms of the restricted duals). Rows and
   columns with a negative one get their best partner added (for p = 1 the rows alone,
   each with its 16 most negative pairs: W_1's reduced costs tie along transport
   rays) and the LP is solved again from the last basis (a few pivots, not a cold
   solve), until none is left.

For p = 1 the mass both clouds have at a shared point stays there first (W_1 moves
only ``a - b``, ``_staying``), and the levels transport the rest.

When no pair of the full problem prices negative beyond rounding, the restricted plan
is optimal for the full problem. The certificate does not rely on that test: the lower
end of ``Result.bounds`` is the dual objective of ``g`` and its exact c-transform (a
feasible dual pair of the full problem), the upper end the plan's cost rounded onto the
marginals, so the bracket holds whatever stopped the loop. With ``rtol`` the loop on
the points also stops once the restricted plan's cost is within ``rtol`` of the dual
objective of the pricing's c-transform (``MultiscaleExact._within``): for W_1 between
clouds far apart the last rounds add most of the pairs and pivots for the last
digits.
"""

from __future__ import annotations

import time
from typing import Optional, Tuple

import numpy as np

from ..bounds import combine, dual_objective
from ..geometry.cells import METRICS, ctransform, support
from ..geometry.units import rooted_value
from ..geometry.multiscale import CellGrid
from ._simplex import network_simplex
from .sparse_simplex import SparseSimplex

_CODES = {0: "the candidate pairs admit no plan", 2: "problem unbounded",
          3: "the network simplex reached max_iter"}
#: Candidate pairs per point on each level (besides the feasible path and the pairs
#: added by pricing).
NEIGHBOURS = 8
#: A restricted LP plus a pricing pass is repeated at most this many times per level.
MAX_ROUNDS = 50
#: The coarsest level (or a problem without levels) is solved on all pairs up to
#: this many, for every p (``exact``'s ``backend="auto"`` goes to the levels above
#: it). For p = 1 it has been 1 million: the degenerate dense LP of W_1 is the slower
#: above (64 x 64 photographs, 2678 x 1418 points left to move: 0.65 s dense, 0.35 s
#: on the levels). It was 4 million for p = 2; 1 million was as fast or faster
#: (best of 2-3, 2 cores): 2-D iid and shifted W_2 at 4096 and 10^4 points 1.3-1.5x,
#: 3-D shifted at 3000 2.1x, 3-D at 10^4 0.97-0.98x, 64 x 64 images W_2 1.0-1.45x,
#: and 32 x 32 images (1024 pixels, just past it) 5.7-6.5x, whose dense LP the ties
#: between pixel distances slow.
DENSE_PAIRS = 1_000_000
#: A reduced cost below ``-VIOLATION`` times the largest potential is a violation
#: (see ``_tolerance``); the bracket, not this test, certifies the value.
VIOLATION = 1e-13
#: The children of the coarse plan's pairs are the candidates while they number at
#: most this many per point (else clusters of nearly equal points: the curve's path).
CHILDREN_MAX = 64
#: The near-tight pairs are candidates while they number at most this many a row.
CANDIDATES_MAX = 64
#: Successive levels differ by at least this factor in cells (see ``_levels``).
LEVEL_STEP = 1.5
#: For p = 1 each violating row (and column) adds up to this many of its most
#: negative pairs, not only its best partner: along a transport ray of W_1 the reduced
#: costs tie, and one partner a round took 9-12 rounds on 64 x 64 Cauchy images and
#: on 10^4 shifted 2-D points, against 4-7 with these (16 and 64 measured alike;
#: for p = 2 neither helped, so it keeps one partner).
VIOLATING = 16
#: Rows sampled to set the candidates' threshold (128 and 512 measured alike for
#: p = 2; for p = 1 the counts follow rays and cost more: 128, 10% faster).
_SAMPLE = 128
#: For p = 1, up to this many sampled pairs (sample x points) the threshold is their
#: quantile, from every pair's reduced cost, not a bisection of tree counts (64 x 64
#: images: 17 counts of the sample, 15 ms, against 1 ms; for p = 2 the counts are
#: cheap, and the quantile's candidates made the images 5-10% slower).
_SAMPLE_PAIRS = 2 ** 20
#: With ``rtol``, a coarser level stops pricing once its own bracket is within this
#: (None: every level to optimality): its plan and prices only seed the next level.
#: With rtol = 1e-2, W_1 between 2-D clouds shifted by their spread: 10^4 points
#: 3.2 s with the coarser levels solved to optimality, 1.8 s with this (5.7 s
#: without rtol), 3 x 10^4 8.4 s (42 s), 10^5 66 s (past 15 minutes); 10^4 iid and
#: shifted W_2, iid W_1 and 3-D shifted W_1 were 1.1-1.9x faster than without rtol.
LEVEL_RTOL = 1e-3
_METRIC_NAMES = {code: name for name, code in METRICS.items()}


class MultiscaleExact:
    """The exact solver on a :class:`~emdkit.geometry.multiscale.CellGrid`.

    ``solve(a, b)`` returns a dict: ``rows, cols, mass`` (the plan's support in the
    caller's order; ``live_rows``, ``live_cols`` among the points of positive
    weight), ``cost`` (the pair costs, scaled), ``f_merged, g_merged`` (a c-concave
    pair of potentials of the points with repeats merged, ``x_merged``, ``y_merged``,
    scaled: ``f`` the exact c-transform of the last LP's ``g``, ``g`` that of ``f``,
    over ``x_tree``; ``mx``, ``my`` map the points of positive weight to them, None
    where nothing merged), ``staying`` (the fraction of the mass that W_1 leaves in
    place, ``_staying``; 0 for p != 1), ``converged`` and ``message`` and the
    per-level ``stats``.
    """

    def __init__(self, grid: CellGrid, max_iter: int = 100_000_000,
                 neighbours: Optional[int] = None, max_rounds: int = MAX_ROUNDS,
                 dense_pairs: Optional[int] = None, rtol: Optional[float] = None):
        self.grid, self.max_iter = grid, int(max_iter)
        self.rtol = rtol
        self.p = grid.p
        self.dense_pairs = int(DENSE_PAIRS if dense_pairs is None else dense_pairs)
        self.neighbours = int(NEIGHBOURS if neighbours is None else neighbours)
        self.max_rounds = int(max_rounds)
        self.metric = METRICS[grid.metric]
        self.stats: list = []

    # ------------------------------------------------------------------ public
    def solve(self, a: np.ndarray, b: np.ndarray) -> dict:
        grid = self.grid
        ia, ib = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
        wa, wb = a[ia], b[ib]
        wb = wb * (wa.sum() / wb.sum())
        # points repeated within a cloud are one point with their summed weight (an
        # exact reduction; their ties would make every pair between them a candidate)
        x, wa_m, kx, mx = _merged(grid, grid.x[ia], wa)
        y, wb_m, ky, my = _merged(grid, grid.y[ib], wb)
        # W_1: what stays put is free (see ``_staying``); the LP moves the rest
        lx, ly, ra, rb, stay = (_staying(x, wa_m, kx, y, wb_m, ky) if self.p == 1.0 else
                                (None, None, wa_m, wb_m, None))
        reduced = lx is not None
        xr, yr = (x[lx], y[ly]) if reduced else (x, y)
        if xr.shape[0] and yr.shape[0]:
            out = self._levels_down(xr, yr, ra, rb, *((kx[lx], ky[ly]) if reduced else
                                                      (kx, ky)))
        else:       # nothing moves (identical clouds, up to rounding)
            out = dict(rows=np.empty(0, np.int64), cols=np.empty(0, np.int64),
                       mass=np.empty(0), cost=np.empty(0), f=np.zeros(0), g=np.zeros(0),
                       converged=True, message=None)
        f = out["f"]
        if reduced:             # back on all the merged points, with the staying mass:
            # the last LP's f is already the exact c-transform over yr on xr
            f = np.zeros(x.shape[0])
            f[lx] = out["f"]
            rest = np.ones(x.shape[0], bool)
            rest[lx] = False
            if yr.shape[0] and rest.any():
                f[rest] = self._ctransform(x[rest], grid.tree(yr), out["g"])[0]
            out["rows"] = np.concatenate([lx[out["rows"]], stay[0]])
            out["cols"] = np.concatenate([ly[out["cols"]], stay[1]])
            out["mass"] = np.concatenate([out["mass"], stay[2]])
            out["cost"] = np.concatenate([out["cost"], np.zeros(stay[2].size)])
        # a c-concave pair on all the merged points: f the exact c-transform of the
        # last g, g that of f
        xt = grid.tree(x)
        if reduced:
            # W_1: f, a c-transform, is 1-Lipschitz, so at a point y of both clouds
            # (y = x_i) f^c(y) = min_k d(x_k, y) - f_k is attained at k = i: -f_i, to
            # rounding (on images on one grid, most of the points; 64 x 64 Cauchy
            # densities: all, a c-transform of 4096 x 4096 pairs saved)
            g = np.empty(y.shape[0])
            g[stay[1]] = -f[stay[0]]
            rest = np.ones(y.shape[0], bool)
            rest[stay[1]] = False
            if rest.any():
                g[rest] = self._ctransform(y[rest], xt, f)[0]
        else:
            g = self._ctransform(y, xt, f)[0]
        out.update(ia=ia, ib=ib, wa=wa, wb=wb, stats=self.stats, x_merged=x, y_merged=y,
                   x_tree=xt, f_merged=f, g_merged=g, mx=mx, my=my,
                   staying=0.0 if stay is None else float(stay[2].sum() / wa_m.sum()))
        if mx is not None or my is not None:
            out["rows"], out["cols"], out["mass"], out["cost"] = _split(out, mx, my, wa, wb)
        out["live_rows"], out["live_cols"] = out["rows"], out["cols"]
        out["rows"], out["cols"] = ia[out["rows"]], ib[out["cols"]]
        return out

    def _levels_down(self, x, y, wa, wb, kx, ky) -> dict:
        """The LP between ``x`` (weights ``wa``, Morton keys ``kx``) and ``y``, coarse
        to fine: the last level's solution (on the points)."""
        grid = self.grid
        levels = ([] if x.shape[0] * y.shape[0] <= self.dense_pairs else
                  self._levels(kx, ky, x.shape[0], y.shape[0]))
        prev = None                 # (level, cell keys of x, of y, the level's solution)
        message, converged = None, True
        for level in levels + [None]:
            if level is None:
                ckx, px, pwa, cky, py, pwb = kx, x, wa, ky, y, wb
            else:
                ckx, px, pwa = grid.cells(x, wa, kx, level)
                cky, py, pwb = grid.cells(y, wb, ky, level)
            out = self._level(px, py, pwa, pwb, self._prolong(prev, ckx, cky, level), level)
            converged = converged and out["converged"]
            message = message or out["message"]
            prev = (level, ckx, cky, out)
        out.update(converged=converged, message=message)
        return out

    # ------------------------------------------------------------------ levels
    def _levels(self, kx, ky, n, m):
        """The grid's levels (``CellGrid.levels``), thinned: each kept level has at
        least ``LEVEL_STEP`` times the cells of the one before and at most
        ``1 / LEVEL_STEP`` of the points (a level nearly as large as the points costs
        nearly as much and adds little)."""
        d, bits = self.grid.x.shape[1], self.grid.bits
        out, last = [], 0
        for level in self.grid.levels(kx, ky, n, m):
            size = max(np.unique(kx >> (d * (bits - level))).size,
                       np.unique(ky >> (d * (bits - level))).size)
            if size * LEVEL_STEP > max(n, m):
                break
            if not out or size >= LEVEL_STEP * last:
                out.append(level)
                last = size
        return out

    def _prolong(self, prev, ckx, cky, level):
        """``(g, rows, cols)``: each cell (or point) of this level takes its parent
        cell's ``g``; the pairs are the children of the parents' plan's pairs (a
        feasible set: the parents' plan spread over the children in proportion to
        their weights is a plan)."""
        from ..kernels.transport import children_pairs

        if prev is None:
            return None
        d = self.grid.x.shape[1]
        shift = d * ((self.grid.bits if level is None else level) - prev[0])
        px_, py_ = (np.searchsorted(prev[1], ckx >> shift),
                    np.searchsorted(prev[2], cky >> shift))
        coarse = prev[3]
        xo, yo = np.argsort(px_, kind="stable"), np.argsort(py_, kind="stable")
        xp = np.searchsorted(px_[xo], np.arange(prev[1].size + 1))
        yp = np.searchsorted(py_[yo], np.arange(prev[2].size + 1))
        sizes = np.diff(xp)[coarse["rows"]] * np.diff(yp)[coarse["cols"]]
        if sizes.sum() > CHILDREN_MAX * (ckx.size + cky.size):
            return coarse["g"][py_], None, None     # dense clusters: the curve's path
        rows, cols = children_pairs(coarse["rows"], coarse["cols"], xp, xo, yp, yo)
        return coarse["g"][py_], rows, cols

    def _level(self, px, py, wa, wb, start_from, level) -> dict:
        """The exact LP between ``px`` (weights ``wa``) and ``py`` (``wb``): dense
        where small, else restricted to candidates (from the coarser level's plan and
        potentials, ``start_from``, or the curve's path) and priced; the network
        simplex makes at most ``max_iter`` pivots on the level, all rounds together."""
        start = time.perf_counter()
        n, m = px.shape[0], py.shape[0]
        stat = {"level": level, "n": n, "m": m}
        self.stats.append(stat)
        if n * m <= self.dense_pairs:
            return self._dense(px, py, wa, wb, stat, start)
        xt, yt = self.grid.tree(px), self.grid.tree(py)
        g0, path_r, path_c = start_from if start_from is not None else (np.zeros(m),
                                                                         None, None)
        if path_r is None:          # no coarser plan: a feasible path along the curve
            path_r, path_c = _northwest(xt, yt, wa, wb)
        # a c-concave pair from the prolonged potential: f = g0^c, g = f^c
        f = self._ctransform(px, yt, g0)[0]
        g = self._ctransform(py, xt, f)[0]
        rows, cols = (self._candidates(xt, yt, f, g) if self.neighbours else
                      (path_r[:0], path_c[:0]))
        rows, cols = np.concatenate([rows, path_r]), np.concatenate([cols, path_c])
        stat.update(candidates=0, rounds=0, added=0, pivots=0, simplex_s=0.0,
                    pricing_s=0.0)
        lp = SparseSimplex(wa, wb, capacity=2 * rows.size, prices=_centred(f, g))
        for rnd in range(self.max_rounds):
            t0 = time.perf_counter()
            stat["candidates"] += lp.add(rows, cols, _pair_costs(px, py, rows, cols,
                                                                 self.metric, self.p))
            code = lp.solve(self.max_iter)      # warm: from the last round's basis
            fr, gr = _centred(*lp.duals())
            t1 = time.perf_counter()
            stat["simplex_s"] += t1 - t0
            stat["rounds"], stat["pivots"] = rnd + 1, lp.iterations
            if code != 1:
                return self._finish(px, py, lp.plan(), gr, yt, False, _CODES[code], stat,
                                    start)
            # pricing: every row's best partner over all pairs (a pair that prices
            # negative makes its row do so), and for p != 1 every column's too. For
            # W_1 the rows alone (with their 16 pairs each, below) were faster: the
            # columns' c-transform cost more than the rounds it saved (1.0-1.4x on
            # 64 x 64 images of five classes, iid and shifted 2-D clouds of 4096 to
            # 3 x 10^4 points, 128 x 128 and 256 x 256 random fields); for W_2 on
            # images the columns' partners saved two thirds of the rounds (128 x 128
            # and 256 x 256 random fields: 22 and 17 rounds on the points against 7)
            hr, ar = self._ctransform(px, yt, gr)
            tol = _tolerance(fr, gr)
            bad_r = np.flatnonzero(hr - fr < -tol)
            if self.p != 1.0:
                hc, ac = self._ctransform(py, xt, fr)
                bad_c = np.flatnonzero(hc - gr < -tol)
            else:
                bad_c = ac = bad_r[:0]
            stat["pricing_s"] += time.perf_counter() - t1
            if bad_r.size == 0 and bad_c.size == 0:
                return self._finish(px, py, lp.plan(), gr, yt, True, None, stat, start, hr)
            if self.rtol is not None and self._within(
                    level, lp.cost(), float(wa @ hr + wb @ gr), stat):
                return self._finish(px, py, lp.plan(), gr, yt, True, None, stat, start, hr)
            rows = np.concatenate([bad_r, ac[bad_c]])
            cols = np.concatenate([ar[bad_r], bad_c])
            if self.p == 1.0:       # degenerate rays: more of each one's violations
                rr, rc = _violating(px, fr, bad_r, yt, gr, tol, self.metric)
                rows, cols = np.concatenate([rows, rr]), np.concatenate([cols, rc])
            new = lp.add(rows, cols, _pair_costs(px, py, rows, cols, self.metric, self.p))
            if new == 0:        # the violations are rounding on pairs already there
                return self._finish(px, py, lp.plan(), gr, yt, True, None, stat, start, hr)
            stat["added"] += new
            stat["candidates"] += new
            rows = cols = rows[:0]
        return self._finish(px, py, lp.plan(), gr, yt, False,
                            f"pricing still found negative reduced costs after "
                            f"{self.max_rounds} rounds", stat, start)

    def _within(self, level, upper: float, lower: float, stat) -> bool:
        """Called with ``rtol`` only (without it every level prices to optimality,
        and the caller computes neither bound): whether the restricted plan's cost
        ``upper`` is within ``rtol`` (on the points, ``level`` None; ``LEVEL_RTOL``
        on a coarser level) of the dual objective ``lower`` of the row potentials'
        exact c-transform and the column potentials (a feasible dual pair of the
        level's whole problem), relative and on W_p itself:
        ``upper <= lower (1 + tol) ** p``. Where it is,
        pricing stops there (on the points the caller takes the certificate again
        on every point)."""
        tol = self.rtol if level is None else LEVEL_RTOL
        if tol is None or not lower > 0.0:
            return False
        stat["gap"] = upper / lower - 1.0
        return upper <= lower * (1.0 + tol) ** self.p

    def _dense(self, px, py, wa, wb, stat, start) -> dict:
        from scipy.spatial.distance import cdist

        D = cdist(px, py, metric=self.grid.metric)
        M = np.ascontiguousarray(D if self.p == 1.0 else D ** self.p)
        _, (ii, jj, mass), f, g, code, message = network_simplex(wa, wb, M, self.max_iter)
        stat.update(dense=True, rounds=1, candidates=M.size)
        stat["time_s"] = time.perf_counter() - start
        f2 = (M - g[None, :]).min(axis=1)      # the exact c-transform of g
        return dict(rows=ii, cols=jj, mass=mass, cost=M[ii, jj], f=f2, g=g,
                    converged=message is None, message=message)

    def _finish(self, px, py, sup, gr, yt, converged, message, stat, start,
                h=None) -> dict:
        ii, jj, mass = sup
        if h is None:
            h = self._ctransform(px, yt, gr)[0]
        stat["time_s"] = time.perf_counter() - start
        return dict(rows=ii, cols=jj, mass=mass,
                    cost=_pair_costs(px, py, ii, jj, self.metric, self.p), f=h, g=gr,
                    converged=converged, message=message)

    # --------------------------------------------------------------- searches
    def _ctransform(self, q, tree, g):
        """``(min_j c(q_i, t_j) - g_j, argmin j)`` over all the tree's points, in the
        callers' orders."""
        val, arg = ctransform(q, tree, np.ascontiguousarray(g[tree.order]), self.metric,
                              self.p)
        return val, tree.order[arg]

    def _candidates(self, xt, yt, f, g):
        """The pairs with ``c - f - g`` below the threshold that keeps about
        ``neighbours`` a row (``f``, ``g`` c-concave: every row and column has one at
        0), in the callers' orders."""
        fs, gs = np.ascontiguousarray(f[xt.order]), np.ascontiguousarray(g[yt.order])
        thresh, mean = _threshold(xt, yt, fs, gs, self.neighbours, self.metric, self.p)
        if mean > CANDIDATES_MAX:     # ties (clusters): the pricing adds what is needed
            return np.empty(0, np.int64), np.empty(0, np.int64)
        indptr, idx, _ = support(xt, yt, fs, gs, thresh, self.metric, self.p)
        rows = np.repeat(xt.order, np.diff(indptr))
        return rows, yt.order[idx]


def _violating(q, fq, rows, tree, g, tol, metric):
    """p = 1: ``(rows, partners)``, for each of ``rows`` (points ``q``, potentials
    ``fq``) its ``VIOLATING`` most negative pairs against the ``tree``'s points
    (reduced cost ``c - fq - g`` below ``-tol``), in the callers' orders."""
    from ..geometry.cells import bounds, parallel
    from ..kernels.tree import below_k

    if rows.size == 0:
        return rows, rows
    gs = np.ascontiguousarray(g[tree.order])
    qr, limit = np.ascontiguousarray(q[rows]), fq[rows] - tol
    val, arg = np.empty((rows.size, VIOLATING)), np.empty((rows.size, VIOLATING), np.int64)
    gmax, beta, alpha = bounds(tree, gs, metric, 1.0)
    parallel(lambda i0, i1: below_k(qr, tree.xT, *tree.cells, gmax, beta, alpha, gs, limit,
                                    metric, 1.0, i0, i1, val, arg), rows.size)
    r, t = np.nonzero(arg >= 0)
    return rows[r], tree.order[arg[r, t]]


def _threshold(xt, yt, fs, gs, k, metric, p) -> Tuple[float, float]:
    """``(threshold, mean pairs a row)``: the reduced-cost threshold at which sampled
    rows keep about ``k`` pairs on average (for p = 1 a quantile of the sample's
    reduced costs where it has few pairs, else a bisection on the tree's counts)."""
    from ..kernels import tree as kt
    from ..geometry.cells import bounds

    sample = np.unique(np.linspace(0, xt.n - 1, min(xt.n, _SAMPLE)).astype(np.int64))
    q, fq = xt.x[sample], fs[sample]
    if p == 1.0 and sample.size * yt.n <= _SAMPLE_PAIRS:    # every pair: a quantile
        from scipy.spatial.distance import cdist

        red = (cdist(q, yt.x, _METRIC_NAMES[metric]) ** p - fq[:, None] - gs[None, :])
        red = red.ravel()
        at = min(int(k * sample.size), red.size) - 1
        thresh = max(float(np.partition(red, at)[at]), 0.0) if at >= 0 else 0.0
        return thresh, float(np.count_nonzero(red <= thresh)) / sample.size
    gmax, beta, alpha = bounds(yt, gs, metric, p)
    counts = np.empty(sample.size, np.int64)

    def mean(t):
        kt.support_count(q, yt.x, *yt.cells, gmax, beta, alpha, fq, gs, t, metric, p, 0,
                         sample.size, counts)
        return counts.mean()

    # from a small threshold up by fourfold steps (a large one counts whole rows),
    # then a few bisections: about k is enough
    top = 2.0 ** p                        # every scaled cost is below 2 ** p
    lo, hi = 0.0, 1e-8 * top
    while hi < top and mean(hi) <= k:
        lo, hi = hi, min(4.0 * hi, top)
    if hi >= top and mean(top) <= k:
        return top, mean(top)
    for _ in range(6):
        mid = 0.5 * (lo + hi)
        if mean(mid) > k:
            hi = mid
        else:
            lo = mid
    return lo, mean(lo)


def _centred(f, g):
    """``(f + c, g - c)`` (the same reduced costs) with ``f`` and ``g`` of equal mean:
    the network simplex's potentials carry the artificial arcs' cost as an offset."""
    c = 0.5 * (float(g.mean()) - float(f.mean()))
    return f + c, g - c


def _tolerance(f, g) -> float:
    """A reduced cost below ``-tolerance`` is a violation, not rounding (the
    potentials are sums along the simplex tree's paths). Where rounding alone prices
    a pair negative, the pair is already an arc and the loop stops there (``_level``)."""
    big = max(float(np.abs(f).max()), float(np.abs(g).max()), 1.0)
    return VIOLATION * big


def _northwest(xt, yt, wa, wb):
    """The north-west corner plan along the Morton order of both clouds."""
    from ..kernels.transport import northwest

    r, c = northwest(np.ascontiguousarray(wa[xt.order]), np.ascontiguousarray(wb[yt.order]))
    return xt.order[r], yt.order[c]


def _on_points(n, live, inv, pot, pts, other_tree, other_pot, metric, p):
    """Every point's potential from the merged points' (``inv`` None: no merging);
    the points of zero weight take the exact c-transform of the other side's (over
    ``other_tree()``, built only for them)."""
    out = np.empty(n)
    out[live] = pot if inv is None else pot[inv]
    dead = np.ones(n, bool)
    dead[live] = False
    if dead.any():
        other = other_tree()
        out[dead] = ctransform(pts[dead], other,
                               np.ascontiguousarray(other_pot[other.order]), metric, p)[0]
    return out


def _merged(grid, pts, w):
    """``(points, weights, Morton keys, inverse)``: repeated points merged (weights
    summed, ``inverse`` mapping each given point to its merged one), or the points
    themselves and ``inverse`` None where none repeats."""
    keys = grid.keys(pts)
    if np.unique(keys).size == keys.size:       # distinct keys: distinct points
        return pts, w, keys, None
    u, inv = np.unique(pts, axis=0, return_inverse=True)
    inv = inv.ravel()
    if u.shape[0] == pts.shape[0]:
        return pts, w, keys, None
    return u, np.bincount(inv, weights=w, minlength=u.shape[0]), grid.keys(u), inv


def _staying(x, wa, kx, y, wb, ky):
    """W_1 moves only ``a - b``: for p = 1 and a metric cost, at a point of both
    clouds the smaller weight stays put at no cost and the LP transports the rest
    (Kantorovich-Rubinstein: W_1 depends on the measures through ``a - b`` alone;
    a plan of the rest plus the staying mass is optimal). On images on one grid this
    leaves each pixel on one side only, about half of them a side.

    ``(lx, ly, ra, rb, (ix, iy, mass))``: the points (of ``x`` and ``y``, each
    without repeats) with weight left to move, that weight (``rb`` rescaled to the
    sum of ``ra``: rounding), and the staying pairs; ``lx`` None where no point is
    in both clouds."""
    both = np.intersect1d(kx, ky)               # equal points have equal keys
    if both.size == 0:
        return None, None, wa, wb, None
    cx, cy = np.flatnonzero(np.isin(kx, both)), np.flatnonzero(np.isin(ky, both))
    inv = _row_ids(np.concatenate([x[cx], y[cy]]))
    _, sx, sy = np.intersect1d(inv[:cx.size], inv[cx.size:], assume_unique=True,
                               return_indices=True)
    ix, iy = cx[sx], cy[sy]
    if ix.size == 0:
        return None, None, wa, wb, None
    mass = np.minimum(wa[ix], wb[iy])
    ra, rb = wa.copy(), wb.copy()
    ra[ix] -= mass
    rb[iy] -= mass
    ra[ix[wa[ix] <= wb[iy]]] = 0.0          # exactly: that side stays whole
    rb[iy[wb[iy] <= wa[ix]]] = 0.0
    lx, ly = np.flatnonzero(ra > 0), np.flatnonzero(rb > 0)
    ra, rb = ra[lx], rb[ly]
    if lx.size == 0 or ly.size == 0:            # the rest is rounding: nothing moves
        lx, ly, ra, rb = lx[:0], ly[:0], ra[:0], rb[:0]
    else:
        rb *= ra.sum() / rb.sum()
    return lx, ly, ra, rb, (ix, iy, mass)


def _row_ids(pts):
    """An id for each row of ``pts``, equal for equal rows, ascending in lexicographic
    order (``np.unique(pts, axis=0, return_inverse=True)``'s, 5x faster on 64 x 64
    images: a lexsort of the columns)."""
    order = np.lexsort(pts.T[::-1])
    s = pts[order]
    first = np.ones(s.shape[0], bool)
    first[1:] = np.any(s[1:] != s[:-1], axis=1)
    ids = np.empty(s.shape[0], np.int64)
    ids[order] = np.cumsum(first) - 1
    return ids


def _split(out, mx, my, wa, wb):
    """The merged solution's plan on the given points (``kernels.transport.split_merged``
    on each side): a plan again, with at most n + m more pairs."""
    rows, cols, mass, cost = out["rows"], out["cols"], out["mass"], out["cost"]
    if mx is not None:
        rows, cols, mass, cost = _split_side(rows, cols, mass, cost, mx, wa)
    if my is not None:
        cols, rows, mass, cost = _split_side(cols, rows, mass, cost, my, wb)
    return rows, cols, mass, cost


def _split_side(rows, cols, mass, cost, inv, w):
    from ..kernels.transport import split_merged

    order = np.argsort(rows, kind="stable")
    rows, cols, mass, cost = rows[order], cols[order], mass[order], cost[order]
    members = np.argsort(inv, kind="stable")
    ptr = np.searchsorted(inv[members], np.arange(int(inv.max()) + 2))
    r, k, m_ = split_merged(rows, mass, ptr, members, w)
    return r, cols[k], m_, cost[k]


def _pair_costs(px, py, rows, cols, metric, p):
    from ..kernels.transport import pair_costs

    return pair_costs(np.ascontiguousarray(px), np.ascontiguousarray(py),
                      np.ascontiguousarray(rows, dtype=np.int64),
                      np.ascontiguousarray(cols, dtype=np.int64), metric, float(p))


def exact_multiscale(prob, start: float, max_iter: int, rtol: float,
                     stop_rtol: Optional[float] = None):
    """``method="exact", backend="multiscale"``: the :class:`~emdkit.Result` of the
    solve above (see ``exact.exact``), certified within ``rtol``; with
    ``stop_rtol``, pricing on the points stops once the bracket is within it."""
    import scipy.sparse as sp

    from ..geometry.clouds import scaled_coordinates
    from ..kernels.ctransform import support_upper
    from ._common import (add_weight_gradient, check_certified, make_result,
                          torch_cost_on_pairs)
    from .oned import projection_lower

    x, y, scale = scaled_coordinates(prob)
    wa, wb = prob.weights()
    grid = CellGrid(x, y, prob.metric, prob.p)
    out = MultiscaleExact(grid, max_iter=max_iter, rtol=stop_rtol).solve(wa, wb)
    ii, jj, mass, cost = out["rows"], out["cols"], out["mass"], out["cost"]
    ia, ib = out["ia"], out["ib"]
    metric, p = METRICS[prob.metric], prob.p
    # every point's potentials from the merged points' c-concave pair; zero weights
    # take theirs as c-transforms too (a cell tree of repeated points would not split)
    ym, f_m, g_m, xt = out["y_merged"], out["f_merged"], out["g_merged"], out["x_tree"]
    f = _on_points(prob.n, ia, out["mx"], f_m, x, lambda: grid.tree(ym), g_m, metric, p)
    g = _on_points(prob.m, ib, out["my"], g_m, y, lambda: xt, f_m, metric, p)
    cmax = 2.0 ** p                         # every scaled distance is below 2
    lower = dual_objective(out["wa"], out["wb"], (f[ia], g[ib]), cmax)
    upper = support_upper(out["wa"], out["wb"], out["live_rows"], out["live_cols"], mass,
                          cost, cmax)
    bounds = combine(rooted_value(lower, scale, p), rooted_value(upper, scale, p),
                     projection_lower(prob))
    value_scaled = float(mass @ cost)
    info = {"backend": "multiscale", "cost_scale": scale,
            "multiscale": {"levels": out["stats"], "staying_mass": out["staying"]}}
    converged = check_certified(info, "exact", None if out["converged"] else out["message"],
                                bounds, value_scaled, rtol)
    plan = sp.csr_matrix((mass, (ii, jj)), shape=(prob.n, prob.m))

    def torch_cost():
        tc = torch_cost_on_pairs(prob, ii, jj, mass, scale)
        return add_weight_gradient(prob, tc, f, g), scale

    return make_result(prob, "exact", start, cost=value_scaled, scale=scale,
                       torch_cost=torch_cost, plan=plan, potentials=(f, g),
                       converged=converged, bounds=bounds, info=info)
