"""The agreement study: when does each method agree with the truth and with the critic?

    python -m emdkit.bench.agreement [--quick] [--publish benchmarks/results]

For each family of ``emdkit.datasets`` with a known population W_1, each dimension d and
sample size n, independent seeded draws of n + n samples (five in the full study) are
measured by every method: ``exact`` (the LP on the samples), ``sinkhorn`` (default
epsilon), ``sliced`` (raw, and divided by the c_d factor that relates sliced and true
W_1 for translations), ``max-sliced``, and the critic under each Lipschitz mode. Each
value is compared with the population truth, with ``exact`` on the samples, and with
the GroupSort critic; tables give the median over the draws and their range. Beside
the grid: a large-n section (10^4 and 10^5 points in 2 and 3 dimensions), Korotin et
al.'s setting (D = 128) and real data (scikit-learn's digits)."""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np

import emdkit
from emdkit import datasets

from . import peer
from ..table import markdown

FAMILIES = ("translation", "gaussian-scale", "lipschitz-rays")
MODES = ("groupsort", "gp", "spectral", "clip")
FULL = dict(dims=(1, 2, 5, 10, 32, 128), sizes=(250, 1000, 4000), critic_steps=None,
            draws=5, korotin_n=4000, digits=None)        # None: every DIGITS pair
QUICK = dict(dims=(1, 2, 10), sizes=(250,), critic_steps=200, draws=2, korotin_n=250,
             digits=("digits 3 vs 8",))
#: The large-n section: d = 2 and 3, up to 10^5 points a side, every family; exact
#: on the samples up to ``exact_max`` points (past it, W_1 between these shifted
#: pairs takes the multiscale LP minutes per draw: 42 s at 3 x 10^4 points of the 2-D
#: translation, and at 10^5 one level of 41,000 cells alone 112 s, its network
#: simplex re-hanging subtrees of 4000 nodes a pivot on W_1's degenerate rays), dense
#: Sinkhorn (default epsilon) up to ``sinkhorn_max`` on the first ``sinkhorn_draws``
#: draws (at 10^4 points, two draws side by side on one thread each: 32 to 48 s in
#: 2-D, 19 to 95 s in 3-D, where exact takes 5 to 8 s; its n x n matrices stop it
#: there); the rest at every size.
#: Past ``exact_max`` exact runs in ``exact_far_dims`` on the first ``exact_far_draws``
#: draws only, stopped once its certified bracket is within ``exact_far_rtol``
#: (``exact(rtol=...)``). At 10^5 points, alone on 2 cores: with rtol 1e-3 W_1 took
#: 66 to 96 s a draw on the 2-D translation, 193 s on the 3-D translation and 159 s on
#: the 3-D Lipschitz rays; with rtol 1e-2, 62 s (2-D translation, bracket 4e-5), 118 s
#: (3-D translation, 1.3e-3) and 118 s (3-D gaussian-scale, 2.6e-3): it stops after
#: the points' first pricing round, the certificate on every point far tighter than
#: rtol. At 1e-3 the 3-D draws would take the study past 45 minutes.
LARGE_FULL = dict(dims=(2, 3), sizes=(10_000, 100_000), draws=5, exact_max=10_000,
                  exact_far_dims=(2, 3), exact_far_draws=1, exact_far_rtol=1e-2,
                  sinkhorn_max=10_000, sinkhorn_draws=1)
LARGE_QUICK = dict(dims=(2,), sizes=(600,), draws=1, exact_max=600, exact_far_dims=(2,),
                   exact_far_draws=1, exact_far_rtol=1e-3, sinkhorn_max=0)
#: The setting of Korotin et al. (NeurIPS 2022, "Kantorovich strikes back! Wasserstein
#: GANs are not optimal transport?"): D = 128, potentials of 64 and of 4 pieces.
KOROTIN_D, KOROTIN_PIECES = 128, (64, 4)
#: Their published estimates (Table 1 of the paper, as quoted in this project's
#: tracker): true W_1 = 1.045 with 64 funnels; per method, the emdkit mode closest
#: to it (None: none), the estimate with 64 funnels and the relative error with 4
#: (None: not quoted).
KOROTIN_TRUTH = 1.045
KOROTIN_PUBLISHED = {"WGAN-GP": ("critic-gp", 0.711, -0.006),
                     "WGAN-LP": (None, 0.687, None),
                     "spectral normalisation": ("critic-spectral", 0.192, None),
                     "weight clipping": ("critic-clip", 2.80, None)}
#: The critic the others are compared with.
REFERENCE_CRITIC = "critic-groupsort"


def c_d(d: int) -> float:
    """Sliced W_1 of a translation by t is ``c_d |t|``:
    ``c_d = Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))`` (the mean |<theta, e>| over the
    sphere)."""
    return math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)


def _pair(family: str, n: int, d: int, draw: int = 0):
    """Draw ``draw`` of the family's pair: its own samples (seed ``draw``) of one
    population (for lipschitz-rays the potential stays ``law_seed=0``).
    ``"lipschitz-rays:K"``: with K pieces (default 8)."""
    family, _, pieces = family.partition(":")
    kwargs = {"translation": dict(shift=1.0), "gaussian-scale": dict(s=2.0),
              "lipschitz-rays": dict(mean_move=1.0)}[family]
    if pieces:
        kwargs["n_pieces"] = int(pieces)
    return datasets.FAMILIES[family](n, d, seed=draw, **kwargs)


