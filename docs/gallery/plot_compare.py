"""
Every method side by side: ``emdkit.compare``
=============================================

``emdkit.compare`` runs every method on one pair of samples and returns a table of
values, errors and times; ``.plot()`` draws accuracy against time. Here three pairs
from ``emdkit.datasets``, each with a known population W_1: a translation in d = 2,
a Gaussian against a wider one in d = 5, and the Lipschitz-rays family in d = 10, whose
true W_1 is 1 by construction.

Note what "error" means: the distance from the *population* value. The exact LP is
exact for the two samples, and the samples themselves differ from their distributions:
that sampling error grows with the dimension.
"""

import matplotlib.pyplot as plt

import emdkit
from emdkit import datasets

pairs = [datasets.translation(600, d=2, shift=1.0, seed=0),
         datasets.gaussian_scale(600, d=5, s=2.0, seed=0),
         datasets.lipschitz_rays(600, d=10, seed=0)]
methods = ["exact", "sinkhorn", "sliced", "max-sliced", "critic"]
options = {"critic": {"steps": 400}}

tables = []
for pair in pairs:
    table = emdkit.compare(pair, methods=methods, options=options)
    tables.append(table)
    print(f"{pair.name}, d = {pair.d}")
    print(table)
    print()

fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True)
for ax, pair, table in zip(axes, pairs, tables):
    table.plot(ax)
    ax.set_title(f"{pair.name}, d = {pair.d}, n = {pair.n}", fontsize=10)
for ax in axes[1:]:
    ax.set_ylabel("")               # one shared y axis: one label
fig.tight_layout()

# %%
# The table renders as markdown too (and as HTML in a notebook):
print(tables[2].to_markdown())
