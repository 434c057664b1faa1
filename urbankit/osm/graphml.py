"""Reading GraphML street networks (osmnx, superblockify) as an OSMExtract."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import (
    CorruptFileError,
    CRSError,
    InputFileError,
    UrbankitError,
)
from .extract import GRAPHML_SUFFIXES, STREET_TAGS, OSMExtract, _points, empty_buildings, empty_features
from .files import _check_file, file_sha256

logger = logging.getLogger(__name__)


def _first(value):
    """First element of an osmnx list-valued attribute (``"['a', 'b']"`` or a list)."""
    if isinstance(value, list):
        return value[0] if value else None
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        return parsed[0] if isinstance(parsed, list) and parsed else value
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _min_id(value):
    """Smallest id of an osmnx ``osmid`` attribute (an int, a list, or a list's string form)."""
    if isinstance(value, str) and value.startswith("["):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, (list, tuple)):
        return min(value) if value else None
    return value


_GRAPH_CRS_FIX = (
    "set the graph's 'crs' attribute to the CRS its node x/y are in (e.g. 'epsg:4326' for longitude/latitude "
    "in degrees, or the UTM zone of projected metres), as `osmnx.save_graphml` writes it"
)


def _graph_crs(crs, source: str):
    """The pyproj CRS of a graph's ``crs`` attribute, which must convert to longitude/latitude."""
    from pyproj import CRS, Transformer

    shown = repr(crs) if len(repr(crs)) <= 80 else repr(crs)[:77] + "..."
    try:
        graph_crs = CRS.from_user_input(crs)
        if not graph_crs.is_geographic:
            Transformer.from_crs(graph_crs, "EPSG:4326", always_xy=True)
    except Exception as exc:  # noqa: BLE001 - pyproj raises CRSError, ProjError, TypeError on bad input
        raise CRSError(
            f"graph from {source!r} has crs={shown}, which is not a usable coordinate reference system "
            f"({type(exc).__name__}); {_GRAPH_CRS_FIX}."
        ) from None
    if not (graph_crs.is_geographic or graph_crs.is_projected):
        raise CRSError(
            f"graph from {source!r} has crs={shown}, which is neither geographic nor projected; {_GRAPH_CRS_FIX}."
        )
    return graph_crs


def _check_node_coordinates(graph, graph_crs, source: str) -> None:
    """Every node needs finite x and y; in a geographic CRS, within longitude and latitude range."""
    xy = []
    for node, data in graph.nodes(data=True):
        try:
            xy.append((float(data["x"]), float(data["y"])))
        except KeyError as exc:
            raise CorruptFileError(
                f"node {node!r} of the graph from {source!r} has no {exc.args[0]!r} coordinate; every node needs x "
                "and y: save graphs with `osmnx.save_graphml`."
            ) from None
        except (TypeError, ValueError):
            raise CorruptFileError(
                f"node {node!r} of the graph from {source!r} has coordinates x={data['x']!r}, y={data['y']!r}, "
                "which are not numbers; re-export the graph with `osmnx.save_graphml`."
            ) from None
    if not xy:
        return
    ids = list(graph.nodes)
    x, y = np.array(xy, dtype=np.float64).T
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():
        first = np.flatnonzero(bad)[:3]
        examples = ", ".join(f"node {ids[i]!r} at x={float(x[i])}, y={float(y[i])}" for i in first)
        raise CorruptFileError(
            f"{int(bad.sum())} node(s) of the graph from {source!r} have missing (NaN) or infinite coordinates "
            f"(e.g. {examples}); fix or remove those nodes and re-export the graph with `osmnx.save_graphml`."
        )
    if graph_crs.is_geographic:
        bad = (np.abs(x) > 180.0) | (np.abs(y) > 90.0)
        if bad.any():
            first = np.flatnonzero(bad)[:3]
            examples = ", ".join(f"node {ids[i]!r} at x={x[i]:g}, y={y[i]:g}" for i in first)
            raise CorruptFileError(
                f"{int(bad.sum())} node(s) of the graph from {source!r} lie outside longitude/latitude range "
                f"(e.g. {examples}) although its crs {graph.graph.get('crs')!r} is in degrees: the coordinates "
                f"look projected (metres?); {_GRAPH_CRS_FIX}."
            )


