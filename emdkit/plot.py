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

    # constrained layout: labels and titles are never clipped at the figure's edge
    return plt.figure(figsize=(5, 4), layout="constrained").add_subplot()


def _points(name, z, image: bool = False):
    z = np.asarray(z.detach().cpu() if hasattr(z, "detach") else z, dtype=float)
    if z.ndim == 1:
        z = np.c_[z, np.zeros_like(z)]
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"{name} must be 1-D or 2-D points, shape (n,) or (n, 2), got "
                         f"shape {z.shape}")
    # emdkit.grid's points are (row, column): drawn as imshow shows the image
    return z[:, ::-1] if image else z


def _sizes(name, w, n, base):
    """Marker areas proportional to the weights (``base`` for the mean weight), or
    ``base`` for every point without weights."""
    if w is None:
        return base
    w = np.asarray(w.detach().cpu() if hasattr(w, "detach") else w, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"{name} must have one weight per point, shape ({n},), got "
                         f"shape {w.shape}")
    mean = w.mean() if w.size and w.mean() > 0 else 1.0
    return base * w / mean


def _image_axes(ax, image):
    if image and not ax.yaxis_inverted():
        ax.invert_yaxis()               # row 0 at the top, as imshow draws it
    if image:
        ax.set_aspect("equal")


def samples(a, b, ax=None, *, labels=("a", "b"), a_weights=None, b_weights=None,
            image: bool = False, **scatter):
    """Scatter the two samples (1-D samples are drawn on the line y = 0); with
    weights, each marker's area is proportional to its weight. ``image=True``: the
    points are ``(row, column)`` pixel positions (:func:`emdkit.grid`), drawn as
    ``imshow`` shows the image (column across, row down)."""
    ax = _axes(ax)
    A, B = _points("a", a, image), _points("b", b, image)
    kw = dict(zorder=3, linewidths=1.0)
    kw.update(scatter)
    base = kw.pop("s", 18)
    # a filled, b hollow: the plan's lines stay visible through b's markers
    ax.scatter(A[:, 0], A[:, 1], s=_sizes("a_weights", a_weights, len(A), base),
               label=labels[0], color="C0", alpha=0.8, **kw)
    ax.scatter(B[:, 0], B[:, 1], s=_sizes("b_weights", b_weights, len(B), base),
               label=labels[1], facecolors="none", edgecolors="C1", marker="o", **kw)
    _image_axes(ax, image)
    ax.legend(loc="best", fontsize=8)
    return ax


def plan(a, b, coupling, ax=None, *, threshold: float = 1e-3, max_lines: int = 5000,
         color="0.3", points: bool = True, a_weights=None, b_weights=None,
         image: bool = False):
    """Draw a transport plan as segments from ``a[i]`` to ``b[j]``, each with an
    opacity proportional to the mass ``coupling[i, j]`` it carries. Entries below
    ``threshold`` times the largest are not drawn; at most ``max_lines`` segments (the
    heaviest). ``a_weights``, ``b_weights`` and ``image`` as for :func:`samples`
    (without weights the markers' areas follow the plan's marginals)."""
    A, B = _points("a", a, image), _points("b", b, image)
    P = np.asarray(coupling.detach().cpu() if hasattr(coupling, "detach") else coupling,
                   dtype=float)
    if hasattr(coupling, "toarray"):            # a sparse plan (multiscale)
        P = np.asarray(coupling.toarray(), dtype=float)
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
        weighted = a_weights is not None or b_weights is not None
        wa = a_weights if weighted or not top > 0 else P.sum(1)
        wb = b_weights if weighted or not top > 0 else P.sum(0)
        samples(A, B, ax, a_weights=wa, b_weights=wb)
    _image_axes(ax, image)
    ax.autoscale_view()
    return ax


def transport(a, b, ax=None, *, method: str = "exact", p: float = 1, a_weights=None,
              b_weights=None, image: bool = False, **options):
    """Solve with ``method`` (one that returns a plan: exact or sinkhorn) and draw the
    samples, sized by their weights, and the plan; the title gives the distance.
    ``image=True`` for :func:`emdkit.grid` points (see :func:`samples`)."""
    from .api import solve

    r = solve(a, b, method, p=p, a_weights=a_weights, b_weights=b_weights, **options)
    if r.plan is None:
        raise ValueError(f"method {method!r} returns no transport plan to draw; use "
                         f"'exact' or 'sinkhorn'")
    ax = plan(a, b, r.plan, ax, a_weights=a_weights, b_weights=b_weights, image=image)
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
        if annotate:            # labels alternately above and below: fewer overlaps
            ax.annotate(r.method, (r.seconds, yv), textcoords="offset points",
                        xytext=(6, 5 if k % 2 == 0 else -11), fontsize=8)
    ax.margins(x=0.3, y=0.2)        # room for the labels inside the axes
    ax.set_xscale("log")
    if has_err:
        ax.set_yscale("log")
        ax.set_ylabel(f"|value / {table.reference} - 1|")
    else:
        ax.set_ylabel(f"W_{table.p:g}")
    ax.set_xlabel("seconds")
    ax.grid(True, which="both", alpha=0.3)
    from matplotlib.ticker import FuncFormatter

    def minor_labels(axis):
        def minor(v, _):        # a log axis of under 2 decades: label 2x and 5x only
            lo, hi = sorted(axis.get_view_interval())
            if not (lo > 0 and np.log10(hi / lo) < 2.0 and v > 0):
                return ""       # longer: the decades alone (the minor labels collide)
            m = v / 10.0 ** np.floor(np.log10(v))
            return f"{v:g}" if round(m) in (2, 5) and abs(m - round(m)) < 1e-6 else ""
        return FuncFormatter(minor)

    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        if scale == "log":
            axis.set_minor_formatter(minor_labels(axis))
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
