"""Certified brackets ``(lower, upper)`` on W_p between the two given samples.

``Result.bounds`` holds one wherever a method can certify it:

- an **upper** bound is the cost of a coupling with exactly the given marginals: the
  method's plan, rounded onto the marginals (Altschuler, Weed & Rigollet 2017,
  Algorithm 2) where it misses them (Sinkhorn's plan does, by up to ``tol``);
- a **lower** bound is the dual objective ``<f, a> + <g, b>`` of potentials made
  feasible by the c-transform (``g_j = min_i C_ij - f_i``, then ``f`` again), or the
  1-D W_p of a projection (``|x_k - y_k|`` is at most every named metric, so the
  1-D distance of one coordinate or of the mean-difference direction bounds W_p
  from below, and W_p >= W_1 >= |mean(a) - mean(b)|).

Both are evaluated in float64 with an explicit allowance for rounding: the
subtractions ``C_ij - f_i`` and the final sums carry at most a few units of
``2 ** -53`` of the largest terms, which is subtracted from the lower bound and added
to the upper (the masses themselves are taken as exact: a plan is certified for
marginals equal to the weights up to ``(n + m) 2 ** -53`` relative rounding). So
where the costs span more than double precision resolves (p = 5 on data spread over
+-300 with a 0.1 shift; one outlier at 1e6) the bracket is honestly
wide instead of the value being silently wrong. Everything here is O(n m) time, by
blocks of rows, with O(block) extra memory.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from .geometry.units import rooted_value

#: Unit roundoff of float64.
U = 2.0 ** -53
_BLOCK = 1 << 20   # matrix entries per block of rows


def _row_blocks(n: int, m: int):
    step = max(1, _BLOCK // max(m, 1))
    for i0 in range(0, n, step):
        yield i0, min(n, i0 + step)


def exact_bracket(value: float, k: int) -> Optional[Tuple[float, float]]:
    """The bracket of a closed-form value: rounding only, relative ``4 k`` units of
    roundoff for a sum of ``k`` terms."""
    if value is None or not math.isfinite(value):
        return None
    slack = 4.0 * (k + 4) * U * value
    return max(value - slack, 0.0), value + slack


def shrink(sums: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rounding onto a marginal (Altschuler, Weed & Rigollet 2017): per row (or
    column), the factor that brings its sum down to its weight where above, else 1."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sums > target, target / np.where(sums > 0, sums, 1.0), 1.0)


def unmatched(mass_a: float, mass_b: float, count: int) -> float:
    """Mass a rounding left unmatched between row deficits of total ``mass_a`` and
    column deficits of total ``mass_b`` (0 for a vertex of the transport polytope),
    to be moved at the largest cost; 0 within the rounding of a ``count``-term sum."""
    miss = abs(mass_a - mass_b)
    return 0.0 if miss <= 4.0 * count * U else miss


def rounded_cost(C: np.ndarray, a: np.ndarray, b: np.ndarray, P: np.ndarray,
                 cmax: float) -> float:
    """Upper bound on ``min <P, C>`` over couplings of ``a`` and ``b``: the cost of
    ``P`` rounded onto the marginals, plus the rounding allowance. Nothing of size
    (n, m) is allocated beyond one block."""
    n, m = C.shape
    x = shrink(P.sum(1), a)
    c1 = x @ P
    y = shrink(c1, b)
    cost, rows = 0.0, np.empty(n)
    for i0, i1 in _row_blocks(n, m):
        blk = P[i0:i1] * C[i0:i1]
        cost += float(x[i0:i1] @ (blk @ y))
        rows[i0:i1] = x[i0:i1] * (P[i0:i1] @ y)
    ea = np.maximum(a - rows, 0.0)
    eb = np.maximum(b - c1 * y, 0.0)
    mass = float(ea.sum())
    if mass > 0:
        cost += float(ea @ (C @ eb)) / mass
    miss = unmatched(mass, float(eb.sum()), n + m)
    return (cost + miss * cmax) * (1.0 + 4.0 * (n + m) * U)


def _ctransforms(C, a, b, f):
    """``((f2, g), cmax)``: ``g`` the column c-transform of ``f`` over the rows of
    positive weight, ``f2`` the row c-transform of ``g`` over the columns of positive
    weight (``kernels.ctransform``: one pass over ``C`` each), and the largest cost."""
    from .kernels.ctransform import column_ctransform, row_ctransform

    C = np.ascontiguousarray(C, dtype=np.float64)
    g, cmax = column_ctransform(C, np.ascontiguousarray(f, dtype=np.float64), a > 0)
    return (row_ctransform(C, g, b > 0), g), cmax


def dual_objective(a, b, pair, cmax: float) -> float:
    """Lower bound on ``min <P, C>``: ``<f, a> + <g, b>`` over the positive weights
    of a feasible pair (``_ctransforms``), less what it may round: each product's
    rounding (the sum itself is exactly rounded, ``math.fsum``: no term grows with the
    number of points) and what the c-transforms may round (a few units of roundoff of
    the largest terms, ``cmax`` the largest cost, once: the weights sum to 1); 0.0
    where a potential is not finite."""
    f, g = pair
    live_a, live_b = a > 0, b > 0
    fa, gb = f[live_a], g[live_b]
    if not (np.isfinite(fa).all() and np.isfinite(gb).all()):
        return 0.0
    ta, tb = a[live_a] * fa, b[live_b] * gb
    lower = math.fsum(ta) + math.fsum(tb)
    big = cmax + float(np.abs(fa).max()) + float(np.abs(gb).max())
    slack = 4.0 * U * (float(np.abs(ta).sum()) + float(np.abs(tb).sum()))
    return max(lower - slack - 4.0 * U * big, 0.0)


def vertex_bracket(C, a, b, support, f, scale: float, p: float):
    """``(lower, upper)`` on W_p, rooted and unscaled, for a plan given by its
    support ``(rows, cols, masses)`` (the network simplex's vertex: at most n + m - 1
    entries) and row potentials ``f``: the upper end is the plan rounded onto the
    marginals on its support (``kernels.ctransform.support_upper``), the lower end
    the dual objective of the two c-transforms of ``f``: two passes over ``C``, no
    temporaries, O(n + m) besides."""
    from .kernels.ctransform import support_upper

    ii, jj, mass = support
    with np.errstate(all="ignore"):
        pair, cmax = _ctransforms(C, a, b, f)
        lo = dual_objective(a, b, pair, cmax)
        ii = np.ascontiguousarray(ii, dtype=np.int64)
        jj = np.ascontiguousarray(jj, dtype=np.int64)
        up = support_upper(a, b, ii, jj, np.ascontiguousarray(mass, dtype=np.float64),
                           np.ascontiguousarray(C[ii, jj], dtype=np.float64), cmax)
    return rooted_value(lo, scale, p), rooted_value(up, scale, p)


def plan_bracket(C, a, b, P, f, scale: float, p: float):
    """``(lower, upper)`` on W_p from a dense scaled cost ``C`` (true cost
    ``scale ** p * C``), a plan and row potentials, both rooted and unscaled: the
    plan rounded onto the marginals above, the dual objective of the two
    c-transforms of ``f`` below (the largest cost from the first one's pass)."""
    with np.errstate(all="ignore"):
        pair, cmax = _ctransforms(C, a, b, f)
        up = rounded_cost(C, a, b, P, cmax)
        lo = dual_objective(a, b, pair, cmax)
    return rooted_value(lo, scale, p), rooted_value(up, scale, p)


def projected_lower(value: float, prob) -> float:
    """A W_p computed along a projection, lowered by what the projection and the sums
    may round (a few units of roundoff per coordinate and per point): certified below
    the exact W_p."""
    return max(value * (1.0 - 8.0 * (prob.dim + prob.n + prob.m) * U), 0.0)


def combine(lower: float, upper: float, extra_lower: float = 0.0):
    """The bracket from a dual lower bound, an upper bound and any other lower
    bound; lower never above upper (rounding of equal bounds)."""
    lo = max(lower, extra_lower)
    return min(lo, upper), upper


def within(bounds, rtol: float, value: Optional[float] = None) -> bool:
    """Whether the bracket is no wider than ``rtol`` relative to its lower end: the
    promise behind ``converged=True``, relative to the value itself. No absolute
    allowance: one scaled by the largest distance (1e-12 of it, once) let a bracket
    (0, 0.5) pass as converged where a live cost of 1e16 set the scale.

    One exception: a ``value`` of exactly 0 from a plan (``exact``, ``1d``) is the
    cost of a coupling that moves mass only between equal points, so W_p = 0; its
    bracket's upper end is then only the rounding of the masses (moved, in the
    certificate, at the largest cost). A Sinkhorn value is never exactly 0 (its plan
    is blurred): on equal samples its bracket (0, 1e-15) is not within, and says so."""
    lo, hi = bounds
    return hi - lo <= rtol * lo or value == 0.0


def relative_width(bounds) -> float:
    """``(upper - lower) / lower``; inf when the lower bound is 0 and the upper not."""
    lo, hi = bounds
    if hi <= lo:
        return 0.0
    return (hi - lo) / lo if lo > 0 else math.inf


def certify(prob, C, a, b, P, f, scale: float, projection: float):
    """The bracket on W_p for a dense plan ``P`` and row potentials ``f`` of the
    problem with scaled cost ``C``, with a projection's lower bound
    (``solvers.oned.projection_lower``)."""
    lo, hi = plan_bracket(C, a, b, P, f, scale, prob.p)
    return combine(lo, hi, projection)


def precision_message(method: str, bounds, rtol: float) -> str:
    lo, hi = bounds
    return (f"emdkit method {method!r} could not certify its value: W_p is only known "
            f"to lie in [{lo:.6g}, {hi:.6g}] (relative width {relative_width(bounds):.3g}"
            f" > {rtol:g}). The costs span more than double precision resolves (a "
            f"large p, an outlier, or a tiny distance between widely spread "
            f"points); Result.converged is False. Try a smaller p, or remove the "
            f"outliers / centre and subsample the data.")


def divergence_rounding(ab: float, aa: float, bb: float, count: int) -> float:
    """What rounding alone may make of the divergence ``ab - aa / 2 - bb / 2``: its
    three dual objectives are sums of ``count`` terms (n + m), each rounded within
    ``count`` units of roundoff of its size. A divergence no larger is 0 as far as
    float64 knows (equal inputs gave 2e-16, whose square root 1.5e-8 was returned).
    Floats, or tensors of one value per batch item (the training loss)."""
    return 4.0 * count * U * (abs(ab) + 0.5 * abs(aa) + 0.5 * abs(bb))
