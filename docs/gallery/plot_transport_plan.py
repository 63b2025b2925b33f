"""
The transport plan between two small clouds
===========================================

How much sand moves, and where to. Two small 2-D clouds; the exact plan moves each
point of one cloud to one point of the other (with equal sizes and weights the optimal
plan is a matching), and the entropic plan of Sinkhorn blurs it over a length of about
``epsilon ** (1/p)``. ``emdkit.plot.transport`` solves and draws in one call.
"""

import matplotlib.pyplot as plt
import numpy as np

import emdkit
from emdkit import plot

rng = np.random.default_rng(3)
a = rng.normal(size=(30, 2)) * 0.6
b = rng.normal(size=(30, 2)) * [1.0, 0.3] + [2.5, 1.0]

fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharex=True, sharey=True)
plot.transport(a, b, axes[0], method="exact", p=2)
plot.transport(a, b, axes[1], method="sinkhorn", p=2, epsilon=0.05)
plot.transport(a, b, axes[2], method="sinkhorn", p=2, epsilon=1.0)
axes[1].set_title(axes[1].get_title() + "  (epsilon = 0.05)", fontsize=10)
axes[2].set_title(axes[2].get_title() + "  (epsilon = 1)", fontsize=10)
fig.tight_layout()

# %%
# The exact plan is a permutation: every row of the coupling has one non-zero entry.
# The entropic plan spreads each point's mass; its transport cost is above W_2^2.
r = emdkit.solve(a, b, p=2)
s = emdkit.solve(a, b, "sinkhorn", p=2, epsilon=1.0)
print(f"exact: {np.count_nonzero(r.plan > 1e-12)} non-zero entries of {r.plan.size}; "
      f"W_2^2 = {r.cost:.4f}")
print(f"sinkhorn, epsilon = 1: {np.count_nonzero(s.plan > 1e-12)} non-zero entries; "
      f"<P, C> = {s.cost:.4f}")
