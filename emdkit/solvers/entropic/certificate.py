"""The certified bracket of the multiscale backend, with no (n, m) matrix.

Above, the cost of a feasible coupling: the sparse plan rounded onto the marginals
(Altschuler, Weed & Rigollet 2017), what rounding leaves coupled cell by cell
(``by_cells``) or as a rank one (``rank_one``), whichever is cheaper. Below, the dual
objective of potentials after exact c-transforms (``dual``), which any potentials
make a lower bound.

Both also hold for a plan between the cells of a coarse level (``lifted``): each pair
of cells ``(I, J)`` couples its points as a product, which for p = 2 and the
Euclidean metric costs the cells' squared distance plus the two cells' variances
(exactly), and otherwise at most the triangle inequality's sum, by Minkowski's
inequality over the coupling: ``(sum pi c) ** (1/p) <= (plan cost) ** (1/p) + q_x +
q_y`` with ``q_x = (sum_i a_i d(x_i, centroid) ** p) ** (1/p)``. The potentials of the
level reach the points by a c-transform. With ``rtol``, the backend stops at the first
level whose bracket on the points is narrow enough (``MultiscaleCost``).
"""

from __future__ import annotations

import numpy as np

from ...bounds import U, shrink, unmatched
from ...geometry.cells import METRICS, ctransform


def rounded_cost(geom, op, xt, yt):
    """The cost of the operator's sparse plan rounded onto its weights ``op.a``,
    ``op.b`` (points ``xt.x``, ``yt.x``: the operator's order), without copying the
    support: rows scaled down to their weight, then columns, the deficits coupled by
    ``by_cells`` or ``rank_one``, whichever is cheaper."""
    wa, wb = op.a, op.b
    n, m = wa.shape[0], wb.shape[0]
    xs = shrink(op.row_products(op.plan, np.ones(m)), wa)
    c1 = op.column_products(op.plan, xs)
    ys = shrink(c1, wb)
    r2, rc = op.weighted_rows(op.plan, ys)
    cost = float(xs @ rc)
    ea, eb = np.maximum(wa - xs * r2, 0.0), np.maximum(wb - ys * c1, 0.0)
    mass = float(ea.sum())
    if mass > 0:
        cost += min(rank_one(geom, ea, eb, mass, xt.x, yt.x),
                    by_cells(geom, ea, eb, xt.x, yt.x, xt.keys, yt.keys))
    miss = unmatched(mass, float(eb.sum()), n + m)
    cmax = geom.diameter(0) ** geom.p
    return (cost + miss * cmax) * (1.0 + 4.0 * (n + m) * U)


def rank_one(geom, ea, eb, mass, x, y):
    """``sum_ij ea_i eb_j c(x_i, y_j) / mass``: exact for p = 2 and the Euclidean
    metric, else bounded by ``2 ** (p - 1) (sum ea d(x, o) ** p + sum eb d(y, o) ** p)``
    around the centre ``o`` of the deficits (triangle inequality, convexity)."""
    if geom.p == 2.0 and geom.metric == "euclidean":
        mx, my = ea @ x, eb @ y
        val = (ea @ (x * x).sum(1) + eb @ (y * y).sum(1)) - 2.0 * float(mx @ my) / mass
        return max(float(val), 0.0) * (1.0 + 16.0 * U * x.shape[1])
    o = (ea @ x + eb @ y) / (2.0 * mass)
    dx, dy = _dist(geom.metric, x - o) ** geom.p, _dist(geom.metric, y - o) ** geom.p
    return 2.0 ** (geom.p - 1.0) * float(ea @ dx + eb @ dy) * (1.0 + 16.0 * U)


def by_cells(geom, ea, eb, x, y, kx=None, ky=None):
    """The cost of a coupling of the deficits ``ea`` (rows, at ``x``) and ``eb``
    (columns, at ``y``) built cell by cell, finest level first: in each cell of the
    grid the mass both have there, ``min(EA, EB)``, is coupled as a product (costed
    exactly for p = 2 and the Euclidean metric, at most the cell's diameter ``** p``
    otherwise), and what is left goes up to the parent cell. The deficits of an
    almost converged plan are mostly local, which the rank-one coupling moves across
    the whole cloud. ``kx``, ``ky``: the points' Morton keys, if known."""
    d, bits = x.shape[1], geom.bits
    kx = geom.keys(x) if kx is None else kx
    ky = geom.keys(y) if ky is None else ky
    ra, rb, total = ea.copy(), eb.copy(), 0.0
    exact = geom.p == 2.0 and geom.metric == "euclidean"
    for level in range(bits, -1, -1):
        shift = d * (bits - level)
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
            total += float(M.sum()) * (geom.diameter(level) * (1.0 + 1e-9)) ** geom.p
        ra, rb = np.maximum(ra - qa, 0.0), np.maximum(rb - qb, 0.0)
    n = x.shape[0] + y.shape[0]
    return max(total, 0.0) * (1.0 + (4.0 * n + 16.0 * d) * U) + float(
        ra.sum() + rb.sum()) * geom.diameter(0) ** geom.p


