"""Differentiable Sinkhorn values in torch at converged (detached) potentials, batched.

With ``P = a b exp((f + g - C) / eps)`` the plan of the potentials ``(f, g)``:

- ``dual_term``: the entropic objective ``OT_eps`` as its dual ``<f, a> + <g, b> -
  eps (sum P - 1)``. At the optimum its gradient with ``f, g`` held fixed is the true
  gradient (envelope theorem): the debiased divergence is differentiated that way.
- ``transport_term``: the transport cost ``<P, C>``, which is not the optimised
  objective, so ``f, g`` move with the inputs: implicit differentiation of the
  optimality conditions ``F = (a - P 1, b - P^T 1) = 0``. The adjoint ``lambda``
  solves ``H lambda = d_(f,g) <P, C>`` (one (m, m) Schur complement system per item,
  batched, on the device), and the gradient is that of ``<P, C> - lambda . F`` at
  fixed ``(f, g)`` (whose value is ``<P, C>``: F is zero up to ``tol``).

Both write their gradients out (autograd Functions): with ``G = dL/dC`` the gradient
in a point ``u_i`` is ``sum_j G_ij grad_u |u_i - v_j| ** p``; no (B, n, m, d) tensor is
kept for autograd. The numpy twin of the second (one problem, solved in numpy) is
``autodiff.py``.
"""

from __future__ import annotations


def dual_term(U, V, C, a, b, f, g, eps, p):
    """The dual objective of the problem between the points ``U`` (B, n, d) and ``V``
    (B, m, d) with ground cost ``C = |u - v| ** p`` (given, detached), at the fixed
    potentials, per batch item: the gradient in ``U`` is ``sum_j P_ij grad_u |U_i -
    V_j| ** p``, in ``a`` it is ``f - eps P 1 / a``."""
    return _functions()[0].apply(U, V, C, a, b, f, g, eps, p)


def transport_term(U, V, C, a, b, f, g, eps, p):
    """``<P, C>`` per batch item, differentiated implicitly (see the module)."""
    import torch

    with torch.no_grad():
        P = plan(C, a, b, f, g, eps)
        lam_f, lam_g = adjoint(P, C)
    return _functions()[1].apply(U, V, C, a, b, P, lam_f, lam_g, eps, p)


def plan(C, a, b, f, g, eps):
    """``a_i b_j exp((f_i + g_j - C_ij) / eps)``, the exponent clamped far above any
    live entry (a pair of zero weights can have a huge one: 0 * inf would be NaN)."""
    import torch

    expo = ((f[:, :, None] + g[:, None, :] - C) / eps[:, None, None]).clamp(max=700.0)
    return a[:, :, None] * b[:, None, :] * torch.exp(expo)


def adjoint(P, C):
    """``(lambda_f, lambda_g)`` solving ``M lambda = -(sum_j P C, sum_i P C)`` with
    ``M = [[diag(P 1), P], [P^T, diag(P^T 1)]]`` (the dual Hessian times -eps), per
    item: the Schur complement in ``lambda_g``, fixed along its null direction by
    ``sum(lambda_g) = 0``; where it is singular (a plan split into blocks: the
    potentials' free constants per block, along which the value does not move), the
    solution of minimum norm by its eigendecomposition."""
    import torch

    B, n, m = P.shape
    r, c = P.sum(2), P.sum(1)
    PC = P * C
    s, t = PC.sum(2), PC.sum(1)
    live = r > 0
    inv_r = torch.where(live, 1.0 / torch.where(live, r, torch.ones_like(r)),
                        torch.zeros_like(r))
    Pt = P.transpose(1, 2)
    S = -(Pt @ (P * inv_r[:, :, None])) + 1.0 / m
    S.diagonal(dim1=1, dim2=2).add_(c)
    rhs = (-t + (Pt @ (s * inv_r)[:, :, None])[:, :, 0])[:, :, None]
    lam_g, info = torch.linalg.solve_ex(S, rhs)
    res = (S @ lam_g - rhs).abs().amax((1, 2))
    bad = (info != 0) | ~torch.isfinite(lam_g).all(2).all(1) | ~(
        res <= 1e-8 * rhs.abs().amax((1, 2)) + 1e-300)
    if bool(bad.any()):
        w, Q = torch.linalg.eigh(S[bad])
        keep = w > w.amax(1, keepdim=True) * m * torch.finfo(S.dtype).eps
        inv_w = torch.where(keep, 1.0 / torch.where(keep, w, torch.ones_like(w)),
                            torch.zeros_like(w))
        lam_g[bad] = Q @ (inv_w[:, :, None] * (Q.transpose(1, 2) @ rhs[bad]))
    lam_g = lam_g[:, :, 0]
    lam_f = torch.where(live, (-s - (P @ lam_g[:, :, None])[:, :, 0]) * inv_r,
                        torch.zeros_like(s))
    return lam_f, lam_g


