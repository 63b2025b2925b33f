"""Points of zero weight carry no mass: every method solves without them.

A point (or bin) of zero weight changes nothing of W_p, but left in the problem it
changes the scale the costs are divided by, the rounding allowance of the certified
bracket, epsilon's clamp and the 1-D spans: one far point of zero weight made
``exact`` return a wrong value with a "certified" bracket. So :func:`live_part`
takes the points of positive weight out of a validated problem once, for every
method, and :func:`expand` puts the solution back on all the points: the plan with
zero rows and columns, and the potentials of the empty bins as the (soft, for
``sinkhorn``) c-transforms of the others, so that ``f_i + g_j <= cost_ij`` holds on
every pair. For torch input the gradient with respect to an empty bin's position is
zero, and with respect to its weight the derivative of the value: its potential for
``exact`` (the envelope theorem), for the Sinkhorn divergence less the (a, a) or
(b, b) problem's, for Sinkhorn's transport cost the implicit derivative through the
adjoint (``_weight_gradient``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

import numpy as np


#: The methods whose potentials give the gradient in an empty bin's weight here.
WITH_POTENTIALS = ("exact", "sinkhorn")


def live_part(prob, method: str = "exact"):
    """``(problem on the points of positive weight, their indices in a, in b)``, or
    None where every weight is positive (nearly always: a test of two arrays).

    Also None for torch weights that require grad with a method that has no
    potentials (``1d``, ``sliced``, ``max-sliced``, ``critic``): the gradient in an
    empty bin's weight comes from the whole problem in torch, where those methods
    give the points of zero weight no mass (their scales: the distances moved)."""
    wa, wb = prob.wa, prob.wb
    dead_a = wa is not None and not (wa > 0).all()
    dead_b = wb is not None and not (wb > 0).all()
    if not (dead_a or dead_b):
        return None
    if prob.torch and method not in WITH_POTENTIALS and any(
            w is not None and w.requires_grad for w in (prob.wat, prob.wbt)):
        return None
    ia = np.flatnonzero(wa > 0) if dead_a else np.arange(prob.n)
    ib = np.flatnonzero(wb > 0) if dead_b else np.arange(prob.m)
    sub = replace(prob, x=np.ascontiguousarray(prob.x[ia]),
                  y=np.ascontiguousarray(prob.y[ib]),
                  wa=None if wa is None else _renormalised(wa[ia]),
                  wb=None if wb is None else _renormalised(wb[ib]))
    if prob.torch:
        import torch

        dev = prob.xt.device
        ta, tb = torch.as_tensor(ia, device=dev), torch.as_tensor(ib, device=dev)
        sub.xt, sub.yt = prob.xt[ta], prob.yt[tb]
        sub.wat = None if prob.wat is None else prob.wat[ta]
        sub.wbt = None if prob.wbt is None else prob.wbt[tb]
    return sub, ia, ib


def _renormalised(w: np.ndarray) -> np.ndarray:
    return w / w.sum()      # the dropped weights were 0: the sum is 1 up to rounding


def expand(result, prob, ia: np.ndarray, ib: np.ndarray):
    """``result`` of the live part put back on all the points of ``prob``."""
    n, m = prob.n, prob.m
    if result.plan is not None:
        result.plan = _expand_plan(result.plan, ia, ib, n, m)
    if result.potentials is not None:
        f, g, torch_like = _numpy_potentials(result.potentials)
        f, g = _complete(prob, result, f, g, ia, ib)
        if prob.torch:
            _weight_gradient(result, prob, f, g, ia, ib)
        if torch_like is not None:
            f, g = (torch_like(v) for v in (f, g))
        result.potentials = (f, g)
    level = result.info.get("multiscale", {}).get("level")
    if level is not None:                 # each point's cell; -1 for no weight
        for key, idx, k in (("x_cell", ia, n), ("y_cell", ib, m)):
            if level.get(key) is not None:
                cell = np.full(k, -1, dtype=np.asarray(level[key]).dtype)
                cell[idx] = level[key]
                level[key] = cell
    result.info["zero_weight_points"] = (n - len(ia), m - len(ib))
    return result


def _expand_plan(plan, ia, ib, n, m):
    import scipy.sparse as sp

    if sp.issparse(plan):
        coo = plan.tocoo()
        return sp.csr_matrix((coo.data, (ia[coo.row], ib[coo.col])), shape=(n, m))
    if hasattr(plan, "detach"):
        import torch

        out = torch.zeros((n, m), dtype=plan.dtype, device=plan.device)
        dev = plan.device
        out[torch.as_tensor(ia, device=dev)[:, None],
            torch.as_tensor(ib, device=dev)[None, :]] = plan
        return out
    out = np.zeros((n, m), dtype=plan.dtype)
    out[np.ix_(ia, ib)] = plan
    return out


def _numpy_potentials(potentials):
    """``(f, g, back)``: the potentials as numpy arrays, ``back`` turning an array
    into a tensor like them (None for numpy potentials)."""
    f, g = potentials
    if not hasattr(f, "detach"):
        return np.asarray(f, dtype=np.float64), np.asarray(g, dtype=np.float64), None
    import torch

    like = f

    def back(v):
        return torch.as_tensor(v, dtype=like.dtype, device=like.device)
    return (f.detach().cpu().double().numpy(), g.detach().cpu().double().numpy(),
            back)


def _others(idx, k):
    """The indices in ``range(k)`` not in ``idx``."""
    mask = np.ones(k, dtype=bool)
    mask[idx] = False
    return np.flatnonzero(mask)


def _costs(prob, rows, cols):
    """``metric(x[rows], y[cols]) ** p`` in the problem's units, float64 (inf where
    it overflows)."""
    if callable(prob.metric) and getattr(prob.metric, "checked", False) and not prob.torch:
        D = np.asarray(prob.metric(prob.x[rows], prob.y[cols]), dtype=np.float64)
    elif callable(prob.metric):     # the user's: its matrix is checked as everywhere
        from .geometry.costs import checked_matrix

        if prob.torch:
            import torch

            dev = prob.xt.device
            D = prob.metric(prob.xt[torch.as_tensor(rows, device=dev)],
                            prob.yt[torch.as_tensor(cols, device=dev)])
        else:
            D = prob.metric(prob.x[rows], prob.y[cols])
        D = checked_matrix(D, len(rows), len(cols))
    else:
        return _named_costs(prob, prob.x[rows], prob.y[cols])
    with np.errstate(over="ignore"):
        return D if prob.p == 1.0 else D ** prob.p


def _named_costs(prob, u, v):
    """``metric(u, v) ** p`` for the problem's named metric (inf where it
    overflows)."""
    from scipy.spatial.distance import cdist

    D = cdist(u, v, metric=prob.metric)
    with np.errstate(over="ignore"):
        return D if prob.p == 1.0 else D ** prob.p


def _complete(prob, result, f_live, g_live, ia, ib):
    """Potentials on all the points: the empty columns' first, as the c-transform of
    the live rows, then the empty rows' against every column, so that
    ``f_i + g_j <= C_ij`` holds on every pair (for ``sinkhorn``, soft c-transforms at
    the epsilon of its plan, against the live points, as its dense backend does)."""
    n, m = prob.n, prob.m
    f, g = np.zeros(n), np.zeros(m)
    f[ia], g[ib] = f_live, g_live
    dead_a, dead_b = _others(ia, n), _others(ib, m)
    # the dense and online Sinkhorn potentials are soft c-transforms at the plan's
    # epsilon; the multiscale backend's and exact's are hard ones (feasible)
    soft = result.method == "sinkhorn" and result.info.get("backend") != "multiscale"
    eps = result.info.get("epsilon_plan") if soft else None
    wa, wb = prob.weights()
    with np.errstate(all="ignore"):
        if dead_b.size:
            C = _costs(prob, ia, dead_b)            # (live rows, empty columns)
            g[dead_b] = _transform(C.T, f_live, wa[ia], eps)
        if dead_a.size:
            cols = np.arange(m) if eps is None else ib
            C = _costs(prob, dead_a, cols)          # (empty rows, the columns)
            f[dead_a] = _transform(C, g[cols], wb[cols], eps)
    return f, g


def _transform(C, other, w_other, eps: Optional[float]):
    """Row by row ``min_j C_ij - other_j`` (``eps`` None), or the soft minimum
    ``-eps log sum_j w_j exp((other_j - C_ij) / eps)``."""
    if eps is None:
        return (C - other[None, :]).min(axis=1)
    from scipy.special import logsumexp

    return -eps * logsumexp((other[None, :] - C) / eps, axis=1, b=w_other[None, :])


def _self_transform(prob, side, dead, live, w, pot_live, eps):
    """The soft c-transform at the empty points of ``side`` of the (side, side)
    problem's potential on its live points: half the derivative of that problem's
    entropic cost in an empty point's weight, twice over (it is on both sides)."""
    if callable(prob.metric):
        return np.zeros(len(dead))      # pragma: no cover - debias takes named metrics
    C = _named_costs(prob, side[dead], side[live])
    wl = w.detach().cpu().double().numpy()[live]
    return _transform(C, np.asarray(pot_live, dtype=np.float64), wl / wl.sum(), eps)


