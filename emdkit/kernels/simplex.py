"""A network simplex for the transport problem on a sparse arc list, which keeps its
basis when arcs are added (``solvers.sparse_simplex`` holds the state and the API).

Nodes: the n sources ``0..n-1``, the m sinks ``n..n+m-1`` and a root ``n+m``; every
source has an artificial arc to the root and the root one to every sink (cost ``art``,
raised by the caller while artificial flow is left at an optimum), so the start is a
strongly feasible spanning tree. Arcs are uncapacitated; the real ones go from a source
to a sink. The tree is kept as parent, predecessor arc and its direction, depth and
child lists (first child, next and previous sibling): a pivot re-hangs the subtree cut
off by the leaving arc by reversing the path from the entering arc's end to it, then
shifts the subtree's potentials by one constant (and sets its depths) in one walk.
The leaving arc is chosen as LEMON's network simplex does (ties on the entering arc's
second side), which keeps the tree strongly feasible; the entering arc by block search.
Reduced cost: ``cost[e] + pi[src[e]] - pi[dst[e]]``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BASIC, LOWER = 0, 1
#: The block search's size is reconsidered every this many pivots (``run``).
ADAPT = 256


@njit(cache=True)
def init(n, m, a, b, art, src, dst, cost, flow, state, parent, pred, up, depth, pi,
         child, nxt, prv):
    """The artificial start: arcs ``0..n+m-1`` to and from the root."""
    root = n + m
    parent[root], pred[root], depth[root], pi[root] = -1, -1, 0, 0.0
    child[:] = -1
    nxt[:] = -1
    prv[:] = -1
    for u in range(n + m):
        e = u
        if u < n:
            src[e], dst[e], flow[e] = u, root, a[u]
            up[u] = True
            pi[u] = -art
        else:
            src[e], dst[e], flow[e] = root, u, b[u - n]
            up[u] = False
            pi[u] = art
        cost[e], state[e] = art, BASIC
        parent[u], pred[u], depth[u] = root, e, 1
        _attach(u, root, child, nxt, prv)


@njit(cache=True)
def _attach(u, p, child, nxt, prv):
    f = child[p]
    nxt[u], prv[u] = f, -1
    if f >= 0:
        prv[f] = u
    child[p] = u


@njit(cache=True)
def _detach(u, p, child, nxt, prv):
    if prv[u] >= 0:
        nxt[prv[u]] = nxt[u]
    else:
        child[p] = nxt[u]
    if nxt[u] >= 0:
        prv[nxt[u]] = prv[u]
    nxt[u], prv[u] = -1, -1


@njit(cache=True)
def potentials(root, cost, src, parent, pred, pi, child, nxt, depth, stack):
    """Every potential again from the tree (root at 0), in one walk from the root."""
    pi[root], depth[root] = 0.0, 0
    top = 0
    stack[top] = root
    top += 1
    while top > 0:
        top -= 1
        u = stack[top]
        c = child[u]
        while c >= 0:
            e = pred[c]
            if src[e] == c:
                pi[c] = pi[u] - cost[e]
            else:
                pi[c] = pi[u] + cost[e]
            depth[c] = depth[u] + 1
            stack[top] = c
            top += 1
            c = nxt[c]


@njit(cache=True)
def run(n_arcs, src, dst, cost, flow, state, parent, pred, up, depth, pi, child, nxt,
        prv, stack, path, eps, max_iter, next_arc, block):
    """Pivot until no arc prices below ``-eps``: ``(code, iterations, next_arc,
    block)``, code 1 optimal, 3 iteration limit, 2 unbounded.

    ``block`` arcs are scanned for the best entering arc (more while none prices
    negative). It adapts to the problem: every ``ADAPT`` pivots it grows when
    re-hanging subtrees costs more than twice the scanning (a better entering arc saves
    pivots) and shrinks when it costs less than half, within ``[10, sqrt(arcs)]``; the
    block reached is returned for the next call."""
    top_block = max(int(np.sqrt(n_arcs)), 10)
    block = min(max(block, 10), top_block)
    it = 0
    scanned, moved = 0, 0
    while it < max_iter:
        # ---- entering arc: block search from where the last search stopped
        best, ein = -eps, -1
        cnt = block
        e = next_arc
        for _ in range(n_arcs):
            if state[e] == LOWER:
                rc = cost[e] + pi[src[e]] - pi[dst[e]]
                if rc < best:
                    best, ein = rc, e
            cnt -= 1
            e += 1
            if e == n_arcs:
                e = 0
            if cnt == 0:
                if ein >= 0:
                    break
                cnt = block
        if ein < 0:
            return 1, it, next_arc, block
        scanned += e - next_arc if e > next_arc else e - next_arc + n_arcs
        next_arc = e
        it += 1
        size = _pivot(ein, src, dst, cost, flow, state, parent, pred, up, depth, pi,
                      child, nxt, prv, stack, path)
        if size < 0:
            return 2, it, next_arc, block
        moved += size
        if it % ADAPT == 0:
            if moved > 2 * scanned:
                block = min(block + block // 2, top_block)
            elif 2 * moved < scanned:
                block = max(block - block // 3, 10)
            scanned, moved = 0, 0
    return 3, it, next_arc, block


@njit(cache=True)
def _pivot(ein, src, dst, cost, flow, state, parent, pred, up, depth, pi, child, nxt, prv,
           stack, path):
    """Arc ``ein`` enters the basis: the flow around its cycle, the leaving arc, the
    tree re-hung. The number of nodes re-hung, or -1 where the cycle has no arc to
    leave (unbounded)."""
    first, second = src[ein], dst[ein]
    # ---- join: the deepest common ancestor
    u, v = first, second
    while u != v:
        if depth[u] > depth[v]:
            u = parent[u]
        elif depth[v] > depth[u]:
            v = parent[v]
        else:
            u, v = parent[u], parent[v]
    join = u
    # ---- leaving arc (LEMON's rule: strictly smaller on the first side)
    delta, uout, side = np.inf, -1, 0
    u = first
    while u != join:
        if up[u] and flow[pred[u]] < delta:
            delta, uout, side = flow[pred[u]], u, 1
        u = parent[u]
    u = second
    while u != join:
        if (not up[u]) and flow[pred[u]] <= delta:
            delta, uout, side = flow[pred[u]], u, 2
        u = parent[u]
    if uout < 0:
        return -1
    # ---- flows around the cycle
    if delta > 0:
        flow[ein] += delta
        u = first
        while u != join:
            if up[u]:
                flow[pred[u]] -= delta
            else:
                flow[pred[u]] += delta
            u = parent[u]
        u = second
        while u != join:
            if up[u]:
                flow[pred[u]] += delta
            else:
                flow[pred[u]] -= delta
            u = parent[u]
    eout = pred[uout]
    flow[eout] = 0.0
    state[eout], state[ein] = LOWER, BASIC
    # ---- re-hang the subtree of uout from the entering arc's end on its side
    u_in, v_in = (first, second) if side == 1 else (second, first)
    k = 0
    u = u_in
    while True:
        path[k] = u
        k += 1
        if u == uout:
            break
        u = parent[u]
    for t in range(k):
        _detach(path[t], parent[path[t]], child, nxt, prv)
    for t in range(k - 1, 0, -1):
        w, w_prev = path[t], path[t - 1]
        pred[w] = pred[w_prev]
        parent[w] = w_prev
        up[w] = src[pred[w]] == w
    parent[u_in], pred[u_in] = v_in, ein
    up[u_in] = src[ein] == u_in
    for t in range(k):
        _attach(path[t], parent[path[t]], child, nxt, prv)
    # ---- potentials (one shift) and depths of the re-hung subtree
    if up[u_in]:
        sigma = pi[v_in] - cost[ein] - pi[u_in]
    else:
        sigma = pi[v_in] + cost[ein] - pi[u_in]
    top, size = 0, 0
    stack[top] = u_in
    top += 1
    while top > 0:
        top -= 1
        w = stack[top]
        size += 1
        pi[w] += sigma
        depth[w] = depth[parent[w]] + 1
        c = child[w]
        while c >= 0:
            stack[top] = c
            top += 1
            c = nxt[c]
    return size

