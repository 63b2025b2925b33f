"""c-transforms of potentials and the largest cost, each in one pass over C.

For the certified brackets (``bounds.plan_bracket``, ``bounds.vertex_bracket``):
reading the (n, m) cost once per transform, with no temporary the size of a block,
is what makes the certificate cheap next to the solve.
No fastmath: the comparisons must see inf as IEEE arithmetic does.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def column_ctransform(C, f, live):
    """``(g, cmax)``: ``g_j = min over rows i with live[i] of C_ij - f_i`` (inf where
    no row is live) and the largest entry of C."""
    n, m = C.shape
    g = np.full(m, np.inf)
    cmax = 0.0
    for i in range(n):
        fi = f[i]
        use = live[i]
        for j in range(m):
            c = C[i, j]
            if c > cmax:
                cmax = c
            if use:
                v = c - fi
                if v < g[j]:
                    g[j] = v
    return g, cmax


@njit(cache=True, nogil=True)
def row_ctransform(C, g, live):
    """``f_i = min over columns j with live[j] of C_ij - g_j`` (inf where none)."""
    n, m = C.shape
    f = np.full(n, np.inf)
    for i in range(n):
        best = np.inf
        for j in range(m):
            if live[j]:
                v = C[i, j] - g[j]
                if v < best:
                    best = v
        f[i] = best
    return f


@njit(cache=True)
def support_upper(a, b, ii, jj, mass, cost, cmax):
    """Upper bound on ``min <P, C>`` over couplings of ``a`` and ``b`` from a plan
    given by its support (rows ``ii``, columns ``jj``, ``mass``, each pair's cost
    ``cost``): the plan rounded
    onto the marginals (rows scaled down to ``a``, then columns to ``b``, as
    ``bounds.rounded_cost`` does on a dense plan; the deficits, of the order of rounding for a vertex,
    moved at the largest cost ``cmax``), summed with compensation (so the rounding
    allowance does not grow with the number of pairs). O(n + m + support)."""
    n, m = a.shape[0], b.shape[0]
    U = 2.0 ** -53
    rows = np.zeros(n)
    for k in range(ii.shape[0]):
        rows[ii[k]] += mass[k]
    x = np.ones(n)
    for i in range(n):
        if rows[i] > a[i]:
            x[i] = a[i] / rows[i]
    cols = np.zeros(m)
    for k in range(ii.shape[0]):
        cols[jj[k]] += mass[k] * x[ii[k]]
    y = np.ones(m)
    for j in range(m):
        if cols[j] > b[j]:
            y[j] = b[j] / cols[j]
    total, comp = 0.0, 0.0          # Neumaier's compensated sum: error 2 U |total|
    moved = np.zeros(n)
    for k in range(ii.shape[0]):
        t = mass[k] * x[ii[k]] * y[jj[k]]
        term = t * cost[k]
        s = total + term
        if abs(total) >= abs(term):
            comp += (total - s) + term
        else:
            comp += (term - s) + total
        total = s
        moved[ii[k]] += t
    total += comp
    short_a = 0.0
    for i in range(n):
        short_a += max(a[i] - moved[i], 0.0)
    short_b = 0.0
    for j in range(m):
        short_b += max(b[j] - cols[j] * y[j], 0.0)
    miss = abs(short_a - short_b)
    if miss <= 4.0 * (n + m) * U:
        miss = 0.0
    # each term rounds by 3 U (two products and the cost's), the sum by 2 U
    return (total + (short_b + miss) * cmax) * (1.0 + 8.0 * U)
