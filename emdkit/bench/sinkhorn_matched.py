"""emdkit at a loose tolerance against GeomLoss's fixed schedule: time and accuracy.

    python -m emdkit.bench.sinkhorn_matched     # needs geomloss; about 30 s

GeomLoss's tensorized Sinkhorn (not debiased) stops after its annealing schedule,
unconverged; emdkit stops at an L1 marginal error of ``tol``. Both are compared with
the converged entropic objective OT_eps (tol = 1e-9), on N(0, I_2) against N(0, I_2)
shifted by (1, 1), p = 2, epsilon = 0.05 (GeomLoss blur = sqrt(epsilon / 2), its value
doubled for the cost |x - y|^2). Medians of 5 calls after a warm-up.
"""

import math
import time

import numpy as np


def main() -> int:
    import torch
    from geomloss import SamplesLoss

    import emdkit

    for n in (1000, 2000):
        rng = np.random.default_rng(n)
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1
        ref = emdkit.solve(x, y, "sinkhorn", p=2, epsilon=0.05, tol=1e-9).objective
        loss = SamplesLoss("sinkhorn", p=2, blur=math.sqrt(0.025), debias=False,
                           backend="tensorized")
        xt, yt = torch.tensor(x), torch.tensor(y)
        runs = {"GeomLoss": lambda: 2 * float(loss(xt, yt))}
        for tol in (1e-2, 1e-3, 1e-6):
            runs[f"emdkit tol={tol:g}"] = (lambda tol=tol: emdkit.solve(
                x, y, "sinkhorn", p=2, epsilon=0.05, tol=tol).objective)
        for name, fn in runs.items():
            fn()
            times, value = [], None
            for _ in range(5):
                t0 = time.perf_counter()
                value = fn()
                times.append(time.perf_counter() - t0)
            print(f"n = {n}: {name:<18} {np.median(times):.3f} s, "
                  f"OT_eps relative error {value / ref - 1:+.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
