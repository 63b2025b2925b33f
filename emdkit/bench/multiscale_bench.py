"""Large clouds: Sinkhorn's multiscale backend on pairs whose W_2 is known at sample level.

``y = x A + t`` with ``A`` symmetric positive definite: the pairing ``i -> i`` is the
optimal one for p = 2 (the map is the gradient of a convex function), so
``W_2 = sqrt(mean |x_i - y_i|^2)`` exactly, at every size. Each run is a fresh process
(peak resident memory from ``VmHWM``), ``rtol=0.01``; the dense backend beside it
where it fits, and the online backend's time per iteration where the issue measured
it. With ``rtol`` the backend stops at the first grid level whose bracket on the
points is within it, which on these pairs (W_2 large against the cells) comes before
the points themselves; the "iid" rows are two independent samples of one Gaussian,
whose W_2 is of the order of the points' spacing, so that every level is needed (no
sample-level truth there: the certified bracket is the check). GeomLoss's
multiscale backend (KeOps on the CPU, the ``keops`` extra) beside it, at
``blur=0.01`` (its value is not certified: its error against the truth is shown).

    python -m emdkit.bench.multiscale_bench [--quick] [--publish benchmarks/results]
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from typing import List

import numpy as np

from ..table import markdown
from ._child import ChildError, run_child

_RUN = r"""
import json, sys, time, warnings
import numpy as np
import emdkit


def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")

n, d, backend, max_iter = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
pair = sys.argv[5]
rng = np.random.default_rng(0)
x = rng.normal(size=(n, d))
if pair == "iid":
    y, truth = rng.normal(size=(n, d)), None
else:
    A = np.eye(d) + 0.25 * np.ones((d, d)) / d + np.diag(np.linspace(-0.2, 0.3, d))
    y = x @ A + 0.5 * np.arange(1, d + 1) / d
    truth = float(np.sqrt(((x - y) ** 2).sum(1).mean()))
if backend == "geomloss":
    import torch
    from geomloss import SamplesLoss
    loss = SamplesLoss("sinkhorn", p=2, blur=0.01, debias=False, backend="multiscale")
    loss(torch.tensor(x[:2000]), torch.tensor(y[:2000]))     # KeOps compiled untimed
    base = hwm_mb()
    t0 = time.perf_counter()
    v = float(loss(torch.tensor(x), torch.tensor(y)))
    dt = time.perf_counter() - t0
    print("\n" + json.dumps({"seconds": dt, "value": (2.0 * v) ** 0.5, "truth": truth,
                            "bounds": None, "n_iter": None, "converged": None,
                            "peak_rss_mb": hwm_mb(), "rss_with_data_mb": base}))
    sys.exit(0)
opts = dict(rtol=0.01) if backend != "online" else dict(max_iter=max_iter)
with warnings.catch_warnings():     # compiled kernels loaded (or compiled) untimed
    warnings.simplefilter("ignore")
    emdkit.solve(x[:300], y[:300], "sinkhorn", p=2, backend=backend, **opts)
base = hwm_mb()
t0 = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    r = emdkit.solve(x, y, "sinkhorn", p=2, backend=backend, **opts)
dt = time.perf_counter() - t0
ms = r.info.get("multiscale", {})
print("\n" + json.dumps({"seconds": dt, "value": float(r.value), "truth": truth,
           "bounds": list(r.bounds) if r.bounds else None, "n_iter": r.n_iter,
           "converged": bool(r.converged), "peak_rss_mb": hwm_mb(),
           "rss_with_data_mb": base, "max_nnz": ms.get("max_nnz"),
           "levels": ms.get("levels"), "truncation_bound": ms.get("truncation_bound"),
           "stopped_at": ({k: ms["level"][k] for k in ("level", "cells")}
                          if ms.get("level") else None)}))
