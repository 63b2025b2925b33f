"""``method="1d"``: closed form through the quantile functions, a numba kernel."""

from __future__ import annotations

import math
import time

import numpy as np

from ..bounds import exact_bracket
from ..geometry.units import pow2_scale, rooted_value
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


#: ``1d`` takes no options.
CHECKS: dict = {}


def check_line(d: int, metric, shape: str = "") -> None:
    """``1d``'s refusal of samples of dimension ``d`` > 1 or of a callable metric."""
    if d != 1:
        raise ValueError(f"method='1d' needs 1-D samples, got samples of dimension "
                         f"d={d}{shape}; use method='exact' or 'auto' for d > 1")
    if callable(metric):
        raise ValueError("method='1d' uses the distance |x - y| and takes no callable "
                         "metric; use method='exact' for a custom metric")


def oned(prob) -> Result:
    """W_p between 1-D samples from the quantile functions, exact for any real p >= 1.

    ``W_p^p = integral over (0, 1) of |F^-1(t) - G^-1(t)|^p dt``: sort both samples,
    then one O(n + m) pass along the monotone coupling (numba). Unequal sizes, ties
    and zero weights are handled. Samples of shape (n,) or (n, 1); every metric is
    ``|x - y|`` in 1-D. Cost: O((n + m) log(n + m)) time, O(n + m) memory.
    """
    check_line(prob.dim, prob.metric, f" (a has shape {prob.x.shape})")
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
            gap = max(gap, _TINY)      # 1 / a subnormal gap would be inf
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
#: The smallest normal float64: the largest distance moved is divided by no less.
_TINY = 2.0 ** -1022
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
    from ..threads import run_all

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
    and the weights (``torch_quantile_costs`` for one problem)."""
    cost, gap = torch_quantile_costs(px[None, :, None], py[None, :, None],
                                     _torch_weights(prob, "a"), _torch_weights(prob, "b"),
                                     prob.p)
    return cost[0, 0], float(gap[0, 0])


def _torch_weights(prob, side):
    """The problem's normalised weights of one side as a (1, n) tensor, or None."""
    import torch

    wt, w = (prob.wat, prob.wa) if side == "a" else (prob.wbt, prob.wb)
    if wt is None and w is None:
        return None
    ref = prob.xt
    return (wt if wt is not None else torch.as_tensor(w, dtype=ref.dtype,
                                                      device=ref.device))[None]