def _timed(fn):
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = fn()
    return r, time.perf_counter() - t0, [str(w.message)[:120] for w in caught]


def measure_cell(family: str, d: int, n: int, critic_steps: Optional[int],
                 modes: Sequence[str] = MODES, torch_ok: bool = True,
                 draw: int = 0, skip: Sequence[str] = (),
                 exact_rtol: Optional[float] = None) -> dict:
    """Every method (but ``skip``) on draw ``draw`` of one (family, d, n): the samples
    and the methods' seeds (sliced, max-sliced, the critic's) are the draw's;
    ``exact_rtol``: exact stops once its certified bracket is within it."""
    if family.startswith("digits"):
        x, y = digits_pair(family, draw)
        truth = None
    else:
        pair = _pair(family, n, d, draw)
        x, y, truth = pair.x, pair.y, pair.truth(1)
    out = measure_pair(x, y, truth, draw, critic_steps, modes, torch_ok, skip,
                       exact_rtol)
    return {"family": family, "d": d, "n": n, "draw": draw, "truth": truth,
            "results": out}


def measure_pair(x, y, truth: Optional[float], draw: int, critic_steps: Optional[int],
                 modes: Sequence[str] = MODES, torch_ok: bool = True,
                 skip: Sequence[str] = (),
                 exact_rtol: Optional[float] = None) -> Dict[str, dict]:
    """Every method on the samples ``x``, ``y`` (seeds ``draw``) but those in ``skip``
    (``"exact"``, ``"sinkhorn"``): value, time, convergence, warnings, and the errors
    against ``truth`` (where known), exact (where run; within ``exact_rtol`` where
    given, its bracket's relative width kept) and the reference critic."""
    d = x.shape[1]
    runs = {
        "exact": lambda: emdkit.solve(x, y, "exact", **(
            {} if exact_rtol is None else {"rtol": exact_rtol})),
        "sinkhorn": lambda: emdkit.solve(x, y, "sinkhorn"),
        "sliced": lambda: emdkit.solve(x, y, "sliced", seed=draw),
        "max-sliced": lambda: emdkit.solve(x, y, "max-sliced", seed=draw),
    }
    for name in skip:
        del runs[name]
    if torch_ok:
        opts = {} if critic_steps is None else {"steps": critic_steps}
        for mode in modes:
            runs[f"critic-{mode}"] = (lambda mode=mode: emdkit.solve(
                x, y, "critic", lipschitz=mode, seed=draw, **opts))
    out: Dict[str, dict] = {}
    for name, fn in runs.items():
        r, secs, warned = _timed(fn)
        rec = {"value": float(r.value), "seconds": secs, "converged": bool(r.converged),
               "warnings": warned}
        if r.ci is not None:
            rec["ci"] = [float(r.ci[0]), float(r.ci[1])]
        if name.startswith("critic"):
            rec["max_grad_norm"] = r.info.get("max_grad_norm")
        if name == "exact":
            rec["bracket"] = float(r.info["bracket_width"])
        out[name] = rec
    out["sliced / c_d"] = {"value": out["sliced"]["value"] / c_d(d),
                           "seconds": out["sliced"]["seconds"], "converged": True,
                           "warnings": []}
    clip = out.get("critic-clip")
    if clip and clip.get("max_grad_norm"):
        # a clipped critic is K-Lipschitz for an unknown K: rescaled by the largest
        # gradient norm measured on the held-out points and their interpolates
        out["critic-clip / K"] = {"value": clip["value"] / clip["max_grad_norm"],
                                  "seconds": clip["seconds"],
                                  "converged": clip["converged"], "warnings": []}
    ex = out.get("exact", {}).get("value")
    ref = out.get(REFERENCE_CRITIC, {}).get("value")
    for rec in out.values():
        if truth is not None:
            rec["err_vs_truth"] = rec["value"] / truth - 1.0
        if ex is not None:
            rec["err_vs_exact"] = rec["value"] / ex - 1.0
        if ref is not None and ref > 0:
            rec["err_vs_critic"] = rec["value"] / ref - 1.0
    return out


# ------------------------------------------------------------- real data: digits

#: The digits pairs (scikit-learn's bundled 8 x 8 images, 64-D, pixel values 0-16):
#: two classes; a class against its copy with Gaussian pixel noise (sigma 2) or moved
#: one pixel right; all digits split at random in two halves (one distribution).
DIGITS = ("digits 3 vs 8", "digits 1 vs 7", "digits 0 vs 0 + noise",
          "digits 4 vs 4 moved", "digits halves")


