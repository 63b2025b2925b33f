"""``method="1d"``: closed form through the quantile functions, a numba kernel."""

from __future__ import annotations

import math
import time

import numpy as np

from ..bounds import exact_bracket
from ..costs import pow2_scale, rooted_value
from ..result import Result
from ._common import make_result


def cumulative(w: np.ndarray) -> np.ndarray:
    """Cumulative weights ending at exactly 1 (w is already normalised)."""
    c = np.cumsum(w)
    c /= c[-1]
    c[-1] = 1.0
    return c


def _uniform_cumulative(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.float64) / n


def oned(prob) -> Result:
    """W_p between 1-D samples from the quantile functions, exact for any real p >= 1.

    ``W_p^p = integral over (0, 1) of |F^-1(t) - G^-1(t)|^p dt``: sort both samples,
    then one O(n + m) pass along the monotone coupling (numba). Unequal sizes, ties
    and zero weights are handled. Samples of shape (n,) or (n, 1); every metric is
    ``|x - y|`` in 1-D. Cost: O((n + m) log(n + m)) time, O(n + m) memory.
    """
    if prob.dim != 1:
        raise ValueError(f"method='1d' needs 1-D samples, got samples of dimension "
                         f"d={prob.dim} (a has shape {prob.x.shape}); use "
                         f"method='exact' or 'auto' for d > 1")
    if callable(prob.metric):
        raise ValueError("method='1d' uses the distance |x - y| and takes no callable "
                         "metric; use method='exact' for a custom metric")
    from ..kernels import oned as k

    start = time.perf_counter()
    x, y = prob.x[:, 0], prob.y[:, 0]
    if prob.torch:
        return _oned_torch(prob, x, y, k, start)
    (xs, wxs), (ys, wys) = _sort_both(x, prob.wa, y, prob.wb)
    xs, ys, scale, inv = _rescaled(xs, ys)
    equal = wxs is None and wys is None and prob.n == prob.m
    if not equal:
        ca = _uniform_cumulative(prob.n) if wxs is None else cumulative(wxs)
        cb = _uniform_cumulative(prob.m) if wys is None else cumulative(wys)
    if prob.p > SCALE_FREE_P:
        # scale-free: divide by the largest distance the coupling moves mass, so the
        # largest term is 1 and no power underflows, whatever p (p up to 1e4 tested)
        gap = k.max_gap_equal_uniform(xs, ys) if equal else k.max_gap_cumulative(
            xs, ys, ca, cb)
        if 0.0 < gap < math.inf:
            scale, inv = scale * inv * gap, 1.0 / gap
    if equal:
        cost = float(k.cost_equal_uniform(xs, ys, prob.p, inv))
    else:
        cost = float(k.cost_cumulative(xs, ys, ca, cb, prob.p, inv))
    return make_result(prob, "1d", start, cost=cost, scale=scale,
                       bounds=exact_bracket(rooted_value(cost, scale, prob.p),
                                            prob.n + prob.m),
                       info={"cost_scale": scale})


#: Beyond this p the 1-D costs are divided by the largest distance moved, not by the
#: span of the data: ``(d / span) ** p`` underflows for large p (p = 1000 gave 0.0),
#: and for any p > 1 where the distances moved are far below the span (points 1e-308
#: apart in data of size 1 gave W_2 = 0.0). At p = 1 no power is taken.
SCALE_FREE_P = 1.0
# Below this size np.sort is as fast as the radix sort and needs no compilation.
_RADIX_MIN = 1 << 12
# Above this total size the two samples are sorted on two threads (the kernels
# release the GIL); below it, thread hand-off costs more than it saves.
_THREADS_MIN = 1 << 16


def _sort_one(x, w):
    """``(x sorted, w permuted alike or None)``."""
    if x.shape[0] < _RADIX_MIN:
        if w is None:
            return np.sort(x), None
        order = np.argsort(x, kind="stable")
        return x[order], w[order]
    from ..kernels.sort import radix_sort, radix_sort_with

    return (radix_sort(x), None) if w is None else radix_sort_with(x, w)


