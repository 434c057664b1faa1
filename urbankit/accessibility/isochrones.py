"""Isochrones: the area reachable from a point within x minutes on a street network.

Method
------
Each point is snapped to its nearest network node; the straight line from the point to that node
is walked (at ``settings.walk_speed_kmh`` whatever the mode, as in
:mod:`urbankit.accessibility`), and that time starts the clock. Exact travel times to every node
come from Dijkstra's algorithm (scipy) on the edge times in minutes, parallel edges reduced to the
fastest; drive networks are searched along the edge direction (outward from the point, honouring
one-way streets).

The reached street network within a threshold ``T`` is then

* every edge whose far end is reached through it in time (the whole edge),
* the reached part of every other edge leaving a reached node: the fraction ``(T - t_node) /
  t_edge`` of its length from that node (undirected edges can be entered from both ends),
* every reached node, and the straight walk from the point to its node.

When that walk alone takes longer than ``T`` the isochrone is empty (the point is too far from
the network for that threshold).

The isochrone polygon is that set of lines buffered by ``buffer_m`` (default 25 m: about half a
street's width plus the front gardens / pavements on each side, so the polygon covers the
buildings along reached streets without bridging whole blocks). It is a *network* isochrone: an area
between reached streets that no street enters stays outside, and the polygons of increasing
thresholds are nested.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import shapely
import shapely.ops
from scipy.sparse.csgraph import dijkstra

from .._errors import CRSError, InvalidOptionError
from .._validate import minutes_label as _label
from .._validate import validate_minutes
from ..network.routing import _min_csr
from ..network.street import TIME_RESOLUTION_MIN, StreetNetwork
from .reach import _CHUNK_CELLS, snap_destinations

logger = logging.getLogger(__name__)


__all__ = ["DEFAULT_BUFFER_M", "compute_isochrones"]

#: default half-width (metres) of the band drawn around reached streets
DEFAULT_BUFFER_M = 25.0
#: snaps longer than this are logged: the point is probably outside the network's area
_FAR_SNAP_M = 500.0


def _as_points(points) -> gpd.GeoDataFrame:
    """Points as a GeoDataFrame with a CRS and unique, meaningful ids."""
    if isinstance(points, gpd.GeoSeries):
        points = points.to_frame("geometry")
    if isinstance(points, gpd.GeoDataFrame):
        if points.crs is None:
            raise CRSError("points have no CRS; set it with .set_crs('EPSG:4326') (longitude/latitude degrees).")
        gdf = gpd.GeoDataFrame(geometry=points.geometry.to_numpy(), index=points.index, crs=points.crs)
    elif isinstance(points, shapely.Point):
        raise InvalidOptionError(
            "a bare shapely Point has no CRS; pass a (lon, lat) tuple, or a GeoSeries with a CRS."
        )
    else:
        if (
            isinstance(points, tuple)
            and len(points) == 2
            and all(isinstance(v, (int, float, np.number)) for v in points)
        ):
            points = [points]
        if isinstance(points, (str, bytes)) or not isinstance(points, Iterable):
            raise InvalidOptionError(
                f"points={points!r} must be a GeoDataFrame/GeoSeries of points with a CRS, "
                "or a list of (lon, lat) pairs."
            )
        points = list(points)
        if not points:
            raise InvalidOptionError("points is empty; give at least one point.")
        try:
            xy = np.asarray(points, dtype=float)
        except (TypeError, ValueError) as exc:
            raise InvalidOptionError(f"points must be (lon, lat) pairs of numbers ({exc}).") from None
        if xy.ndim != 2 or xy.shape[1] != 2 or not np.isfinite(xy).all():
            raise InvalidOptionError(
                "points must be a list of (lon, lat) pairs of finite numbers, e.g. [(7.42, 43.73)]."
            )
        if len(xy) and (np.abs(xy[:, 0]).max() > 180 or np.abs(xy[:, 1]).max() > 90):
            raise CRSError(
                "points given as pairs must be (lon, lat) degrees; these are out of range. For projected "
                "coordinates pass a GeoDataFrame with its CRS."
            )
        gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]) if len(xy) else [], crs="EPSG:4326")
    if len(gdf) == 0:
        raise InvalidOptionError("points is empty; give at least one point.")
    geom = gdf.geometry
    if geom.isna().any() or geom.is_empty.any() or (geom.geom_type != "Point").any():
        raise InvalidOptionError("points must all be non-empty Point geometries (use .centroid for polygons).")
    if gdf.index.duplicated().any():
        raise InvalidOptionError("points have a repeated index; the index names each isochrone, make it unique.")
    return gdf


def _forward_graph(net: StreetNetwork):
    nodes = net.nodes.index
    u = nodes.get_indexer(net.edges["u"].to_numpy())
    v = nodes.get_indexer(net.edges["v"].to_numpy())
    w = net.edges["time_min"].to_numpy(float)
    if net.directed:
        return _min_csr(u, v, w, len(nodes))
    return _min_csr(np.r_[u, v], np.r_[v, u], np.r_[w, w], len(nodes))


def _edge_orientation(net: StreetNetwork) -> np.ndarray:
    """True where an edge's geometry runs from ``u`` to ``v`` (the usual case)."""
    geoms = net.edges.geometry.to_numpy()
    first = shapely.get_coordinates(shapely.get_point(geoms, 0))
    xy = net.nodes[["x", "y"]]
    pu = xy.loc[net.edges["u"].to_numpy()].to_numpy()
    pv = xy.loc[net.edges["v"].to_numpy()].to_numpy()
    return np.hypot(*(first - pu).T) <= np.hypot(*(first - pv).T)


