"""The operator on a dense (n, m) cost: the log-stabilised scaling of Schmitzer (2019).

The kernel ``K = exp((f0 + g0 - C) / eps)`` is built around reference potentials and
the iterations are two matrix-vector products on it (BLAS); the potentials are
``f = f0 + eps log u``, ``g = g0 + eps log v``. The scalings ``u``, ``v`` are absorbed
into the reference (and the kernel rebuilt) whenever they leave [1e-50, 1e50], at a
change of epsilon, and at the end; halving epsilon squares the kernel instead (one
pass, no exp). Where a product under- or overflows, exact log-domain steps restart it.
As stable as log-domain updates, at the price of plain ones.
"""

from __future__ import annotations

import numpy as np

from .gibbs import by_rows, kernel, log_steps, plan_error

_BIG = 1e50


def _positive(s):
    return bool(np.all(s > 0) and np.all(np.isfinite(s)))


def _bounded(s, power=1):
    return s.max() ** power < _BIG and s.min() ** power > 1 / _BIG


#: From this many kernel entries the products run by row blocks on emdkit's pool
#: (BLAS itself runs on one thread inside emdkit: ``threads``); below, the hand-off
#: costs more than the second core gives (on 2 cores, n = m = 1000 at epsilon 0.05:
#: 0.078 s by blocks against 0.045 s; n = m = 2000 at 0.01: 0.53 s against 0.63 s).
_POOL_PRODUCT = 1 << 20


def matvec(K, v):
    """``K @ v``, by row blocks on the pool for large K."""
    if K.size < _POOL_PRODUCT:
        return K @ v
    return np.concatenate(by_rows(lambda i0, i1: K[i0:i1] @ v, K.shape[0]))


def rmatvec(K, u):
    """``K.T @ u``, by row blocks on the pool for large K (partial sums added)."""
    if K.size < _POOL_PRODUCT:
        return K.T @ u
    return np.sum(by_rows(lambda i0, i1: K[i0:i1].T @ u[i0:i1], K.shape[0]), axis=0)


def relaxed(old, new_inv, omega):
    """``old ** (1 - omega) * (1 / new_inv) ** omega`` for positive scalings."""
    if omega == 1.0:
        return 1.0 / new_inv
    return np.exp((1.0 - omega) * np.log(old) - omega * np.log(new_inv))


class DenseOperator:
    """The driver's operator (see ``driver``) on the cost matrix ``C``."""

    newton = True

    def __init__(self, C, a, b, *, symmetric=False, f0=None, g0=None):
        n, m = C.shape
        self.C, self.a, self.b, self.symmetric = C, a, b, symmetric
        with np.errstate(divide="ignore"):
            self.loga, self.logb = np.log(a), np.log(b)
        self.f = np.zeros(n) if f0 is None else np.array(f0, dtype=np.float64)
        self.g = np.zeros(m) if g0 is None else np.array(g0, dtype=np.float64)
        self.u, self.v = np.ones(n), np.ones(m)
        self.K = np.empty_like(C)
        self.eps, self.rescues = None, 0
        self._s = self._t = None

    def _scalings(self):
        return (self.u, self.u) if self.symmetric else (self.u, self.v)

    def _absorb(self):
        """Fold the scalings into the reference potentials (u = v = 1 after)."""
        if self.eps is not None:
            u, v = self._scalings()
            self.f = self.f + self.eps * np.log(u)
            self.g = self.f if self.symmetric else self.g + self.eps * np.log(v)
        self.u, self.v = np.ones_like(self.u), np.ones_like(self.v)

    def _rebuild(self):
        g = self.f if self.symmetric else self.g
        kernel(self.C, self.f, g, self.eps, self.K)

    def stage(self, eps, eps_prev, last):
        u, v = self._scalings()
        if (eps_prev is not None and not last and eps_prev == 2.0 * eps
                and _bounded(u, 2) and _bounded(v, 2)):
            np.square(self.K, out=self.K)        # halving epsilon squares the kernel
            self.u, self.v = self.u * self.u, self.v * self.v
        else:
            self._absorb()
            self.eps = eps
            self._rebuild()
        self.eps = eps

    def _rescue(self):
        """Where a product under- or overflows: absorb what is finite, take an exact
        log-domain iteration, rebuild the kernel; plain iterations from there."""
        with np.errstate(divide="ignore", invalid="ignore"):
            lu, lv = np.log(self.u), np.log(self.v)
        f = self.f + self.eps * np.where(np.isfinite(lu), lu, 0.0)
        g = f if self.symmetric else self.g + self.eps * np.where(np.isfinite(lv), lv, 0.0)
        f, g = log_steps(self.C, f, g, self.loga, self.logb, self.eps)
        self.f, self.g = (g, g) if self.symmetric else (f, g)
        self.u, self.v = np.ones_like(self.u), np.ones_like(self.v)
        self._rebuild()
        self.rescues += 1

    def row_ratio(self):
        s = matvec(self.K, self.b * self._scalings()[1])
        if not _positive(s):
            self._rescue()
            s = matvec(self.K, self.b * self._scalings()[1])
        self._s = s
        return self.u * s

    def set_rows(self, omega):
        self.u = relaxed(self.u, self._s, omega)
        if self.symmetric and not _bounded(self.u):
            self._absorb()
            self._rebuild()

    def col_ratio(self):
        t = rmatvec(self.K, self.a * self.u)
        if not _positive(t):
            self._rescue()
            t = rmatvec(self.K, self.a * self.u)
        self._t = t
        return self.v * t

    def set_cols(self, omega):
        self.v = relaxed(self.v, self._t, omega)
        if not (_bounded(self.u) and _bounded(self.v)):
            self._absorb()
            self._rebuild()

    def finish(self, err, polish, tol, budget):
        """Absorb the scalings; with ``polish``, Newton (then, if it stalls, exact
        log-domain iterations) down to ``tol``; the exact plan of the potentials."""
        self._absorb()
        f, g, C, K = self.f, self.g, self.C, self.K
        a, b, eps = self.a, self.b, self.eps
        n_newton = steps = 0
        if polish and err > tol and budget > 0:
            from .newton import newton

            f, g, err, n_newton = newton(C, f, g, a, b, eps, tol, budget, K)
            steps = n_newton
        while polish and err > tol and steps < budget:
            f, g = log_steps(C, f, g, self.loga, self.logb, eps)   # Newton stalled
            steps += 1
            err = plan_error(C, f, g, a, b, eps, K)
        if not n_newton:
            err = plan_error(C, f, g, a, b, eps, K)   # the plan, rebuilt exactly
        return f, (f.copy() if self.symmetric else g), err, n_newton, steps, K

    def totals(self, sol):
        return float(np.vdot(sol.plan, self.C)), float(sol.plan.sum())
