"""Sliced Wasserstein: project, sort and merge each direction in one fused pass.

The kernel takes a range of directions and releases the GIL; the caller shares the
directions out between the cores on emdkit's own thread pool (``threads``), not
numba's ``parallel=True``: numba's OpenMP layer leaves a forked child (multiprocessing's
default start method on Linux) to hang, while the pool is forgotten at fork. Each
direction keeps only O(n + m) working memory, so no (n, L) projection matrix is ever
formed: memory stays bounded whatever the number of directions. Sorting is the radix
sort of ``sort.py``; the 1-D cost is the merge of ``oned.py``. No fastmath.
"""

import numpy as np
from numba import njit

from .oned import (cost_cumulative, cost_equal_uniform, max_gap_cumulative,
                   max_gap_equal_uniform)
from .sort import radix_sort, radix_sort_with


@njit(cache=True, nogil=True)
def _project(x, theta):
    n, d = x.shape
    out = np.empty(n)
    for i in range(n):
        s = 0.0
        for k in range(d):
            s += x[i, k] * theta[k]
        out[i] = s
    return out


@njit(cache=True, nogil=True)
def _cumulative(w):
    c = np.cumsum(w)
    c /= c[-1]
    c[-1] = 1.0
    return c


@njit(cache=True, nogil=True, inline="always")
def sorted_projection(x, theta_l, w, weighted, c_uniform):
    """``(xs, c)``: the projections of ``x`` on ``theta_l`` sorted, and their
    cumulative weights (``w`` permuted alike, or ``c_uniform``)."""
    px = _project(x, theta_l)
    if weighted:
        xs, ws = radix_sort_with(px, w)
        return xs, _cumulative(ws)
    return radix_sort(px), c_uniform


@njit(cache=True, nogil=True)
def sliced_costs(x, y, theta, wa, wb, weighted_a, weighted_b, ca_u, cb_u, p, inv_scale,
                 normalise, out, invs, l0, l1):
    """Into ``out[l]``, ``invs[l]`` for l in [l0, l1): along row l of ``theta``, W_p^p
    of the projections with differences multiplied by ``invs[l]``, i.e. the true
    W_p^p is ``out[l] / invs[l] ** p``.

    ``invs[l]`` is ``inv_scale``, or with ``normalise`` one over the largest distance
    the direction's coupling moves mass (scale-free for any p: the largest term is 1).
    ``wa``, ``wb``: normalised weights, read when ``weighted_a`` / ``weighted_b``;
    ``ca_u``, ``cb_u``: the uniform cumulative weights otherwise.
    """
    n, m = x.shape[0], y.shape[0]
    for l in range(l0, l1):
        xs, ca = sorted_projection(x, theta[l], wa, weighted_a, ca_u)
        ys, cb = sorted_projection(y, theta[l], wb, weighted_b, cb_u)
        equal = not weighted_a and not weighted_b and n == m
        inv = inv_scale
        if normalise:
            gap = max_gap_equal_uniform(xs, ys) if equal else max_gap_cumulative(
                xs, ys, ca, cb)
            if gap > 0.0:
                inv = 1.0 / gap
        invs[l] = inv
        if equal:
            out[l] = cost_equal_uniform(xs, ys, p, inv)
        else:
            out[l] = cost_cumulative(xs, ys, ca, cb, p, inv)