def digits_pair(name: str, draw: int):
    """The samples of one :data:`DIGITS` pair (the noise and the halves are the
    draw's; the classes are the data set's own)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X, labels = data.data.astype(float), data.target
    rng = np.random.default_rng(draw)
    if name == "digits halves":
        perm = rng.permutation(len(X))
        return X[perm[::2]], X[perm[1::2]]
    if name == "digits 0 vs 0 + noise":
        zero = X[labels == 0]
        return zero, zero + rng.normal(scale=2.0, size=zero.shape)
    if name == "digits 4 vs 4 moved":
        four = X[labels == 4].reshape(-1, 8, 8)
        moved = np.zeros_like(four)
        moved[:, :, 1:] = four[:, :, :-1]
        return four.reshape(-1, 64), moved.reshape(-1, 64)
    a, b = (int(t) for t in name.split()[1::2])
    return X[labels == a], X[labels == b]


#: What a cell keeps of each draw, per method.
_PER_DRAW = ("value", "err_vs_truth", "err_vs_exact", "err_vs_critic", "seconds",
             "bracket")


def combine(draws: List[dict]) -> dict:
    """One cell from its draws: per method the median of each error and of the time
    (what the tables, findings and plots read), ``spread_truth`` / ``spread_exact``
    (the draws' smallest and largest error) and the draws themselves. Where exact
    ran on some draws only (the large-n section past ``exact_max``) the errors
    against it are over those draws, and ``exact_draws`` says how many."""
    import statistics

    first = draws[0]
    methods = list(dict.fromkeys(m for dr in draws for m in dr["results"]))
    results = {}
    for m in methods:
        per = [dr["results"][m] for dr in draws if m in dr["results"]]
        rec = {"converged": all(r["converged"] for r in per),
               "warnings": sorted({w for r in per for w in r["warnings"]})}
        for key in _PER_DRAW:
            vals = [r[key] for r in per if r.get(key) is not None]
            if vals and (len(vals) == len(per) or key == "err_vs_exact"):
                rec[key] = statistics.median(vals)
        for key, name in (("err_vs_truth", "spread_truth"), ("err_vs_exact", "spread_exact")):
            vals = [r[key] for r in per if key in r]
            if vals and (len(vals) == len(per) or key == "err_vs_exact"):
                rec[name] = [min(vals), max(vals)]
        if len(per) < len(draws):
            rec["draws_run"] = len(per)
        against_exact = sum("err_vs_exact" in r for r in per)
        if 0 < against_exact < len(draws):
            rec["exact_draws"] = against_exact
        if per[0].get("max_grad_norm") is not None:
            rec["max_grad_norm"] = max(r["max_grad_norm"] for r in per)
        results[m] = rec
    return {"family": first["family"], "d": first["d"], "n": first["n"],
            "truth": first["truth"], "n_draws": len(draws), "results": results,
            "draws": [{m: {k: r.get(k) for k in _PER_DRAW if r.get(k) is not None}
                       for m, r in dr["results"].items()} for dr in draws]}


def _skipped(n: int, d: int, big: dict, draw: int) -> tuple:
    """The methods the large-n section does not run on draw ``draw`` at ``n`` points
    a side in ``d`` dimensions (exact past ``exact_max`` in ``exact_far_dims`` on
    the first ``exact_far_draws`` draws only; Sinkhorn up to ``sinkhorn_max`` on
    the first ``sinkhorn_draws`` draws only)."""
    far = d in big.get("exact_far_dims", ()) and draw < big.get("exact_far_draws", 0)
    exact_cap = math.inf if far else big["exact_max"]
    sinkhorn_cap = big["sinkhorn_max"] if draw < big.get("sinkhorn_draws", math.inf) else 0
    return tuple(name for name, cap in (("exact", exact_cap),
                                        ("sinkhorn", sinkhorn_cap)) if n > cap)


def _exact_rtol(n: int, big: dict) -> Optional[float]:
    """Exact's ``rtol`` in the large-n section: past ``exact_max``,
    ``exact_far_rtol``; else None (to optimality)."""
    return big.get("exact_far_rtol") if n > big["exact_max"] else None


def _workers(wanted: Optional[int]) -> int:
    """Processes for the draws: ``wanted``, else one per core up to 2; 1 inside a
    daemonic process (a Dask worker cannot start its own)."""
    import multiprocessing as mp
    import os

    if mp.current_process().daemon:
        return 1
    return wanted if wanted is not None else min(2, os.cpu_count() or 1)


def pooled(fn, tasks, workers: int):
    """``fn(*task)`` for every task, in order, each as it is ready: on ``workers``
    spawned processes, which share the cores (emdkit's kernels on ``cores //
    workers`` threads each, as ``pairwise``'s workers: two draws side by side on 2
    cores, each on one thread, ran Sinkhorn and exact 2-4% faster than on two threads
    each, at 4000 points a side; the critic on one torch thread), or in this one where
    ``workers`` is 1."""
    if workers <= 1:
        for t in tasks:
            yield fn(*t)
        return
    import multiprocessing as mp
    import os
    from concurrent.futures import ProcessPoolExecutor

    from ..threads import limit_threads

    share = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                             initializer=limit_threads, initargs=(share,)) as pool:
        yield from pool.map(fn, *zip(*tasks))


def plan(quick: bool, torch_ok: bool = True):
    """``(tasks, groups)``: the arguments of every :func:`measure_cell` call (the
    large-n section's first, the largest first, so that the pool's workers end
    together), and the cells of each part of the study (``grid``, ``korotin``,
    ``digits``, ``large``; their sizes differ, so (family, d, n) names a cell)."""
    grid = QUICK if quick else FULL
    big = LARGE_QUICK if quick else LARGE_FULL
    groups = {
        "grid": [(f, d, n) for f in FAMILIES for d in grid["dims"] for n in grid["sizes"]],
        "korotin": [(f"lipschitz-rays:{k}", KOROTIN_D, grid["korotin_n"])
                    for k in KOROTIN_PIECES if grid["korotin_n"]],
        "digits": [(name, 64, 0) for name in (
            DIGITS if grid["digits"] is None else grid["digits"])]
        if peer("sklearn") is not None else [],
        "large": [(f, d, n) for f in FAMILIES for d in big["dims"] for n in big["sizes"]]}
    tasks = sorted([(f, d, n, grid["critic_steps"], MODES, torch_ok, k,
                     _skipped(n, d, big, k), _exact_rtol(n, big))
                    for f, d, n in groups["large"] for k in range(big["draws"])],
                   key=lambda t: (-t[2], "exact" in t[7]))   # exact's draws first
    tasks += [(f, d, n, grid["critic_steps"], MODES, torch_ok, k, (), None)
              for part in ("grid", "korotin", "digits") for f, d, n in groups[part]
              for k in range(grid["draws"])]
    return tasks, groups


def run(quick: bool, progress=None, torch_ok: bool = True,
        workers: Optional[int] = None) -> dict:
    """Every cell of :func:`plan`, each ``draws`` times, on ``workers`` processes
    (default 1 for the quick grid, else one per core up to 2: two draws at a time, so
    the seconds are those of a machine with both cores busy)."""
    grid = QUICK if quick else FULL
    big = LARGE_QUICK if quick else LARGE_FULL
    tasks, groups = plan(quick, torch_ok)
    workers = _workers(1 if quick and workers is None else workers)
    done: Dict[tuple, List[dict]] = {}

    def take(k, result):
        if progress is not None:
            progress(f"agreement {result['family']} d={result['d']} n={result['n']} "
                     f"draw {result['draw'] + 1}", k, len(tasks))
        done.setdefault((result["family"], result["d"], result["n"]), []).append(result)
    for k, result in enumerate(pooled(measure_cell, tasks, workers)):
        take(k, result)

    def cell(c):
        return combine(sorted(done[c], key=lambda r: r["draw"]))
    results = [cell(c) for c in groups["grid"]]
    return {"korotin": [cell(c) for c in groups["korotin"]],
            "large": {"grid": {k: list(v) if isinstance(v, tuple) else v
                               for k, v in big.items()},
                      "cells": [cell(c) for c in groups["large"]]},
            "digits": [cell(c) for c in groups["digits"]] if groups["digits"] else {
                "skipped": "scikit-learn (the bench extra) is not installed"},
            "grid": {"families": list(FAMILIES), "dims": list(grid["dims"]),
                     "sizes": list(grid["sizes"]), "draws": grid["draws"],
                     "workers": workers,
                     "critic_steps": grid["critic_steps"] or "default (1000)",
                     "modes": list(MODES) if torch_ok else []},
            "cells": results}


# ---------------------------------------------------------------------------- report


def _cell(study, family, d, n):
    for c in study["cells"]:
        if (c["family"], c["d"], c["n"]) == (family, d, n):
            return c
    return None


def _methods(study) -> List[str]:
    first = study["cells"][0]["results"]
    order = ["exact", "sinkhorn", "sliced", "sliced / c_d", "max-sliced"]
    return order + [k for k in first if k.startswith("critic")]


def findings(study) -> List[str]:
    """Plain-words statements, computed from the measurements."""
    cells = study["cells"]
    lines = [f"- Every statement is on the median over the {_draws(study['grid'])} of "
             f"each cell; where some draws fall on the other side of a threshold the "
             f"cell is named."]
    dims, sizes = study["grid"]["dims"], study["grid"]["sizes"]
    critics = [m for m in _methods(study) if m.startswith("critic")]
    for m in critics:
        for family in study["grid"]["families"]:
            parts, anywhere = [], False
            for ref, key in (("exact on the samples", "err_vs_exact"),
                             ("the truth", "err_vs_truth")):
                for tol in (0.05, 0.10):
                    per_n = []
                    for n in sizes:
                        cells_n = {d: _cell(study, family, d, n) for d in dims}
                        ok = [d for d in dims if abs(cells_n[d]["results"][m][key]) <= tol]
                        anywhere = anywhere or bool(ok)
                        good = _largest_prefix(dims, ok)
                        cross = [d for d in dims if _crosses(cells_n[d], m, key, tol)]
                        per_n.append(f"n = {n:,}: " + (f"d <= {good}" if good else "no d")
                                     + (f" (draws on both sides at d = "
                                        f"{', '.join(map(str, cross))})" if cross else ""))
                    parts.append(f"within {tol:.0%} of {ref} for " + ", ".join(per_n))
            if anywhere:
                lines.append(f"- {family}, {m}: " + "; ".join(parts) + ".")
            else:
                lines.append(f"- {family}, {m}: never within 10% of exact on the samples "
                             f"or of the truth on this grid.")
    for family in study["grid"]["families"]:
        for d in dims:
            if d < 10:
                continue
            c = _cell(study, family, d, sizes[-1])
            over = c["results"]["exact"]["err_vs_truth"]
            lines.append(f"- {family}, d = {d}, n = {sizes[-1]:,}: exact on the samples "
                         f"{'overshoots' if over > 0 else 'undershoots'} the population "
                         f"value by {abs(over):.0%}; the GroupSort critic is "
                         + (f"{c['results'][REFERENCE_CRITIC]['err_vs_truth']:+.0%} from "
                            f"the truth." if REFERENCE_CRITIC in c["results"] else
                            "not run (no torch)."))
    for family in study["grid"]["families"]:
        errs = [abs(_cell(study, family, d, n)["results"]["sinkhorn"]["err_vs_exact"])
                for d in dims for n in sizes]
        lines.append(f"- {family}: Sinkhorn (default epsilon) is within "
                     f"{max(errs):.2%} of exact on the samples everywhere on the grid.")
    if any(c["family"] == "translation" for c in cells):
        per_d = ", ".join(
            f"d = {d}: {_cell(study, 'translation', d, n)['results']['sliced / c_d']['err_vs_truth']:+.1%}"
            for d in dims for n in sizes[-1:])
        lines.append(f"- translation, n = {sizes[-1]:,}: sliced / c_d against the truth "
                     f"(the c_d identity holds for translations of the population; the "
                     f"rest is the samples' own error): {per_d}. On the other families "
                     f"sliced / c_d is another quantity (see the tables).")
    return lines


def headline(study) -> List[str]:
    """The study's main findings in a few lines, from its numbers (the README and the
    docs show them as the suite wrote them, ``agreement_findings.md``): medians over
    the draws with the draws' range."""
    g = study["grid"]
    dims, n = g["dims"], g["sizes"][-1]
    lines = [f"From the published run ({_draws(g)} per cell; median, with the draws' "
             f"smallest to largest in brackets; n = {n:,} + {n:,} samples unless "
             f"said):", ""]

    def err(c, m, key="truth"):
        r = c["results"].get(m, {})
        if f"err_vs_{key}" not in r:
            return "not run"
        lo, hi = r.get(f"spread_{key}", (None, None))
        if r.get("draws_run", 2) < 2:       # run on one draw: no range
            lo = None
        return f"{r[f'err_vs_{key}']:+.1%}" + (
            "" if lo is None else f" ({lo:+.1%} to {hi:+.1%})")

    def reach(m, family, tol):
        ok = [d for d in dims if abs(_cell(study, family, d, n)["results"][m]
                                     ["err_vs_truth"]) <= tol]
        good = _largest_prefix(dims, ok)
        return f"d <= {good}" if good else "no d"

    critics = [m for m in _methods(study) if m.startswith("critic")]
    for m in critics:
        lines.append(f"- **{m}** within 5% / 10% of the population W_1: " + "; ".join(
            f"{f} {reach(m, f, 0.05)} / {reach(m, f, 0.10)}" for f in g["families"])
            + ".")
    tr = [d for d in dims if d >= 10]
    if "translation" in g["families"] and tr:
        lines.append("- **exact on the samples** is not the population value in high "
                     "dimension: against the truth on the translation, " + ", ".join(
                         f"d = {d}: {err(_cell(study, 'translation', d, n), 'exact')}"
                         for d in tr) + "; the GroupSort critic there: " + ", ".join(
                         f"{err(_cell(study, 'translation', d, n), REFERENCE_CRITIC)}"
                         for d in tr) + ".")
    worst = max(abs(v) for c in study["cells"] for v in (
        c["results"]["sinkhorn"].get("spread_exact") or
        [c["results"]["sinkhorn"]["err_vs_exact"]]))
    lines.append(f"- **sinkhorn** (default epsilon) is within {worst:.2%} of exact on the "
                 f"samples on every draw of every cell.")
    if "translation" in g["families"]:
        lines.append("- **sliced / c_d** on the translation (where it equals W_1 for the "
                     "population): " + ", ".join(
                         f"d = {d}: {err(_cell(study, 'translation', d, n), 'sliced / c_d')}"
                         for d in dims) + ".")
    large = (study.get("large") or {}).get("cells") or []
    sk = [c for c in large if "err_vs_exact" in c["results"].get("sinkhorn", {})]
    if sk:
        worst = max(sk, key=lambda c: abs(c["results"]["sinkhorn"]["err_vs_exact"]))
        runs = {c["results"]["sinkhorn"].get("draws_run", c["n_draws"]) for c in sk}
        lines.append(
            f"- **sinkhorn at n = {max(c['n'] for c in sk):,}** (the large-n section, "
            + ("first draw" if runs == {1} else "its draws") + "): within "
            f"{abs(worst['results']['sinkhorn']['err_vs_exact']):.2%} of exact on the "
            f"samples in every cell (d = "
            + " and ".join(str(d) for d in sorted({c['d'] for c in sk}))
            + f"), in {min(c['results']['sinkhorn']['seconds'] for c in sk):.0f} to "
            f"{max(c['results']['sinkhorn']['seconds'] for c in sk):.0f} s a draw.")
    for c in large:
        if c["n"] == max(x["n"] for x in large):
            shown = [m for m in (REFERENCE_CRITIC, "max-sliced", "sliced / c_d")
                     if m in c["results"]]
            vs_exact = [m for m in shown if "err_vs_exact" in c["results"][m]]
            lines.append(f"- **n = {c['n']:,}**, {c['family']}, d = {c['d']}: "
                         + ", ".join(f"{m} {err(c, m)}" for m in shown)
                         + " against the truth" + (
                             "; against exact on the samples" + _partial(c, vs_exact[0])
                             + ": " + ", ".join(
                                 f"{m} {c['results'][m]['err_vs_exact']:+.1%}"
                                 for m in vs_exact)
                             + (f" (exact itself {err(c, 'exact')} from the truth)"
                                if "exact" in c["results"] else "")
                             if vs_exact else "") + ".")
    kor = {c["family"].split(":")[1]: c for c in study.get("korotin") or []}
    if "64" in kor:
        lines.append(f"- **Korotin et al.'s setting** (D = {KOROTIN_D}, 64 pieces): "
                     + ", ".join(f"{m} {err(kor['64'], m)}" for m in critics)
                     + " against the truth (theirs: WGAN-GP -32%, spectral -82%, "
                       "clipping +168%).")
    dig = study.get("digits")
    if isinstance(dig, list) and dig:
        lines.append("- **Real data** (8 x 8 digits, 64-D), within 10% of exact on the "
                     "samples: " + "; ".join(
                         f"{c['family'].replace('digits ', '')}: " + (", ".join(
                             m for m in _methods({"cells": dig}) if m != "exact"
                             and abs(c["results"][m]["err_vs_exact"]) <= 0.10) or "none")
                         for c in dig) + ".")
    return lines + [""]


