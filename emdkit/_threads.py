"""One small thread pool for the kernels that release the GIL (numba ``nogil``
kernels, BLAS, numpy ufuncs, SciPy's cdist), safe across ``fork``."""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Sequence

_POOL = None


def _forget_pool() -> None:
    """A forked child inherits the pool object but not its threads: start afresh."""
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


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
