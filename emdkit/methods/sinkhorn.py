"""``method="sinkhorn"``: entropic optimal transport, log-stabilised, with epsilon scaling."""

from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np

from .._validation import check_positive
from ..costs import (SINKHORN_MATRICES, available_memory, check_dense_fits, pow2_scale,
                     power_inplace, scaled_cost_matrix, scaled_pow)
from ..bounds import certify, projection_lower, relative_width, within
from ..result import Result
from . import _sinkhorn_loops as loops
from ._common import not_converged_message, renormalised, to_torch_like

#: Default epsilon, relative to the mean cost of the independent coupling
#: ``sum_ij a_i b_j metric(x_i, y_j) ** p``.
EPS_RELATIVE = 1e-3
#: Larger epsilons are clamped to this many times the largest cost: the plan is then
#: the independent coupling to 1e-8, and ``eps * (mass - 1)`` would only lose digits.
EPS_MAX_RELATIVE = 1e8
#: With the default epsilon and no ``rtol``, a value more than this far above the
#: certified lower bound (relative) gives a RuntimeWarning.
DEFAULT_EPS_CHECK = 0.05
#: Intermediate epsilon stages stop at this marginal error (the last one at ``tol``).
STAGE_TOL = 1e-2
_BACKENDS = ("auto", "dense", "online")
_BLOCK_BYTES = 32 * 2 ** 20
_MEAN_COST_SAMPLE = 2000


def sinkhorn(prob, *, epsilon: Optional[float] = None, rtol: Optional[float] = None,
             tol: float = 1e-6, max_iter: int = 10_000, debias: bool = False,
             scaling: float = 0.5, backend: str = "auto",
             memory_limit: Optional[float] = None) -> Result:
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

    Certified bracket: ``Result.bounds`` (dense backend) is ``(lower, upper)`` on the
    exact W_p, upper the cost of the entropic plan rounded onto the marginals
    (Altschuler, Weed & Rigollet 2017), lower the dual objective of its
    c-transformed potentials, and the 1-D projection bound. With ``rtol``, epsilon is
    decreased (warm-started) until ``upper - lower <= rtol * lower``, and the value
    returned lies in that bracket: a certified approximation of W_p.

    Other Parameters
    ----------------
    rtol : float, optional
        Certify the value: keep decreasing epsilon (from ``epsilon``, or the default)
        until the certified bracket on W_p is no wider than ``rtol`` relative; the
        value is then within ``rtol`` of W_p. Not with ``debias=True`` (the
        divergence is not W_p) or the online backend. If ``max_iter`` runs out
        first: ``converged=False`` and a ``RuntimeWarning`` with the bracket reached.
        Without ``rtol`` and with the default epsilon, a value that the bracket
        cannot place within 5% of W_p gives a ``RuntimeWarning`` (points spread far
        wider than the distance between the samples need a smaller epsilon).
    epsilon : float, optional
        Regularisation, absolute, in the units of the ground cost ``metric ** p``.
        Default ``1e-3 *`` the mean cost of the independent coupling
        (``sum_ij a_i b_j C_ij``), which keeps the cost within about 1% of the exact
        value on low-dimensional data where the samples' distance is not small
        against their spread. Values beyond ``1e8`` times the largest cost are
        taken as ``1e8`` times it (the plan is then the independent coupling to
        1e-8; larger ones only lose digits).
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
    epsilon, rtol, tol, max_iter, scaling, memory_limit = _checked(
        epsilon, rtol, tol, max_iter, debias, scaling, backend, memory_limit)
    start = time.perf_counter()
    backend = _choose_backend(prob, backend, memory_limit, debias)
    if rtol is not None and backend == "online":
        raise ValueError(f"rtol needs the dense backend (the certified bracket is "
                         f"computed on the (n, m) plan), and {prob.n} x {prob.m} does "
                         f"not fit the memory budget; use method='sliced' or "
                         f"subsample")
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
    eps_s = EPS_RELATIVE * mean_cost if epsilon is None else _in_scaled_units(
        epsilon, scale, prob.p)
    if not eps_s > 0 or max_cost == 0:   # every cost zero: any epsilon is exact
        eps_s = 1.0
    clamped = max_cost > 0 and not eps_s <= EPS_MAX_RELATIVE * max_cost
    if clamped:
        eps_s = EPS_MAX_RELATIVE * max_cost
    eps0 = max(eps_s, max_cost)
    sols, terms = [], []
    for key, (C, u, v) in zip(("ab", "aa", "bb"), _with_weights(pairs, wa, wb)):
        if callable(C):
            C = C()                       # the debiasing terms' costs, one at a time
        sol, term = _solve_one(key, C, u, v, eps_s, eps0, opts, backend, cost_of)
        sols.append(sol)
        terms.append(term)
    bounds, refine = None, None
    if backend == "dense" and not debias:
        proj = projection_lower(prob)      # does not change with epsilon: once
        bounds = certify(prob, pairs[0], wa, wb, sols[0].plan, sols[0].f, scale, proj)
        if rtol is not None:
            sols[0], terms[0], bounds, refine, eps_s = _refine(
                prob, pairs[0], wa, wb, sols[0], terms[0], bounds, scale, rtol, opts, proj)
    result = _result(prob, sols, terms, scale, unit, debias, backend, bounds, rtol,
                     refine, epsilon is None, tol, max_iter)
    result.info["epsilon"] = eps_s * unit
    result.info["epsilon_clamped"] = clamped
    if prob.torch:
        from ._sinkhorn_torch import torch_values

        value, cost = torch_values(prob, sols, pairs, scale, debias)
        if rtol is not None:   # the certified value, with the entropic gradient
            value = value + (result.value - float(value.detach()))
            cost = cost + (result.cost - float(cost.detach()))
        result.value, result.cost = value, cost
        if result.plan is not None:
            result.plan = to_torch_like(prob, result.plan)
        result.potentials = tuple(to_torch_like(prob, p_) for p_ in result.potentials)
    result.time = time.perf_counter() - start
    return result


