"""``emdkit.grid``: an N-d histogram (an image, a voxel grid) as a weighted cloud."""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import numpy as np


def grid(h, spacing: Union[float, Sequence[float]] = 1.0, origin=0.0
         ) -> Tuple[np.ndarray, np.ndarray]:
    """The cells of the histogram ``h`` as points and weights.

    A cell with index ``(i_1, ..., i_N)`` becomes the point
    ``origin + spacing * (i_1, ..., i_N)``, its value the weight; cells of zero mass
    are left out (they carry nothing). The pair goes straight to
    :func:`emdkit.distance` as ``(a, a_weights=w)``; between two histograms on the
    same grid, the distance is in the units of ``spacing``.

    Parameters
    ----------
    h : array_like, N-d, non-negative, with a positive sum
    spacing : float or sequence of N floats, default 1.0
        The cell size along each axis.
    origin : float or sequence of N floats, default 0.0
        The position of cell ``(0, ..., 0)``.

    Returns
    -------
    points : (k, N) float64 array
    weights : (k,) float64 array, summing to ``h.sum()``

    Examples
    --------
    >>> import numpy as np, emdkit
    >>> a = np.zeros((8, 8)); a[2, 3] = 1.0
    >>> b = np.zeros((8, 8)); b[5, 7] = 1.0
    >>> (x, wx), (y, wy) = emdkit.grid(a), emdkit.grid(b)
    >>> float(emdkit.distance(x, y, a_weights=wx, b_weights=wy))
    5.0
    """
    from .geometry.problem import as_numpy

    arr = np.asarray(as_numpy(h, "h"), dtype=np.float64)   # TypeError for text, complex
    if arr.ndim == 0 or arr.size == 0:
        raise ValueError(f"h must be a non-empty N-d histogram, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("h contains NaN or inf")
    if (arr < 0).any():
        i = np.unravel_index(int(np.argmin(arr)), arr.shape)
        raise ValueError(f"h must be non-negative: h[{', '.join(map(str, i))}] = "
                         f"{arr[i]:g}")
    if not arr.sum() > 0:
        raise ValueError("h has no mass (its sum is 0)")
    nd = arr.ndim
    sp = _per_axis("spacing", spacing, nd, positive=True)
    org = _per_axis("origin", origin, nd, positive=False)
    idx = np.nonzero(arr)
    points = np.stack(idx, axis=1).astype(np.float64) * sp + org
    return points, arr[idx]


def _per_axis(name, value, nd, positive):
    from .geometry.problem import as_numpy

    try:
        vec = np.asarray(as_numpy(value, name), dtype=np.float64)
    except ValueError:          # ragged: not a float or one float per axis
        vec = np.empty(0)
    if vec.ndim == 0:
        vec = np.broadcast_to(vec, (nd,))
    if vec.shape != (nd,):
        raise ValueError(f"{name} must be a float or {nd} floats (one per axis of h), "
                         f"got {value!r}")
    if not np.isfinite(vec).all() or (positive and not (vec > 0).all()):
        raise ValueError(f"{name} must be {'positive and ' if positive else ''}finite, "
                         f"got {value!r}")
    return vec