def _draws(grid) -> str:
    k = grid.get("draws", 1)
    return f"{k} independent draw{'s' if k != 1 else ''}"


def _crosses(cell, method, key, tol) -> bool:
    """Whether some of the cell's draws are within ``tol`` and some beyond."""
    inside = [abs(dr[method][key]) <= tol for dr in cell.get("draws", [])
              if key in dr.get(method, {})]
    return any(inside) and not all(inside)


def _largest_prefix(dims, ok):
    good = None
    for d in dims:
        if d not in ok:
            break
        good = d
    return good


def section(study) -> List[str]:
    """The report's part: a heading, ``report``, the comparison with Korotin et al.
    and the real data."""
    return (["# Agreement", ""] + report(study)
            + ["## Which method when", ""] + which_method_table(study)
            + large_report(study) + korotin_report(study) + digits_report(study))


def report(study) -> List[str]:
    g = study["grid"]
    lines = ["## Agreement: every method against the truth, exact, and the critic", "",
             f"Grid: families {', '.join(g['families'])}; d in {g['dims']}; n in "
             f"{g['sizes']} (n + n samples; {_draws(g)} per cell, samples and the "
             f"methods' seeds, {g.get('workers', 1)} at a time); "
             f"critic steps "
             f"{g['critic_steps']}, modes {', '.join(g['modes']) or 'none (no torch)'}. "
             "W_1 throughout (p = 1, Euclidean). Errors are relative: value / reference "
             "- 1. *sliced / c_d* divides the sliced W_1 by c_d = Gamma(d/2) / (sqrt(pi) "
             "Gamma((d+1)/2)), which makes it equal W_1 for translations only. "
             "*critic-clip / K* divides the weight-clipped critic's value by its largest "
             "gradient norm on the held-out points and their interpolates: the "
             "estimate of a 1-Lipschitz critic if its Lipschitz constant K is reached "
             "there (else it overestimates).", "",
             "### Findings", ""] + findings(study) + [""]
    methods = _methods(study)
    with_critic = any("err_vs_critic" in r for c in study["cells"]
                      for r in c["results"].values())
    for family in g["families"]:
        cells = [_cell(study, family, d, n) for d in g["dims"] for n in g["sizes"]]

        def table(first, cell_text):
            return markdown(["d", "n"] + first + methods,
                            [[c["d"], f"{c['n']:,}"] + [f(c) for f in cell_text]
                             for c in cells], align="r" * (2 + len(first) + len(methods)))

        spread = _spread
        lines += [f"### {family}", "",
                  "Error against the population truth: the median over the draws "
                  "(smallest to largest):", ""] + table(
                      ["truth"], [lambda c: f"{c['truth']:.3f}"] + [
                          lambda c, m=m: spread(c, m, "truth") for m in methods])
        lines += ["", "Error against exact on the samples (median, smallest to largest):",
                  ""] + table([], [lambda c, m=m: spread(c, m, "exact") for m in methods])
        if with_critic:
            lines += ["", "Error against the GroupSort critic's estimate "
                          f"({REFERENCE_CRITIC}):", ""] + table([], [
                              lambda c, m=m: f"{c['results'][m]['err_vs_critic']:+.1%}"
                              if "err_vs_critic" in c["results"][m] else "-"
                              for m in methods])
        lines += ["", "Seconds per method (median over the draws):", ""] + table([], [
            lambda c, m=m: f"{c['results'][m]['seconds']:.2f}" for m in methods]) + [""]
    return lines


