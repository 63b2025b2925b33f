"""One Sinkhorn loop for every backend: epsilon schedule, stopping rule, relaxation.

The driver never touches a cost matrix. It talks to an *operator* that holds the dual
potentials ``(f, g)`` of one problem in whatever form suits its kernel, through:

- ``stage(eps, eps_prev, last)``: move to the next epsilon of the schedule;
- ``row_ratio()``: ``exp((f - T_b(g)) / eps)``, with ``T_b(g)_i = -eps log sum_j b_j
  exp((g_j - C_ij) / eps)`` the soft c-transform: the row marginal of the plan of
  ``(f, g)`` divided by ``a`` (so the rows are exact when it is all ones);
- ``set_rows(omega)``: ``f <- f + omega (T_b(g) - f)`` (omega = 1: plain Sinkhorn;
  1 < omega < 2: over-relaxed; 1/2 with ``symmetric``: the averaged update of OT(a, a));
- ``col_ratio()`` and ``set_cols(omega)``: the same for ``g`` against ``T_a(f)``;
- ``finish(err, polish, tol, budget)``: ``(f, g, err, n_newton, steps, plan)``, the
  potentials at the stage's epsilon, optionally polished (Newton), and the plan where
  the operator keeps one (else None);
- ``totals(sol)``: ``(<P, C>, sum P)`` of the solution's plan;
- attributes ``symmetric`` (the problem OT(a, a), with g = f), ``newton`` (whether
  ``finish`` can polish) and ``rescues`` (exact log-domain restarts so far).

Stopping rule, for every backend: the L1 error of the plan's two marginals (the weights
sum to 1), ``tol`` at the last epsilon and ``max(tol, stage_tol)`` before it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from ...geometry.epsilon import schedule

#: In the last stage the loop hands over to the operator's Newton finish once, at its
#: current rate, it would need more than this many further iterations.
NEWTON_AFTER = 200


@dataclass
class Solution:
    f: np.ndarray
    g: np.ndarray
    eps: float
    n_iter: int
    err: float
    converged: bool
    n_stages: int
    plan: Optional[np.ndarray] = None   # where the operator keeps one (dense)
    n_newton: int = 0
    n_rescues: int = 0
    sparse: Optional[object] = None     # the operator holding a sparse plan (multiscale)


def row_error(a, ratio) -> float:
    """L1 error of the marginal ``a * ratio`` against ``a``."""
    with np.errstate(over="ignore", invalid="ignore"):
        dev = np.abs(a * (ratio - 1.0))
    dev[a == 0] = 0.0
    return float(dev.sum())


def lse_rows(M):
    """Row-wise log-sum-exp of M, in place; rows of all -inf give -inf."""
    mx = M.max(axis=1)
    safe = np.where(np.isfinite(mx), mx, 0.0)
    M -= safe[:, None]
    np.exp(M, out=M)
    with np.errstate(divide="ignore"):
        return np.log(M.sum(axis=1)) + safe


class Relaxation:
    """Adaptive over-relaxation (Thibault et al. 2017; Lehmann et al. 2021).

    For the linearised iteration with plain contraction factor kappa, relaxing by
    omega < omega* = 2 / (1 + sqrt(1 - kappa)) contracts by lambda with
    ``(lambda + omega - 1) ** 2 = lambda * omega ** 2 * kappa``. So every ``WINDOW``
    iterations the observed lambda (from the marginal errors) gives kappa, and omega
    moves to that kappa's optimum; at omega >= omega* the observed rate is omega - 1
    and omega stays put. If the error grows tenfold above its best, omega drops back
    to 1 (plain Sinkhorn, which always converges) and the estimate starts again.
    """

    WINDOW = 16
    MAX_OMEGA = 1.95

    def __init__(self):
        self.omega = 1.0
        self.hist: List[float] = []
        self.best = math.inf

    def update(self, err: float) -> float:
        h = self.hist
        h.append(err)
        self.best = min(self.best, err)
        w = self.WINDOW
        if self.omega > 1.0 and err > 10.0 * self.best:
            self.omega, self.hist, self.best = 1.0, [], err
        elif len(h) >= w and len(h) % (w // 2) == 0 and 0 < h[-1] < h[-w // 2]:
            lam = (h[-1] / h[-w // 2]) ** (2.0 / w)
            om = self.omega
            kappa = min((lam + om - 1.0) ** 2 / (lam * om * om), 1.0 - 1e-12)
            self.omega = min(self.MAX_OMEGA, 2.0 / (1.0 + math.sqrt(1.0 - kappa)))
        return self.omega

    def hopeless(self, tol: float, budget: int) -> bool:
        """True when, at the rate of the last iterations, reaching ``tol`` would take
        more than ``budget`` further iterations (judged after ``2 * WINDOW``)."""
        h = self.hist
        w = self.WINDOW
        if len(h) < 2 * w or not 0 < h[-1] < h[-w]:
            return len(h) >= 4 * w and not 0 < h[-1] < h[-w]
        lam = (h[-1] / h[-w]) ** (1.0 / (w - 1))
        if not 0.0 < lam < 1.0:          # stalled at this precision
            return True
        return math.log(tol / h[-1]) / math.log(lam) > budget


def solve(op, a, b, eps, *, tol, max_iter, scaling, stage_tol, eps0) -> Solution:
    """Run ``op`` (see the module docstring) down the epsilon schedule from ``eps0``
    to ``eps``: alternating relaxed updates, or averaged ones for a symmetric
    operator; in the last stage, the Newton finish where the operator has one."""
    stages = schedule(eps0, eps, scaling)   # geometry.epsilon.schedule
    polish = op.newton and not op.symmetric
    n_iter, err, k, last = 0, math.inf, 0, False
    for k, e in enumerate(stages):
        last = k == len(stages) - 1
        target = tol if last else max(tol, stage_tol)
        op.stage(e, stages[k - 1] if k else None, last)
        if op.symmetric:
            err, n_iter = _averaged(op, a, target, max_iter, n_iter)
        else:
            newton_tol = tol if last and polish else None
            stop = min(max_iter, n_iter + NEWTON_AFTER) if newton_tol else max_iter
            err, n_iter = _alternating(op, a, b, target, stop, n_iter, newton_tol)
        if last or n_iter >= max_iter:
            break
    f, g, err, n_newton, steps, plan = op.finish(err, polish and last, tol,
                                                 max_iter - n_iter)
    return Solution(f, g, stages[k], n_iter + steps, err, err <= tol and last, k + 1,
                    plan=plan, n_newton=n_newton, n_rescues=op.rescues)


def _alternating(op, a, b, target, stop, n_iter, newton_tol):
    """Relaxed alternating updates until the marginal error is below ``target``, the
    iteration ``stop``, or (``newton_tol``) Newton would get there sooner."""
    relax, seen = Relaxation(), op.rescues
    col_err = row_error(b, op.col_ratio())
    while True:
        ratio = op.row_ratio()
        if op.rescues != seen:            # restarted from exact log-domain steps
            relax, seen, col_err = Relaxation(), op.rescues, 0.0
        err = row_error(a, ratio) + col_err           # both marginals of the plan
        if err <= target or n_iter >= stop:
            return err, n_iter
        omega = relax.update(err)
        if newton_tol and err > newton_tol and relax.hopeless(newton_tol, NEWTON_AFTER):
            return err, n_iter                        # Newton will be quicker
        op.set_rows(omega)
        c = op.col_ratio()
        op.set_cols(omega)
        # the new g is g_new = T_a(f) relaxed: its column ratio is c ** (1 - omega)
        if omega == 1.0:
            col_err = 0.0
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                col_err = row_error(b, c ** (1.0 - omega))
        n_iter += 1


def _averaged(op, a, target, stop, n_iter):
    """OT(a, a): ``f <- (f + T_a(f)) / 2``, which converges in a few steps where
    alternating updates crawl (f = g by symmetry, so both marginals err alike)."""
    while True:
        err = 2.0 * row_error(a, op.row_ratio())
        if err <= target or n_iter >= stop or not np.isfinite(err):
            return err, n_iter
        op.set_rows(0.5)
        n_iter += 1
