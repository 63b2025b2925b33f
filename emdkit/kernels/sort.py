"""LSD radix sort of float64 keys (optionally carrying float64 payloads).

An O(n) sort: 8 passes of 8-bit digits over an order-preserving map of the IEEE bit
pattern to uint64 (flip every bit of negatives, the sign bit of the rest), skipping
passes whose digit is the same for every key. 8-bit digits measured fastest among 8 to
16 bits on this project's machine (256 buckets keep the scatter in cache); there it
sorts 10^6 doubles in about half the time of ``np.sort``. NaN never reaches it
(validation rejects non-finite samples); -0.0 sorts before +0.0, which changes no
distance.
"""

import numpy as np
from numba import njit

_BITS = 8
_RADIX = 1 << _BITS
_MASK = _RADIX - 1
_PASSES = 8


@njit(cache=True, nogil=True)
def _to_keys(x):
    u = x.view(np.uint64)
    out = np.empty(u.shape[0], dtype=np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(u.shape[0]):
        v = u[i]
        out[i] = ~v if v & sign else v | sign
    return out


@njit(cache=True, nogil=True)
def _from_keys(keys):
    out = np.empty(keys.shape[0], dtype=np.uint64)
    sign = np.uint64(1) << np.uint64(63)
    for i in range(keys.shape[0]):
        v = keys[i]
        out[i] = v & ~sign if v & sign else ~v
    return out.view(np.float64)


@njit(cache=True, nogil=True)
def _histograms(keys):
    hist = np.zeros((_PASSES, _RADIX), dtype=np.int64)
    for i in range(keys.shape[0]):
        v = keys[i]
        for p in range(_PASSES):
            hist[p, (v >> np.uint64(p * _BITS)) & np.uint64(_MASK)] += 1
    return hist


@njit(cache=True, nogil=True)
def _start_offsets(h, n, offsets):
    """Fill ``offsets`` with the first slot of each digit's bucket; False when one
    digit holds all n keys (the pass would not move anything)."""
    if h.max() == n:
        return False
    total = 0
    for d in range(h.shape[0]):
        offsets[d] = total
        total += h[d]
    return True


@njit(cache=True, nogil=True)
def radix_sort(x):
    """Sorted copy of the float64 array ``x``."""
    n = x.shape[0]
    keys = _to_keys(x)
    buf = np.empty(n, dtype=np.uint64)
    hist = _histograms(keys)
    offsets = np.empty(_RADIX, dtype=np.int64)
    for p in range(_PASSES):
        if not _start_offsets(hist[p], n, offsets):
            continue
        shift = np.uint64(p * _BITS)
        for i in range(n):
            v = keys[i]
            d = (v >> shift) & np.uint64(_MASK)
            buf[offsets[d]] = v
            offsets[d] += 1
        keys, buf = buf, keys
    return _from_keys(keys)


@njit(cache=True, nogil=True)
def radix_sort_with(x, w):
    """``(x sorted, w permuted alike)`` for float64 ``x`` and payload ``w``. Stable."""
    n = x.shape[0]
    keys = _to_keys(x)
    vals = w.copy()
    kbuf = np.empty(n, dtype=np.uint64)
    vbuf = np.empty(n, dtype=np.float64)
    hist = _histograms(keys)
    offsets = np.empty(_RADIX, dtype=np.int64)
    for p in range(_PASSES):
        if not _start_offsets(hist[p], n, offsets):
            continue
        shift = np.uint64(p * _BITS)
        for i in range(n):
            v = keys[i]
            d = (v >> shift) & np.uint64(_MASK)
            j = offsets[d]
            kbuf[j] = v
            vbuf[j] = vals[i]
            offsets[d] = j + 1
        keys, kbuf = kbuf, keys
        vals, vbuf = vbuf, vals
    return _from_keys(keys), vals