def _spread(c, m, key):
    """``median (smallest to largest)`` of method ``m``'s error against ``key``
    (``truth`` or ``exact``) over the cell's draws."""
    r = c["results"][m]
    if f"err_vs_{key}" not in r:
        return "—"
    lo, hi = r.get(f"spread_{key}", (None, None))
    text = f"{r[f'err_vs_{key}']:+.1%}"
    every = c.get("n_draws", 1)
    k = min(r.get("draws_run", every), r.get("exact_draws", every) if key == "exact"
            else every)
    if k < every:       # a method (or exact) run on some of the draws only
        return text + (f" ({k} draw)" if k == 1 else
                       f" ({lo:+.0%} to {hi:+.0%}, {k} draws)")
    return text if lo is None or every < 2 else f"{text} ({lo:+.0%} to {hi:+.0%})"


#: The thresholds of "which method when".
WHICH_TOLS = (0.05, 0.10)


def which_method(study) -> List[dict]:
    """Per (d, n) of the grid, per threshold: the methods whose median error against
    the population truth is within it on every family, fastest first, each with its
    median time on the slowest family: ``[{"d", "n", "within": {tol: [(method,
    seconds)]}}]``."""
    g = study["grid"]
    out = []
    for d in g["dims"]:
        for n in g["sizes"]:
            cells = [_cell(study, f, d, n) for f in g["families"]]
            within = {}
            for tol in WHICH_TOLS:
                ok = [(m, max(c["results"][m]["seconds"] for c in cells))
                      for m in _methods(study)
                      if all(abs(c["results"][m]["err_vs_truth"]) <= tol for c in cells)]
                within[tol] = sorted(ok, key=lambda mt: mt[1])
            out.append({"d": d, "n": n, "within": within})
    return out


