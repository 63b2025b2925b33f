"""The Sinkhorn engine behind ``method="sinkhorn"`` and ``WassersteinLoss``: one loop
and one Newton finish over pluggable operators.

- ``driver``: the one loop (``run``): the epsilon schedule (``geometry.epsilon``), the
  stopping rule, the adaptive over-relaxation, the averaged updates of OT(a, a) and the
  hand-over to Newton, over a batched operator; numpy operators run as a batch of one
  (``driver.Single``).
- ``newton``: the one Newton finish (``run``: trust region, backtracking, ridges per
  problem) over a backend's plan and direction; ``schur_direction`` for numpy's dense
  and sparse plans over their row and column products.
- ``gibbs``: the stabilised dense kernel ``exp((f + g - C) / eps)``, built by row
  blocks on the worker threads, and the exact plan and its marginal error.
- operators: ``dense`` (an (n, m) cost in memory, scaling form, BLAS products),
  ``online`` (the cost recomputed by blocks of rows, log domain), ``sparse`` (the
  truncated kernel of a cell grid), ``torch_loop`` (a torch batch on any device, with
  its Newton direction in ``torch_newton``).
- ``terms``: the solver of each geometry of ``geometry.clouds`` and the (a, b), (a, a),
  (b, b) problems of the divergence, solved by one function.
- ``multiscale``: the solve over a ``geometry.multiscale.CellGrid``, coarse to fine, and
  ``certificate`` its certified bracket.
- ``autodiff`` and ``torch_terms``: differentiable values in torch from the converged
  potentials.

A new backend is one more operator (and, where its cost has a new form, one more
geometry); the loop, the Newton finish, the debiasing and the certified bracket stay as
they are.
"""
