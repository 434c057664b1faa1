"""Routing on street networks: CSR graphs and bounded multi-source Dijkstra searches."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from .street import StreetNetwork

# ----------------------------------------------------------------------------- graph


@dataclass(frozen=True)
class _SearchGraph:
    """CSR adjacency for searches *against* the edge direction, parallel edges reduced to the fastest.

    ``xy`` are the nodes' projected coordinates and ``m_per_min`` the largest straight-line speed of
    any edge (metres between its end nodes per minute of its time): no path of ``t`` minutes ends
    more than ``t * m_per_min`` metres (straight line) from where it started, by the triangle
    inequality. That bound lets :func:`reach_table` search each destination on the part of the
    network within reach only, with the same (exact) answer.
    """

    matrix: csr_matrix
    xy: np.ndarray
    m_per_min: float

    @classmethod
    def cached(cls, net: StreetNetwork) -> _SearchGraph:
        """The search graph of ``net``, built once per network object."""
        graph = net._derived.get("search_graph")
        if graph is None:
            graph = net._derived["search_graph"] = cls.of(net)
        return graph

    @classmethod
    def of(cls, net: StreetNetwork) -> _SearchGraph:
        nodes = net.nodes.index
        e = net.edges
        u = nodes.get_indexer(e["u"].to_numpy())
        v = nodes.get_indexer(e["v"].to_numpy())
        w = e["time_min"].to_numpy()
        if net.directed:
            rows, cols, wts = v, u, w  # reversed: search from destination back to origins
        else:
            rows, cols, wts = np.r_[u, v], np.r_[v, u], np.r_[w, w]
        xy = net.nodes[["x", "y"]].to_numpy(float)
        straight = np.hypot(*(xy[u] - xy[v]).T)
        # built networks have no zero times (networks.quantize_minutes); should one appear, a free
        # edge between two places makes the bound infinite (every search runs on the whole network)
        speed = np.divide(straight, w, out=np.where(straight > 0, np.inf, 0.0), where=w > 0)
        m_per_min = float(speed.max()) if len(w) else 0.0
        return cls(_min_csr(rows, cols, wts, len(nodes)), xy, m_per_min)


def _min_csr(rows, cols, wts, n: int) -> csr_matrix:
    """CSR matrix keeping the smallest weight of duplicate (row, col) pairs (scipy would add them)."""
    order = np.lexsort((wts, cols, rows))
    rows, cols, wts = rows[order], cols[order], wts[order]
    first = np.ones(len(rows), bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return csr_matrix((wts[first], (rows[first], cols[first])), shape=(n, n))


@dataclass
class _Tiles:
    """Nodes bucketed in square tiles of side ``size`` metres (the search radius), row by row.

    The nodes a search of that radius can reach from tile ``(i, j)`` all lie in the 3 x 3 tiles
    around it; in the sorted order each of those three tile rows is one contiguous slice.
    """

    shape: tuple[int, int]  # (rows, columns) of tiles
    of_node: np.ndarray  # tile number (row * columns + column) of each node
    order: np.ndarray  # node positions sorted by tile
    starts: np.ndarray  # starts[t] = first place of tile t in `order` (length tiles + 1)

    @classmethod
    def of(cls, xy: np.ndarray, size: float) -> _Tiles:
        ij = np.floor((xy - xy.min(axis=0)) / size).astype(np.int64)
        shape = (int(ij[:, 1].max()) + 1, int(ij[:, 0].max()) + 1)
        of_node = ij[:, 1] * shape[1] + ij[:, 0]
        order = np.argsort(of_node, kind="stable")
        starts = np.searchsorted(of_node[order], np.arange(shape[0] * shape[1] + 1))
        return cls(shape, of_node, order, starts)

    def around(self, tile: int) -> np.ndarray:
        """Positions of the nodes in the 3 x 3 tiles around ``tile`` (sorted)."""
        rows, cols = self.shape
        r, c = divmod(int(tile), cols)
        c0, c1 = max(c - 1, 0), min(c + 1, cols - 1)
        parts = [
            self.order[self.starts[rr * cols + c0] : self.starts[rr * cols + c1 + 1]]
            for rr in range(max(r - 1, 0), min(r + 1, rows - 1) + 1)
        ]
        return np.sort(np.concatenate(parts))


def _induced(matrix: csr_matrix, keep: np.ndarray, local: np.ndarray) -> csr_matrix:
    """The subgraph of ``matrix`` on the node positions ``keep`` (``local`` maps every position to
    its place in ``keep``, -1 elsewhere)."""
    sub = matrix[keep]
    cols = local[sub.indices]
    inside = cols >= 0
    row = np.repeat(np.arange(len(keep)), np.diff(sub.indptr))
    indptr = np.r_[0, np.cumsum(np.bincount(row[inside], minlength=len(keep)))]
    return csr_matrix((sub.data[inside], cols[inside], indptr), shape=(len(keep), len(keep)))


def _search_plan(graph: _SearchGraph, sources: np.ndarray, rows: np.ndarray, limit: float, chunk_cells: int):
    """Chunks of search sources (places in ``sources``, node positions), each with the node
    positions its searches need (None: all nodes).

    ``rows[i]`` is the number of table rows source ``i`` expands to (its destinations); a chunk
    holds at most ``chunk_cells`` cells of those rows (always at least one source).
    """
    n, m = graph.matrix.shape[0], len(sources)
    radius = limit * graph.m_per_min * (1 + 1e-9) + 1e-6  # float slack on the exact bound
    extent = np.ptp(graph.xy, axis=0) if n else np.zeros(2)
    if not 0 < radius < np.inf or np.any(extent < 3 * radius):
        # a search may reach (nearly) everything: one pass over the whole network, and a small
        # first chunk of sources from all over the area (a seeded shuffle) that measures the reach
        # per destination for the memory guard
        probe = -(-int(rows.sum()) // 20)
        order = np.random.default_rng(0).permutation(m)
        return [(c, None) for c in _chunks(order, rows, n, chunk_cells, first=probe)]
    # tiles at least the radius wide (any wider is as exact), at most about a million of them
    tiles = _Tiles.of(graph.xy, max(radius, float(extent.max()) / 1024))
    source_tile = tiles.of_node[sources]
    by_tile = np.argsort(source_tile, kind="stable")
    cuts = np.flatnonzero(np.diff(source_tile[by_tile])) + 1
    plan = []
    # tiles in a seeded shuffle, so the memory guard's running projection samples the whole area
    groups = np.split(by_tile, cuts)
    for g in np.random.default_rng(0).permutation(len(groups)):
        group = groups[g]
        keep = tiles.around(source_tile[group[0]])
        plan.extend((c, keep) for c in _chunks(group, rows, len(keep), chunk_cells))
    return plan


def _ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The integers of ``range(start, start + size)`` for each pair, one after the other.

    >>> _ranges(np.array([5, 0]), np.array([2, 3])).tolist()
    [5, 6, 0, 1, 2]
    """
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if len(ends) else 0) + np.repeat(starts - (ends - sizes), sizes)


def _chunks(items: np.ndarray, rows: np.ndarray, width: int, cells: int, *, first: int | None = None) -> list:
    """Split ``items`` in order so that each part's ``rows`` x ``width`` stays within ``cells``
    (the first part within ``first`` rows, if given); a part holds at least one item."""
    cum = np.cumsum(rows[items])
    parts, start, used = [], 0, 0
    cap = max(1, cells // max(width, 1))
    limit = min(cap, first) if first else cap
    while start < len(items):
        stop = max(start + 1, int(np.searchsorted(cum, used + limit, side="right")))
        parts.append(items[start:stop])
        used = int(cum[stop - 1])
        start, limit = stop, cap
    return parts
