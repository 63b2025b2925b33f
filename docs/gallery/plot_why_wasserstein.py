"""
Why Wasserstein: the parallel lines
===================================

The example of Arjovsky, Chintala and Bottou (2017). ``P_0`` is uniform on the segment
{0} x [0, 1], ``P_theta`` uniform on {theta} x [0, 1]. For theta != 0 the segments do
not overlap, so the Kullback-Leibler divergence is infinite and the Jensen-Shannon
divergence is log 2 — flat in theta, with zero gradient — while ``W_1 = |theta|``, whose
gradient sign(theta) always points to the target.

Everything below is computed: W_1 and its gradient by emdkit on samples of the two
segments (the gradient through torch autograd), KL and JS from histograms of the same
samples on a fine grid (with a histogram, "disjoint" means "in different bins", so both
are exact here once ``|theta|`` exceeds one bin).
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

import emdkit

n = 200
heights = (np.arange(n) + 0.5) / n                # the segment [0, 1], evenly
p0 = np.c_[np.zeros(n), heights]


def p_theta(theta):
    return np.c_[np.full(n, theta), heights]


bins = np.linspace(-1.2, 1.2, 241)                 # 0.01 wide in x, past theta +- h


def hist(points):
    h, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=[bins, [0.0, 1.0]])
    return h.ravel() / h.sum()


def kl(p, q):
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return float(terms.sum())


def js(p, q):
    m = (p + q) / 2
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


thetas = np.linspace(-1.0, 1.0, 41)
w1, js_v, kl_v = [], [], []
for t in thetas:
    w1.append(emdkit.distance(p_theta(t), p0))
    js_v.append(js(hist(p_theta(t)), hist(p0)))
    kl_v.append(kl(hist(p_theta(t)), hist(p0)))

# gradients: W_1 by autograd through emdkit, JS by central differences (KL is inf)
w1_grad, js_grad = [], []
for t in thetas:
    theta = torch.tensor(float(t), dtype=torch.float64, requires_grad=True)
    pts = torch.stack([theta.expand(n), torch.as_tensor(heights)], dim=1)
    emdkit.distance(pts, torch.as_tensor(p0)).backward()
    w1_grad.append(theta.grad.item())
    h = 1e-3
    js_grad.append((js(hist(p_theta(t + h)), hist(p0)) - js(hist(p_theta(t - h)), hist(p0)))
                   / (2 * h))

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
ax1.plot(thetas, w1, "o-", ms=3, label="W_1 (emdkit)")
ax1.plot(thetas, js_v, "s-", ms=3, label="JS (histogram)")
finite = np.isfinite(kl_v)
ax1.plot(thetas[finite], np.array(kl_v)[finite], "k^", label="KL where finite")
ax1.axhline(np.log(2), color="C1", ls=":", lw=1)
ax1.set_xlabel("theta")
ax1.set_ylabel("divergence between P_theta and P_0")
ax1.legend(fontsize=8)
ax2.plot(thetas, w1_grad, "o-", ms=3, label="d W_1 / d theta (torch autograd)")
ax2.plot(thetas, js_grad, "s-", ms=3, label="d JS / d theta (finite differences)")
ax2.set_ylim(-1.6, 1.6)     # at theta = 0 the JS difference quotient is the jump / 2h
ax2.annotate("JS jumps at 0: its difference\nquotient leaves the axis there", (0.0, -1.5),
             xytext=(0.15, -1.2), fontsize=8, arrowprops=dict(arrowstyle="->"))
ax2.set_xlabel("theta")
ax2.set_ylabel("gradient")
ax2.legend(fontsize=8)
fig.tight_layout()

# %%
# Away from 0, JS sits at log 2 and KL is infinite; W_1 is ``|theta|`` and its gradient
# is -1 left of 0 and +1 right of it: a model trained on W_1 is always told which way
# to move.
print(f"JS at theta = 0.5: {js_v[30]:.6f} (log 2 = {np.log(2):.6f}); KL: {kl_v[30]}")
print(f"W_1 at theta = 0.5: {w1[30]:.6f}; gradient {w1_grad[30]:+.3f}; "
      f"JS gradient {js_grad[30]:+.3f}")
