"""``method="exact"``: the transport linear programme, solved by network simplex."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from ..memory import EXACT_MATRICES, ProblemTooLargeError, check_dense_fits
from ..geometry.costs import distinct_pairs, pair_distances, scaled_cost_matrix, scaled_cost_matrix_torch
from ..geometry.units import lost_below
from .options import choice, positive
from ..geometry.units import rooted_value
from .oned import projection_lower
from ..bounds import U, combine, vertex_bracket
from ..result import Result
from ._simplex import compiled, network_simplex
from ._common import (add_weight_gradient, check_certified, make_result,
                      torch_cost_from_plan, torch_cost_on_pairs)

_OPTIMAL = 1
#: The network simplex is exact to rounding: a certified bracket wider than this
#: (relative) means the costs span more than double precision resolves.
EXACT_RTOL = 1e-6


BACKENDS = ("auto", "dense", "multiscale", "grid")
#: The multiscale solver's cell tree prunes less as the dimension grows.
MULTISCALE_MAX_DIM = 5

#: The checks of the options (``options.check_options``).
CHECKS = {"backend": choice("backend", BACKENDS),
          "rtol": positive("rtol", optional=True, below=1.0),
          "max_iter": positive("max_iter", integer=True, optional=True),
          "memory_limit": positive("memory_limit", optional=True)}


def exact(prob, *, backend: str = "auto", rtol: Optional[float] = None,
          max_iter: Optional[int] = None, memory_limit: Optional[float] = None) -> Result:
    """Exact W_p by the network simplex: on the dense cost matrix (POT's ``ot.emd``)
    or, for large low-dimensional clouds, on candidate pairs, coarse to fine, with a
    certificate over all pairs.

    The costs are rescaled by a power of two to entries of order one before the
    solve, so the answer does not depend on the units of the data (POT alone returns
    wrong plans when all costs are below about 1e-10).

    Other Parameters
    ----------------
    backend : {"auto", "dense", "multiscale", "grid"}, default "auto"
        ``dense``: the full cost matrix, any metric, O(n m) memory. ``multiscale``:
        named metrics in at most 5 dimensions, O((n + m) k) memory; the plan is a
        ``scipy.sparse`` CSR matrix (``emdkit.solvers.multiscale_exact`` tells
        how). ``grid``: W_1 with ``metric="cityblock"`` between histograms on one
        regular grid (``emdkit.grid``), a min-cost flow between neighbouring cells
        (``emdkit.solvers.grid_flow``); numpy input, no plan (``Result.plan`` is
        None; the potentials are the certificate's). ``auto``: grid where it
        applies, else multiscale where it applies and n m is above 1 million or
        the dense matrices would not fit, else dense.
    rtol : float, optional
        ``multiscale``: stop pricing on the points once the certified bracket is
        within ``rtol`` (relative, on W_p): the value is then the cost of a transport
        plan, at most ``rtol`` above W_p, and ``Result.bounds`` holds W_p. Default
        None: solve to optimality (the bracket as wide as rounding). The dense and
        grid backends always solve to optimality.
    max_iter : int, optional
        Iteration limit of the network simplex (multiscale and grid: on each level,
        all pricing rounds together);
        default 1,000,000 dense, ``max(10^7, 100 (n + m))`` multiscale. Reaching it
        gives ``converged=False`` and a ``RuntimeWarning``.
    memory_limit : float, optional
        Bytes the cost matrix and plan may use (dense); default the memory available
        now. A larger problem raises :class:`emdkit.ProblemTooLargeError` before
        anything is allocated (or, with ``backend="auto"``, goes multiscale where it
        can).

    Notes
    -----
    Cost, dense: O(n m) memory, roughly O(n^2 m) to O(n^3) time in practice.
    Multiscale: O((n + m) k) memory, about 10 candidate pairs a point; on each level
    one network simplex solve, kept warm while pricing adds pairs (see the benchmark
    report, ``emdkit.bench.exact_bench``, for figures against POT).

    Where the plan moves mass between distinct points so close that their cost
    underflowed in the matrix (below about 1e-154 of the largest distance: the
    squares of their differences leave float64's range), the value and the bracket's
    upper end are the plan's cost on its pairs at their own scale, not 0.
    """
    compiled()                  # POT and numba imported before the clock starts:
    from ..kernels import ctransform  # noqa: F401   Result.time is the solve's
    start = time.perf_counter()
    backend, lattice = _backend(prob, backend, memory_limit)
    if backend != "dense":
        # the sparse solvers' default limit: their problems are large by design
        limit = max(10_000_000, 100 * (prob.n + prob.m)) if max_iter is None else max_iter
        if backend == "grid":
            return _grid(prob, lattice, start, limit)
        from .multiscale_exact import exact_multiscale

        return exact_multiscale(prob, start, limit, max(EXACT_RTOL, rtol or 0.0),
                                stop_rtol=rtol)
    max_iter = 1_000_000 if max_iter is None else max_iter
    check_dense_fits(prob.n, prob.m, EXACT_MATRICES, "exact", memory_limit)
    Mt = None
    if prob.torch and callable(prob.metric):
        M, Mt, scale = scaled_cost_matrix_torch(prob.metric, prob.xt, prob.yt, prob.p)
    else:
        M, scale = scaled_cost_matrix(prob.x, prob.y, prob.metric, prob.p,
                                      writable=False)      # the solve only reads it
    wa, wb = prob.weights()
    # duals (f, g) of the scaled problem
    plan, support, f, g, code, reason = network_simplex(wa, wb, M, max_iter)
    info = {"backend": "dense", "result_code": code, "cost_scale": scale}
    ii, jj, mass = support
    cost, cost_scale = float(mass @ M[ii, jj]), scale
    lost = _support_cost(prob, M, support)
    lower, upper = vertex_bracket(M, wa, wb, support, f, scale, prob.p)
    if lost is not None:    # the plan's cost at the scale of the distances it moves
        cost, cost_scale, true_upper = lost
        upper = max(upper, true_upper)
    bounds = combine(lower, upper, projection_lower(prob))
    converged = check_certified(
        info, "exact", None if code == _OPTIMAL else
        f"the network simplex stopped with '{reason}' (max_iter={max_iter})",
        bounds, cost, EXACT_RTOL)

    def torch_cost():
        tc = (torch_cost_from_plan(prob, plan, scale, Mt) if lost is None else
              torch_cost_on_pairs(prob, ii, jj, mass, cost_scale))
        return add_weight_gradient(prob, tc, f, g), cost_scale

    return make_result(prob, "exact", start, cost=cost, scale=cost_scale,
                       potentials_scale=scale, torch_cost=torch_cost, plan=plan,
                       potentials=(f, g), converged=converged, bounds=bounds, info=info)


def _backend(prob, backend: str, memory_limit):
    """``(backend, lattice)``: the backend a solve takes (see ``exact``) and, for
    ``"grid"``, the lattice (``grid_flow.lattice``; else None); or a ValueError
    naming why the one asked for does not apply."""
    from . import grid_flow

    fits = not (callable(prob.metric) or prob.dim > MULTISCALE_MAX_DIM)
    if backend in ("grid", "auto") and not prob.torch:
        lattice = grid_flow.lattice(prob)
        if lattice is not None:
            return "grid", lattice
    if backend == "grid":
        raise ValueError(
            "backend='grid' solves W_1 (p=1) with metric='cityblock' between numpy "
            "histograms on one regular grid (emdkit.grid) of at most "
            f"{grid_flow.CELLS_PER_POINT} cells per point; got p={prob.p:g}, "
            f"metric={prob.metric!r}" + (", torch input" if prob.torch else "")
            + "; use backend='multiscale' or 'dense'")
    if backend == "multiscale":
        if callable(prob.metric):
            raise ValueError("backend='multiscale' needs a named metric ('euclidean', "
                             "'cityblock', 'chebyshev'), got a callable metric; use "
                             "backend='dense'")
        if prob.dim > MULTISCALE_MAX_DIM:
            raise ValueError(f"backend='multiscale' works up to {MULTISCALE_MAX_DIM} "
                             f"dimensions (its cell tree prunes less beyond), got "
                             f"{prob.dim}; use backend='dense'")
        return backend, None
    if backend == "dense" or not fits:
        return "dense", None
    from .multiscale_exact import DENSE_PAIRS

    # above the multiscale solver's own dense limit (below it, that solver solves on
    # all pairs itself; its comment gives the measurements at 1 million): on 2-D
    # clouds 1.5-2.5x faster than dense at 2100 and 3000 points a side, 5-6x at 4096,
    # 17-21x at 10^4 (``emdkit.bench.exact_bench``); for p = 1 1500 + 1500 2-D points
    # 0.08 s against 0.20 s dense (iid), 0.30 against 0.26 s (shifted), 40 x 40
    # images 0.16 against 0.68 s
    if float(prob.n) * prob.m > DENSE_PAIRS:
        return "multiscale", None
    try:
        check_dense_fits(prob.n, prob.m, EXACT_MATRICES, "exact", memory_limit)
    except ProblemTooLargeError:        # the dense matrices would not fit
        return "multiscale", None
    return "dense", None


def _grid(prob, lattice, start, max_iter: int):
    """``backend="grid"``: the min-cost flow's Result (``grid_flow``)."""
    from . import grid_flow

    value, lower, upper, phi, message, stats = grid_flow.solve(prob, lattice, max_iter)
    bounds = combine(lower, upper, projection_lower(prob))
    info = dict(stats, backend="grid")
    converged = check_certified(info, "exact", message, bounds, value, EXACT_RTOL)
    f, g = phi[lattice[3]], -phi[lattice[4]]
    return make_result(prob, "exact", start, cost=value, scale=1.0, plan=None,
                       potentials=(f, g), converged=converged, bounds=bounds, info=info)


def _support_cost(prob, M, support):
    """Where the plan moves mass between distinct points whose scaled cost lost its
    digits (``costs.lost_below``: distances below about 1e-154 of the largest, whose
    squares underflow), the plan's cost from its pairs at their own scale
    (``costs.pair_distances``): ``(cost, its scale, the rooted cost as an upper
    bound)``. None otherwise (the usual case: one comparison per pair)."""
    ii, jj, mass = support
    if callable(prob.metric):
        return None
    low = M[ii, jj] < lost_below(prob.p)
    if not np.any(low) or not distinct_pairs(prob.x, prob.y, ii[low], jj[low]):
        return None         # none, or only pairs of equal points (cost 0 is right)
    d, T = pair_distances(prob.x, prob.y, ii, jj, prob.metric)
    cost = float(mass @ (d if prob.p == 1.0 else d ** prob.p))
    upper = rooted_value(cost, T, prob.p) * (1.0 + 8.0 * (prob.dim + len(mass)) * U)
    return cost, T, upper
