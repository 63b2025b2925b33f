"""``method="sinkhorn"``: entropic optimal transport, log-stabilised, with epsilon scaling."""

from __future__ import annotations

import math
import time
from typing import NamedTuple, Optional

from ..geometry import epsilon as eps_rules
from .options import choice, flag, positive
from ..geometry.units import rooted_value
from .oned import projection_lower
from ..bounds import (divergence_rounding, relative_width,
                      within)
from ..memory import SINKHORN_MATRICES, available_memory, check_dense_fits
from ..geometry.costs import lost_pairs
from ..geometry.units import scaled_pow, tiny_coordinates
from ..result import Result
from ._common import make_result, not_converged_message
from .entropic import terms as problems

#: With the default epsilon and no ``rtol``, a value more than this far above the
#: certified lower bound (relative) gives a RuntimeWarning.
DEFAULT_EPS_CHECK = 0.05
#: Intermediate epsilon stages stop at this marginal error (the last one at ``tol``).
STAGE_TOL = 1e-2
#: With ``rtol``, the multiscale backend first stops at this marginal error (``tol``
#: if larger), and tightens it tenfold only while rounding the plan onto the marginals
#: is what keeps the bracket wider than ``rtol``: the bracket needs no converged
#: marginals (1e5 + 1e5 2-D points: 6e-3 wide at this tol, 62 s, where tol=1e-6 took
#: over ten minutes).
RTOL_START_TOL = 1e-2
_BACKENDS = ("auto", "dense", "multiscale", "online")
#: The checks of the options (``options.check_options``).
CHECKS = {"epsilon": positive("epsilon", optional=True),
          "rtol": positive("rtol", optional=True), "tol": positive("tol"),
          "max_iter": positive("max_iter", integer=True), "debias": flag("debias"),
          "scaling": positive("scaling", below=1.0),
          "backend": choice("backend", _BACKENDS),
          "memory_limit": positive("memory_limit", optional=True)}
#: ``backend="auto"`` takes the multiscale kernel up to this dimension (the cell tree
#: prunes less as d grows), the online one beyond.
MULTISCALE_MAX_DIM = 5


def sinkhorn(prob, *, epsilon: Optional[float] = None, rtol: Optional[float] = None,
             tol: float = 1e-6, max_iter: int = 10_000, debias: bool = False,
             scaling: float = 0.5, backend: str = "auto",
             memory_limit: Optional[float] = None) -> Result:
    """Entropic optimal transport by log-stabilised Sinkhorn iterations.

    Solves ``OT_eps = min_P <P, C> + epsilon KL(P | a x b)``, ``C = metric ** p``, and
    returns the transport cost of the entropic plan rooted, ``<P_eps, C> ** (1/p)``, or
    with ``debias=True`` the rooted Sinkhorn divergence
    ``S = OT_eps(a, b) - OT_eps(a, a)/2 - OT_eps(b, b)/2``. The plan is blurred over
    about ``epsilon ** (1/p)``, so the cost exceeds W_p^p by roughly ``epsilon d / 2``;
    the divergence removes that first-order bias (for p = 2 and a translation by t it
    is ``|t| ** 2`` at every epsilon). ``Result.bounds`` (dense, multiscale) certifies
    W_p: above, the entropic plan rounded onto the marginals (Altschuler, Weed &
    Rigollet 2017); below, the dual of its c-transformed potentials and a 1-D
    projection.

    Other Parameters
    ----------------
    rtol : float, optional
        Certify the value: decrease epsilon (warm-started) until the bracket on W_p
        is no wider than ``rtol`` relative; the value returned lies in it. Not with
        ``debias=True`` (the divergence is not W_p) or the online backend. If
        ``max_iter`` runs out first, or the bracket stops narrowing: ``converged=False``
        and a ``RuntimeWarning``. Multiscale: marginal error ``max(tol, 1e-2)`` first,
        tightened only while rounding keeps the bracket wide (``RTOL_START_TOL``);
        it stops at the first level of cells whose bracket on the points is within
        ``rtol`` (``info["multiscale"]["level"]``: the cells and their plan), the
        value then the dual objective of the returned potentials, ``plan`` None.
        Without ``rtol``, at the default epsilon, a value that the bracket cannot
        place within 5% of W_p gives a ``RuntimeWarning``.
    epsilon : float, optional
        Regularisation, absolute, in the units of ``metric ** p``. Default ``1e-3 *``
        the mean cost of the independent coupling (``sum_ij a_i b_j C_ij``): within
        about 1% of W_p^p on low-dimensional data whose spread is not large against
        the distance. Taken as at most ``1e8`` times the largest cost (the plan is
        then the independent coupling to 1e-8).
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
    backend : {"auto", "dense", "multiscale", "online"}
        ``dense`` keeps the (n, m) cost and kernel in memory (fastest while it fits).
        ``multiscale``: large clouds in low dimension, coarse-to-fine levels and a
        truncated kernel of O((n + m) k) pairs (those within ``20 epsilon`` or more
        of the reduced cost's minimum: the rest carry under a tenth of the target
        marginal error, ``info["multiscale"]``), with a certified
        bracket; its default epsilon is the smaller of the above and the one that
        keeps about 128 pairs per point (so the value is closer to W_p). ``online``
        recomputes the cost by blocks, O((n + m) * block) memory and O(n m d) time
        per iteration. ``auto``: dense when its matrices (measured: 3.25 of (n, m)
        float64, 4 with debias) fit in half the available memory, else multiscale
        up to 5 dimensions (named metric, numpy input), else online. Asked for by
        name, ``multiscale`` takes any dimension and stays exact in what it
        certifies, but beyond 5 its cell tree prunes little (about 2^d neighbouring
        cells a cell), so it is slower than there: ``auto`` does not choose it.
    memory_limit : float, optional
        Bytes the dense backend may use.
    """
    o = _checked(epsilon, rtol, tol, max_iter, debias, scaling, backend, memory_limit)
    start = time.perf_counter()
    backend = _choose_backend(prob, o.backend, o.memory_limit, debias, o.rtol)
    probs = problems.build(prob, backend, debias)
    eps_s, clamped = _epsilon(o.epsilon, probs, prob.p)
    opts = dict(tol=max(o.tol, RTOL_START_TOL) if o.rtol and backend == "multiscale"
                else o.tol, max_iter=o.max_iter, scaling=o.scaling, stage_tol=STAGE_TOL)
    eps0 = max(eps_s, probs.max_cost)
    proj = _projection(prob, probs, backend, debias, o.rtol)
    sols, terms = map(list, zip(*[problems.solve_term(
        t.geometry(), t.a, t.b, t.symmetric, eps_s, eps0, opts) for t in probs.terms]))
    bounds, refine = None, None
    if backend in ("dense", "multiscale") and not debias:
        bounds, refine, eps_s = _certified(prob, probs, sols, terms, o, opts, eps_s, proj)
    return _result(prob, start, sols, terms, probs, o, debias, backend, bounds, refine,
                   eps_s, clamped, _lost_digits(prob, probs, backend))


