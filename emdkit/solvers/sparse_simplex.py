"""The transport problem on a growing set of arcs, solved by a network simplex that keeps
its basis (``kernels.simplex``): arcs added after a solve leave the optimal basis of
the smaller problem a feasible basis of the larger one, so the next solve starts there
instead of from scratch. This is what makes the pricing rounds of the multiscale exact
solver cheap: POT's network simplex on an edge list (``ot.emd`` with a sparse cost)
restarts from its artificial basis every time.
"""

from __future__ import annotations

import numpy as np

from ..kernels import simplex as k

#: The artificial arcs start at this many times the largest cost (plus one) and are
#: raised sixteenfold while an optimum still sends mass through them.
ART_START, ART_RAISE = 4.0, 16.0
#: Flow below this fraction of the total mass left on the artificial arcs at an
#: optimum is rounding (the certificate rounds the plan onto the marginals anyway).
ART_FLOW_TOL = 1e-13
#: A reduced cost below ``-EPS`` times the largest cost enters the basis.
EPS = 1e-14
#: The block search starts at this many times sqrt(arcs) arcs a pivot (LEMON: 1.0)
#: and adapts (``kernels.simplex.run``): 0.1 was 1.2x faster than 1.0 on 3e4 iid 2-D
#: points (cheap, mostly degenerate pivots), 1.0 was 1.2x faster than 0.1 on 128 x 128
#: images (large subtrees re-hung a pivot).
BLOCK = 0.1


