"""Histograms with a ground-cost matrix: ``emdkit.distance(a, b, cost=M)`` beside POT's
``ot.emd2(a, b, M)`` on the same inputs, in one process.

The matrix is the Euclidean distances between random points in the plane (the bins'
positions), the histograms random with a few empty bins. Times are the best of
``reps`` rounds, each the mean of several calls below n = 1500 (the two libraries
take turns in each round), after one untimed call; emdkit's includes the validation
and its certified bracket (POT computes none).

    python -m emdkit.bench.cost_bench [--quick] [--publish benchmarks/results]
"""

from __future__ import annotations

import math
import time
from typing import List

import numpy as np

from ..table import markdown

QUICK, FULL = (100, 300), (100, 300, 1000, 2000, 4000)


def _interleaved(fns, reps, inner):
    """The (reps, functions) mean times of ``inner`` calls per round; the functions
    take turns within each round (so drifts of the machine's speed fall on both
    alike). The last call's value of each."""
    values = [None] * len(fns)
    rounds = np.empty((reps, len(fns)))
    for r in range(reps):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            for _ in range(inner):
                values[k] = fn()
            rounds[r, k] = (time.perf_counter() - t) / inner
    return rounds, values


def run(quick: bool) -> dict:
    import ot

    import emdkit

    rng = np.random.default_rng(0)
    reps = 3 if quick else 9
    rows = []
    for n in QUICK if quick else FULL:
        from scipy.spatial.distance import cdist

        M = cdist(rng.random((n, 2)), rng.random((n, 2)))
        a, b = rng.random(n), rng.random(n)
        a[::11], b[::13] = 0.0, 0.0
        a, b = a / a.sum(), b / b.sum()
        emdkit.distance(a, b, cost=M), ot.emd2(a, b, M)           # untimed
        inner = max(1, int(2e6 / n ** 2))       # calls per timing: >= ~20 ms at n = 100
        rounds, (v_e, v_p) = _interleaved(
            [lambda: emdkit.distance(a, b, cost=M), lambda: ot.emd2(a, b, M)], reps, inner)
        t_e, t_p = rounds.min(0)
        per_round = rounds[:, 0] / rounds[:, 1]
        rows.append({"n": n, "emdkit_s": t_e, "pot_s": t_p, "ratio": t_e / t_p,
                     "round_ratios": [float(per_round.min()), float(per_round.max())],
                     "median_round_ratio": float(np.median(per_round)),
                     "rel_diff": abs(v_e - v_p) / v_p})
    return {"rows": rows, "reps": reps, "pot": ot.__version__}


def report(res: dict) -> List[str]:
    if not res:
        return []
    lines = ["## Cost matrices: `cost=` against POT's `emd2`", "",
             f"Histograms over the rows and columns of an (n, n) Euclidean cost matrix "
             f"(random bins in the plane, some empty), best of {res['reps']} rounds (each "
             f"the mean of 2e6 / n^2 calls, at least one; the two take turns) after an "
             f"untimed call, POT {res['pot']}. *ratio*: emdkit's time over "
             f"POT's (above 1: emdkit slower; its time includes the validation and the "
             f"certified bracket) of the best times; *per round*: the median, smallest "
             f"and largest of the rounds' own ratios (the two calls of a round run "
             f"back to back, so the median is the figure least moved by the machine's "
             f"noise). From "
             f"`python -m emdkit.bench.cost_bench`.", ""]
    lines += markdown(["n = m", "emdkit (s)", "POT emd2 (s)", "ratio", "median per round",
                       "range per round", "|difference| / value"],
                      [[f"{r['n']:,}", f"{r['emdkit_s']:.4f}", f"{r['pot_s']:.4f}",
                        f"{r['ratio']:.2f}", f"{r.get('median_round_ratio', math.nan):.2f}",
                        "{:.2f}-{:.2f}".format(*r.get("round_ratios", (math.nan,) * 2)),
                        f"{r['rel_diff']:.1e}"] for r in res["rows"]],
                      align="rrrrrrr") + [""]
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
