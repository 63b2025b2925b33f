"""Small kernels of the sparse transport problems (``solvers.multiscale_exact``,
``solvers.grid_flow``): a feasible plan by the north-west corner rule, the costs of
given pairs (the tree searches' own arithmetic, so a pair's cost is the one the
pricing sees), and the plan's rounded cost from its support."""

from __future__ import annotations

import numpy as np
from numba import njit

from .tree import _dist, _power


@njit(cache=True)
def northwest(a, b):
    """``(rows, cols)`` of the north-west corner plan between ``a`` and ``b`` in
    their given order (at most n + m - 1 pairs): a feasible plan whatever the weights,
    whose pairs follow the order (a space-filling curve's, for the multiscale solver)."""
    n, m = a.shape[0], b.shape[0]
    rows = np.empty(n + m, np.int64)
    cols = np.empty(n + m, np.int64)
    ra, rb = a[0], b[0]
    i, j, k = 0, 0, 0
    while i < n and j < m:
        rows[k], cols[k] = i, j
        k += 1
        if ra <= rb:
            rb -= ra
            i += 1
            if i < n:
                ra = a[i]
        else:
            ra -= rb
            j += 1
            if j < m:
                rb = b[j]
    while i < n:        # what rounding leaves over goes to the last column
        rows[k], cols[k] = i, m - 1
        k += 1
        i += 1
    while j < m:
        rows[k], cols[k] = n - 1, j
        k += 1
        j += 1
    return rows[:k], cols[:k]


@njit(cache=True)
def pair_costs(x, y, ii, jj, metric, p):
    """``c(x[ii_k], y[jj_k])`` with the tree searches' arithmetic (``tree._dist``,
    ``tree._power``; metric 0 euclidean, 1 cityblock, 2 chebyshev)."""
    out = np.empty(ii.shape[0])
    for k in range(ii.shape[0]):
        out[k] = _power(_dist(x[ii[k]], y[jj[k]], metric), metric, p)
    return out


@njit(cache=True)
def children_pairs(pi, pj, x_ptr, x_idx, y_ptr, y_idx):
    """Every pair (child of ``pi[k]``, child of ``pj[k]``) over the parent pairs ``k``:
    the children of parent cell ``c`` are ``x_idx[x_ptr[c]:x_ptr[c + 1]]`` (and the
    same for y)."""
    total = 0
    for k in range(pi.shape[0]):
        total += (x_ptr[pi[k] + 1] - x_ptr[pi[k]]) * (y_ptr[pj[k] + 1] - y_ptr[pj[k]])
    rows = np.empty(total, np.int64)
    cols = np.empty(total, np.int64)
    t = 0
    for k in range(pi.shape[0]):
        for u in range(x_ptr[pi[k]], x_ptr[pi[k] + 1]):
            for v in range(y_ptr[pj[k]], y_ptr[pj[k] + 1]):
                rows[t], cols[t] = x_idx[u], y_idx[v]
                t += 1
    return rows, cols


@njit(cache=True)
def split_merged(rows, mass, ptr, members, w):
    """A plan on merged points back on the points: ``rows`` (sorted) are merged
    points, each the points ``members[ptr[r]:ptr[r + 1]]`` of weights ``w``. For
    each merged point, the north-west corner plan between its points (their weights
    scaled to its entries' total) and its entries gives ``(points, entry index,
    mass)``: at most (points + entries) triples, marginals kept."""
    cap = rows.shape[0] + members.shape[0]
    out_r = np.empty(cap, np.int64)
    out_k = np.empty(cap, np.int64)
    out_m = np.empty(cap)
    t, k0 = 0, 0
    while k0 < rows.shape[0]:
        r = rows[k0]
        k1 = k0
        total = 0.0
        while k1 < rows.shape[0] and rows[k1] == r:
            total += mass[k1]
            k1 += 1
        u0, u1 = ptr[r], ptr[r + 1]
        wsum = 0.0
        for u in range(u0, u1):
            wsum += w[members[u]]
        u, k = u0, k0
        ru, rk = w[members[u]] * (total / wsum), mass[k]
        while u < u1 and k < k1:
            out_r[t], out_k[t] = members[u], k
            if ru <= rk:
                out_m[t] = ru
                rk -= ru
                u += 1
                if u < u1:
                    ru = w[members[u]] * (total / wsum)
            else:
                out_m[t] = rk
                ru -= rk
                k += 1
                if k < k1:
                    rk = mass[k]
            t += 1
        k0 = k1
    return out_r[:t], out_k[:t], out_m[:t]


@njit(cache=True)
def _root(parent, j):
    while parent[j] != j:
        parent[j] = parent[parent[j]]
        j = parent[j]
    return j


@njit(cache=True)
def column_blocks(indptr, indices, m):
    """The connected components of the columns of a CSR matrix (two columns are
    linked when a row has entries in both): ``(labels 0..k-1 per column, k)``; a
    column without entries is a component of its own."""
    parent = np.arange(m)
    for i in range(indptr.shape[0] - 1):
        if indptr[i + 1] == indptr[i]:
            continue
        first = _root(parent, indices[indptr[i]])
        for e in range(indptr[i] + 1, indptr[i + 1]):
            r = _root(parent, indices[e])
            if r != first:
                if r < first:
                    parent[first] = r
                    first = r
                else:
                    parent[r] = first
    labels = np.empty(m, np.int64)
    ids = np.full(m, -1, np.int64)
    k = 0
    for j in range(m):
        r = _root(parent, j)
        if ids[r] < 0:
            ids[r] = k
            k += 1
        labels[j] = ids[r]
    return labels, k
