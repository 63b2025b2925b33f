"""``out=``: the matrix streamed to a ``.npy`` file, so that a stopped run resumes.

The file is a float64 ``.npy`` array (``numpy.load`` reads it), NaN where an entry is
not computed yet; each block is written and flushed as it finishes. Beside it,
``<out>.json`` records what the matrix is of (a fingerprint of the distributions,
the method and its options): a later call with the same file resumes only if it
asks for the same matrix, and refuses otherwise rather than mix two runs.
``<out>.warnings.json`` keeps the warnings of the pairs computed so far, so that a
resumed run still reports the entries an earlier one could not trust.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np


def fingerprint(x, w, method: str, p: float, metric: Any, options: dict,
                shape: tuple) -> dict:
    h = hashlib.sha256()
    for xi, wi in zip(x, w):
        h.update(repr(xi.shape).encode())
        h.update(np.ascontiguousarray(xi, dtype=np.float64).tobytes())
        h.update(b"w" if wi is None else np.ascontiguousarray(wi).tobytes())
    opts = {}
    for k in sorted(options):
        v = options[k]
        opts[k] = (hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
                   if isinstance(v, np.ndarray) else repr(v))
    name = metric if isinstance(metric, str) else getattr(metric, "__qualname__",
                                                           repr(metric))
    return {"format": "emdkit matrix 1", "shape": list(shape), "method": method,
            "p": p, "metric": name, "options": opts, "samples": h.hexdigest()}


def open_out(path, meta: dict) -> np.ndarray:
    """The memory-mapped matrix at ``path``: new (all NaN) or, where ``path`` holds a
    run of the same matrix, as far as it got."""
    path = os.fspath(path)
    if not path.endswith(".npy"):
        raise ValueError(f"out must name a .npy file, got {path!r}")
    try:
        return _open(path, meta)
    except json.JSONDecodeError as exc:
        raise ValueError(f"out={path!r}: its record {os.path.basename(path)}.json is "
                         f"corrupted ({exc}); remove both files, or choose another "
                         f"file") from None
    except (PermissionError, FileNotFoundError, IsADirectoryError,
            NotADirectoryError) as exc:
        raise ValueError(f"out={path!r} cannot be written there: {exc.strerror or exc}"
                         f" (the folder must exist and be writable)") from None
    except (EOFError, OSError) as exc:
        raise ValueError(f"out={path!r} is not a readable .npy matrix ({exc}): a "
                         f"truncated or damaged file; remove it and its .json, or "
                         f"choose another file") from None


def _open(path: str, meta: dict) -> np.ndarray:
    side = path + ".json"
    shape = tuple(meta["shape"])
    if os.path.exists(path):
        if not os.path.exists(side):
            raise ValueError(f"out={path!r} exists but is not an emdkit matrix (no "
                             f"{os.path.basename(side)} beside it); remove it or choose "
                             f"another file")
        with open(side) as f:
            old = json.load(f)
        if old != meta:
            diff = sorted(k for k in meta if old.get(k) != meta[k])
            raise ValueError(f"out={path!r} holds a run of another matrix (it differs "
                             f"in {', '.join(diff)}); remove it or choose another file")
        try:
            arr = np.lib.format.open_memmap(path, mode="r+")
        except ValueError as exc:           # numpy's words for a damaged header
            raise EOFError(str(exc)) from None
        if arr.shape != shape or arr.dtype != np.float64:
            raise ValueError(f"out={path!r} has shape {arr.shape}, expected {shape}")
        return arr
    if os.path.exists(path + ".warnings.json"):
        os.remove(path + ".warnings.json")        # of a run whose matrix is gone
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=shape)
    arr[...] = np.nan
    arr.flush()
    with open(side, "w") as f:
        json.dump(meta, f, indent=1)
    return arr


class Notes:
    """The pairs' warnings kept beside ``out`` (nothing kept without one)."""

    def __init__(self, path):
        self.path = None if path is None else os.fspath(path) + ".warnings.json"

    def load(self) -> list:
        if self.path is None or not os.path.exists(self.path):
            return []
        with open(self.path) as f:
            return [tuple(n) for n in json.load(f)]

    def save(self, notes: list, new: list) -> None:
        if self.path is not None and new:
            with open(self.path, "w") as f:
                json.dump([list(n) for n in notes], f)


def notes_file(out) -> Notes:
    return Notes(out)
