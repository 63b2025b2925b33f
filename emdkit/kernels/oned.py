"""1-D optimal transport along the monotone (north-west corner) coupling.

Inputs are sorted samples ``xs`` (n,), ``ys`` (m,) and, for weighted problems, their
cumulative weights ``ca``, ``cb`` (non-decreasing, last entry exactly 1). Differences
are multiplied by ``inv_scale`` (a power of two chosen by the caller so that every
scaled difference is below 2: no overflow) or, for p > 1 (``solvers.oned.SCALE_FREE_P``:
differences far below the span, or a large p, would underflow in ``|d| ** p``),
``1 / max |d|`` over the coupling (the ``max_gap_*`` kernels), so that the largest term
is 1 and no power underflows whatever p (scale-free). No fastmath:
these kernels must propagate NaN and inf exactly as IEEE arithmetic does.
"""

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _pow_abs(d, p):
    d = abs(d)
    if p == 1.0:
        return d
    if p == 2.0:
        return d * d
    return d ** p


@njit(cache=True)
def cost_equal_uniform(xs, ys, p, inv_scale):
    """W_p^p (scaled) between two sorted samples of equal size, uniform weights."""
    n = xs.shape[0]
    total = 0.0
    for i in range(n):
        total += _pow_abs((xs[i] - ys[i]) * inv_scale, p)
    return total / n


@njit(cache=True, inline="always")
def _tie(n, m):
    """Cumulative weights closer than this are one breakpoint: what the sums of
    ``n + m`` weights in [0, 1] may round (``(n + m) 2 ** -52``). Equal distributions
    whose cumulative sums were rounded apart (weights 0.2 summed against a uniform
    ``k / 5``) then pair point with point, and W_p is exactly 0, not the p-th root of
    a rounding sliver (2e-9 for p = 2). Masses are certified only to this rounding
    (``bounds``)."""
    return (n + m) * 2.220446049250313e-16


@njit(cache=True, inline="always")
def _merge(xs, ys, ca, cb, p, inv_scale, largest):
    """The pass along the monotone coupling of sorted samples with cumulative
    weights ``ca``, ``cb``: each segment of (0, 1) between consecutive breakpoints
    carries mass from one x to one y. Returns the scaled cost ``sum mass |d| ** p``,
    or with ``largest`` the largest ``|d|`` of positive mass."""
    n = xs.shape[0]
    m = ys.shape[0]
    tie = _tie(n, m)
    i = 0
    j = 0
    prev = 0.0
    total = 0.0
    while i < n and j < m:
        ai = ca[i]
        bj = cb[j]
        if abs(ai - bj) <= tie:
            ai = bj = max(ai, bj)
        t = ai if ai < bj else bj
        mass = t - prev
        if mass > 0.0:
            if largest:
                d = abs(xs[i] - ys[j])
                if d > total:
                    total = d
            else:
                total += mass * _pow_abs((xs[i] - ys[j]) * inv_scale, p)
            prev = t
        if ai < bj:
            i += 1
        elif bj < ai:
            j += 1
        else:
            i += 1
            j += 1
    return total


@njit(cache=True)
def cost_cumulative(xs, ys, ca, cb, p, inv_scale):
    """W_p^p (scaled) between sorted samples with cumulative weights ``ca``, ``cb``;
    O(n + m) after sorting."""
    return _merge(xs, ys, ca, cb, p, inv_scale, False)


@njit(cache=True)
def max_gap_equal_uniform(xs, ys):
    """``max |xs_i - ys_i|``: the largest distance the monotone coupling moves mass
    between two sorted samples of equal size."""
    best = 0.0
    for i in range(xs.shape[0]):
        d = abs(xs[i] - ys[i])
        if d > best:
            best = d
    return best


@njit(cache=True)
def max_gap_cumulative(xs, ys, ca, cb):
    """The largest ``|xs_i - ys_j|`` over the pairs of positive mass in the monotone
    coupling of sorted samples with cumulative weights ``ca``, ``cb``."""
    return _merge(xs, ys, ca, cb, 1.0, 1.0, True)


@njit(cache=True)
def coupling_edges(ca, cb):
    """The support (i, j) of the monotone coupling, in sorted indices.

    At most n + m - 1 pairs, in order; pairs of zero mass are left out. The mass of
    pair k is ``min(ca[i], cb[j]) - max(ca[i-1], cb[j-1])`` (with ca[-1] = cb[-1] = 0),
    which the caller evaluates in its own framework.
    """
    n = ca.shape[0]
    m = cb.shape[0]
    ii = np.empty(n + m, dtype=np.int64)
    jj = np.empty(n + m, dtype=np.int64)
    tie = _tie(n, m)
    k = 0
    i = 0
    j = 0
    prev = 0.0
    while i < n and j < m:
        ai = ca[i]
        bj = cb[j]
        if abs(ai - bj) <= tie:
            ai = bj = max(ai, bj)
        t = ai if ai < bj else bj
        if t > prev:
            ii[k] = i
            jj[k] = j
            k += 1
            prev = t
        if ai < bj:
            i += 1
        elif bj < ai:
            j += 1
        else:
            i += 1
            j += 1
    return ii[:k], jj[:k]


@njit(cache=True)
def coupling_value_grad(px, py, oa, ob, ca, cb, ii, jj, x, y, p):
    """``(total, top, grad)`` of the monotone coupling's pairs ``(ii, jj)`` (sorted
    indices, ``coupling_edges``) of projections ``px``, ``py`` (sorting orders
    ``oa``, ``ob``, cumulative weights ``ca``, ``cb``): ``top`` the largest
    ``|px - py|`` over the pairs of positive mass, ``total`` the sum of
    ``mass |delta / top| ** p`` and ``grad`` that of
    ``mass |delta / top| ** (p - 1) sign(delta) (x_i - y_j)`` (a positive multiple
    of the gradient of W_p^p in the direction); all zero where ``top`` is 0."""
    k = ii.shape[0]
    d = x.shape[1]
    mass = np.empty(k)
    delta = np.empty(k)
    top = 0.0
    for t in range(k):
        i = ii[t]
        j = jj[t]
        lo = max(ca[i - 1] if i > 0 else 0.0, cb[j - 1] if j > 0 else 0.0)
        hi = min(ca[i], cb[j])
        mt = hi - lo if hi > lo else 0.0
        dl = px[oa[i]] - py[ob[j]]
        mass[t] = mt
        delta[t] = dl
        if mt > 0.0 and abs(dl) > top:
            top = abs(dl)
    grad = np.zeros(d)
    total = 0.0
    if top == 0.0:
        return total, top, grad
    for t in range(k):
        mt = mass[t]
        if mt == 0.0:
            continue
        dl = delta[t] / top
        a = abs(dl)
        if p == 1.0:            # no pow() on the common exponents
            ap1 = 1.0
        elif p == 2.0:
            ap1 = a
        else:
            ap1 = a ** (p - 1.0)
        total += mt * ap1 * a
        c = mt * ap1 * (1.0 if dl > 0.0 else (-1.0 if dl < 0.0 else 0.0))
        ia = oa[ii[t]]
        jb = ob[jj[t]]
        for s in range(d):
            grad[s] += c * (x[ia, s] - y[jb, s])
    return total, top, grad
