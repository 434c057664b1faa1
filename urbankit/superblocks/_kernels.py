"""Compiled all-or-nothing passes of :mod:`urbankit.superblocks` (numba).

A pass (:class:`~urbankit.superblocks.assign._Pass`) routes OD rows grouped by start node (a task).
Per task: one Dijkstra on the routing graph's CSR arrays (the arc weights of the graph: whole
0.001-min steps plus the hop fraction ``_HOP``, all exact binary fractions, so every distance is
exact and the same as scipy's), stopped once both end copies of every row of the task are settled;
per row the nearer end copy, its distance and the metres along its tree path (summed from the root
down, in settle order). The trips a row carries may depend on the distances of all rows of its task
(gravity normalisation per origin), so a pass runs in batches of tasks: the compiled searches of a
batch keep their trees (predecessor arc and settle order per node), the trips of the batch are
computed by the pass's Python weight callable, then the compiled loading adds each task's trips at
its ends and pushes them to the root in reverse settle order (a node is settled after its tree
parent, so one backward pass sums every subtree) onto the edge of every tree arc.

Ties between equal-cost paths are broken deterministically: the heap orders by (distance, node
number), an arc replaces a node's tree parent only when strictly shorter, and arcs are scanned in
CSR order (by head node; parallel arcs were reduced to the fastest when the graph was built). Among
equal-cost paths through different nodes the choice may differ from scipy's Fibonacci heap (the
former loader); distances, and so steps, do not.

Tasks of a batch are split into a fixed number of chunks (:data:`_CHUNKS`) run in parallel (numba
``prange``), each with its own node buffers and edge-flow buffer; the buffers are summed in chunk
order at the end of the pass, so flows do not depend on the number of threads.
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np

from ..network._heap import heap_dijkstra, search_buffers

#: task chunks per batch (parallel tasks), fixed so that results do not depend on the thread count
_CHUNKS = 8
#: tree cells (one per task and node: predecessor arc and settle order, 4 bytes each) one batch holds
_TREE_CELLS = 4_000_000


@contextlib.contextmanager
def threads(n_jobs: int):
    """numba threads limited to ``n_jobs`` (at most numba's pool size) inside the block."""
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


def batch_size(n_nodes: int) -> int:
    """Tasks per batch for a graph of ``n_nodes`` nodes (independent of the thread count)."""
    return max(_CHUNKS, _TREE_CELLS // max(n_nodes, 1))


@numba.njit(cache=True, parallel=True)
def search_batch(roots, bounds, e1, e2, indptr, head, tail, cost, arc_len, trees, tree_pred, tree_order, n_settled):
    """Searches of a batch of tasks: per row (rows of task ``t``: ``bounds[t]:bounds[t + 1]`` of
    ``e1``/``e2``, its end copies, -1: none) the distance to the nearer end (inf: none), that end
    (-1: none) and, with ``trees``, the metres along its path (NaN without a route). With ``trees``
    each task's predecessor arcs and settle order are kept in row ``t`` of ``tree_pred`` and
    ``tree_order`` (``n_settled[t]`` nodes)."""
    n = len(indptr) - 1
    n_tasks = len(roots)
    n_rows = len(e1)
    out_dist = np.full(n_rows, np.inf)
    out_end = np.full(n_rows, -1, dtype=np.int64)
    out_metres = np.full(n_rows, np.nan)
    chunks = min(_CHUNKS, max(n_tasks, 1))
    for c in numba.prange(chunks):
        dist, pred, done, need, order, touched, hkey, hnode = search_buffers(n, head)
        metres = np.zeros(n)
        for t in range(c * n_tasks // chunks, (c + 1) * n_tasks // chunks):
            r0, r1 = bounds[t], bounds[t + 1]
            remaining = 0
            for r in range(r0, r1):
                for x in (e1[r], e2[r]):
                    if x >= 0 and not need[x]:
                        need[x] = True
                        remaining += 1
            settled, n_touched = heap_dijkstra(
                roots[t], indptr, head, cost, dist, pred, done, need, remaining, order, touched, hkey, hnode
            )
            for r in range(r0, r1):
                d1 = dist[e1[r]] if e1[r] >= 0 else np.inf
                d2 = dist[e2[r]] if e2[r] >= 0 else np.inf
                if d2 < d1:
                    out_dist[r] = d2
                    out_end[r] = e2[r]
                elif d1 < np.inf:
                    out_dist[r] = d1
                    out_end[r] = e1[r]
            if trees:
                # metres from the root down: a node is settled after its tree parent
                for i in range(settled):
                    v = order[i]
                    a = pred[v]
                    metres[v] = 0.0 if a < 0 else metres[tail[a]] + arc_len[a]
                    tree_pred[t, v] = a
                    tree_order[t, i] = v
                n_settled[t] = settled
                for r in range(r0, r1):
                    if out_end[r] >= 0:
                        out_metres[r] = metres[out_end[r]]
            for r in range(r0, r1):
                for x in (e1[r], e2[r]):
                    if x >= 0:
                        need[x] = False
            for i in range(n_touched):
                v = touched[i]
                dist[v] = np.inf
                pred[v] = -1
                done[v] = False
    return out_dist, out_end, out_metres


@numba.njit(cache=True, parallel=True)
def load_batch(bounds, end, weights, tree_pred, tree_order, n_settled, tail, arc_edge, part_flows):
    """Add the trips of a batch's tasks to the edges of their tree paths.

    ``weights`` (k x rows): trips per row of ``k`` loads (e.g. all trips, and those of some rows
    only); row ``c * k + j`` of ``part_flows`` collects load ``j`` of chunk ``c``.
    """
    n = tree_pred.shape[1]
    n_tasks = len(bounds) - 1
    k = weights.shape[0]
    chunks = min(_CHUNKS, max(n_tasks, 1))
    for c in numba.prange(chunks):
        node_flow = np.zeros((k, n))
        for t in range(c * n_tasks // chunks, (c + 1) * n_tasks // chunks):
            any_load = False
            for r in range(bounds[t], bounds[t + 1]):
                x = end[r]
                if x >= 0:
                    for j in range(k):
                        if weights[j, r] != 0.0:
                            node_flow[j, x] += weights[j, r]
                            any_load = True
            if not any_load:
                continue
            for i in range(n_settled[t] - 1, -1, -1):
                v = tree_order[t, i]
                a = tree_pred[t, v]
                for j in range(k):
                    f = node_flow[j, v]
                    if f != 0.0:
                        if a >= 0:
                            node_flow[j, tail[a]] += f
                            ed = arc_edge[a]
                            if ed >= 0:
                                part_flows[c * k + j, ed] += f
                        node_flow[j, v] = 0.0


@numba.njit(cache=True)
def one_tree(root, indptr, head, cost):
    """Distances (inf: unreachable) and predecessor arcs (-1: none) of the whole tree of ``root``."""
    n = len(indptr) - 1
    dist, pred, done, need, order, touched, hkey, hnode = search_buffers(n, head)
    heap_dijkstra(root, indptr, head, cost, dist, pred, done, need, -1, order, touched, hkey, hnode)
    return dist, pred
