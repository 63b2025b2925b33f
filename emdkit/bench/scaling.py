"""How the cost grows: time and peak memory against n, per method, beside its peers.

Each method runs at several sizes beside the peer that computes the same quantity
(POT, SciPy, GeomLoss when installed); the slope of log(time) against log(n) says how
the cost grows (1: linear; 2: quadratic). Peak memory is the largest amount of memory
numpy and Python held during one call (``tracemalloc``, which numpy reports to).
"""

from __future__ import annotations

import math
import time
import tracemalloc
import warnings
from typing import Callable, Dict, List

import numpy as np

import emdkit

from . import peer
from ..table import markdown

FULL = {"1d": [10 ** 4, 10 ** 5, 10 ** 6], "exact": [250, 500, 1000, 2000],
        "sinkhorn": [250, 500, 1000, 2000], "sliced": [10 ** 4, 10 ** 5, 10 ** 6],
        "critic": [250, 1000, 4000]}
QUICK = {"1d": [10 ** 3, 10 ** 4, 10 ** 5], "exact": [100, 200, 400],
         "sinkhorn": [100, 200, 400], "sliced": [10 ** 3, 10 ** 4, 10 ** 5],
         "critic": [100, 200, 400]}


def _contenders(method: str, n: int, quick: bool) -> Dict[str, Callable[[], object]]:
    rng = np.random.default_rng(n)
    ot = peer("ot")
    if method == "1d":
        x, y = rng.normal(size=n), rng.normal(size=n) + 0.5
        c = {"emdkit": lambda: emdkit.distance(x, y, "1d")}
        if ot is not None:
            c["POT"] = lambda: ot.wasserstein_1d(x, y, p=1)
        from scipy import stats
        c["SciPy"] = lambda: stats.wasserstein_distance(x, y)
        return c
    if method == "sliced":
        x, y = rng.normal(size=(n, 10)), rng.normal(size=(n, 10)) + 0.5
        c = {"emdkit": lambda: emdkit.distance(x, y, "sliced", p=2, n_projections=50,
                                               seed=0)}
        if ot is not None:
            c["POT"] = lambda: ot.sliced_wasserstein_distance(x, y, n_projections=50,
                                                              p=2, seed=0)
        return c
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1.0
    u = np.full(n, 1.0 / n)
    if method == "exact":
        c = {"emdkit": lambda: emdkit.distance(x, y, p=2)}
        if ot is not None:
            c["POT"] = lambda: ot.emd2(u, u, ot.dist(x, y), numItermax=10 ** 6)
        return c
    if method == "sinkhorn":
        c = {"emdkit": lambda: emdkit.distance(x, y, "sinkhorn", p=2, epsilon=0.05,
                                               tol=1e-6)}
        if ot is not None:
            c["POT (plain)"] = lambda: ot.sinkhorn2(u, u, ot.dist(x, y), 0.05,
                                                    stopThr=1e-6, numItermax=10 ** 5)
        gl = peer("geomloss")
        if gl is not None:
            import torch
            loss = gl.SamplesLoss("sinkhorn", p=2, blur=math.sqrt(0.05 / 2), debias=False,
                                  backend="tensorized")
            xt, yt = torch.tensor(x), torch.tensor(y)
            c["GeomLoss"] = lambda: float(loss(xt, yt))
        return c
    if method == "critic":
        return {"emdkit": lambda: emdkit.distance(x, y, "critic", seed=0,
                                                  steps=100 if quick else 300)}
    raise ValueError(method)


def _peak_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2 ** 20
    finally:
        tracemalloc.stop()


def run(quick: bool, progress=None, torch_ok: bool = True) -> dict:
    sizes = QUICK if quick else FULL
    # the best of several repeats: the quick run's small sizes take milliseconds, where
    # one disturbance showed as signal (Sinkhorn slower at n = 200 than at 400)
    reps = 5 if quick else 3
    methods = [m for m in sizes if torch_ok or m != "critic"]
    out: Dict[str, dict] = {}
    total, k = sum(len(sizes[m]) for m in methods), 0
    for method in methods:
        rows: List[dict] = []
        for n in sizes[method]:
            if progress is not None:
                progress(f"scaling {method} n={n:,}", k, total)
            k += 1
            cont = _contenders(method, n, quick)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for fn in cont.values():   # warm-up: compilation, imports
                    fn()
                row = {"n": n, "seconds": {}, "peak_mb": {}}
                for name, fn in cont.items():
                    times = []
                    for _ in range(1 if method == "critic" else reps):
                        t0 = time.perf_counter()
                        fn()
                        times.append(time.perf_counter() - t0)
                    row["seconds"][name] = float(np.min(times))
                    row["peak_mb"][name] = _peak_mb(fn)
            rows.append(row)
        names = list(rows[0]["seconds"])
        slopes = {}
        for name in names:
            ns = [r["n"] for r in rows]
            ts = [r["seconds"][name] for r in rows]
            slopes[name] = float(np.polyfit(np.log(ns), np.log(ts), 1)[0])
        out[method] = {"rows": rows, "slopes": slopes, "timing": f"best of {reps}"}
    return out


_SETUP = {
    "1d": "N(0,1) vs N(0.5,1), p = 1; POT wasserstein_1d, SciPy wasserstein_distance",
    "exact": "d = 2, p = 2; POT ot.dist + ot.emd2",
    "sinkhorn": "d = 2, p = 2, epsilon = 0.05, tol 1e-6; POT sinkhorn2 plain, "
                "GeomLoss tensorized (blur = sqrt(eps / 2), unconverged by design)",
    "sliced": "d = 10, p = 2, 50 directions; POT sliced_wasserstein_distance",
    "critic": "d = 2, 300 steps (100 in quick mode), no peer",
}


#: Contenders whose memory lives in torch tensors, which tracemalloc does not see.
_TORCH_CONTENDERS = ("GeomLoss",)


def report(scaling: dict) -> List[str]:
    timing = next(iter(scaling.values()), {}).get("timing", "median of 3")
    lines = ["## Scaling: time and peak memory against n", "",
             f"Seconds ({timing}), with the ratio peer / emdkit in brackets (above 1: emdkit "
             "is faster), and the peak memory of one call (tracemalloc, MB: numpy and "
             "Python allocations; torch's are not seen, hence n/a for GeomLoss and the "
             "critic). The slope is that of log(time) against log(n). Plot: "
             "`scaling.png`.", ""]
    for method, res in scaling.items():
        names = list(res["rows"][0]["seconds"])
        rows = []
        for r in res["rows"]:
            base = r["seconds"]["emdkit"]
            secs = [f"{r['seconds'][k]:.4f}" + ("" if k == "emdkit" else
                                                f" ({r['seconds'][k] / base:.1f}x)")
                    for k in names]
            mem = [("n/a (torch)" if k in _TORCH_CONTENDERS or method == "critic"
                    else f"{r['peak_mb'][k]:.1f}") for k in names]
            rows.append([f"{r['n']:,}"] + secs + mem)
        lines += [f"### {method} ({_SETUP[method]})", ""] + markdown(
            ["n"] + [f"{k} (s)" for k in names] + [f"{k} peak MB" for k in names], rows,
            align="r" * (1 + 2 * len(names)))
        lines += ["", "Slope of log time against log n: " + ", ".join(
            f"{k} {v:.2f}" for k, v in res["slopes"].items()) + ".", ""]
    return lines
