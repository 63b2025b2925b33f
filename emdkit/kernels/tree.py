"""A Morton-ordered cell tree of a point cloud and the queries of sparse Sinkhorn.

The points are sorted along the Z-order curve of their quantised coordinates, so that
every cell of the 2^d-ary tree (a box of the grid at some depth) is a contiguous range
of points. A cell is split while it holds more than ``leaf`` points (at most ``depth``
times). Each cell keeps the bounding box of its points.

Queries, for query points ``q`` against the tree of points ``y`` with potentials ``g``
on them (cost ``c(q, y) = metric(q, y) ** p``):

- ``ctransform``: ``min_j c(q_i, y_j) - g_j`` for each query (the exact c-transform),
  by branch and bound: a cell is skipped when ``boxdist ** p - max g`` over it cannot
  beat the best found;
- ``support_rows``: every j with ``c(q_i, y_j) - f_i - g_j <= thresh`` (the pairs
  sparse Sinkhorn keeps), as CSR rows; nothing within the threshold is missed, since
  a cell is skipped only when the bound over the whole cell exceeds it
  (``support_count`` counts them, for an estimate before allocating).

Metrics: 0 euclidean, 1 cityblock, 2 chebyshev. Every kernel takes a range of query
points and releases the GIL; the caller shares ranges out between the cores. No
fastmath. Indices in the tree's (sorted) order.
"""

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def morton_keys(q, bits):
    """Interleave the ``bits`` low bits of each integer coordinate (n, d) into one key."""
    n, d = q.shape
    keys = np.zeros(n, dtype=np.int64)
    for i in range(n):
        k = np.int64(0)
        for b in range(bits - 1, -1, -1):
            for t in range(d):
                k = (k << 1) | ((q[i, t] >> b) & 1)
        keys[i] = k
    return keys


