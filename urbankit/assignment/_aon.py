"""Compiled all-or-nothing loading: one Dijkstra per origin, loads pushed down its shortest-path tree.

For each origin (OD rows grouped by origin once, in :class:`~urbankit.assignment.ShortestPathLoader`):
Dijkstra with a binary heap (lazy deletion) over CSR arrays, stopped once every destination of the origin is
settled; then that origin's trips are added at their destinations and pushed to the origin in reverse
settle order (a node is settled after its tree parent, so one backward pass over the settled nodes
sums every subtree): no predecessor matrix, no per-level passes.

Ties are broken deterministically: the heap orders by (distance, node number), an arc replaces a
node's tree parent only when strictly shorter, and arcs are scanned in link order, so among
equal-cost parallel links the lowest link number carries the load (as the cheapest-link rule of the
former scipy loader). Between equal-cost paths through different nodes the choice may differ from
scipy's Fibonacci heap; the shortest-path costs do not.

Origins are split into a fixed number of chunks (:data:`_CHUNKS`) run in parallel (numba ``prange``),
each with its own node buffers and link-load buffer, summed in chunk order: the loads do not depend
on the number of threads.
"""

from __future__ import annotations

import numba
import numpy as np

from ..network._heap import heap_dijkstra, search_buffers

#: origin chunks (parallel tasks), fixed so that results do not depend on the thread count
_CHUNKS = 8


@numba.njit(cache=True)
def _one_origin(
    origin,
    dests,
    trips,
    indptr,
    head,
    tail,
    arc_link,
    arc_cost,
    dist,
    pred,
    done,
    need,
    node_flow,
    order,
    touched,
    hkey,
    hnode,
    loads,
):
    """Shortest-path tree of ``origin`` and its trips loaded onto ``loads``; returns the unrouted trips.

    A binary heap of (distance, node) entries with lazy deletion (an improved node is pushed again,
    stale entries are skipped when popped). Node buffers come in clean (``dist`` inf, ``pred`` -1,
    ``done``/``need`` False, ``node_flow`` 0) and are left clean.
    """
    remaining = 0
    for k in range(len(dests)):
        v = dests[k]
        if not need[v]:
            need[v] = True
            remaining += 1
    settled, n_touched = heap_dijkstra(
        origin, indptr, head, arc_cost, dist, pred, done, need, remaining, order, touched, hkey, hnode
    )
    unrouted = 0.0
    for k in range(len(dests)):
        v = dests[k]
        if done[v]:
            node_flow[v] += trips[k]
        else:
            unrouted += trips[k]
        need[v] = False
    # reverse settle order: every node after its tree parent, so its subtree flow is complete
    for i in range(settled - 1, -1, -1):
        v = order[i]
        f = node_flow[v]
        if f != 0.0:
            a = pred[v]
            if a >= 0:
                loads[arc_link[a]] += f
                node_flow[tail[a]] += f
            node_flow[v] = 0.0
    for i in range(n_touched):
        v = touched[i]
        dist[v] = np.inf
        pred[v] = -1
        done[v] = False
    return unrouted


@numba.njit(cache=True, parallel=True)
def load_all_or_nothing(indptr, head, tail, arc_link, arc_cost, origins, row_start, dest, trips, n_links):
    """Link loads of all origins' trips on their shortest paths; returns (loads, unrouted trips).

    ``origins[i]``'s OD rows are ``row_start[i]:row_start[i + 1]`` of ``dest``/``trips``.
    """
    n = len(indptr) - 1
    n_orig = len(origins)
    chunks = min(_CHUNKS, max(n_orig, 1))
    part_loads = np.zeros((chunks, n_links))
    part_unrouted = np.zeros(chunks)
    for c in numba.prange(chunks):
        dist, pred, done, need, order, touched, hkey, hnode = search_buffers(n, head)
        node_flow = np.zeros(n)
        loads = part_loads[c]
        lo = c * n_orig // chunks
        hi = (c + 1) * n_orig // chunks
        un = 0.0
        for i in range(lo, hi):
            r0, r1 = row_start[i], row_start[i + 1]
            un += _one_origin(
                origins[i],
                dest[r0:r1],
                trips[r0:r1],
                indptr,
                head,
                tail,
                arc_link,
                arc_cost,
                dist,
                pred,
                done,
                need,
                node_flow,
                order,
                touched,
                hkey,
                hnode,
                loads,
            )
        part_unrouted[c] = un
    out = np.zeros(n_links)
    unrouted = 0.0
    for c in range(chunks):
        out += part_loads[c]
        unrouted += part_unrouted[c]
    return out, unrouted


@numba.njit(cache=True)
def beckmann_slope(lam, x, d, free_time, alpha, capacity, beta):
    """Derivative of the Beckmann objective along ``d`` at ``x + lam d``: ``sum t(x + lam d) d``.

    Same formula as the BPR cost ``t0 (1 + alpha (v / c) ** beta)``; integer ``beta`` (4, the
    default) by repeated multiplication.
    """
    total = 0.0
    for i in range(len(x)):
        v = x[i] + lam * d[i]
        r = v / capacity[i]
        b = beta[i]
        if b == 4.0:
            r2 = r * r
            p = r2 * r2
        else:
            p = r**b
        total += free_time[i] * (1.0 + alpha[i] * p) * d[i]
    return total
