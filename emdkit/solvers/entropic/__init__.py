"""The Sinkhorn solver behind ``method="sinkhorn"``, one driver over pluggable operators.

- ``driver``: the epsilon schedule, the stopping rule, over-relaxation and the one loop
  every backend runs (alternating updates for OT(a, b), averaged ones for OT(a, a)).
- ``kernel``: the stabilised dense kernel ``exp((f + g - C) / eps)``, built by row
  blocks on the worker threads, and the exact plan and its marginal error.
- ``dense``: the operator on an (n, m) cost in memory (scaling form, BLAS products).
- ``online``: the operator that recomputes the cost by blocks of rows (log domain,
  O((n + m) * block) memory).
- ``newton``: the Newton finish of the dense operator.
- ``problems``: the geometries (dense or online cost of a pair of samples) and the
  (a, b), (a, a), (b, b) problems of the divergence, built by one function and solved
  by one.
- ``autodiff``: differentiable values in torch from the converged potentials.

A new backend (the sparse multiscale kernel of large clouds) is one more operator and
one more geometry; the driver, the debiasing and the certified bracket stay as they are.
"""