def torch_quantile_costs(px, py, wa, wb, p):
    """W_p^p of many 1-D problems at once, in torch on the tensors' device,
    differentiable in the values and the weights: ``px`` (B, n, L) and ``py``
    (B, m, L) hold L problems per batch item (the directions of sliced), ``wa``
    (B, n) and ``wb`` (B, m) the normalised weights, or None (uniform).

    ``W_p^p = integral over (0, 1) of |F^-1(t) - G^-1(t)|^p dt``: between consecutive
    breakpoints of the two cumulative weights (sorted together) one x carries mass to
    one y, found by ``searchsorted``; equal sizes with uniform weights pair the sorted
    values directly. Returns ``(per (B, L), gaps (B, L))`` with W_p^p = ``gaps ** p *
    per``: for p above ``SCALE_FREE_P`` the distances are divided by ``gaps``, the
    largest one moved (a constant), so that no power underflows; else gaps = 1."""
    import torch

    sx, ix = torch.sort(px, dim=1)
    sy, iy = torch.sort(py, dim=1)
    B, n, L = px.shape
    m = py.shape[1]
    if wa is None and wb is None and n == m:
        diff, mass = (sx - sy).abs(), None
    else:
        def cumulative(w, idx, k):
            if w is None:
                w = torch.full((B, k), 1.0 / k, dtype=px.dtype, device=px.device)
            return torch.cumsum(torch.gather(w[:, :, None].expand(B, k, L), 1, idx), 1)

        ca, cb = cumulative(wa, ix, n), cumulative(wb, iy, m)
        t = torch.sort(torch.cat([ca, cb], 1), dim=1).values          # breakpoints
        mass = (t - torch.cat([torch.zeros_like(t[:, :1]), t[:, :-1]], 1)).clamp_min(0)
        tT = t.transpose(1, 2).contiguous()
        # the x (and y) carrying the mass of (t_(k-1), t_k]: the first whose
        # cumulative weight reaches t_k
        i = torch.searchsorted(ca.transpose(1, 2).contiguous(), tT).clamp(max=n - 1)
        j = torch.searchsorted(cb.transpose(1, 2).contiguous(), tT).clamp(max=m - 1)
        diff = (torch.gather(sx.transpose(1, 2), 2, i)
                - torch.gather(sy.transpose(1, 2), 2, j)).abs().transpose(1, 2)
        # a breakpoint of no mass can pair a point of zero weight, as far as it
        # likes (its power may overflow): it moves nothing (0 * inf would be NaN)
        diff = torch.where(mass > 0, diff, torch.zeros_like(diff))
    gaps = torch.ones((B, L), dtype=px.dtype, device=px.device)
    if p > SCALE_FREE_P:
        moved = diff.detach() if mass is None else torch.where(
            mass.detach() > 0, diff.detach(), torch.zeros_like(diff))
        top = moved.amax(1)
        gaps = torch.where((top > 0) & torch.isfinite(top), top, gaps)
        diff = diff / gaps[:, None, :]
    powered = diff if p == 1.0 else diff ** p
    per = powered.mean(1) if mass is None else (mass * powered).sum(1)
    return per, gaps


def projection_lower(prob) -> float:
    """W_p between the 1-D projections on the axis (or, for the Euclidean and
    cityblock metrics, the unit direction) of the largest mean difference: a lower
    bound on W_p for every named metric, exact in 1-D. 0.0 for a callable metric."""
    if callable(prob.metric):
        return 0.0
    from ..bounds import projected_lower
    from ..geometry.problem import Problem

    wa, wb = prob.weights()
    diff = wa @ prob.x - wb @ prob.y
    if not np.isfinite(diff).all() or not np.any(diff):
        theta = np.eye(prob.dim)[0]
    elif prob.metric == "chebyshev" or prob.dim == 1:
        theta = np.eye(prob.dim)[int(np.argmax(np.abs(diff)))]
    else:       # scaled first: the squares of a tiny difference would be subnormal,
        diff = diff / np.abs(diff).max()    # and a norm of those not unit length
        theta = diff / np.linalg.norm(diff)
    with np.errstate(all="ignore"):
        px, py = prob.x @ theta, prob.y @ theta
    if not (np.isfinite(px).all() and np.isfinite(py).all()):
        return 0.0
    sub = Problem(x=px[:, None], y=py[:, None], wa=prob.wa, wb=prob.wb, p=prob.p,
                  metric="euclidean")
    return projected_lower(float(oned(sub).value), prob)


def spacing_ratio(prob) -> float:
    """How far W_p reaches against the spacing of the points: a lower bound on W_p
    (``oned.projection_lower``, O(n log n)) over the typical distance between
    neighbours, ``spread * (n + m) ** (-1 / d)`` (``spread``: the pooled standard
    deviation a coordinate). Two samples of one distribution give a few units; a
    shifted pair, where the multiscale exact solver moves mass far, tens to
    hundreds."""
    wa, wb = prob.weights()
    var = 0.0
    for pts, w in ((prob.x, wa), (prob.y, wb)):
        mean = w @ pts / w.sum()
        var += float((w @ (pts - mean) ** 2).sum() / w.sum()) / (2 * prob.dim)
    spread = math.sqrt(var)
    if not spread > 0.0 or not math.isfinite(spread):
        return 0.0
    spacing = spread * float(prob.n + prob.m) ** (-1.0 / prob.dim)
    return float(projection_lower(prob)) / spacing if np.isfinite(spacing) else 0.0
