"""Memory: what a dense (n, m) solve needs against what the machine has, and the
error raised before allocating what would not fit."""

from __future__ import annotations

import os
from typing import Optional

_BYTES_PER_ENTRY = 8


class ProblemTooLargeError(MemoryError):
    """Raised before allocating a dense (n, m) matrix that would not fit in memory."""


def available_memory() -> Optional[int]:
    """Bytes of memory available now (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


#: Peak resident memory of one solve, in float64 (n, m) matrices' worth, measured
#: (``python -m emdkit.bench.auto_model``: VmHWM in a fresh process, n = m = 4000):
#: exact 40.9 bytes a pair (the cost, the plan and POT's network-simplex arcs),
#: sinkhorn 25.6 (cost, kernel, kept plan; the bracket works by blocks of rows).
EXACT_MATRICES = 5.0
SINKHORN_MATRICES = 3.25


#: Below this many bytes the memory available is not read (/proc/meminfo: a tenth of
#: a millisecond, more than a 100 x 100 solve's validation).
SURELY_FITS = 16 * 2 ** 20


def check_dense_fits(n: int, m: int, n_matrices: float, method: str,
                     memory_limit: Optional[float] = None) -> None:
    """Raise :class:`ProblemTooLargeError` if ``n_matrices`` float64 (n, m) matrices
    would exceed ``memory_limit`` bytes (default: the memory available now)."""
    need = float(n) * float(m) * _BYTES_PER_ENTRY * n_matrices
    if memory_limit is None and need < SURELY_FITS:
        return
    limit = available_memory() if memory_limit is None else memory_limit
    if limit is not None and need > limit:
        raise ProblemTooLargeError(
            f"method={method!r} needs about {fmt_bytes(need)} ({n_matrices:g} dense "
            f"{n} x {m} float64 matrices' worth, measured), but only {fmt_bytes(limit)} "
            f"is available. Methods that scale without an n x m matrix: '1d' for 1-D "
            f"samples; 'max-sliced' (a certified lower bound on W_p) and 'sliced' (a "
            f"different distance, SW_p <= W_p); or subsample the data.")
