"""numba kernels: no validation, no defaults, contiguous float64 in.

Importing this package imports numba; emdkit does so only when a kernel is first used.
"""