def _checked(epsilon, rtol, tol, max_iter, debias, scaling, backend, memory_limit):
    """The options, validated (a clear error naming the option otherwise)."""
    rtol = None if rtol is None else check_positive("rtol", rtol)
    epsilon = None if epsilon is None else check_positive("epsilon", epsilon)
    if not isinstance(debias, (bool, np.bool_)):
        raise TypeError(f"debias must be True or False, got {debias!r}")
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}, "
                         f"got {backend!r}")
    if rtol is not None and debias:
        raise ValueError("rtol certifies W_p, and with debias=True the value is the "
                         "Sinkhorn divergence, which is not W_p: pass one of them")
    return (epsilon, rtol, check_positive("tol", tol),
            check_positive("max_iter", max_iter, integer=True),
            check_positive("scaling", scaling, below=1.0),
            None if memory_limit is None else check_positive("memory_limit",
                                                               memory_limit))


def _in_scaled_units(epsilon: float, scale: float, p: float) -> float:
    """``epsilon / scale ** p`` without forming ``scale ** p`` (which under- or
    overflows for coordinates near 1e-300 or 1e300); inf beyond the float range."""
    expo = math.log(epsilon) - p * math.log(scale)
    return math.exp(expo) if expo < 709.0 else math.inf


def _solve_one(key, C, u, v, eps_s, eps0, opts, backend, cost_of, warm=None):
    """One of the ab / aa / bb problems: the solution and (transport, objective)."""
    if backend == "dense" and not ((u > 0).all() and (v > 0).all()):
        return _solve_on_support(key, C, u, v, eps_s, eps0, opts, warm)
    if backend == "dense":
        sol = None
        if key != "ab":
            sol = loops.dense_symmetric(C, u, eps_s, eps0=eps0, **opts)
            sol = sol if sol.converged else None   # else: the general solver
        if sol is None:
            f0, g0 = warm if warm is not None else (None, None)
            sol = loops.dense(C, u, v, eps_s, eps0=eps0, f0=f0, g0=g0, **opts)
        _extend_potentials(sol, C, u, v)
        transport = float(np.vdot(sol.plan, C))
        mass = float(sol.plan.sum())
        if key != "ab":
            sol.plan = None               # only the (a, b) plan is kept
    else:
        block = max(1, _BLOCK_BYTES // (8 * max(u.shape[0], v.shape[0])))
        sol = loops.online(cost_of(key), u, v, eps_s, eps0=eps0, block=block,
                           symmetric=key != "ab", **opts)
        transport, mass, _ = loops.online_plan_sums(cost_of(key), sol.f, sol.g, u, v,
                                                    sol.eps, block)
    # sol.eps is the target unless max_iter stopped an earlier epsilon stage; zero
    # weights carry no term (their potentials may be anything)
    objective = _wdot(sol.f, u) + _wdot(sol.g, v) - sol.eps * (mass - 1.0)
    return sol, (transport, objective)


def _solve_on_support(key, C, u, v, eps_s, eps0, opts, warm):
    """Points of zero weight carry no mass: solve on the others (a zero weight
    makes a scaling 0 / 0), then embed the plan and extend the potentials."""
    iu, iv = np.flatnonzero(u > 0), np.flatnonzero(v > 0)
    sub = np.ascontiguousarray(C[np.ix_(iu, iv)])
    if warm is not None:
        warm = (warm[0][iu], warm[1][iv])
    sol, term = _solve_one(key, sub, u[iu], v[iv], eps_s, eps0, opts, "dense", None,
                           warm)
    if sol.plan is not None:
        plan = np.zeros(C.shape)
        plan[np.ix_(iu, iv)] = sol.plan
        sol.plan = plan
    f, g = np.full(C.shape[0], np.nan), np.full(C.shape[1], np.nan)
    f[iu], g[iv] = sol.f, sol.g
    sol.f, sol.g = f, g
    _extend_potentials(sol, C, u, v)
    return sol, term


def _wdot(pot, w):
    live = w > 0
    return float(pot[live] @ w[live])


def _extend_potentials(sol, C, u, v):
    """Finite potentials where a weight is zero: the soft c-transform of the other
    side (what they would be with a vanishing weight), so that no NaN or inf leaves
    the solver (0 * inf in a dual objective or a torch gradient)."""
    for pot, other, w, w_other, Ct in ((sol.f, sol.g, u, v, C),
                                       (sol.g, sol.f, v, u, C.T)):
        dead = ~(w > 0) | ~np.isfinite(pot)
        if not dead.any():
            continue
        live = w_other > 0
        M = (other[live][None, :] + sol.eps * np.log(w_other[live])[None, :]
             - Ct[dead][:, live]) / sol.eps
        pot[dead] = -sol.eps * loops.lse_rows(M)


def _refine(prob, C, wa, wb, sol, term, bounds, scale, rtol, opts, proj):
    """Decrease epsilon, warm-started, until the bracket is within ``rtol``."""
    budget = opts["max_iter"] - sol.n_iter
    stages, eps_target = [], sol.eps
    while not within(bounds, rtol, scale) and budget > 0 and sol.converged:
        width = relative_width(bounds)
        factor = min(max(0.5 * rtol / width, 1e-3), 0.5) if math.isfinite(width) else 0.1
        eps = eps_target = sol.eps * factor
        new, term = _solve_one("ab", C, wa, wb, eps, sol.eps,
                               dict(opts, max_iter=budget), "dense", None,
                               warm=(sol.f, sol.g))
        budget -= new.n_iter
        new.n_iter += sol.n_iter
        sol = new
        bounds = certify(prob, C, wa, wb, sol.plan, sol.f, scale, proj)
        stages.append((sol.eps, relative_width(bounds)))
    return sol, term, bounds, stages, eps_target


def _result(prob, sols, terms, scale, unit, debias, backend, bounds, rtol, refine,
            default_eps, tol, max_iter):
    ab = sols[0]
    converged = all(s.converged for s in sols)
    info = {"epsilon": ab.eps * unit, "epsilon_reached": max(s.eps for s in sols) * unit,
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
    value = scale * cost_s ** (1.0 / prob.p)
    if bounds is not None:
        info["bracket_width"] = relative_width(bounds)
    if not converged:
        worst = max(sols, key=lambda s: s.err)
        info["warning"] = not_converged_message(
            "sinkhorn", f"marginal error {worst.err:.3g} > tol={tol:g} after "
                        f"{sum(s.n_iter for s in sols)} iterations (max_iter={max_iter})")
    elif rtol is not None:
        info["refinements"] = refine
        value = min(max(value, bounds[0]), bounds[1])   # inside the bracket
        cost_s = (value / scale) ** prob.p
        if not within(bounds, rtol, scale):
            converged = False
            info["warning"] = not_converged_message(
                "sinkhorn", f"the certified bracket [{bounds[0]:.6g}, {bounds[1]:.6g}] "
                            f"is still wider than rtol={rtol:g} at epsilon "
                            f"{ab.eps * unit:.3g} after {ab.n_iter} iterations "
                            f"(max_iter={max_iter})")
    elif default_eps and bounds is not None and not within(
            (bounds[0], value), DEFAULT_EPS_CHECK, scale):
        info["accuracy_warning"] = (
            f"emdkit method 'sinkhorn': at the default epsilon ({ab.eps * unit:.3g}) the "
            f"value {value:.6g} may be up to {relative_width((bounds[0], value)):.1%} above "
            f"W_p, which "
            f"is certified only to lie in [{bounds[0]:.6g}, {bounds[1]:.6g}]. Pass "
            f"rtol=0.01 for a value certified within 1%, or a smaller epsilon.")
    return Result(value=value, method="sinkhorn", p=prob.p, metric=prob.metric,
                  converged=converged, n_iter=sum(s.n_iter for s in sols),
                  cost=cost_s * unit, plan=ab.plan,
                  potentials=(ab.f * unit, ab.g * unit), bounds=bounds,
                  objective=terms[0][1] * unit, marginal_error=max(s.err for s in sols),
                  info=info)


def _choose_backend(prob, backend, memory_limit, debias):
    # numpy: cost and kernel (plus the kept plan and cost while the debiasing terms
    # are solved); torch adds the dense tensors of the value and its gradient.
    n_mat = (4 if debias else SINKHORN_MATRICES) + (4 + prob.dim if prob.torch else 0)
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
    from ..costs import checked_matrix

    if callable(prob.metric):
        D = checked_matrix(prob.metric(u, v), u.shape[0], v.shape[0])
    else:
        from scipy.spatial.distance import cdist

        # the coordinates rescaled first, as for the (a, b) cost: no overflow in
        # cdist beyond |x| ~ 1e154, and every term on the one common scale
        s_in = pow2_scale(max(np.abs(u).max(), np.abs(v).max()))
        D = cdist(u / s_in, v / s_in, metric=prob.metric)
        D *= s_in / scale        # both powers of two: exact
        return D ** prob.p if prob.p != 1.0 else D
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
        return power_inplace(D, prob.p)

    def cost_of(key):
        u, v = sides[key]

        def block(i0, i1, transpose):
            return power(cdist(v[i0:i1], u, metric=prob.metric) if transpose else
                         cdist(u[i0:i1], v, metric=prob.metric))
        return block

    ia = np.unique(np.linspace(0, prob.n - 1, min(prob.n, _MEAN_COST_SAMPLE)).astype(int))
    ib = np.unique(np.linspace(0, prob.m - 1, min(prob.m, _MEAN_COST_SAMPLE)).astype(int))
    u, v = renormalised(wa[ia]), renormalised(wb[ib])
    mean_cost = float(u @ power(cdist(x[ia], y[ib], metric=prob.metric)) @ v)
    return [None] * (3 if debias else 1), s_in * s_out, cost_of, mean_cost


def _with_weights(pairs, wa, wb):
    weights = [(wa, wb), (wa, wa), (wb, wb)]
    return [(C, u, v) for C, (u, v) in zip(pairs, weights)]