"""

QUICK = {"multiscale": [(2000, 2), (5000, 2), (3000, 3)], "dense": [(2000, 2), (3000, 3)],
         "online": [(3000, 3)], "iid": [(3000, 2)], "geomloss": [(3000, 2)]}
#: GeomLoss's multiscale backend stops at 1e5 points: 384 s there in 2-D against 3.6 s
#: at 1e4 in a probe, so 1e6 would take hours.
FULL = {"multiscale": [(10_000, 2), (30_000, 2), (100_000, 2), (300_000, 2),
                       (1_000_000, 2), (10_000, 3), (30_000, 3), (50_000, 3), (100_000, 3),
                       (300_000, 3), (1_000_000, 3)],
        "dense": [(10_000, 2), (10_000, 3)], "online": [(50_000, 3)],
        "iid": [(10_000, 2), (30_000, 2), (100_000, 2)],
        "geomloss": [(10_000, 2), (100_000, 2), (10_000, 3)]}


#: A run longer than this (seconds) is stopped and reported as such.
TIMEOUT = 900


def _one(n: int, d: int, backend: str, max_iter: int = 10_000,
         pair: str = "affine") -> dict:
    """One fresh-process run; ``{"failed": why}`` if it failed or ran out of time.
    ``pair``: "affine" (known W_2) or "iid" (two samples of one Gaussian)."""
    import os

    rec = {"n": n, "d": d, "backend": backend, "pair": pair}
    env = dict(os.environ, KEOPS_VERBOSE="0")     # KeOps prints its CUDA check
    try:
        out = run_child(["-c", _RUN, str(n), str(d), backend, str(max_iter), pair],
                        timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        return dict(rec, failed=f"stopped after {TIMEOUT} s")
    except ChildError as e:
        last = (e.stderr or "").strip().splitlines()[-1:] or [f"exit status {e.returncode}"]
        return dict(rec, failed=last[0])
    try:          # the last line: a peer may print its own messages before it
        return dict(json.loads(out.stdout.strip().splitlines()[-1]), **rec)
    except (ValueError, IndexError):
        return dict(rec, failed=f"no result in its output: {out.stdout[-200:]!r}")


def _slope(rows: List[dict], d: int, key: str) -> float:
    pts = [(r["n"], r[key]) for r in rows if r["d"] == d and r[key] and r[key] > 0]
    if len(pts) < 2:
        return math.nan
    ln, lt = np.log([p_[0] for p_ in pts]), np.log([p_[1] for p_ in pts])
    return float(np.polyfit(ln, lt, 1)[0])


def run(quick: bool) -> dict:
    import importlib.util

    grid = QUICK if quick else FULL
    keops = all(importlib.util.find_spec(m) is not None for m in ("pykeops", "geomloss"))
    runs = ([_one(n, d, "multiscale") for n, d in grid["multiscale"]],
            [_one(n, d, "dense") for n, d in grid["dense"]],
            [_one(n, d, "online", max_iter=2) for n, d in grid["online"]],
            [_one(n, d, "multiscale", pair="iid") for n, d in grid.get("iid", [])],
            [_one(n, d, "geomloss") for n, d in grid.get("geomloss", [])] if keops else [])
    failed = [r for group in runs for r in group if "failed" in r]
    rows, dense, online, iid, geomloss = ([r for r in group if "failed" not in r]
                                          for group in runs)
    note = ("KeOps compiled on this machine's CPU; each run compiles (or loads) its "
            "formulas on 2000 points first, untimed" if keops else
            "pykeops (the keops extra) is not installed here, so GeomLoss's multiscale "
            "backend was not timed")
    slopes = {f"d={d}": {"time": _slope(rows, d, "seconds"),
                         "memory": _slope(rows, d, "peak_rss_mb")}
              for d in sorted({r["d"] for r in rows})}
    return {"rows": rows, "dense": dense, "online": online, "iid": iid,
            "geomloss": geomloss, "slopes": slopes, "geomloss_multiscale": note,
            "failed": failed}


def report(res: dict) -> List[str]:
    if not res:
        return []
    lines = ["## Large clouds: the multiscale Sinkhorn backend", "",
             "Pairs with a known sample-level W_2 (an SPD affine map: the pairing i -> i "
             "is optimal), `rtol=0.01`, each run a fresh process (peak RSS). *error* is "
             "against that truth; *bracket* the certified relative width; *stopped at* "
             "the cells of the level whose bracket on the points was within rtol (its "
             "plan is not returned), or *points* where every level was solved. *iid*: "
             "two independent samples of one Gaussian (no sample-level truth; W_2 of "
             "the order of the points' spacing). From "
             "`python -m emdkit.bench.multiscale_bench`.", ""]

    def row(r):
        lo, hi = r["bounds"] or (math.nan, math.nan)
        err = "" if r.get("truth") is None else f"{r['value'] / r['truth'] - 1:+.2e}"
        stop = r.get("stopped_at")
        where = (f"{stop['cells'][0]:,} + {stop['cells'][1]:,} cells" if stop else
                 "points" if r["backend"] == "multiscale" else "")
        name = r["backend"] + (" (iid)" if r.get("pair") == "iid" else "")
        return [f"{r['n']:,}", r["d"], name, f"{r['seconds']:.1f}", err,
                f"{(hi - lo) / lo:.1e}" if r["bounds"] else "", where,
                r["n_iter"] or "", r.get("max_nnz") or "", f"{r['peak_rss_mb']:.0f}",
                "" if r["converged"] is None else r["converged"]]
    lines += markdown(["n = m", "d", "backend", "seconds", "error vs truth", "bracket",
                       "stopped at", "iterations", "largest support", "peak RSS (MB)",
                       "converged"],
                      [row(r) for r in res["rows"] + res.get("iid", []) + res["dense"]
                       + res.get("geomloss", [])],
                      align="rrlrrrlrrrl") + [""]
    def same(r):        # emdkit's multiscale run of r's size
        return [m for m in res["rows"] if (m["n"], m["d"]) == (r["n"], r["d"])]
    for g in res.get("geomloss", []):
        for m in same(g):
            lines.append(f"GeomLoss multiscale (KeOps, CPU, blur 0.01), {g['n']:,} + "
                         f"{g['n']:,} points in {g['d']}-D: {g['seconds']:.1f} s, error "
                         f"{g['value'] / g['truth'] - 1:+.1e} (not certified); emdkit "
                         f"{m['seconds']:.1f} s certified within 1%: "
                         f"{g['seconds'] / m['seconds']:.0f}x faster.")
    for r in res["online"]:
        per = r["seconds"] / max(r["n_iter"], 1)
        lines.append(f"Online backend, {r['n']:,} + {r['n']:,} points in {r['d']}-D: "
                     f"{per:.1f} s per iteration "
                     f"({r['n_iter']} iterations in {r['seconds']:.1f} s).")
        for m in same(r):
            lines.append(f"The multiscale backend on the same size: "
                         f"{m['seconds'] / m['n_iter']:.3f} s per iteration (all levels, "
                         f"{m['n_iter']} iterations), "
                         f"{per * m['n_iter'] / m['seconds']:.0f}x "
                         f"below; the whole certified solve took {m['seconds']:.1f} s, one "
                         f"online iteration {per:.1f} s.")
    for r in res.get("failed", []):
        lines.append(f"Not measured: {r['n']:,} + {r['n']:,} points in {r['d']}-D, "
                     f"{r['backend']} backend: {r['failed']}.")
    lines += ["", "Slopes of log time and log peak memory against log n: " + "; ".join(
        f"{k} time {v['time']:.2f}, memory {v['memory']:.2f}"
        for k, v in res["slopes"].items()) + ". With the level stop the cost follows "
        "the level at which the bracket closes (set by W_2 against the cells, not by n) "
        "plus O(n log n) for the points' trees and c-transforms: not a power law.",
        "", f"GeomLoss multiscale: {res['geomloss_multiscale']}.", ""]
    return lines


def publish(res: dict, out) -> None:
    """Put ``res`` into ``out/results.json`` as its large-clouds section (with the
    date and the command in the addenda), redraw its plot and re-render the report."""
    from .plots import multiscale_plot
    from .run import publish_section

    publish_section(out, "multiscale", res, "large-clouds", "multiscale_bench",
                    draw=lambda r, o: multiscale_plot(r, o / "multiscale.png"))


def main(argv=None) -> int:
    from .run import section_main

    return section_main(argv, __doc__, run, report, publish, "large-clouds")


if __name__ == "__main__":
    sys.exit(main())
