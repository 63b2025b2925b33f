"""The stabilised dense kernel ``exp((f + g - C) / eps)`` and the exact plan of (f, g)."""

from __future__ import annotations

import numpy as np

from .driver import lse_rows


def _row_chunks(n, min_rows=256):
    """Row ranges, one per worker thread (a single one for small matrices)."""
    from ...threads import workers

    k = max(1, min(workers(), n // min_rows))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [(int(i0), int(i1)) for i0, i1 in zip(edges[:-1], edges[1:])]


def by_rows(fn, n):
    """Run ``fn(i0, i1)`` over row blocks on the worker threads (numpy's ufuncs
    release the GIL, so building a kernel uses every core); returns the results."""
    from ...threads import run_all

    chunks = _row_chunks(n)
    return run_all([lambda c=c: fn(*c) for c in chunks], parallel=len(chunks) > 1)


def kernel_rows(C, f, g, eps, out, i0, i1):
    """Rows i0:i1 of ``exp((f + g - C) / eps)`` into ``out``; returns that view."""
    o = out[i0:i1]
    np.add(f[i0:i1, None], g[None, :], out=o)
    o -= C[i0:i1]
    o *= 1.0 / eps
    with np.errstate(over="ignore", under="ignore"):
        np.exp(o, out=o)
    return o


def kernel(C, f, g, eps, out):
    """``exp((f + g - C) / eps)``; entries may underflow to 0 or overflow to inf,
    which the callers detect (no numpy warning: it is expected and handled)."""
    by_rows(lambda i0, i1: kernel_rows(C, f, g, eps, out, i0, i1), C.shape[0])
    return out


def plan_error(C, f, g, a, b, eps, out):
    """The plan of (f, g) into ``out`` and its L1 marginal error."""
    def rows(i0, i1):
        o = kernel_rows(C, f, g, eps, out, i0, i1)
        o *= a[i0:i1, None]
        o *= b[None, :]
        return o.sum(1), o.sum(0)
    parts = by_rows(rows, C.shape[0])
    r = np.concatenate([p_[0] for p_ in parts])
    c = sum(p_[1] for p_ in parts)
    return float(np.abs(r - a).sum() + np.abs(c - b).sum())


def log_steps(C, f, g, loga, logb, eps):
    """One exact log-domain Sinkhorn iteration (f, then g): used where the scalings
    under- or overflow."""
    M = (g[None, :] + eps * logb[None, :] - C) / eps
    f = -eps * lse_rows(M)
    M = (f[:, None] + eps * loga[:, None] - C).T / eps
    g = -eps * lse_rows(np.ascontiguousarray(M))
    return f, g
