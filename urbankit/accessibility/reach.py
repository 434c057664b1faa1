"""Reach tables: the exact minutes from every street node to the nearest destinations of each service."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from .. import settings
from .._errors import CRSError, MemoryBudgetError
from .._progress import progress_bar
from ..network.routing import _induced, _ranges, _search_plan, _SearchGraph
from ..network.street import TIME_RESOLUTION_MIN, StreetNetwork, quantize_minutes
from ..osm import memory_budget_bytes

logger = logging.getLogger(__name__)

#: largest reach table kept in the cache (bytes of its arrays); larger tables are recomputed each run
REACH_CACHE_MAX_BYTES = 256 * 2**20

DEFAULT_MINUTES = (10, 15, 30)
#: upper bound of the dense block one Dijkstra chunk may allocate (float64 cells)
_CHUNK_CELLS = 2_000_000

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
    bar = progress_bar(plan, desc=f"{net.mode} reach", unit="chunk", disable=not show or len(plan) < 5, leave=False)
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


# ----------------------------------------------------------------------------- cache


@functools.lru_cache(maxsize=1)
def _reach_code_fingerprint() -> str:
    """Hash of the code a reach table depends on (this module and the routing owner)."""
    h = hashlib.sha256()
    for module_file in (Path(__file__), Path(__file__).resolve().parent.parent / "network" / "routing.py"):
        h.update(Path(module_file).read_bytes())
    return h.hexdigest()[:16]


def _reach_key(net: StreetNetwork, snapped: gpd.GeoDataFrame, max_minutes: float) -> str:
    """Content key of a reach table: the search graph's arrays (not the network's name or key), the
    destinations' nodes and snap minutes, the bound, and the code that computes it."""
    graph = _SearchGraph.cached(net).matrix
    h = hashlib.sha256(_reach_code_fingerprint().encode())
    for a in (graph.indptr, graph.indices, graph.data):
        h.update(str(a.dtype).encode() + len(a).to_bytes(8, "little"))
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(np.ascontiguousarray(net.nodes.index.get_indexer(snapped["node_id"].to_numpy()), np.int64).tobytes())
    h.update(np.ascontiguousarray(snapped["snap_min"].to_numpy(float)).tobytes())
    h.update(repr(float(max_minutes)).encode())
    return h.hexdigest()[:32]


def cached_reach_table(
    net: StreetNetwork,
    snapped: gpd.GeoDataFrame,
    max_minutes: float,
    *,
    progress: bool | None = None,
) -> pd.DataFrame:
    """:func:`reach_table`, kept in the cache folder between runs (``settings.use_cache``).

    The entry's name is a hash of the search graph's own arrays, the destinations' nodes and snap
    minutes, the bound and the code (so a changed network, destination or version never reuses a
    stale table); it is data only (``urbankit._datacache``: arrays and JSON, hash-checked before use,
    written atomically). Tables larger than :data:`REACH_CACHE_MAX_BYTES` are not stored. An
    unreadable entry is ignored (a warning) and the table recomputed; a failed write only warns.
    """
    from .. import _datacache

    if not settings.use_cache or len(snapped) == 0:
        return reach_table(net, snapped, max_minutes, progress=progress)
    path = Path(settings.cache_folder) / "reach" / f"{_reach_key(net, snapped, max_minutes)}.ukreach"
    try:
        value = _datacache.load_entry(path)
        table = value.get("table") if type(value) is dict and value.get("kind") == "ReachTable" else None
        if type(table) is not pd.DataFrame or list(table.columns) != ["node", "dest", "minutes"]:
            raise _datacache.CorruptEntryError("it does not hold a reach table")
        if len(table) and (
            table["node"].min() < 0 or table["node"].max() >= len(net.nodes)
            or table["dest"].min() < 0 or table["dest"].max() >= len(snapped)
        ):
            raise _datacache.CorruptEntryError("its rows point outside this network or these destinations")
        logger.info("loaded the %s reach table (%s rows) from cache %s", net.mode, f"{len(table):,}", path)
        return table
    except FileNotFoundError:
        pass
    except (_datacache.CorruptEntryError, OSError) as exc:
        logger.warning("cache entry %s is unreadable (%s); ignoring it and recomputing the reach table", path, exc)
    table = reach_table(net, snapped, max_minutes, progress=progress)
    size = int(sum(table[c].to_numpy().nbytes for c in table.columns))
    if size <= REACH_CACHE_MAX_BYTES:
        try:
            with contextlib.suppress(OSError):
                _datacache.remove_stale_temporaries(path)
            _datacache.dump_entry(path, {"kind": "ReachTable", "table": table}, background=True)
        except (_datacache.UnstorableError, OSError) as exc:
            logger.warning("reach table not cached (%s); continuing without it", exc)
    return table