def _check_graph_lonlat(lon, lat, way, edges, crs, source: str) -> None:
    """Edge vertices converted to degrees must be finite and in range, and the edges as long as the
    graph's own ``length`` attribute says (metres): otherwise the ``crs`` is not the coordinates' one."""
    bad = ~(np.isfinite(lon) & np.isfinite(lat)) | (np.abs(lon) > 180.0) | (np.abs(lat) > 90.0)
    if bad.any():
        e = int(way[np.flatnonzero(bad)[0]])
        raise CorruptFileError(
            f"the geometry of {int(np.unique(way[bad]).size)} edge(s) of the graph from {source!r} has vertices that "
            f"are missing (NaN) or do not convert to longitude/latitude from crs {crs!r} (e.g. edge "
            f"{edges['u'].iloc[e]!r} -> {edges['v'].iloc[e]!r}); fix the edge geometries, or {_GRAPH_CRS_FIX}."
        )
    if "length" not in edges.columns or len(way) < 2:
        return
    stated = pd.to_numeric(edges["length"], errors="coerce").to_numpy(dtype=np.float64)
    from pyproj import Geod

    same = way[1:] == way[:-1]
    _, _, seg_m = Geod(ellps="WGS84").inv(lon[:-1][same], lat[:-1][same], lon[1:][same], lat[1:][same])
    measured = np.bincount(way[:-1][same], weights=np.asarray(seg_m, dtype=np.float64), minlength=len(edges))
    ok = np.isfinite(stated) & (stated > 1.0) & (measured > 0)
    if not ok.any():
        return
    ratio = float(np.median(measured[ok] / stated[ok]))
    if not 0.5 <= ratio <= 2.0:
        raise CorruptFileError(
            f"the edges of the graph from {source!r} measure {ratio:.3g} times their 'length' attribute (median) "
            f"when their x/y are read in crs {crs!r}: the coordinates are not in that CRS (projected metres "
            f"labelled as degrees, or the reverse?); {_GRAPH_CRS_FIX}."
        )


