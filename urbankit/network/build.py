"""Building a mode network from an OSM extract: splitting ways at junctions, directions, speeds, components."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .. import settings
from .._errors import InvalidOptionError, NoStreetsError
from ..osm import MemoryGuard, OSMExtract
from .cache import _code_fingerprint, _load_cached, _store_cached
from .modes import (
    _MAX_PLAUSIBLE_KMH,
    _MIN_PLAUSIBLE_KMH,
    MODES,
    NETWORK_MODEL_VERSION,
    Mode,
    _drive_speed_kmh,
    mode_mask,
    oneway_direction,
)
from .street import StreetNetwork, estimate_utm_crs, quantize_minutes

logger = logging.getLogger(__name__)


def build_network(
    extract: OSMExtract,
    mode: Mode = "walk",
    *,
    speed_kmh: float | None = None,
    largest_component: bool = True,
    cache: bool = True,
) -> StreetNetwork:
    """Build the routable network of ``mode`` from an extract.

    Parameters
    ----------
    extract : OSMExtract
        From :func:`urbankit.read_osm`, :func:`urbankit.read_graphml` or an online reader.
    mode : {"walk", "bike", "drive"}
        Travel mode; decides the legal-use filter, direction handling and speeds.
    speed_kmh : float, optional
        Constant speed overriding the default for walk and bike (e.g. 3.0 for older people),
        or, for drive, a constant speed on every street instead of ``maxspeed``.
    largest_component : bool, default True
        Keep only the largest connected component (strongly connected for drive), so every node can
        reach every other; the dropped share is logged and stored in ``meta``.
    cache : bool, default True
        Reuse a network prepared earlier from the same input content and parameters
        (``settings.cache_folder``).

    Returns
    -------
    StreetNetwork

    Raises
    ------
    InvalidOptionError
        Unknown mode or non-positive speed.
    NoStreetsError
        The extract has no street this mode may use.
    MemoryBudgetError
        Splitting the ways into edges would need more memory than ``settings.memory_limit_gb`` (or
        than is available); checked before the tables are allocated.
    """
    if mode not in MODES:
        raise InvalidOptionError(f"mode={mode!r} is not one of {MODES}; pick one of them.")
    if speed_kmh is not None:
        if (
            isinstance(speed_kmh, bool)
            or not isinstance(speed_kmh, (int, float))
            or not np.isfinite(speed_kmh)
            or speed_kmh <= 0
        ):
            raise InvalidOptionError(f"speed_kmh={speed_kmh!r} must be a positive number of km/h, e.g. 4.8.")
    params = {
        "mode": mode,
        "speed_kmh": speed_kmh,
        "largest_component": largest_component,
        "model": NETWORK_MODEL_VERSION,
        "code": _code_fingerprint(),
        "walk": settings.walk_speed_kmh,
        "bike": settings.bike_speed_kmh,
        "drive": settings.drive_speed_kmh if mode == "drive" else None,
        "factor": settings.drive_speed_factor if mode == "drive" else None,
    }
    key = hashlib.sha256((extract.sha256 + json.dumps(params, sort_keys=True)).encode()).hexdigest()[:24]
    if cache:
        cached = _load_cached(key)
        if cached is not None:
            return cached

    ways = extract.ways
    keep = mode_mask(ways, mode)
    if not keep.any():
        raise NoStreetsError(
            f"{Path(extract.source).name!r} has no street that mode={mode!r} may use "
            f"({len(ways)} highway ways in all); choose another mode or a larger extract."
        )
    directed = mode == "drive"
    if mode == "walk":
        speed = np.full(len(ways), float(speed_kmh or settings.walk_speed_kmh))
        speed_desc = f"{speed[0]:g} km/h"
    elif mode == "bike":
        speed = np.full(len(ways), float(speed_kmh or settings.bike_speed_kmh))
        speed_desc = f"{speed[0]:g} km/h"
    else:
        if speed_kmh:
            speed, implausible = np.full(len(ways), float(speed_kmh)), None
        else:
            speed, implausible = _drive_speed_kmh(ways)
        speed_desc = f"{speed_kmh:g} km/h" if speed_kmh else "maxspeed, else highway-class defaults"
    direction = oneway_direction(ways) if directed else np.zeros(len(ways), dtype=np.int8)

    edges, node_xy, crs = _split_ways(extract, keep, guard=_network_guard(extract, mode))
    if len(edges) == 0:
        raise NoStreetsError(
            f"{Path(extract.source).name!r}: the ways usable by mode={mode!r} form no edge; "
            "choose another mode or a larger extract."
        )
    w = edges["way"].to_numpy()
    if mode == "drive" and implausible is not None and implausible[w].any():
        bad = np.unique(w[implausible[w]])
        ids, tags = ways["way_id"].to_numpy()[bad[:3]], ways["maxspeed"].to_numpy()[bad[:3]]
        examples = ", ".join(f"way {i} maxspeed={v!r}" for i, v in zip(ids, tags))
        logger.warning(
            "%s: %d street segments (%d ways) have an implausible maxspeed (outside %g..%g km/h; e.g. %s); "
            "they use the highway-class speed of settings.drive_speed_kmh instead. Fix the tags, or pass speed_kmh=.",
            Path(extract.source).name,
            int(implausible[w].sum()),
            len(bad),
            _MIN_PLAUSIBLE_KMH,
            _MAX_PLAUSIBLE_KMH,
            examples,
        )
    edges["speed_kmh"] = speed[w]
    edges["time_min"] = quantize_minutes(edges["length_m"] / (edges["speed_kmh"] * 1000.0 / 60.0))
    for col in ("way_id", "highway", "name"):
        edges[col] = ways[col].to_numpy()[w]
    dir_e = direction[w]
    edges["oneway"] = dir_e != 0
    if directed:
        fwd = edges[dir_e >= 0]
        back = edges[dir_e <= 0].copy()
        back["u"], back["v"] = back["v"].to_numpy(), back["u"].to_numpy()
        back["geometry"] = shapely.reverse(back["geometry"].to_numpy())
        edges = pd.concat([fwd, back], ignore_index=True)
        # a two-way street drawn there and back (nodes 1, 2, 1) gives each direction once
        same = {"u": edges.u, "v": edges.v, "w": edges["way_id"].astype(str), "l": edges.length_m.round(2)}
        edges = edges[~pd.DataFrame(same).duplicated().to_numpy()]
    else:
        # the same street given twice (e.g. both directions of a GraphML graph) is one walk/bike edge
        a, b = np.minimum(edges.u, edges.v), np.maximum(edges.u, edges.v)
        dup = pd.DataFrame(
            {"a": a, "b": b, "w": edges["way_id"].astype(str), "l": edges.length_m.round(2)}
        ).duplicated()
        edges = edges[~dup.to_numpy()]
    edges = edges.drop(columns="way")

    nodes = node_xy
    meta = {"source": extract.source, "sha256": extract.sha256, "key": key, "params": params, "speed_desc": speed_desc}
    total_len = edges["length_m"].sum()
    n_before = len(nodes)
    if largest_component:
        nodes, edges = _largest_component(nodes, edges, directed=directed)
    if len(edges) == 0:
        raise NoStreetsError(
            f"{Path(extract.source).name!r}: no two places are connected both ways for mode={mode!r} "
            "(e.g. only one-way streets without a way back); choose another mode or a larger extract."
        )
    meta["dropped_node_share"] = 1 - len(nodes) / n_before
    meta["dropped_length_share"] = float(1 - edges["length_m"].sum() / total_len) if total_len else 0.0
    if meta["dropped_node_share"] > 0:
        logger.info(
            "%s %s network: kept the largest %sconnected component, "
            "dropping %.1f%% of nodes and %.1f%% of street length",
            Path(extract.source).name,
            mode,
            "strongly " if directed else "",
            100 * meta["dropped_node_share"],
            100 * meta["dropped_length_share"],
        )
    edges = gpd.GeoDataFrame(
        edges[
            ["u", "v", "way_id", "highway", "name", "oneway", "length_m", "speed_kmh", "time_min", "geometry"]
        ].reset_index(drop=True),
        geometry="geometry",
        crs=crs,
    )
    nodes = gpd.GeoDataFrame(nodes, geometry=gpd.points_from_xy(nodes.x, nodes.y), crs=crs)
    net = StreetNetwork(mode=mode, nodes=nodes, edges=edges, crs=crs, directed=directed, meta=meta)
    if cache:
        _store_cached(net)
    return net


#: peak bytes per way node of the kept ways while they are split into edges (ids, coordinates,
#: flags, the sort of the node ids and its inverse)
_BYTES_PER_SPLIT_NODE = 120
#: peak bytes per edge while the network is assembled: its geometry (plus 16 bytes a vertex, charged
#: apart), its row in the edge and node tables, both travel directions of a drive network
_BYTES_PER_EDGE = 900


def _network_guard(extract: OSMExtract, mode: str) -> MemoryGuard:
    return MemoryGuard(
        f"building the {mode} network of {Path(extract.source).name!r}",
        "use a smaller extract (e.g. `osmium extract --bbox W,S,E,N in.osm.pbf -o out.osm.pbf`)",
    )


def _split_ways(
    extract: OSMExtract, keep: np.ndarray, *, guard: MemoryGuard | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Split the kept ways at shared nodes into edges (vectorised).

    A node ends an edge where it is shared by more than one way position (intersections, loops) or
    ends its way; the edge's geometry keeps every vertex between. A way that runs over the same
    segment again in the same direction (e.g. nodes 1, 2, 1, 2, ...) yields that edge once: the
    repeats are dropped before any geometry is built, so the work and memory of what follows grow
    with the distinct edges, not with the number of node references. Memory is checked against
    ``guard`` (default: the budget of ``urbankit.settings.memory_limit_gb``) before it is allocated.

    Raises
    ------
    MemoryBudgetError
        The kept ways would not fit in the memory budget.
    """
    guard = guard if guard is not None else _network_guard(extract, "street")
    wn = extract.way_nodes
    sel = keep[wn["way"].to_numpy()]
    n = int(np.count_nonzero(sel))
    guard.check(n * _BYTES_PER_SPLIT_NODE, f"{n:,} way nodes to split into edges")
    way = wn["way"].to_numpy()[sel]
    nid = wn["node_id"].to_numpy()[sel]
    lon = wn["lon"].to_numpy()[sel]
    lat = wn["lat"].to_numpy()[sel]
    del sel
    first = np.ones(n, bool)
    first[1:] = way[1:] != way[:-1]
    last = np.ones(n, bool)
    last[:-1] = way[1:] != way[:-1]
    _, inv, counts = np.unique(nid, return_inverse=True, return_counts=True)
    shared = counts[inv] > 1
    del counts
    seg_kept = _first_traversals(way, inv, last, shared)
    del inv
    if np.count_nonzero(seg_kept) < n - np.count_nonzero(last):
        # drop the repeated segments (each one a whole piece: both its nodes are visited twice);
        # a way continues as a new run after each dropped one, with the same split nodes
        kept_before = np.zeros(n, bool)
        kept_before[1:] = seg_kept[:-1]
        pos = np.flatnonzero(seg_kept | kept_before)
        logger.warning(
            "%s: %d node references of street ways repeat a segment their way already ran in the same "
            "direction; each such segment is one edge.",
            Path(extract.source).name,
            n - np.count_nonzero(last) - np.count_nonzero(seg_kept),
        )
        way, nid, lon, lat, shared = way[pos], nid[pos], lon[pos], lat[pos], shared[pos]
        first, last = ~kept_before[pos], ~seg_kept[pos]
        n = len(pos)
        del pos, kept_before
    del seg_kept
    guard.check(n * _BYTES_PER_SPLIT_NODE, f"{n:,} way nodes to split into edges")
    crs = estimate_utm_crs(lon, lat)
    from pyproj import Transformer

    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    x, y = np.asarray(x), np.asarray(y)
    split = first | last | shared
    del first, shared
    start_pos, end_pos = _pieces(split, last)
    # a piece that returns to its own start (a loop hanging at one node) is cut at its middle
    # vertex, so the loop stays routable whichever node the mapper started drawing it at
    # (not for GraphML input, whose nodes are the graph's own: its self-loops stay out, as in osmnx)
    loop = (nid[start_pos] == nid[end_pos]) & (end_pos - start_pos >= 2)
    if loop.any() and not extract.meta.get("from_graph"):
        split[(start_pos[loop] + end_pos[loop]) // 2] = True
        start_pos, end_pos = _pieces(split, last)
    # segment i joins positions i and i+1 of the same way
    seg = np.flatnonzero(~last)
    seg_len = np.hypot(x[seg + 1] - x[seg], y[seg + 1] - y[seg])
    starts = split & ~last
    piece_at = np.cumsum(starts) - 1  # piece id of the segment starting at each position
    seg_piece = piece_at[seg]
    n_pieces = int(starts.sum())
    guard.check(n_pieces * _BYTES_PER_EDGE + len(seg) * 16.0, f"{n_pieces:,} edges")
    length = np.bincount(seg_piece, weights=seg_len, minlength=n_pieces)
    # vertices of each piece: its segments' start positions plus its end position
    vert_pos = np.concatenate([seg, end_pos])
    vert_piece = np.concatenate([seg_piece, np.arange(n_pieces)])
    order = np.lexsort((vert_pos, vert_piece))
    coords = np.column_stack([x[vert_pos[order]], y[vert_pos[order]]])
    geoms = shapely.linestrings(coords, indices=vert_piece[order])
    edges = pd.DataFrame(
        {
            "u": nid[start_pos],
            "v": nid[end_pos],
            "way": way[start_pos],
            "length_m": length,
            "geometry": geoms,
        }
    )
    # drop degenerate edges: closed loops back to their start node and zero-length pieces
    edges = edges[(edges.u != edges.v) & (edges.length_m > 0)].reset_index(drop=True)
    used = np.unique(np.concatenate([edges.u.to_numpy(), edges.v.to_numpy()]))
    srt = np.argsort(nid, kind="stable")
    idx = srt[np.searchsorted(nid[srt], used)]
    node_xy = pd.DataFrame(
        {"x": x[idx], "y": y[idx], "lon": lon[idx], "lat": lat[idx]},
        index=pd.Index(used, name="node_id"),
    )
    return edges, node_xy, crs


def _first_traversals(way: np.ndarray, node: np.ndarray, last: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """Whether each position starts a segment its way has not run before in the same direction.

    Segment ``i`` joins positions ``i`` and ``i + 1`` of one way (``last[i]`` is False); ``node``
    numbers the nodes, ``shared`` tells the nodes visited more than once (only a segment between
    two of them can repeat). False at the last position of each way.
    """
    kept = ~last
    cand = np.flatnonzero(kept[:-1] & shared[:-1] & shared[1:])
    if len(cand) < 2:
        return kept
    a, b, w = node[cand], node[cand + 1], way[cand]
    order = np.lexsort((b, a, w))  # stable: the first traversal leads each group
    a, b, w = a[order], b[order], w[order]
    again = np.zeros(len(cand), bool)
    again[1:] = (a[1:] == a[:-1]) & (b[1:] == b[:-1]) & (w[1:] == w[:-1])
    kept[cand[order[again]]] = False
    return kept


def _pieces(split: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end positions of the pieces between consecutive split positions of each way."""
    start_pos = np.flatnonzero(split & ~last)
    split_pos = np.flatnonzero(split)
    end_pos = split_pos[np.searchsorted(split_pos, start_pos, side="right")]
    return start_pos, end_pos


def _largest_component(nodes: pd.DataFrame, edges: pd.DataFrame, *, directed: bool):
    idx = pd.Index(nodes.index)
    ui = idx.get_indexer(edges.u)
    vi = idx.get_indexer(edges.v)
    n = len(idx)
    graph = coo_matrix((np.ones(len(ui)), (ui, vi)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=directed, connection="strong" if directed else "weak")
    biggest = np.bincount(labels).argmax()
    keep_node = labels == biggest
    keep_edge = keep_node[ui] & keep_node[vi]
    return nodes[keep_node], edges[keep_edge]
