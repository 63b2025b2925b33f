"""
A gradient flow with ``emdkit.WassersteinLoss``
===============================================

``emdkit.WassersteinLoss(method, p=2)`` is a ``torch.nn.Module`` with the value of
``emdkit.distance``: here it pulls 200 points drawn from a Gaussian onto a ring by
plain gradient steps on the points themselves, once per method. The Sinkhorn
divergence (the default, debiased) keeps the potentials of each step to start the
next one from; ``sliced`` projects on 64 directions drawn afresh each step (no
seed), ``exact`` solves the linear programme every step. Each step moves the point
of largest gradient by 0.05, so the methods are compared at the same step length.
"""

import math
import time

import matplotlib.pyplot as plt
import torch

import emdkit

g = torch.Generator().manual_seed(0)
n, steps = 200, 30
source = torch.randn(n, 2, generator=g, dtype=torch.float64) * 0.5
angle = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
target = 1.5 * torch.stack([torch.cos(angle), torch.sin(angle)], 1)

losses = {"sinkhorn (debiased, epsilon 0.01)": emdkit.WassersteinLoss("sinkhorn", p=2,
                                                                      epsilon=0.01),
          "sliced (64 directions)": emdkit.WassersteinLoss("sliced", p=2,
                                                           n_projections=64),
          "exact": emdkit.WassersteinLoss("exact", p=2)}

fig, axes = plt.subplots(1, 3, figsize=(13, 5), sharex=True, sharey=True,
                         layout="constrained")      # titles and ticks inside the figure
for ax, (name, loss) in zip(axes, losses.items()):
    x = source.clone().requires_grad_(True)
    start = time.perf_counter()
    for _ in range(steps):
        value = loss(x, target)
        (grad,) = torch.autograd.grad(value, [x])
        with torch.no_grad():
            x -= 0.05 * grad / grad.norm(dim=1).max()
    per_step = (time.perf_counter() - start) / steps
    final = emdkit.distance(x.detach().numpy(), target.numpy(), "exact", p=2)
    print(f"{name}: {per_step * 1e3:.1f} ms a step, exact W_2 to the ring after "
          f"{steps} steps {final:.3f}")
    ax.scatter(*target.T, s=6, c="0.7", label="target")
    ax.scatter(*source.T, s=6, c="tab:blue", alpha=0.3, label="start")
    ax.scatter(*x.detach().T, s=6, c="tab:red", label=f"after {steps} steps")
    ax.set_title(f"{name}\n{per_step * 1e3:.0f} ms a step, W_2 now {final:.3f}",
                 fontsize=9)
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", fontsize=7)
start_w2 = emdkit.distance(source.numpy(), target.numpy(), "exact", p=2)
print(f"exact W_2 at the start: {start_w2:.3f}")
