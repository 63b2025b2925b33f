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

    The engine (``driver.run``) on the batched operator :class:`_Scaled`: the numpy
    dense operator's log-stabilised scalings, batched (two batched matrix-vector
    products an iteration), alternating updates over-relaxed per item, and in the
    last stage the Newton finish (``torch_newton``, on the items still above
    ``tol``) once plain iterations would take long; ``symmetric`` (C the cost of a
    sample with itself, a == b): one potential, averaged updates. An item whose error
    is below the stage's target stops moving while the others go on, and once at
    most half the items move, the operator goes on with those alone
    (``_Scaled.focus``). The stages are multiples of ``eps``, from the largest cost
    down (none when warm-started from ``warm``). The error returned is that of the
    plan of the potentials, computed exactly."""
    import torch

    from . import driver

    with torch.no_grad():
        eps = eps[:, None]
        if warm is not None:
            f, g = warm[0].clone(), warm[1].clone()
            top = 1.0
        else:
            f, g = torch.zeros_like(a), torch.zeros_like(b)
            # stage multipliers of eps, from the largest cost down to 1
            top = float((C.amax((1, 2)) / eps[:, 0]).max()) if C.numel() else 1.0
        op = _Scaled(C, a, b, f, g, eps, symmetric)
        sol = driver.run(op, 1.0, tol=tol, max_iter=max_iter, scaling=scaling,
                         stage_tol=stage_tol, eps0=max(top, 1.0))
    return TorchSolution(sol.f, sol.g, sol.n_iter, sol.err, sol.converged)


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
    """The engine's batched operator (``driver.Single`` gives the protocol) for B
    problems in torch: log-stabilised scalings (Schmitzer 2019, as ``dense.py``), the
    kernel ``K = exp((f + g - C) / e)`` around reference potentials, scalings ``u``,
    ``v`` with potentials ``f + e log u``, ``g + e log v``, absorbed (and K rebuilt)
    when any leaves [1 / big, big]; where a product is not positive and finite, an
    exact log-domain step restarts them. ``e`` is the items' epsilon times the
    stage's multiplier.

    The batch's potentials are kept in ``F``, ``G``; the working tensors are those of
    the items in ``active`` (all, or after ``focus`` the ones still moving), so that
    a few slow items do not carry the whole batch."""

    newton = True

    def __init__(self, C, a, b, f, g, eps, symmetric):
        import torch

        self.C_all, self.a_all, self.b_all, self.eps_all = C, a, b, eps
        self.F, self.G = f, (f if symmetric else g)
        self.symmetric, self.size = symmetric, a.shape[0]
        self.big = torch.finfo(C.dtype).max ** 0.125      # 1e38 in float64, 6e4 in 32
        self.rescues, self.mult, self.active = 0, None, None
        self._row = [0.0] * self.size     # each item's last row and column errors
        self._col = [0.0] * self.size

    # ------------------------------------------------------------ the batch
    def _store(self):
        """The working potentials back into the batch's."""
        if self.mult is None:
            return
        f, g = self.potentials()
        if self.active is None:
            self.F, self.G = f, g
        else:
            self.F = self.F.clone()
            self.F[self.active] = f
            if self.symmetric:
                self.G = self.F
            else:
                self.G = self.G.clone()
                self.G[self.active] = g

    def _take(self, idx):
        """Working tensors for the items ``idx`` (None: all), kernel rebuilt."""
        self.active = idx
        self._pos = list(range(self.size)) if idx is None else idx.tolist()
        pick = (lambda t: t) if idx is None else (lambda t: t[idx])
        self.C, self.a, self.b = pick(self.C_all), pick(self.a_all), pick(self.b_all)
        self.e = pick(self.eps_all) * self.mult
        self.f, self.g = pick(self.F), pick(self.G)
        # None where every weight is positive (the usual case: fewer operations)
        self.live_a = None if bool((self.a > 0).all()) else self.a > 0
        self.live_b = None if bool((self.b > 0).all()) else self.b > 0
        if self.symmetric:
            self.g = self.f
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

    def _positions(self):
        """The batch indices of the working items (kept as a list: no device
        synchronisation per iteration)."""
        return self._pos

    def _spread(self, values, store):
        """Each working item's value into the batch's list ``store``, returned."""
        for i, x in zip(self._positions(), values):
            store[i] = x
        return list(store)

    def _working(self, values):
        """The batch's per-item list restricted to the working items."""
        return [values[i] for i in self._positions()]

    # ------------------------------------------------------------ the protocol
    def stage(self, eps, eps_prev, last):
        self._store()
        self.mult = eps
        self._take(None)

    def focus(self, moving):
        """Go on with the moving items alone once they are at most half of two or
        more working ones (``narrow``)."""
        mine = self._working(moving)
        if len(mine) > 1 and sum(mine) <= len(mine) // 2:
            self.narrow([k for k, m in enumerate(mine) if m])

    def narrow(self, keep):
        """The working items at positions ``keep`` alone: smaller products, the
        others' potentials stored (the kernel indexed, not rebuilt)."""
        import torch

        self._store()
        keep = torch.tensor(keep, dtype=torch.long, device=self.a.device)
        self.active = keep if self.active is None else self.active[keep]
        self._pos = self.active.tolist()
        for name in ("C", "a", "b", "e", "f", "g", "K", "u", "v", "_s", "live_a",
                     "live_b"):
            t = getattr(self, name)
            setattr(self, name, None if t is None else t[keep])
        if self.symmetric:      # one kernel and one potential
            self.g, self.v = self.f, self.u

    def _bounded(self):
        lo_u, hi_u = _aminmax(self.u)
        lo_v, hi_v = (lo_u, hi_u) if self.symmetric else _aminmax(self.v)
        return min(lo_u, lo_v) > 1 / self.big and max(hi_u, hi_v) < self.big

    def _products(self, rows):
        """``K (b v)`` (``rows``) or ``K^T (a u)``, batched; where a product of
        positive weight is not positive and finite (under- or overflow), an exact
        log-domain step first (both potentials), then the product again. One kernel
        is kept, not K^T as well: ``K^T w`` is ``w^T K``, and on the CPU the two
        products on one matrix take no longer than on two and half the memory."""
        import torch

        for attempt in range(2):
            w = self.b * self.v if rows else self.a * self.u
            s = (torch.bmm(self.K, w[:, :, None])[:, :, 0] if rows else
                 (w[:, None, :] @ self.K)[:, 0, :])
            live = self.live_a if rows else self.live_b
            lo, hi = _aminmax(s if live is None else torch.where(live, s, 1.0))
            if (lo > 0 and hi < math.inf) or attempt:
                return s
            f, g = self.potentials()
            Ce = self.C / self.e[:, :, None]
            la, lb = _log_weights(self.a), _log_weights(self.b)
            f = _rows(Ce, self.e, lb + g / self.e)
            self.f, self.g = f, (f if self.symmetric else
                                 _cols(Ce, self.e, la + f / self.e))
            self._rebuild()
            self.rescues += 1

    def row_errors(self):
        # OT(a, a): K is symmetric and b v = a u, so K (b v) is the column form
        self._s = self._products(not self.symmetric)
        return self._spread(_l1(self.a, self.u * self._s).tolist(), self._row)

    def col_errors(self):
        t = self._products(False)
        return self._spread(_l1(self.b, self.v * t).tolist(), self._col)

    def update_rows(self, omegas):
        self._w = w = _exponent(self._working(omegas), self.a)
        # u^(1 - w) s^-w = u (u s)^-w: one power of the marginal ratio
        self.u = _only(self.live_a, self.u * (self.u * self._s) ** -w, self.u)
        if self.symmetric:
            self.v = self.u
            if not self._bounded():
                self._absorb()

    def update_cols(self, omegas):
        w = self._w         # the same omegas as the rows' update just before
        t = self._products(False)
        ratio = self.v * t
        step = ratio ** -w
        self.v = _only(self.live_b, self.v * step, self.v)
        # the new v is relaxed: its column ratio is ratio ** (1 - omega)
        errs = _l1(self.b, ratio * step).tolist()
        if not self._bounded():
            self._absorb()
        return self._spread(errs, self._col)

    def finish(self, errs, polish, tol, budget):
        """The potentials; with ``polish``, the Newton finish on the items above
        ``tol``; the exact error of the others' plans; zero weights' potentials."""
        import torch

        self._store()
        C, a, b, f, g = self.C_all, self.a_all, self.b_all, self.F.clone(), self.G.clone()
        e = self.eps_all * self.mult
        err = torch.tensor(errs, dtype=a.dtype, device=a.device)
        exact = torch.zeros(self.size, dtype=torch.bool, device=a.device)
        todo = (err > tol).nonzero()[:, 0]
        steps = 0
        if polish and len(todo) and budget > 0:
            f[todo], g[todo], err[todo], steps = torch_newton.newton(
                C[todo], a[todo], b[todo], f[todo], g[todo], e[todo], tol, budget)
            exact[todo] = True
        rest = (~exact).nonzero()[:, 0]     # the error of the plan, not of the products
        if len(rest):
            err[rest] = torch_newton.marginal_error(
                torch_newton.plan(C[rest], a[rest], b[rest], f[rest], g[rest], e[rest]),
                a[rest], b[rest])
        f, g = _dead_potentials(C, a, b, f, g, e)
        return f, g, float(err.max()), steps, steps, None


def _aminmax(t):
    """``(min, max)`` of a tensor as floats (one synchronisation; NaN if any)."""
    import torch

    lo, hi = torch.stack(t.aminmax()).tolist()
    return lo, hi


def _exponent(omega, like):
    """The items' omegas for the relaxed step ``x (x s) ** -omega``: a float where
    they are all the same (a faster power), else a (B, 1) tensor."""
    import torch

    if min(omega) == max(omega):
        return float(omega[0])
    return torch.tensor(omega, dtype=like.dtype, device=like.device)[:, None]


def _only(live, new, old):
    """``new`` where ``live`` (all of it where ``live`` is None), else ``old``."""
    import torch

    return new if live is None else torch.where(live, new, old)