def which_method_table(study) -> List[str]:
    """Markdown: for each threshold a table over d (rows) and n (columns) of the
    methods within it on every family, fastest first, with their times."""
    g = study["grid"]
    rows = {(r["d"], r["n"]): r for r in which_method(study)}
    lines = [f"Which method when, from the agreement study ({', '.join(g['families'])}; "
             f"median over {_draws(g)} per cell): the methods whose error "
             f"against the population W_1 is within the threshold on every family, "
             f"fastest first, with the seconds of the slowest family (n + n samples, "
             f"{g.get('workers', 1)} at a time on the machine of the report).", ""]
    for tol in WHICH_TOLS:
        body = [[str(d)] + ["; ".join(f"{m} {t:.2g} s" for m, t in
                                      rows[(d, n)]["within"][tol]) or "none"
                            for n in g["sizes"]] for d in g["dims"]]
        lines += [f"Within {tol:.0%} of the truth:", ""] + markdown(
            ["d"] + [f"n = {n:,}" for n in g["sizes"]], body) + [""]
    return lines


def large_report(study) -> List[str]:
    """The large-n section: every method against the population truth and against
    exact on the samples (where it ran), with times."""
    large = study.get("large")
    if not large or not large["cells"]:
        return []
    g, cells = large["grid"], large["cells"]
    methods = [m for m in _methods({"cells": cells})
               if any(m in c["results"] for c in cells)]
    rows, secs = [], []
    for c in cells:
        first = [c["family"], c["d"], f"{c['n']:,}", f"{c['truth']:.3f}"]
        rows.append(first + [_spread(c, m, "truth") + (
            f"; {c['results'][m]['err_vs_exact']:+.1%} vs exact" + _partial(c, m)
            if "err_vs_exact" in c["results"][m] and m != "exact" else "")
            if m in c["results"] else "not run" for m in methods])
        secs.append(first[:3] + [f"{c['results'][m]['seconds']:.2f}"
                                 if m in c["results"] else "—" for m in methods])
    far = [c["results"]["exact"] for c in cells
           if c["n"] > g["exact_max"] and "exact" in c["results"]]
    k = g.get("exact_far_draws", 0)
    beyond = (("past it on the first draw" if k == 1 else f"past it on the first {k} "
               f"draws") + " in d = " + " and ".join(map(str, g["exact_far_dims"]))
              + " only, stopped once its "
              f"certified bracket was within rtol = {g['exact_far_rtol']:g} (the widest "
              f"was {max(r['bracket'] for r in far):.1e}, relative): W_1 between these "
              f"shifted pairs takes the exact multiscale solver minutes per draw"
              if far else "past it not run: W_1 between these shifted pairs takes the "
              "exact multiscale solver minutes per draw")
    return [f"## Large n: d = {' and '.join(map(str, g['dims']))}, up to "
            f"{max(g['sizes']):,} points a side", "",
            f"Every family at n in {g['sizes']} (n + n samples), {g['draws']} draws per "
            f"cell. Error against the population W_1, median (smallest to largest), "
            f"then the median against exact on the samples where exact ran (on every "
            f"draw up to {g['exact_max']:,} points a side, {beyond}); dense Sinkhorn "
            + (f"(default epsilon) up to {g['sinkhorn_max']:,} points a side (its n x n "
               f"matrices)" + _sinkhorn_draws(g) + "."
               if g["sinkhorn_max"] >= min(g["sizes"]) else
               "not run here (the main grid has it beside exact)."), ""] + \
        markdown(["family", "d", "n", "truth"] + methods, rows) + [
            "", "Seconds per method (median over the draws):", ""] + \
        markdown(["family", "d", "n"] + methods, secs) + [""]


