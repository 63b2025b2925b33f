"""Checks shared by every layer: what a user value is, and the options that must be
a positive number, a seed or a torch device. Each raises a ``ValueError`` or
``TypeError`` naming the argument and the value received. numpy only."""

from __future__ import annotations

import math
import numbers
import sys
from typing import Any, Optional

import numpy as np


def torch_module():
    """The torch module if it is already imported (a tensor can only exist then)."""
    return sys.modules.get("torch")


def is_tensor(x: Any) -> bool:
    torch = torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def describe(value: Any, limit: int = 60) -> str:
    """A short repr of a user value for error messages."""
    if isinstance(value, np.ndarray):
        text = f"array of shape {value.shape} and dtype {value.dtype}"
    elif is_tensor(value):
        text = f"tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."



def check_positive(name: str, value: Any, *, integer: bool = False,
                   below: Optional[float] = None) -> Any:
    """A method option that must be a positive (integer) number, optionally < below."""
    kinds = (numbers.Integral,) if integer else (numbers.Real,)
    ok = not isinstance(value, bool) and isinstance(value, kinds)
    if ok:
        value = int(value) if integer else float(value)
        ok = value > 0 and math.isfinite(value) and (below is None or value < below)
    if not ok:
        what = "a positive integer" if integer else "a positive finite number"
        if below is not None:
            what += f" below {below:g}"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_seed(seed: Any, name: str = "seed") -> Any:
    """None, a non-negative integer, or a numpy ``Generator`` / ``SeedSequence``."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, a non-negative integer or a numpy "
                        f"Generator, got {describe(seed)}")
    if seed < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {seed}")
    return int(seed)


def check_device(device: Any, name: str = "device"):
    """A torch device (or its name) that exists here; None stays None."""
    if device is None:
        return None
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a torch device such as 'cpu' or 'cuda:0', got "
                         f"{describe(device)} ({exc})") from None
    if dev.type == "meta":
        raise ValueError(f"{name}='meta' holds no data: the critic must train on a "
                         f"real device")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={device!r} but CUDA is not available here")
    return dev

