"""Certified brackets per method: how wide ``Result.bounds`` is, and at what cost.

    python -m emdkit.bench.brackets [--quick]

For each method on three pairs (2-D Gaussians shifted by one unit; the spread-out
pair of 200 points over +-300 and their translation by (0.3, 0.4), W_2 = 0.5; a 1-D
pair), the value, the exact W_p on the same samples (the LP, or the closed form in
1-D), the certified bracket's relative width ``(upper - lower) / lower`` ("n/a" where
a method certifies none, "lower bound only" for max-sliced), the error against the
exact value, and the time (best of ``reps``). Part of ``emdkit bench``.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from typing import List

import numpy as np

import emdkit

from ..table import markdown


def pairs(quick: bool):
    rng = np.random.default_rng(0)
    n = 300 if quick else 1000
    x = rng.normal(size=(n, 2))
    yield "Gaussians, shift 1 (2-D)", x, rng.normal(size=(n, 2)) + [1.0, 0.0], 2.0
    a = rng.uniform(-300, 300, size=(200, 2))
    yield "spread +-300, shift 0.5 (2-D)", a, (a + [0.3, 0.4])[rng.permutation(200)], 2.0
    yield "Gaussians (1-D)", rng.normal(size=n), rng.normal(size=n) * 2 + 1, 1.0


def _methods(one_d: bool):
    out = [("exact", {}), ("auto", {}), ("sinkhorn", {}), ("sinkhorn", {"rtol": 0.01}),
           ("max-sliced", {"seed": 0}), ("sliced", {"seed": 0})]
    if one_d:
        out.insert(1, ("1d", {}))
    return out


def _width(bounds):
    if bounds is None:
        return None
    lo, hi = bounds
    if math.isinf(hi):
        return "lower"
    return 0.0 if hi <= lo else ((hi - lo) / lo if lo > 0 else math.inf)


def run(quick: bool = False, reps: int = 3) -> List[dict]:
    rows = []
    for name, x, y, p in pairs(quick):
        one_d = x.ndim == 1
        exact = emdkit.distance(x, y, "1d" if one_d else "exact", p=p)
        for method, opts in _methods(one_d):
            times, caught = [], []
            for _ in range(reps):
                with warnings.catch_warnings(record=True) as w:
                    warnings.simplefilter("always")
                    start = time.perf_counter()
                    r = emdkit.solve(x, y, method, p=p, **opts)
                    times.append(time.perf_counter() - start)
                caught = [str(m.message)[:60] for m in w]
            rows.append({"pair": name, "p": p, "method": r.method if method != "auto"
                         else f"auto -> {r.method}", "options": opts,
                         "value": float(r.value), "exact": exact,
                         "error": float(r.value) / exact - 1.0,
                         "bracket_width": _width(r.bounds), "seconds": min(times),
                         "converged": r.converged, "warning": caught[0] if caught else ""})
    return rows


def _fmt_width(w):
    if w is None:
        return "n/a (none certified)"
    if w == "lower":
        return "lower bound only"
    return "inf" if math.isinf(w) else f"{w:.1e}"


def report(rows: List[dict]) -> List[str]:
    lines = ["## Certified brackets", "",
             "`Result.bounds` is a certified `(lower, upper)` on the exact W_p between "
             "the two samples; *certified bracket width* is `(upper - lower) / lower`. "
             "*error* is against the exact value on the same samples (LP or 1-D closed "
             "form). Times: best of 3. `sliced` estimates another distance (SW_p) and "
             "certifies nothing; max-sliced certifies a lower bound; the critic (p = 1 only) has "
             "a statistical interval (`Result.ci`), no bracket. From "
             "`python -m emdkit.bench.brackets`.", ""]
    table = []
    for r in rows:
        shown = [f"{k}={v}" for k, v in r["options"].items() if k != "seed"]
        method = r["method"] + (f" ({', '.join(shown)})" if shown else "")
        table.append([r["pair"], f"{r['p']:g}", method, f"{r['value']:.6g}",
                      f"{r['error']:+.2%}", _fmt_width(r["bracket_width"]),
                      f"{r['seconds']:.3f}", r["warning"] or ""])
    return lines + markdown(["pair", "p", "method", "value", "error vs exact",
                             "certified bracket width", "time (s)", "warning"], table,
                            align="lrlrrrrl") + [""]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    print("\n".join(report(run(args.quick))))


if __name__ == "__main__":
    main()
