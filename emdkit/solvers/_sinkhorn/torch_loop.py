"""Batched log-domain Sinkhorn in torch, on the tensors' device and in their dtype.

For the training loss (``emdkit.WassersteinLoss``): B problems at once, costs
``C (B, n, m)``, weights ``a (B, n)``, ``b (B, m)``. The potentials are iterated
without a graph (``torch.no_grad``); the value is then the dual objective at the
converged potentials, ``<f, a> + <g, b> - eps (sum P - 1)``, whose gradient with the
potentials held fixed is the true gradient (envelope theorem): no iteration is
replayed and no linear system solved (``dual_term``, the gradient written out). Epsilon scaling from
the largest cost down to ``eps`` (stages stopped at ``stage_tol``), or, warm-started
from the previous step's potentials, ``eps`` at once. The stopping rule is the
numpy driver's: the L1 error of the row marginals (the columns are exact after
each column update) below ``tol``.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional


class TorchSolution(NamedTuple):
    f: object          # (B, n), detached
    g: object          # (B, m), detached
    n_iter: int
    err: float         # the largest L1 marginal error over the batch
    converged: bool


def _softmin(eps, C, h):
    """``-eps log sum_j exp(h_j - C_ij / eps)`` over the last axis (batched; ``eps``
    (B, 1))."""
    import torch

    return -eps * torch.logsumexp(h[:, None, :] - C / eps[:, :, None], dim=2)


def _row_error(C, la, lb, f, g, eps):
    import torch

    e = eps[:, :, None]
    rows = torch.exp(la + f / eps + torch.logsumexp(lb[:, None, :] + (g[:, None, :] - C)
                                                     / e, dim=2))
    return (rows - torch.exp(la)).abs().sum(1)


def solve(C, a, b, eps, *, symmetric: bool = False, tol: float = 1e-6,
          max_iter: int = 10_000, scaling: float = 0.5, stage_tol: float = 1e-2,
          warm: Optional[tuple] = None, check_every: int = 5) -> TorchSolution:
    """Potentials of the B entropic problems ``min <P, C> + eps KL(P | a b)``,
    ``eps`` a (B,) tensor (one epsilon per problem; the stages scale them alike).

    ``symmetric`` (C the cost of a sample with itself, a == b): one potential,
    averaged updates ``f = (f + softmin(f)) / 2``, which converge for these problems
    where the alternating ones oscillate."""
    import torch

    with torch.no_grad():
        la = torch.log(a.clamp_min(torch.finfo(a.dtype).tiny))
        lb = torch.log(b.clamp_min(torch.finfo(b.dtype).tiny))
        la = torch.where(a > 0, la, torch.full_like(la, -math.inf))
        lb = torch.where(b > 0, lb, torch.full_like(lb, -math.inf))
        Ct = C.transpose(1, 2)
        eps = eps[:, None]
        if warm is not None:
            f, g = warm
            schedule = [1.0]
        else:
            f = torch.zeros_like(a)
            g = torch.zeros_like(b)
            # stage multipliers of eps, from the largest cost down to 1
            top = float((C.amax((1, 2)) / eps[:, 0]).max()) if C.numel() else 1.0
            schedule, mult = [], max(top, 1.0)
            while mult > 1.0:
                schedule.append(mult)
                mult *= scaling
            schedule.append(1.0)
        n_iter, err = 0, math.inf
        for k, mult in enumerate(schedule):
            e = eps * mult
            last = k == len(schedule) - 1
            target = tol if last else stage_tol
            while n_iter < max_iter:
                if symmetric:
                    f = 0.5 * (f + _softmin(e, C, la + f / e))
                    g = f
                else:
                    f = _softmin(e, C, lb + g / e)
                    g = _softmin(e, Ct, la + f / e)
                n_iter += 1
                if n_iter % check_every == 0 or n_iter == max_iter:
                    err = float(_row_error(C, la, lb, f, g, e).max())
                    if err <= target:
                        break
            if n_iter >= max_iter:
                break
    return TorchSolution(f, g, n_iter, err, err <= tol)


def dual_term(U, V, C, a, b, f, g, eps, p):
    """The dual objective of the problem between the points ``U`` (B, n, d) and ``V``
    (B, m, d) with ground cost ``C = |u - v| ** p`` (given, detached), at the fixed
    potentials: its value per batch item, with the envelope gradients written out
    (``DualTerm``): the gradient in ``U`` is ``sum_j P_ij grad_u |U_i - V_j| ** p``,
    in ``a`` it is ``f - eps P 1 / a``; no (B, n, m, d) tensor is kept for autograd."""
    return DualTerm.apply(U, V, C, a, b, f, g, eps, p)


def _dual_function():
    import torch

    class DualTerm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, U, V, C, a, b, f, g, eps, p):
            expo = ((f[:, :, None] + g[:, None, :] - C) / eps[:, None, None]).clamp(
                max=700.0)
            P = a[:, :, None] * b[:, None, :] * torch.exp(expo)
            ctx.save_for_backward(U, V, C, a, b, f, g, eps, P)
            ctx.p = p
            return (f * a).sum(1) + (g * b).sum(1) - eps * (P.sum((1, 2)) - 1.0)

        @staticmethod
        def backward(ctx, out):
            U, V, C, a, b, f, g, eps, P = ctx.saved_tensors
            p = ctx.p
            o = out[:, None]
            if p == 2.0:
                W = 2.0 * P
            else:   # p |u - v|^(p - 2) = p C^((p - 2) / p), zero where points coincide
                pos = C > 0
                W = torch.where(pos, p * P * torch.where(pos, C, torch.ones_like(C))
                                ** ((p - 2.0) / p), torch.zeros_like(P))
            rows, cols = W.sum(2), W.sum(1)
            dU = dV = da = db = None
            if ctx.needs_input_grad[0]:
                dU = o[:, :, None] * (rows[:, :, None] * U - W @ V)
            if ctx.needs_input_grad[1]:
                dV = o[:, :, None] * (cols[:, :, None] * V - W.transpose(1, 2) @ U)
            e = eps[:, None]
            if ctx.needs_input_grad[3]:
                r = P.sum(2)
                da = o * (f - e * torch.where(a > 0, r / torch.where(a > 0, a, 1.0), 0.0))
            if ctx.needs_input_grad[4]:
                c = P.sum(1)
                db = o * (g - e * torch.where(b > 0, c / torch.where(b > 0, b, 1.0), 0.0))
            return dU, dV, None, da, db, None, None, None, None

    return DualTerm


class _Lazy:
    """``DualTerm`` built on first use (torch is imported only then)."""

    def __getattr__(self, name):
        global DualTerm
        DualTerm = _dual_function()
        return getattr(DualTerm, name)


DualTerm = _Lazy()
