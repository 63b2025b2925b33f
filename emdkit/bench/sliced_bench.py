"""Sliced and max-sliced beside POT, the numpy floor, and streaming memory."""

from __future__ import annotations

import json
import time
from typing import Dict, List

import numpy as np

import emdkit
from emdkit.solvers.sliced import draw_directions

from ..table import markdown

from ._child import run_child


def _median_time(fn, reps):
    out, times = None, []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, float(np.median(times)), float(min(times))


def bench_sliced(n: int, d: int, L: int, reps: int, pot_reps: int) -> dict:
    """Same directions for everyone; p = 2. The floor is what any sliced method must
    do: the projection matmul and a sort of every projected column."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.2 + 0.1
    theta, _ = draw_directions(d, L, "random", 0)
    emdkit.distance(x[:100], y[:100], "sliced", projections=theta)    # compile
    res: Dict[str, dict] = {}
    c = {"emdkit": (lambda: emdkit.distance(x, y, "sliced", p=2, projections=theta), reps),
         "floor: x @ theta.T, y @ theta.T, np.sort(axis=0)":
             (lambda: (np.sort(x @ theta.T, axis=0), np.sort(y @ theta.T, axis=0))[0][0, 0],
              reps)}
    try:
        import ot
        c["POT sliced_wasserstein_distance"] = (lambda: ot.sliced_wasserstein_distance(
            x, y, p=2, projections=theta.T), pot_reps)
    except ImportError:
        res["POT sliced_wasserstein_distance"] = {"skipped": "POT not installed"}
    for name, (fn, k) in c.items():
        v, med, mn = _median_time(fn, k)
        res[name] = {"median_s": med, "min_s": mn, "rounds": k, "value": float(v)}
    base, ref = res["emdkit"]["median_s"], res["emdkit"]["value"]
    for name, r in res.items():
        if "median_s" in r:
            r["ratio_to_emdkit"] = r["median_s"] / base
            if not name.startswith("floor"):
                r["rel_diff_value"] = abs(r["value"] - ref) / ref
    return {"case": f"sliced, n = m = {n:,}, d = {d}, {L} directions, p = 2",
            "results": res}


def bench_max_sliced(n: int, d: int, reps: int) -> dict:
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.3
    res: Dict[str, dict] = {}
    r, med, mn = _median_time(lambda: emdkit.solve(x, y, "max-sliced", p=2, seed=0,
                                                   n_projections=100), reps)
    res["emdkit max-sliced (optimised)"] = {"median_s": med, "value": r.value,
                                            "best_random": r.info["best_random"]}
    try:
        import ot
        v, med2, _ = _median_time(lambda: ot.max_sliced_wasserstein_distance(
            x, y, p=2, n_projections=100, seed=0), reps)
        res["POT max_sliced (best of 100 draws)"] = {"median_s": med2, "value": float(v)}
    except ImportError:
        res["POT max_sliced (best of 100 draws)"] = {"skipped": "POT not installed"}
    exact = emdkit.distance(x, y, p=2) if n <= 3000 else None
    return {"case": f"max-sliced, n = m = {n:,}, d = {d}, p = 2", "results": res,
            "exact_W2": exact}


_MEMORY_RUN = r"""
import json, sys, time
import numpy as np
import emdkit

def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024

n, d, L = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(0)
x = rng.normal(size=(n, d))
y = rng.normal(size=(n, d)) + 0.5
emdkit.distance(x[:100], y[:100], "sliced", seed=0)
base = hwm_mb()
t0 = time.perf_counter()
r = emdkit.solve(x, y, "sliced", p=2, seed=0, n_projections=L)
json.dump({"peak_rss_mb": hwm_mb(), "rss_with_data_mb": base,
           "seconds": time.perf_counter() - t0, "value": r.value, "ci": r.ci}, sys.stdout)
"""


def bench_memory(n: int, d: int, L: int) -> dict:
    out = run_child(["-c", _MEMORY_RUN, str(n), str(d), str(L)])
    rec = json.loads(out.stdout)
    rec.update(n=n, d=d, n_projections=L)
    return rec


def run(quick: bool) -> dict:
    """The suite's sliced cases: against POT, max-sliced, streaming memory."""
    if quick:
        return {"sliced": bench_sliced(20_000, 10, 100, reps=2, pot_reps=1),
                "max_sliced": bench_max_sliced(500, 10, reps=1),
                "memory": bench_memory(10 ** 6, 3, 20)}
    return {"sliced": bench_sliced(10 ** 5, 10, 200, reps=5, pot_reps=2),
            "max_sliced": bench_max_sliced(2000, 10, reps=3),
            "memory": bench_memory(10 ** 7, 3, 100)}


def report(sl: dict) -> List[str]:
    lines = []
    case = sl.get("sliced")
    if case:
        rows = []
        for name, r in case["results"].items():
            if "skipped" in r:
                rows.append([name, f"skipped: {r['skipped']}", "", "", ""])
                continue
            diff = r.get("rel_diff_value")
            rows.append([name, f"{r['median_s']:.3f}", f"{r['min_s']:.3f}",
                         f"{r['ratio_to_emdkit']:.2f}", "" if diff is None else f"{diff:.1e}"])
        lines += [f"## {case['case']}", ""] + markdown(
            ["contender", "median (s)", "min (s)", "ratio", "value diff"], rows) + [""]
    ms = sl.get("max_sliced")
    if ms:
        rows = [[name, "skipped", ""] if "skipped" in r else
                [name, f"{r['median_s']:.3f}", f"{r['value']:.6f}"]
                for name, r in ms["results"].items()]
        best = ms["results"]["emdkit max-sliced (optimised)"]["best_random"]
        lines += [f"## {ms['case']}", "",
                  f"Exact W_2 on the samples: {ms['exact_W2']:.6f}." if ms["exact_W2"]
                  else "", ""] + markdown(["contender", "median (s)", "value"], rows) + [
                  "", f"emdkit's best random start before optimising: {best:.6f}.", ""]
    mem = sl.get("memory")
    if mem:
        lines += ["## Sliced streaming memory (fresh process)", ""] + markdown(
            ["n = m", "d", "directions", "seconds", "peak RSS (MB)",
             "RSS with the data (MB)"],
            [[f"{mem['n']:,}", mem["d"], mem["n_projections"], f"{mem['seconds']:.1f}",
              f"{mem['peak_rss_mb']:.0f}", f"{mem['rss_with_data_mb']:.0f}"]],
            align="rrrrrr") + [""]
    return lines