def _lost_digits(prob, probs, backend) -> Optional[str]:
    """Where distinct points are so close that their costs underflow next to costs of
    order one (``costs.tiny_coordinates``, then on the dense matrix
    ``costs.lost_pairs``), the warning that the value may miss them; else None."""
    if callable(prob.metric) or not tiny_coordinates(prob.x, prob.y, probs.scale,
                                                     prob.p):
        return None
    if backend == "dense":
        count = lost_pairs(prob.x, prob.y, probs.terms[0].geometry().matrix, prob.p)
        if not count:
            return None
        what = f"{count} pair{'s' if count > 1 else ''} of distinct points " \
               f"{'are' if count > 1 else 'is'}"
    else:
        what = "some coordinates are nonzero and so small that pairs of points may be"
    return not_converged_message(
        "sinkhorn", f"{what} closer than float64 resolves next to the largest distance "
                    f"(about {probs.scale:.3g}, at p={prob.p:g}): their costs underflow, and "
                    f"the value and bracket may miss them; method='exact' computes the "
                    f"cost of its plan at the scale of the distances it moves")


class _Options(NamedTuple):
    epsilon: Optional[float]
    rtol: Optional[float]
    tol: float
    max_iter: int
    scaling: float
    backend: str
    memory_limit: Optional[float]


def _checked(epsilon, rtol, tol, max_iter, debias, scaling, backend,
             memory_limit) -> _Options:
    """The options (each validated: ``CHECKS``) as one record; rtol and debias
    together refused."""
    if rtol is not None and debias:
        raise ValueError("rtol certifies W_p, and with debias=True the value is the "
                         "Sinkhorn divergence, which is not W_p: pass one of them")
    return _Options(epsilon, rtol, tol, max_iter, scaling, backend, memory_limit)


def _epsilon(epsilon, probs, p):
    """``(epsilon in the scaled units, clamped)`` (``geometry.epsilon.scaled``)."""
    return eps_rules.scaled(epsilon, probs.mean_cost, probs.max_cost, probs.scale, p,
                            probs.eps_sparse)


