"""c-transforms of potentials and the largest cost, each in one pass over C.

For the exact solver's bracket: reading the (n, m) cost once, with no temporary the
size of a block, is what makes the certificate cheap next to the network simplex.
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
def vertex_bounds(C, a, b, ii, jj, mass, f):
    """``(lower, upper)`` on ``min <P, C>`` over couplings of ``a`` and ``b``, from a
    plan given by its support (rows ``ii``, columns ``jj``, ``mass``) and row
    potentials ``f``, with ``bounds``' rounding allowances. Upper: the plan rounded
    onto the marginals (rows scaled down to ``a``, then columns to ``b``; the
    deficits, of the order of rounding for a vertex, moved at the largest cost).
    Lower: the dual objective of the column c-transform ``g`` of ``f`` and the row
    c-transform of ``g``, feasible by construction (``bounds.dual_lower``'s pair)."""
    n, m = C.shape
    U = 2.0 ** -53
    g, cmax = column_ctransform(C, f, a > 0)
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
    cost = 0.0
    moved = np.zeros(n)
    for k in range(ii.shape[0]):
        t = mass[k] * x[ii[k]] * y[jj[k]]
        cost += t * C[ii[k], jj[k]]
        moved[ii[k]] += t
    short_a = 0.0
    for i in range(n):
        short_a += max(a[i] - moved[i], 0.0)
    short_b = 0.0
    for j in range(m):
        short_b += max(b[j] - cols[j] * y[j], 0.0)
    miss = abs(short_a - short_b)
    if miss <= 4.0 * (n + m) * U:
        miss = 0.0
    upper = (cost + (short_b + miss) * cmax) * (1.0 + 4.0 * (n + m) * U)
    f = row_ctransform(C, g, b > 0)            # the second c-transform, as dual_lower
    fa, fabs, ftop, ok_f = _dual_terms(a, f)
    gb, gabs, gtop, ok_g = _dual_terms(b, g)
    if not (ok_f and ok_g):
        return 0.0, upper
    slack = 4.0 * (n + m) * U * (fabs + gabs) + 4.0 * U * (cmax + ftop + gtop)
    return max(fa + gb - slack, 0.0), upper


@njit(cache=True, inline="always")
def _dual_terms(w, pot):
    """Over the entries of positive weight: ``sum w pot``, ``sum w |pot|``, the
    largest ``|pot|``, and whether all of them are finite."""
    total, weighted_abs, top = 0.0, 0.0, 0.0
    for i in range(w.shape[0]):
        if w[i] > 0:
            if not np.isfinite(pot[i]):
                return 0.0, 0.0, 0.0, False
            total += w[i] * pot[i]
            weighted_abs += w[i] * abs(pot[i])
            top = max(top, abs(pot[i]))
    return total, weighted_abs, top, True
