"""The one path behind pairwise and cdist: validate, build the store, run the blocks."""

from __future__ import annotations

import math
import sys
import time
import warnings
from typing import Any, List, Optional

import numpy as np

from . import schedule
from ..solvers.oned import SCALE_FREE_P
from ._tasks import SHARED, Samples, run_block, sorted_store


def matrix(sa, wa, sb, wb, method, p, metric, scheduler, client, n_workers, block_size,
           out, progress, options):
    from ..checks import check_positive
    from ..dispatch import check_options, normalise_method
    from ..geometry.problem import check_metric, check_p

    method = normalise_method(method)
    options = check_options(method, options)     # once, for every pair
    p, metric = check_p(p), check_metric(metric)
    symmetric = sb is None
    xa, wa_, ta, raw_a = _collection(sa, wa, "samples" if symmetric else "samples_a",
                                     "weights" if symmetric else "a_weights")
    xb, wb_, tb, raw_b = ((xa, wa_, ta, raw_a) if symmetric else
                          _collection(sb, wb, "samples_b", "b_weights"))
    _same_dimension(xa, xb, symmetric)
    if scheduler is not None and scheduler not in schedule.SCHEDULERS:
        raise ValueError(f"scheduler must be one of {schedule.SCHEDULERS} or None, "
                         f"got {scheduler!r}")
    if client is not None and scheduler not in (None, "dask"):
        raise ValueError(f"client= runs on Dask; got scheduler={scheduler!r} with it")
    n_workers = None if n_workers is None else check_positive("n_workers", n_workers,
                                                             integer=True)
    block_size = None if block_size is None else check_positive("block_size", block_size,
                                                               integer=True)
    na, nb = len(xa), len(xb)
    if symmetric:
        pi, pj = np.triu_indices(na, 1)
        x, w = xa, wa_
    else:
        pi, pj = np.repeat(np.arange(na), nb), np.tile(np.arange(nb), na) + na
        x, w = xa + xb, wa_ + wb_
    if ta or tb:
        if scheduler not in (None, "serial") or client is not None or out is not None:
            raise TypeError("torch samples are computed in this process, pair by pair "
                            "(so that the matrix is differentiable): scheduler, client "
                            "and out are for numpy input")
        raw = raw_a if symmetric else tuple(u + v for u, v in zip(raw_a, raw_b))
        return _torch_matrix(raw, symmetric, pi, pj, na, nb, method, p, metric, options)
    store = _store(x, w, method, p, metric, options, out is not None)
    shape = (na, na) if symmetric else (na, nb)
    result = _open(out, shape, x, w, method, p, metric, options, symmetric)
    done = ~np.isnan(result[pi, pj if symmetric else pj - na])
    pi, pj = pi[~done], pj[~done]
    from ._out import notes_file

    kept = notes_file(out)           # the warnings of pairs computed by earlier runs
    client, close = _connect(client)
    try:
        notes = _run(store, pi, pj, na, symmetric, result, scheduler, client, n_workers,
                     block_size, progress, kept)
    finally:
        close()
    _warn(notes, len(pi) + int(done.sum()), symmetric, na)
    if out is not None:
        result.flush()
        return np.array(result)
    return result


def _collection(samples, weights, name: str, wname: str):
    """``(arrays (n_k, d), weights or None, any torch, (the distributions, their
    weights) as given)``, each validated as :func:`emdkit.distance` validates one
    sample."""
    from ..geometry.problem import check_samples, check_weights
    from ..checks import is_tensor

    if isinstance(samples, (str, bytes)) or not hasattr(samples, "__len__"):
        raise TypeError(f"{name} must be a sequence of distributions (arrays of shape "
                        f"(n,) or (n, d)) or one array (N, n, d), got {samples!r:.60}")
    items = list(samples) if not is_tensor(samples) else list(samples.unbind(0))
    if not items:
        raise ValueError(f"{name} is empty: at least one distribution is needed")
    if weights is None:
        ws = [None] * len(items)
    else:
        ws = list(weights) if not is_tensor(weights) else list(weights.unbind(0))
        if len(ws) != len(items):
            raise ValueError(f"{wname} has {len(ws)} entries but {name} has "
                             f"{len(items)} distributions: one per distribution (None "
                             f"for uniform)")
    x = [check_samples(s, f"{name}[{k}]") for k, s in enumerate(items)]
    w = [check_weights(wk, f"{wname}[{k}]", x[k].shape[0], f"{name}[{k}]")
         for k, wk in enumerate(ws)]
    # points of zero weight carry no mass: out of every distribution at once (their
    # coordinates would set the shared scales; as in distance, emdkit._live)
    for k, wk in enumerate(w):
        if wk is not None and not (wk > 0).all():
            live = wk > 0
            x[k], w[k] = np.ascontiguousarray(x[k][live]), wk[live] / wk[live].sum()
    torch = is_tensor(samples) or any(is_tensor(v) for v in items + ws)
    return x, w, torch, (items, ws)


def _same_dimension(xa, xb, symmetric):
    d = xa[0].shape[1]
    for name, xs in (("samples" if symmetric else "samples_a", xa), ("samples_b", xb)):
        for k, xk in enumerate(xs):
            if xk.shape[1] != d:
                raise ValueError(f"every distribution must have samples of one "
                                 f"dimension: {name}[{k}] has d={xk.shape[1]} (shape "
                                 f"{xk.shape}), the first has d={d}")


def _store(x, w, method, p, metric, options, to_file):
    if method not in SHARED:
        return Samples(x=x, w=w, method=method, p=p, metric=metric, options=options)
    if method == "1d":
        from ..solvers.oned import check_line

        check_line(x[0].shape[1], metric)
        return sorted_store(x, w, np.ones((1, 1)), p, p > SCALE_FREE_P)
    return sorted_store(x, w, _directions(x[0].shape[1], metric, options, to_file), p,
                        p > SCALE_FREE_P)


def _directions(d, metric, options, to_file):
    """The sliced method's directions for the whole matrix, checked as it checks them."""
    from ..solvers import REGISTRY
    from ..solvers.sliced import check_line_metric, check_projections, draw_directions

    check_line_metric(metric, "sliced")
    options = {**REGISTRY["sliced"].defaults, **options}   # checked (check_options)
    if options["projections"] is not None:
        return check_projections(options["projections"], d)
    L, seed, kind = options["n_projections"], options["seed"], options["directions"]
    if to_file and not isinstance(seed, (int, np.integer)):
        raise ValueError(f"method='sliced' with out= needs an int seed, so that a resumed "
                         f"run uses the same directions; got seed={seed!r}")
    return draw_directions(d, L, kind, seed)[0]


def _open(out, shape, x, w, method, p, metric, options, symmetric):
    if out is None:
        result = np.full(shape, np.nan)
    else:
        from ._out import fingerprint, open_out

        result = open_out(out, fingerprint(x, w, method, p, metric, options, shape))
    if symmetric:
        np.fill_diagonal(result, 0.0)
    return result


def _run(store, pi, pj, na, symmetric, result, scheduler, client, n_workers, block_size,
         progress, kept) -> List:
    """Compute the pairs into ``result``; the notes (warnings) of every pair, with
    those ``kept`` (a ``_out.Notes``) from earlier runs."""
    from ..threads import workers

    K = pi.shape[0]
    notes: List = kept.load()
    if K == 0:
        return notes
    nw = n_workers or (_threads_of(client) if client is not None else workers())
    bar = _bar(K, progress)

    def record(ii, jj, values):
        jc = jj if symmetric else jj - na
        result[ii, jc] = values
        if symmetric:
            result[jj, ii] = values
        if hasattr(result, "flush"):
            result.flush()
        if bar is not None:
            bar.update(len(ii))

    try:
        # the first pairs in this process: early errors, and the time of the last
        # one (past any first-call compilation) sizes the blocks
        per_pair = 0.0
        for first in ((0, 1), (1, 2)) if store.kind == "samples" else ((0, 64),):
            start = time.perf_counter()
            values, first_notes = run_block(store, pi[slice(*first)], pj[slice(*first)])
            per_pair = (time.perf_counter() - start) / max(len(values), 1)
            record(pi[slice(*first)], pj[slice(*first)], values)
            notes += first_notes
            kept.save(notes, first_notes)
        done = 2 if store.kind == "samples" else 64
        pi, pj = pi[done:], pj[done:]
        if pi.shape[0] == 0:
            return notes
        kind = _choose(scheduler, client, store, per_pair * pi.shape[0], nw)
        size = block_size or _block_size(pi.shape[0], per_pair, 1 if kind == "serial"
                                         else nw)
        blocks = schedule.blocks_of(pi, pj, size)
        it = _iterate(kind, store, blocks, client, nw)

        def take(item):
            b, values, block_notes = item
            record(blocks[b][0], blocks[b][1], values)
            notes.extend(block_notes)
            kept.save(notes, block_notes)

        try:
            for item in it:
                take(item)
        except KeyboardInterrupt:
            # stopped while a block was being recorded: the scheduler stops its
            # workers and hands over the blocks that finished, written before leaving
            try:
                item = it.throw(KeyboardInterrupt())
                while True:
                    take(item)
                    item = next(it)
            except (KeyboardInterrupt, StopIteration):
                pass
            raise
    finally:
        if bar is not None:
            bar.close()
    return notes


#: Seconds a scheduler's address has to answer (``client="tcp://..."``).
CONNECT_TIMEOUT = 10


def _connect(client):
    """``(client, close)``: a Dask ``Client`` as given (``close`` does nothing), or
    for a scheduler's address (``"tcp://host:8786"``) a client connected to it here
    and closed after the run; anything else, or an address that does not answer, is
    a clear error naming ``client``."""
    if client is None or not isinstance(client, (str, bytes)):
        if client is not None and not hasattr(client, "submit"):
            raise TypeError(f"client must be a dask.distributed.Client or a scheduler "
                            f"address such as 'tcp://127.0.0.1:8786', got "
                            f"{type(client).__name__} {client!r:.60}")
        return client, lambda: None
    address = client.decode() if isinstance(client, bytes) else client
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("client= needs Dask: pip install 'emdkit[dask]'") from None
    try:
        connected = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise ValueError(f"client={address!r}: no Dask scheduler answered at that "
                         f"address ({type(exc).__name__}: {exc})") from None
    return connected, connected.close


def _threads_of(client) -> int:
    """The threads of every worker of a Dask cluster (at least one)."""
    info = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in info.values()))


def _choose(scheduler, client, store, seconds, nw) -> str:
    if client is not None:
        return "client"
    if scheduler is not None:
        return scheduler
    if store.kind == "samples" and nw > 1 and seconds > schedule.PROCESS_MIN_SECONDS:
        return "processes"
    return "serial"


def _block_size(K, per_pair, nw) -> int:
    """A few blocks per worker (so a lost or slow one costs little), each about a
    second (so ``out=`` and the bar advance), never below one pair."""
    by_count = math.ceil(K / (4 * nw)) if nw > 1 else K
    by_time = max(1, int(1.0 / max(per_pair, 1e-9)))
    return max(1, min(by_count, by_time))


def _iterate(kind, store, blocks, client, nw):
    if kind == "serial":
        yield from schedule.serial(store, blocks)
    elif kind == "processes":
        yield from schedule.processes(store, blocks, nw)
    elif kind == "client":
        yield from schedule.dask(store, blocks, client)
    else:
        client, close = schedule.local_cluster(nw)
        try:
            yield from schedule.dask(store, blocks, client)
        finally:
            close()


def _bar(total, progress):
    if progress is None:
        progress = sys.stderr.isatty()
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="emdkit pairs", unit="pair", delay=2.0, leave=False)


def _warn(notes, total, symmetric, na):
    if not notes:
        return
    pairs = sorted({(i, j if symmetric else j - na) for i, j, _ in notes})
    shown = ", ".join(f"[{i}, {j}]" for i, j in pairs[:8])
    more = f" and {len(pairs) - 8} more" if len(pairs) > 8 else ""
    i, j, first = notes[0]
    warnings.warn(f"{len(pairs)} of {total} entries warned, their values may not be "
                  f"trusted: {shown}{more}; entry [{i}, {j if symmetric else j - na}]: "
                  f"{first}", RuntimeWarning, stacklevel=4)


def _torch_matrix(raw, symmetric, pi, pj, na, nb, method, p, metric, options):
    """Pair by pair through :func:`emdkit.distance` on the distributions as given
    (``raw``: their list and their weights'), into a torch matrix (differentiable:
    an out-of-place ``index_put``)."""
    import torch

    from ..dispatch import solve_problem
    from ..geometry.problem import prepare

    x, u = raw
    shape = (na, na) if symmetric else (na, nb)
    if pi.shape[0] == 0:                  # one distribution: its zero diagonal
        ref = next(t for t in x + u if isinstance(t, torch.Tensor))
        return torch.zeros(shape, dtype=ref.dtype if ref.is_floating_point()
                           else torch.float64, device=ref.device)
    # tensors keep their graphs: each pair's problem from the tensors as given (the
    # options were checked once, in matrix)
    vals = torch.stack([solve_problem(prepare(x[i], x[j], p=p, metric=metric,
                                              a_weights=u[i], b_weights=u[j]),
                                      method, options, stacklevel=3).value
                        for i, j in zip(pi.tolist(), pj.tolist())])
    rows = torch.as_tensor(pi, device=vals.device)
    cols = torch.as_tensor(pj if symmetric else pj - na, device=vals.device)
    out = vals.new_zeros(shape).index_put((rows, cols), vals)
    return out.index_put((cols, rows), vals) if symmetric else out
