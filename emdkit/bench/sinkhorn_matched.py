"""emdkit at a loose tolerance against GeomLoss's fixed schedule: time and accuracy.

    python -m emdkit.bench.sinkhorn_matched     # needs geomloss; about 30 s

GeomLoss's tensorized Sinkhorn (not debiased) stops after its annealing schedule,
unconverged; emdkit stops at an L1 marginal error of ``tol``. Both are compared with
the converged entropic objective OT_eps (tol = 1e-9), on N(0, I_2) against N(0, I_2)
shifted by (1, 1), p = 2, epsilon = 0.05 (GeomLoss blur = sqrt(epsilon / 2), its value
doubled for the cost |x - y|^2). Medians of 5 calls after a warm-up. Part of
``emdkit bench``.
"""

import math
import time
from typing import List

import numpy as np

from ..table import markdown


def run(sizes=(1000, 2000), reps: int = 5) -> dict:
    try:
        import torch
        from geomloss import SamplesLoss
    except ImportError:
        return {"skipped": "needs torch and geomloss (pip install emdkit[bench])"}
    import emdkit

    rows = []
    for n in sizes:
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
            for _ in range(reps):
                t0 = time.perf_counter()
                value = fn()
                times.append(time.perf_counter() - t0)
            rows.append({"n": n, "contender": name, "median_s": float(np.median(times)),
                         "rel_error": value / ref - 1})
    return {"rows": rows, "reps": reps}


def report(res: dict) -> List[str]:
    lines = ["## Sinkhorn at matched accuracy (emdkit's tol against GeomLoss's schedule)",
             ""]
    if "skipped" in res:
        return lines + [f"Skipped: {res['skipped']}.", ""]
    lines += [f"N(0, I_2) against N(0, I_2) + (1, 1), p = 2, epsilon = 0.05, not debiased; "
              f"medians of {res['reps']}; error of OT_eps against the converged value "
              f"(tol 1e-9). From `python -m emdkit.bench.sinkhorn_matched`.", ""]
    lines += markdown(["n", "contender", "median (s)", "OT_eps relative error"],
                      [[r["n"], r["contender"], f"{r['median_s']:.3f}",
                        f"{r['rel_error']:+.1e}"] for r in res["rows"]], align="rlrr")
    return lines + [""]


def main() -> int:
    print("\n".join(report(run())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
