"""The problems the driver solves: geometries, the divergence's three terms, and one
function that solves a term whatever its backend.

A *geometry* is the cost of a pair of samples on a common scale, with what it takes
to solve on it: ``operator(a, b, symmetric, warm)`` (the driver's operator),
``restrict(iu, iv)`` (the cost between subsets, dense only), ``extend(sol, a, b)``
(finite potentials where a weight is zero) and ``dense`` (whether the (n, m) matrix
is in memory, as ``matrix``). ``DenseCost`` and ``OnlineCost`` are the two today.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

from ...costs import pow2_scale, power_inplace, scaled_cost_matrix
from .._common import renormalised
from . import driver
from .dense import DenseKernel
from .online import OnlineBlocks

_BLOCK_BYTES = 32 * 2 ** 20
_MEAN_COST_SAMPLE = 2000


class _Geometry:
    """What the geometries share: one driver solve on their operator."""

    def solve(self, a, b, symmetric, eps, eps0, opts, warm=None):
        """``(Solution, (transport cost, mass))`` of OT_eps(a, b) on this geometry."""
        op = self.operator(a, b, symmetric=symmetric, warm=warm)
        sol = driver.solve(op, a, b, eps, eps0=eps0, **opts)
        return sol, op.totals(sol)

    def bracket(self, prob, sol, a, b, scale, projection):
        return None                 # no certificate on this geometry

    def info(self) -> dict:
        return {}


class DenseCost(_Geometry):
    """The (n, m) scaled cost matrix in memory."""

    dense = True

    def __init__(self, C: np.ndarray):
        self.matrix = C

    def operator(self, a, b, symmetric=False, warm=None):
        f0, g0 = warm if warm is not None else (None, None)
        return DenseKernel(self.matrix, a, b, symmetric=symmetric, f0=f0, g0=g0)

    def restrict(self, iu, iv):
        return DenseCost(np.ascontiguousarray(self.matrix[np.ix_(iu, iv)]))

    def bracket(self, prob, sol, a, b, scale, projection):
        from ...bounds import certify

        return certify(prob, self.matrix, a, b, sol.plan, sol.f, scale, projection)

    def extend(self, sol, u, v):
        """Finite potentials where a weight is zero: the soft c-transform of the other
        side (what they would be with a vanishing weight), so that no NaN or inf
        leaves the solver (0 * inf in a dual objective or a torch gradient)."""
        C = self.matrix
        for pot, other, w, w_other, Ct in ((sol.f, sol.g, u, v, C),
                                           (sol.g, sol.f, v, u, C.T)):
            dead = ~(w > 0) | ~np.isfinite(pot)
            if not dead.any():
                continue
            live = w_other > 0
            M = (other[live][None, :] + sol.eps * np.log(w_other[live])[None, :]
                 - Ct[dead][:, live]) / sol.eps
            pot[dead] = -sol.eps * driver.lse_rows(M)


class OnlineCost(_Geometry):
    """The cost recomputed by blocks of rows from the (scaled) coordinates."""

    dense = False

    def __init__(self, cost_block: Callable, n: int, m: int):
        self.cost_block = cost_block
        self.block = max(1, _BLOCK_BYTES // (8 * max(n, m)))

    def operator(self, a, b, symmetric=False, warm=None):
        return OnlineBlocks(self.cost_block, a, b, block=self.block, symmetric=symmetric)

    def extend(self, sol, u, v):
        pass        # every potential is a soft c-transform already


@dataclass
class Term:
    """One of the problems (a, b), (a, a), (b, b) of the divergence."""
    key: str
    a: np.ndarray
    b: np.ndarray
    geometry: Callable[[], object]   # built when solved: one (n, m) matrix at a time

    @property
    def symmetric(self) -> bool:
        return self.key != "ab"


@dataclass
class Problems:
    terms: List[Term]
    scale: float        # the costs are (metric / scale) ** p
    mean_cost: float    # of the independent coupling, scaled
    max_cost: float     # scaled
    eps_sparse: Optional[float] = None   # multiscale: the epsilon of a sparse kernel


def build(prob, backend: str, debias: bool) -> Problems:
    """The (a, b) problem and, for the divergence, (a, a) and (b, b), on one scale,
    as dense or online geometries. The (a, b) geometry is built at once (its scale
    is everyone's), the others when solved."""
    wa, wb = prob.weights()
    make = {"dense": _dense, "online": _online, "multiscale": _multiscale}[backend]
    geometries, scale, mean_cost, max_cost = make(prob, debias, wa, wb)
    weights = {"ab": (wa, wb), "aa": (wa, wa), "bb": (wb, wb)}
    terms = [Term(key, *weights[key], geom) for key, geom in geometries]
    eps_sparse = terms[0].geometry().sparse_epsilon(wa, wb) if backend == "multiscale" \
        else None
    return Problems(terms, scale, mean_cost, max_cost, eps_sparse)


def _dense(prob, debias, wa, wb):
    if prob.torch and callable(prob.metric):   # the callable gets tensors
        from ...costs import scaled_cost_matrix_torch

        C_ab, _, scale = scaled_cost_matrix_torch(prob.metric, prob.xt, prob.yt, prob.p)
        sides = {"aa": (prob.xt, prob.xt), "bb": (prob.yt, prob.yt)}
    else:
        C_ab, scale = scaled_cost_matrix(prob.x, prob.y, prob.metric, prob.p)
        sides = {"aa": (prob.x, prob.x), "bb": (prob.y, prob.y)}
    ab = DenseCost(C_ab)
    geometries = [("ab", lambda: ab)]
    if debias:
        geometries += [(key, lambda u=u, v=v: DenseCost(_cost_at_scale(prob, u, v, scale)))
                       for key, (u, v) in sides.items()]
    return geometries, scale, float(wa @ (C_ab @ wb)), float(C_ab.max())


def _cost_at_scale(prob, u, v, scale):
    """``(metric(u, v) / scale) ** p`` as a numpy matrix."""
    from ...costs import checked_matrix

    if callable(prob.metric):
        D = checked_matrix(prob.metric(u, v), u.shape[0], v.shape[0])
        D /= scale
    else:
        from scipy.spatial.distance import cdist

        # the coordinates rescaled first, as for the (a, b) cost: no overflow in
        # cdist beyond |x| ~ 1e154, and every term on the one common scale
        s_in = pow2_scale(max(np.abs(u).max(), np.abs(v).max()))
        D = cdist(u / s_in, v / s_in, metric=prob.metric)
        D *= s_in / scale        # both powers of two: exact
    return D ** prob.p if prob.p != 1.0 else D


def _scaled_coordinates(prob):
    """``(x, y, scale)``: the samples divided by a power of two ``scale`` so that
    every distance between them is below 2 (exact: powers of two)."""
    s_in = pow2_scale(max(np.abs(prob.x).max(), np.abs(prob.y).max()))
    x, y = prob.x / s_in, prob.y / s_in
    span = np.maximum(x.max(0), y.max(0)) - np.minimum(x.min(0), y.min(0))
    bound = {"euclidean": float(np.sqrt((span ** 2).sum())),
             "cityblock": float(span.sum()), "chebyshev": float(span.max())}[prob.metric]
    s_out = pow2_scale(bound)
    if not math.isfinite(s_in * s_out):
        s_out = 1.0
    return x / s_out, y / s_out, s_in * s_out


def _mean_cost(prob, x, y, wa, wb):
    """The mean cost of the independent coupling, on an evenly spaced subsample."""
    from scipy.spatial.distance import cdist

    ia = np.unique(np.linspace(0, prob.n - 1, min(prob.n, _MEAN_COST_SAMPLE)).astype(int))
    ib = np.unique(np.linspace(0, prob.m - 1, min(prob.m, _MEAN_COST_SAMPLE)).astype(int))
    u, v = renormalised(wa[ia]), renormalised(wb[ib])
    return float(u @ power_inplace(cdist(x[ia], y[ib], metric=prob.metric), prob.p) @ v)


def _multiscale(prob, debias, wa, wb):
    """Multiscale geometries (``multiscale.MultiscaleCost``) on the scaled coordinates."""
    from .multiscale import MultiscaleCost

    x, y, scale = _scaled_coordinates(prob)
    sides = {"ab": (x, y), "aa": (x, x), "bb": (y, y)}
    keys = ("ab", "aa", "bb") if debias else ("ab",)
    ab = MultiscaleCost(x, y, prob.metric, prob.p)
    geoms = [("ab", lambda: ab)] + [
        (k, lambda k=k: MultiscaleCost(*sides[k], prob.metric, prob.p)) for k in keys[1:]]
    return geoms, scale, _mean_cost(prob, x, y, wa, wb), 2.0 ** prob.p


def _online(prob, debias, wa, wb):
    """Block-cost geometries on the scaled coordinates, and the mean cost of the
    independent coupling on an evenly spaced subsample."""
    from scipy.spatial.distance import cdist

    x, y, scale = _scaled_coordinates(prob)

    def geometry(u, v):
        def block(i0, i1, transpose):
            D = (cdist(v[i0:i1], u, metric=prob.metric) if transpose else
                 cdist(u[i0:i1], v, metric=prob.metric))
            return power_inplace(D, prob.p)
        return OnlineCost(block, u.shape[0], v.shape[0])

    sides = {"ab": (x, y), "aa": (x, x), "bb": (y, y)}
    keys = ("ab", "aa", "bb") if debias else ("ab",)
    return ([(k, lambda k=k: geometry(*sides[k])) for k in keys], scale,
            _mean_cost(prob, x, y, wa, wb), 2.0 ** prob.p)   # scaled distances below 2


def solve_term(geom, u, v, symmetric, eps, eps0, opts, warm=None):
    """Solve one problem on ``geom``: the solution and (transport cost, objective).
    Symmetric problems take the averaged update (the general one if it fails);
    on a dense geometry, points of zero weight are solved around."""
    if geom.dense and not ((u > 0).all() and (v > 0).all()):
        return _on_support(geom, u, v, symmetric, eps, eps0, opts, warm)
    sol = None
    if symmetric:
        sol, (transport, mass) = geom.solve(u, u, True, eps, eps0, opts)
        sol = sol if sol.converged else None
    if sol is None:
        sol, (transport, mass) = geom.solve(u, v, False, eps, eps0, opts, warm)
    geom.extend(sol, u, v)
    if symmetric:
        sol.plan = None               # only the (a, b) plan is kept
    # sol.eps is the target unless max_iter stopped an earlier epsilon stage; zero
    # weights carry no term (their potentials may be anything)
    objective = _wdot(sol.f, u) + _wdot(sol.g, v) - sol.eps * (mass - 1.0)
    return sol, (transport, objective)


def _on_support(geom, u, v, symmetric, eps, eps0, opts, warm):
    """Points of zero weight carry no mass: solve on the others (a zero weight
    makes a scaling 0 / 0), then embed the plan and extend the potentials."""
    iu, iv = np.flatnonzero(u > 0), np.flatnonzero(v > 0)
    if warm is not None:
        warm = (warm[0][iu], warm[1][iv])
    sol, term = solve_term(geom.restrict(iu, iv), u[iu], v[iv], symmetric, eps, eps0,
                           opts, warm)
    n, m = u.shape[0], v.shape[0]
    if sol.plan is not None:
        plan = np.zeros((n, m))
        plan[np.ix_(iu, iv)] = sol.plan
        sol.plan = plan
    f, g = np.full(n, np.nan), np.full(m, np.nan)
    f[iu], g[iv] = sol.f, sol.g
    sol.f, sol.g = f, g
    geom.extend(sol, u, v)
    return sol, term


def _wdot(pot, w):
    live = w > 0
    return float(pot[live] @ w[live])