def _projection(prob, probs, backend, debias, rtol):
    """The projection lower bound where a bracket is certified (once: it does not
    change with epsilon), else None; with ``rtol`` on the multiscale backend, its
    geometry told to stop at the first level within it."""
    if backend not in ("dense", "multiscale") or debias:
        return None
    proj = projection_lower(prob)
    if rtol is not None and backend == "multiscale":
        probs.terms[0].geometry().stop_within(rtol, probs.scale, proj)
    return proj


def _certified(prob, probs, sols, terms, o, opts, eps_s, proj):
    """The bracket on W_p of the (a, b) solution and, with ``rtol``, the refinement
    that brings it within (``sols[0]`` and ``terms[0]`` replaced): ``(bounds,
    refinements or None, the epsilon aimed at)``."""
    geom, (wa, wb) = probs.terms[0].geometry(), prob.weights()
    bounds = geom.bracket(prob, sols[0], wa, wb, probs.scale, proj)
    if o.rtol is None:
        return bounds, None, eps_s
    sols[0], terms[0], bounds, refine, eps_s = _refine(
        prob, geom, wa, wb, sols[0], terms[0], bounds, probs.scale, o.rtol, opts, proj,
        o.tol)
    return bounds, refine, eps_s


def _refine(prob, C, wa, wb, sol, term, bounds, scale, rtol, opts, proj, final_tol):
    """Refine, warm-started, until the bracket is within ``rtol``: a tenfold smaller
    marginal tolerance (down to ``final_tol``) while rounding the plan costs more than
    its entropic blur (the upper bound's excess over the plan's own cost against the
    rest of the width) or a smaller epsilon did not narrow it, else a smaller
    epsilon. Stops when a tighter tolerance does not narrow the width either.
    ``(solution, term, bounds, [(epsilon, bracket width) per refinement], the epsilon
    aimed at last)``."""
    opts = dict(opts)                 # its tol is tightened here
    budget = opts["max_iter"] - sol.n_iter
    stages, target, width = [], sol.eps, relative_width(bounds)
    stuck = False                     # the last smaller epsilon did not help
    best = (sol, term, bounds, target)
    while not within(bounds, rtol) and budget > 0 and sol.converged:
        blur = rooted_value(term[0], scale, prob.p)          # the plan's own cost
        if opts["tol"] > final_tol and (stuck or bounds[1] - blur >= blur - bounds[0]):
            opts["tol"] = max(final_tol, 0.1 * opts["tol"])
            target, tightened = sol.eps, True
        else:
            tightened = False
            factor = min(max(0.5 * rtol / width, 1e-3), 0.5) if math.isfinite(width) else 0.1
            target = sol.eps * factor
        new, term = problems.solve_term(C, wa, wb, False, target, sol.eps,
                                        dict(opts, max_iter=budget), warm=(sol.f, sol.g))
        budget -= new.n_iter
        new.n_iter += sol.n_iter
        sol = new
        bounds = C.bracket(prob, sol, wa, wb, scale, proj)
        stages.append((sol.eps, relative_width(bounds)))
        stuck = not stages[-1][1] < width
        if not stuck:
            best, width = (sol, term, bounds, target), stages[-1][1]
        elif tightened or not opts["tol"] > final_tol:
            break                     # no progress: the warning says how wide it is
    sol, term, bounds, target = best  # the narrowest bracket
    return sol, term, bounds, stages, target


