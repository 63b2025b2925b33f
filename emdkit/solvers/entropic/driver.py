"""The Sinkhorn engine: one loop for every backend, numpy or torch, one problem or a
batch. The epsilon schedule (``geometry.epsilon``), the stopping rule, the adaptive
over-relaxation, the hand-over to Newton and the averaged updates of OT(a, a) are
written here once (:func:`run`).

The engine never touches a cost matrix. It talks to a *batched operator* (the protocol
of :class:`Single`) that holds the dual potentials of ``size`` problems in whatever form
suits its kernel. The numpy operators hold one problem and are wrapped by
:class:`Single` (:func:`solve`); the torch operator (``torch_loop``) holds a batch on
any device. A numpy operator has:

- ``stage(eps, eps_prev, last)``: move to the next epsilon of the schedule;
- ``row_ratio()``: ``exp((f - T_b(g)) / eps)``, with ``T_b(g)_i = -eps log sum_j b_j
  exp((g_j - C_ij) / eps)`` the soft c-transform: the row marginal of the plan of
  ``(f, g)`` divided by ``a`` (so the rows are exact when it is all ones);
- ``set_rows(omega)``: ``f <- f + omega (T_b(g) - f)`` (omega = 1: plain Sinkhorn;
  1 < omega < 2: over-relaxed; 1/2 with ``symmetric``: the averaged update of OT(a, a));
- ``col_ratio()`` and ``set_cols(omega)``: the same for ``g`` against ``T_a(f)``;
- ``finish(err, polish, tol, budget)``: ``(f, g, err, n_newton, steps, plan)``, the
  potentials at the stage's epsilon, optionally polished (Newton: ``newton``), and
  the plan where the operator keeps one (else None);
- ``totals(sol)``: ``(<P, C>, sum P)`` of the solution's plan;
- attributes ``symmetric`` (the problem OT(a, a), with g = f), ``newton`` (whether
  ``finish`` can polish) and ``rescues`` (exact log-domain restarts so far).

Stopping rule, for every backend: the L1 error of the plan's two marginals (the weights
sum to 1), ``tol`` at the last epsilon and ``max(tol, stage_tol)`` before it, per item.
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
    """One numpy problem: ``op`` one of the numpy operators (dense, online, sparse
    multiscale; see the module docstring) over weights ``a``, ``b``, run by
    :func:`run` as a batch of one."""
    return run(Single(op, a, b), eps, tol=tol, max_iter=max_iter, scaling=scaling,
               stage_tol=stage_tol, eps0=eps0)


def run(op, eps, *, tol, max_iter, scaling, stage_tol, eps0) -> Solution:
    """The engine. Run the batched operator ``op`` (the protocol of :class:`Single`)
    down the epsilon schedule from ``eps0`` to ``eps`` (``geometry.epsilon``):
    alternating relaxed updates, or averaged ones for a symmetric operator, every
    item its own relaxation and stopping when its error is below the stage's target;
    in the last stage, the operator's Newton finish once plain iterations would take
    longer. ``Solution.err`` is the largest item's; ``converged`` whether every item
    reached ``tol`` at the last epsilon."""
    stages = schedule(eps0, eps, scaling)
    polish = op.newton and not op.symmetric
    n_iter, errs, k, last = 0, [math.inf] * op.size, 0, False
    for k, e in enumerate(stages):
        last = k == len(stages) - 1
        target = tol if last else max(tol, stage_tol)
        op.stage(e, stages[k - 1] if k else None, last)
        if op.symmetric:
            errs, n_iter = _averaged(op, target, max_iter, n_iter)
        else:
            newton_tol = tol if last and polish else None
            stop = min(max_iter, n_iter + NEWTON_AFTER) if newton_tol else max_iter
            errs, n_iter = _alternating(op, target, stop, n_iter, newton_tol)
        if last or n_iter >= max_iter:
            break
    f, g, err, n_newton, steps, plan = op.finish(errs, polish and last, tol,
                                                 max_iter - n_iter)
    return Solution(f, g, stages[k], n_iter + steps, err, err <= tol and last, k + 1,
                    plan=plan, n_newton=n_newton, n_rescues=op.rescues)


def _alternating(op, target, stop, n_iter, newton_tol):
    """Relaxed alternating updates until every item's marginal error is below
    ``target``, the iteration ``stop``, or (``newton_tol``) until, at their rates,
    every item still above it would need more than ``NEWTON_AFTER`` further
    iterations (Newton will be quicker). Returns ``(errors, n_iter)``."""
    relax, seen = [Relaxation() for _ in range(op.size)], op.rescues
    col_errs = op.col_errors()
    while True:
        row_errs = op.row_errors()
        if op.rescues != seen:            # restarted from exact log-domain steps
            relax, seen = [Relaxation() for _ in relax], op.rescues
            col_errs = [0.0] * op.size
        errs = [r + c for r, c in zip(row_errs, col_errs)]     # both marginals
        moving = [x > target for x in errs]
        if n_iter >= stop or not any(moving):
            return errs, n_iter
        omega = [r.update(x) if m else 0.0 for r, x, m in zip(relax, errs, moving)]
        if newton_tol is not None and all(r.hopeless(newton_tol, NEWTON_AFTER)
                                          for r, x in zip(relax, errs) if x > newton_tol):
            return errs, n_iter
        op.focus(moving)
        op.update_rows(omega)
        # the new columns are relaxed: their ratio is the plain one ** (1 - omega);
        # an item that stopped (omega 0) keeps its error
        new = op.update_cols(omega)
        col_errs = [c if w > 0 else old for c, w, old in zip(new, omega, col_errs)]
        n_iter += 1


def _averaged(op, target, stop, n_iter):
    """OT(a, a): ``f <- (f + T_a(f)) / 2``, which converges in a few steps where
    alternating updates crawl (f = g by symmetry, so both marginals err alike)."""
    while True:
        errs = [2.0 * x for x in op.row_errors()]
        moving = [x > target and math.isfinite(x) for x in errs]
        if n_iter >= stop or not any(moving):
            return errs, n_iter
        op.focus(moving)
        op.update_rows([0.5 if m else 0.0 for m in moving])
        n_iter += 1


class Single:
    """A numpy operator (one problem) as a batch of one: the engine's protocol.

    - ``size``: the number of problems; ``symmetric``, ``newton``, ``rescues`` as the
      operator's (see the module docstring);
    - ``stage(eps, eps_prev, last)``;
    - ``row_errors()``: each item's L1 error of the row marginal (the products kept
      for the update), ``col_errors()`` the same for the columns;
    - ``update_rows(omegas)``: each item's rows relaxed by its omega (0: unchanged);
    - ``update_cols(omegas)``: the columns likewise, returning each item's column
      error after the update;
    - ``focus(moving)``: a hint, which items still move (a batched operator may go
      on with those alone);
    - ``finish(errors, polish, tol, budget)``: ``(f, g, err, n_newton, steps, plan)``.
    """

    size = 1

    def __init__(self, op, a, b):
        self.op, self.a, self.b = op, a, b
        self.symmetric, self.newton = op.symmetric, op.newton

    @property
    def rescues(self):
        return self.op.rescues

    def stage(self, eps, eps_prev, last):
        self.op.stage(eps, eps_prev, last)

    def row_errors(self):
        return [row_error(self.a, self.op.row_ratio())]

    def col_errors(self):
        return [row_error(self.b, self.op.col_ratio())]

    def update_rows(self, omegas):
        self.op.set_rows(omegas[0])

    def update_cols(self, omegas):
        omega = omegas[0]
        c = self.op.col_ratio()
        self.op.set_cols(omega)
        if omega == 1.0:
            return [0.0]
        with np.errstate(over="ignore", invalid="ignore"):
            return [row_error(self.b, c ** (1.0 - omega))]

    def focus(self, moving):
        pass

    def finish(self, errs, polish, tol, budget):
        return self.op.finish(errs[0], polish, tol, budget)
