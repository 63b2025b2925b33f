"""
Sliced: the error against the number of projections
===================================================

The sliced distance averages the 1-D W_p over random directions, so it is a Monte
Carlo estimate; ``Result.ci`` gives a confidence interval for that error, which
shrinks like ``1 / sqrt(L)`` with the number of directions L. For a translation by t
in d dimensions the sliced W_1 is known exactly: ``c_d |t|``, with
``c_d = Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))``. Independent directions against the
default orthogonal blocks, which cost the same and err less.
"""

import math

import matplotlib.pyplot as plt
import numpy as np

import emdkit

d = 8
rng = np.random.default_rng(0)
x = rng.normal(size=(5000, d))
t = np.zeros(d)
t[0] = 2.0
truth = math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi) * 2.0

Ls = [32, 64, 128, 256, 512, 1024, 2048]   # orthogonal blocks of d: 4 groups at least
fig, ax = plt.subplots(figsize=(6.5, 4))
for k, directions in enumerate(("random", "orthogonal")):
    vals, lo, hi = [], [], []
    for L in Ls:
        r = emdkit.solve(x, x + t, "sliced", n_projections=L, seed=1, directions=directions)
        vals.append(r.value)
        lo.append(r.ci[0])
        hi.append(r.ci[1])
    vals, lo, hi = map(np.asarray, (vals, lo, hi))
    ax.errorbar(np.array(Ls) * (1 + 0.06 * k), vals, yerr=[vals - lo, hi - vals], fmt="o-",
                ms=3, capsize=3, label=f"{directions} directions, 95% interval")
    covered = np.mean((lo <= truth) & (truth <= hi))
    print(f"{directions}: the interval holds the truth at {covered:.0%} of the L; "
          f"error at L = 2048: {vals[-1] / truth - 1:+.2e}")
ax.axhline(truth, color="k", lw=1, label=f"c_d |t| = {truth:.4f}")
ax.set_xscale("log", base=2)
ax.set_xlabel("number of projections L")
ax.set_ylabel("sliced W_1")
ax.set_title(f"translation by |t| = 2 in d = {d}, n = 5000", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
