"""Batched Sinkhorn in torch, on the tensors' device and in their dtype.

For the training loss (``emdkit.WassersteinLoss``): B problems at once, costs
``C (B, n, m)``, weights ``a (B, n)``, ``b (B, m)``. The potentials are iterated
without a graph (``torch.no_grad``); the differentiable values are then taken at the
converged potentials (``torch_terms``), with no iteration replayed. Epsilon
scaling from the largest cost down to ``eps`` (stages stopped at
``stage_tol``), or, warm-started from the previous step's potentials, ``eps`` at
once. The stopping rule and the over-relaxation are the numpy driver's: the L1
error of both marginals below ``tol``, per item.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

from ...geometry.epsilon import schedule as eps_schedule
from . import torch_newton


class TorchSolution(NamedTuple):
    f: object          # (B, n), detached
    g: object          # (B, m), detached
    n_iter: int
    err: float         # the largest L1 marginal error over the batch
    converged: bool


def _log_weights(w):
    import torch

    lw = torch.log(w.clamp_min(torch.finfo(w.dtype).tiny))
    return torch.where(w > 0, lw, torch.full_like(lw, -math.inf))


def _l1(w, ratio):
    """``sum_i w_i |ratio_i - 1|`` per batch item: the L1 error of the marginal
    ``w * ratio`` (rows of zero weight carry none, whatever their ratio)."""
    import torch

    return torch.where(w > 0, w * (ratio - 1.0).abs(), torch.zeros_like(w)).sum(1)


def _rows(Ce, e, h):
    """``-e log sum_j exp(h_j - C_ij / e)`` (``Ce = C / e``, batched): the soft
    c-transform onto the rows."""
    import torch

    return -e * torch.logsumexp(h[:, None, :] - Ce, dim=2)


def _cols(Ce, e, h):
    import torch

    return -e * torch.logsumexp(h[:, :, None] - Ce, dim=1)


def solve(C, a, b, eps, *, symmetric: bool = False, tol: float = 1e-6,
          max_iter: int = 10_000, scaling: float = 0.5, stage_tol: float = 1e-2,
          warm: Optional[tuple] = None) -> TorchSolution:
    """Potentials of the B entropic problems ``min <P, C> + eps KL(P | a b)``,
    ``eps`` a (B,) tensor (one epsilon per problem; the stages scale them alike).

    The numpy dense operator's method, batched: log-stabilised scalings
    (``_Scaled``: two batched matrix-vector products an iteration), alternating
    updates over-relaxed per item (``driver.Relaxation``), and in the last stage the
    Newton finish (``torch_newton``, on the items still above ``tol``) once plain
    iterations would take long; ``symmetric`` (C the cost of a sample with itself,
    a == b): one potential, averaged updates ``f = (f + T(f)) / 2``, which converge
    in a few steps. An item whose error is below the stage's target stops moving
    while the others go on, and once at most half the items move, the loop goes on
    with those alone (``_stage``). The error returned is that of the plan of the
    potentials, computed exactly."""
    import torch

    with torch.no_grad():
        eps = eps[:, None]
        if warm is not None:
            f, g = warm[0].clone(), warm[1].clone()
            schedule = [1.0]
        else:
            f, g = torch.zeros_like(a), torch.zeros_like(b)
            # stage multipliers of eps, from the largest cost down to 1
            top = float((C.amax((1, 2)) / eps[:, 0]).max()) if C.numel() else 1.0
            schedule = eps_schedule(max(top, 1.0), 1.0, scaling)
        n_iter, k = 0, 0
        exact = torch.zeros(a.shape[0], dtype=torch.bool, device=a.device)
        for k, mult in enumerate(schedule):
            last = k == len(schedule) - 1
            target = tol if last else max(tol, stage_tol)
            polish = last and not symmetric
            f, g, err, n_iter = _stage(C, a, b, f, g, eps * mult, symmetric, target,
                                       max_iter, n_iter, tol if polish else None)
            todo = (err > tol).nonzero()[:, 0]
            if polish and len(todo) and n_iter < max_iter:
                f[todo], g[todo], err[todo], steps = torch_newton.newton(
                    C[todo], a[todo], b[todo], f[todo], g[todo], eps[todo] * mult, tol,
                    max_iter - n_iter)
                n_iter += steps
                exact[todo] = True
            if n_iter >= max_iter:
                break
        e = eps * schedule[k]
        rest = (~exact).nonzero()[:, 0]     # the error of the plan, not of the products
        if len(rest):
            err[rest] = torch_newton.marginal_error(
                torch_newton.plan(C[rest], a[rest], b[rest], f[rest], g[rest], e[rest]),
                a[rest], b[rest])
        f, g = _dead_potentials(C, a, b, f, g, e)
    worst = float(err.max())
    return TorchSolution(f, g, n_iter, worst, worst <= tol and k == len(schedule) - 1)


def _stage(C, a, b, f, g, e, symmetric, target, stop, n_iter, newton_tol):
    """One stage of epsilon, ``e`` (B, 1): the loop over the batch until every
    item's error is below ``target`` (``_Scaled.alternating`` or ``averaged``; with
    ``newton_tol``, at most ``driver.NEWTON_AFTER`` iterations, fewer if every item
    still above it is judged for the Newton finish); whenever at most half of the
    items it holds still move, it goes on with those alone (``_Scaled.narrow``: a
    smaller batch, no kernel rebuilt), the others' potentials kept. Returns
    ``(f, g, err (B,), n_iter)``."""
    import torch

    from .driver import NEWTON_AFTER

    if newton_tol is not None:
        stop = min(stop, n_iter + NEWTON_AFTER)
    op, idx, relax = _Scaled(C, a, b, f, g, e, symmetric), None, None
    f, g, err = f.clone(), g.clone(), torch.empty_like(e[:, 0])
    while True:
        if symmetric:
            res, n_iter, relax, keep = op.averaged(target, stop, n_iter)
        else:
            res, n_iter, relax, keep = op.alternating(target, stop, n_iter,
                                                      newton_tol, relax)
        fs, gs = op.potentials()
        at = slice(None) if idx is None else idx
        f[at], g[at], err[at] = fs, gs, res
        if keep is None:
            return f, (f if symmetric else g), err, n_iter
        kept = torch.tensor(keep, dtype=torch.long, device=a.device)
        op = op.narrow(kept)
        idx = kept if idx is None else idx[kept]
        relax = None if relax is None else [relax[i] for i in keep]


def _dead_potentials(C, a, b, f, g, e):
    """Where a weight is zero, the potential is the soft c-transform of the other
    side (what it would be with a vanishing weight): finite, and the gradient in
    that weight is then right."""
    import torch

    if bool((a > 0).all()) and bool((b > 0).all()):
        return f, g
    Ce = C / e[:, :, None]
    f = torch.where(a > 0, f, _rows(Ce, e, _log_weights(b) + g / e))
    g = torch.where(b > 0, g, _cols(Ce, e, _log_weights(a) + f / e))
    return f, g


class _Scaled:
    """Log-stabilised scalings for B problems (Schmitzer 2019, as ``dense.py``): the
    kernel ``K = exp((f + g - C) / e)`` around reference potentials, scalings
    ``u``, ``v`` with potentials ``f + e log u``, ``g + e log v``, absorbed (and K
    rebuilt) when any leaves [1 / big, big]; where a product is not positive and
    finite, an exact log-domain step restarts them."""

    def __init__(self, C, a, b, f, g, e, symmetric):
        import torch

        self.C, self.a, self.b, self.e, self.symmetric = C, a, b, e, symmetric
        # None where every weight is positive (the usual case: fewer operations)
        self.live_a = None if bool((a > 0).all()) else a > 0
        self.live_b = None if bool((b > 0).all()) else b > 0
        self.f, self.g = f, (f if symmetric else g)
        self.big = torch.finfo(C.dtype).max ** 0.125      # 1e38 in float64, 6e4 in 32
        self.rescues = 0
        self._rebuild()

    def _rebuild(self):
        import torch

        # exp((f + g - C) / e) in place: on the CPU for (8, 256, 256) about five
        # times faster than the same operations on new tensors
        K = self.f[:, :, None] + self.g[:, None, :]
        self.K = K.sub_(self.C).div_(self.e[:, :, None]).exp_()
        self.u, self.v = torch.ones_like(self.f), torch.ones_like(self.g)

    def potentials(self):
        import torch

        f = self.f + self.e * torch.log(self.u)
        return f, (f if self.symmetric else self.g + self.e * torch.log(self.v))

    def _absorb(self):
        self.f, self.g = self.potentials()
        self._rebuild()

    def narrow(self, keep):
        """The same scalings for the items ``keep`` (a LongTensor) alone."""
        new = object.__new__(_Scaled)
        new.__dict__.update(self.__dict__)
        for name in ("C", "a", "b", "e", "f", "g", "K", "u", "v",
                     "live_a", "live_b"):
            t = getattr(self, name)
            setattr(new, name, None if t is None else t[keep])
        if self.symmetric:      # one kernel and one potential
            new.g, new.v = new.f, new.u
        return new

    def _bounded(self):
        lo_u, hi_u = _aminmax(self.u)
        lo_v, hi_v = (lo_u, hi_u) if self.symmetric else _aminmax(self.v)
        return min(lo_u, lo_v) > 1 / self.big and max(hi_u, hi_v) < self.big

    def _products(self, rows, w, live):
        """``K w`` (``rows``: the row sums of ``K diag(w)``) or ``K^T w``, batched;
        restarted by an exact log-domain step where a product of positive weight is
        not positive and finite (under- or overflow). One kernel is kept, not K^T
        as well: ``K^T w`` is ``w^T K``, and on the CPU the two products on one
        matrix take no longer than on two (the second would not stay in the cache)
        and half the memory."""
        import torch

        s = (torch.bmm(self.K, w[:, :, None])[:, :, 0] if rows else
             (w[:, None, :] @ self.K)[:, 0, :])
        lo, hi = _aminmax(s if live is None else torch.where(live, s, 1.0))
        if lo > 0 and hi < math.inf:
            return s, False
        f, g = self.potentials()
        Ce = self.C / self.e[:, :, None]
        la, lb = _log_weights(self.a), _log_weights(self.b)
        f = _rows(Ce, self.e, lb + g / self.e)
        self.f, self.g = f, (f if self.symmetric else _cols(Ce, self.e, la + f / self.e))
        self._rebuild()
        self.rescues += 1
        return None, True

    def alternating(self, target, stop, n_iter, newton_tol=None, relax=None):
        """Relaxed alternating updates until every item's L1 marginal error is below
        ``target``, the iteration ``stop``, or (``newton_tol``: the Newton finish
        follows) until, at their rates, every item still above it would need more
        than ``driver.NEWTON_AFTER`` further iterations (not each item as it is so
        judged: on the CPU the batch's iterations cost an item less than its Newton
        finish). Returns ``(err, n_iter, relax, keep)``: ``relax``
        the items' relaxations; ``keep`` None when done, else the indices of the
        items still moving, once they are at most half of two or more (to go on
        with those alone)."""
        import torch

        from .driver import NEWTON_AFTER, Relaxation

        a, b = self.a, self.b
        relax = relax or [Relaxation() for _ in range(a.shape[0])]
        col_err = _l1(b, self.v * ((a * self.u)[:, None, :] @ self.K)[:, 0, :])
        while True:
            s, restarted = self._products(True, b * self.v, self.live_a)
            if restarted:       # a log-domain step: its columns are exact
                relax, col_err = [Relaxation() for _ in relax], torch.zeros_like(col_err)
                n_iter += 1
                continue
            err = _l1(a, self.u * s) + col_err            # both marginals
            errs = err.tolist()
            moving = [x > target for x in errs]
            if n_iter >= stop or not any(moving) or newton_tol is not None and all(
                    r.hopeless(newton_tol, NEWTON_AFTER)
                    for r, x in zip(relax, errs) if x > newton_tol):
                return err, n_iter, relax, None
            keep = _few_left(moving)
            if keep is not None:
                return err, n_iter, relax, keep
            omega = [r.update(x) if m else 0.0 for r, x, m in zip(relax, errs, moving)]
            w = _exponent(omega, a)
            # u^(1 - w) s^-w = u (u s)^-w: one power of the marginal ratio
            self.u = _only(self.live_a, self.u * (self.u * s) ** -w, self.u)
            t, restarted = self._products(False, a * self.u, self.live_b)
            n_iter += 1
            if restarted:
                relax, col_err = [Relaxation() for _ in relax], torch.zeros_like(col_err)
                continue
            ratio = self.v * t
            step = ratio ** -w
            self.v = _only(self.live_b, self.v * step, self.v)
            # the new v is relaxed: its column ratio is ratio ** (1 - omega); an item
            # that stopped (omega 0) keeps its error
            col_err = _where_moved(w, _l1(b, ratio * step), col_err)
            if not self._bounded():
                self._absorb()

    def averaged(self, target, stop, n_iter):
        """OT(a, a): ``f <- (f + T_a(f)) / 2``, i.e. ``u <- sqrt(u / (K a u))``
        (f = g by symmetry, so both marginals err alike); stopped as
        ``alternating`` (no relaxations: ``relax`` None)."""
        import torch

        a = self.a
        while True:
            s, restarted = self._products(False, a * self.u, self.live_a)   # K = K^T
            if restarted:
                n_iter += 1
                continue
            err = 2.0 * _l1(a, self.u * s)
            errs = err.tolist()
            above = [x > target for x in errs]
            if n_iter >= stop or not any(above):
                return err, n_iter, None, None
            keep = _few_left(above)
            if keep is not None:
                return err, n_iter, None, keep
            moving = (err > target)[:, None]
            self.u = torch.where(moving if self.live_a is None else moving & self.live_a,
                                 torch.sqrt(self.u / s), self.u)
            self.v = self.u
            n_iter += 1
            if not self._bounded():
                self._absorb()


def _aminmax(t):
    """``(min, max)`` of a tensor as floats (one synchronisation; NaN if any)."""
    import torch

    lo, hi = torch.stack(t.aminmax()).tolist()
    return lo, hi


def _few_left(moving):
    """The indices of the items still moving where they are at most half of two or
    more (the loop then goes on with those alone), else None."""
    if len(moving) > 1 and sum(moving) <= len(moving) // 2:
        return [i for i, m in enumerate(moving) if m]
    return None


def _exponent(omega, like):
    """The items' omegas for the relaxed step ``x (x s) ** -omega``: a float where
    they are all the same (a faster power), else a (B, 1) tensor."""
    import torch

    if min(omega) == max(omega):
        return float(omega[0])
    return torch.tensor(omega, dtype=like.dtype, device=like.device)[:, None]


def _where_moved(w, new, old):
    """``new`` for the items that took a step (omega ``w`` > 0), ``old`` for those
    that stopped."""
    import torch

    if isinstance(w, float):
        return new if w > 0 else old
    return torch.where(w[:, 0] > 0, new, old)


def _only(live, new, old):
    """``new`` where ``live`` (all of it where ``live`` is None), else ``old``."""
    import torch

    return new if live is None else torch.where(live, new, old)
