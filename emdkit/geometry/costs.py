"""Ground costs ``metric(x, y) ** p``: dense matrices in numpy, and paired costs in torch.

The solvers read the numpy matrix; for torch input the value is recomputed in torch on
the support of the plan only (:func:`paired_cost_torch`), so gradients flow and no
(n, m) tensor is built.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..checks import is_tensor
from .units import lost_below, pow2_scale


def lost_pairs(x: np.ndarray, y: np.ndarray, M: np.ndarray, p: float) -> int:
    """How many pairs of distinct points have a scaled cost ``M_ij`` below
    ``lost_below(p)`` (digits lost, perhaps 0): by blocks of rows, for a dense
    ``M``."""
    lost, step, low = 0, max(1, (1 << 20) // max(M.shape[1], 1)), lost_below(p)
    for i0 in range(0, M.shape[0], step):
        ii, jj = np.nonzero(M[i0:i0 + step] < low)
        for k in range(0, len(ii), 1 << 20):
            lost += distinct_pairs(x, y, ii[k:k + (1 << 20)] + i0, jj[k:k + (1 << 20)])
    return lost


def distinct_pairs(x: np.ndarray, y: np.ndarray, ii: np.ndarray, jj: np.ndarray) -> int:
    """How many of the pairs ``(x[ii], y[jj])`` are distinct points."""
    return int(np.count_nonzero((x[ii] != y[jj]).any(1)))


def pair_distances(x: np.ndarray, y: np.ndarray, ii: np.ndarray, jj: np.ndarray,
                   metric: str):
    """``(d, T)``: the named metric's distances between the pairs ``x[ii]``,
    ``y[jj]``, divided by ``T``, the power of two of their largest coordinate
    difference. At their own scale no square underflows for a pair within
    ``2 ** -500`` of the largest, whatever the size of the coordinates."""
    with np.errstate(over="ignore"):
        diff = x[ii] - y[jj]
    half = 1.0
    if not np.isfinite(diff).all():     # coordinates near the float64 limit
        diff, half = x[ii] / 2 - y[jj] / 2, 2.0
    T = pow2_scale(float(np.abs(diff).max())) if diff.size else 1.0
    diff /= T
    if metric == "euclidean":
        d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    elif metric == "cityblock":
        d = np.abs(diff).sum(1)
    else:
        d = np.abs(diff).max(1)
    return d, T * half


def scaled_cost_matrix(x: np.ndarray, y: np.ndarray, metric: Any, p: float,
                       writable: bool = True):
    """``(M, scale)``: the ground cost ``(metric(x, y) / scale) ** p`` as a float64
    (n, m) matrix with entries in [0, 2 ** p), and the power of two ``scale``.

    The true cost is ``scale ** p * M``. Solvers see costs of order one whatever the
    units of the data: POT's network simplex, for one, compares reduced costs with an
    absolute tolerance and returns wrong plans (with no warning) when every cost is
    below about 1e-10. Named metrics are positively homogeneous, so the coordinates
    are rescaled first, which keeps cdist clear of overflow (|x| > 1e154) and
    underflow. With ``writable=False`` the matrix a checked metric returned may come
    back as it is, where nothing is to change (p = 1, entries already in [1, 2)).
    """
    if callable(metric) and getattr(metric, "checked", False):
        # a metric that vouches for its matrix (cost=, checked once on the way in)
        D = np.asarray(metric(x, y), dtype=np.float64, order="C")
        # the largest entry it knows, of the matrix it looks up (a bound for a part)
        s_out = pow2_scale(float(getattr(metric, "largest", None) or D.max()))
        if not writable and s_out == 1.0 and p == 1.0:
            return D, 1.0
        return power_inplace(D / s_out, p), s_out
    if callable(metric):
        D = checked_matrix(metric(x, y), x.shape[0], y.shape[0])
        s_in = 1.0
    else:
        from scipy.spatial.distance import cdist

        s_in = pow2_scale(max(np.abs(x).max(), np.abs(y).max()))
        D = cdist(x / s_in, y / s_in, metric=metric)
    s_out = pow2_scale(float(D.max()))
    if not math.isfinite(s_in * s_out):  # data near the float64 limit: D is O(1) already
        s_out = 1.0
    D /= s_out
    return power_inplace(D, p), s_in * s_out


def scaled_cost_matrix_torch(metric, xt, yt, p: float):
    """For a callable metric and torch input: ``(M, Mt, scale)``, the scaled cost as a
    numpy matrix for the solver and as a differentiable tensor. The metric is called
    once, with the tensors."""
    Mt = metric(xt, yt)
    D = checked_matrix(Mt, xt.shape[0], yt.shape[0])
    scale = pow2_scale(float(D.max()))
    D /= scale
    Mt = Mt / scale
    return power_inplace(D, p), (Mt if p == 1.0 else Mt ** p), scale


def power_inplace(M: np.ndarray, p: float) -> np.ndarray:
    if p == 2.0:
        np.multiply(M, M, out=M)
    elif p != 1.0:
        np.power(M, p, out=M)
    return M


def checked_matrix(out, n: int, m: int) -> np.ndarray:
    """Check what a user metric returned; a float64 copy we may modify in place."""
    if is_tensor(out):
        arr = out.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray(out)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"metric callable must return an (n, m) array of numbers, "
                            f"got {type(out).__name__} ({exc})") from None
    if arr.shape != (n, m):
        raise ValueError(f"metric callable must return the ({n}, {m}) distance matrix, "
                         f"got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"metric callable must return real numbers, got dtype "
                        f"{arr.dtype}")
    arr = np.array(arr, dtype=np.float64, order="C", copy=True)
    if not np.isfinite(arr).all():
        raise ValueError("metric callable returned NaN or inf in the distance matrix")
    if (arr < 0).any():
        raise ValueError(f"metric callable returned negative distances (min "
                         f"{arr.min()}): a distance is non-negative")
    return arr


def paired_cost_torch(xt, yt, metric: str, p: float):
    """``metric(xt[k], yt[k]) ** p`` for matched rows, with zero (not NaN) gradient
    where two points coincide."""
    import torch

    if metric == "euclidean":
        # coordinate by coordinate, in order (as SciPy's cdist sums them): no
        # (..., d) difference tensor, and for (8, 256, 256) pairs in 2-D 8x faster
        # than squaring one and summing over its last axis
        sq = None
        for k in range(xt.shape[-1]):
            dk = xt[..., k] - yt[..., k]
            sq = dk * dk if sq is None else sq.addcmul_(dk, dk)
        if p == 2.0:
            return sq
        pos = sq > 0
        safe = torch.where(pos, sq, torch.ones_like(sq))
        return torch.where(pos, safe ** (p / 2.0), torch.zeros_like(sq))
    diff = xt - yt
    if metric == "cityblock":
        dist = diff.abs().sum(-1)
    elif metric == "chebyshev":
        dist = diff.abs().amax(-1)
    else:  # pragma: no cover - validated earlier
        raise ValueError(f"unknown metric {metric!r}")
    return dist if p == 1.0 else dist ** p