def _result(prob, start, sols, terms, probs, o, debias, backend, bounds, refine, eps_s,
            clamped, lost=None):
    ab, scale = sols[0], probs.scale
    unit = scaled_pow(scale, prob.p)
    if lost is not None and bounds is not None:
        bounds = (bounds[0], math.inf)    # the lower end holds (costs only rounded down)
    converged = all(s.converged for s in sols)
    info = {"epsilon": eps_s * unit, "epsilon_reached": max(s.eps for s in sols) * unit,
            "epsilon_plan": ab.eps * unit,
            "epsilon_clamped": clamped, "backend": backend, "n_stages": ab.n_stages,
            "n_newton": sum(s.n_newton for s in sols),
            "n_rescues": sum(s.n_rescues for s in sols),
            "cost_scale": scale, "transport_cost": terms[0][0] * unit,
            **probs.terms[0].geometry().info()}
    if debias:
        S = terms[0][1] - 0.5 * terms[1][1] - 0.5 * terms[2][1]
        info["divergence_terms"] = {k: t[1] * unit for k, t in zip(("ab", "aa", "bb"), terms)}
        # the (a, a) and (b, b) problems' potentials and epsilons: with the (a, b)
        # ones they give the divergence's derivative in an empty bin's weight (_live)
        info["self_potentials"] = tuple((s.g * unit, s.eps * unit) for s in sols[1:3])
        info["negative_divergence"] = S < 0
        noise = divergence_rounding(terms[0][1], terms[1][1], terms[2][1],
                                    prob.n + prob.m)
        cost_s = S if S > noise else 0.0      # rounding alone: 0, not its p-th root
    else:
        cost_s = terms[0][0]
    value = rooted_value(cost_s, scale, prob.p)
    if bounds is not None:
        info["bracket_width"] = relative_width(bounds)
    if not converged:
        worst = max(sols, key=lambda s: s.err)
        info["warning"] = not_converged_message(
            "sinkhorn", f"marginal error {worst.err:.3g} > tol={o.tol:g} after "
                        f"{sum(s.n_iter for s in sols)} iterations (max_iter={o.max_iter})")
    elif o.rtol is not None:
        info["refinements"] = refine
        value = min(max(value, bounds[0]), bounds[1])   # inside the bracket
        cost_s = (value / scale) ** prob.p
        if not within(bounds, o.rtol):
            converged = False
            info["warning"] = not_converged_message(
                "sinkhorn", f"the certified bracket [{bounds[0]:.6g}, {bounds[1]:.6g}] "
                            f"is still wider than rtol={o.rtol:g} at epsilon "
                            f"{ab.eps * unit:.3g} after {ab.n_iter} iterations "
                            f"(max_iter={o.max_iter})")
    elif o.epsilon is None and bounds is not None and not within(
            (bounds[0], value), DEFAULT_EPS_CHECK):
        # a value that may be wrong is converged=False with its warning (the contract)
        converged = False
        info["warning"] = _accuracy_warning(ab.eps * unit, value, bounds)
    if lost is not None:
        converged, info["warning"] = False, lost

    def torch_cost():
        from .entropic.autodiff import torch_cost as cost_t

        keep = {}
        t = cost_t(prob, sols, scale, probs.terms[0].geometry().matrix, debias, keep)
        if "adjoint" in keep:     # the derivative in an empty bin's weight (_live)
            info["adjoint"] = tuple(lam * unit for lam in keep["adjoint"])
        # with rtol: the certified value, with the entropic gradient
        return (t + (cost_s - float(t.detach())) if o.rtol is not None else t), scale

    return make_result(prob, "sinkhorn", start, cost=cost_s, scale=scale, value=value,
                       torch_cost=torch_cost, plan=ab.plan, potentials=(ab.f, ab.g),
                       converged=converged, n_iter=sum(s.n_iter for s in sols),
                       bounds=bounds, objective=terms[0][1] * unit,
                       marginal_error=max(s.err for s in sols), info=info)


def _accuracy_warning(eps, value, bounds):
    width = relative_width((bounds[0], value))
    how = (f"may be up to {width:.1%} above W_p" if math.isfinite(width) else
           "has no bound on its relative error (a W_p of 0 or nearly: equal samples?)")
    return (f"emdkit method 'sinkhorn': at the default epsilon ({eps:.3g}) the "
            f"value {value:.6g} {how}, which is certified only to lie in "
            f"[{bounds[0]:.6g}, {bounds[1]:.6g}]. Pass rtol=0.01 for a value certified "
            f"within 1%, or a smaller epsilon; Result.converged is False.")


def _choose_backend(prob, backend, memory_limit, debias, rtol):
    # numpy: cost and kernel (plus the kept plan and cost while the debiasing terms
    # are solved); torch adds the dense tensors of the value and its gradient.
    n_mat = (4 if debias else SINKHORN_MATRICES) + (4 + prob.dim if prob.torch else 0)
    need = 8.0 * prob.n * prob.m * n_mat
    if backend == "auto":
        budget = memory_limit if memory_limit is not None else (available_memory() or
                                                                 math.inf) / 2
        backend = "dense" if need <= budget else (
            "multiscale" if prob.dim <= MULTISCALE_MAX_DIM and not callable(prob.metric)
            else "online")
    if backend == "dense":
        check_dense_fits(prob.n, prob.m, n_mat, "sinkhorn", memory_limit)
        return backend
    if prob.torch:
        raise ValueError(
            f"method='sinkhorn' with torch input needs the dense (n, m) matrices to "
            f"differentiate, and {prob.n} x {prob.m} does not fit the memory budget; "
            f"pass numpy arrays for the value alone (backend={backend!r}), or subsample")
    if callable(prob.metric):
        raise ValueError(f"the {backend} Sinkhorn backend takes a named metric, not a "
                         f"callable (the dense backend does)")
    if rtol is not None and backend == "online":
        raise ValueError(f"rtol needs a backend with a certified bracket (dense or "
                         f"multiscale), and the online backend was chosen for "
                         f"{prob.n} x {prob.m} points in {prob.dim}-D; pass "
                         f"backend='multiscale', or use method='sliced' or subsample")
    return backend
