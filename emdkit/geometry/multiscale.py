"""The multiscale geometry: two clouds (scaled coordinates, a named metric) on one grid
of nested cells, coarse to fine.

A level ``l`` cuts the bounding box into ``2 ** (l d)`` cells; a point's cell at every
level is a prefix of its Morton key (``keys``). ``levels`` picks the levels worth
passing through, ``cells`` sums a cloud's weights into a level's occupied cells (at
their weighted centroids), ``diameter`` bounds the distance within a cell, and
``tree`` orders a point set for the branch-and-bound searches of ``cells`` (exact
c-transforms, truncated supports). Any solver that goes coarse to fine reads it: the
multiscale Sinkhorn does today.
"""

from __future__ import annotations

import math

import numpy as np

from .cells import Tree

#: The coarsest level has at most this many cells per cloud (its kernel is all pairs).
COARSE_MAX = 1024
#: A level is used while it has fewer than this fraction of the points as cells.
LEVEL_FRACTION = 0.9


class CellGrid:
    """Two clouds ``x`` (n, d) and ``y`` (m, d), scaled so that every distance is
    below 2, on one grid of ``bits`` levels over their bounding box."""

    dense = False

    def __init__(self, x: np.ndarray, y: np.ndarray, metric: str, p: float):
        self.x, self.y, self.metric, self.p = x, y, metric, float(p)
        d = x.shape[1]
        self.lo = np.minimum(x.min(0), y.min(0))
        span = float((np.maximum(x.max(0), y.max(0)) - self.lo).max())
        self.span = span * (1.0 + 1e-9) if span > 0 else 1.0
        self.bits = max(1, min(63 // d, 20))

    # ------------------------------------------------------------------ levels
    def keys(self, pts):
        from ..kernels.tree import morton_keys

        q = np.floor((pts - self.lo) / self.span * 2 ** self.bits).astype(np.int64)
        np.clip(q, 0, 2 ** self.bits - 1, out=q)
        return morton_keys(q, self.bits)

    def diameter(self, level):
        side = self.span / 2 ** level
        d = self.x.shape[1]
        return side * {"euclidean": math.sqrt(d), "cityblock": d, "chebyshev": 1.0}[
            self.metric]

    def levels(self, kx, ky, n, m):
        """The grid levels to pass through, coarse to fine."""
        d, out = self.x.shape[1], []
        for level in range(1, self.bits + 1):
            shift = d * (self.bits - level)
            cx, cy = np.unique(kx >> shift).size, np.unique(ky >> shift).size
            if cx >= LEVEL_FRACTION * n or cy >= LEVEL_FRACTION * m:
                break
            if cx <= COARSE_MAX and cy <= COARSE_MAX:
                out = [level]
            elif out:
                out.append(level)
        return out

    def cells(self, pts, w, keys, level):
        """Occupied cells of a level: (cell keys, centroids, summed weights)."""
        shift = self.x.shape[1] * (self.bits - level)
        ck, inv = np.unique(keys >> shift, return_inverse=True)
        mass = np.bincount(inv, weights=w, minlength=ck.size)
        cen = np.stack([np.bincount(inv, weights=w * pts[:, t], minlength=ck.size)
                        for t in range(pts.shape[1])], axis=1) / mass[:, None]
        return ck, cen, mass

    def tree(self, pts) -> Tree:
        """A point set of this grid (points or a level's centroids) as a cell tree."""
        return Tree(pts, self.lo, self.span, self.bits)
