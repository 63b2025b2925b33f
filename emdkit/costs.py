"""Ground costs ``metric(x, y) ** p``: dense matrices in numpy, and paired costs in torch.

The solvers read the numpy matrix; for torch input the value is recomputed in torch on
the support of the plan only (:func:`paired_cost_torch`), so gradients flow and no
(n, m) tensor is built.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional

import numpy as np

_BYTES_PER_ENTRY = 8


class ProblemTooLargeError(MemoryError):
    """Raised before allocating a dense (n, m) matrix that would not fit in memory."""


def available_memory() -> Optional[int]:
    """Bytes of memory available now (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


#: Peak resident memory of one solve, in float64 (n, m) matrices' worth, measured
#: (``python -m emdkit.bench.auto_model``: VmHWM in a fresh process, n = m = 4000):
#: exact 40.9 bytes a pair (the cost, the plan and POT's network-simplex arcs),
#: sinkhorn 25.6 (cost, kernel, kept plan; the bracket works by blocks of rows).
EXACT_MATRICES = 5.0
SINKHORN_MATRICES = 3.25


#: Below this many bytes the memory available is not read (/proc/meminfo: a tenth of
#: a millisecond, more than a 100 x 100 solve's validation).
SURELY_FITS = 16 * 2 ** 20


def check_dense_fits(n: int, m: int, n_matrices: float, method: str,
                     memory_limit: Optional[float] = None) -> None:
    """Raise :class:`ProblemTooLargeError` if ``n_matrices`` float64 (n, m) matrices
    would exceed ``memory_limit`` bytes (default: the memory available now)."""
    need = float(n) * float(m) * _BYTES_PER_ENTRY * n_matrices
    if memory_limit is None and need < SURELY_FITS:
        return
    limit = available_memory() if memory_limit is None else memory_limit
    if limit is not None and need > limit:
        raise ProblemTooLargeError(
            f"method={method!r} needs about {fmt_bytes(need)} ({n_matrices:g} dense "
            f"{n} x {m} float64 matrices' worth, measured), but only {fmt_bytes(limit)} "
            f"is available. Methods that scale without an n x m matrix: '1d' for 1-D "
            f"samples; 'max-sliced' (a certified lower bound on W_p) and 'sliced' (a "
            f"different distance, SW_p <= W_p); or subsample the data.")


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


def scaled_pow(scale: float, p: float) -> float:
    """``scale ** p`` as a float that may be inf (never an OverflowError)."""
    with np.errstate(over="ignore"):
        return float(np.power(np.float64(scale), p))


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
    from ._validation import is_tensor

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


def root(cost: float, p: float) -> float:
    """``cost ** (1/p)`` for a float, clipping tiny negative rounding to zero."""
    cost = max(float(cost), 0.0)
    return cost if p == 1.0 else math.pow(cost, 1.0 / p)
