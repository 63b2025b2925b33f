"""One small thread pool for the kernels that release the GIL (numba ``nogil``
kernels, BLAS, numpy ufuncs, SciPy's cdist), safe across ``fork``."""

from __future__ import annotations

import os
import sys
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


_BLAS = None


def one_blas_thread():
    """A context in which BLAS (numpy's and SciPy's OpenBLAS or MKL) runs on one
    thread. For numpy work interleaved with torch operations (the training loss on
    the CPU): torch's OpenMP threads keep spinning for a while after each operation,
    and a BLAS pool on the same cores then runs several times slower (0.19 s against
    0.04 s a step of the loss at n = 300 on 2 cores). threadpoolctl finds the loaded
    libraries once (scipy.linalg imported first, so that SciPy's own OpenBLAS is
    among them); entering the context then costs microseconds."""
    global _BLAS
    if _BLAS is None:
        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS before the search)
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


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
