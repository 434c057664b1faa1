"""The compiled single-source Dijkstra of urbankit's loaders (numba): one heap search shared by the
equilibrium loader (:mod:`urbankit.assignment._aon`) and the superblock passes
(:mod:`urbankit.superblocks._kernels`), part of the routing owner (:mod:`urbankit.network`).

Ties are broken deterministically: the heap orders by (distance, node number), an arc replaces a
node's tree parent only when strictly shorter, and arcs are scanned in CSR order.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def search_buffers(n, head):
    """Clean work arrays of :func:`heap_dijkstra` for a graph of ``n`` nodes and arcs ``head``:
    (dist, pred, done, need, order, touched, hkey, hnode); index arrays take ``head``'s dtype."""
    dist = np.full(n, np.inf)
    pred = np.full(n, -1, dtype=head.dtype)
    done = np.zeros(n, dtype=np.bool_)
    need = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=head.dtype)
    touched = np.empty(n, dtype=head.dtype)
    hkey = np.empty(len(head) + 1)
    hnode = np.empty(len(head) + 1, dtype=head.dtype)
    return dist, pred, done, need, order, touched, hkey, hnode


@numba.njit(cache=True)
def heap_dijkstra(root, indptr, head, cost, dist, pred, done, need, remaining, order, touched, hkey, hnode):
    """Dijkstra from ``root`` until ``remaining`` nodes marked in ``need`` are settled (all nodes
    when ``remaining`` < 0); returns (settled count, touched count).

    A binary heap of (distance, node) entries with lazy deletion. ``dist`` inf, ``pred`` -1 and
    ``done`` False come in clean; the caller resets the ``touched`` nodes.
    """
    dist[root] = 0.0
    touched[0] = root
    n_touched = 1
    hkey[0] = 0.0
    hnode[0] = root
    size = 1
    settled = 0
    while size > 0 and remaining != 0:
        key = hkey[0]
        v = hnode[0]
        size -= 1
        if size > 0:  # move the last entry to the root and sift it down
            lk = hkey[size]
            ln = hnode[size]
            i = 0
            while True:
                c = 2 * i + 1
                if c >= size:
                    break
                if c + 1 < size and (hkey[c + 1] < hkey[c] or (hkey[c + 1] == hkey[c] and hnode[c + 1] < hnode[c])):
                    c += 1
                if hkey[c] < lk or (hkey[c] == lk and hnode[c] < ln):
                    hkey[i] = hkey[c]
                    hnode[i] = hnode[c]
                    i = c
                else:
                    break
            hkey[i] = lk
            hnode[i] = ln
        if done[v]:
            continue
        done[v] = True
        order[settled] = v
        settled += 1
        if need[v]:
            remaining -= 1
        for a in range(indptr[v], indptr[v + 1]):
            w = head[a]
            nd = key + cost[a]
            if nd < dist[w]:
                if dist[w] == np.inf:
                    touched[n_touched] = w
                    n_touched += 1
                dist[w] = nd
                pred[w] = a
                i = size  # push (nd, w) and sift it up
                size += 1
                while i > 0:
                    p = (i - 1) >> 1
                    if nd < hkey[p] or (nd == hkey[p] and w < hnode[p]):
                        hkey[i] = hkey[p]
                        hnode[i] = hnode[p]
                        i = p
                    else:
                        break
                hkey[i] = nd
                hnode[i] = w
    return settled, n_touched
