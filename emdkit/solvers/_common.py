"""Pieces the methods share: the one way a solution becomes a ``Result`` in the
input's framework, and the torch costs of a coupling."""

from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from ..geometry.costs import paired_cost_torch
from ..geometry.units import rooted_value, safe_root, scaled_pow, unscaled_cost
from ..result import Result


def make_result(prob, method: str, start: float, *, cost: float, scale: float,
                value: Optional[float] = None, torch_cost: Optional[Callable] = None,
                plan=None, potentials=None, potentials_scale: Optional[float] = None,
                **fields) -> Result:
    """The ``Result`` of a solve, every method's last line.

    ``cost`` is the transport cost of the problem rescaled by ``scale`` (a power of
    two: the true cost is ``scale ** p * cost``); ``value`` overrides the rooted
    ``scale * cost ** (1/p)`` where a method knows better (a value clipped into its
    bracket, a critic's estimate, which may be negative). ``potentials`` are in the
    rescaled units (of ``potentials_scale`` where the cost is on another). For torch
    input, ``torch_cost()`` returns ``(cost tensor, its scale)``, differentiable;
    value and cost are then 0-d tensors, and the plan and potentials detached tensors
    on the input's device and dtype. ``fields`` are the other ``Result`` fields;
    ``time`` counts from ``start``.
    """
    unit = scaled_pow(scale if potentials_scale is None else potentials_scale, prob.p)
    if potentials is not None:
        potentials = tuple(pot * unit for pot in potentials)
    if prob.torch and torch_cost is not None:
        value, cost = _finish_torch(prob, *torch_cost())
        if plan is not None and not hasattr(plan, "tocsr"):     # a sparse plan stays scipy
            plan = to_torch_like(prob, plan)
        if potentials is not None:
            potentials = tuple(to_torch_like(prob, pot) for pot in potentials)
    else:
        value = rooted_value(cost, scale, prob.p) if value is None else value
        cost = unscaled_cost(cost, scale, prob.p)
    return Result(value=value, method=method, p=prob.p, metric=prob.metric, cost=cost,
                  plan=plan, potentials=potentials, time=time.perf_counter() - start,
                  **fields)


def torch_cost_on_pairs(prob, ii: np.ndarray, jj: np.ndarray, mass, scale: float = 1.0):
    """``sum_k mass_k * cost(x[ii_k] / scale, y[jj_k] / scale)`` in torch,
    differentiable in positions (and in ``mass`` if it is a tensor built from the
    weights). ``scale`` is a power of two, so the division is exact."""
    import torch

    dev = prob.xt.device
    ii_t = torch.as_tensor(ii, device=dev)
    jj_t = torch.as_tensor(jj, device=dev)
    if not torch.is_tensor(mass):
        mass = torch.as_tensor(mass, dtype=prob.xt.dtype, device=dev)
    c = paired_cost_torch(prob.xt[ii_t] / scale, prob.yt[jj_t] / scale, prob.metric,
                          prob.p)
    return (mass * c).sum()


def torch_cost_from_plan(prob, plan: np.ndarray, scale: float, Mt=None):
    """Transport cost of a dense numpy plan for the problem rescaled by ``scale``,
    evaluated in torch: on the support of the plan, or against ``Mt``, the (scaled)
    cost tensor of a callable metric."""
    import torch

    if Mt is not None:
        plan_t = torch.as_tensor(plan, dtype=Mt.dtype, device=Mt.device)
        return (plan_t * Mt).sum()
    ii, jj = np.nonzero(plan)
    return torch_cost_on_pairs(prob, ii, jj, plan[ii, jj], scale)


def add_weight_gradient(prob, cost, f: np.ndarray, g: np.ndarray):
    """Give ``cost`` the gradient ``f`` and ``g`` with respect to the (normalised)
    weights without changing its value: the envelope theorem for the dual."""
    import torch

    for w, pot in ((prob.wat, f), (prob.wbt, g)):
        if w is not None and w.requires_grad:
            pot_t = torch.as_tensor(pot, dtype=w.dtype, device=w.device)
            cost = cost + (pot_t * (w - w.detach())).sum()
    return cost


def _finish_torch(prob, cost_scaled, scale: float):
    """(value, cost) tensors from the torch transport cost of the rescaled problem."""
    return scale * safe_root(cost_scaled, prob.p), cost_scaled * scaled_pow(scale, prob.p)


def to_torch_like(prob, arr):
    """A numpy array as a detached tensor on the input's device and dtype."""
    import torch

    return torch.as_tensor(np.asarray(arr), dtype=prob.xt.dtype, device=prob.xt.device)


def renormalised(w: np.ndarray) -> np.ndarray:
    """Weights of a subsample summing to 1 again (uniform if they sum to 0)."""
    total = w.sum()
    return w / total if total > 0 else np.full(w.shape[0], 1.0 / w.shape[0])


def check_certified(info: dict, method: str, detail: Optional[str], bounds, value: float,
                    rtol: float) -> bool:
    """Whether a solve converged, its warning in ``info`` where not: ``detail`` says
    why the solver stopped early (None: it finished); a finished solve whose
    certified bracket is wider than ``rtol`` (``bounds.within``, ``value`` its own
    scaled cost) has not converged either. ``info["bracket_width"]`` records the
    bracket's relative width."""
    from ..bounds import precision_message, relative_width, within

    converged = detail is None
    if not converged:
        info["warning"] = not_converged_message(method, detail)
    elif not within(bounds, rtol, value):
        converged = False
        info["warning"] = precision_message(method, bounds, rtol)
    info["bracket_width"] = relative_width(bounds)
    return converged


def not_converged_message(method: str, detail: str) -> str:
    """The text of the RuntimeWarning that ``emdkit.solve`` issues."""
    return (f"emdkit method {method!r} did not converge: {detail}. The value is not "
            f"optimal; Result.converged is False.")
