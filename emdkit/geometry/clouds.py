"""Geometries of a pair of samples: the cost ``(metric / scale) ** p`` on one common
power-of-two scale, in the form a solver reads it.

- :class:`DenseCost`: the (n, m) matrix in memory.
- :class:`OnlineCost`: the cost recomputed by blocks of rows from the scaled
  coordinates, O((n + m) * block) memory.
- ``multiscale.CellGrid`` (its own module): the clouds on one grid of nested cells.

:func:`build` makes the (a, b) geometry and, for a debiased value, the (a, a) and
(b, b) ones on the same scale (each built when first asked for: one (n, m) matrix at
a time), with what sets epsilon: the mean cost of the independent coupling and the
largest cost. No solver is imported here: a solver reads a geometry, never the
other way round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import numpy as np

from .costs import checked_matrix, power_inplace, scaled_cost_matrix
from .units import pow2_scale

_BLOCK_BYTES = 32 * 2 ** 20
_MEAN_COST_SAMPLE = 2000
#: the three problems of the Sinkhorn divergence, by the samples on either side
SIDES = {"ab": ("x", "y"), "aa": ("x", "x"), "bb": ("y", "y")}


class DenseCost:
    """The (n, m) scaled cost matrix in memory, ``matrix``."""

    dense = True

    def __init__(self, C: np.ndarray):
        self.matrix = C

    def restrict(self, iu, iv) -> "DenseCost":
        """The cost between the rows ``iu`` and the columns ``iv``."""
        return DenseCost(np.ascontiguousarray(self.matrix[np.ix_(iu, iv)]))


class OnlineCost:
    """The cost recomputed by blocks of rows: ``cost_block(i0, i1, transpose)`` is
    rows ``i0:i1`` (of the transpose with ``transpose``); ``block`` rows a time."""

    dense = False

    def __init__(self, cost_block: Callable, n: int, m: int):
        self.cost_block = cost_block
        self.block = max(1, _BLOCK_BYTES // (8 * max(n, m)))


@dataclass
class Geometries:
    """The geometries of the (a, b) problem and, where asked for, (a, a) and (b, b),
    on one scale: the true cost is ``scale ** p`` times theirs."""

    make: Dict[str, Callable[[], object]]   # "ab", "aa", "bb" -> the geometry
    scale: float
    mean_cost: float     # of the independent coupling, scaled
    max_cost: float      # scaled (a bound where the matrix is not formed)

    def __getitem__(self, key: str):
        return self.make[key]()


def build(prob, backend: str, keys: Tuple[str, ...] = ("ab",)) -> Geometries:
    """The geometries ``keys`` (of ``SIDES``) of the validated problem ``prob`` on
    ``backend`` ("dense", "online" or "multiscale"), on the scale of the (a, b)
    cost. The (a, b) geometry is built at once (its scale is everyone's)."""
    wa, wb = prob.weights()
    if backend == "dense":
        return _dense(prob, keys, wa, wb)
    x, y, scale = scaled_coordinates(prob)
    pts = {"x": x, "y": y}
    if backend == "online":
        def make(u, v):
            return _online(u, v, prob.metric, prob.p)
    else:
        from .multiscale import CellGrid

        def make(u, v):
            return CellGrid(u, v, prob.metric, prob.p)
    ab = make(x, y)
    geoms = {"ab": lambda: ab}
    geoms.update({k: (lambda k=k: make(*(pts[s] for s in SIDES[k])))
                  for k in keys if k != "ab"})
    # scaled distances are below 2 (scaled_coordinates)
    return Geometries(geoms, scale, mean_cost(prob, x, y, wa, wb), 2.0 ** prob.p)


def _dense(prob, keys, wa, wb) -> Geometries:
    if prob.torch and callable(prob.metric):   # the callable gets tensors
        from .costs import scaled_cost_matrix_torch

        C_ab, _, scale = scaled_cost_matrix_torch(prob.metric, prob.xt, prob.yt, prob.p)
        pts = {"x": prob.xt, "y": prob.yt}
    else:
        C_ab, scale = scaled_cost_matrix(prob.x, prob.y, prob.metric, prob.p)
        pts = {"x": prob.x, "y": prob.y}
    ab = DenseCost(C_ab)
    geoms = {"ab": lambda: ab}
    geoms.update({k: (lambda k=k: DenseCost(cost_at_scale(
        prob, *(pts[s] for s in SIDES[k]), scale))) for k in keys if k != "ab"})
    return Geometries(geoms, scale, float(wa @ (C_ab @ wb)), float(C_ab.max()))


def cost_at_scale(prob, u, v, scale: float) -> np.ndarray:
    """``(metric(u, v) / scale) ** p`` as a numpy matrix."""
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


def scaled_coordinates(prob):
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


def mean_cost(prob, x, y, wa, wb) -> float:
    """The mean cost of the independent coupling, on an evenly spaced subsample."""
    from scipy.spatial.distance import cdist

    ia = np.unique(np.linspace(0, prob.n - 1, min(prob.n, _MEAN_COST_SAMPLE)).astype(int))
    ib = np.unique(np.linspace(0, prob.m - 1, min(prob.m, _MEAN_COST_SAMPLE)).astype(int))
    u, v = wa[ia], wb[ib]
    u, v = u / u.sum(), v / v.sum()
    return float(u @ power_inplace(cdist(x[ia], y[ib], metric=prob.metric), prob.p) @ v)


def _online(u, v, metric, p) -> OnlineCost:
    from scipy.spatial.distance import cdist

    def block(i0, i1, transpose):
        D = (cdist(v[i0:i1], u, metric=metric) if transpose else
             cdist(u[i0:i1], v, metric=metric))
        return power_inplace(D, p)
    return OnlineCost(block, u.shape[0], v.shape[0])
