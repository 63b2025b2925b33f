"""The operator that never forms the (n, m) cost: exact log-domain updates by blocks of
rows, the cost recomputed from the coordinates block by block, so memory stays
O((n + m) * block)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .driver import lse_rows


def softmin(cost_block: Callable, rows: int, h: np.ndarray, eps: float,
            block: int, transpose: bool) -> np.ndarray:
    """``-eps * LSE_j((h_j - C_ij) / eps)`` for every row i, by blocks of rows, the
    blocks shared out between the cores (cdist and numpy release the GIL)."""
    from ...threads import run_all, workers

    out = np.empty(rows)

    def rows_from(start):
        for i0 in range(start * block, rows, block * workers()):
            i1 = min(i0 + block, rows)
            M = cost_block(i0, i1, transpose)     # fresh (i1 - i0, other) array
            np.subtract(h[None, :], M, out=M)
            M *= 1.0 / eps
            out[i0:i1] = -eps * lse_rows(M)

    run_all([lambda k=k: rows_from(k) for k in range(workers())],
            parallel=rows > block)
    return out


def _ratio(old, new, eps):
    with np.errstate(over="ignore"):
        return np.exp((old - new) / eps)


def _toward(old, new, omega):
    return new if omega == 1.0 else (1.0 - omega) * old + omega * new


class OnlineBlocks:
    """The driver's operator (see ``driver``); ``cost_block(i0, i1, transpose)``
    returns rows i0:i1 of C (or of C.T) as a fresh array."""

    newton = False

    def __init__(self, cost_block: Callable, a, b, *, block: int, symmetric=False):
        self.cost_block, self.a, self.b = cost_block, a, b
        self.block, self.symmetric = block, symmetric
        with np.errstate(divide="ignore"):
            self.loga, self.logb = np.log(a), np.log(b)
        self.f, self.g = np.zeros(a.shape[0]), np.zeros(b.shape[0])
        self.eps, self.rescues = None, 0      # log domain: nothing to rescue
        self._f = self._g = None

    def stage(self, eps, eps_prev, last):
        self.eps = eps

    def row_ratio(self):
        g = self.f if self.symmetric else self.g
        self._f = softmin(self.cost_block, self.f.shape[0], g + self.eps * self.logb,
                          self.eps, self.block, False)
        return _ratio(self.f, self._f, self.eps)

    def set_rows(self, omega):
        self.f = _toward(self.f, self._f, omega)

    def col_ratio(self):
        self._g = softmin(self.cost_block, self.g.shape[0], self.f + self.eps * self.loga,
                          self.eps, self.block, True)
        return _ratio(self.g, self._g, self.eps)

    def set_cols(self, omega):
        self.g = _toward(self.g, self._g, omega)

    def finish(self, err, polish, tol, budget):
        return self.f, (self.f.copy() if self.symmetric else self.g), err, 0, 0, None

    def totals(self, sol):
        """``(<P, C>, sum P)`` of the plan of the solution, by blocks."""
        transport, mass, _ = plan_sums(self.cost_block, sol.f, sol.g, self.a, self.b,
                                       sol.eps, self.block)
        return transport, mass


def plan_sums(cost_block: Callable, f, g, a, b, eps, block: int):
    """``(<P, C>, sum P, row sums of P)`` of the plan of (f, g), by blocks."""
    n = f.shape[0]
    with np.errstate(divide="ignore"):
        loga, logb = np.log(a), np.log(b)
    transport, rows = 0.0, np.empty(n)
    for i0 in range(0, n, block):
        i1 = min(i0 + block, n)
        C = cost_block(i0, i1, False)
        P = (f[i0:i1, None] + g[None, :] - C) / eps + loga[i0:i1, None] + logb[None, :]
        np.exp(P, out=P)
        transport += float(np.vdot(P, C))
        rows[i0:i1] = P.sum(axis=1)
    return transport, float(rows.sum()), rows