def _sinkhorn_draws(g) -> str:
    k = g.get("sinkhorn_draws")
    if k is None or k >= g["draws"]:
        return ""
    return (" on the first draw only" if k == 1 else f" on the first {k} draws only") + \
        " (its time a draw: the seconds below)"


def _partial(c, m) -> str:
    """`` (k draws)`` where method ``m``'s error against exact is over fewer draws
    than the cell's (exact ran on those only), else nothing."""
    k = c["results"][m].get("exact_draws")
    return "" if k is None else f" ({k} draw{'s' if k != 1 else ''})"


def korotin_report(study) -> List[str]:
    """Our four critics (and the other methods) on the lipschitz-rays pairs in
    D = 128 with 64 and 4 pieces, beside Korotin et al.'s published figures."""
    cells = {c["family"].split(":")[1]: c for c in study.get("korotin") or []}
    if not cells:
        return []
    c64, c4 = cells.get("64"), cells.get("4")
    published = {mode: (name, v64, e4) for name, (mode, v64, e4)
                 in KOROTIN_PUBLISHED.items() if mode}

    def theirs(m):
        if m not in published:
            return "—", "—"
        name, v64, e4 = published[m]
        return (f"{name}: {v64 / KOROTIN_TRUTH - 1:+.0%} ({v64:.3f} of {KOROTIN_TRUTH})",
                "—" if e4 is None else f"{name}: {e4:+.1%}")
    rows = [[m, _spread(c64, m, "truth"), _spread(c64, m, "exact"),
             _spread(c4, m, "truth") if c4 else "—", *theirs(m)]
            for m in _methods({"cells": [c64]})]
    rows += [[f"({name}: no emdkit mode)", "—", "—", "—",
              f"{v64 / KOROTIN_TRUTH - 1:+.0%} ({v64:.3f})", "—"]
             for name, (mode, v64, _) in KOROTIN_PUBLISHED.items() if mode is None]
    n = c64["n"]
    return [f"## Beside Korotin et al. (NeurIPS 2022): D = {KOROTIN_D}, 64 and 4 pieces",
            "",
            f"lipschitz-rays pairs (W_1 = 1 exactly) in D = {KOROTIN_D} with a potential "
            f"of 64 and of 4 affine pieces, {n:,} + {n:,} samples, "
            f"{c64.get('n_draws', 1)} draws; error against the truth (median, smallest "
            f"to largest) beside the published errors of the nearest WGAN variants. "
            f"What differs: their pairs are built from funnel-shaped potentials (true "
            f"W_1 = {KOROTIN_TRUTH} with 64), ours from the transport rays of a max of "
            f"affine pieces; their critics are trained on fresh samples at every step, "
            f"ours on n + n samples with 2-fold cross-fitting (1000 steps, a 32 x 2 "
            f"network); their architectures and training lengths are their own. So "
            f"the columns compare the methods' behaviour, not the same numbers. The "
            f"section on Korotin et al.'s gap (``python -m emdkit.bench.korotin_gap``) "
            f"trains the critics with more samples, steps and width.", ""] + \
        markdown(["method", "64 pieces: vs truth", "64 pieces: vs exact on the samples",
                  "4 pieces: vs truth", "Korotin et al., 64 funnels",
                  "Korotin et al., 4 funnels"], rows) + [""]


