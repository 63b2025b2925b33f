"""Sinkhorn beside POT (log-domain and plain) and GeomLoss, and its peak memory.

Every contender solves the same problem: n = m points of N(0, I_2) against N(0, I_2)
shifted by (1, 1), cost |x - y|^2 (p = 2), the same epsilon. Values are reported as
the entropic transport cost <P, C> (POT's ``sinkhorn2``), beside the exact W_2^2.
emdkit stops at an L1 marginal error of ``tol``; POT at an L2 norm of ``tol`` on one
marginal (a looser test by about sqrt(n)), so the time ratios favour POT.
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Dict, List

import numpy as np

import emdkit

from ..table import markdown
from . import peer

from ._child import run_child


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1.0


def _timed(fn, reps):
    times, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, times


def bench_vs_pot(n: int, eps_list, reps: int, slow_reps: Dict[float, int],
                 tol: float = 1e-6) -> List[dict]:
    """emdkit against POT's sinkhorn2 (log-domain and plain) at each epsilon."""
    import ot

    x, y = _data(n)
    u = np.full(n, 1.0 / n)
    M = ot.dist(x, y)                      # squared Euclidean: our cost for p = 2
    exact = emdkit.solve(x, y, p=2).cost   # W_2^2
    emdkit.solve(x[:50], y[:50], "sinkhorn", p=2)   # imports
    cases = []
    for eps in eps_list:
        res: Dict[str, dict] = {}
        r, times = _timed(lambda: emdkit.solve(x, y, "sinkhorn", p=2, epsilon=eps,
                                               tol=tol), reps)
        res["emdkit sinkhorn"] = _entry(r.cost, times, exact, converged=r.converged,
                                        n_iter=r.n_iter, warnings="")
        for method, label in (("sinkhorn_log", "POT sinkhorn2 log-domain"),
                              ("sinkhorn", "POT sinkhorn2 plain")):
            k = slow_reps.get(eps, reps) if method == "sinkhorn_log" else reps
            if k == 0:
                res[label] = {"skipped": "too slow for this mode"}
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                (val, log), times = _timed(lambda: ot.sinkhorn2(
                    u, u, M, eps, method=method, stopThr=tol, numItermax=100_000,
                    log=True), k)
            val = float(val)
            conv = bool(np.isfinite(val) and float(log.get("err", [1])[-1]) < tol)
            res[label] = _entry(val, times, exact, converged=conv,
                                n_iter=int(log.get("niter", -1)),
                                warnings="; ".join(sorted({str(w.message)[:80]
                                                           for w in caught})))
        base = res["emdkit sinkhorn"]["median_s"]
        for v in res.values():
            if "median_s" in v:
                v["ratio_to_emdkit"] = v["median_s"] / base
        cases.append({"case": f"sinkhorn, n = m = {n:,}, d = 2, p = 2, epsilon = {eps}, "
                              f"tol = {tol:g}", "exact_cost": exact, "results": res})
    return cases


def _entry(cost, times, exact, **extra):
    return {"median_s": float(np.median(times)), "min_s": float(min(times)),
            "rounds": len(times), "cost": float(cost),
            "rel_err_vs_exact": float(cost / exact - 1.0), **extra}


def bench_vs_geomloss(n: int, blur: float, reps: int, tol: float = 1e-6) -> dict:
    """The debiased Sinkhorn divergence against GeomLoss's tensorized backend.
    GeomLoss's cost is |x - y|^2 / 2 with eps = blur^2: the same problem is ours with
    cost |x - y|^2 and epsilon = 2 blur^2, and S_ours = 2 S_geomloss."""
    x, y = _data(n, seed=1)
    eps = 2 * blur ** 2
    res: Dict[str, dict] = {}
    r, times = _timed(lambda: emdkit.solve(x, y, "sinkhorn", p=2, epsilon=eps,
                                           debias=True, tol=tol), reps)
    res["emdkit sinkhorn, debias"] = {"median_s": float(np.median(times)),
                                      "min_s": float(min(times)), "rounds": reps,
                                      "divergence": float(r.cost),
                                      "converged": r.converged, "n_iter": r.n_iter}
    try:
        import torch
        from geomloss import SamplesLoss
    except ImportError:
        res["GeomLoss tensorized"] = {"skipped": "geomloss not installed"}
    else:
        loss = SamplesLoss("sinkhorn", p=2, blur=blur, debias=True, backend="tensorized")
        xt, yt = torch.tensor(x), torch.tensor(y)
        v, times = _timed(lambda: float(loss(xt, yt)), reps)
        res["GeomLoss tensorized"] = {"median_s": float(np.median(times)),
                                      "min_s": float(min(times)), "rounds": reps,
                                      "divergence": 2.0 * v}
    base = res["emdkit sinkhorn, debias"]["median_s"]
    for v in res.values():
        if "median_s" in v:
            v["ratio_to_emdkit"] = v["median_s"] / base
    return {"case": f"sinkhorn divergence, n = m = {n:,}, d = 2, p = 2, epsilon = {eps:g} "
                    f"(GeomLoss blur = {blur})", "results": res}


