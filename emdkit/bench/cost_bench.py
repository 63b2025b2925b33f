"""Histograms with a ground-cost matrix: ``emdkit.distance(a, b, cost=M)`` beside POT's
``ot.emd2(a, b, M)`` on the same inputs, in one process.

The matrix is the Euclidean distances between random points in the plane (the bins'
positions), the histograms random with a few empty bins. Times are the best of
``reps`` calls each, after one untimed call; emdkit's includes the validation and its
certified bracket (POT computes none).

    python -m emdkit.bench.cost_bench [--quick] [--publish benchmarks/results]
"""

from __future__ import annotations

import time
from typing import List

import numpy as np

from .._table import markdown

QUICK, FULL = (100, 300), (100, 300, 1000, 2000, 4000)


def _best(fn, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def run(quick: bool) -> dict:
    import ot

    import emdkit

    rng = np.random.default_rng(0)
    reps = 3 if quick else 5
    rows = []
    for n in QUICK if quick else FULL:
        from scipy.spatial.distance import cdist

        M = cdist(rng.random((n, 2)), rng.random((n, 2)))
        a, b = rng.random(n), rng.random(n)
        a[::11], b[::13] = 0.0, 0.0
        a, b = a / a.sum(), b / b.sum()
        emdkit.distance(a, b, cost=M), ot.emd2(a, b, M)           # untimed
        t_e, v_e = _best(lambda: emdkit.distance(a, b, cost=M), reps)
        t_p, v_p = _best(lambda: ot.emd2(a, b, M), reps)
        rows.append({"n": n, "emdkit_s": t_e, "pot_s": t_p, "ratio": t_e / t_p,
                     "rel_diff": abs(v_e - v_p) / v_p})
    return {"rows": rows, "reps": reps, "pot": ot.__version__}


def report(res: dict) -> List[str]:
    if not res:
        return []
    lines = ["## Cost matrices: `cost=` against POT's `emd2`", "",
             f"Histograms over the rows and columns of an (n, n) Euclidean cost matrix "
             f"(random bins in the plane, some empty), best of {res['reps']} calls each "
             f"after an untimed one, POT {res['pot']}. *ratio*: emdkit's time over "
             f"POT's (above 1: emdkit slower; its time includes the validation and the "
             f"certified bracket). From `python -m emdkit.bench.cost_bench`.", ""]
    lines += markdown(["n = m", "emdkit (s)", "POT emd2 (s)", "ratio", "|difference| / value"],
                      [[f"{r['n']:,}", f"{r['emdkit_s']:.4f}", f"{r['pot_s']:.4f}",
                        f"{r['ratio']:.2f}", f"{r['rel_diff']:.1e}"] for r in res["rows"]],
                      align="rrrrr") + [""]
    return lines


def publish(res: dict, out) -> None:
    """Put ``res`` into ``out/results.json`` as its cost-matrix section and re-render
    the report."""
    from .run import publish_section

    publish_section(out, "cost", res, "cost-matrix", "cost_bench")


def main(argv=None) -> int:
    from .run import section_main

    return section_main(argv, __doc__, run, report, publish, "cost-matrix")


if __name__ == "__main__":
    raise SystemExit(main())
