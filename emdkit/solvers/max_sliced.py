"""``method="max-sliced"``: the largest 1-D W_p over directions, optimised."""

from __future__ import annotations

import math
import time

import numpy as np

from ..bounds import projected_lower
from ..geometry.units import rooted_value, scaled_pow
from ..result import Result
from ._common import make_result
from .oned import cumulative
from .options import positive
from .options import seed as seed_check
from .sliced import check_line_metric, draw_directions, projected_costs

_STARTS = 4


#: The checks of the options (``options.check_options``).
CHECKS = {"n_projections": positive("n_projections", integer=True),
          "seed": seed_check(), "max_iter": positive("max_iter", integer=True),
          "tol": positive("tol")}


def max_sliced(prob, *, n_projections: int = 100, seed=None, max_iter: int = 1000,
               tol: float = 1e-9) -> Result:
    """Max-sliced Wasserstein distance ``max over unit theta of W_p(theta.a, theta.b)``.

    The best of ``n_projections`` random directions is only a start: the direction is
    then optimised by gradient ascent on the sphere (the gradient of W_p^p along theta
    follows from the sorted matching), with a backtracking step along the great
    circle, from the best few starts. For a translation by t it returns ``|t|`` (the
    optimum is ``t / |t|``). ``Result.info["direction"]`` is the optimal direction.
    max-sliced <= W_p, and unlike the sliced distance it does not shrink with d.

    Other Parameters
    ----------------
    n_projections : int, default 100
        Random directions scored to choose the starting points.
    seed : int or Generator, optional
        Seeds those directions (None: fresh each call).
    max_iter : int, default 1000
        Ascent steps per start; ``converged`` is False if the step never fell below
        ``tol`` (radians) within them.
    tol : float, default 1e-9
        Stop when no step along the great circle longer than ``tol`` radians
        increases the value (the direction is then within about ``tol`` of a local
        maximum; the value within about ``tol ** 2`` relative).
    """
    check_line_metric(prob.metric, "max-sliced")
    start = time.perf_counter()
    theta0, _ = draw_directions(prob.dim, n_projections, "random", seed)
    costs, scale = projected_costs(prob, theta0)
    x, y = prob.x / scale, prob.y / scale
    wa, wb = prob.weights()
    best = (-1.0, None, False, 0)
    for i in np.argsort(costs)[::-1][:_STARTS]:
        val, th, conv, steps = _ascend(x, y, wa, wb, prob.p, theta0[i], max_iter, tol)
        if val > best[0]:
            best = (val, th, conv, steps)
    w, theta, converged, steps = best
    value = scale * w
    info = {"direction": theta, "n_steps": steps, "cost_scale": scale,
            "best_random": rooted_value(float(costs.max()), scale, prob.p)}
    if not converged:
        info["warning"] = (f"emdkit method 'max-sliced' did not converge: the ascent "
                           f"step was still above tol={tol:g} after max_iter={max_iter} "
                           f"steps. The value is a lower bound; Result.converged is False.")
    # W_p along any unit direction is at most W_p (projection is 1-Lipschitz): a
    # certified lower bound, rounding aside
    bounds = (projected_lower(value, prob), math.inf)

    def torch_cost():
        import torch

        from .oned import torch_monotone_cost

        th = torch.as_tensor(theta, dtype=prob.xt.dtype, device=prob.xt.device)
        # envelope theorem: theta is optimal, so d/dx at fixed theta is the gradient
        cost, gap = torch_monotone_cost(prob, (prob.xt / scale) @ th,
                                        (prob.yt / scale) @ th)
        return cost, scale * gap

    return make_result(prob, "max-sliced", start, cost=scaled_pow(w, prob.p),
                       scale=scale, value=value, torch_cost=torch_cost,
                       converged=converged, n_iter=steps, bounds=bounds, info=info)


def _order(v, near):
    """``argsort(v)``; ``near``, an order of a nearby direction's projections, makes
    it a sort of nearly sorted data (timsort: its runs)."""
    if near is None:
        return np.argsort(v, kind="stable")
    return near[np.argsort(v[near], kind="stable")]


def _value_grad(x, y, wa, wb, p, theta, near=(None, None)):
    """W_p along theta (rooted, so values of different directions compare for any p),
    a positive multiple of the gradient of W_p^p in theta, from the monotone
    coupling, and the two sorting orders (``near``: those of a nearby direction)."""
    from ..kernels.oned import coupling_edges, coupling_value_grad

    px, py = x @ theta, y @ theta
    oa, ob = _order(px, near[0]), _order(py, near[1])
    ca, cb = cumulative(wa[oa]), cumulative(wb[ob])
    ii, jj = coupling_edges(ca, cb)
    # one pass over the coupling's pairs (scale-free: the largest term is 1, for
    # every p)
    total, top, grad = coupling_value_grad(px, py, oa, ob, ca, cb, ii, jj, x, y,
                                           float(p))
    if top == 0.0:
        return 0.0, grad, (oa, ob)
    return rooted_value(total, top, p), grad, (oa, ob)


def _ascend(x, y, wa, wb, p, theta, max_iter, tol):
    """Projected gradient ascent on the sphere with a backtracking great-circle step
    (each candidate's sort starts from the current direction's order)."""
    theta = theta / np.linalg.norm(theta)
    value, grad, orders = _value_grad(x, y, wa, wb, p, theta)
    step = 0.5
    for k in range(max_iter):
        tangent = grad - (grad @ theta) * theta
        norm = np.linalg.norm(tangent)
        if norm == 0.0 or x.shape[1] == 1:
            return value, theta, True, k
        tangent /= norm
        while step >= tol:
            cand = math.cos(step) * theta + math.sin(step) * tangent
            cand /= np.linalg.norm(cand)
            v, g, o = _value_grad(x, y, wa, wb, p, cand, orders)
            if v > value:
                theta, value, grad, orders = cand, v, g, o
                step = min(2.0 * step, 0.5)
                break
            step *= 0.5
        else:
            return value, theta, True, k
    return value, theta, False, max_iter