@njit(cache=True, nogil=True)
def build_cells(keys, x, bits, leaf):
    """The cells of the Morton-sorted points ``x`` with keys ``keys``: arrays
    ``(lo, hi, child_lo, child_hi, bmin, bmax)``, the root first, children after their
    parent (so a reverse pass visits children before parents)."""
    n, d = x.shape
    cap = max(16, 4 * n // max(leaf, 1) + 16)
    lo = np.empty(cap, np.int64)
    hi = np.empty(cap, np.int64)
    level = np.empty(cap, np.int64)
    c_lo = np.full(cap, -1, np.int64)
    c_hi = np.full(cap, -1, np.int64)
    lo[0], hi[0], level[0] = 0, n, 0
    count, head = 1, 0
    while head < count:
        c = head
        head += 1
        if hi[c] - lo[c] <= leaf or level[c] >= bits:
            continue
        shift = d * (bits - level[c] - 1)
        first = count
        s = lo[c]
        while s < hi[c]:
            k = keys[s] >> shift
            e = s + 1
            while e < hi[c] and (keys[e] >> shift) == k:
                e += 1
            if count == cap:
                cap *= 2
                lo, hi, level = _grow(lo, cap), _grow(hi, cap), _grow(level, cap)
                c_lo, c_hi = _grow_fill(c_lo, cap), _grow_fill(c_hi, cap)
            lo[count], hi[count], level[count] = s, e, level[c] + 1
            count += 1
            s = e
        c_lo[c], c_hi[c] = first, count
    bmin = np.empty((count, d))
    bmax = np.empty((count, d))
    for c in range(count - 1, -1, -1):
        if c_lo[c] < 0:
            for t in range(d):
                mn, mx = x[lo[c], t], x[lo[c], t]
                for i in range(lo[c] + 1, hi[c]):
                    v = x[i, t]
                    mn = min(mn, v)
                    mx = max(mx, v)
                bmin[c, t], bmax[c, t] = mn, mx
        else:
            for t in range(d):
                mn, mx = bmin[c_lo[c], t], bmax[c_lo[c], t]
                for k in range(c_lo[c] + 1, c_hi[c]):
                    mn = min(mn, bmin[k, t])
                    mx = max(mx, bmax[k, t])
                bmin[c, t], bmax[c, t] = mn, mx
    return lo[:count].copy(), hi[:count].copy(), c_lo[:count].copy(), c_hi[:count].copy(), bmin, bmax


@njit(cache=True, nogil=True)
def _grow(a, cap):
    out = np.empty(cap, a.dtype)
    out[:a.shape[0]] = a
    return out


@njit(cache=True, nogil=True)
def _grow_fill(a, cap):
    out = np.full(cap, -1, a.dtype)
    out[:a.shape[0]] = a
    return out


@njit(cache=True, nogil=True)
def cell_max(lo, hi, c_lo, c_hi, g):
    """The largest potential of each cell (children before parents: reverse order)."""
    m = lo.shape[0]
    out = np.empty(m)
    for c in range(m - 1, -1, -1):
        best = -np.inf
        if c_lo[c] < 0:
            for j in range(lo[c], hi[c]):
                best = max(best, g[j])
        else:
            for k in range(c_lo[c], c_hi[c]):
                best = max(best, out[k])
        out[c] = best
    return out


@njit(cache=True, nogil=True)
def cell_linear(lo, hi, c_lo, y, g, c0, c1, beta, alpha):
    """For cells c0:c1, a linear upper envelope of ``g`` over the cell's points:
    ``g_j <= alpha_c + beta_c . y_j`` (``beta_c`` the least-squares slope, ``alpha_c``
    the largest residual). For p = 2 Euclidean it bounds the reduced cost over a whole
    cell far more tightly than the cell's largest ``g`` when ``g`` has a trend across
    the cell (it always has one: the potentials of W_2 are nearly quadratic)."""
    d = y.shape[1]
    A = np.empty((d, d))
    r = np.empty(d)
    mean = np.empty(d)
    for c in range(c0, c1):
        n = hi[c] - lo[c]
        for t in range(d):
            beta[c, t] = 0.0
        if n > d:
            gm = 0.0
            for t in range(d):
                mean[t] = 0.0
            for j in range(lo[c], hi[c]):
                gm += g[j]
                for t in range(d):
                    mean[t] += y[j, t]
            gm /= n
            for t in range(d):
                mean[t] /= n
                r[t] = 0.0
                for u in range(d):
                    A[t, u] = 0.0
            for j in range(lo[c], hi[c]):
                dg = g[j] - gm
                for t in range(d):
                    dt = y[j, t] - mean[t]
                    r[t] += dt * dg
                    for u in range(d):
                        A[t, u] += dt * (y[j, u] - mean[u])
            tr = 0.0
            for t in range(d):
                tr += A[t, t]
            if tr > 0.0:
                for t in range(d):
                    A[t, t] += 1e-9 * tr
                sol = np.linalg.solve(A, r)
                ok = True
                for t in range(d):
                    ok = ok and np.isfinite(sol[t])
                if ok:
                    for t in range(d):
                        beta[c, t] = sol[t]
        best = -np.inf
        for j in range(lo[c], hi[c]):
            v = g[j]
            for t in range(d):
                v -= beta[c, t] * y[j, t]
            best = max(best, v)
        alpha[c] = best


@njit(cache=True, nogil=True)
def _linear_bound(qi, bmin, bmax, beta, alpha, c):
    """``min over cell c's box of |q - y|^2 - beta_c . y - alpha_c``: the squared box
    distance from ``q + beta_c / 2``, less ``q . beta_c + |beta_c|^2 / 4 + alpha_c``."""
    s = 0.0
    lin = 0.0
    for t in range(qi.shape[0]):
        bt = beta[c, t]
        v = qi[t] + 0.5 * bt
        gap = (bmin[c, t] - v if v < bmin[c, t] else
               (v - bmax[c, t] if v > bmax[c, t] else 0.0))
        s += gap * gap
        lin += qi[t] * bt + 0.25 * bt * bt
    return s - lin - alpha[c]


#: The directions of ``cell_rays``: the 8 unit vectors at multiples of 45 degrees.
_R = 0.7071067811865476
_RAYS = ((1.0, 0.0), (_R, _R), (0.0, 1.0), (-_R, _R), (-1.0, 0.0), (-_R, -_R), (0.0, -1.0),
         (_R, -_R))


@njit(cache=True, nogil=True)
def cell_rays(lo, hi, c_lo, c_hi, y, g, phi, gmin):
    """For 2-D points and W_1: ``phi[c, k] = min_j (u_k . y_j - g_j)`` over cell c's
    points for the 8 directions ``u_k`` of ``_RAYS``, and ``gmin[c] = min_j g_j``
    (children before parents: reverse order). ``_ray_bound`` bounds a cell's reduced
    costs with them."""
    for c in range(lo.shape[0] - 1, -1, -1):
        for k in range(8):
            phi[c, k] = np.inf
        gmin[c] = np.inf
        if c_lo[c] < 0:
            for j in range(lo[c], hi[c]):
                gmin[c] = min(gmin[c], g[j])
                for k in range(8):
                    phi[c, k] = min(phi[c, k], _RAYS[k][0] * y[j, 0] + _RAYS[k][1] * y[j, 1]
                                    - g[j])
        else:
            for ch in range(c_lo[c], c_hi[c]):
                gmin[c] = min(gmin[c], gmin[ch])
                for k in range(8):
                    phi[c, k] = min(phi[c, k], phi[ch, k])


@njit(cache=True, nogil=True)
def _ray_bound(qi, bmin, bmax, phi, gmin, c):
    """A lower bound of ``|q - y_j| - g_j`` over cell c's points (2-D, W_1): for the
    unit vector ``u`` from ``q`` to the cell's centre, ``|q - y| >= u . (y - q)``, and
    ``u = a u_k + b u_k+1`` between two of the 8 directions (a, b >= 0, a + b >= 1):
    ``u . y - g >= a phi_k + b phi_k+1 + (a + b - 1) gmin``. Where ``g`` rises along
    the direction to ``q`` at slope 1, as W_1's potentials do along the transport
    rays, it is nearly tight, and the box bound (distance less the largest ``g``)
    is off by the cell's width."""
    ux = 0.5 * (bmin[c, 0] + bmax[c, 0]) - qi[0]
    uy = 0.5 * (bmin[c, 1] + bmax[c, 1]) - qi[1]
    r = np.sqrt(ux * ux + uy * uy)
    if r == 0.0:
        return -np.inf
    ux /= r
    uy /= r
    if uy >= 0.0:
        k = (0 if ux >= uy else 1) if ux >= 0.0 else (2 if uy >= -ux else 3)
    else:
        k = (4 if -ux >= -uy else 5) if ux < 0.0 else (6 if -uy >= ux else 7)
    k1 = (k + 1) % 8
    ax, ay = _RAYS[k]
    bx, by = _RAYS[k1]
    a = (ux * by - uy * bx) / _R            # u = a u_k + b u_k1 (cross products)
    b = (ax * uy - ay * ux) / _R
    a, b = max(a, 0.0), max(b, 0.0)
    v = a * phi[c, k] + b * phi[c, k1] + (a + b - 1.0) * gmin[c] - (ux * qi[0] + uy * qi[1])
    return v - 1e-12 * (1.0 + abs(v))       # below the true bound by more than rounding


@njit(cache=True, nogil=True)
def _envelope_bound(qi, bmin, bmax, beta, alpha, c, p):
    """The envelope's lower bound of cell c's reduced costs: ``_linear_bound`` (p = 2
    Euclidean) or ``_ray_bound`` (2-D W_1); see ``geometry.cells.linear_envelope``."""
    if p == 2.0:
        return _linear_bound(qi, bmin, bmax, beta, alpha, c)
    return _ray_bound(qi, bmin, bmax, beta, alpha, c)


@njit(cache=True, nogil=True)
def _add(s, gap, metric):
    """One coordinate's contribution: squared (euclidean), summed, or the max."""
    if metric == 0:
        return s + gap * gap
    if metric == 1:
        return s + gap
    return max(s, gap)


@njit(cache=True, nogil=True)
def _dist(a, b, metric):
    s = 0.0
    for t in range(a.shape[0]):
        s = _add(s, abs(a[t] - b[t]), metric)
    return s            # squared for the euclidean metric


@njit(cache=True, nogil=True)
def _box(a, bmin, bmax, c, metric):
    """``_dist`` from ``a`` to the nearest point of cell ``c``'s box."""
    s = 0.0
    for t in range(a.shape[0]):
        v = a[t]
        gap = bmin[c, t] - v if v < bmin[c, t] else (v - bmax[c, t] if v > bmax[c, t] else 0.0)
        s = _add(s, gap, metric)
    return s


@njit(cache=True, nogil=True)
def _power(s, metric, p):
    """``metric ** p`` from ``_dist``/``_box``'s value (squared if euclidean)."""
    if metric == 0:
        if p == 2.0:
            return s
        s = np.sqrt(s)
    if p == 1.0:
        return s
    return s ** p


@njit(cache=True, nogil=True)
def _largest_leaf(lo, hi, c_lo):
    out = 0
    for c in range(lo.shape[0]):
        if c_lo[c] < 0:
            out = max(out, hi[c] - lo[c])
    return out


@njit(cache=True, nogil=True)
def _leaf(qi, yT, g, a, b, metric, p, buf):
    """``buf[:b - a] = c(q_i, y_j) - g_j`` for a leaf's points j in [a, b), with the
    coordinates of the points by rows (``yT``, d x m): one pass per coordinate over
    contiguous memory, which the compiler vectorises (1.6x faster a c-transform than
    point by point, measured on 10^4 2-D points, p = 1)."""
    n = b - a
    for j in range(n):
        buf[j] = 0.0
    for t in range(yT.shape[0]):
        qt, row = qi[t], yT[t]
        if metric == 0:
            for j in range(n):
                dd = qt - row[a + j]
                buf[j] += dd * dd
        elif metric == 1:
            for j in range(n):
                buf[j] += abs(qt - row[a + j])
        else:
            for j in range(n):
                buf[j] = max(buf[j], abs(qt - row[a + j]))
    if metric == 0 and p == 1.0:
        for j in range(n):
            buf[j] = np.sqrt(buf[j]) - g[a + j]
    elif p == 1.0 or (metric == 0 and p == 2.0):
        for j in range(n):
            buf[j] -= g[a + j]
    else:
        for j in range(n):
            buf[j] = _power(buf[j], metric, p) - g[a + j]


@njit(cache=True, nogil=True)
def _children(qi, c, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, metric, p, best, stack,
              lbs, top):
    """Push cell ``c``'s children whose lower bound (box distance less the largest
    ``g``; with ``beta``, the linear envelope's too) is below ``best``, sorted so that
    the most promising is popped first; returns the new top of the stack."""
    linear = beta.shape[0] > 0
    start = top
    for k in range(c_lo[c], c_hi[c]):
        b = _power(_box(qi, bmin, bmax, k, metric), metric, p) - gmax[k]
        if b >= best:
            continue
        if linear:          # the dearer bound only where the box's does not prune
            b = max(b, _envelope_bound(qi, bmin, bmax, beta, alpha, k, p))
            if b >= best:
                continue
        pos = top
        while pos > start and lbs[pos - 1] < b:
            stack[pos], lbs[pos] = stack[pos - 1], lbs[pos - 1]
            pos -= 1
        stack[pos], lbs[pos] = k, b
        top += 1
    return top


@njit(cache=True, nogil=True)
def ctransform(q, yT, lo, hi, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, g, metric, p, i0,
               i1, out, arg, visits):
    """``out[i] = min_j c(q_i, y_j) - g_j`` and ``arg[i]`` its j, for i in [i0, i1)
    (with ``beta``, p = 2 Euclidean: the linear envelope's bound too, see ``_walk``);
    with a non-empty ``visits`` (rows x 2), ``visits[i]`` counts the pairs evaluated
    for row i and the cells whose bound it computed."""
    count = visits.shape[0] > 0
    nc = lo.shape[0]
    stack = np.empty(64 * nc if nc < 64 else 4096, np.int64)
    lbs = np.empty(stack.shape[0])
    buf = np.empty(_largest_leaf(lo, hi, c_lo))
    for i in range(i0, i1):
        qi = q[i]
        best, besti = np.inf, -1
        stack[0], lbs[0] = 0, -np.inf
        top = 1
        while top > 0:
            top -= 1
            c, lb = stack[top], lbs[top]
            if lb >= best:
                continue
            if c_lo[c] < 0:
                _leaf(qi, yT, g, lo[c], hi[c], metric, p, buf)
                for j in range(hi[c] - lo[c]):
                    if buf[j] < best:
                        best, besti = buf[j], lo[c] + j
                if count:
                    visits[i, 0] += hi[c] - lo[c]
                continue
            if count:
                visits[i, 1] += c_hi[c] - c_lo[c]
            top = _children(qi, c, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, metric, p,
                            best, stack, lbs, top)
        out[i] = best
        arg[i] = besti


@njit(cache=True, nogil=True)
def below_k(q, yT, lo, hi, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, g, limit, metric, p,
            i0, i1, val, arg):
    """For i in [i0, i1): the ``k = val.shape[1]`` smallest ``c(q_i, y_j) - g_j``
    below ``limit[i]``, ascending, in ``val[i]`` and their j in ``arg[i]`` (-1 past
    the last found): ``ctransform``'s branch and bound, pruned at the k-th best."""
    k = val.shape[1]
    nc = lo.shape[0]
    stack = np.empty(64 * nc if nc < 64 else 4096, np.int64)
    lbs = np.empty(stack.shape[0])
    buf = np.empty(_largest_leaf(lo, hi, c_lo))
    for i in range(i0, i1):
        qi = q[i]
        for t in range(k):
            val[i, t], arg[i, t] = limit[i], -1
        stack[0], lbs[0] = 0, -np.inf
        top = 1
        while top > 0:
            top -= 1
            c, lb = stack[top], lbs[top]
            if lb >= val[i, k - 1]:
                continue
            if c_lo[c] < 0:
                _leaf(qi, yT, g, lo[c], hi[c], metric, p, buf)
                for j in range(hi[c] - lo[c]):
                    v = buf[j]
                    if v < val[i, k - 1]:
                        pos = k - 1
                        while pos > 0 and val[i, pos - 1] > v:
                            val[i, pos], arg[i, pos] = val[i, pos - 1], arg[i, pos - 1]
                            pos -= 1
                        val[i, pos], arg[i, pos] = v, lo[c] + j
                continue
            top = _children(qi, c, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, metric,
                            p, val[i, k - 1], stack, lbs, top)


@njit(cache=True, nogil=True)
def _walk(q, y, lo, hi, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, f, g, thresh, metric,
          p, i, stack, fill, start, idx, cost):
    """Count (``fill`` False) or write from ``start`` the j kept for query i. With
    ``beta`` (one row per cell: p = 2 Euclidean), the linear envelope's bound too."""
    qi = q[i]
    limit = thresh + f[i]
    top, n_out = 1, 0
    stack[0] = 0
    linear = beta.shape[0] > 0
    while top > 0:
        top -= 1
        c = stack[top]
        if _power(_box(qi, bmin, bmax, c, metric), metric, p) - gmax[c] > limit:
            continue
        if linear and _envelope_bound(qi, bmin, bmax, beta, alpha, c, p) > limit:
            continue
        if c_lo[c] < 0:
            for j in range(lo[c], hi[c]):
                cij = _power(_dist(qi, y[j], metric), metric, p)
                if cij - g[j] <= limit:
                    if fill and start + n_out < idx.shape[0]:
                        idx[start + n_out] = j
                        cost[start + n_out] = cij
                    n_out += 1
            continue
        for k in range(c_lo[c], c_hi[c]):
            stack[top] = k
            top += 1
    return n_out


@njit(cache=True, nogil=True)
def support_rows(q, y, lo, hi, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, f, g, thresh,
                 metric, p, i0, i1, counts):
    """One pass over the queries i0:i1: ``counts[i]`` and the kept ``(idx, cost)`` of
    those rows, in row order (buffers doubled as they fill)."""
    stack = np.empty(lo.shape[0] + 1, np.int64)
    cap = max(1024, 64 * (i1 - i0))
    idx = np.empty(cap, np.int32)        # column indices: m < 2 ** 31 (checked by caller)
    cost = np.empty(cap)
    used = 0
    for i in range(i0, i1):
        k = _walk(q, y, lo, hi, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, f, g, thresh,
                  metric, p, i, stack, True, used, idx, cost)
        if used + k > cap:                 # the row did not fit: grow, walk it again
            while used + k > cap:
                cap *= 2
            idx, cost = _grow(idx, cap), _grow_float(cost, cap)
            _walk(q, y, lo, hi, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, f, g, thresh,
                  metric, p, i, stack, True, used, idx, cost)
        counts[i] = k
        used += k
    return idx[:used].copy(), cost[:used].copy()


@njit(cache=True, nogil=True)
def _grow_float(a, cap):
    out = np.empty(cap)
    out[:a.shape[0]] = a
    return out


@njit(cache=True, nogil=True)
def support_count(q, y, lo, hi, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, f, g, thresh,
                  metric, p, i0, i1, counts):
    stack = np.empty(lo.shape[0] + 1, np.int64)
    dummy_i = np.empty(0, np.int32)
    dummy_c = np.empty(0)
    for i in range(i0, i1):
        counts[i] = _walk(q, y, lo, hi, c_lo, c_hi, bmin, bmax, gmax, beta, alpha, f, g,
                          thresh, metric, p, i, stack, False, 0, dummy_i, dummy_c)


@njit(cache=True, nogil=True)
def kernel_values(indptr, idx, cost, f, g, eps, i0, i1, out):
    """``out = exp((f_i + g_j - c_ij) / eps)`` over the CSR rows i0:i1."""
    inv = 1.0 / eps
    for i in range(i0, i1):
        fi = f[i]
        for k in range(indptr[i], indptr[i + 1]):
            out[k] = np.exp((fi + g[idx[k]] - cost[k]) * inv)


@njit(cache=True, nogil=True)
def matvec(indptr, idx, val, x, i0, i1, out):
    """``out[i] = sum_k val[k] x[idx[k]]`` over the CSR rows i0:i1."""
    for i in range(i0, i1):
        s = 0.0
        for k in range(indptr[i], indptr[i + 1]):
            s += val[k] * x[idx[k]]
        out[i] = s


@njit(cache=True, nogil=True)
def plan_values(indptr, idx, cost, f, g, eps, a, b, i0, i1, out, rows):
    """``out = a_i b_j exp((f_i + g_j - c_ij) / eps)`` over the CSR rows i0:i1, and
    ``rows[i]`` their sums."""
    inv = 1.0 / eps
    for i in range(i0, i1):
        fi, ai, s = f[i], a[i], 0.0
        for k in range(indptr[i], indptr[i + 1]):
            j = idx[k]
            v = ai * b[j] * np.exp((fi + g[j] - cost[k]) * inv)
            out[k] = v
            s += v
        rows[i] = s


@njit(cache=True, nogil=True)
def matvec2(indptr, idx, val, w, cost, i0, i1, out, out_cost):
    """``out[i] = sum_k val[k] w[j]`` and ``out_cost[i] = sum_k val[k] w[j] cost[k]``
    over the CSR rows i0:i1."""
    for i in range(i0, i1):
        s, sc = 0.0, 0.0
        for k in range(indptr[i], indptr[i + 1]):
            v = val[k] * w[idx[k]]
            s += v
            sc += v * cost[k]
        out[i], out_cost[i] = s, sc


@njit(cache=True, nogil=True)
def permute_rows(indptr, idx, val, rowmap, colmap, n_out):
    """The CSR matrix ``(indptr, idx, val)`` with row i moved to ``rowmap[i]`` and
    column j renamed ``colmap[j]``, in ``n_out`` rows (the others empty); the columns
    of a row keep their order."""
    n = indptr.shape[0] - 1
    ptr = np.zeros(n_out + 1, np.int64)
    for i in range(n):
        ptr[rowmap[i] + 1] = indptr[i + 1] - indptr[i]
    for r in range(n_out):
        ptr[r + 1] += ptr[r]
    out_idx = np.empty(idx.shape[0], np.int32)
    out_val = np.empty(idx.shape[0])
    for i in range(n):
        dst = ptr[rowmap[i]]
        for k in range(indptr[i], indptr[i + 1]):
            out_idx[dst] = colmap[idx[k]]
            out_val[dst] = val[k]
            dst += 1
    return ptr, out_idx, out_val


@njit(cache=True, nogil=True)
def matvec_t(indptr, idx, val, x, i0, i1, out):
    """``out[j] = sum_k val[k] x[i]`` over the entries ``k = (i, j)`` of the CSR rows
    i0:i1 (the transposed product, scattered; ``out`` is overwritten)."""
    out[:] = 0.0
    for i in range(i0, i1):
        xi = x[i]
        for k in range(indptr[i], indptr[i + 1]):
            out[idx[k]] += val[k] * xi