def _sort_both(x, wx, y, wy):
    from .._threads import run_all

    return run_all([lambda: _sort_one(x, wx), lambda: _sort_one(y, wy)],
                   parallel=None if x.shape[0] + y.shape[0] >= _THREADS_MIN else False)


def _rescaled(xs, ys):
    """``(xs, ys, scale, inv)``: ``scale`` is a power of two bounding every |x - y|
    and ``inv`` the factor the kernel applies to differences, so scaled differences
    lie in (-2, 2) and ``|d| ** p`` neither overflows nor underflows. Samples beyond
    about 1e307, whose differences overflow, are divided by a power of two (exactly)
    instead: then ``inv`` is 1 and the differences lie in (-4, 4)."""
    lo, hi = min(xs[0], ys[0]), max(xs[-1], ys[-1])
    with np.errstate(over="ignore"):
        span = hi - lo
    if np.isfinite(span):
        scale = pow2_scale(span)
        return xs, ys, scale, 1.0 / scale
    pre = pow2_scale(max(abs(lo), abs(hi)))
    return xs / pre, ys / pre, pre, 1.0


def _oned_torch(prob, x, y, k, start) -> Result:
    """The kernel finds the monotone coupling; torch computes masses and the value."""
    half_span = max(x.max(), y.max()) / 2 - min(x.min(), y.min()) / 2
    scale = pow2_scale(half_span)   # scaled differences in (-4, 4), no overflow
    cost, gap = torch_monotone_cost(prob, prob.xt[:, 0] / scale, prob.yt[:, 0] / scale)
    c, scale = float(cost.detach()), scale * gap
    return make_result(prob, "1d", start, cost=c, scale=scale,
                       torch_cost=lambda: (cost, scale),
                       bounds=exact_bracket(rooted_value(c, scale, prob.p), prob.n + prob.m),
                       info={"cost_scale": scale})


def torch_monotone_cost(prob, px, py):
    """``(cost, gap)``: W_p^p between the 1-D tensors ``px`` (n,) and ``py`` (m,)
    with the problem's weights is ``gap ** p * cost``, differentiable in the values
    and the weights: the sorting and the support of the monotone coupling come from
    numpy and numba, the masses ``min(F_i, G_j) - max(F_(i-1), G_(j-1))`` and the
    costs from torch. For p above ``SCALE_FREE_P`` the differences are divided by
    ``gap``, the largest of them (a constant), so no power underflows; else gap = 1."""
    import torch

    from ..kernels.oned import coupling_edges

    x, y = px.detach().cpu().numpy(), py.detach().cpu().numpy()
    oa = np.argsort(x, kind="stable")
    ob = np.argsort(y, kind="stable")
    wa, wb = prob.weights()
    ii, jj = coupling_edges(cumulative(wa[oa]), cumulative(wb[ob]))
    dev, dtype = px.device, px.dtype

    def cumulative_t(wt, w, order):
        if wt is None:
            wt = torch.as_tensor(w, dtype=dtype, device=dev)
        c = torch.cumsum(wt[torch.as_tensor(order, device=dev)], 0)
        return c, torch.cat([c.new_zeros(1), c[:-1]])

    ca, ca_prev = cumulative_t(prob.wat, wa, oa)
    cb, cb_prev = cumulative_t(prob.wbt, wb, ob)
    ii_t = torch.as_tensor(ii, device=dev)
    jj_t = torch.as_tensor(jj, device=dev)
    mass = (torch.minimum(ca[ii_t], cb[jj_t])
            - torch.maximum(ca_prev[ii_t], cb_prev[jj_t])).clamp_min(0)
    diff = px[torch.as_tensor(oa[ii], device=dev)] - py[torch.as_tensor(ob[jj], device=dev)]
    gap = 1.0
    if prob.p > SCALE_FREE_P:
        top = float(diff.detach().abs().max())
        if 0.0 < top < math.inf:
            gap = top
            diff = diff / gap
    return (mass * diff.abs() ** prob.p).sum(), gap
