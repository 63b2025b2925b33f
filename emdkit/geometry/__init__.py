"""The geometry layer: what a solver is given to read.

- ``problem``: the validated problem (samples or histograms, weights, p, metric; the
  user's tensors for torch input) and the checks that build it (:func:`prepare`).
- ``units``: the power-of-two scale every solver works at, and the one way back to
  W_p (root) and W_p^p (unscale); epsilon's conversion.
- ``costs``: ground costs ``metric ** p`` at a scale: dense matrices in numpy, paired
  costs in torch, a user metric's matrix checked.
- ``clouds``: the geometries of a pair of samples (dense matrix, online blocks) and
  the (a, b) / (a, a) / (b, b) problems on one scale, with the mean and largest cost
  that set epsilon (``epsilon``).
- ``multiscale`` and ``cells``: the clouds on one grid of nested cells, and the cell
  trees' branch-and-bound searches (exact c-transforms, truncated supports).
- ``histograms``: ``cost=`` input, histograms over a given cost matrix.

It imports numpy, SciPy, the numba ``kernels`` and the records below it, never a
solver.
"""
