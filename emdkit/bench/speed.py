"""Speed cases: the 1-D closed form and the exact LP beside POT and SciPy, as ratios.

Every case runs each contender once per round, in rotating order, for several rounds
(after one warm-up call each); the report gives medians, minima, the ratio of each
contender's median to emdkit's and the relative difference of the values.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, Dict, List

import numpy as np

import emdkit

from ..table import markdown
from . import peer


def run(quick: bool, rounds: int) -> List[dict]:
    """The speed cases of the suite: 1-D unweighted and weighted, and exact."""
    n1d, nexact = (10 ** 5, 500) if quick else (10 ** 6, 2000)
    return (bench_1d(n1d, rounds, weighted=False) + bench_1d(n1d, rounds, weighted=True)
            + bench_exact(nexact, 2, rounds + 6))


def report(cases: List[dict]) -> List[str]:
    lines = ["# Speed", "", "Times are medians over interleaved rounds; *ratio* is the "
             "contender's median over emdkit's (above 1: emdkit is faster); *value diff* "
             "is the relative difference from emdkit's value (all values are W_p, "
             "rooted).", ""]
    for case in cases:
        rows = []
        for name, r in case["results"].items():
            diff = r.get("rel_diff_value")
            rows.append([name, f"{r['median_s']:.4f}", f"{r['min_s']:.4f}",
                         f"{r['ratio_to_emdkit']:.2f}",
                         "" if diff is None else f"{diff:.1e}"])
        lines += [f"## {case['case']}", ""] + markdown(
            ["contender", "median (s)", "min (s)", "ratio", "value diff"], rows) + [""]
    return lines


def time_case(contenders: Dict[str, Callable[[], float]], rounds: int) -> dict:
    """Run each contender once per round in rotating order; medians and values."""
    names = list(contenders)
    times: Dict[str, List[float]] = {k: [] for k in names}
    values: Dict[str, float] = {}
    for name in names:  # warm-up: compilation, imports, caches
        values[name] = float(contenders[name]())
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - t0)
    return {name: {"median_s": statistics.median(times[name]), "min_s": min(times[name]),
                   "rounds": rounds, "value": values[name]} for name in names}


def _ratios(res: dict, ours: str = "emdkit") -> None:
    base = res[ours]["median_s"]
    ref = res[ours]["value"]
    for r in res.values():
        r["ratio_to_emdkit"] = r["median_s"] / base
        if r["value"] == r["value"] and ref != 0:
            r["rel_diff_value"] = abs(r["value"] - ref) / abs(ref)


def bench_1d(n: int, rounds: int, weighted: bool) -> List[dict]:
    ot, scipy_stats = peer("ot"), None
    try:
        from scipy import stats as scipy_stats
    except ImportError:  # pragma: no cover
        pass
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=n), rng.normal(size=n) * 1.5 + 0.5
    wa = rng.random(n) if weighted else None
    wb = rng.random(n) if weighted else None
    out = []
    for p in (1, 2):
        c: Dict[str, Callable[[], float]] = {
            "emdkit": lambda: emdkit.distance(x, y, "1d", p=p, a_weights=wa, b_weights=wb)}
        if ot is not None:   # POT returns W_p^p: root it
            na = None if wa is None else wa / wa.sum()
            nb = None if wb is None else wb / wb.sum()
            if na is None:
                c["POT wasserstein_1d"] = lambda: ot.wasserstein_1d(x, y, p=p) ** (1 / p)
            else:
                c["POT wasserstein_1d"] = lambda: ot.wasserstein_1d(x, y, na, nb,
                                                                     p=p) ** (1 / p)
        if scipy_stats is not None and p == 1:   # SciPy's W_1 only
            c["SciPy wasserstein_distance"] = lambda: scipy_stats.wasserstein_distance(
                x, y, wa, wb)
        if not weighted:
            c["floor: np.sort(a), np.sort(b)"] = lambda: (np.sort(x), np.sort(y))[0][0]
        res = time_case(c, rounds)
        res["floor: np.sort(a), np.sort(b)"] = res.get("floor: np.sort(a), np.sort(b)")
        res = {k: v for k, v in res.items() if v is not None}
        _ratios(res)
        for k in res:
            if k.startswith("floor"):
                res[k].pop("rel_diff_value", None)
        out.append({"case": f"1d, n = m = {n:,}, p = {p}, "
                            f"{'weighted' if weighted else 'unweighted'}",
                    "method": "1d", "n": n, "p": p, "weighted": weighted, "results": res})
    return out


def bench_exact(n: int, d: int, rounds: int) -> List[dict]:
    ot = peer("ot")
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1.0
    u = np.full(n, 1.0 / n)
    out = []
    for p in (1, 2):
        c: Dict[str, Callable[[], float]] = {"emdkit": lambda: emdkit.distance(x, y, p=p)}
        if ot is not None:   # emd2 returns W_p^p for the cost dist ** p: root it
            c["POT dist + emd2"] = lambda: ot.emd2(
                u, u, ot.dist(x, y, metric="euclidean") ** p, numItermax=1_000_000) ** (1 / p)
        res = time_case(c, rounds)
        _ratios(res)
        out.append({"case": f"exact, n = m = {n:,}, d = {d}, p = {p}", "method": "exact",
                    "n": n, "d": d, "p": p, "results": res})
    return out
