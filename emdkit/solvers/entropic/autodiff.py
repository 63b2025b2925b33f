"""Differentiable Sinkhorn values in torch from potentials converged in numpy.

No iteration is replayed in torch. With ``(f, g)`` the converged (detached) potentials:

- the entropic objective ``OT_eps`` is the dual ``<f, a> + <g, b> - eps (sum P - 1)``
  with ``P = a b exp((f + g - C) / eps)``; at the optimum its gradient with ``f, g``
  held fixed is the true gradient (envelope theorem), so the debiased divergence is
  differentiated exactly that way;
- the transport cost ``V = <P, C>`` is not the optimised objective, so ``f, g`` move
  with the inputs: by implicit differentiation of the optimality conditions
  ``F = (a - P 1, b - P^T 1) = 0``, ``dV = d_theta V - lambda . d_theta F`` with
  ``H lambda = d_(f,g) V`` (``H`` the dual Hessian). ``lambda`` comes from one (m, m)
  linear solve (Schur complement) in numpy, and torch differentiates
  ``V - lambda . F`` (whose value is V, since F is zero up to ``tol``).
"""

from __future__ import annotations

import numpy as np

from ...geometry.costs import paired_cost_torch


_EXP_MAX = 700.0


def _cost_t(prob, u, v, scale):
    """Dense scaled cost tensor ``(metric(u, v) / scale) ** p``."""
    if callable(prob.metric):
        M = prob.metric(u, v) / scale
        return M if prob.p == 1.0 else M ** prob.p
    return paired_cost_torch(u[:, None, :] / scale, v[None, :, :] / scale, prob.metric,
                             prob.p)


def _weights_t(prob, wat, n):
    import torch

    if wat is not None:
        return wat
    return torch.full((n,), 1.0 / n, dtype=prob.xt.dtype, device=prob.xt.device)


def _plan_t(C, a, b, f, g, eps):
    import torch

    f_t = torch.as_tensor(f, dtype=C.dtype, device=C.device)
    g_t = torch.as_tensor(g, dtype=C.dtype, device=C.device)
    # clamped far above any live entry (where a_i b_j > 0 the exponent is at most
    # about -log(a_i b_j)): a pair of zero weights can have a huge exponent, and
    # 0 * inf would be NaN in the value and the gradient
    expo = ((f_t[:, None] + g_t[None, :] - C) / eps).clamp(max=_EXP_MAX)
    return a[:, None] * b[None, :] * torch.exp(expo)


def _dual_t(C, a, b, f, g, eps):
    """The dual objective at fixed potentials: OT_eps, with envelope gradients."""
    import torch

    P = _plan_t(C, a, b, f, g, eps)
    f_t = torch.as_tensor(f, dtype=C.dtype, device=C.device)
    g_t = torch.as_tensor(g, dtype=C.dtype, device=C.device)
    return (f_t * a).sum() + (g_t * b).sum() - eps * (P.sum() - 1.0)


def _adjoint(P: np.ndarray, C: np.ndarray):
    """``(lambda_f, lambda_g)`` solving ``M lambda = -(sum_j P C, sum_i P C)`` with
    ``M = [[diag(P 1), P], [P^T, diag(P^T 1)]]`` (the dual Hessian times -eps)."""
    r, c = P.sum(1), P.sum(0)
    PC = P * C
    s, t = PC.sum(1), PC.sum(0)
    live = r > 0
    inv_r = np.where(live, 1.0 / np.where(live, r, 1.0), 0.0)
    S = np.diag(c) - P.T @ (P * inv_r[:, None])
    rhs = -t + P.T @ (s * inv_r)
    m = c.shape[0]
    S += np.full((m, m), 1.0 / m)           # fixes the null direction: sum(lambda_g) = 0
    lam_g = _solve_psd(S, rhs)
    lam_f = np.where(live, (-s - P @ lam_g) * inv_r, 0.0)
    return lam_f, lam_g


def _solve_psd(S, rhs):
    """``S w = rhs`` for the Schur complement, which is singular wherever the plan
    has (numerically) split into blocks: a nearly permutation plan, ties, duplicated
    points, zero weights. The null directions are the potentials' free constants per
    block, along which the value does not move; the least-squares solution of
    minimum norm takes none of them, where an LU solve would raise."""
    try:
        w = np.linalg.solve(S, rhs)
        if np.isfinite(w).all() and np.allclose(S @ w, rhs, rtol=1e-8,
                                                 atol=1e-12 * np.abs(rhs).max()):
            return w
    except np.linalg.LinAlgError:
        pass
    return np.linalg.lstsq(S, rhs, rcond=None)[0]


def torch_cost(prob, sols, scale, C_ab, debias, keep=None):
    """The transport cost (or the divergence) of the problem rescaled by ``scale``, a
    tensor differentiable in the samples and the weights; ``sols`` the numpy
    solutions of the (a, b) [, (a, a), (b, b)] problems, ``C_ab`` their (a, b) cost.
    ``keep``, a dict, receives the transport cost's adjoint (``"adjoint"``: on the
    rows and the columns, scaled units): with it, the derivative in the weight of a
    point taken out of the problem (``_live``)."""
    a = _weights_t(prob, prob.wat, prob.n)
    b = _weights_t(prob, prob.wbt, prob.m)
    Ct = _cost_t(prob, prob.xt, prob.yt, scale)
    import torch

    ab, aa, bb = (list(sols) + [None, None])[:3]
    if debias:
        C_aa = _cost_t(prob, prob.xt, prob.xt, scale)
        C_bb = _cost_t(prob, prob.yt, prob.yt, scale)
        from ...bounds import divergence_rounding

        t = (_dual_t(Ct, a, b, ab.f, ab.g, ab.eps), _dual_t(C_aa, a, a, aa.f, aa.g, aa.eps),
             _dual_t(C_bb, b, b, bb.f, bb.g, bb.eps))
        S = t[0] - 0.5 * t[1] - 0.5 * t[2]
        noise = divergence_rounding(*(float(v.detach()) for v in t), prob.n + prob.m)
        # rounding alone is 0 (S * 0 keeps a NaN a NaN)
        return torch.where(S > noise, S, S * 0.0 + 0.0).clamp_min(0.0)

    P = _plan_t(Ct, a, b, ab.f, ab.g, ab.eps)
    V = (P * Ct).sum()
    lam_f, lam_g = _adjoint(ab.plan, C_ab)
    if keep is not None:
        keep["adjoint"] = (lam_f, lam_g)
    lf = torch.as_tensor(lam_f, dtype=P.dtype, device=P.device)
    lg = torch.as_tensor(lam_g, dtype=P.dtype, device=P.device)
    corr = (lf * (a - P.sum(1))).sum() + (lg * (b - P.sum(0))).sum()
    return V - (corr - corr.detach())
