"""The point clouds of sparse Sinkhorn as cell trees, and the two tree searches
(``kernels.tree``) shared out between the cores: exact c-transforms and the truncated
support, the latter sized before it is allocated."""

from __future__ import annotations

import numpy as np

from ..threads import run_all, workers

LEAF = 16
#: ``searched``: rows sampled, and the largest problem (rows x points) on which a
#: search may evaluate every pair.
SAMPLE, FLAT_PAIRS = 64, 2 ** 24
#: ``searched``'s cost model, in pairs of the one-pass search (which costs ``m +
#: FLAT_ROW`` a row): a pair the tree evaluates costs ``TREE_PAIR``, a cell it bounds
#: ``TREE_CELL``. Fitted (10% median error) on 200 c-transforms of the exact
#: solver's W_1 levels, 1-17M pairs (64 x 64 images of five classes, iid and
#: shifted 2-D clouds of 2000 and 4000 points; 2 cores): 1.36 ns a pair in one pass
#: against 6.7 ns a pair and 36 ns a cell in the tree.
TREE_PAIR, TREE_CELL, FLAT_ROW = 5.0, 26.0, 350.0
METRICS = {"euclidean": 0, "cityblock": 1, "chebyshev": 2}


def ranges(n, min_rows=256):
    k = max(1, min(4 * workers(), n // min_rows))
    edges = np.linspace(0, n, k + 1).astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def parallel(fn, n):
    return run_all([lambda r=r: fn(*r) for r in ranges(n)])


class Tree:
    """A point cloud (scaled coordinates) in Morton order, with its cells; ``order``
    maps the sorted position to the original index."""

    def __init__(self, x: np.ndarray, lo: np.ndarray, span: float, bits: int):
        from ..kernels import tree as k

        q = np.floor((x - lo) / span * (2 ** bits)).astype(np.int64)
        np.clip(q, 0, 2 ** bits - 1, out=q)
        keys = k.morton_keys(q, bits)
        self.order = np.argsort(keys, kind="stable")
        self.keys = keys[self.order]
        self.x = np.ascontiguousarray(x[self.order])
        self.xT = np.ascontiguousarray(self.x.T)    # by coordinate: ``kernels.tree._leaf``
        self.cells = k.build_cells(self.keys, self.x, bits, LEAF)
        self.n, self.d = self.x.shape
        self.bits, self._flat = bits, None

    @property
    def flat(self):
        """The cells of the points as one leaf (built on first use): a search on
        them evaluates every pair, in one vectorised pass a row (``kernels.tree._leaf``)."""
        from ..kernels import tree as k

        if self._flat is None:
            self._flat = k.build_cells(self.keys, self.x, self.bits, self.n)
        return self._flat

    def cell_linear(self, g):
        """``(beta, alpha)``: per cell, ``g_j <= alpha_c + beta_c . y_j`` on its points
        (``kernels.tree.cell_linear``), on the threads."""
        from ..kernels import tree as k

        nc = self.cells[0].shape[0]
        beta, alpha = np.empty((nc, self.d)), np.empty(nc)
        parallel(lambda c0, c1: k.cell_linear(self.cells[0], self.cells[1], self.cells[2],
                                              self.x, g, c0, c1, beta, alpha), nc)
        return beta, alpha

    def cell_max(self, g):
        from ..kernels import tree as k

        lo, hi, c_lo, c_hi = self.cells[:4]
        return k.cell_max(lo, hi, c_lo, c_hi, g)


def ctransform(q: np.ndarray, ytree: Tree, g, metric: int, p: float):
    """``(min_j c(q_i, y_j) - g_j, argmin)`` for every row of ``q``, exactly (``g``
    and the argmin in the tree's sorted order)."""
    from ..kernels import tree as k

    q = np.ascontiguousarray(q, dtype=np.float64)
    out, arg = np.empty(q.shape[0]), np.empty(q.shape[0], np.int64)
    cells, gmax, beta, alpha = searched(q, ytree, g, metric, p)
    none = np.empty((0, 2), np.int64)
    parallel(lambda i0, i1: k.ctransform(q, ytree.xT, *cells, gmax, beta, alpha, g,
                                          metric, p, i0, i1, out, arg, none), q.shape[0])
    return out, arg


def searched(q: np.ndarray, ytree: Tree, g, metric: int, p: float):
    """``(cells, gmax, beta, alpha)``: what a search of ``ytree`` for the rows ``q``
    goes down, the cells with their largest ``g`` and envelope (``linear_envelope``):
    the tree's, or for p = 1 on small problems, where the branch and bound prunes
    little, one leaf of all the points (``Tree.flat``, no envelope).

    W_1's potentials rise at slope 1 along the transport rays, so the bound of a
    cell on a ray from the query is barely above the best found along it, and when
    the transport is long against the spacing the tree's search evaluates many of
    the pairs and bounds many cells (64 x 64 images: 15-20% of the pairs), against
    few when it is short (iid clouds: 1-2%). The tree is searched on ``SAMPLE``
    evenly spaced rows, counting the pairs it evaluates and the cells it bounds; where
    that costs more (``TREE_PAIR``, ``TREE_CELL``) than every pair in one vectorised
    pass a row, every pair it is. Past ``FLAT_PAIRS`` pairs the tree."""
    from ..kernels import tree as k

    rows = q.shape[0]
    tree = (ytree.cells,) + bounds(ytree, g, metric, p)
    if p != 1.0 or rows * ytree.n > FLAT_PAIRS or rows < SAMPLE:
        return tree
    sample = np.ascontiguousarray(q[np.linspace(0, rows - 1, SAMPLE).astype(np.int64)])
    out, arg = np.empty(SAMPLE), np.empty(SAMPLE, np.int64)
    visits = np.zeros((SAMPLE, 2), np.int64)
    k.ctransform(sample, ytree.xT, *tree[0], *tree[1:], g, metric, p, 0, SAMPLE, out, arg,
                 visits)
    pairs, cells = visits.mean(0)
    if TREE_PAIR * pairs + TREE_CELL * cells <= ytree.n + FLAT_ROW:
        return tree
    flat = ytree.flat
    return flat, k.cell_max(*flat[:4], g), np.empty((0, ytree.d)), np.empty(0)


def bounds(tree: Tree, g, metric: int, p: float):
    """``(gmax, beta, alpha)``: what a search of ``tree`` bounds a cell's reduced costs
    with, the cell's largest ``g`` and its envelope (``linear_envelope``)."""
    return (tree.cell_max(g),) + tuple(linear_envelope(tree, g, metric, p))


def linear_envelope(tree: Tree, g, metric: int, p: float):
    """The cells' envelopes of ``g`` that the searches bound a cell's reduced costs
    with, besides its largest ``g``: for p = 2 Euclidean the linear envelopes
    (``Tree.cell_linear``), for 2-D W_1 the minima along 8 directions
    (``kernels.tree.cell_rays``), else empty."""
    from ..kernels import tree as k

    if (metric, float(p)) == (0, 2.0):
        return tree.cell_linear(g)
    if (metric, float(p), tree.d) == (0, 1.0, 2):
        lo, hi, c_lo, c_hi = tree.cells[:4]
        phi, gmin = np.empty((lo.shape[0], 8)), np.empty(lo.shape[0])
        k.cell_rays(lo, hi, c_lo, c_hi, tree.x, g, phi, gmin)
        return phi, gmin
    return np.empty((0, tree.d)), np.empty(0)


def support(xtree: Tree, ytree: Tree, f, g, thresh, metric: int, p: float):
    """CSR ``(indptr, idx, cost)`` of the pairs with ``c - f_i - g_j <= thresh``."""
    from ..kernels import tree as k

    if ytree.n >= 2 ** 31:
        raise ValueError(f"the multiscale kernel indexes columns in 32 bits; got "
                         f"{ytree.n:,} points")
    gmax, beta, alpha = bounds(ytree, g, metric, p)
    args = (xtree.x, ytree.x) + tuple(ytree.cells) + (gmax, beta, alpha, f, g, thresh,
                                                      metric, p)
    # the size of the support, estimated on evenly spaced rows before anything of
    # that size is allocated
    sample = np.unique(np.linspace(0, xtree.n - 1, min(xtree.n, 512)).astype(np.int64))
    few = np.empty(sample.size, np.int64)
    k.support_count(xtree.x[sample], ytree.x, *ytree.cells, gmax, beta, alpha, f[sample],
                    g, thresh, metric, p, 0, sample.size, few)
    _check_fits(int(few.mean() * xtree.n), xtree.n, ytree.n)
    counts = np.empty(xtree.n, np.int64)
    parts = parallel(lambda i0, i1: k.support_rows(*args, i0, i1, counts), xtree.n)
    indptr = np.zeros(xtree.n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    if len(parts) == 1:
        return indptr, parts[0][0], parts[0][1]
    return (indptr, np.concatenate([q_[0] for q_ in parts]),
            np.concatenate([q_[1] for q_ in parts]))


#: Bytes per kept pair at the peak, a search: the support kept (int32 column, cost,
#: kernel) and the new one being found (each core's column and cost, their concatenation).
BYTES_PER_PAIR = 44


def _check_fits(nnz: int, n: int, m: int) -> None:
    """Refuse, before allocating, a support that would not fit in half the memory
    available (an epsilon too large for the density of the clouds)."""
    from ..memory import ProblemTooLargeError, available_memory, fmt_bytes

    need, avail = BYTES_PER_PAIR * float(nnz), available_memory()
    if avail is not None and need > avail / 2:
        raise ProblemTooLargeError(
            f"the multiscale Sinkhorn kernel would keep {nnz:,} pairs ({nnz / n:.0f} per "
            f"point of {n:,} x {m:,}), about {fmt_bytes(need)}, more than half the "
            f"{fmt_bytes(avail)} available: epsilon is too large for clouds this dense. "
            f"Pass a smaller epsilon (or none: the default keeps the kernel sparse), or "
            f"subsample.")