class SparseSimplex:
    """The transport LP between ``a`` (n,) and ``b`` (m,), positive, of equal sums.

    ``prices``: optional potentials ``(f, g)`` (a coarser solution's, carried down):
    the artificial arcs then cost a constant plus them, so that a real arc first
    prices at ``c_ij - f_i - g_j`` less a constant and the first pivots bring in the
    pairs those potentials make tight. Any prices give the same optimum.

    >>> import numpy as np
    >>> s = SparseSimplex(np.array([0.5, 0.5]), np.array([0.5, 0.5]))
    >>> s.add(np.array([0, 0, 1]), np.array([0, 1, 1]), np.array([1.0, 0.0, 1.0]))
    3
    >>> s.solve()
    1
    >>> s.plan()[2].tolist(), s.cost()
    ([0.5, 0.5], 1.0)
    """

    def __init__(self, a: np.ndarray, b: np.ndarray, capacity: int = 0, prices=None):
        self.n, self.m = n, m = a.shape[0], b.shape[0]
        # the artificial arcs' costs: one constant plus, where given, the prices
        # (f, g): a real arc then first prices at c_ij - f_i - g_j less a constant
        self.shape = (np.zeros(n + m) if prices is None else
                      np.concatenate([prices[0], prices[1]]).astype(np.float64))
        self.a, self.b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        N = n + m + 1
        cap = max(capacity, 4 * (n + m)) + n + m
        self.src, self.dst = np.empty(cap, np.int64), np.empty(cap, np.int64)
        self.cost_, self.flow = np.empty(cap), np.empty(cap)
        self.state = np.empty(cap, np.int8)
        self.parent, self.pred = np.empty(N, np.int64), np.empty(N, np.int64)
        self.up, self.depth = np.empty(N, np.bool_), np.empty(N, np.int64)
        self.pi = np.empty(N)
        self.child, self.nxt, self.prv = (np.empty(N, np.int64) for _ in range(3))
        self.stack, self.path = np.empty(N, np.int64), np.empty(N, np.int64)
        self.n_arcs, self.next_arc, self.iterations = n + m, 0, 0
        self.cmax, self.art = 0.0, 1.0
        self.block = 0                          # the search's block (0: not set yet)
        self.keys = np.empty(0, np.int64)       # the real arcs' i * m + j, sorted
        k.init(n, m, self.a, self.b, self.art, self.src, self.dst, self.cost_, self.flow,
               self.state, self.parent, self.pred, self.up, self.depth, self.pi,
               self.child, self.nxt, self.prv)

    # ------------------------------------------------------------------- arcs
    def add(self, rows, cols, cost) -> int:
        """Add the arcs (source ``rows``, sink ``cols``) not yet there; their number."""
        key = np.asarray(rows, np.int64) * self.m + np.asarray(cols, np.int64)
        if key.size == 0:
            return 0
        order = np.argsort(key, kind="stable")
        key, cost = key[order], np.asarray(cost, np.float64)[order]
        keep = np.empty(key.size, bool)         # the first of equal keys
        keep[0] = True
        np.not_equal(key[1:], key[:-1], out=keep[1:])
        if self.keys.size:
            at = np.searchsorted(self.keys, key)
            keep &= self.keys[np.minimum(at, self.keys.size - 1)] != key
        key, cost = key[keep], cost[keep]
        if key.size == 0:
            return 0
        e0, e1 = self.n_arcs, self.n_arcs + key.size
        self.keys = np.sort(np.concatenate([self.keys, key]))
        if e1 > self.src.size:
            self._grow(max(e1, 2 * self.src.size))
        self.src[e0:e1], self.dst[e0:e1] = key // self.m, self.n + key % self.m
        self.cost_[e0:e1], self.flow[e0:e1] = cost, 0.0
        self.state[e0:e1] = k.LOWER
        self.n_arcs = e1
        cmax = float(cost.max())
        if cmax > self.cmax:
            self.cmax = cmax
            self._set_art(max(self.art, ART_START * (cmax + 1.0)))
        return int(key.size)

    def _grow(self, cap):
        for name in ("src", "dst", "cost_", "flow", "state"):
            old = getattr(self, name)
            new = np.empty(cap, old.dtype)
            new[:self.n_arcs] = old[:self.n_arcs]
            setattr(self, name, new)

    def _set_art(self, art):
        self.art = art
        self.cost_[:self.n + self.m] = art + self.shape
        self._potentials()

    def _potentials(self):
        k.potentials(self.n + self.m, self.cost_, self.src, self.parent, self.pred,
                     self.pi, self.child, self.nxt, self.depth, self.stack)

    # ------------------------------------------------------------------ solve
    def solve(self, max_iter: int = 100_000_000) -> int:
        """Pivot to an optimum of the arcs there: 1 optimal, 3 iteration limit, 2
        unbounded; 0 infeasible (mass still on the artificial arcs at any cost)."""
        eps = EPS * max(self.cmax, 1.0)
        # the artificial cost back to its start (any cost keeps the basis feasible):
        # the smaller it is, the fewer digits the potentials lose
        start = ART_START * (self.cmax + 1.0)
        if self.art != start:
            self._set_art(start)
        while True:
            code = self._pivots(eps, max_iter)
            if code != 1:
                return code
            # the potentials again from the tree (each pivot's shift rounds), then
            # whatever that re-prices
            self._potentials()
            code = self._pivots(eps, max_iter)
            if code != 1:
                return code
            # what is left on the artificial arcs, against the total mass: flows are
            # sums of weights, so their rounding is relative to the total, not to the
            # largest weight (65,536 pixel weights of ~1e-5 left 7e-17 behind, which
            # no artificial cost removes)
            art_flow = self.flow[:self.n + self.m].max()
            if art_flow <= ART_FLOW_TOL * self.a.sum():
                return 1
            if self.art > 2.0 * (self.n + self.m + 1) * (self.cmax + 1.0):
                return 0    # beyond any augmenting path's cost: the arcs are not enough
            self._set_art(self.art * ART_RAISE)

    def _pivots(self, eps: float, max_iter: int) -> int:
        """Pivot from the current basis (``kernels.simplex.run``); its code."""
        if self.block == 0:
            self.block = int(BLOCK * np.sqrt(self.n_arcs))
        code, it, self.next_arc, self.block = k.run(
            self.n_arcs, self.src, self.dst, self.cost_, self.flow, self.state,
            self.parent, self.pred, self.up, self.depth, self.pi, self.child, self.nxt,
            self.prv, self.stack, self.path, eps, max(max_iter - self.iterations, 0),
            self.next_arc, self.block)
        self.iterations += it
        return code

    # ---------------------------------------------------------------- results
    def plan(self):
        """``(rows, cols, mass)``: the real arcs with flow."""
        e = np.arange(self.n + self.m, self.n_arcs)
        e = e[self.flow[e] > 0]
        return self.src[e], self.dst[e] - self.n, self.flow[e]

    def duals(self):
        """``(f, g)`` with ``f_i + g_j <= c_ij`` on every arc there (to rounding),
        equal on the basis."""
        return -self.pi[:self.n].copy(), self.pi[self.n:self.n + self.m].copy()

    def cost(self) -> float:
        r = np.arange(self.n + self.m, self.n_arcs)
        return float(self.flow[r] @ self.cost_[r])
