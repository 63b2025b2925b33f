"""The critic's error per Lipschitz mode against a pair with a known W_1.

The pair: N(0, I_d) against N(0, 4 I_d), whose population W_1 is
``sqrt(2) Gamma((d+1)/2) / Gamma(d/2)`` (the optimal map is x -> 2x, and E|x| for a
standard Gaussian). The critic estimates the population distance; the exact LP on the
samples is shown beside it for scale (in high dimension it overshoots the population
value: empirical W_1 converges like n^(-1/d)).
"""

from __future__ import annotations

import math
import time
from typing import List

import numpy as np

import emdkit

from ..table import markdown

MODES = ("groupsort", "gp", "spectral", "clip")


def true_w1(d: int) -> float:
    return math.sqrt(2.0) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))


def bench_critic(dims, n: int, steps: int) -> List[dict]:
    rows = []
    for d in dims:
        rng = np.random.default_rng(d)
        x, y = rng.normal(size=(n, d)), 2.0 * rng.normal(size=(n, d))
        truth = true_w1(d)
        t0 = time.perf_counter()
        exact = emdkit.distance(x, y)
        t_exact = time.perf_counter() - t0
        for mode in MODES:
            t0 = time.perf_counter()
            r = emdkit.solve(x, y, "critic", lipschitz=mode, steps=steps, seed=0)
            rows.append({"d": d, "n": n, "mode": mode, "truth": truth, "value": r.value,
                         "rel_err": r.value / truth - 1.0, "ci": r.ci,
                         "max_grad_norm": r.info["max_grad_norm"],
                         "seconds": time.perf_counter() - t0, "exact_on_samples": exact,
                         "steps": steps,
                         "exact_seconds": t_exact})
    return rows


def report(rows: List[dict]) -> List[str]:
    if not rows:
        return []
    n = rows[0]["n"]
    lines = [f"## Critic against a known W_1: N(0, I_d) vs N(0, 4 I_d), n = m = {n:,}", "",
             f"2-fold cross-fitting, {rows[0]['steps']} steps, 32 x 2 network; error against "
             "the population W_1. A max gradient norm above 1 means the Lipschitz "
             "constraint is violated (the value may exceed W_1).", ""]
    table = [[r["d"], f"{r['truth']:.4f}", f"{r['exact_on_samples']:.4f} "
              f"({r['exact_on_samples'] / r['truth'] - 1:+.1%})", r["mode"],
              f"{r['value']:.4f}", f"{r['rel_err']:+.1%}",
              f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]", f"{r['max_grad_norm']:.3f}",
              f"{r['seconds']:.1f}"] for r in rows]
    return lines + markdown(["d", "W_1", "exact LP on the samples", "mode", "estimate",
                             "error", "95% interval", "max grad norm", "seconds"], table,
                            align="rrrlrrlrr") + [""]


def bench_default_checks() -> List[dict]:
    """Issue 5's checks at default settings: a 2-D pair (N(0, I) against a translated,
    scaled copy) and a 1-D pair, 2000 + 2000 points, against the exact value on the
    same samples."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 2))
    y = rng.normal(size=(2000, 2)) * 1.5 + np.array([2.0, 1.0])
    x1, y1 = rng.normal(size=2000), rng.normal(size=2000) * 2 + 1
    rows = []
    for label, a, b, ref_method in (("2-D: N(0, I) vs 1.5 N(0, I) + (2, 1)", x, y, "exact"),
                                    ("1-D: N(0, 1) vs N(1, 4)", x1, y1, "1d")):
        ref = emdkit.distance(a, b, ref_method)
        for mode in ("groupsort", "gp"):      # the default, and its closest rival
            t0 = time.perf_counter()
            r = emdkit.solve(a, b, "critic", lipschitz=mode)
            rows.append({"pair": label, "mode": mode, "reference": ref,
                         "reference_method": ref_method, "value": r.value,
                         "rel_err": r.value / ref - 1.0, "ci": r.ci,
                         "max_grad_norm": r.info["max_grad_norm"],
                         "seconds": time.perf_counter() - t0})
    return rows


def report_default_checks(rows: List[dict]) -> List[str]:
    lines = ["## Critic at default settings (and with the gradient penalty), "
             "2000 + 2000 points", ""]
    table = [[r["pair"], f"{r['reference']:.4f} ({r['reference_method']})", r["mode"],
              f"{r['value']:.4f}", f"{r['rel_err']:+.2%}",
              f"[{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]", f"{r['max_grad_norm']:.3f}",
              f"{r['seconds']:.1f}"] for r in rows]
    return lines + markdown(["pair", "reference (method)", "lipschitz", "critic", "error",
                             "95% interval", "max grad norm", "seconds"], table,
                            align="lrlrrlrr") + [""]


if __name__ == "__main__":
    import argparse
    import json
    from pathlib import Path

    ap = argparse.ArgumentParser(description="The critic's accuracy checks (issue 5).")
    ap.add_argument("--out", default="bench-out")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    checks = bench_default_checks()
    modes = bench_critic((2,), 300, 100) if args.quick else \
        bench_critic((2, 10, 50), 2000, 1000)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = "\n".join(["# emdkit critic checks", "",
                      f"Measured {time.strftime('%Y-%m-%d %H:%M')} with "
                      f"`python -m emdkit.bench.critic_bench --out {args.out}`.", ""]
                     + report_default_checks(checks) + report(modes))
    (out / "critic_report.md").write_text(text)
    (out / "critic_results.json").write_text(json.dumps({"default_checks": checks,
                                                         "modes": modes}, indent=2))
    print(text)