def digits_report(study) -> List[str]:
    """The real-data pairs: every method against exact on the samples."""
    dig = study.get("digits")
    if not dig:
        return []
    head = ["## Real data: handwritten digits (64-D)", ""]
    if isinstance(dig, dict):
        return head + [f"Not run: {dig['skipped']}.", ""]
    methods = _methods({"cells": dig})
    rows = [[c["family"].replace("digits ", ""), f"{c['results']['exact']['value']:.2f}"]
            + [_spread(c, m, "exact") for m in methods if m != "exact"] for c in dig]
    lines = head + [
        "scikit-learn's bundled 8 x 8 digits (1,797 images, pixel values 0-16, W_1 "
        "in those units): two classes; a class against its copy with Gaussian pixel "
        "noise (sigma 2) or moved one pixel right; all digits split at random in two "
        f"halves. {dig[0].get('n_draws', 1)} draws (the noise, the halves and every "
        "method's seed). Error against exact on the samples, median (smallest to "
        "largest); there is no population truth here.", ""]
    lines += markdown(["pair", "exact W_1"] + [m for m in methods if m != "exact"], rows)
    close = []
    for c in dig:
        ok = [m for m in methods if m != "exact"
              and abs(c["results"][m]["err_vs_exact"]) <= 0.10]
        close.append(f"- {c['family'].replace('digits ', '')}: within 10% of exact "
                     f"(median): {', '.join(ok) or 'none'}.")
    return lines + [""] + close + [""]


def print_progress(label, k, total):   # pragma: no cover - console output
    print(f"[bench] ({k + 1}/{total}) {label}", file=sys.stderr, flush=True)


def publish(study: dict, out) -> None:
    """Into ``out/results.json`` as the ``agreement`` section (the report, the "which
    method when" tables and the findings re-rendered), with its plots."""
    from pathlib import Path

    from .run import _plots, publish_section

    publish_section(out, "agreement", study, "agreement", "agreement",
                    draw=lambda res, folder: _plots({"agreement": res}, Path(folder)))


def main(argv=None) -> int:
    """``python -m emdkit.bench.agreement [--quick] [--publish DIR]``: the study alone
    (what ``emdkit bench --only agreement`` runs), printed and optionally published."""
    from .run import section_main

    return section_main(argv, __doc__, lambda quick: run(quick, progress=print_progress),
                        section, publish, "agreement")


if __name__ == "__main__":
    sys.exit(main())
