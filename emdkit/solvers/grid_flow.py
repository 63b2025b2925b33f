"""``method="exact", backend="grid"``: exact W_1 with the cityblock metric between
histograms on one regular grid, as a min-cost flow on the grid's neighbour graph.

With the cityblock metric the cost between two cells is the length of a shortest path
through neighbouring cells, so an optimal plan can be routed step by step: a flow on
the O(n d) arcs between neighbours instead of the n^2 pairs (Bassetti, Gualandi &
Veneroni 2018). The transshipment problem is solved as a transport problem by POT's
network simplex on an edge list: every cell is a source of ``a_i + 1`` and a sink of
``b_i + 1``, joined to itself at cost 0 and to its neighbours at the spacing.

The certificate: the duals of the optimum, made 1-Lipschitz over the whole grid by an
L1 distance transform (a potential never raised), give ``sum phi (a - b) <= W_1``;
the flow's cost is the upper end.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np

#: The grid (the bounding box of both clouds' cells, empty cells included) may have
#: at most this many cells per point of the two clouds, and this many in all.
CELLS_PER_POINT, CELLS_MAX = 4, 20_000_000


def lattice(prob) -> Optional[tuple]:
    """``(origin, spacing, shape, index of x, index of y)`` where the problem is
    W_1 with the cityblock metric and every point of both clouds lies on one regular
    grid (``on_grid``); else None."""
    if callable(prob.metric) or prob.metric != "cityblock" or prob.p != 1.0:
        return None
    return on_grid(prob.x, prob.y)


def on_grid(x: np.ndarray, y: np.ndarray) -> Optional[tuple]:
    """``(origin, spacing, shape, index of x, index of y)`` where every point of
    both clouds lies on one regular grid (to 1e-12 of its extent), the grid being
    small enough (``CELLS_PER_POINT``, ``CELLS_MAX``); else None. O(n log n)."""
    pts = np.concatenate([x, y])
    lo, hi = pts.min(0), pts.max(0)
    spacing, shape = np.ones(pts.shape[1]), []
    idx = np.empty(pts.shape, np.int64)
    for t in range(pts.shape[1]):
        v = np.unique(pts[:, t])
        if v.size == 1:
            shape.append(1)
            idx[:, t] = 0
            continue
        h = float(np.diff(v).min())
        k = np.rint((pts[:, t] - lo[t]) / h)
        if np.abs(lo[t] + k * h - pts[:, t]).max() > 1e-12 * (hi[t] - lo[t]):
            return None
        if k.max() + 1 > CELLS_MAX:     # too fine a grid (and past int64's range)
            return None
        spacing[t] = h
        shape.append(int(k.max()) + 1)
        idx[:, t] = k.astype(np.int64)
    cells = float(np.prod(np.array(shape, dtype=np.float64)))
    if cells > min(CELLS_MAX, CELLS_PER_POINT * pts.shape[0]):
        return None
    flat = np.ravel_multi_index(tuple(idx.T), tuple(shape))
    return lo, spacing, tuple(shape), flat[:x.shape[0]], flat[x.shape[0]:]


def solve(prob, grid: tuple, max_iter: int):
    """``(value, lower, upper, phi on the cells, message, stats)`` for W_1 on the
    lattice ``grid`` (``lattice``'s tuple), in the data's units; ``message`` None
    where the network simplex finished."""
    from ._simplex import sparse_network_simplex

    _, spacing, shape, ix, iy = grid
    n_cells = int(np.prod(shape))
    wa, wb = prob.weights()
    a = np.bincount(ix, weights=wa, minlength=n_cells)
    b = np.bincount(iy, weights=wb, minlength=n_cells)
    b *= a.sum() / b.sum()
    scale = float(spacing.max())
    idx = np.arange(n_cells).reshape(shape)
    src, dst, cost = [idx.ravel()], [idx.ravel()], [np.zeros(n_cells)]
    for t in range(len(shape)):
        if shape[t] < 2:
            continue
        lo_ = np.take(idx, np.arange(shape[t] - 1), axis=t).ravel()
        hi_ = np.take(idx, np.arange(1, shape[t]), axis=t).ravel()
        h = spacing[t] / scale
        src += [lo_, hi_]
        dst += [hi_, lo_]
        cost += [np.full(lo_.size, h), np.full(lo_.size, h)]
    src, dst, cost = np.concatenate(src), np.concatenate(dst), np.concatenate(cost)
    (fr, fc, fm), alpha, _, code, message = sparse_network_simplex(
        a + 1.0, b + 1.0, src, dst, cost, max_iter)
    moved = fr != fc
    # the flow's cost, with what rounding of the flows may add, and its imbalance
    # (flows summed at every cell against a - b) moved across the grid at most
    arc_cost = _arc_cost(fr[moved], fc[moved], shape, spacing / scale)
    terms = fm[moved] * arc_cost
    value = math.fsum(terms)            # exactly rounded: the allowance below is 4 U
    net = (np.bincount(fr[moved], weights=fm[moved], minlength=n_cells)
           - np.bincount(fc[moved], weights=fm[moved], minlength=n_cells))
    diam = float(((np.array(shape) - 1) * spacing / scale).sum())
    U = 2.0 ** -53
    upper = value * (1 + 4 * U) + 0.5 * float(np.abs(net - (a - b)).sum()) * diam
    phi = _lipschitz(alpha.reshape(shape), spacing / scale).ravel()
    dual = phi * (a - b)
    lower = math.fsum(dual) - 4 * U * float(np.abs(phi) @ (a + b))
    stats = {"cells": n_cells, "arcs": int(src.size), "result_code": code}
    return (value * scale, max(lower, 0.0) * scale, upper * scale, phi * scale, message,
            stats)


def _arc_cost(r, c, shape, h):
    """The cost of arcs between neighbouring cells: the spacing of their axis."""
    d = np.abs(np.array(np.unravel_index(r, shape)) - np.array(np.unravel_index(c, shape)))
    return h @ d


def _lipschitz(phi, h):
    """The largest potential below ``phi`` that is 1-Lipschitz for the cityblock
    distance on the grid (spacing ``h``): the L1 distance transform, one forward and
    one backward pass along each axis."""
    phi = phi.copy()
    for t in range(phi.ndim):
        v = np.moveaxis(phi, t, 0)
        for i in range(1, v.shape[0]):
            np.minimum(v[i], v[i - 1] + h[t], out=v[i])
        for i in range(v.shape[0] - 2, -1, -1):
            np.minimum(v[i], v[i + 1] + h[t], out=v[i])
    return phi
