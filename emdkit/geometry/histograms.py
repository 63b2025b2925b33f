"""``cost=``: two histograms over the rows and columns of a ground-cost matrix.

``distance(a, b, cost=M)`` is the original Earth Mover's Distance (Rubner et al.) and
POT's ``ot.emd2(a, b, M)``: ``a`` (n,) and ``b`` (m,) are non-negative weights, ``M``
the (n, m) matrix of ground distances, and the transport cost is ``M ** p``. It goes
through the callable-metric path of the methods that take one (``exact``,
``sinkhorn``'s dense backend, ``auto``): the samples are the indices ``0..n-1`` and
``0..m-1``, and the metric looks the matrix up, so numpy and torch input, the
certified bracket and the gradients (with respect to ``a``, ``b`` and ``M``) are those
of that path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import describe, is_tensor
from .problem import Problem, as_numpy, check_p, check_weights

#: The methods that take ``cost=``.
COST_METHODS = ("exact", "sinkhorn", "auto")


def cost_input(a: Any, b: Any, cost: Any, method: str, metric: Any, a_weights: Any,
               b_weights: Any, options: dict, p: Any):
    """``(samples a, samples b, metric, a_weights, b_weights, problem)`` standing for
    the histograms ``a``, ``b`` over ``cost``, or a clear error; ``problem`` is the
    validated :class:`Problem` for numpy input (None for torch input, which
    ``prepare`` sets up)."""
    if method not in COST_METHODS:
        raise ValueError(f"cost= is taken by the methods {', '.join(COST_METHODS)}; "
                         f"method {method!r} works from samples (pass the samples as a "
                         f"and b, without cost=)")
    if a_weights is not None or b_weights is not None:
        raise TypeError("with cost=, a and b are the weights themselves (histograms "
                        "over the rows and columns of cost): pass no a_weights or "
                        "b_weights")
    if not (isinstance(metric, str) and metric == "euclidean"):
        raise TypeError(f"with cost=, the matrix is the ground distance: pass no "
                        f"metric (got metric={describe(metric)})")
    if options.get("debias"):
        raise ValueError("debias=True needs the costs within a and within b, which a "
                         "cost matrix between a and b does not give; pass samples "
                         "instead, or debias=False")
    M = as_numpy(cost, "cost")
    if M.ndim != 2:
        raise ValueError(f"cost must be the (n, m) matrix of ground distances, got "
                         f"shape {M.shape}")
    M = np.ascontiguousarray(M, dtype=np.float64)
    # min and max propagate NaN: two passes with no temporary, the error path apart
    lo, hi = (float(M.min()), float(M.max())) if M.size else (0.0, 0.0)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = np.argwhere(~np.isfinite(M))[0]
        raise ValueError(f"cost contains NaN or inf, e.g. {M[tuple(bad)]} at "
                         f"{tuple(int(i) for i in bad)}")
    if lo < 0:
        bad = np.argwhere(M < 0)[0]
        raise ValueError(f"cost must be non-negative (a distance), got "
                         f"{M[tuple(bad)]} at {tuple(int(i) for i in bad)}")
    n, m = M.shape
    weights = []
    for name, w, k, side in (("a", a, n, "rows"), ("b", b, m, "columns")):
        arr = as_numpy(w, name)
        if arr.shape != (k,):
            raise ValueError(f"with cost=, {name} is the histogram over the {k} {side} "
                             f"of cost (shape {M.shape}): it must have shape ({k},), "
                             f"got {arr.shape}")
        # finite, >= 0, positive sum; normalised
        weights.append(check_weights(w, name, k, f"the {side} of cost"))
    x, y = _indices(n, m, a, b, cost)
    metric = _lookup(cost, M)
    # the largest cost between bins with mass: the scale needs no other pass (empty
    # bins are taken out of the problem, and their costs must not set its scale)
    live_a, live_b = weights[0] > 0, weights[1] > 0
    if not (live_a.all() and live_b.all()):
        hi = float(M[live_a][:, live_b].max())
    metric.largest = hi
    if any(is_tensor(v) for v in (a, b, cost)):
        return x, y, metric, a, b, None
    # numpy input is checked: the problem is ready (no second validation)
    return x, y, metric, a, b, Problem(x=x, y=y, wa=weights[0], wb=weights[1],
                                       p=check_p(p), metric=metric)


def _indices(n, m, a, b, cost):
    """The row and column indices as (n, 1) and (m, 1) samples: tensors (on the
    device and in the dtype of the first tensor given) where any input is one."""
    first = next((v for v in (cost, a, b) if is_tensor(v)), None)
    if first is None:
        return np.arange(n, dtype=np.float64)[:, None], np.arange(m, dtype=np.float64)[:, None]
    import torch

    dtype = first.dtype if first.is_floating_point() else torch.float64
    return (torch.arange(n, dtype=dtype, device=first.device)[:, None],
            torch.arange(m, dtype=dtype, device=first.device)[:, None])


def _lookup(cost, M):
    """The metric of the index samples: the entries of ``cost`` (the user's tensor,
    differentiable, for tensor samples)."""
    def metric(u, v):
        if is_tensor(u):
            import torch

            Mt = cost if is_tensor(cost) else torch.as_tensor(M, device=u.device)
            Mt = Mt.to(dtype=u.dtype, device=u.device)
            return Mt[u[:, 0].long()][:, v[:, 0].long()]
        iu, iv = u[:, 0].astype(np.int64), v[:, 0].astype(np.int64)
        if _is_range(iu, M.shape[0]) and _is_range(iv, M.shape[1]):
            return M                # all of it, in order: no copy (the caller copies)
        return np.take(np.take(M, iu, 0), iv, 1)      # (4x faster than ix_)
    metric.checked = True     # finite, non-negative, (n, m): checked in cost_input
    return metric


def _is_range(idx, k):
    return idx.shape[0] == k and bool((idx == np.arange(k)).all())
