"""The suite's figures (matplotlib, Agg backend): each function writes one PNG and
returns its path."""

from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def scaling_plot(scaling: dict, path: Path) -> Path:
    """Log-log time against n, one panel per method, emdkit solid and peers dashed,
    the fitted slope in the legend."""
    plt = _plt()
    methods = list(scaling)
    fig, axes = plt.subplots(1, len(methods), figsize=(3.6 * len(methods), 3.4))
    axes = np.atleast_1d(axes)
    for ax, method in zip(axes, methods):
        res = scaling[method]
        ns = [r["n"] for r in res["rows"]]
        for name in res["rows"][0]["seconds"]:
            ts = [r["seconds"][name] for r in res["rows"]]
            ax.loglog(ns, ts, "o-" if name == "emdkit" else "s--",
                      label=f"{name} (slope {res['slopes'][name]:.2f})")
        ax.set_title(method)
        ax.set_xlabel("n = m")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("seconds (median)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def agreement_heatmap(study: dict, path: Path, critic: str = "critic-groupsort") -> Path:
    """|critic / exact - 1| over (d, n), one panel per family: green within 5%,
    yellow within 10%, red beyond; the signed error printed in each cell."""
    plt = _plt()
    from matplotlib.colors import BoundaryNorm, ListedColormap

    g = study["grid"]
    fams, dims, sizes = g["families"], g["dims"], g["sizes"]
    fig, axes = plt.subplots(1, len(fams), figsize=(3.2 * len(fams) + 0.6, 0.5 * len(dims) + 1.6))
    axes = np.atleast_1d(axes)
    cmap = ListedColormap(["#7fc97f", "#fdc086", "#f0027f"])
    norm = BoundaryNorm([0, 0.05, 0.10, 1e9], cmap.N)
    for ax, fam in zip(axes, fams):
        err = np.full((len(dims), len(sizes)), np.nan)
        for c in study["cells"]:
            if c["family"] == fam and critic in c["results"]:
                err[dims.index(c["d"]), sizes.index(c["n"])] = \
                    c["results"][critic]["err_vs_exact"]
        ax.imshow(np.abs(err), cmap=cmap, norm=norm, aspect="auto", origin="lower")
        for i in range(len(dims)):
            for j in range(len(sizes)):
                if np.isfinite(err[i, j]):
                    ax.text(j, i, f"{err[i, j]:+.0%}", ha="center", va="center", fontsize=8)
        ax.set_xticks(range(len(sizes)), [f"{n:,}" for n in sizes])
        ax.set_yticks(range(len(dims)), [str(d) for d in dims])
        ax.set_xlabel("n")
        ax.set_title(fam, fontsize=9)
    axes[0].set_ylabel("d")
    fig.suptitle(f"{critic} against exact on the samples "
                 "(green: within 5%, orange: within 10%, red: beyond)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def which_method_plot(study: dict, path: Path, rows: List[dict], tols) -> Path:
    """Over (d, n), one panel per threshold ``tols`` (``agreement.WHICH_TOLS``): the
    fastest method within it of the population truth on every family (``rows``:
    ``agreement.which_method(study)``), coloured by kind (grey: none), with its
    time."""
    plt = _plt()
    from matplotlib.colors import ListedColormap

    g = study["grid"]
    dims, sizes = g["dims"], g["sizes"]
    kinds = ["none", "exact", "sinkhorn", "sliced", "critic"]
    cmap = ListedColormap(["#dddddd", "#7fc97f", "#beaed4", "#fdc086", "#386cb0"])
    fig, axes = plt.subplots(1, len(tols), figsize=(4.6 * len(tols),
                                                    0.55 * len(dims) + 1.8))
    for ax, tol in zip(np.atleast_1d(axes), tols):
        code = np.zeros((len(dims), len(sizes)))
        for r in rows:
            i, j = dims.index(r["d"]), sizes.index(r["n"])
            best = r["within"][tol][:1]
            label = "none"
            if best:
                m, t = best[0]
                kind = next(k for k in kinds[1:] if k in m)     # max-sliced: sliced
                code[i, j] = kinds.index(kind)
                label = f"{m}\n{t:.2g} s"
            ax.text(j, i, label, ha="center", va="center", fontsize=7)
        ax.imshow(code, cmap=cmap, vmin=0, vmax=len(kinds) - 1, aspect="auto",
                  origin="lower")
        ax.set_xticks(range(len(sizes)), [f"{n:,}" for n in sizes])
        ax.set_yticks(range(len(dims)), [str(d) for d in dims])
        ax.set_xlabel("n")
        ax.set_ylabel("d")
        ax.set_title(f"fastest within {tol:.0%} of the truth on every family", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def auto_grid_plot(res: dict, path: Path) -> Path:
    """auto's time over the fastest certified route's, against that route's time, on
    the held-out grid (``auto_grid``), with the 1.25x and 2x lines."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    markers = {"iid": "o", "shifted": "s"}              # images: "^"
    kinds = sorted({r["kind"] for r in res["rows"]}, key=lambda k: (k not in markers, k))
    for kind in kinds:
        pts = [(r["best_s"], r["ratio"]) for r in res["rows"]
               if r.get("ratio") and r["kind"] == kind]
        if pts:
            ax.scatter(*zip(*pts), marker=markers.get(kind, "^"), label=kind, alpha=0.8)
    for level, style in ((1.25, "--"), (2.0, ":")):
        ax.axhline(level, color="grey", linestyle=style, linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("fastest certified route (s)")
    ax.set_ylabel("auto / fastest route")
    ax.set_title("auto on the held-out grid")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def error_vs_d(study: dict, path: Path) -> Path:
    """Relative error against the population truth, against d, per method, at the
    largest n; one panel per family."""
    plt = _plt()
    g = study["grid"]
    fams, dims, n = g["families"], g["dims"], g["sizes"][-1]
    methods = list(study["cells"][0]["results"])
    fig, axes = plt.subplots(1, len(fams), figsize=(4.2 * len(fams), 3.6), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, fam in zip(axes, fams):
        cells = sorted((c for c in study["cells"] if c["family"] == fam and c["n"] == n),
                       key=lambda c: c["d"])
        for m in methods:
            ax.plot([c["d"] for c in cells], [c["results"][m]["err_vs_truth"] for c in cells],
                    "o-" if not m.startswith("critic") else "s--", label=m, ms=3)
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.set_xlabel("d")
        ax.set_title(f"{fam}, n = {n:,}", fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("value / truth - 1 (symlog)")
    axes[-1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def multiscale_plot(res: dict, path: Path) -> Path:
    """Time and peak memory of the multiscale backend against n, log-log, per d."""
    plt = _plt()
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(8.0, 3.4))
    for d in sorted({r["d"] for r in res["rows"]}):
        rows = sorted((r for r in res["rows"] if r["d"] == d), key=lambda r: r["n"])
        ns = [r["n"] for r in rows]
        sl = res["slopes"][f"d={d}"]
        ax_t.loglog(ns, [r["seconds"] for r in rows], "o-",
                    label=f"d = {d} (slope {sl['time']:.2f})")
        ax_m.loglog(ns, [r["peak_rss_mb"] for r in rows], "o-",
                    label=f"d = {d} (slope {sl['memory']:.2f})")
    for key, style, what in (("iid", "s--", "two samples of one Gaussian"),
                             ("geomloss", "x:", "GeomLoss multiscale, not certified")):
        for d in sorted({r["d"] for r in res.get(key, [])}):
            rows = sorted((r for r in res[key] if r["d"] == d), key=lambda r: r["n"])
            ns = [r["n"] for r in rows]
            for ax, field in ((ax_t, "seconds"), (ax_m, "peak_rss_mb")):
                ax.loglog(ns, [r[field] for r in rows], style, label=f"d = {d}, {what}")
    for ax, label in ((ax_t, "seconds (rtol = 0.01)"), (ax_m, "peak RSS (MB)")):
        ax.set_xlabel("n = m")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("multiscale Sinkhorn with rtol = 0.01 (iid at 1e5: not within it), "
                 "and GeomLoss's multiscale backend", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def all_plots(results: dict, out: Path) -> List[Path]:
    paths = []
    if results.get("scaling"):
        paths.append(scaling_plot(results["scaling"], out / "scaling.png"))
    if results.get("agreement"):
        paths.append(agreement_heatmap(results["agreement"], out / "agreement_heatmap.png"))
        paths.append(error_vs_d(results["agreement"], out / "error_vs_d.png"))
    if (results.get("multiscale") or {}).get("rows"):
        paths.append(multiscale_plot(results["multiscale"], out / "multiscale.png"))
    if (results.get("auto_grid") or {}).get("rows"):
        paths.append(auto_grid_plot(results["auto_grid"], out / "auto_grid.png"))
    plot = (results.get("training") or {}).get("plot")
    if plot and (out / plot).exists():
        paths.append(out / plot)       # drawn by the WGAN example itself
    return paths
