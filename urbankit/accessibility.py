"""Accessibility: minutes from every street node to every service, and the x-minute city.

Method (exact)
--------------
Destinations are snapped to their nearest network node; the straight-line distance from the
destination to that node is walked (at ``settings.walk_speed_kmh``, whatever the mode: the last
metres to the door are on foot) and added to every trip to it. Travel time from node ``i`` to
destination ``j`` is then ``d(i, node_j) + snap_j``, with ``d`` the shortest travel time on the
network (edge times in minutes on pandana's 0.001-min grid, see
:func:`urbankit.networks.quantize_minutes`, so every sum is exact).

All figures derive from one sparse *reach table*: every (node, destination, minutes) with minutes at
most the largest threshold. It is computed by Dijkstra searches (scipy's compiled Dijkstra) that run
against the edge direction (so drive results honour one-way streets), bounded by the largest
threshold: one search from each node that destinations are snapped to, each destination adding its
own snap minutes to its node's. The searches run in chunks, so memory stays bounded. On networks
wider than three times the straight-line reach of the largest threshold, each chunk searches only
the nodes that can be reached at all: no edge covers more straight-line metres per minute than the
fastest one, so no path within the threshold leaves the square tiles around its source (see
``_SearchGraph``); the table is the same as on the whole network, at a fraction of the work on a
large city. The minutes to the nearest destination of each service come from the same table (they
equal a multi-source Dijkstra with the snap times as initial labels; the tests check this against an
independent Dijkstra).

That is the ``engine="scipy"`` path. With ``engine="pandana"`` the same reach table comes from
pandana's contraction hierarchy and POI queries (:mod:`urbankit.engines`, which explains how snap
minutes, directions and unreached POIs map onto pandana); everything after the table is shared, and
the tests check that both engines give the same figures on every fixture and mode.

Nothing beyond the largest threshold is computed: such minutes are NaN ("not within the largest
threshold"), never a cap value.

Scores
------
For every threshold ``M``: ``n_<service>_<M>min`` counts destinations within M minutes;
``score_<M>min`` is the share of the taxonomy's services with at least one destination within M;
``functions_<M>min`` the number of functions (of the six) with at least one of their services within M.
Gravity-weighted opportunities ``gravity_<service>`` sum ``exp(-ln 2 * t / half_life_min)`` over
destinations within the largest threshold (half of the weight is lost every ``half_life_min``
minutes; default 10).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from . import settings
from ._errors import CRSError, InvalidOptionError, MemoryBudgetError
from .engines import check_engine, reach_table_pandana
from .ingest import memory_budget_bytes
from .networks import TIME_RESOLUTION_MIN, StreetNetwork, quantize_minutes

logger = logging.getLogger(__name__)

DEFAULT_MINUTES = (10, 15, 30)
#: upper bound of the dense block one Dijkstra chunk may allocate (float64 cells)
_CHUNK_CELLS = 2_000_000


def validate_minutes(minutes) -> tuple[float, ...]:
    """Thresholds as a sorted tuple of positive numbers; raise one clear error otherwise.

    >>> validate_minutes([30, 10, 15])
    (10, 15, 30)
    """
    if isinstance(minutes, (int, float, np.integer, np.floating)) and not isinstance(minutes, bool):
        minutes = [minutes]
    if isinstance(minutes, str) or not isinstance(minutes, Iterable):
        raise InvalidOptionError(f"minutes={minutes!r} must be a list of positive numbers, e.g. [10, 15, 30].")
    values = list(minutes)
    bad = [
        m
        for m in values
        if isinstance(m, bool)
        or not isinstance(m, (int, float, np.integer, np.floating))
        or not np.isfinite(m)
        or m <= 0
    ]
    if bad or not values:
        raise InvalidOptionError(
            f"minutes={values!r}: thresholds must be positive, finite numbers of minutes "
            f"(bad: {bad!r}); e.g. minutes=[10, 15, 30]."
        )
    if len(set(values)) != len(values):
        raise InvalidOptionError(f"minutes={values!r} repeats a threshold; give each once.")
    out = tuple(sorted(int(m) if float(m).is_integer() else float(m) for m in values))
    # two thresholds must differ in their column labels and in what they count: travel times are
    # on the 0.001-min grid, so thresholds between the same two grid steps count the same trips
    labels: dict[str, list] = {}
    steps: dict[int, list] = {}
    for m in out:
        labels.setdefault(_label(m), []).append(m)
        steps.setdefault(_grid_step(m), []).append(m)
    clashes = list(dict.fromkeys(tuple(g) for g in (*labels.values(), *steps.values()) if len(g) > 1))
    if clashes:
        names = "; ".join(" and ".join(repr(m) for m in g) for g in clashes)
        raise InvalidOptionError(
            f"minutes={values!r}: the thresholds {names} cannot be told apart (same column label, or the "
            "same step of the 0.001-minute grid of travel times, so they count the same trips); give "
            "thresholds that differ by at least 0.001 minutes, e.g. minutes=[10, 15, 30]."
        )
    return out


_EPS_MIN = 1e-6  # far below the 0.001-min grid, far above float error in sums of grid values


def within(t, m) -> np.ndarray:
    """``t <= m`` for minutes on the 0.001-min grid (``700 * 0.001`` is 0.7000000000000001); NaN is False."""
    return np.asarray(t) <= m + _EPS_MIN


def _label(m) -> str:
    return f"{m:g}".replace(".", "_")


def _grid_step(m) -> int:
    """The last step of the 0.001-min time grid that :func:`within` counts as within ``m``."""
    return int(math.floor((float(m) + _EPS_MIN) / TIME_RESOLUTION_MIN + 1e-9))


# ----------------------------------------------------------------------------- snapping


def snap_destinations(
    net: StreetNetwork, dest: gpd.GeoDataFrame, *, walk_speed_kmh: float | None = None
) -> gpd.GeoDataFrame:
    """Snap destinations to their nearest network node.

    Returns a copy of ``dest`` (in the network's CRS) with ``node_id``, ``snap_m`` (straight-line
    metres to the node) and ``snap_min`` (those metres walked, on the network's time grid).
    """
    if dest.crs is None:
        raise CRSError("destinations have no CRS; set it with .set_crs('EPSG:4326') (OSM data is in degrees).")
    speed = float(walk_speed_kmh or settings.walk_speed_kmh)
    pts = dest.to_crs(net.crs)
    xy = np.column_stack([pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()])
    dist, idx = net.nearest_nodes(xy)
    out = pts.copy()
    out["node_id"] = net.nodes.index.to_numpy()[idx]
    out["snap_m"] = dist
    snap_min = dist / (speed * 1000.0 / 60.0)
    # zero snap stays zero (a destination on a node is 0 minutes from it)
    out["snap_min"] = np.where(dist > 0, quantize_minutes(snap_min), 0.0) if len(xy) else np.empty(0)
    return out


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


def reach_table(
    net: StreetNetwork,
    snapped: gpd.GeoDataFrame,
    max_minutes: float,
    *,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Every (node, destination, minutes) with minutes <= ``max_minutes``.

    One search runs from each node that destinations are snapped to (against the edge direction);
    a destination's minutes are its node's plus its snap minutes. Each search runs on the nodes
    within straight-line reach of its source (the 3 x 3 tiles of side ``max_minutes * m_per_min``
    around it, see :class:`_SearchGraph`), which every path within ``max_minutes`` stays inside, so
    the table equals a search on the whole network; on networks not much wider than that reach the
    searches run on the whole network.

    Parameters
    ----------
    net : StreetNetwork
    snapped : GeoDataFrame
        From :func:`snap_destinations` (``node_id``, ``snap_min``), any index.
    max_minutes : float
        Search bound.

    Returns
    -------
    pandas.DataFrame
        Columns ``node`` (position in ``net.nodes``), ``dest`` (position in ``snapped``),
        ``minutes`` (exact, on the 0.001-min grid).
    """
    from tqdm.auto import tqdm

    graph = _SearchGraph.cached(net)
    n = graph.matrix.shape[0]
    m = len(snapped)
    if m == 0:
        return pd.DataFrame({"node": np.empty(0, np.int32), "dest": np.empty(0, np.int32), "minutes": np.empty(0)})
    node_pos = net.nodes.index.get_indexer(snapped["node_id"].to_numpy())
    offset = snapped["snap_min"].to_numpy(float)
    limit = max_minutes + TIME_RESOLUTION_MIN / 2
    # destinations grouped by node: the searches start at the distinct nodes
    sources, of_dest = np.unique(node_pos, return_inverse=True)
    by_source = np.argsort(of_dest, kind="stable")  # destinations, source by source
    group_size = np.bincount(of_dest, minlength=len(sources))
    group_end = np.cumsum(group_size)
    plan = _search_plan(graph, sources, group_size, limit, _CHUNK_CELLS)
    show = settings.progress if progress is None else progress
    bar = tqdm(plan, desc=f"{net.mode} reach", unit="chunk", disable=not show or len(plan) < 5, leave=False)
    parts_node, parts_dest, parts_min = [], [], []
    local = np.full(n, -1, np.int64)
    budget = memory_budget_bytes()
    found = done = 0
    for chunk, keep in bar:
        if keep is None:
            d = dijkstra(graph.matrix, directed=True, indices=sources[chunk], limit=limit)
        else:
            local[keep] = np.arange(len(keep))
            d = dijkstra(_induced(graph.matrix, keep, local), directed=True, indices=local[sources[chunk]], limit=limit)
            local[keep] = -1
        # one row per destination: its node's minutes plus its own snap minutes
        size = group_size[chunk]
        dest = by_source[_ranges(group_end[chunk] - size, size)]
        t = np.take(d, np.repeat(np.arange(len(chunk)), size), axis=0)
        np.add(t, offset[dest][:, None], out=t)
        flat = np.flatnonzero(np.less_equal(t, limit))
        row, col = np.divmod(flat, t.shape[1])
        parts_node.append((col if keep is None else np.take(keep, col)).astype(np.int32))
        parts_dest.append(np.take(dest, row).astype(np.int32))
        parts_min.append(np.take(t, flat))
        found += len(flat)
        done += len(dest)
        projected = found / done * m * _BYTES_PER_REACH_ROW
        if projected > budget and done < m:
            raise MemoryBudgetError(
                f"the reach table of {m:,} destinations within {max_minutes:g} min on {n:,} nodes would need "
                f"about {_fmt_bytes(projected)} (projected from the first {done:,} destinations), more than "
                f"the {_fmt_bytes(budget)} available; lower the largest threshold, analyse fewer services "
                "or a smaller area, or raise urbankit.settings.memory_limit_gb if the machine has more memory."
            )
    # sums of grid values carry float noise: back onto the grid
    minutes = np.rint(np.concatenate(parts_min) / TIME_RESOLUTION_MIN) * TIME_RESOLUTION_MIN
    return pd.DataFrame({"node": np.concatenate(parts_node), "dest": np.concatenate(parts_dest), "minutes": minutes})


#: peak bytes per row of the reach table over its life: the row (4 + 4 + 8 bytes), its chunk
#: copies while concatenating, and the keys, masks and weights of :func:`node_metrics`
_BYTES_PER_REACH_ROW = 80


def _check_node_table_memory(n_nodes: int, n_services: int, *, k: int, n_minutes: int) -> None:
    """Refuse an analysis whose per-node table alone would not fit (checked before any search)."""
    columns = n_services * (k + n_minutes + 1) + 2 * n_minutes + 1
    # float64 cells, about three copies alive while the table is assembled
    projected = 3.0 * 8.0 * columns * n_nodes
    budget = memory_budget_bytes()
    if projected > budget:
        raise MemoryBudgetError(
            f"the per-node table of {n_nodes:,} nodes x {columns} columns ({n_services} services, k={k}, "
            f"{n_minutes} thresholds) would need about {_fmt_bytes(projected)}, more than the "
            f"{_fmt_bytes(budget)} available; analyse fewer services or thresholds, a smaller area, or raise "
            "urbankit.settings.memory_limit_gb if the machine has more memory."
        )


def _fmt_bytes(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


# ----------------------------------------------------------------------------- metrics


def node_metrics(
    reach: pd.DataFrame,
    *,
    n_nodes: int,
    dest_service: np.ndarray,
    services: list[str],
    functions: dict[str, str],
    minutes: tuple,
    k: int = 1,
    half_life_min: float = 10.0,
) -> pd.DataFrame:
    """Per-node table of minutes, counts, gravity and scores from a reach table (vectorised)."""
    S = len(services)
    code = {s: i for i, s in enumerate(services)}
    svc = np.asarray([code[s] for s in dest_service], dtype=np.int64) if len(dest_service) else np.empty(0, np.int64)
    t = reach["minutes"].to_numpy()
    # one key per (node, service) cell
    key = reach["node"].to_numpy().astype(np.int64) * S
    key += np.take(svc, reach["dest"].to_numpy()) if len(reach) else 0
    cols: dict[str, np.ndarray] = {}
    nearest = np.full(n_nodes * S, np.inf)
    np.minimum.at(nearest, key, t)
    nearest = np.where(np.isinf(nearest), np.nan, nearest).reshape(n_nodes, S)
    for s, i in code.items():
        cols[f"time_{s}_min"] = nearest[:, i]
    if k > 1:
        # 2nd..k-th nearest: sort by (key, minutes), rank inside each key
        order = np.lexsort((t, key))
        ks, ts = key[order], t[order]
        first = np.ones(len(ks), bool)
        first[1:] = ks[1:] != ks[:-1]
        start_of = np.maximum.accumulate(np.where(first, np.arange(len(ks)), 0))
        rank = np.arange(len(ks)) - start_of
        for r in range(1, k):
            sel = rank == r
            grid = np.full(n_nodes * S, np.nan)
            grid[ks[sel]] = ts[sel]
            grid = grid.reshape(n_nodes, S)
            for s, i in code.items():
                cols[f"time_{s}_{r + 1}_min"] = grid[:, i]
    counted = {}
    key_m, t_m = key, t
    for m in sorted(minutes, reverse=True):
        # each threshold's rows are a subset of the next larger one's
        inside = within(t_m, m)
        if not inside.all():
            key_m, t_m = key_m[inside], t_m[inside]
        counted[m] = np.bincount(key_m, minlength=n_nodes * S).reshape(n_nodes, S)
    for m in minutes:
        counts = counted[m]
        for s, i in code.items():
            cols[f"n_{s}_{_label(m)}min"] = counts[:, i]
        reached = counts > 0
        cols[f"score_{_label(m)}min"] = reached.mean(axis=1) if S else np.zeros(n_nodes)
        fun_names = sorted(set(functions.values()))
        fun_hit = np.zeros((n_nodes, len(fun_names)), bool)
        for j, f in enumerate(fun_names):
            idx = [code[s] for s in services if functions[s] == f]
            fun_hit[:, j] = reached[:, idx].any(axis=1)
        cols[f"functions_{_label(m)}min"] = fun_hit.sum(axis=1)
    weight = np.exp(t * (-math.log(2) / half_life_min))
    grav = np.bincount(key, weights=weight, minlength=n_nodes * S).reshape(n_nodes, S)
    for s, i in code.items():
        cols[f"gravity_{s}"] = grav[:, i]
    return pd.DataFrame(cols)


# ----------------------------------------------------------------------------- population statistics


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q) -> np.ndarray:
    """Quantiles of ``values`` over ``weights`` (inverted CDF: the smallest value whose cumulative
    weight reaches the share ``q``)."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    total = cum[-1]
    idx = np.searchsorted(cum, np.atleast_1d(q) * total, side="left")
    return v[np.minimum(idx, len(v) - 1)]


def gini(values: np.ndarray, weights: np.ndarray) -> float:
    """Gini coefficient of ``values`` over ``weights`` (0 = everyone equal).

    Uses the exact weighted formula ``sum_i sum_j w_i w_j |x_i - x_j| / (2 W^2 mean)``, computed in
    O(n log n) by sorting.

    >>> round(gini(np.array([1.0, 1.0, 1.0]), np.ones(3)), 6)
    0.0
    >>> round(gini(np.array([0.0, 0.0, 1.0]), np.ones(3)), 6)
    0.666667
    """
    order = np.argsort(values)
    x, w = values[order].astype(float), weights[order].astype(float)
    W = w.sum()
    mean = (w * x).sum() / W
    if W == 0 or mean == 0:
        return 0.0
    cw = np.cumsum(w) - w  # weight strictly below
    cwx = np.cumsum(w * x) - w * x
    # sum over pairs j<i of w_i w_j (x_i - x_j)
    pair = (w * (x * cw - cwx)).sum()
    return float(2 * pair / (2 * W * W * mean))


def palma(values: np.ndarray, weights: np.ndarray) -> float:
    """Palma ratio of travel minutes: minutes borne by the 10% of residents with the longest trips
    over those of the 40% with the shortest (1 = the worst-off decile carries four times the minutes
    per head of the best-off 40%... i.e. larger is more unequal)."""
    order = np.argsort(values)
    x, w = values[order].astype(float), weights[order].astype(float)
    W = w.sum()
    cum = np.cumsum(w) / W

    def share(lo: float, hi: float) -> float:
        # weight of each item inside the cumulative band (lo, hi]
        left = np.clip(cum - w / W, lo, hi)
        right = np.clip(cum, lo, hi)
        return float(((right - left) * W * x).sum())

    bottom = share(0.0, 0.4)
    top = share(0.9, 1.0)
    return float(top / bottom) if bottom > 0 else float("inf")


# ----------------------------------------------------------------------------- result


@dataclass(repr=False)
class Accessibility:
    """Result of :func:`accessibility`: per-node minutes, counts and scores, with population.

    Built by :func:`accessibility` and :func:`x_minute_city`; the constructor's parameters are the
    dataclass fields, kept as attributes of the same names.

    Parameters
    ----------
    network : StreetNetwork
        The network the minutes were computed on.
    nodes : geopandas.GeoDataFrame
        Index ``node_id``; ``population`` and, per service ``S`` and threshold ``M``:
        ``time_S_min``, ``n_S_<M>min``, ``gravity_S``; per threshold ``score_<M>min`` and
        ``functions_<M>min``. Geometry in the network's CRS.
    pois : geopandas.GeoDataFrame
        The snapped destinations: ``service``, ``function``, ``node_id``, ``snap_m``, ``snap_min``.
    minutes : tuple
        Thresholds.
    services : list of str
        Services of the taxonomy, in order.
    functions : dict
        Service -> function.
    reach : pandas.DataFrame
        The exact reach table every figure derives from.
    params : dict, optional
        The options of the analysis (engine, half-life, ...).
    population_source : str, default "none"
        Where the residents come from (``PopulationEstimate.source``, ``"user"`` or ``"none"``).
    population_description : str, default ""
        The same in one sentence (``PopulationEstimate.description``).
    completeness : geopandas.GeoDataFrame, optional
        :func:`data_completeness` of the area (set by :func:`x_minute_city`).
    input_files : dict, optional
        Input files the result was computed from (what -> path); the writers refuse to overwrite them.
    opportunities_info : dict, optional
        ``attrs`` of :func:`urbankit.opportunities.opportunities` when opportunities were given
        (columns, totals, E2SFCA zones, notes); their per-node columns are in ``nodes``.
    """

    network: StreetNetwork
    nodes: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    minutes: tuple
    services: list[str]
    functions: dict[str, str]
    reach: pd.DataFrame
    params: dict = field(default_factory=dict)
    population_source: str = "none"
    #: where the residents come from, in one sentence (PopulationEstimate.description)
    population_description: str = ""
    completeness: gpd.GeoDataFrame | None = None
    #: input files the result was computed from (what -> path); writers refuse to overwrite them
    input_files: dict = field(default_factory=dict)
    #: ``attrs`` of :func:`urbankit.opportunities.opportunities` when opportunities were given (columns,
    #: totals, E2SFCA zones, notes); their per-node columns are in :attr:`nodes`
    opportunities_info: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        pop = f", {self.population_description}" if self.population_description else ""
        return (
            f"Accessibility(mode={self.network.mode!r}, nodes={len(self.nodes):,}, pois={len(self.pois):,}, "
            f"services={len(self.services)}, minutes={list(self.minutes)}{pop})"
        )

    @property
    def function_names(self) -> list[str]:
        """The functions of the analysed services, sorted by name."""
        return sorted(set(self.functions.values()))

    @property
    def missing_services(self) -> list[str]:
        """Services of the analysis without any destination in the area (their minutes are NaN)."""
        present = set(self.pois["service"]) if len(self.pois) else set()
        return [s for s in self.services if s not in present]

    @property
    def missing_functions(self) -> list[str]:
        """Functions none of whose services has a destination in the area: nobody can reach every
        function, and the share of residents who do is not computable (NaN, not 0 %)."""
        missing = set(self.missing_services)
        return [f for f in self.function_names if all(s in missing for s, g in self.functions.items() if g == f)]

    def _not_computable(self) -> str:
        """Why the all-functions share is not computable ('' when it is)."""
        funcs = self.missing_functions
        if not funcs:
            return ""
        return f"not computable: no destination of {', '.join(funcs)} in the area"

    def _populated(self) -> tuple[pd.DataFrame, np.ndarray]:
        pop = self.nodes["population"].to_numpy(float)
        mask = pop > 0
        return self.nodes[mask], pop[mask]

    def summary(self) -> pd.DataFrame:
        """Share of residents reaching each service, and all functions, within each threshold.

        Counted over populated nodes only. Rows: services, then ``all functions``; columns: one per
        threshold, plus the population-weighted median minutes, and ``note``.

        A service without any destination in the area has NaN shares (not 0 %) and the note
        ``"no destination in the area"``; when a whole function has none, the ``all functions``
        shares are NaN too (nobody can reach every function: not computable), noted as such.
        ``attrs["missing_services"]`` and ``attrs["missing_functions"]`` list them.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``service``: ``function``, ``within_<M>min`` (shares 0..1) per threshold,
            ``median_min`` and ``note``.
        """
        nodes, w = self._populated()
        W = w.sum()
        missing = set(self.missing_services)
        rows = {}
        for s in self.services:
            t = nodes[f"time_{s}_min"].to_numpy()
            absent = s in missing
            row = {
                f"within_{_label(m)}min": float((w * within(t, m)).sum() / W) if W and not absent else np.nan
                for m in self.minutes
            }
            # median over all residents; those beyond the largest threshold count as farther
            med = weighted_quantile(np.nan_to_num(t, nan=np.inf), w, 0.5)[0] if W else np.nan
            row["median_min"] = float(med) if np.isfinite(med) else np.nan
            row["function"] = self.functions[s]
            row["note"] = "no destination in the area" if absent else ""
            rows[s] = row
        all_row = {f"within_{_label(m)}min": self.residents_within(m) for m in self.minutes}
        all_row.update(median_min=np.nan, function="all", note=self._not_computable())
        rows["all functions"] = all_row
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "service"
        out.attrs["missing_services"] = self.missing_services
        out.attrs["missing_functions"] = self.missing_functions
        return out[["function"] + [c for c in out.columns if c not in ("function", "note")] + ["note"]]

    def opportunity_summary(self, *, at_least=None) -> pd.DataFrame:
        """Population-weighted opportunities reached, per opportunity column and threshold.

        "The median resident reaches N jobs within 30 minutes", the share of residents reaching at
        least ``at_least`` (default 10 % of the column's total), the Gini of opportunities reached over
        residents and the median 2SFCA ratio: see :func:`urbankit.opportunities.opportunity_summary`.
        Empty when the analysis had no ``opportunities=``.

        Parameters
        ----------
        at_least : float or dict of str to float, optional
            Opportunities a resident must reach to count (per column when a dict); default 10 % of
            each column's total.

        Returns
        -------
        pandas.DataFrame
            One row per opportunity column and threshold.
        """
        from .opportunities import opportunity_summary

        info = self.opportunities_info
        return opportunity_summary(
            self.nodes, info.get("columns", []), self.minutes, totals=info.get("opportunities"), at_least=at_least
        )

    def residents_within(self, minutes: float) -> float:
        """Share of residents (populated nodes) reaching all functions within ``minutes`` (a threshold).

        NaN when no resident is counted, or when some function has no destination at all in the
        area (see :attr:`missing_functions`): the share is then not computable, rather than 0 %.

        Parameters
        ----------
        minutes : float
            One of the thresholds of the analysis (:attr:`minutes`).

        Returns
        -------
        float
            The population-weighted share, 0..1 (or NaN as above).

        Raises
        ------
        InvalidOptionError
            ``minutes`` is not a threshold of the analysis.
        """
        if minutes not in self.minutes:
            raise InvalidOptionError(f"minutes={minutes!r} is not one of the thresholds {list(self.minutes)}.")
        if self.missing_functions:
            return float("nan")
        nodes, w = self._populated()
        ok = nodes[f"functions_{_label(minutes)}min"].to_numpy() == len(self.function_names)
        return float((w * ok).sum() / w.sum()) if w.sum() else float("nan")

    def inequality(self) -> pd.DataFrame:
        """Inequality of the minutes to each service over the residents.

        Per service: Gini and Palma ratio of minutes over residents (those within the largest
        threshold), the minutes of the worst-off decile of all residents (NaN when that decile is
        beyond the largest threshold), and the share of residents beyond the largest threshold.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``service``: ``gini``, ``palma``, ``worst_decile_min``, ``beyond_max_share``.
        """
        nodes, w = self._populated()
        rows = {}
        for s in self.services:
            t = nodes[f"time_{s}_min"].to_numpy()
            fin = np.isfinite(t)
            if w.sum() == 0:
                rows[s] = dict(gini=np.nan, palma=np.nan, worst_decile_min=np.nan, beyond_max_share=np.nan)
                continue
            beyond = float(w[~fin].sum() / w.sum())
            # the worst-off decile over all residents: NaN when it lies beyond the largest threshold
            worst = weighted_quantile(np.nan_to_num(t, nan=np.inf), w, 0.9)[0]
            if fin.sum() == 0 or w[fin].sum() == 0:
                rows[s] = dict(gini=np.nan, palma=np.nan, worst_decile_min=np.nan, beyond_max_share=beyond)
                continue
            rows[s] = dict(
                gini=gini(t[fin], w[fin]),
                palma=palma(t[fin], w[fin]),
                worst_decile_min=float(worst) if np.isfinite(worst) else np.nan,
                beyond_max_share=beyond,
            )
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "service"
        return out

    def minutes_distribution(self, service: str | None = None, *, step: float = 1.0) -> pd.DataFrame:
        """Cumulative share of residents reaching a service within t minutes, t = 0, step, ... largest threshold.

        Parameters
        ----------
        service : str, optional
            A service of the analysis; default every function (the slowest function's nearest service,
            :meth:`all_functions_minutes`).
        step : float, default 1.0
            Minutes between two rows.

        Returns
        -------
        pandas.DataFrame
            Columns ``minutes`` and ``share_of_residents`` (0..1; NaN without residents).
        """
        nodes, w = self._populated()
        if service is None:
            t = self.all_functions_minutes().reindex(nodes.index).to_numpy()
        else:
            t = nodes[f"time_{service}_min"].to_numpy()
        grid = np.arange(0, max(self.minutes) + step / 2, step)
        share = [(w * within(np.nan_to_num(t, nan=np.inf), g)).sum() / w.sum() if w.sum() else np.nan for g in grid]
        return pd.DataFrame({"minutes": grid, "share_of_residents": share})

    def all_functions_minutes(self) -> pd.Series:
        """Per node: minutes until every function is reached (the slowest function's nearest service).

        Returns
        -------
        pandas.Series
            Named ``all_functions_min``, indexed like :attr:`nodes`; NaN where some function is beyond
            the largest threshold.
        """
        per_f = []
        for f in self.function_names:
            cols = [f"time_{s}_min" for s in self.services if self.functions[s] == f]
            per_f.append(self.nodes[cols].min(axis=1, skipna=True).to_numpy())
        if not per_f:
            return pd.Series(np.nan, index=self.nodes.index)
        stacked = np.column_stack(per_f)
        worst = np.where(np.isnan(stacked).any(axis=1), np.nan, np.nanmax(np.nan_to_num(stacked, nan=-1), axis=1))
        return pd.Series(worst, index=self.nodes.index, name="all_functions_min")

    def within_own_threshold(self, service_minutes: dict[str, float]) -> pd.DataFrame:
        """Per-service thresholds (e.g. grocery 10, hospital 30 minutes): per node, whether each
        service is within its own threshold, and the share of those services reached.

        Thresholds must not exceed the largest threshold of the analysis (nothing beyond it was
        computed).

        Parameters
        ----------
        service_minutes : dict of str to float
            Service -> its own threshold in minutes (positive, at most the largest threshold).

        Returns
        -------
        pandas.DataFrame
            Indexed like :attr:`nodes`: ``ok_<S>`` (bool) per service and ``share_ok``.

        Raises
        ------
        InvalidOptionError
            An unknown service, or a threshold that is not a positive number or exceeds the largest one.
        """
        problems = []
        for s, m in service_minutes.items():
            if s not in self.services:
                problems.append(f"unknown service {s!r}")
            elif isinstance(m, bool) or not isinstance(m, (int, float)) or not m > 0:
                problems.append(f"{s}: {m!r} is not a positive number of minutes")
            elif m > max(self.minutes):
                problems.append(f"{s}: {m} min exceeds the largest threshold {max(self.minutes)} of this analysis")
        if problems:
            raise InvalidOptionError(
                "service_minutes: "
                + "; ".join(problems)
                + f". Services: {self.services}; rerun with larger minutes if needed."
            )
        out = pd.DataFrame(index=self.nodes.index)
        for s, m in service_minutes.items():
            out[f"ok_{s}"] = within(self.nodes[f"time_{s}_min"].to_numpy(), m)
        out["share_ok"] = out.mean(axis=1) if len(service_minutes) else np.nan
        return out

    def what_if(self, *, add: gpd.GeoDataFrame | None = None, remove=None, close_edges=None) -> WhatIf:
        """Before/after of adding or removing destinations, or closing streets.

        Only what changes is recomputed: searches of added destinations; for closed streets, the
        searches of the destinations whose search reached a closed edge (any other search cannot
        have used it, so its result is unchanged).

        Parameters
        ----------
        add : GeoDataFrame, optional
            New destinations (``service`` of this analysis, ``function``, one point per row with a
            CRS; a polygon's ``.representative_point()`` is a point).
        remove : array-like of int or boolean mask, optional
            Positions (rows ``0..len(pois) - 1`` of :attr:`pois`) of destinations to remove.
        close_edges : array-like of int or boolean mask, optional
            Positions (rows ``0..len(network.edges) - 1``) of ``network.edges`` to close (for
            walk/bike both directions of the street).

        Returns
        -------
        WhatIf
            The analysis before (this one) and after the change.

        Raises
        ------
        InvalidOptionError
            A position out of range (negative positions are not counted from the end), not a
            whole number, a mask of the wrong length, or added destinations without a usable
            point, with an unknown service or another function than this analysis gives it. All
            arguments are checked before anything is computed.
        """
        net = self.network
        pois, reach = self.pois, self.reach
        max_m = max(self.minutes)
        keep = np.ones(len(pois), bool)
        if remove is not None:
            keep &= ~_row_mask(remove, len(pois), "remove", "rows of acc.pois")
        closed = None
        if close_edges is not None:
            closed = _row_mask(close_edges, len(net.edges), "close_edges", "rows of network.edges")
        if add is not None:
            add = self._check_additions(add)
        if closed is not None and closed.any():
            new_edges = net.edges[~closed].reset_index(drop=True)
            new_net = StreetNetwork(
                mode=net.mode,
                nodes=net.nodes,
                edges=new_edges,
                crs=net.crs,
                directed=net.directed,
                meta={**net.meta, "key": net.meta.get("key", "") + f"-closed{int(closed.sum())}"},
            )
            # a search (against the edge direction) uses edge u->v only if it reached v
            # (either end for undirected networks)
            e = net.edges[closed]
            ends = e["v"].to_numpy() if net.directed else np.r_[e["u"].to_numpy(), e["v"].to_numpy()]
            touched_nodes = net.nodes.index.get_indexer(ends)
            affected = np.unique(reach["dest"].to_numpy()[np.isin(reach["node"].to_numpy(), touched_nodes)])
            redo = reach_table(new_net, pois.iloc[affected], max_m)
            redo["dest"] = affected[redo["dest"].to_numpy()]
            reach = pd.concat([reach[~np.isin(reach["dest"].to_numpy(), affected)], redo], ignore_index=True)
            net = new_net
            logger.info(
                "closing %d edges: recomputed %d of %d destination searches", closed.sum(), len(affected), len(pois)
            )
        if add is not None and len(add):
            new = snap_destinations(net, add).reset_index(drop=True)
            extra = reach_table(net, new, max_m)
            extra["dest"] += len(pois)
            pois = pd.concat([pois, new], ignore_index=True)
            reach = pd.concat([reach, extra], ignore_index=True)
            keep = np.r_[keep, np.ones(len(new), bool)]
        if not keep.all():
            # renumber the kept destinations
            new_pos = np.cumsum(keep) - 1
            reach = reach[keep[reach["dest"].to_numpy()]].copy()
            reach["dest"] = new_pos[reach["dest"].to_numpy()]
            pois = pois[keep].reset_index(drop=True)
        after = _assemble(
            net,
            gpd.GeoDataFrame(pois, geometry="geometry", crs=self.pois.crs),
            reach.reset_index(drop=True),
            population=self.nodes["population"].to_numpy(),
            population_source=self.population_source,
            minutes=self.minutes,
            functions=self.functions,
            params=self.params,
        )
        after.input_files = dict(self.input_files)
        after.population_description = self.population_description
        return WhatIf(before=self, after=after)

    def _check_additions(self, add) -> gpd.GeoDataFrame:
        """``add`` of :meth:`what_if` checked: a GeoDataFrame of points with a CRS, services of this
        analysis with their functions; geometry column named ``geometry``."""
        if not isinstance(add, gpd.GeoDataFrame):
            raise InvalidOptionError(
                f"add must be a GeoDataFrame of destinations (service, function, point geometry), not "
                f"{type(add).__name__}; e.g. geopandas.GeoDataFrame({{'service': [...], 'function': [...]}}, "
                "geometry=geopandas.points_from_xy(lon, lat), crs='EPSG:4326')."
            )
        if len(add) == 0:
            return add
        for col in ("service", "function"):
            if col not in add.columns:
                raise InvalidOptionError(
                    f"added destinations lack the column {col!r}; give service and function per row."
                )
        if add.crs is None:
            raise CRSError("added destinations have no CRS; set it with .set_crs('EPSG:4326') (lon/lat in degrees).")
        problems = []
        geom = add.geometry.values
        missing = geom.isna() | shapely.is_empty(geom)
        if missing.any():
            problems.append(f"row positions {_positions_text(missing)} have no geometry or an empty one")
        not_point = ~missing & (shapely.get_type_id(geom) != 0)
        if not_point.any():
            names = ", ".join(sorted({g.geom_type for g in geom[not_point]}))
            problems.append(
                f"row positions {_positions_text(not_point)} are {names}, not points: give one point per "
                "destination, e.g. add.geometry.representative_point()"
            )
        point = ~missing & ~not_point
        xy = shapely.get_coordinates(geom[point]) if point.any() else np.empty((0, 2))
        bad_xy = np.zeros(len(add), bool)
        bad_xy[np.flatnonzero(point)] = ~np.isfinite(xy).all(axis=1)
        if bad_xy.any():
            problems.append(f"row positions {_positions_text(bad_xy)} have NaN or infinite coordinates")
        service = add["service"]
        no_service = service.isna().to_numpy()
        if no_service.any():
            problems.append(f"row positions {_positions_text(no_service)} have no service")
        unknown = sorted({str(v) for v in service[~no_service] if v not in self.functions})
        if unknown:
            problems.append(f"services {unknown} are not in this analysis (services: {self.services})")
        wrong = sorted(
            {(s, f) for s, f in zip(service, add["function"]) if s in self.functions and f != self.functions[s]},
            key=str,
        )
        if wrong:
            problems.append(
                "; ".join(
                    f"service {s!r} has function {f!r}, which is {self.functions[s]!r} in this analysis"
                    for s, f in wrong
                )
            )
        if problems:
            raise InvalidOptionError("add: " + "; ".join(problems) + ". Fix these destinations and call what_if again.")
        if add.geometry.name != "geometry":
            add = add.drop(columns="geometry", errors="ignore").rename_geometry("geometry")
        return add

    def save(self, folder=".", *, hex_resolution: int | None = 9):
        """Write ``accessibility.gpkg`` (see :meth:`to_gpkg`) and ``summary.csv`` into ``folder``.

        Parameters
        ----------
        folder : str or pathlib.Path, default "."
            Created when missing; refused when a file written there would overwrite an input file.
        hex_resolution : int or None, default 9
            H3 resolution of the ``hex`` layer; None writes no ``hex`` layer.

        Returns
        -------
        pathlib.Path
            The GeoPackage path.
        """
        from pathlib import Path

        from .outputs import input_files, refuse_overwriting_inputs

        folder = Path(folder)
        refuse_overwriting_inputs(folder / "summary.csv", input_files(self), option="folder")
        refuse_overwriting_inputs(folder / "accessibility.gpkg", input_files(self), option="folder")
        folder.mkdir(parents=True, exist_ok=True)
        out = folder / "accessibility.gpkg"
        self.to_gpkg(out, hex_resolution=hex_resolution)
        self.summary().to_csv(folder / "summary.csv")
        return out

    def to_gpkg(self, path, *, hex_resolution: int | None = 9):
        """Write layers ``nodes``, ``edges``, ``pois`` (and ``hex``) to a GeoPackage, atomically.

        Parameters
        ----------
        path : str or pathlib.Path
            The GeoPackage to write (replaced when it exists, unless it is an input file).
        hex_resolution : int or None, default 9
            H3 resolution of the ``hex`` layer; None writes no ``hex`` layer.

        Returns
        -------
        pathlib.Path
            The path written.
        """
        from .outputs import write_accessibility_gpkg

        return write_accessibility_gpkg(self, path, hex_resolution=hex_resolution)

    def hex(self, resolution: int = 9) -> gpd.GeoDataFrame:
        """Aggregate to H3 cells: population and population-weighted minutes per service.

        Parameters
        ----------
        resolution : int, default 9
            H3 resolution.

        Returns
        -------
        geopandas.GeoDataFrame
            One row per H3 cell holding nodes (see :func:`urbankit.zones.to_hex`), EPSG:4326.
        """
        from .zones import to_hex

        return to_hex(self, resolution)

    def zones(self, zones: gpd.GeoDataFrame, *, name: str | None = None) -> gpd.GeoDataFrame:
        """Aggregate to user zones (polygons): population and population-weighted minutes per service.

        Parameters
        ----------
        zones : geopandas.GeoDataFrame
            Polygons with a CRS.
        name : str, optional
            Column of ``zones`` naming them (see :func:`urbankit.zones.to_zones`).

        Returns
        -------
        geopandas.GeoDataFrame
            One row per zone (see :func:`urbankit.zones.to_zones`).
        """
        from .zones import to_zones

        return to_zones(self, zones, name=name)

    def explore(self, column: str | None = None, **kwargs):
        """Folium map of a node column (default: the largest-threshold score).

        Parameters
        ----------
        column : str, optional
            A column of :attr:`nodes`; default the score of the largest threshold.
        **kwargs
            Options of :func:`urbankit.maps.accessibility_map`: ``tiles`` (None for no base map),
            ``hex_resolution`` (aggregate to H3 cells), ``show_pois``, ``radius``.

        Returns
        -------
        folium.Map
            The map.
        """
        from .maps import accessibility_map

        return accessibility_map(self, column=column, **kwargs)


def accessibility(
    network: StreetNetwork,
    destinations: gpd.GeoDataFrame,
    *,
    minutes=DEFAULT_MINUTES,
    population=None,
    k: int = 1,
    half_life_min: float = 10.0,
    services: list[str] | None = None,
    taxonomy=None,
    progress: bool | None = None,
    engine: str | None = None,
) -> Accessibility:
    """Minutes from every node to each service, counts within thresholds, scores and population.

    Parameters
    ----------
    network : StreetNetwork
        From :func:`urbankit.build_network`.
    destinations : GeoDataFrame
        From :func:`urbankit.destinations` (``service``, ``function``, point geometry with a CRS).
    minutes : sequence of float, default (10, 15, 30)
        Thresholds in minutes; the largest bounds every search.
    population : PopulationEstimate or pandas.Series, optional
        Residents per node; default none (population-weighted figures are then NaN).
    k : int, default 1
        Also give the minutes to the 2nd..k-th nearest destination of each service.
    half_life_min : float, default 10
        Decay of the gravity-weighted opportunities.
    services : list of str, optional
        Services to analyse (default: every service of the taxonomy, including those without any
        destination in the area: their minutes are NaN and they count as unreached in scores).
    taxonomy : Taxonomy, optional
        Default: the one stored with ``destinations``, else the packaged default.
    progress : bool, optional
        Show a progress bar (default ``settings.progress``; scipy engine only).
    engine : {"scipy", "pandana"}, optional
        What computes the minutes: scipy's Dijkstra or pandana's contraction hierarchy
        (:mod:`urbankit.engines`); both give the same figures. Default
        :data:`urbankit.engines.DEFAULT_ENGINE`, the faster one in ``make bench``.

    Returns
    -------
    Accessibility
    """
    from .destinations import load_taxonomy

    mins = validate_minutes(minutes)
    engine = check_engine(engine)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidOptionError(f"k={k!r} must be a whole number >= 1 (nearest destinations to report per service).")
    if isinstance(half_life_min, bool) or not isinstance(half_life_min, (int, float)) or not half_life_min > 0:
        raise InvalidOptionError(f"half_life_min={half_life_min!r} must be a positive number of minutes.")
    for col in ("service", "function"):
        if col not in destinations.columns:
            raise InvalidOptionError(
                f"destinations lack the column {col!r}; build them with urbankit.destinations(extract)."
            )
    if taxonomy is None and destinations.attrs.get("taxonomy"):
        taxonomy = load_taxonomy(destinations.attrs["taxonomy"])
    tax = load_taxonomy(taxonomy) if not hasattr(taxonomy, "services") else taxonomy
    all_services = {s: tax.function_of(s) for s in tax.service_names()}
    # destinations of services outside the taxonomy keep their own function
    for s, f in destinations[["service", "function"]].drop_duplicates().itertuples(index=False):
        all_services.setdefault(s, f)
    if services is not None:
        unknown = [s for s in services if s not in all_services]
        if unknown:
            raise InvalidOptionError(f"services {unknown} are not in the taxonomy; choose from {sorted(all_services)}.")
        all_services = {s: all_services[s] for s in services}
    svc_list = list(all_services)
    dest = destinations[destinations["service"].isin(svc_list)]
    snapped = snap_destinations(network, dest).reset_index(drop=True)
    _check_node_table_memory(len(network.nodes), len(svc_list), k=k, n_minutes=len(mins))
    if engine == "pandana":
        reach = reach_table_pandana(network, snapped, max(mins), groups=snapped["service"].to_numpy())
    else:
        reach = reach_table(network, snapped, max(mins), progress=progress)
    pop, pop_source = _population_series(population, network)
    acc = _assemble(
        network,
        snapped,
        reach,
        population=pop,
        population_source=pop_source,
        minutes=mins,
        functions=all_services,
        params={"k": k, "half_life_min": half_life_min, "engine": engine},
    )
    acc.population_description = getattr(population, "description", "")
    return acc


def _assemble(network, pois, reach, *, population, population_source, minutes, functions, params) -> Accessibility:
    services = list(functions)
    table = node_metrics(
        reach,
        n_nodes=len(network.nodes),
        dest_service=pois["service"].to_numpy(),
        services=services,
        functions=functions,
        minutes=minutes,
        k=params["k"],
        half_life_min=params["half_life_min"],
    )
    table.index = network.nodes.index
    nodes = gpd.GeoDataFrame(
        pd.concat([pd.DataFrame({"population": population}, index=network.nodes.index), table], axis=1),
        geometry=network.nodes.geometry,
        crs=network.crs,
    )
    return Accessibility(
        network=network,
        nodes=nodes,
        pois=pois,
        minutes=minutes,
        services=services,
        functions=dict(functions),
        reach=reach,
        params=dict(params),
        population_source=population_source,
    )


def _population_series(population, network: StreetNetwork) -> tuple[np.ndarray, str]:
    if population is None:
        return np.zeros(len(network.nodes)), "none"
    per_node = getattr(population, "per_node", population)
    source = getattr(population, "source", "user")
    if not isinstance(per_node, pd.Series):
        raise InvalidOptionError("population must be a PopulationEstimate or a Series indexed by node_id.")
    aligned = per_node.reindex(network.nodes.index)
    missing = aligned.isna().sum()
    if missing == len(aligned):
        raise InvalidOptionError(
            "population shares no node_id with the network; compute it on this network's nodes "
            "(urbankit.population_per_node(network.nodes, ...))."
        )
    return aligned.fillna(0.0).to_numpy(float), source


def _positions_text(mask: np.ndarray, n: int = 5) -> str:
    pos = np.flatnonzero(mask)
    return ", ".join(map(str, pos[:n].tolist())) + (", ..." if len(pos) > n else "")


def _row_mask(value, n: int, name: str, what: str) -> np.ndarray:
    """A boolean mask of ``n`` rows from a mask or from row positions ``0..n-1`` (the ``remove`` and
    ``close_edges`` arguments of :meth:`Accessibility.what_if`); one clear error otherwise."""
    if isinstance(value, (str, bytes)) or np.isscalar(value) and not isinstance(value, (int, np.integer)):
        raise InvalidOptionError(
            f"{name}={value!r} must be a list of {what} (whole numbers 0..{n - 1}) or a boolean mask."
        )
    arr = np.atleast_1d(np.asarray(value, dtype=object if isinstance(value, (list, tuple)) else None))
    if arr.ndim != 1:
        raise InvalidOptionError(f"{name} must be one-dimensional: a list of {what} or a boolean mask of {n} entries.")
    if len(arr) == 0:
        return np.zeros(n, bool)
    if arr.dtype == object:
        # a Python list: every item a bool, or every item a whole number (not a float id such as 3.0)
        if all(isinstance(v, (bool, np.bool_)) for v in arr):
            arr = arr.astype(bool)
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in arr):
            arr = arr.astype(np.int64)
    if arr.dtype == bool:
        if len(arr) != n:
            raise InvalidOptionError(
                f"{name} is a boolean mask of {len(arr)} entries, but there are {n} {what}; give one entry per row."
            )
        return arr.copy()
    if not np.issubdtype(arr.dtype, np.integer):
        odd = [v for v in arr.tolist() if isinstance(v, bool) or not isinstance(v, (int, np.integer))][:5]
        raise InvalidOptionError(
            f"{name} holds {odd!r}, which are not positions: give whole-number {what} (0..{n - 1}), e.g. "
            "numpy.flatnonzero(condition), or a boolean mask; float ids, NaN and labels are not accepted."
        )
    bad = arr[(arr < 0) | (arr >= n)]
    if len(bad):
        raise InvalidOptionError(
            f"{name} names {what} {bad[:5].tolist()} that do not exist: positions run from 0 to {n - 1} "
            "(negative positions are not counted from the end)."
        )
    mask = np.zeros(n, bool)
    mask[arr] = True
    return mask


@dataclass(repr=False)
class WhatIf:
    """Before and after of a scenario (from :meth:`Accessibility.what_if`).

    Parameters
    ----------
    before, after : Accessibility
        The analysis before and after the change (same nodes, thresholds and services).
    """

    before: Accessibility
    after: Accessibility

    def __repr__(self) -> str:
        return (
            f"WhatIf(pois {len(self.before.pois):,} -> {len(self.after.pois):,}, "
            f"edges {len(self.before.network.edges):,} -> {len(self.after.network.edges):,})"
        )

    def diff(self) -> gpd.GeoDataFrame:
        """Per node: after minus before for every time, count and score column.

        Returns
        -------
        geopandas.GeoDataFrame
            Indexed like the nodes: ``population``, ``d_<column>`` per time, count and score column
            (NaN where either side is NaN) and ``reached_<S>`` per service (+1: newly within the
            largest threshold, -1: no longer).
        """
        b, a = self.before.nodes, self.after.nodes
        cols = [c for c in b.columns if c.startswith(("time_", "n_", "score_", "functions_"))]
        data = {"population": b["population"].to_numpy()}
        for c in cols:
            data[f"d_{c}"] = a[c].to_numpy() - b[c].to_numpy()
        for s in self.before.services:
            col = f"time_{s}_min"
            reached_after, reached_before = np.isfinite(a[col].to_numpy()), np.isfinite(b[col].to_numpy())
            data[f"reached_{s}"] = reached_after.astype(int) - reached_before.astype(int)
        return gpd.GeoDataFrame(pd.DataFrame(data, index=b.index), geometry=b.geometry, crs=b.crs)

    def summary(self) -> pd.DataFrame:
        """Population-weighted shares before and after, side by side, with the change.

        Returns
        -------
        pandas.DataFrame
            The ``within_<M>min`` columns of :meth:`Accessibility.summary` under ``before``,
            ``after`` and ``change`` (after minus before).
        """
        b, a = self.before.summary(), self.after.summary()
        share_cols = [c for c in b.columns if c.startswith("within_")]
        parts = {"before": b[share_cols], "after": a[share_cols], "change": a[share_cols] - b[share_cols]}
        out = pd.concat(parts, axis=1)
        return out

    def hex(self, resolution: int = 9) -> gpd.GeoDataFrame:
        """H3 cells before and after (population-weighted minutes), with the change.

        Parameters
        ----------
        resolution : int, default 9
            H3 resolution.

        Returns
        -------
        geopandas.GeoDataFrame
            The cells of the before analysis: ``geometry``, ``population`` and ``d_<column>`` (after
            minus before) per time and score column.
        """
        hb, ha = self.before.hex(resolution), self.after.hex(resolution)
        num = [c for c in hb.columns if c.startswith("time_") or c.startswith("score_")]
        out = hb[["geometry"] + [c for c in ("population",) if c in hb.columns]].copy()
        for c in num:
            out[f"d_{c}"] = ha[c].reindex(hb.index).to_numpy() - hb[c].to_numpy()
        return out


def compare_groups(
    extract,
    destinations: gpd.GeoDataFrame,
    *,
    speeds_kmh: dict[str, float],
    mode: str = "walk",
    minutes=DEFAULT_MINUTES,
    population=None,
    **kwargs,
) -> dict[str, Accessibility]:
    """The same analysis for groups who travel at different speeds.

    Every group's network has the same nodes (only travel times differ), so ``population`` (a
    :class:`~urbankit.PopulationEstimate` or Series on those nodes) applies to all of them.

    Parameters
    ----------
    extract : OSMExtract
        The area (:func:`urbankit.load`); one network per group is built from it.
    destinations : geopandas.GeoDataFrame
        From :func:`urbankit.destinations`.
    speeds_kmh : dict of str to float
        Group -> travel speed in km/h, e.g. ``{"adults": 4.8, "older people": 3.0, "children": 3.0}``.
    mode : {"walk", "bike", "drive"}, default "walk"
        The network's mode.
    minutes : sequence of float, default (10, 15, 30)
        Thresholds in minutes.
    population : PopulationEstimate or pandas.Series, optional
        Residents per node (the same for every group).
    **kwargs
        More options of :func:`accessibility` (``k``, ``services``, ``engine``, ...).

    Returns
    -------
    dict of str to Accessibility
        One result per group; :func:`groups_summary` tabulates them.
    """
    from .networks import build_network

    if not speeds_kmh:
        raise InvalidOptionError("speeds_kmh is empty; give e.g. {'adults': 4.8, 'older people': 3.0}.")
    out = {}
    for group, speed in speeds_kmh.items():
        net = build_network(extract, mode, speed_kmh=speed)
        out[group] = accessibility(net, destinations, minutes=minutes, population=population, **kwargs)
    return out


def groups_summary(results: dict[str, Accessibility]) -> pd.DataFrame:
    """Share of residents reaching all functions within each threshold, one row per group."""
    rows = {}
    for group, acc in results.items():
        rows[group] = {f"all_functions_{_label(m)}min": acc.residents_within(m) for m in acc.minutes}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("group")


def data_completeness(
    network: StreetNetwork,
    destinations: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    resolution: int = 8,
    min_pois_per_km: float = 2.0,
    min_buildings_per_km: float = 2.0,
) -> gpd.GeoDataFrame:
    """Flag areas whose OSM data looks too sparse to judge (H3 cells).

    A low score can come from missing OSM data rather than missing services. Per H3 cell (default
    resolution 8, about 0.7 km2): street length, destinations and buildings per km of street, and
    ``flag``: ``"few POIs"`` below ``min_pois_per_km``, ``"few buildings"`` below
    ``min_buildings_per_km`` (only when ``buildings`` are given), ``"ok"`` otherwise. The defaults
    are conservative: a well-mapped city centre has many POIs per km of street (Helsinki centre: 16,
    Monaco: 6 on the walk network; the 2012 Barcelona extract: 1), and even large perimeter blocks
    give several buildings per km (Helsinki centre: 4.6).

    Parameters
    ----------
    network : StreetNetwork
        Its edges give the street length of each cell (a drive network's two directions count once).
    destinations : geopandas.GeoDataFrame
        From :func:`urbankit.destinations`.
    buildings : geopandas.GeoDataFrame, optional
        ``OSMExtract.buildings``; without them no building flag is set.
    resolution : int, default 8
        H3 resolution of the cells, 0..15.
    min_pois_per_km : float, default 2.0
        Destinations per km of street below which a cell is flagged ``"few POIs"``.
    min_buildings_per_km : float, default 2.0
        Buildings per km of street below which a cell is flagged ``"few buildings"``.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by ``h3`` (cells with streets), EPSG:4326 hexagons: ``street_km``, ``pois``,
        ``pois_per_km`` (and ``buildings``, ``buildings_per_km``) and ``flag`` (``"ok"``, ``"few POIs"``,
        ``"few buildings"`` or ``"few POIs and buildings"``).

    Raises
    ------
    InvalidOptionError
        ``resolution`` is not 0..15.
    """
    import h3

    if not 0 <= resolution <= 15:
        raise InvalidOptionError(f"resolution={resolution!r} must be an H3 resolution 0..15.")
    mid = network.edges.geometry.interpolate(0.5, normalized=True).to_crs("EPSG:4326")
    cell_e = np.array([h3.latlng_to_cell(y, x, resolution) for x, y in zip(mid.x, mid.y)], dtype=object)
    street_km = pd.Series(network.edges["length_m"].to_numpy() / 1000.0).groupby(cell_e).sum()
    if network.directed:  # both directions of a two-way street are one street (approximately)
        street_km = street_km / 2.0
    frame = pd.DataFrame({"street_km": street_km})

    def count(gdf):
        if gdf is None or len(gdf) == 0:
            return pd.Series(dtype=float)
        pts = gdf.geometry.representative_point().to_crs("EPSG:4326")
        cells = [h3.latlng_to_cell(y, x, resolution) for x, y in zip(pts.x, pts.y)]
        return pd.Series(1, index=cells).groupby(level=0).sum()

    frame["pois"] = count(destinations).reindex(frame.index).fillna(0)
    frame["pois_per_km"] = frame["pois"] / frame["street_km"]
    flag = np.where(frame["pois_per_km"] < min_pois_per_km, "few POIs", "ok")
    if buildings is not None:
        frame["buildings"] = count(buildings).reindex(frame.index).fillna(0)
        frame["buildings_per_km"] = frame["buildings"] / frame["street_km"]
        few_b = frame["buildings_per_km"] < min_buildings_per_km
        flag = np.where(few_b & (flag == "ok"), "few buildings", np.where(few_b, "few POIs and buildings", flag))
    frame["flag"] = flag
    from .zones import hex_polygons

    geoms = hex_polygons(frame.index)
    frame.index.name = "h3"
    return gpd.GeoDataFrame(frame, geometry=geoms, crs="EPSG:4326")


def x_minute_city(
    source,
    *,
    mode: str = "walk",
    minutes=DEFAULT_MINUTES,
    population=None,
    population_column: str | None = None,
    taxonomy=None,
    services: list[str] | None = None,
    speed_kmh: float | None = None,
    k: int = 1,
    engine: str | None = None,
    population_total: float | None = None,
    opportunities=None,
    opportunity_columns: list[str] | None = None,
) -> Accessibility:
    """The whole x-minute-city analysis of an area in one call (what the report and CLI run).

    Loads ``source`` (see :func:`urbankit.load`), builds the ``mode`` network, finds destinations
    with ``taxonomy``, estimates residents per node (from the ``population`` grid or polygons when
    given, else from OSM buildings, else uniformly; the result's ``population_source`` says which)
    and computes :func:`accessibility` with ``engine`` (``"scipy"`` or ``"pandana"``, see
    :mod:`urbankit.engines`; default the faster one). ``population_total`` (residents) calibrates
    the estimate to a known total (it replaces a boundary's ``population`` tag); the result's
    ``population_description`` says in one sentence where the residents come from.

    With ``opportunities`` (weighted points, polygons, hexagons or a raster: a GeoDataFrame or file,
    see :func:`urbankit.opportunities.opportunities`) the nodes also carry, per opportunity column
    (``opportunity_columns``, default every numeric one), the cumulative opportunities within each
    threshold, the gravity-weighted opportunities and the 2SFCA/E2SFCA ratios with these residents as
    demand; :meth:`Accessibility.opportunity_summary` gives the population-weighted figures.

    Parameters
    ----------
    source
        Anything :func:`urbankit.load` accepts (embedded data set name, OSM/GraphML file, place...).
    mode : {"walk", "bike", "drive"}, default "walk"
        The network's mode.
    minutes : sequence of float, default (10, 15, 30)
        Thresholds in minutes; the largest bounds every search.
    population : str, pathlib.Path or geopandas.GeoDataFrame, optional
        Population grid, polygons, raster or H3 table (``grid`` of
        :func:`urbankit.population_per_node`); default OSM buildings, else uniform.
    population_column : str, optional
        Column of ``population`` holding residents (detected when omitted).
    taxonomy : str, pathlib.Path, dict or Taxonomy, optional
        Destination taxonomy (:func:`urbankit.load_taxonomy`; the packaged one by default).
    services : list of str, optional
        Services to analyse (default every service of the taxonomy).
    speed_kmh : float, optional
        Travel speed in km/h instead of the mode's default (``settings``).
    k : int, default 1
        Also give the minutes to the 2nd..k-th nearest destination of each service.
    engine : {"scipy", "pandana"}, optional
        What computes the minutes (see :func:`accessibility`).
    population_total : float, optional
        Known number of residents the estimate is scaled to.
    opportunities : str, pathlib.Path or geopandas.GeoDataFrame, optional
        Weighted opportunities (jobs, floor area, ...), as described above.
    opportunity_columns : list of str, optional
        Columns of ``opportunities`` to use (default every numeric one); needs ``opportunities``.

    Returns
    -------
    Accessibility
        With ``completeness`` (:func:`data_completeness`), ``population_source``,
        ``population_description`` and ``input_files`` set.

    Examples
    --------
    >>> import urbankit as uk
    >>> uk.settings.progress = False
    >>> acc = uk.x_minute_city("monaco", minutes=[15])
    >>> 0 <= acc.residents_within(15) <= 1
    True
    """
    from .destinations import destinations as find_destinations
    from .destinations import load_taxonomy
    from .ingest import load
    from .networks import build_network
    from .population import population_per_node

    mins = validate_minutes(minutes)
    engine = check_engine(engine)
    extract = load(source)
    tax = load_taxonomy(taxonomy)
    network = build_network(extract, mode, speed_kmh=speed_kmh)
    dest = find_destinations(extract, taxonomy=tax)
    pop = population_per_node(
        network.nodes,
        grid=population,
        column=population_column,
        buildings=extract.buildings if population is None and len(extract.buildings) else None,
        node_population=extract.meta.get("node_population") if population is None else None,
        context=extract,
        total=population_total,
    )
    opp = None
    if opportunities is not None:  # before the minutes: a bad opportunities input fails fast
        from .opportunities import opportunities as opportunities_per_node

        opp = opportunities_per_node(
            network, opportunities, minutes=mins, population=pop, columns=opportunity_columns, engine=engine
        )
    elif opportunity_columns is not None:
        raise InvalidOptionError("opportunity_columns needs opportunities=... (the file or GeoDataFrame they are in).")
    acc = accessibility(
        network, dest, minutes=mins, population=pop, taxonomy=tax, services=services, k=k, engine=engine
    )
    if opp is not None:
        acc.nodes = acc.nodes.join(opp.drop(columns=opp.geometry.name))
        acc.opportunities_info = dict(opp.attrs)
    acc.completeness = data_completeness(network, dest, extract.buildings if len(extract.buildings) else None)
    # absolute now, so a later change of the working folder does not hide them from the writers
    acc.input_files = {
        what: str(Path(v).expanduser().resolve()) if Path(v).expanduser().exists() else v
        for what, v in (
            ("source", source),
            ("population", population),
            ("taxonomy", taxonomy),
            ("opportunities", opportunities),
        )
        if isinstance(v, (str, os.PathLike))
    }
    return acc
