"""Batched log-domain Sinkhorn in torch, on the tensors' device and in their dtype.

For the training loss (``emdkit.WassersteinLoss``): B problems at once, costs
``C (B, n, m)``, weights ``a (B, n)``, ``b (B, m)``. The potentials are iterated
without a graph (``torch.no_grad``); the value is then the dual objective at the
converged potentials evaluated with a graph, ``<f, a> + <g, b> - eps (sum P - 1)``,
whose gradient with the potentials held fixed is the true gradient (envelope
theorem): no iteration is replayed and no linear system solved. Epsilon scaling from
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


def dual_value(C, a, b, f, g, eps):
    """The dual objective at the fixed potentials, with a graph through ``C``, ``a``
    and ``b``: OT_eps with its envelope gradients, per batch item (B,)."""
    import torch

    expo = (f[:, :, None] + g[:, None, :] - C) / eps[:, None, None]
    P = a[:, :, None] * b[:, None, :] * torch.exp(expo.clamp(max=700.0))
    return (f * a).sum(1) + (g * b).sum(1) - eps * (P.sum((1, 2)) - 1.0)
