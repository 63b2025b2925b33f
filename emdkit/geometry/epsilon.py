"""Epsilon, the entropic regularisation: its default, its limit, its units and its
schedule, for every Sinkhorn solve (``method="sinkhorn"``, every backend, and the
training loss's batched torch loop).

- Default: ``EPS_RELATIVE`` times the mean cost of the independent coupling,
  ``sum_ij a_i b_j C_ij`` (:func:`default`).
- Limit: at most ``EPS_MAX_RELATIVE`` times the largest cost (:func:`clamp`).
- Units: the user's epsilon is in the units of ``metric ** p``; solvers work in the
  scaled units of their geometry (``units.in_scaled_units``).
- Schedule: geometric, from the largest cost down to the target (:func:`schedule`).
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

from .units import in_scaled_units

#: Default epsilon, relative to the mean cost of the independent coupling
#: ``sum_ij a_i b_j metric(x_i, y_j) ** p``.
EPS_RELATIVE = 1e-3
#: Larger epsilons are clamped to this many times the largest cost: the plan is then
#: the independent coupling to 1e-8, and ``eps * (mass - 1)`` would only lose digits.
EPS_MAX_RELATIVE = 1e8


def default(mean_cost):
    """The default epsilon for a mean cost of the independent coupling (a float, or
    a tensor of one per batch item)."""
    return EPS_RELATIVE * mean_cost


def scaled(epsilon: Optional[float], mean_cost: float, max_cost: float, scale: float,
           p: float, sparse: Optional[float] = None) -> Tuple[float, bool]:
    """``(epsilon in a geometry's scaled units, clamped)``: the user's ``epsilon``
    converted, or the default (no larger than ``sparse``, the epsilon at which a
    truncated multiscale kernel stays sparse, where given); then :func:`clamp`."""
    if epsilon is None:
        eps_s = default(mean_cost)
        if sparse is not None:
            eps_s = min(eps_s, sparse)
    else:
        eps_s = in_scaled_units(epsilon, scale, p)
    if not eps_s > 0 or max_cost == 0:   # every cost zero: any epsilon is exact
        eps_s = 1.0
    return clamp(eps_s, max_cost)


def clamp(eps: float, max_cost: float) -> Tuple[float, bool]:
    """``(min(eps, EPS_MAX_RELATIVE * max_cost), whether it was clamped)``."""
    clamped = max_cost > 0 and not eps <= EPS_MAX_RELATIVE * max_cost
    return (EPS_MAX_RELATIVE * max_cost if clamped else eps), clamped


def schedule(eps0: float, eps: float, scaling: float) -> List[float]:
    """Geometric epsilon schedule from ``eps0`` down to ``eps`` (exactly, last):
    ``eps0 * scaling ** k`` while above ``eps``. ``[eps]`` when ``eps >= eps0``."""
    if eps >= eps0 or scaling == 0.0:
        return [eps]
    k = math.ceil(math.log(eps / eps0) / math.log(scaling))
    # (a stage that rounding put at eps or below is not one)
    return [e for e in (eps0 * scaling ** i for i in range(k)) if e > eps] + [eps]