def graph_node_population(edges: pd.DataFrame, *, source: str) -> pd.Series | None:
    """Residents per graph node from the edges' ``population`` attribute (superblockify GraphML).

    Parameters
    ----------
    edges : pandas.DataFrame
        One row per directed edge with columns ``u``, ``v``, ``population`` and optionally
        ``cell_id`` (superblockify's tessellation cell of the street).
    source : str
        The file, for messages.

    Returns
    -------
    pandas.Series or None
        Residents per node id (float, name ``"population"``), None when the edges carry no
        ``population``. The sum equals the residents of the distinct cells (or streets): each is
        counted once, however many directed edges carry it, and split half to each end node of its
        street (all of it to the node of a self-loop). Without ``cell_id`` a two-way street is the
        pair of edges ``u -> v`` and ``v -> u``, counted once.

    Raises
    ------
    CorruptFileError
        Non-numeric, negative or infinite populations, or edges of one cell with different populations.
    """
    if "population" not in edges.columns:
        return None
    raw = edges["population"]
    values = pd.to_numeric(raw, errors="coerce").astype(float)
    missing = values.isna().to_numpy()
    if missing.all():
        return None
    bad = (missing & raw.notna().to_numpy()) | ~np.isfinite(values.fillna(0).to_numpy()) | (values < 0).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise CorruptFileError(
            f"{source!r}: {int(bad.sum())} edges have an unusable 'population' value (e.g. {raw.iloc[i]!r} on edge "
            f"{edges['u'].iloc[i]} -> {edges['v'].iloc[i]}); it must be a number of residents >= 0."
        )
    if missing.any():
        logger.warning(
            "%s: %d of %d edges have no 'population'; they count as 0 residents.",
            source, int(missing.sum()), len(values),
        )
    u = edges["u"].to_numpy()
    v = edges["v"].to_numpy()
    pop = values.fillna(0.0).to_numpy()
    if "cell_id" in edges.columns and edges["cell_id"].notna().all():
        key = edges["cell_id"].astype(str).to_numpy()
    else:
        lo = np.where(u.astype(np.int64) <= v.astype(np.int64), u, v)
        hi = np.where(u.astype(np.int64) <= v.astype(np.int64), v, u)
        k = edges["key"].to_numpy() if "key" in edges.columns else np.zeros(len(u), dtype=np.int64)
        key = np.array([f"{a}-{b}-{c}" for a, b, c in zip(lo, hi, k)])
    frame = pd.DataFrame({"key": key, "u": u, "v": v, "pop": pop})
    spread = frame.groupby("key")["pop"].agg(["min", "max"])
    differ = ~np.isclose(spread["min"], spread["max"], rtol=1e-9, atol=1e-9)
    if differ.any():
        k0 = spread.index[differ][0]
        raise CorruptFileError(
            f"{source!r}: the edges of {int(differ.sum())} streets/cells carry different populations (e.g. "
            f"{k0!r}: {spread.loc[k0, 'min']:g} and {spread.loc[k0, 'max']:g}), so the residents of each are "
            "ambiguous; recompute the edge population (superblockify's add_edge_population)."
        )
    first = frame.drop_duplicates("key")
    # the end nodes of each cell's street: u and v of its first edge (the reverse edge has the same pair)
    half = first["pop"].to_numpy() / 2.0
    per = pd.concat(
        [pd.Series(half, index=first["u"].to_numpy()), pd.Series(half, index=first["v"].to_numpy())]
    ).groupby(level=0).sum()
    per.name = "population"
    per.attrs = {
        "source": source,
        "edges_with_population": int((~missing).sum()),
        "streets_or_cells": len(first),
        "counted_by": "cell_id" if "cell_id" in edges.columns and edges["cell_id"].notna().all() else "street",
        "residents_total": float(first["pop"].sum()),
    }
    return per


