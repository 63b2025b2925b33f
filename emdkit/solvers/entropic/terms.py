"""The problems the Sinkhorn engine solves: the divergence's three terms on the
geometries of ``emdkit.geometry``, and one function that solves a term whatever its
backend.

A geometry (``geometry.clouds``) holds the cost; here each gets what it takes to solve
on it: ``operator(a, b, symmetric, warm)`` (the driver's operator), ``restrict(iu,
iv)`` (the cost between subsets, dense only), ``extend(sol, a, b)`` (finite potentials
where a weight is zero), ``bracket`` (the certificate) and ``dense`` (whether the (n,
m) matrix is in memory, as ``matrix``): :class:`DenseSolve`, :class:`OnlineSolve` and
``multiscale.MultiscaleSinkhorn``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional

import numpy as np

from ...geometry import clouds
from . import driver
from .dense import DenseOperator
from .online import OnlineBlocks


class _Solve:
    """What the solvers of the geometries share: one driver solve on their operator."""

    def solve(self, a, b, symmetric, eps, eps0, opts, warm=None):
        """``(Solution, (transport cost, mass))`` of OT_eps(a, b) on this geometry."""
        op = self.operator(a, b, symmetric=symmetric, warm=warm)
        sol = driver.solve(op, a, b, eps, eps0=eps0, **opts)
        return sol, op.totals(sol)

    def bracket(self, prob, sol, a, b, scale, projection):
        return None                 # no certificate on this geometry

    def info(self) -> dict:
        return {}


class DenseSolve(_Solve):
    """Sinkhorn on a :class:`~emdkit.geometry.clouds.DenseCost`."""

    dense = True

    def __init__(self, geom: clouds.DenseCost):
        self.geometry = geom
        self.matrix = geom.matrix

    def operator(self, a, b, symmetric=False, warm=None):
        f0, g0 = warm if warm is not None else (None, None)
        return DenseOperator(self.matrix, a, b, symmetric=symmetric, f0=f0, g0=g0)

    def restrict(self, iu, iv):
        return DenseSolve(self.geometry.restrict(iu, iv))

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


class OnlineSolve(_Solve):
    """Sinkhorn on an :class:`~emdkit.geometry.clouds.OnlineCost`."""

    dense = False

    def __init__(self, geom: clouds.OnlineCost):
        self.geometry = geom

    def operator(self, a, b, symmetric=False, warm=None):
        g = self.geometry
        return OnlineBlocks(g.cost_block, a, b, block=g.block, symmetric=symmetric)

    def extend(self, sol, u, v):
        pass        # every potential is a soft c-transform already


def solver_for(geom):
    """The Sinkhorn solve of a geometry."""
    if isinstance(geom, clouds.DenseCost):
        return DenseSolve(geom)
    if isinstance(geom, clouds.OnlineCost):
        return OnlineSolve(geom)
    from .multiscale import MultiscaleSinkhorn

    return MultiscaleSinkhorn(geom)


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
    """The (a, b) problem and, for the divergence, (a, a) and (b, b), on one scale
    (``geometry.clouds.build``). The (a, b) solver is made once and kept (its
    state: the multiscale levels' statistics, a stop asked for); the others when
    solved, and dropped after (one (n, m) matrix at a time)."""
    wa, wb = prob.weights()
    keys = ("ab", "aa", "bb") if debias else ("ab",)
    geoms = clouds.build(prob, backend, keys)
    weights = {"ab": (wa, wb), "aa": (wa, wa), "bb": (wb, wb)}
    ab = solver_for(geoms["ab"])
    terms = [Term(key, *weights[key], (lambda: ab) if key == "ab" else
                  (lambda k=key: solver_for(geoms[k]))) for key in keys]
    eps_sparse = terms[0].geometry().sparse_epsilon(wa, wb) if backend == "multiscale" \
        else None
    return Problems(terms, geoms.scale, geoms.mean_cost, geoms.max_cost, eps_sparse)


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
