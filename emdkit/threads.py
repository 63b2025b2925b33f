"""One small thread pool for the kernels that release the GIL (numba ``nogil``
kernels, BLAS, numpy ufuncs, SciPy's cdist), safe across ``fork``."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Callable, List, Optional, Sequence

_POOL = None


#: Set once emdkit has run torch work in this process (the critic).
_TORCH_USED = False


def mark_torch_used() -> None:
    global _TORCH_USED
    _TORCH_USED = True


def _forget_pool() -> None:
    """A forked child inherits the pool object but not its threads: start afresh.

    The same holds for torch's GNU OpenMP pool: a child forked after the critic ran
    hangs at its first parallel torch operation. So where emdkit used torch, the
    child runs torch on one thread (as PyTorch's own DataLoader workers do); set
    more with ``torch.set_num_threads`` in the child if it must."""
    global _POOL
    _POOL = None
    if _TORCH_USED and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


#: Set in a worker process of ``pairwise`` (local or Dask), where the parallelism is
#: the processes': its kernels then run on one thread, not on every core each.
_LIMIT: Optional[int] = None


def limit_threads(n: Optional[int]) -> None:
    global _LIMIT
    _LIMIT = n


def workers() -> int:
    n = max(1, min(os.cpu_count() or 1, 8))
    return n if _LIMIT is None else max(1, min(n, _LIMIT))


_BLAS = {"controller": None, "depth": 0, "limiter": None}
_BLAS_LOCK = threading.Lock()


@contextmanager
def one_blas_thread():
    """BLAS (numpy's and SciPy's OpenBLAS or MKL) on one thread inside the context.

    emdkit's kernels run on its own pool (``run_all``) and torch's on its OpenMP
    threads; OpenBLAS's threads busy-wait after each call, and on the same cores the
    pools then slow each other several times over (on 2 cores: a debiased Sinkhorn
    distance at n = 300, 0.10 s against 0.03 s; a step of the training loss, 0.19 s
    against 0.035 s). So inside every emdkit call BLAS runs on one thread and
    emdkit's pool does the parallel work (the dense Sinkhorn products by row blocks).
    threadpoolctl finds the loaded libraries once (scipy.linalg imported first so
    that SciPy's own OpenBLAS is among them); entering costs microseconds. The limit
    is process-wide: counted, so that calls from several threads, or nested ones,
    restore the user's setting once, when the last one leaves."""
    with _BLAS_LOCK:
        if _BLAS["depth"] == 0:
            if _BLAS["controller"] is None:
                import scipy.linalg  # noqa: F401  (SciPy's BLAS loaded before the search)
                from threadpoolctl import ThreadpoolController

                _BLAS["controller"] = ThreadpoolController()
            _BLAS["limiter"] = _BLAS["controller"].limit(limits=1, user_api="blas")
        _BLAS["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS["depth"] -= 1
            if _BLAS["depth"] == 0:
                _BLAS["limiter"].restore_original_limits()
                _BLAS["limiter"] = None


_TORCH = {"depth": 0, "before": None}


@contextmanager
def one_torch_thread():
    """torch's intra-op pool on one thread inside the context, the user's setting
    restored when the last one leaves (counted, like :func:`one_blas_thread`).

    The critic's networks are small (width 32): torch's OpenMP threads gain nothing
    on them and spin between operations. 100 steps on 500 + 500 points (2 cores,
    torch 2.13.0, medians of 3 interleaved rounds): 1.06 s on one thread against
    1.18 s on two, and beside one other busy process 1.01 s against 3.76 s
    (``python -m emdkit.bench.critic_threads``)."""
    import torch

    with _BLAS_LOCK:
        if _TORCH["depth"] == 0:
            _TORCH["before"] = torch.get_num_threads()
            if _TORCH["before"] != 1:
                torch.set_num_threads(1)
        _TORCH["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _TORCH["depth"] -= 1
            if _TORCH["depth"] == 0 and _TORCH["before"] not in (None, 1):
                torch.set_num_threads(_TORCH["before"])


def pool():
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=workers(), thread_name_prefix="emdkit")
    return _POOL


def run_all(tasks: Sequence[Callable[[], object]], parallel: Optional[bool] = None
            ) -> List[object]:
    """Run the tasks, on the pool when there are several and cores to spare; the
    calling thread takes the first task itself."""
    if parallel is None:
        parallel = len(tasks) > 1 and workers() > 1
    if not parallel:
        return [t() for t in tasks]
    futures = [pool().submit(t) for t in tasks[1:]]
    first = tasks[0]()
    return [first] + [f.result() for f in futures]
