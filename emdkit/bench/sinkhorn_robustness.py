"""Does Sinkhorn converge on a sweep of problems? (about 90 s on 2 cores)

    python -m emdkit.bench.sinkhorn_robustness

84 solves: n in {250, 600, 1800} (m = n + 17), d = 3, p in {1, 2}, epsilon in
{default, 1e-2, 1e-3}, with and without uneven weights, max_iter = 3000 (the quick
run: n = 250, two seeds, 12 solves). Reports every solve that did not converge or
whose transport cost fell below the exact W_p^p, and a count; the command exits 1 if
there was any. Part of ``emdkit bench``.
"""

import sys
import time
import warnings
from typing import List

import numpy as np

import emdkit


def run(quick: bool = False) -> dict:
    failures: List[str] = []
    count, t0 = 0, time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in range(2 if quick else 6):
            for n in ((250,) if quick else (250, 600, 1800)):
                if n == 1800 and seed > 1:
                    continue
                for p in (1, 2):
                    for eps in (None, 1e-2, 1e-3):
                        rng = np.random.default_rng(seed)
                        x = rng.normal(size=(n, 3))
                        y = rng.normal(size=(n + 17, 3)) * 1.3 + 0.5
                        wa = rng.random(n) if seed % 2 else None
                        r = emdkit.solve(x, y, "sinkhorn", p=p, epsilon=eps,
                                         a_weights=wa, max_iter=3000)
                        exact = emdkit.solve(x, y, p=p, a_weights=wa).cost
                        count += 1
                        if not r.converged or not r.cost >= exact * (1 - 1e-9):
                            failures.append(
                                f"seed {seed} n {n} p {p} epsilon {eps}: converged "
                                f"{r.converged}, {r.n_iter} iterations, marginal error "
                                f"{r.marginal_error:.2e}, cost / exact - 1 = "
                                f"{r.cost / exact - 1:+.2e}")
    return {"count": count, "failures": failures,
            "seconds": time.perf_counter() - t0}


def report(res: dict) -> List[str]:
    lines = ["## Sinkhorn robustness sweep", "",
             f"{res['count']} solves (d = 3, p = 1 and 2, epsilon default / 1e-2 / 1e-3, "
             f"with and without uneven weights, max_iter 3000) in {res['seconds']:.0f} s: "
             f"**{len(res['failures'])} failed** (did not converge, or a transport cost "
             f"below the exact W_p^p). From `python -m emdkit.bench.sinkhorn_robustness`.",
             ""]
    return lines + [f"- {f}" for f in res["failures"]] + ([""] if res["failures"] else [])


def main() -> int:
    res = run()
    print("\n".join(res["failures"] + [f"{len(res['failures'])} of {res['count']} solves "
                                       f"failed ({res['seconds']:.0f} s)"]))
    return 1 if res["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