def _reached_lines(
    net: StreetNetwork,
    geoms: np.ndarray,
    forward: np.ndarray,
    u_pos: np.ndarray,
    v_pos: np.ndarray,
    t_edge: np.ndarray,
    length: np.ndarray,
    label: np.ndarray,
    T: float,
) -> tuple[list, np.ndarray]:
    """Reached edge pieces within ``T`` minutes, given the arrival minutes ``label`` at every node,
    and which nodes those pieces touch."""
    eps = TIME_RESOLUTION_MIN / 2
    du, dv = label[u_pos], label[v_pos]
    with np.errstate(invalid="ignore"):
        fu = np.clip((T - du) / t_edge, 0.0, 1.0)  # share reached from u (NaN -> 0 below)
        fv = np.clip((T - dv) / t_edge, 0.0, 1.0)
    fu = np.where(np.isfinite(du) & (du <= T + eps), fu, 0.0)
    fv = np.where(np.isfinite(dv) & (dv <= T + eps), fv, 0.0)
    if net.directed:
        fv = np.zeros_like(fv)  # a directed edge is entered at u only
    full = fu + fv >= 1.0
    pieces = list(geoms[full])
    part = ~full & ((fu > 0) | (fv > 0))
    for g, a, b, _L, fwd in zip(geoms[part], fu[part], fv[part], length[part], forward[part]):
        glen = g.length
        # fractions of the edge's length; the geometry may run v -> u
        if a > 0:
            pieces.append(
                shapely.ops.substring(g, 0, a * glen) if fwd else shapely.ops.substring(g, glen - a * glen, glen)
            )
        if b > 0:
            pieces.append(
                shapely.ops.substring(g, glen - b * glen, glen) if fwd else shapely.ops.substring(g, 0, b * glen)
            )
    covered = np.zeros(len(label), bool)
    covered[u_pos[full | (fu > 0)]] = True
    covered[v_pos[full | (fv > 0)]] = True
    return pieces, covered


