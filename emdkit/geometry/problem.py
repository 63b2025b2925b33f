"""The input contract: one place that turns user input into clean arrays or a clear error.

Every public entry point calls :func:`prepare` once. What comes out is a :class:`Problem`
holding contiguous float64 numpy copies of the samples and normalised weights (what the
solvers read), and, for torch input, the original tensors (what the value is computed
from, so gradients flow).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import numpy as np

from ..checks import describe, is_tensor, torch_module

#: Names accepted for ``metric``; every one is a true metric on R^d.
METRICS = ("euclidean", "cityblock", "chebyshev")
_METRIC_ALIASES = {"l2": "euclidean", "manhattan": "cityblock", "l1": "cityblock",
                   "linf": "chebyshev"}

Metric = Union[str, Callable[[Any, Any], Any]]


@dataclass
class Problem:
    """Validated input. ``x``, ``y``: (n, d) and (m, d) float64 C-contiguous arrays;
    ``wa``, ``wb``: normalised float64 weights, or None for uniform."""

    x: np.ndarray
    y: np.ndarray
    wa: Optional[np.ndarray]
    wb: Optional[np.ndarray]
    p: float
    metric: Metric
    # torch mode: the user's tensors (samples as (n, d)), weights normalised in torch
    torch: bool = False
    xt: Any = None
    yt: Any = None
    wat: Any = None
    wbt: Any = None

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def m(self) -> int:
        return self.y.shape[0]

    @property
    def dim(self) -> int:
        return self.x.shape[1]

    def weights(self) -> tuple:
        """Normalised numpy weights, uniform ones made explicit."""
        wa = self.wa if self.wa is not None else np.full(self.n, 1.0 / self.n)
        wb = self.wb if self.wb is not None else np.full(self.m, 1.0 / self.m)
        return wa, wb


def as_numpy(value: Any, name: str) -> np.ndarray:
    """Convert a list, array or tensor to a numpy array of a real number type."""
    if is_tensor(value):
        if value.is_meta:
            raise ValueError(f"{name} is a tensor on the 'meta' device, which holds "
                             f"no data (shape {tuple(value.shape)}): pass a tensor "
                             f"with values")
        if value.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a complex tensor "
                            f"of dtype {value.dtype}")
        arr = value.detach().cpu().numpy()
    elif isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got the string "
                        f"{describe(value)}")
    else:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} must be a rectangular array of numbers, got "
                             f"{describe(value)} ({exc})") from None
    kind = arr.dtype.kind
    if kind in "biuf":
        return arr
    if kind == "c":
        raise TypeError(f"{name} must hold real numbers, got complex values "
                        f"({describe(value)})")
    if kind == "O":
        try:
            return arr.astype(np.float64)
        except (ValueError, TypeError):
            pass
    raise TypeError(f"{name} must be an array of numbers, got {describe(value)} "
                    f"(dtype {arr.dtype})")


def _first_bad(arr: np.ndarray) -> str:
    bad = ~np.isfinite(arr)
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    where = idx[0] if len(idx) == 1 else idx
    return f"{int(bad.sum())} non-finite value(s), the first {arr[idx]} at index {where}"


def check_samples(value: Any, name: str) -> np.ndarray:
    arr = as_numpy(value, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got a scalar "
                         f"{describe(value)}")
    if arr.ndim > 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got an array with "
                         f"{arr.ndim} dimensions, shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): at least one sample "
                         f"is needed")
    if arr.ndim == 2 and arr.shape[1] == 0:
        raise ValueError(f"{name} has samples of dimension 0 (shape {arr.shape})")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf: {_first_bad(arr)}")
    return arr.reshape(-1, 1) if arr.ndim == 1 else arr


def check_weights(value: Any, name: str, n: int, samples: str) -> Optional[np.ndarray]:
    if value is None:
        return None
    arr = as_numpy(value, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one weight per sample of {samples}, "
                         f"got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but {samples} has {n} "
                         f"samples: one weight per sample is needed")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf: {_first_bad(arr)}")
    if (arr < 0).any():
        i = int(np.argmax(arr < 0))
        raise ValueError(f"{name} must be non-negative, got {arr[i]} at index {i}")
    with np.errstate(over="ignore"):
        total = float(arr.sum())
    if not math.isfinite(total):
        raise ValueError(f"{name} sum to {total}: the total weight must be finite")
    if total <= 0:
        raise ValueError(f"{name} sum to {total}: the total weight must be positive")
    return arr / total


def check_p(p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a real number >= 1, got {describe(p)}")
    p = float(p)
    if not (p >= 1 and math.isfinite(p)):
        raise ValueError(f"p must be a finite real number >= 1, got {p}")
    return p


def check_metric(metric: Any) -> Metric:
    if callable(metric):
        return metric
    if not isinstance(metric, str):
        raise TypeError(f"metric must be one of {', '.join(map(repr, METRICS))} or a "
                        f"callable returning the (n, m) distance matrix, got "
                        f"{describe(metric)}")
    key = metric.lower()
    key = _METRIC_ALIASES.get(key, key)
    if key not in METRICS:
        hint = ""
        if key in ("sqeuclidean", "squared_euclidean"):
            hint = (" (the ground cost is metric ** p: use metric='euclidean' with p=2 "
                    "for the squared Euclidean cost)")
        raise ValueError(f"unknown metric {metric!r}; choose one of "
                         f"{', '.join(map(repr, METRICS))} or pass a callable{hint}")
    return key


def _torch_setup(values: dict):
    """Device and float dtype shared by the tensor arguments."""
    torch = torch_module()
    tensors = {k: v for k, v in values.items() if is_tensor(v)}
    devices = {str(t.device) for t in tensors.values()}
    if len(devices) > 1:
        where = ", ".join(f"{k} on {t.device}" for k, t in tensors.items())
        raise ValueError(f"tensor arguments must be on one device, got {where}")
    device = next(iter(tensors.values())).device
    dtype = None
    for t in tensors.values():
        if t.is_floating_point():
            dtype = t.dtype if dtype is None else torch.promote_types(dtype, t.dtype)
    return device, dtype or torch.get_default_dtype()


def _to_tensor(value: Any, arr: np.ndarray, device, dtype):
    """The user's tensor (cast to ``dtype``, keeping its graph) or ``arr`` as a
    tensor, with the shape of the validated array ``arr``."""
    torch = torch_module()
    if is_tensor(value):
        return value.to(dtype=dtype).reshape(arr.shape)
    return torch.as_tensor(arr, dtype=dtype, device=device)


def prepare(a: Any, b: Any, *, p: Any = 1, metric: Any = "euclidean",
            a_weights: Any = None, b_weights: Any = None) -> Problem:
    """Validate user input and return a :class:`Problem`, or raise a clear error."""
    p = check_p(p)
    metric = check_metric(metric)
    x = check_samples(a, "a")
    y = check_samples(b, "b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"a and b must have samples of the same dimension, got "
                         f"a with d={x.shape[1]} (shape {x.shape}) and b with "
                         f"d={y.shape[1]} (shape {y.shape})")
    wa = check_weights(a_weights, "a_weights", x.shape[0], "a")
    wb = check_weights(b_weights, "b_weights", y.shape[0], "b")
    prob = Problem(x=x, y=y, wa=wa, wb=wb, p=p, metric=metric)
    values = {"a": a, "b": b, "a_weights": a_weights, "b_weights": b_weights}
    if any(is_tensor(v) for v in values.values()):
        from ..threads import mark_torch_used

        mark_torch_used()
        device, dtype = _torch_setup(values)
        prob.torch = True
        prob.xt = _to_tensor(a, x, device, dtype)
        prob.yt = _to_tensor(b, y, device, dtype)
        for attr, w, arr in (("wat", a_weights, wa), ("wbt", b_weights, wb)):
            if w is not None:
                t = _to_tensor(w, arr, device, dtype)
                setattr(prob, attr, t / t.sum())
    return prob