def _transport_derivative(prob, result, rows: bool, dead, other, pot_other, pot_dead):
    """The derivative of Sinkhorn's transport cost ``<P, C>`` in the weight of an
    empty row (``rows``) or column k (implicit differentiation, as
    ``autodiff.torch_cost``, which differentiates ``<P, C> - lambda . F``, ``F`` the
    marginal errors): ``sum_j Q_kj (C_kj + lambda_j)``, ``Q_kj = w_j exp((
    pot_k + pot_j - C_kj) / eps)`` the plan's row (or column) its soft c-transform
    ``pot_k`` gives (summing to 1), ``lambda`` the adjoint on the other side's live
    points."""
    eps = result.info["epsilon_plan"]
    lam = np.asarray(result.info["adjoint"][1 if rows else 0], dtype=np.float64)
    w = prob.weights()[1 if rows else 0][other]
    C = _costs(prob, dead, other) if rows else _costs(prob, other, dead).T
    with np.errstate(all="ignore"):
        Q = w[None, :] * np.exp((pot_dead[:, None] + pot_other[None, :] - C) / eps)
        Q = np.where(np.isfinite(Q), Q, 0.0)
        return (Q * (C + lam[None, :])).sum(1)


def _weight_gradient(result, prob, f, g, ia, ib):
    """For torch weights that require grad: the gradient of the value with respect
    to the empty bins' weights, their potentials (the live part's graph reaches them
    only through the normalisation). The value does not change (those weights are
    0); W_p = C^(1/p) takes the chain rule ``dW = W / (p C) dC``."""
    import torch

    extra = None
    selves = result.info.get("self_potentials") or (None, None)
    for w, pot, live, k, side, own in ((prob.wat, f, ia, prob.n, prob.x, selves[0]),
                                       (prob.wbt, g, ib, prob.m, prob.y, selves[1])):
        if w is None or not w.requires_grad or len(live) == k:
            continue
        dead = _others(live, k)
        pot_d = pot[dead]
        if own is not None:     # the divergence: less the (a, a) problem's term
            pot_d = pot_d - _self_transform(prob, side, dead, live, w, *own)
        elif "adjoint" in result.info:       # Sinkhorn's transport cost <P, C>
            pot_d = _transport_derivative(prob, result, w is prob.wat, dead,
                                          ib if w is prob.wat else ia,
                                          (g[ib] if w is prob.wat else f[ia]), pot_d)
        if not np.isfinite(pot_d).all():
            continue            # an overflowed cost: no finite derivative to give
        idx = torch.as_tensor(dead, device=w.device)
        term = (torch.as_tensor(pot_d, dtype=w.dtype, device=w.device)
                * (w[idx] - w[idx].detach())).sum()
        extra = term if extra is None else extra + term
    if extra is None or not hasattr(result.value, "detach"):
        return
    cost = float(result.cost.detach())
    if not cost > 0:
        return                  # W = 0: the root has no finite derivative there
    result.value = result.value + extra * (float(result.value.detach())
                                           / (prob.p * cost))
    result.cost = result.cost + extra
