"""``method="sinkhorn"``: entropic optimal transport, log-stabilised, with epsilon scaling."""

from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np

from .._validation import check_positive
from ..costs import (available_memory, check_dense_fits, pow2_scale, scaled_cost_matrix,
                     scaled_pow)
from ..result import Result
from . import _sinkhorn_loops as loops
from ._common import not_converged_message, to_torch_like

#: Default epsilon, relative to the mean cost of the independent coupling
#: ``sum_ij a_i b_j metric(x_i, y_j) ** p``.
EPS_RELATIVE = 1e-3
#: Intermediate epsilon stages stop at this marginal error (the last one at ``tol``).
STAGE_TOL = 1e-2
_BACKENDS = ("auto", "dense", "online")
_BLOCK_BYTES = 32 * 2 ** 20
_MEAN_COST_SAMPLE = 2000


def sinkhorn(prob, *, epsilon: Optional[float] = None, tol: float = 1e-6,
             max_iter: int = 10_000, debias: bool = False, scaling: float = 0.5,
             backend: str = "auto", memory_limit: Optional[float] = None) -> Result:
    """Entropic optimal transport by log-stabilised Sinkhorn iterations.

    Solves ``OT_eps = min_P <P, C> + epsilon * KL(P | a x b)`` with ``C = metric ** p``
    and returns the transport cost of the entropic plan, rooted:
    ``value = <P_eps, C> ** (1/p)``; with ``debias=True`` the Sinkhorn divergence
    ``S = OT_eps(a, b) - OT_eps(a, a)/2 - OT_eps(b, b)/2`` (entropic terms included),
    rooted: ``value = S ** (1/p)``.

    Bias: the entropic plan is blurred over a length of about ``epsilon ** (1/p)``, so
    ``<P_eps, C>`` exceeds ``W_p ** p`` by roughly ``epsilon * d / 2`` (times a log
    factor); it tends to the exact value as epsilon -> 0. The debiased divergence
    removes the first-order bias: for p = 2 it equals ``|t| ** 2`` for a translation
    by ``t``, for every epsilon.

    Other Parameters
    ----------------
    epsilon : float, optional
        Regularisation, absolute, in the units of the ground cost ``metric ** p``.
        Default ``1e-3 *`` the mean cost of the independent coupling
        (``sum_ij a_i b_j C_ij``), which keeps the cost within about 1% of the exact
        value on low-dimensional data.
    tol : float, default 1e-6
        Stop when the L1 error of the plan's marginals is below ``tol`` (the weights
        sum to 1).
    max_iter : int, default 10_000
        Total iterations over all epsilon stages; reaching it gives
        ``converged=False`` and a ``RuntimeWarning``.
    debias : bool, default False
        Return the Sinkhorn divergence instead of the entropic transport cost.
    scaling : float in (0, 1), default 0.5
        Epsilon scaling: epsilon starts at the largest cost and is multiplied by
        ``scaling`` at each stage, warm-starting the potentials, down to ``epsilon``.
        Closer to 1: more, cheaper stages.
    backend : {"auto", "dense", "online"}
        ``dense`` keeps the (n, m) cost and kernel in memory (fastest); ``online``
        recomputes the cost by blocks of rows and needs O((n + m) * block) memory.
        ``auto`` takes ``dense`` when two (n, m) float64 matrices fit in half the
        available memory (or ``memory_limit``).
    memory_limit : float, optional
        Bytes the dense backend may use.

    Notes
    -----
    Cost: dense O(n m) memory and O(n m) time per iteration (two BLAS matrix-vector
    products); online O((n + m) * block) memory and O(n m d) time per iteration.
    """
    epsilon = None if epsilon is None else check_positive("epsilon", epsilon)
    tol = check_positive("tol", tol)
    max_iter = check_positive("max_iter", max_iter, integer=True)
    scaling = check_positive("scaling", scaling, below=1.0)
    if not isinstance(debias, (bool, np.bool_)):
        raise TypeError(f"debias must be True or False, got {debias!r}")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}, "
                         f"got {backend!r}")
    if memory_limit is not None:
        memory_limit = check_positive("memory_limit", memory_limit)
    start = time.perf_counter()
    backend = _choose_backend(prob, backend, memory_limit, debias)
    wa, wb = prob.weights()
    opts = dict(tol=tol, max_iter=max_iter, scaling=scaling, stage_tol=STAGE_TOL)
    if backend == "dense":
        pairs, scale = _dense_problems(prob, debias)
        cost_of = None
        mean_cost, max_cost = float(wa @ (pairs[0] @ wb)), float(pairs[0].max())
    else:
        pairs, scale, cost_of, mean_cost = _online_problems(prob, debias, wa, wb)
        max_cost = 2.0 ** prob.p   # scaled distances are below 2
    unit = scaled_pow(scale, prob.p)
    eps_s = EPS_RELATIVE * mean_cost if epsilon is None else epsilon / unit
    if not eps_s > 0:   # every cost is zero: any epsilon gives the exact answer
        eps_s = 1.0
    eps0 = max(eps_s, max_cost)
    sols, terms = [], []
    for key, (C, u, v) in zip(("ab", "aa", "bb"), _with_weights(pairs, wa, wb)):
        if callable(C):
            C = C()                       # the debiasing terms' costs, one at a time
        if backend == "dense":
            sol = None
            if key != "ab":
                sol = loops.dense_symmetric(C, u, eps_s, eps0=eps0, **opts)
                sol = sol if sol.converged else None   # else: the general solver
            if sol is None:
                sol = loops.dense(C, u, v, eps_s, eps0=eps0, **opts)
            transport = float(np.vdot(sol.plan, C))
            mass = float(sol.plan.sum())
            if key != "ab":
                sol.plan = None           # only the (a, b) plan is kept
        else:
            block = max(1, _BLOCK_BYTES // (8 * max(u.shape[0], v.shape[0])))
            sol = loops.online(cost_of(key), u, v, eps_s, eps0=eps0, block=block,
                               symmetric=key != "ab", **opts)
            transport, mass, _ = loops.online_plan_sums(cost_of(key), sol.f, sol.g, u, v,
                                                        sol.eps, block)
        # sol.eps is the target unless max_iter stopped an earlier epsilon stage
        objective = float(sol.f @ u + sol.g @ v - sol.eps * (mass - 1.0))
        sols.append(sol)
        terms.append((transport, objective))
    ab = sols[0]
    converged = all(s.converged for s in sols)
    info = {"epsilon": eps_s * unit, "epsilon_reached": max(s.eps for s in sols) * unit,
            "backend": backend, "n_stages": ab.n_stages,
            "n_newton": sum(s.n_newton for s in sols),
            "cost_scale": scale, "transport_cost": terms[0][0] * unit}
    if debias:
        S = terms[0][1] - 0.5 * terms[1][1] - 0.5 * terms[2][1]
        info["divergence_terms"] = {k: t[1] * unit for k, t in zip(("ab", "aa", "bb"), terms)}
        info["negative_divergence"] = S < 0
        cost_s = max(S, 0.0)
    else:
        cost_s = terms[0][0]
    if not converged:
        worst = max(sols, key=lambda s: s.err)
        info["warning"] = not_converged_message(
            "sinkhorn", f"marginal error {worst.err:.3g} > tol={tol:g} after "
                        f"{sum(s.n_iter for s in sols)} iterations (max_iter={max_iter})")
    result = Result(value=scale * cost_s ** (1.0 / prob.p), method="sinkhorn", p=prob.p,
                    metric=prob.metric, converged=converged,
                    n_iter=sum(s.n_iter for s in sols), cost=cost_s * unit,
                    plan=ab.plan, potentials=(ab.f * unit, ab.g * unit),
                    objective=terms[0][1] * unit, marginal_error=max(s.err for s in sols),
                    info=info)
    if prob.torch:
        from ._sinkhorn_torch import torch_values

        result.value, result.cost = torch_values(prob, sols, pairs, scale, debias)
        if result.plan is not None:
            result.plan = to_torch_like(prob, result.plan)
        result.potentials = tuple(to_torch_like(prob, p_) for p_ in result.potentials)
    result.time = time.perf_counter() - start
    return result


def _choose_backend(prob, backend, memory_limit, debias):
    # numpy: cost and kernel (plus the kept plan and cost while the debiasing terms
    # are solved); torch adds the dense tensors of the value and its gradient.
    n_mat = (4 if debias else 2) + (4 + prob.dim if prob.torch else 0)
    need = 8.0 * prob.n * prob.m * n_mat
    if backend == "auto":
        budget = memory_limit if memory_limit is not None else (available_memory() or
                                                                 math.inf) / 2
        backend = "dense" if need <= budget else "online"
    if backend == "dense":
        check_dense_fits(prob.n, prob.m, n_mat, "sinkhorn", memory_limit)
    if backend == "online" and prob.torch:
        raise ValueError(
            f"method='sinkhorn' with torch input needs the dense (n, m) matrices to "
            f"differentiate, and {prob.n} x {prob.m} does not fit the memory budget; "
            f"pass numpy arrays for the value alone (online backend), or subsample")
    if backend == "online" and callable(prob.metric):
        raise ValueError("the online Sinkhorn backend takes a named metric, not a "
                         "callable (the dense backend does)")
    return backend


def _dense_problems(prob, debias):
    """Scaled dense costs for (a, b) and, for the divergence, (a, a) and (b, b), all
    on one scale. A callable metric gets tensors for torch input."""
    if prob.torch and callable(prob.metric):
        from ..costs import scaled_cost_matrix_torch

        C_ab, _, scale = scaled_cost_matrix_torch(prob.metric, prob.xt, prob.yt, prob.p)
    else:
        C_ab, scale = scaled_cost_matrix(prob.x, prob.y, prob.metric, prob.p)
    if not debias:
        return [C_ab], scale
    if prob.torch and callable(prob.metric):
        sides = ((prob.xt, prob.xt), (prob.yt, prob.yt))
    else:
        sides = ((prob.x, prob.x), (prob.y, prob.y))
    return [C_ab] + [lambda u=u, v=v: _cost_at_scale(prob, u, v, scale)
                     for u, v in sides], scale


def _cost_at_scale(prob, u, v, scale):
    """``(metric(u, v) / scale) ** p`` as a numpy matrix."""
    from ..costs import _checked_matrix

    if callable(prob.metric):
        D = _checked_matrix(prob.metric(u, v), u.shape[0], v.shape[0])
    else:
        from scipy.spatial.distance import cdist

        D = cdist(u, v, metric=prob.metric)
    D /= scale
    return D ** prob.p if prob.p != 1.0 else D


def _online_problems(prob, debias, wa, wb):
    """Scaled coordinates and a block-cost function per pair, the scale, and the mean
    cost of the independent coupling (on an evenly spaced subsample)."""
    from scipy.spatial.distance import cdist

    s_in = pow2_scale(max(np.abs(prob.x).max(), np.abs(prob.y).max()))
    x, y = prob.x / s_in, prob.y / s_in
    span = np.maximum(x.max(0), y.max(0)) - np.minimum(x.min(0), y.min(0))
    bound = {"euclidean": float(np.sqrt((span ** 2).sum())),
             "cityblock": float(span.sum()), "chebyshev": float(span.max())}[prob.metric]
    s_out = pow2_scale(bound)
    if not math.isfinite(s_in * s_out):
        s_out = 1.0
    x, y = x / s_out, y / s_out
    sides = {"ab": (x, y), "aa": (x, x), "bb": (y, y)}

    def power(D):
        if prob.p == 2.0:
            D *= D
        elif prob.p != 1.0:
            np.power(D, prob.p, out=D)
        return D

    def cost_of(key):
        u, v = sides[key]

        def block(i0, i1, transpose):
            return power(cdist(v[i0:i1], u, metric=prob.metric) if transpose else
                         cdist(u[i0:i1], v, metric=prob.metric))
        return block

    ia = np.unique(np.linspace(0, prob.n - 1, min(prob.n, _MEAN_COST_SAMPLE)).astype(int))
    ib = np.unique(np.linspace(0, prob.m - 1, min(prob.m, _MEAN_COST_SAMPLE)).astype(int))
    u, v = _renormalised(wa[ia]), _renormalised(wb[ib])
    mean_cost = float(u @ power(cdist(x[ia], y[ib], metric=prob.metric)) @ v)
    return [None] * (3 if debias else 1), s_in * s_out, cost_of, mean_cost


def _renormalised(w):
    total = w.sum()
    return w / total if total > 0 else np.full(w.shape[0], 1.0 / w.shape[0])


def _with_weights(pairs, wa, wb):
    weights = [(wa, wb), (wa, wa), (wb, wb)]
    return [(C, u, v) for C, (u, v) in zip(pairs, weights)]