_MEMORY_RUN = r"""
import json, sys, time
import numpy as np
import emdkit

def hwm_mb():   # peak resident memory of this process (VmHWM is reset at exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

n, d, backend, max_iter = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = np.random.default_rng(0)
x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 0.5
base = hwm_mb()
t0 = time.perf_counter()
import warnings
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    r = emdkit.solve(x, y, "sinkhorn", p=2, backend=backend, max_iter=max_iter, tol=1e-4)
dt = time.perf_counter() - t0
json.dump({"peak_rss_mb": hwm_mb(),
           "rss_before_solve_mb": base, "seconds": dt, "n_iter": r.n_iter,
           "converged": r.converged, "marginal_error": r.marginal_error,
           "backend": r.info["backend"], "value": float(r.value)}, sys.stdout)
"""


def bench_memory(n: int, d: int, backend: str, max_iter: int) -> dict:
    """Peak resident memory of one solve in a fresh process."""
    out = run_child(["-c", _MEMORY_RUN, str(n), str(d), backend, str(max_iter)])
    rec = json.loads(out.stdout)
    rec.update(n=n, d=d, max_iter=max_iter)
    return rec


def run(quick: bool) -> dict:
    """The suite's Sinkhorn cases: against POT, against GeomLoss, peak memory."""
    out: dict = {}
    if peer("ot") is not None:
        out["pot"] = (bench_vs_pot(300, [0.05], reps=2, slow_reps={}) if quick else
                      bench_vs_pot(1000, [0.05, 0.01], reps=3, slow_reps={0.01: 1}))
    out["geomloss"] = bench_vs_geomloss(500 if quick else 4000, 0.05,
                                        reps=1 if quick else 2)
    runs = [(2000, 2, "dense", 10_000), (3000, 3, "online", 3)] if quick else \
        [(4000, 2, "dense", 10_000), (50_000, 3, "online", 2)]
    out["memory"] = [bench_memory(*r) for r in runs]
    return out


def _skipped(name, r, n_cells):
    return [name, f"skipped: {r['skipped']}"] + [""] * (n_cells - 2)


def report(sink: dict) -> List[str]:
    lines = []
    for case in sink.get("pot", []):
        rows = [_skipped(name, r, 8) if "skipped" in r else
                [name, f"{r['median_s']:.3f}", f"{r['ratio_to_emdkit']:.1f}", r["n_iter"],
                 f"{r['cost']:.6f}", f"{r['rel_err_vs_exact']:+.2%}", r["converged"],
                 r["warnings"]]
                for name, r in case["results"].items()]
        lines += [f"## {case['case']}", "", f"Exact W_2^2 = {case['exact_cost']:.6f}.", ""]
        lines += markdown(["contender", "median (s)", "ratio", "iterations", "cost",
                           "error vs exact", "converged", "warnings"], rows,
                          align="lrrrrrll") + [""]
    g = sink.get("geomloss")
    if g:
        rows = [_skipped(name, r, 4) if "skipped" in r else
                [name, f"{r['median_s']:.2f}", f"{r['ratio_to_emdkit']:.2f}",
                 f"{r['divergence']:.6f}"] for name, r in g["results"].items()]
        lines += [f"## {g['case']}", ""] + markdown(
            ["contender", "median (s)", "ratio", "divergence S"], rows) + [""]
    mem = sink.get("memory", [])
    if mem:
        rows = [[f"{m['n']:,}", m["d"], m["backend"], m["max_iter"], m["n_iter"],
                 f"{m['seconds']:.1f}", f"{m['peak_rss_mb']:.0f}",
                 f"{m['rss_before_solve_mb']:.0f}", m["converged"]] for m in mem]
        lines += ["## Sinkhorn peak memory (fresh process)", ""] + markdown(
            ["n = m", "d", "backend", "max_iter", "iterations", "seconds", "peak RSS (MB)",
             "RSS before the solve (MB)", "converged"], rows, align="rrlrrrrrl") + [""]
    return lines
