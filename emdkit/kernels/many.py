"""Many distributions at once: sort (or project and sort) each one once, then merge pairs.

``sorted_rows`` fills, for one distribution and a range of directions, its sorted
projections and the cumulative weights in sorted order; ``pair_costs`` then merges
the pairs' sorted rows direction by direction, with the merge of ``oned.py``. Rows
of all distributions lie side by side in one (L, total) array, distribution k in
columns ``offs[k]:offs[k + 1]``. Both release the GIL; the caller shares the work
out on emdkit's thread pool. No fastmath.
"""

import numpy as np
from numba import njit

from .oned import (cost_cumulative, cost_equal_uniform, max_gap_cumulative,
                   max_gap_equal_uniform)
from .sliced import sorted_projection


@njit(cache=True, nogil=True)
def sorted_rows(x, w, weighted, theta, vals, cums, off, l0, l1):
    """For directions l in [l0, l1): the projections ``x @ theta[l]`` sorted into
    ``vals[l, off:off + n]`` and their cumulative weights (``w`` permuted alike, or
    uniform ``(i + 1) / n``) into ``cums[l, off:off + n]``."""
    n = x.shape[0]
    uniform = np.arange(1, n + 1) / n
    for l in range(l0, l1):
        xs, c = sorted_projection(x, theta[l], w, weighted, uniform)
        for i in range(n):
            vals[l, off + i] = xs[i]
            cums[l, off + i] = c[i]


@njit(cache=True, nogil=True)
def pair_costs(vals, cums, offs, weighted, pi, pj, invs, p, normalise, acc, top, k0, k1):
    """For pairs k in [k0, k1) (distributions ``pi[k]``, ``pj[k]``), summed over the
    rows of ``vals``: W_p^p along each row, into ``acc[k]`` (added to what is there).

    Without ``normalise``, row costs are of differences multiplied by ``invs[k]``.
    With it (p > 1: ``solvers.oned.SCALE_FREE_P``), each row's differences are divided by the largest distance its
    coupling moves mass, and ``acc[k]`` holds ``sum_l cost_l * (gap_l / top[k]) ** p``
    with ``top[k]`` the largest gap so far (a running rescale, as ``logsumexp``
    does), so that no power underflows whatever p."""
    L = vals.shape[0]
    for k in range(k0, k1):
        a, b = pi[k], pj[k]
        a0, a1, b0, b1 = offs[a], offs[a + 1], offs[b], offs[b + 1]
        equal = not weighted[a] and not weighted[b] and a1 - a0 == b1 - b0
        for l in range(L):
            xs, ys = vals[l, a0:a1], vals[l, b0:b1]
            ca, cb = cums[l, a0:a1], cums[l, b0:b1]
            if not normalise:
                if equal:
                    acc[k] += cost_equal_uniform(xs, ys, p, invs[k])
                else:
                    acc[k] += cost_cumulative(xs, ys, ca, cb, p, invs[k])
                continue
            gap = max_gap_equal_uniform(xs, ys) if equal else max_gap_cumulative(
                xs, ys, ca, cb)
            if gap == 0.0:
                continue
            gap = max(gap, 2.2250738585072014e-308)    # 1 / a subnormal is inf
            c = (cost_equal_uniform(xs, ys, p, 1.0 / gap) if equal
                 else cost_cumulative(xs, ys, ca, cb, p, 1.0 / gap))
            if gap > top[k]:
                if top[k] > 0.0:
                    acc[k] *= np.exp(p * np.log(top[k] / gap))
                top[k] = gap
            acc[k] += c * np.exp(p * np.log(gap / top[k]))
