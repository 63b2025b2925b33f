"""POT's network simplex, called on the rows and columns that carry mass.

``ot.emd`` wraps the compiled solver ``emd_c`` in a backend layer (type detection,
the active subset, duals for the empty rows, centring, a dense re-embedding), about a
quarter of its time at n = 300 and 1000 in ``emdkit.bench.cost_bench``. emdkit
validates its input once and needs none of that layer, so it calls ``emd_c`` itself
on the bins of positive weight and completes the duals of the empty ones by
c-transforms. Where the compiled function is not there or has another signature
(another POT), ``ot.emd`` does the same job.
"""

from __future__ import annotations

import numpy as np

_OPTIMAL = 1
#: The solver's other result codes (POT's ``emd_wrap.check_result`` words them, and
#: warns as it does)
_MESSAGES = {0: "problem infeasible: check that a and b are in the simplex",
             2: "problem unbounded",
             3: "numItermax reached before optimality"}


def compiled():
    """POT's compiled network simplex ``emd_c``, imported once (POT imports torch
    where it is installed: seconds, which ``exact`` does before its clock starts, so
    that ``Result.time`` is the solve's), or None under another POT layout."""
    try:
        from ot.lp.emd_wrap import emd_c
    except ImportError:      # pragma: no cover - another POT layout
        return None
    return emd_c


def network_simplex(a: np.ndarray, b: np.ndarray, M: np.ndarray, max_iter: int):
    """``(plan, support, f, g, result_code, message)`` for the transport LP between
    the normalised weights ``a`` (n,), ``b`` (m,) with the C-contiguous float64 cost
    ``M``: the dense plan, its support ``(rows, cols, masses)``, dual potentials
    ``(f, g)`` (of the solver on the rows and columns with mass, c-transforms on the
    others), ``message`` None when optimal."""
    emd_c = compiled()
    if emd_c is None:        # pragma: no cover - another POT layout
        return _through_ot(a, b, M, max_iter)
    b = b * (a.sum() / b.sum())           # the same mass, as ot.emd does
    ia, ib = a > 0, b > 0
    full = bool(ia.all() and ib.all())
    ra, rb = np.flatnonzero(ia), np.flatnonzero(ib)
    Ms = M if full else np.take(np.take(M, ra, 0), rb, 1)     # (take: 4x faster than ix_)
    try:
        G, _, u, v, code = emd_c(a[ia] if not full else a, b[ib] if not full else b,
                                 Ms, int(max_iter), 1)
    except TypeError:        # pragma: no cover - another signature
        return _through_ot(a, b, M, max_iter)
    message = None if code == _OPTIMAL else _MESSAGES.get(int(code), f"result code {code}")
    ii, jj = _support(G)
    mass = G[ii, jj]
    if full:
        return G, (ii, jj, mass), np.asarray(u), np.asarray(v), int(code), message
    support = (ra[ii], rb[jj], mass)
    plan = np.zeros(M.shape)
    plan[support[0], support[1]] = mass                  # a vertex: n + m - 1 entries
    f, g = np.zeros(M.shape[0]), np.zeros(M.shape[1])
    f[ia], g[ib] = u, v
    # empty columns: the largest g_j feasible against the rows with mass; then empty
    # rows: the largest f_i feasible against every column
    if not ib.all():
        empty = np.flatnonzero(~ib)
        # the few columns first, then the rows: no copy of the whole matrix
        g[empty] = (np.take(M, empty, 1)[ra] - f[ra][:, None]).min(axis=0)
    if not ia.all():
        f[~ia] = (M[~ia] - g[None, :]).min(axis=1)
    return plan, support, f, g, int(code), message


def _support(P):
    """Rows and columns of the positive entries of a plan (``flatnonzero`` of a
    boolean mask: ten times faster than ``nonzero`` of the floats)."""
    idx = np.flatnonzero(P.ravel() > 0)
    return np.divmod(idx, P.shape[1])


def _through_ot(a, b, M, max_iter):
    import warnings

    import ot

    with warnings.catch_warnings():
        # POT's own "numItermax reached" UserWarning is replaced by emdkit's
        warnings.simplefilter("ignore", UserWarning)
        plan, log = ot.emd(a, b, M, numItermax=int(max_iter), log=True,
                           check_marginals=False)
    code = int(log["result_code"])
    message = None if code == _OPTIMAL else (log["warning"] or f"result code {code}")
    ii, jj = _support(plan)
    return (plan, (ii, jj, plan[ii, jj]), np.asarray(log["u"]), np.asarray(log["v"]),
            code, message)


def sparse_network_simplex(a: np.ndarray, b: np.ndarray, rows: np.ndarray,
                           cols: np.ndarray, cost: np.ndarray, max_iter: int):
    """``(support, f, g, result_code, message)`` for the transport LP between ``a``
    (n,) and ``b`` (m,), both positive, restricted to the pairs ``(rows, cols)`` of
    cost ``cost``: POT's network simplex on an edge list (``emd_c_sparse``). The
    support ``(rows, cols, masses)`` of the plan, the duals ``(f, g)`` of the
    restricted problem (``f_i + g_j <= c_ij`` on the given pairs only: whether the
    plan is optimal for all pairs is the caller's to check), ``message`` None when
    optimal. Raises ``RuntimeError`` where POT has no sparse solver."""
    try:
        from ot.lp.emd_wrap import emd_c_sparse
    except ImportError as exc:      # pragma: no cover - POT before 0.9.6
        raise RuntimeError("the multiscale exact solver needs POT >= 0.9.6 "
                           "(ot.lp.emd_wrap.emd_c_sparse)") from exc
    b = b * (a.sum() / b.sum())
    fr, fc, fm, _, f, g, code = emd_c_sparse(
        np.ascontiguousarray(a, dtype=np.float64), np.ascontiguousarray(b, dtype=np.float64),
        np.ascontiguousarray(rows, dtype=np.uint64), np.ascontiguousarray(cols, dtype=np.uint64),
        np.ascontiguousarray(cost, dtype=np.float64), int(max_iter))
    code = int(code)
    message = None if code == _OPTIMAL else _MESSAGES.get(code, f"result code {code}")
    keep = np.asarray(fm) > 0
    support = (np.asarray(fr, dtype=np.int64)[keep], np.asarray(fc, dtype=np.int64)[keep],
               np.asarray(fm, dtype=np.float64)[keep])
    return support, np.asarray(f, dtype=np.float64), np.asarray(g, dtype=np.float64), code, message