def _point_grads(ctx, out, U, V, C, G, p):
    """``(dU, dV)`` for the cost weights ``G = dL/dC`` (B, n, m), scaled by the
    output's gradient ``out`` (B,): ``grad_u |u - v| ** p = p |u - v| ** (p - 2) (u -
    v)``, zero where the points coincide."""
    import torch

    o = out[:, None, None]
    if p == 2.0:
        W = 2.0 * G
    else:   # p |u - v|^(p - 2) = p C^((p - 2) / p)
        pos = C > 0
        W = torch.where(pos, p * G * torch.where(pos, C, torch.ones_like(C))
                        ** ((p - 2.0) / p), torch.zeros_like(G))
    dU = dV = None
    if ctx.needs_input_grad[0]:
        dU = o * (W.sum(2)[:, :, None] * U - W @ V)
    if ctx.needs_input_grad[1]:
        dV = o * (W.sum(1)[:, :, None] * V - W.transpose(1, 2) @ U)
    return dU, dV


def _per_weight(w, mass, shift):
    """``sum_j (...) P_ij / w_i - shift_i`` where ``w_i > 0``, ``-shift_i`` elsewhere
    (``mass`` the row sums of ``(...) P``)."""
    import torch

    return torch.where(w > 0, mass / torch.where(w > 0, w, torch.ones_like(w)),
                       torch.zeros_like(w)) - shift


def _functions():
    global _FUNCTIONS
    if _FUNCTIONS is None:
        _FUNCTIONS = _build()
    return _FUNCTIONS


_FUNCTIONS = None


def _build():
    import torch

    class DualTerm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, U, V, C, a, b, f, g, eps, p):
            P = plan(C, a, b, f, g, eps)
            ctx.save_for_backward(U, V, C, a, b, f, g, eps, P)
            ctx.p = p
            return (f * a).sum(1) + (g * b).sum(1) - eps * (P.sum((1, 2)) - 1.0)

        @staticmethod
        def backward(ctx, out):
            U, V, C, a, b, f, g, eps, P = ctx.saved_tensors
            dU, dV = _point_grads(ctx, out, U, V, C, P, ctx.p)
            o, e = out[:, None], eps[:, None]
            # d/da_i of the dual: f_i - eps (P 1)_i / a_i
            da = o * -_per_weight(a, e * P.sum(2), f) if ctx.needs_input_grad[3] else None
            db = o * -_per_weight(b, e * P.sum(1), g) if ctx.needs_input_grad[4] else None
            return dU, dV, None, da, db, None, None, None, None

    class TransportTerm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, U, V, C, a, b, P, lam_f, lam_g, eps, p):
            ctx.save_for_backward(U, V, C, a, b, P, lam_f, lam_g, eps)
            ctx.p = p
            return (P * C).sum((1, 2))

        @staticmethod
        def backward(ctx, out):
            U, V, C, a, b, P, lf, lg, eps = ctx.saved_tensors
            # L = <P, C> - lambda . (a - P 1, b - P^T 1) at fixed (f, g):
            # dL/dP = C + lf + lg, dP/dC = -P / eps, dP/da_i = P_i. / a_i
            D = (C + lf[:, :, None] + lg[:, None, :]) * P
            G = P - D / eps[:, None, None]
            dU, dV = _point_grads(ctx, out, U, V, C, G, ctx.p)
            o = out[:, None]
            da = o * _per_weight(a, D.sum(2), lf) if ctx.needs_input_grad[3] else None
            db = o * _per_weight(b, D.sum(1), lg) if ctx.needs_input_grad[4] else None
            return dU, dV, None, da, db, None, None, None, None, None

    return DualTerm, TransportTerm
