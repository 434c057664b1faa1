"""Aggregate node accessibility to areas: H3 hexagons or the user's own zones.

Both :func:`to_hex` and :func:`to_zones` summarise the street nodes falling in each area the same way:

``population``
    Residents of the area's nodes (sum).
``nodes``
    Number of street nodes in the area.
``populated``
    Whether the area has residents. Populated areas are summarised over their residents; areas
    without residents (parks, industrial land, or any area when the accessibility was computed
    without population) over their street nodes, unweighted, so they still show on a map.
``time_<service>_min``
    Mean minutes to the nearest destination of the service: weighted by residents over the
    populated nodes *within the largest threshold* (nodes beyond it have no minutes and are left
    out; their share shows in the scores below). NaN when no node of the area reaches the service.
``score_<M>min``
    Mean score (share of the services reached within M minutes), weighted by residents.
``all_functions_<M>min_share``
    Share of the residents (or, unpopulated, of the nodes) reaching all functions within M minutes.

Example
-------
>>> import urbankit as uk
>>> from urbankit.accessibility import compute_accessibility
>>> area = uk.load("monaco")
>>> net = uk.build_network(area, "walk", cache=False)
>>> acc = compute_accessibility(net, uk.find_destinations(area), progress=False)
>>> hexes = to_hex(acc, 9)
>>> hexes.index.name, hexes.crs.to_string(), int(hexes["nodes"].sum()) == len(acc.nodes)
('h3', 'EPSG:4326', True)
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import CRSError, InvalidOptionError
from ._validate import check_h3_resolution, minutes_label

logger = logging.getLogger(__name__)


__all__ = ["aggregate_nodes", "to_hex", "to_zones"]


def _check_resolution(resolution) -> int:
    return check_h3_resolution(resolution, name="resolution")


def aggregate_nodes(acc, group: pd.Series) -> pd.DataFrame:
    """Summarise ``acc.nodes`` per area (see the module docstring for the columns).

    Parameters
    ----------
    acc : Accessibility
    group : pandas.Series
        Area key of each node, indexed by node_id. A node may appear in several areas (the index
        may repeat); nodes outside every area are simply absent.

    Returns
    -------
    pandas.DataFrame
        One row per area key (sorted), columns ``population``, ``nodes``, ``populated``,
        ``time_<S>_min`` per service, ``score_<M>min`` and ``all_functions_<M>min_share`` per
        threshold.
    """
    nodes = acc.nodes.loc[group.index]
    key = group.to_numpy()
    codes, uniques = pd.factorize(key, sort=True)
    k = len(uniques)
    pop = nodes["population"].to_numpy(float)
    area_pop = np.bincount(codes, weights=pop, minlength=k)
    populated = area_pop > 0
    # residents in populated areas, every node alike elsewhere
    w = np.where(populated[codes], pop, 1.0)

    def wmean(x: np.ndarray) -> np.ndarray:
        ok = np.isfinite(x)
        num = np.bincount(codes, weights=np.where(ok, w * np.nan_to_num(x), 0.0), minlength=k)
        den = np.bincount(codes, weights=np.where(ok, w, 0.0), minlength=k)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    cols: dict[str, np.ndarray] = {
        "population": area_pop,
        "nodes": np.bincount(codes, minlength=k).astype(np.int64),
        "populated": populated,
    }
    for s in acc.services:
        cols[f"time_{s}_min"] = wmean(nodes[f"time_{s}_min"].to_numpy(float))
    n_functions = len(acc.function_names)
    for m in acc.minutes:
        lab = minutes_label(m)
        cols[f"score_{lab}min"] = wmean(nodes[f"score_{lab}min"].to_numpy(float))
        cols[f"all_functions_{lab}min_share"] = wmean(
            (nodes[f"functions_{lab}min"].to_numpy() == n_functions).astype(float)
        )
    return pd.DataFrame(cols, index=pd.Index(uniques))


def to_hex(acc, resolution: int = 9) -> gpd.GeoDataFrame:
    """Aggregate node accessibility to H3 hexagons.

    Parameters
    ----------
    acc : Accessibility
        From :func:`urbankit.accessibility.accessibility`.
    resolution : int, default 9
        H3 resolution, 0 (continents) to 15 (about 1 m²). 9 gives hexagons of about 0.1 km²
        (edge about 200 m), a good size for walking analyses; 8 (about 0.7 km²) suits driving.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed by the H3 cell id (``h3``, hexadecimal string), hexagon polygons in EPSG:4326; only
        cells holding at least one street node. Columns as in the module docstring.
    """
    res = _check_resolution(resolution)
    ll = acc.nodes.geometry.to_crs("EPSG:4326")
    cells = h3_cells(ll.x.to_numpy(), ll.y.to_numpy(), res)
    table = aggregate_nodes(acc, pd.Series(cells, index=acc.nodes.index))
    polys = hex_polygons(table.index)
    table.index.name = "h3"
    return gpd.GeoDataFrame(table, geometry=polys, crs="EPSG:4326")


def h3_cells(lon, lat, h3_resolution: int) -> np.ndarray:
    """H3 cell of every point: the one place urbankit assigns points to H3 cells.

    Parameters
    ----------
    lon, lat : array-like
        WGS84 degrees, aligned.
    h3_resolution : int
        H3 resolution, 0..15.

    Returns
    -------
    numpy.ndarray
        The cells as hexadecimal strings (object array), one per point: the ids of
        ``h3.latlng_to_cell``, computed through h3's integer API (strings are made once per
        distinct cell, not once per point).

    Examples
    --------
    >>> h3_cells([7.4246], [43.7384], 9).tolist()
    ['893969a41d3ffff']
    """
    import h3
    import h3.api.basic_int as h3_int

    res = _check_resolution(h3_resolution)
    lon = np.asarray(lon, dtype=float).ravel()
    lat = np.asarray(lat, dtype=float).ravel()
    if len(lon) != len(lat):
        raise InvalidOptionError(f"lon and lat differ in length ({len(lon):,} and {len(lat):,}).")
    ids = np.fromiter(map(h3_int.latlng_to_cell, lat.tolist(), lon.tolist(), [res] * len(lat)),
                      dtype=np.uint64, count=len(lat))
    distinct, inverse = np.unique(ids, return_inverse=True)
    names = np.array([h3.int_to_str(int(c)) for c in distinct], dtype=object)
    return names[inverse.ravel()] if len(ids) else np.empty(0, dtype=object)


def hex_polygons(cells) -> np.ndarray:
    """The polygons (EPSG:4326 longitude, latitude) of H3 ``cells``, built at once.

    The same coordinates as ``shapely.Polygon`` of each :func:`h3.cell_to_boundary`, about four
    times faster; a pentagon or a distorted cell may have other than 6 vertices.

    Parameters
    ----------
    cells : iterable of str
        H3 cell ids.

    Returns
    -------
    numpy.ndarray
        One shapely polygon per cell, in the order of ``cells``.
    """
    import h3

    bounds = [h3.cell_to_boundary(c) for c in cells]
    if not bounds:
        return np.empty(0, dtype=object)
    # closed rings (each boundary and its first vertex again) as one ragged array: built in C at once
    closed = [(*b, b[0]) for b in bounds]
    sizes = np.fromiter(map(len, closed), dtype=np.int64, count=len(closed))
    latlng = np.array([v for b in closed for v in b], dtype=float).reshape(-1, 2)
    ring_offsets = np.concatenate([[0], np.cumsum(sizes)])
    polygon_offsets = np.arange(len(closed) + 1, dtype=np.int64)
    return shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, np.ascontiguousarray(latlng[:, ::-1]), (ring_offsets, polygon_offsets)
    )


def to_zones(acc, zones: gpd.GeoDataFrame, *, name: str | None = None) -> gpd.GeoDataFrame:
    """Aggregate node accessibility to the user's zones (districts, census tracts, superblocks).

    Each zone gets the street nodes inside it or on its boundary (a node on the border of two
    zones counts in both; overlapping zones each count their nodes).

    Parameters
    ----------
    acc : Accessibility
    zones : GeoDataFrame
        Polygons with a CRS (any CRS; reprojected for the join). Their columns are kept; a zone
        column named like an aggregate (e.g. ``population``) is renamed with a ``_zone`` suffix.
    name : str, optional
        Column naming each zone; it becomes the index of the result (values must be unique).
        Default: the zones' own index.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per zone, in the zones' order and CRS: the zone's columns, then the aggregates of
        the module docstring. Zones without any node have ``nodes`` 0 and NaN minutes and scores.

    Raises
    ------
    CRSError
        The zones have no CRS.
    InvalidOptionError
        Not polygons, empty, ``name`` missing or not unique, or no zone holds any street node.
    """
    if isinstance(zones, gpd.GeoSeries):
        zones = zones.to_frame("geometry")
    if not isinstance(zones, gpd.GeoDataFrame):
        raise InvalidOptionError(
            f"zones must be a GeoDataFrame of polygons (got {type(zones).__name__}); "
            "read them with geopandas.read_file(path)."
        )
    if len(zones) == 0:
        raise InvalidOptionError("zones is empty; give at least one polygon.")
    if zones.crs is None:
        raise CRSError(
            "zones have no CRS; set it with zones.set_crs('EPSG:4326') (degrees) or the CRS the "
            "coordinates are in, e.g. zones.set_crs('EPSG:3035')."
        )
    geom = zones.geometry
    kinds = set(geom.geom_type.dropna())
    if geom.isna().any() or geom.is_empty.any() or not kinds <= {"Polygon", "MultiPolygon"}:
        raise InvalidOptionError(
            f"zones must all be non-empty Polygons or MultiPolygons (found {sorted(kinds)}"
            f"{', and missing or empty geometries' if geom.isna().any() or geom.is_empty.any() else ''})."
        )
    out = zones.copy()
    if name is not None:
        if name not in out.columns:
            raise InvalidOptionError(f"name={name!r} is not a column of zones; choose one of {list(out.columns)}.")
        if out[name].duplicated().any() or out[name].isna().any():
            raise InvalidOptionError(f"name={name!r}: zone names must be unique and not missing.")
        out = out.set_index(name)
    elif out.index.duplicated().any():
        raise InvalidOptionError("zones have a repeated index; pass name='<column>' or reset the index.")

    pos = pd.RangeIndex(len(out))
    left = gpd.GeoDataFrame(
        {"_node": acc.nodes.index.to_numpy()}, geometry=acc.nodes.geometry.to_numpy(), crs=acc.nodes.crs
    )
    right = gpd.GeoDataFrame({"_zone": pos}, geometry=out.geometry.to_crs(acc.nodes.crs).to_numpy(), crs=acc.nodes.crs)
    joined = gpd.sjoin(left, right, how="inner", predicate="intersects")
    if len(joined) == 0:
        raise InvalidOptionError(
            "no street node lies in any zone: the zones do not overlap the analysed area "
            f"(zones bounds {tuple(np.round(out.to_crs('EPSG:4326').total_bounds, 4))}, network bounds "
            f"{tuple(np.round(acc.nodes.to_crs('EPSG:4326').total_bounds, 4))} in lon/lat); check their CRS."
        )
    table = aggregate_nodes(acc, pd.Series(joined["_zone"].to_numpy(), index=joined["_node"].to_numpy()))
    table = table.reindex(pos)
    table["nodes"] = table["nodes"].fillna(0).astype(np.int64)
    table["population"] = table["population"].fillna(0.0)
    table["populated"] = table["populated"].fillna(False).astype(bool)
    clash = [c for c in table.columns if c in out.columns]
    if clash:
        logger.warning("zone columns %s are renamed with a '_zone' suffix (names used by the aggregates)", clash)
        out = out.rename(columns={c: f"{c}_zone" for c in clash})
    table.index = out.index
    geometry_name = out.geometry.name
    result = pd.concat([out.drop(columns=geometry_name), table, out[[geometry_name]]], axis=1)
    return gpd.GeoDataFrame(result, geometry=geometry_name, crs=zones.crs)
