"""What a block of pairs needs, and the function that computes one block.

A store holds the distributions once (the samples, or for ``1d`` and ``sliced`` their
sorted projections) and is sent once to each process or Dask worker; a task is then
only the pair indices. ``run_block(store, pi, pj)`` gives the block's values and the
warnings its pairs raised, so that a warning in a worker process is not lost.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from ..geometry.units import pow2_scale, pow2_scales, rooted_values

#: Methods whose per-distribution work (sorting, projecting) is done once per call.
SHARED = ("1d", "sliced")


@dataclass
class Samples:
    """Validated distributions for the methods solved pair by pair."""

    x: List[Any]
    w: List[Optional[Any]]
    method: str
    p: float
    metric: Any
    options: dict
    kind: str = field(default="samples", init=False)


@dataclass
class Sorted:
    """Sorted rows of every distribution (``kernels.many``): row l of distribution k is
    its projection on direction l, sorted, with its cumulative weights."""

    vals: np.ndarray
    cums: np.ndarray
    offs: np.ndarray
    weighted: np.ndarray
    maxabs: np.ndarray
    prescale: float
    dim: int
    p: float
    normalise: bool
    kind: str = field(default="sorted", init=False)


def sorted_store(x, w, theta, p: float, normalise: bool) -> Sorted:
    """Project every distribution on the rows of ``theta`` and sort, once."""
    from ..threads import run_all
    from ..kernels.many import sorted_rows

    sizes = np.array([xi.shape[0] for xi in x])
    _check_fits(theta.shape[0], int(sizes.sum()))
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    maxabs = np.array([float(np.abs(xi).max()) for xi in x])
    d, L = x[0].shape[1], theta.shape[0]
    # differences are bounded by 2 sqrt(d) max|x|: pre-scale (by a power of two, exactly)
    # only where that could overflow
    prescale = pow2_scale(float(maxabs.max())) if maxabs.max() > 1e300 / (2 * d) else 1.0
    th = np.ascontiguousarray(theta) / prescale
    vals = np.empty((L, int(offs[-1])))
    cums = np.empty_like(vals)
    weighted = np.array([wi is not None for wi in w])
    empty = np.empty(0)
    run_all([lambda k=k: sorted_rows(x[k], w[k] if w[k] is not None else empty,
                                     bool(weighted[k]), th, vals, cums, int(offs[k]), 0, L)
             for k in range(len(x))])
    return Sorted(vals=vals, cums=cums, offs=offs, weighted=weighted,
                  maxabs=maxabs / prescale, prescale=prescale, dim=d, p=p,
                  normalise=normalise)


def _check_fits(L: int, total: int) -> None:
    """The sorted rows take 16 bytes per point and direction: refuse, with the
    figure, what would not fit in half the memory available."""
    from ..memory import ProblemTooLargeError, available_memory, fmt_bytes

    need = 16.0 * L * total
    free = available_memory()
    if free is not None and need > free / 2:
        raise ProblemTooLargeError(
            f"the sorted projections of {total:,} points along {L} directions need "
            f"{fmt_bytes(need)}, more than half the {fmt_bytes(free)} available: use "
            f"fewer projections (n_projections), or fewer or smaller distributions per "
            f"call (cdist on parts of the list)")


def run_block(store, pi, pj):
    """``(values, notes)``: the W_p of pairs ``(pi[k], pj[k])`` and, per pair that
    warned, ``(i, j, message)``."""
    pi = np.ascontiguousarray(pi, dtype=np.int64)
    pj = np.ascontiguousarray(pj, dtype=np.int64)
    if store.kind == "sorted":
        return _sorted_block(store, pi, pj), []
    return _samples_block(store, pi, pj)


def _sorted_block(s: Sorted, pi, pj) -> np.ndarray:
    from ..threads import run_all, workers
    from ..kernels.many import pair_costs

    K, L, p = pi.shape[0], s.vals.shape[0], s.p
    # per pair, the sliced method's own scaling: a power of two bounding |x| and one
    # bounding the differences (so no power overflows or underflows for p <= 2)
    big = np.maximum(s.maxabs[pi], s.maxabs[pj])
    s_in = pow2_scales(big)
    # (no smaller than the smallest normal float64: 1 / a subnormal is inf)
    scale = np.maximum(s_in * pow2_scales(2.0 * math.sqrt(s.dim) * (big / s_in)),
                       2.0 ** -1022)
    acc, top = np.zeros(K), np.zeros(K)
    invs = 1.0 / scale
    edges = np.linspace(0, K, min(workers(), K) + 1).astype(int) if K else [0, 0]
    args = (s.vals, s.cums, s.offs, s.weighted, pi, pj, invs, p, s.normalise, acc, top)
    run_all([lambda k0=int(k0), k1=int(k1): pair_costs(*args, k0, k1)
             for k0, k1 in zip(edges[:-1], edges[1:])])
    unit = top if s.normalise else scale
    with np.errstate(divide="ignore"):
        return s.prescale * rooted_values(acc / L, unit, p)


def _samples_block(s: Samples, pi, pj):
    from ..dispatch import solve_problem
    from ..geometry.problem import Problem

    values, notes = np.empty(pi.shape[0]), []
    for k, (i, j) in enumerate(zip(pi.tolist(), pj.tolist())):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # the distributions were validated once (many._matrix), as were the options
            prob = Problem(x=s.x[i], y=s.x[j], wa=s.w[i], wb=s.w[j], p=s.p,
                           metric=s.metric)
            r = solve_problem(prob, s.method, s.options)
        values[k] = float(r.value)
        for wmsg in caught:
            if issubclass(wmsg.category, RuntimeWarning):
                notes.append((i, j, str(wmsg.message)))
            else:   # not emdkit's trust warnings: pass them on unchanged
                warnings.warn_explicit(wmsg.message, wmsg.category, wmsg.filename,
                                       wmsg.lineno)
    return values, notes
