"""Units: the power-of-two scale every solver works at, and the one way back.

Every solver sees costs of order one: coordinates or distances are divided by a power
of two ``scale`` (exact in floating point), the cost is ``(metric / scale) ** p``, and a
scaled transport cost ``c`` means ``W_p = scale * c ** (1/p)`` (:func:`rooted_value`)
and ``W_p^p = scale ** p * c`` (:func:`unscaled_cost`). Epsilon converts the same way
(:func:`in_scaled_units`). Nothing else in emdkit scales or roots a value.
"""

from __future__ import annotations

import math

import numpy as np

def pow2_scale(v: float) -> float:
    """The power of two ``s`` with ``v / s`` in [1, 2); 1.0 for v == 0 or non-finite.

    Dividing by a power of two is exact in floating point (outside the subnormal
    range), so rescaling by it changes no digit of the data. Subnormal ``v`` gets the
    smallest normal power, 2 ** -1022, so that ``1 / s`` stays finite.
    """
    if v == 0 or not math.isfinite(v):
        return 1.0
    return math.ldexp(1.0, max(math.frexp(v)[1] - 1, -1022))


def pow2_scales(v) -> np.ndarray:
    """:func:`pow2_scale` of every entry of an array."""
    v = np.asarray(v, dtype=np.float64)
    ok = (v > 0) & np.isfinite(v)
    _, e = np.frexp(np.where(ok, v, 1.0))
    return np.where(ok, np.ldexp(1.0, np.maximum(e - 1, -1022)), 1.0)


def lost_below(p: float) -> float:
    """The scaled cost ``(D / scale) ** p`` (``D / scale`` below 2) under which
    digits may be lost: the squares that SciPy's ``cdist`` sums leave the normal
    range of float64 for ``D / scale`` below about ``2 ** -511``, and so does the
    power below ``2 ** -1022``; a pair of distinct points may then cost exactly 0
    next to costs of order one. ``2 ** -min(500 p, 1000)``, with a margin."""
    return 2.0 ** -min(500.0 * p, 1000.0)


def tiny_limit(p: float) -> float:
    """Relative to the largest distance: the size below which a nonzero coordinate
    may belong to a pair of distinct points whose cost lost its digits
    (``lost_below``), ``2 ** 60`` times the distance where it does, since elsewhere
    two distinct coordinates differ by at least ``2 ** -53`` of their size."""
    return 2.0 ** (60.0 - min(500.0, 1000.0 / p))


def tiny_coordinates(x: np.ndarray, y: np.ndarray, scale: float, p: float) -> bool:
    """Whether two distinct points of ``x`` and ``y`` may be so close that their cost
    lost its digits (``scale`` the power of two of the largest distance): only where
    some coordinate is nonzero and below ``tiny_limit(p) * scale``. O((n + m) d);
    False for nearly every input."""
    lim = scale * tiny_limit(p)
    for c in (x, y):
        a = np.abs(c)
        if np.any((a > 0) & (a < lim)):
            return True
    return False



def scaled_pow(scale: float, p: float) -> float:
    """``scale ** p`` as a float that may be inf (never an OverflowError)."""
    with np.errstate(over="ignore"):
        return float(np.power(np.float64(scale), p))



def safe_root(cost, p: float):
    """``cost ** (1/p)`` with a zero (not infinite) gradient at cost == 0."""
    if p == 1.0:
        return cost
    import torch

    pos = cost > 0
    safe = torch.where(pos, cost, torch.ones_like(cost))
    # cost * 0: zero where the cost is, NaN where it is (never hidden as a 0)
    return torch.where(pos, safe ** (1.0 / p), cost * 0.0)


def unscaled_cost(cost_scaled: float, scale: float, p: float) -> float:
    """W_p^p from the cost of the problem rescaled by ``scale`` (inf on overflow)."""
    return 0.0 if cost_scaled == 0 else cost_scaled * scaled_pow(scale, p)


def rooted_value(cost_scaled: float, scale: float, p: float) -> float:
    """W_p from the transport cost of the problem rescaled by ``scale``."""
    return scale * root(cost_scaled, p)


def rooted_values(cost_scaled, scale, p: float) -> np.ndarray:
    """:func:`rooted_value` of arrays (one problem per entry)."""
    cost = np.maximum(np.asarray(cost_scaled, dtype=np.float64), 0.0)
    return scale * (cost if p == 1.0 else cost ** (1.0 / p))


def root(cost: float, p: float) -> float:
    """``cost ** (1/p)`` for a float, clipping tiny negative rounding to zero."""
    cost = max(float(cost), 0.0)
    return cost if p == 1.0 else math.pow(cost, 1.0 / p)


def in_scaled_units(value: float, scale: float, p: float) -> float:
    """``value / scale ** p`` (an epsilon, a cost) without forming ``scale ** p``,
    which under- or overflows for coordinates near 1e-300 or 1e300; inf beyond the
    float range."""
    expo = math.log(value) - p * math.log(scale)
    return math.exp(expo) if expo < 709.0 else math.inf