def extract_from_graph(graph, *, source: str, sha256: str) -> OSMExtract:
    """Turn an osmnx ``MultiDiGraph`` into an :class:`OSMExtract`.

    Every directed edge becomes a one-way "way" from ``u`` to ``v`` whose interior vertices are
    anonymous (negative ids, used once), so the networks built from it keep exactly the graph's
    nodes and edges. The graph may be in any CRS; coordinates are converted to EPSG:4326.
    """
    import osmnx as ox
    from pyproj import Transformer

    crs = graph.graph.get("crs")
    if crs is None:
        raise CRSError(f"graph from {source!r} has no 'crs' graph attribute; save it with osmnx.")
    graph_crs = _graph_crs(crs, source)
    _check_node_coordinates(graph, graph_crs, source)
    nodes, edges = ox.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    if len(edges) == 0:
        raise CorruptFileError(f"graph from {source!r} has no edges; export a street network.")
    to_wgs = None
    if not graph_crs.is_geographic:
        to_wgs = Transformer.from_crs(graph_crs, "EPSG:4326", always_xy=True)
    edges = edges.reset_index()
    coords, offsets = shapely.get_coordinates(edges.geometry.values), shapely.get_num_coordinates(edges.geometry.values)
    if to_wgs is not None:
        lon, lat = to_wgs.transform(coords[:, 0], coords[:, 1])
    else:
        lon, lat = coords[:, 0], coords[:, 1]
    way = np.repeat(np.arange(len(edges), dtype=np.int32), offsets)
    starts = np.concatenate([[0], np.cumsum(offsets)[:-1]])
    ends = starts + offsets - 1
    node_id = -(np.arange(len(coords), dtype=np.int64) + 1)
    node_id[starts] = edges["u"].to_numpy(np.int64)
    node_id[ends] = edges["v"].to_numpy(np.int64)
    # snap the end vertices exactly onto the graph nodes
    nx_, ny_ = nodes.geometry.x, nodes.geometry.y
    if to_wgs is not None:
        nlon, nlat = to_wgs.transform(nx_.to_numpy(), ny_.to_numpy())
    else:
        nlon, nlat = nx_.to_numpy(), ny_.to_numpy()
    node_lon = pd.Series(nlon, index=nodes.index)
    node_lat = pd.Series(nlat, index=nodes.index)
    lon = np.asarray(lon, dtype=float).copy()
    lat = np.asarray(lat, dtype=float).copy()
    lon[starts], lat[starts] = node_lon.loc[edges["u"]].to_numpy(), node_lat.loc[edges["u"]].to_numpy()
    lon[ends], lat[ends] = node_lon.loc[edges["v"]].to_numpy(), node_lat.loc[edges["v"]].to_numpy()
    _check_graph_lonlat(lon, lat, way, edges, crs, source)

    cols = {}
    for k in STREET_TAGS:
        cols[k] = edges[k].map(_first) if k in edges.columns else None
    ways = pd.DataFrame(cols)
    # a simplified edge lists the ids of the ways it merges; the smallest names it the same way
    # in both directions (osmnx lists them in travel order)
    ways.insert(0, "way_id", edges["osmid"].map(_min_id) if "osmid" in edges.columns else -1)
    # the graph's edge directions are the truth: each edge is a one-way way u -> v
    ways["oneway"] = "yes"
    ways["junction"] = None
    ways["oneway:bicycle"] = None
    ways = ways.astype(object).where(ways.notna(), None)
    way_nodes = pd.DataFrame({"way": way, "node_id": node_id, "lon": lon, "lat": lat})
    meta = {"from_graph": True, "graph_crs": str(crs)}
    # superblockify's per-edge residents (population_sources.graph_node_population): kept as points at the nodes

    per_node = graph_node_population(edges, source=source)
    if per_node is not None:
        pts = gpd.GeoDataFrame(
            {"population": per_node.to_numpy()},
            geometry=_points(node_lon.loc[per_node.index].to_numpy(), node_lat.loc[per_node.index].to_numpy()),
            index=per_node.index.rename("node_id"),
            crs="EPSG:4326",
        )
        pts.attrs = dict(per_node.attrs)
        meta["node_population"] = pts
    return OSMExtract(
        ways=ways,
        way_nodes=way_nodes,
        features=empty_features(),
        buildings=empty_buildings(),
        source=source,
        sha256=sha256,
        meta=meta,
    )


def read_graphml(path: str | Path) -> OSMExtract:
    """Read a street network saved by osmnx (``osmnx.save_graphml``) or a peer such as superblockify.

    The graph's edges are kept as they are (directions included); destinations and buildings are
    empty, since a GraphML network carries none.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.graphml`` file written by ``osmnx.save_graphml``.

    Returns
    -------
    OSMExtract
        The graph's streets as ways and way nodes; ``meta["from_graph"]`` is True.

    Raises
    ------
    InputFileError, UnsupportedFormatError, CorruptFileError
        The file is missing, has another extension, or is not an osmnx GraphML network.
    """
    import osmnx as ox

    path = _check_file(path, GRAPHML_SUFFIXES)
    try:
        graph = ox.load_graphml(path)
    except Exception as exc:  # networkx/lxml raise many types on malformed XML
        raise CorruptFileError(
            f"cannot read {str(path)!r} as an osmnx GraphML network ({type(exc).__name__}: {exc}); "
            "save graphs with `osmnx.save_graphml`."
        ) from exc
    try:
        return extract_from_graph(graph, source=str(path), sha256=file_sha256(path))
    except InputFileError:
        raise
    except UrbankitError as exc:  # what is wrong with the graph is what is wrong with the file
        raise CorruptFileError(str(exc)) from exc
    except (KeyError, ValueError, TypeError) as exc:  # nodes without coordinates, unreadable attributes
        raise CorruptFileError(
            f"{str(path)!r} is not a usable street network ({type(exc).__name__}: {exc}); every node needs "
            "x and y and every edge u, v: save graphs with `osmnx.save_graphml`."
        ) from exc
