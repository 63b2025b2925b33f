"""Plotting helpers (matplotlib, imported when first used).

Each helper takes an optional matplotlib ``ax`` (a new figure's axes when omitted),
draws on it, and returns it, so helpers compose:

>>> import numpy as np, emdkit
>>> from emdkit import plot
>>> x = np.random.default_rng(0).normal(size=(12, 2))
>>> ax = plot.transport(x, x + [2.0, 0.0])          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.figure(figsize=(5, 4)).add_subplot()


def _points(name, z):
    z = np.asarray(z.detach().cpu() if hasattr(z, "detach") else z, dtype=float)
    if z.ndim == 1:
        z = np.c_[z, np.zeros_like(z)]
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"{name} must be 1-D or 2-D points, shape (n,) or (n, 2), got "
                         f"shape {z.shape}")
    return z


def samples(a, b, ax=None, *, labels=("a", "b"), **scatter):
    """Scatter the two samples (1-D samples are drawn on the line y = 0)."""
    ax = _axes(ax)
    A, B = _points("a", a), _points("b", b)
    kw = dict(s=18, zorder=3)
    kw.update(scatter)
    ax.scatter(A[:, 0], A[:, 1], label=labels[0], color="C0", **kw)
    ax.scatter(B[:, 0], B[:, 1], label=labels[1], color="C1", marker="s", **kw)
    ax.legend(loc="best", fontsize=8)
    return ax


def plan(a, b, coupling, ax=None, *, threshold: float = 1e-3, max_lines: int = 5000,
         color="0.3", points: bool = True):
    """Draw a transport plan as segments from ``a[i]`` to ``b[j]``, each with an
    opacity proportional to the mass ``coupling[i, j]`` it carries. Entries below
    ``threshold`` times the largest are not drawn; at most ``max_lines`` segments (the
    heaviest)."""
    A, B = _points("a", a), _points("b", b)
    P = np.asarray(coupling.detach().cpu() if hasattr(coupling, "detach") else coupling,
                   dtype=float)
    if P.shape != (A.shape[0], B.shape[0]):
        raise ValueError(f"coupling must have shape ({A.shape[0]}, {B.shape[0]}) to "
                         f"match a and b, got {P.shape}")
    ax = _axes(ax)
    from matplotlib.collections import LineCollection

    top = P.max() if P.size else 0.0
    if top > 0:
        i, j = np.nonzero(P >= threshold * top)
        order = np.argsort(P[i, j])[::-1][:max_lines]
        i, j = i[order], j[order]
        rgba = np.zeros((len(i), 4))
        from matplotlib.colors import to_rgba

        rgba[:] = to_rgba(color)
        rgba[:, 3] = np.clip(P[i, j] / top, 0.05, 1.0)
        ax.add_collection(LineCollection(np.stack([A[i], B[j]], axis=1), colors=rgba,
                                         linewidths=1.2, zorder=2))
    if points:
        samples(A, B, ax)
    ax.autoscale_view()
    return ax


def transport(a, b, ax=None, *, method: str = "exact", p: float = 1, **options):
    """Solve with ``method`` (one that returns a plan: exact or sinkhorn) and draw the
    samples and the plan; the title gives the distance."""
    from .api import solve

    r = solve(a, b, method, p=p, **options)
    if r.plan is None:
        raise ValueError(f"method {method!r} returns no transport plan to draw; use "
                         f"'exact' or 'sinkhorn'")
    ax = plan(a, b, r.plan, ax)
    ax.set_title(f"{r.method}: W_{p:g} = {float(r.value):.4g}", fontsize=10)
    return ax


def comparison(table, ax=None, *, annotate: bool = True):
    """Accuracy against time for an :func:`emdkit.compare` table: ``|error|`` against
    seconds on log axes, one point per method (value against seconds when the table
    has no reference)."""
    ax = _axes(ax)
    rows = [r for r in table.rows if r.value is not None]
    has_err = table.truth is not None and all(r.error is not None for r in rows)
    for k, r in enumerate(rows):
        yv = max(abs(r.error), 1e-16) if has_err else r.value
        ax.scatter([r.seconds], [yv], color=f"C{k % 10}", zorder=3, label=r.method)
        if annotate:
            ax.annotate(r.method, (r.seconds, yv), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
    ax.set_xscale("log")
    if has_err:
        ax.set_yscale("log")
        ax.set_ylabel(f"|value / {table.reference} - 1|")
    else:
        ax.set_ylabel(f"W_{table.p:g}")
    ax.set_xlabel("seconds")
    ax.grid(True, which="both", alpha=0.3)
    return ax


def curve(x: Any, ys: dict, ax=None, *, xlabel: str = "", ylabel: str = "",
          logx: bool = False, logy: bool = False, bands: Optional[dict] = None):
    """Several named curves against one x, with optional (lo, hi) bands per name."""
    ax = _axes(ax)
    for k, (name, y) in enumerate(ys.items()):
        ax.plot(x, y, "o-", ms=3, color=f"C{k % 10}", label=name)
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(x, lo, hi, color=f"C{k % 10}", alpha=0.2)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax
