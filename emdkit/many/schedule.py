"""Where the blocks of pairs run: this process, local processes, or a Dask cluster.

Every scheduler is a generator of finished blocks ``(block index, values, notes)``,
in the order they finish, so the caller can record each one (``out=``) and advance the
progress bar as it comes. The store (the distributions) travels once per worker: as
the initializer's argument of each local process, or scattered to every Dask worker.
"""

from __future__ import annotations

import warnings
from typing import Iterator, List, Tuple

import numpy as np

from ._tasks import run_block

SCHEDULERS = ("serial", "processes", "dask")
#: A local process pool pays for itself (spawn, import, numba's cache) past this
#: many seconds of estimated remaining work.
PROCESS_MIN_SECONDS = 5.0

Block = Tuple[np.ndarray, np.ndarray]


def serial(store, blocks: List[Block], ids=None) -> Iterator:
    for b, (pi, pj) in zip(ids if ids is not None else range(len(blocks)), blocks):
        yield (b, *run_block(store, pi, pj))


_STORE = None


def _init_worker(store) -> None:
    import signal

    from ..threads import limit_threads

    global _STORE
    _STORE = store
    limit_threads(1)
    # Ctrl-C reaches the whole process group: the parent stops the pool itself, at
    # once, after writing the blocks that finished; a worker that died of it first
    # would break the pool into the serial fallback instead
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _dask_block(store, pi, pj):
    """A block on a Dask worker: one kernel thread per task, as many tasks at once as
    the worker has threads."""
    from .. import threads

    before = threads._LIMIT
    threads.limit_threads(1)
    try:
        return run_block(store, pi, pj)
    finally:                 # the worker may be the user's: leave it as it was
        threads.limit_threads(before)


def _worker_block(b, pi, pj):
    return (b, *run_block(_STORE, pi, pj))


def processes(store, blocks: List[Block], n_workers: int) -> Iterator:
    """A pool of ``n_workers`` spawned processes (spawn, not fork: a forked child of
    a process that ran numba's or torch's threads can hang)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("spawn")
    left = set(range(len(blocks)))
    ex = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx,
                             initializer=_init_worker, initargs=(store,))
    futures = [ex.submit(_worker_block, b, pi, pj) for b, (pi, pj) in enumerate(blocks)]
    broken, stopped = False, False
    try:
        for f in as_completed(futures):
            out = f.result()
            left.discard(out[0])
            yield out
    except BrokenProcessPool:
        broken = True
    except GeneratorExit:           # closed by the caller: nothing more to hand over
        stopped = True
        _stop(ex)
        raise
    except BaseException:           # Ctrl-C (here or in the caller, thrown in)
        stopped = True
        _stop(ex)
        # the blocks that finished meanwhile go to the caller (out=) before leaving
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is None:
                out = f.result()
                if out[0] in left:
                    left.discard(out[0])
                    yield out
        raise
    finally:
        for f in futures:
            f.cancel()
        if not stopped:
            ex.shutdown(wait=True)
    if broken:
        warnings.warn(
            "emdkit: the local worker processes stopped (under the 'spawn' start method "
            "each one imports the main script again: a script that computes at the top "
            "level needs an  if __name__ == '__main__':  guard); the remaining "
            f"{len(left)} of {len(blocks)} blocks ran in this process", UserWarning,
            stacklevel=5)
        yield from serial(store, [blocks[b] for b in sorted(left)], ids=sorted(left))


def _stop(ex) -> None:
    """Stop a process pool now: its workers terminated, nothing waited for (a
    graceful shutdown waits for the running blocks: 17-21 s after a Ctrl-C)."""
    for proc in list((getattr(ex, "_processes", None) or {}).values()):
        proc.terminate()
    ex.shutdown(wait=False, cancel_futures=True)


def dask(store, blocks: List[Block], client) -> Iterator:
    """The blocks as tasks on ``client``'s cluster, the store scattered to every
    worker first. A worker that dies takes its running tasks with it; the scheduler
    runs them again elsewhere (``distributed.scheduler.allowed-failures`` times)."""
    from distributed import as_completed

    handle = _share(client, store)
    futures = [client.submit(_dask_block, handle, pi, pj, pure=False)
               for pi, pj in blocks]
    index = {f.key: b for b, f in enumerate(futures)}
    try:
        for f in as_completed(futures):
            values, notes = f.result()
            yield index[f.key], values, notes
    finally:
        client.cancel(futures)
        client.cancel([handle])


def _share(client, store):
    """A future of the store, on every worker of ``client``'s cluster."""
    from distributed import get_worker

    try:
        inner = get_worker().scheduler.address != client.scheduler.address
    except ValueError:
        inner = False
    if not inner:
        [handle] = client.scatter([store], broadcast=True, hash=False)
        return handle
    # in a task of another cluster, scatter would register the data with that cluster's
    # scheduler (distributed 2026.8): send the store as a task's result instead; each
    # worker then fetches it once
    return client.submit(_same, store, pure=False)


def _same(value):
    return value


def local_cluster(n_workers: int):
    """``(client, close)``: a ``LocalCluster`` of worker processes on this machine,
    one thread each, no dashboard."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("scheduler='dask' needs dask.distributed: pip install "
                          "'emdkit[dask]' (or 'dask[distributed]')") from None
    import logging

    # ":0": any free port for the scheduler's web server (the default 8787 may be taken)
    import dask

    # not daemonic: a task may start processes of its own (emdkit bench's suites do)
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
    client = Client(cluster)

    def close():
        client.close()
        cluster.close()
    return client, close


def blocks_of(pi: np.ndarray, pj: np.ndarray, size: int) -> List[Block]:
    return [(pi[s:s + size], pj[s:s + size]) for s in range(0, pi.shape[0], size)]