def lifted(geom, cost, dx, dy, wa, wb):
    """An upper bound on the cost on the points of a coupling of cells of cost
    ``cost`` (its marginals the cells' weights): ``dx``, ``dy`` are each point less
    its cell's centroid, ``wa``, ``wb`` the points' weights (see the module's
    docstring)."""
    n = dx.shape[0] + dy.shape[0]
    if geom.p == 2.0 and geom.metric == "euclidean":
        var = float(wa @ (dx * dx).sum(1) + wb @ (dy * dy).sum(1))
        return (cost + var) * (1.0 + (4.0 * n + 16.0 * dx.shape[1]) * U)
    qx = float(wa @ _dist(geom.metric, dx) ** geom.p) ** (1.0 / geom.p)
    qy = float(wb @ _dist(geom.metric, dy) ** geom.p) ** (1.0 / geom.p)
    return (cost ** (1.0 / geom.p) + qx + qy) ** geom.p * (1.0 + (4.0 * n + 64.0) * U)


def assigned(geom, xt, yt, wa, wb, arg):
    """For p = 2 and the Euclidean metric: the cost of a coupling that sends each
    point ``x_i`` to ``y_arg[i]`` (``arg`` in ``yt``'s order, e.g. the argmin of a
    c-transform), as much as each column's weight allows, and couples what is left
    by ``by_cells`` with each row grouped at its target ``y_arg[i]`` (near the
    columns left short where the assignment nearly balances), costed exactly at its
    own point. ``wa``, ``wb`` in the trees' orders."""
    x, y = xt.x, yt.x
    r = np.bincount(arg, weights=wa, minlength=y.shape[0])
    kept = wa * shrink(r, wb)[arg]
    cost = float(kept @ ((x - y[arg]) ** 2).sum(1))
    ea, eb = np.maximum(wa - kept, 0.0), np.maximum(wb - np.minimum(r, wb), 0.0)
    if ea.sum() > 0:
        cost += by_cells(geom, ea, eb, x, y, yt.keys[arg], yt.keys)
    n = x.shape[0] + y.shape[0]
    miss = unmatched(float(ea.sum()), float(eb.sum()), n)
    return (cost + miss * geom.diameter(0) ** 2) * (1.0 + (4.0 * n + 16.0 * x.shape[1]) * U)


def dual(geom, f, source, xt, yt, wa, wb):
    """The dual objective ``sum wa f' + sum wb g`` of potentials made feasible by
    exact c-transforms, less rounding: ``g = f^c`` over the points of ``source``
    (``xt`` itself, or the cells of a coarser level, ``f`` in its order), ``f' =
    g^c`` over ``yt``, and, from a coarser level, ``g = f'^c`` once more over ``xt``.
    ``wa``, ``wb`` in the trees' orders. ``(lower, f', g, arg)``, ``arg`` each row's
    best column for ``f'`` (in ``yt``'s order: an assignment for ``assigned``)."""
    c = METRICS[geom.metric]
    g, _ = ctransform(yt.x, source, f, c, geom.p)           # min_i c(x_i, y_j) - f_i
    f2, arg = ctransform(xt.x, yt, g, c, geom.p)             # min_j c(x_i, y_j) - g_j
    if source is not xt:
        g, _ = ctransform(yt.x, xt, f2, c, geom.p)
    if not (np.isfinite(f2).all() and np.isfinite(g).all()):
        return 0.0, f2, g, arg
    lower = float(wa @ f2 + wb @ g)
    big = geom.diameter(0) ** geom.p + float(np.abs(f2).max()) + float(np.abs(g).max())
    n, m = wa.shape[0], wb.shape[0]
    slack = 4.0 * (n + m) * U * float(wa @ np.abs(f2) + wb @ np.abs(g))
    return max(lower - slack - 16.0 * U * big, 0.0), f2, g, arg


def _dist(metric, diff):
    """The metric's norm of each row of ``diff``."""
    a = np.abs(diff)
    if metric == "euclidean":
        return np.sqrt((a * a).sum(1))
    return a.sum(1) if metric == "cityblock" else a.max(1)
