"""Does Sinkhorn converge on a sweep of problems? (about 90 s on 2 cores)

    python -m emdkit.bench.sinkhorn_robustness

84 solves: n in {250, 600, 1800} (m = n + 17), d = 3, p in {1, 2}, epsilon in
{default, 1e-2, 1e-3}, with and without uneven weights, max_iter = 3000. Prints every
solve that did not converge or whose transport cost fell below the exact W_p^p, and
a count; exits 1 if there was any.
"""

import sys
import time
import warnings

import numpy as np

import emdkit


def main() -> int:
    warnings.simplefilter("ignore")
    bad, count, t0 = 0, 0, time.perf_counter()
    for seed in range(6):
        for n in (250, 600, 1800):
            if n == 1800 and seed > 1:
                continue
            for p in (1, 2):
                for eps in (None, 1e-2, 1e-3):
                    rng = np.random.default_rng(seed)
                    x = rng.normal(size=(n, 3))
                    y = rng.normal(size=(n + 17, 3)) * 1.3 + 0.5
                    wa = rng.random(n) if seed % 2 else None
                    r = emdkit.solve(x, y, "sinkhorn", p=p, epsilon=eps, a_weights=wa,
                                     max_iter=3000)
                    exact = emdkit.solve(x, y, p=p, a_weights=wa).cost
                    count += 1
                    if not r.converged or not r.cost >= exact * (1 - 1e-9):
                        bad += 1
                        print(f"seed {seed} n {n} p {p} epsilon {eps}: converged "
                              f"{r.converged}, {r.n_iter} iterations, marginal error "
                              f"{r.marginal_error:.2e}, cost / exact - 1 = "
                              f"{r.cost / exact - 1:+.2e}", flush=True)
    print(f"{bad} of {count} solves failed ({time.perf_counter() - t0:.0f} s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