def compute_isochrones(
    network: StreetNetwork,
    points,
    minutes=(10, 15, 30),
    *,
    walk_speed_kmh: float | None = None,
    buffer_m: float = DEFAULT_BUFFER_M,
    mode: str | None = None,
    gtfs=None,
    departure=None,
    window_min: int = 60,
    percentile: int = 50,
    max_rides: int = 8,
) -> gpd.GeoDataFrame:
    """Polygons reachable from each point within each threshold.

    With ``mode="transit"`` (on a walk network) each node's minutes are the fastest of walking and public
    transport + walking: the ``percentile`` over the ``window_min`` departure minutes from ``departure`` of the
    travel times routed exactly on the ``gtfs`` timetables (:func:`urbankit.transit.access.transit_node_minutes`,
    the semantics of :func:`urbankit.transit.travel_time_matrix`); the reached streets are then drawn from those
    minutes as on foot. A transit isochrone therefore contains the walking one of the same point and threshold.

    Parameters
    ----------
    network : StreetNetwork
        From :func:`urbankit.build_network` (its mode and speeds apply).
    points : GeoDataFrame, GeoSeries or list of (lon, lat)
        Origins. GeoDataFrames/GeoSeries need a CRS; their index names the isochrones
        (``point_id``). Pairs are longitude/latitude degrees, numbered from 0.
    minutes : sequence of float, default (10, 15, 30)
        Thresholds.
    walk_speed_kmh : float, optional
        Speed of the straight walk from each point to its nearest node (default
        ``settings.walk_speed_kmh``).
    buffer_m : float, default 25
        Half-width of the band around reached streets (see the module docstring).
    mode : {None, "transit"}, optional
        ``None``: the network's own mode; ``"transit"``: public transport + walking (a walk network, ``gtfs`` and
        ``departure`` needed).
    gtfs : str, pathlib.Path, list of them or Timetable, optional
        The timetables (``mode="transit"``).
    departure : datetime.datetime or str, optional
        First departure minute, ``"2019-05-13T07:00"`` (``mode="transit"``).
    window_min : int, default 60
        Departure minutes (``mode="transit"``).
    percentile : int, default 50
        Percentile over the window (``mode="transit"``).
    max_rides : int, default 8
        Most vehicles per trip (``mode="transit"``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per point and threshold, ordered by point then minutes: ``point_id``, ``minutes``,
        ``node_id`` (snapped node), ``snap_m``, ``lon``/``lat`` of the point, ``area_ha`` and the
        polygon (EPSG:4326; empty when even the walk to the network takes longer than the
        threshold).

    Raises
    ------
    InvalidOptionError
        Bad thresholds, speeds, buffer or points; ``mode="transit"`` without ``gtfs``/``departure`` or on a
        network that is not a walk network, or these options without ``mode="transit"``.

    Examples
    --------
    >>> import urbankit as uk
    >>> net = uk.build_network(uk.load("monaco"), "walk", cache=False)
    >>> iso = compute_isochrones(net, [(7.4246, 43.7384)], minutes=[5, 10])
    >>> iso[["point_id", "minutes"]].values.tolist()
    [[0, 5], [0, 10]]
    >>> bool(iso.area_ha.iloc[0] < iso.area_ha.iloc[1])
    True
    """
    mins = validate_minutes(minutes)
    if walk_speed_kmh is not None and (
        isinstance(walk_speed_kmh, bool) or not isinstance(walk_speed_kmh, (int, float)) or not walk_speed_kmh > 0
    ):
        raise InvalidOptionError(f"walk_speed_kmh={walk_speed_kmh!r} must be a positive number of km/h, e.g. 4.8.")
    if (
        isinstance(buffer_m, bool)
        or not isinstance(buffer_m, (int, float))
        or not np.isfinite(buffer_m)
        or buffer_m <= 0
    ):
        raise InvalidOptionError(f"buffer_m={buffer_m!r} must be a positive number of metres, e.g. 25.")
    transit = _check_transit(network, mode, gtfs, departure)
    pts = _as_points(points)
    snapped = snap_destinations(network, pts, walk_speed_kmh=walk_speed_kmh)
    far = snapped["snap_m"] > _FAR_SNAP_M
    if far.any():
        logger.warning(
            "%d point(s) lie more than %g m from the %s network (ids %s); their isochrones start with that walk",
            int(far.sum()),
            _FAR_SNAP_M,
            network.mode,
            list(snapped.index[far])[:5],
        )
    lonlat = pts.geometry.to_crs("EPSG:4326")

    graph = _forward_graph(network)
    n = graph.shape[0]
    node_pos = network.nodes.index.get_indexer(snapped["node_id"].to_numpy())
    snap_min = snapped["snap_min"].to_numpy(float)
    Tmax = max(mins)
    e = network.edges
    geoms = e.geometry.to_numpy()
    u_pos = network.nodes.index.get_indexer(e["u"].to_numpy())
    v_pos = network.nodes.index.get_indexer(e["v"].to_numpy())
    t_edge = e["time_min"].to_numpy(float)
    length = e["length_m"].to_numpy(float)
    forward = _edge_orientation(network)
    node_xy = network.nodes[["x", "y"]].to_numpy()

    by_transit = None
    if transit:
        from ..transit.access import transit_node_minutes

        by_transit = transit_node_minutes(
            network,
            gtfs,
            pts,
            departure=departure,
            window_min=window_min,
            percentile=percentile,
            max_minutes=Tmax,
            max_rides=max_rides,
            walk_speed_kmh=walk_speed_kmh,
        )
    rows = []
    chunk = max(1, _CHUNK_CELLS // max(n, 1))
    for s in range(0, len(pts), chunk):
        idx = np.arange(s, min(s + chunk, len(pts)))
        dist = dijkstra(graph, directed=True, indices=node_pos[idx], limit=Tmax + TIME_RESOLUTION_MIN)
        dist = np.atleast_2d(dist)
        for r, i in enumerate(idx):
            label = dist[r] + snap_min[i]
            if by_transit is not None:
                label = np.minimum(label, by_transit[i])
            origin = snapped.geometry.iloc[i]
            node_pt = shapely.Point(node_xy[node_pos[i]])
            connector = shapely.LineString([origin, node_pt]) if snapped["snap_m"].iloc[i] > 0 else None
            for T in mins:
                pieces = []
                if snap_min[i] <= T + TIME_RESOLUTION_MIN / 2:
                    if connector is not None:
                        pieces.append(connector)
                    lines, covered = _reached_lines(network, geoms, forward, u_pos, v_pos, t_edge, length, label, T)
                    pieces.extend(lines)
                    # reached nodes no reached piece touches (reached exactly at T), and the start node
                    alone = (label <= T + TIME_RESOLUTION_MIN / 2) & ~covered
                    alone[node_pos[i]] = True
                    pieces.extend(shapely.points(node_xy[alone]))
                # buffering each piece then a cascaded union is ~50x faster than buffering a collection
                poly = (
                    shapely.union_all(shapely.buffer(np.asarray(pieces, dtype=object), buffer_m))
                    if pieces
                    else shapely.Polygon()
                )
                if poly.geom_type not in ("Polygon", "MultiPolygon"):
                    poly = shapely.Polygon()
                rows.append(
                    {
                        "point_id": pts.index[i],
                        "minutes": T,
                        "node_id": snapped["node_id"].iloc[i],
                        "snap_m": float(snapped["snap_m"].iloc[i]),
                        "lon": float(lonlat.iloc[i].x),
                        "lat": float(lonlat.iloc[i].y),
                        "area_ha": poly.area / 10_000.0,
                        "geometry": poly,
                    }
                )
    out = gpd.GeoDataFrame(rows, geometry="geometry", crs=network.crs).to_crs("EPSG:4326")
    out.attrs.update(
        mode="transit" if transit else network.mode, buffer_m=float(buffer_m), labels=[_label(m) for m in mins]
    )
    if transit:
        out.attrs["transit"] = {
            "departure": str(departure),
            "window_min": int(window_min),
            "percentile": int(percentile),
            "max_rides": int(max_rides),
        }
    return out


def _check_transit(network: StreetNetwork, mode, gtfs, departure) -> bool:
    """True for a transit isochrone; clear errors for missing or misplaced transit options."""
    if mode is None or mode == network.mode:
        if gtfs is not None or departure is not None:
            raise InvalidOptionError(
                "gtfs= and departure= are for mode='transit' only; drop them or pass mode='transit'."
            )
        return False
    if mode != "transit":
        raise InvalidOptionError(f"mode={mode!r} must be None (the network's own mode, {network.mode!r}) or 'transit'.")
    if network.mode != "walk":
        raise InvalidOptionError(
            f"mode='transit' walks to and from the stops: give a walk network, not a {network.mode!r} one."
        )
    if gtfs is None or departure is None:
        raise InvalidOptionError("mode='transit' needs gtfs=[feed.zip, ...] and departure='YYYY-MM-DDTHH:MM'.")
    return True
