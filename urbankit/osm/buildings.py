"""Building footprints: polygon areas in square metres from OSM rings, vectorised."""

from __future__ import annotations

import functools
import logging
from array import array

import geopandas as gpd
import numpy as np
import shapely

from .extract import BUILDING_TAGS, _geo_frame, _points, _str_column
from .limits import _FOOTPRINT_CHUNK

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# building footprints: rings -> (point, area), vectorised


@functools.cache
def _utm_transformer(epsg: int):
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)


def footprints(lon, lat, ring_start, ring_outer, ring_bld, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Area (m²) and centroid (lon, lat) of ``n`` polygonal footprints given as rings of vertices.

    Parameters
    ----------
    lon, lat : array of float
        Vertices in degrees (EPSG:4326), ring after ring; a ring may repeat its first vertex last.
    ring_start : array of int
        Index of each ring's first vertex (increasing).
    ring_outer : array of bool
        Whether each ring is an outer ring (adds area) or an inner one (subtracts it).
    ring_bld : array of int
        Footprint (``0..n-1``) of each ring, non-decreasing.

    Returns
    -------
    area_m2, lon, lat : numpy.ndarray
        Outer minus inner ring areas, and the area-weighted centroid of the rings (the polygon
        centroid), each footprint measured in the standard UTM zone of its first vertex. NaN for a
        footprint without rings; a footprint without area gets the mean of its vertices.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    ring_start = np.asarray(ring_start, dtype=np.int64)
    ring_bld = np.asarray(ring_bld, dtype=np.int64)
    sign = np.where(np.asarray(ring_outer, dtype=bool), 1.0, -1.0)
    area = np.full(n, np.nan)
    out_lon, out_lat = np.full(n, np.nan), np.full(n, np.nan)
    if len(ring_start) == 0:
        return area, out_lon, out_lat
    n_v = len(lon)
    ring_len = np.diff(np.append(ring_start, n_v))
    first = np.searchsorted(ring_bld, np.arange(n))  # first ring of each footprint
    has = first < len(ring_bld)
    has[has] = ring_bld[first[has]] == np.flatnonzero(has)
    first_v = ring_start[np.minimum(first, len(ring_start) - 1)]  # its first vertex
    zone = np.clip(np.floor((lon[first_v] + 180.0) / 6.0), 0, 59).astype(np.int64) + 1
    epsg = np.where(lat[first_v] < 0, 32700, 32600) + zone
    v_bld = np.repeat(ring_bld, ring_len)
    codes = np.unique(epsg[has])
    if len(codes) == 1:
        x, y = _utm_transformer(int(codes[0])).transform(lon, lat)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    else:
        x, y = np.empty(n_v), np.empty(n_v)
        v_epsg = epsg[v_bld]
        for code in codes:
            m = v_epsg == code
            x[m], y[m] = _utm_transformer(int(code)).transform(lon[m], lat[m])
    # work relative to each ring's first vertex: exact closing term (0) and no cancellation
    ox, oy = x[ring_start], y[ring_start]
    dx, dy = x - np.repeat(ox, ring_len), y - np.repeat(oy, ring_len)
    cross = np.zeros(n_v)
    np.subtract(dx[:-1] * dy[1:], dx[1:] * dy[:-1], out=cross[:-1])
    cross[ring_start[1:] - 1] = 0.0  # no segment between the last vertex of a ring and the next ring
    a2 = np.add.reduceat(cross, ring_start)  # twice the signed area of each ring
    sx = np.zeros(n_v)
    sy = np.zeros(n_v)
    np.multiply(dx[:-1] + dx[1:], cross[:-1], out=sx[:-1])
    np.multiply(dy[:-1] + dy[1:], cross[:-1], out=sy[:-1])
    del cross
    sx, sy = np.add.reduceat(sx, ring_start), np.add.reduceat(sy, ring_start)
    with np.errstate(invalid="ignore", divide="ignore"):
        rcx = np.where(a2 != 0, sx / (3.0 * a2), 0.0)
        rcy = np.where(a2 != 0, sy / (3.0 * a2), 0.0)
    w = sign * np.abs(a2) / 2.0  # signed ring area: outer adds, inner subtracts
    # centroids relative to each footprint's first vertex
    bx, by = x[first_v], y[first_v]
    rx = ox - bx[ring_bld] + rcx
    ry = oy - by[ring_bld] + rcy
    tot = np.bincount(ring_bld, weights=w, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        cx = np.bincount(ring_bld, weights=w * rx, minlength=n) / tot
        cy = np.bincount(ring_bld, weights=w * ry, minlength=n) / tot
    flat = has & ~(np.abs(tot) > 0)
    if flat.any():  # no area: the mean of the vertices
        cnt = np.bincount(v_bld, minlength=n)
        mx = np.bincount(v_bld, weights=x - bx[v_bld], minlength=n) / np.maximum(cnt, 1)
        my = np.bincount(v_bld, weights=y - by[v_bld], minlength=n) / np.maximum(cnt, 1)
        cx[flat], cy[flat] = mx[flat], my[flat]
    cx, cy = bx + cx, by + cy
    area[has] = tot[has]
    for code in codes:
        m = has & (epsg == code)
        out_lon[m], out_lat[m] = _utm_transformer(int(code)).transform(cx[m], cy[m], direction="INVERSE")
    return area, out_lon, out_lat


def polygon_footprints(geoms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`footprints` of (multi)polygons in EPSG:4326 (NaN for empty or non-polygonal ones)."""
    geoms = np.asarray(geoms, dtype=object)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (3,))  # polygons
    parts, part_of = parts[keep], part_of[keep]
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    counts = shapely.get_num_coordinates(rings)
    keep = counts > 0
    rings, ring_part, counts = rings[keep], ring_part[keep], counts[keep]
    coords = shapely.get_coordinates(rings)
    ring_start = (np.cumsum(counts) - counts).astype(np.int64)
    ring_outer = np.r_[True, ring_part[1:] != ring_part[:-1]] if len(ring_part) else np.zeros(0, dtype=bool)
    return footprints(coords[:, 0], coords[:, 1], ring_start, ring_outer, part_of[ring_part], len(geoms))


class _BuildingCollector:
    """Buildings read from pyosmium areas, kept as compact columns while streaming.

    The vertices of the rings of a chunk of buildings are buffered in osmium's own fixed-point
    coordinates (int32, 1e-7 degree), then reduced by :func:`footprints` to an area and a point;
    tag values are interned (one string object, and an int32 code per building, per distinct value).
    """

    def __init__(self, chunk: int = _FOOTPRINT_CHUNK) -> None:
        self.chunk = chunk
        self.kind = array("b")  # 0 way, 1 relation
        self.osm_id = array("q")
        self.codes = [array("i") for _ in BUILDING_TAGS]
        self.values: list[dict] = [{None: 0} for _ in BUILDING_TAGS]
        self.area, self.lon, self.lat = array("d"), array("d"), array("d")
        self._new_chunk()

    def _new_chunk(self) -> None:
        self.vx, self.vy = array("i"), array("i")
        self.ring_start, self.ring_outer, self.ring_bld = array("q"), array("b"), array("q")
        self.in_chunk = 0

    def _ring(self, ring, outer: int) -> None:
        locs = [n.location for n in ring]
        self.ring_start.append(len(self.vx))
        self.ring_outer.append(outer)
        self.ring_bld.append(self.in_chunk)
        self.vx.extend([loc.x for loc in locs])
        self.vy.extend([loc.y for loc in locs])

    def add(self, area, kind: int, osm_id: int, tags) -> bool:
        """Add one pyosmium area; False (nothing added) when it has no rings."""
        n_outer, n_inner = area.num_rings()
        if n_outer == 0:
            return False
        if n_outer == 1 and n_inner == 0:
            self._ring(next(area.outer_rings()), 1)
        else:
            for outer in area.outer_rings():
                self._ring(outer, 1)
                for inner in area.inner_rings(outer):
                    self._ring(inner, 0)
        self.in_chunk += 1
        self.kind.append(kind)
        self.osm_id.append(osm_id)
        for key, codes, table in zip(BUILDING_TAGS, self.codes, self.values):
            value = tags.get(key)
            code = table.get(value)
            if code is None:
                code = table[value] = len(table)
            codes.append(code)
        if len(self.vx) >= self.chunk:
            self.flush()
        return True

    def flush(self) -> None:
        if self.in_chunk == 0:
            return
        lon = np.frombuffer(self.vx, dtype=np.int32) / 1e7  # exactly osmium's Location.lon
        lat = np.frombuffer(self.vy, dtype=np.int32) / 1e7
        area, plon, plat = footprints(
            lon,
            lat,
            np.frombuffer(self.ring_start, dtype=np.int64),
            np.frombuffer(self.ring_outer, dtype=np.int8).astype(bool),
            np.frombuffer(self.ring_bld, dtype=np.int64),
            self.in_chunk,
        )
        del lon, lat
        self.area.frombytes(area.tobytes())
        self.lon.frombytes(plon.tobytes())
        self.lat.frombytes(plat.tobytes())
        self._new_chunk()

    def frame(self) -> gpd.GeoDataFrame:
        """The buildings table; the collector's buffers are released column by column, so the peak
        is the table plus one column of temporaries."""
        self.flush()
        points = _points(
            np.frombuffer(self._take("lon"), dtype=np.float64), np.frombuffer(self._take("lat"), dtype=np.float64)
        )
        kinds = np.array(["way", "relation"], dtype=object)
        columns = {
            "osm_type": _str_column(kinds[np.frombuffer(self._take("kind"), dtype=np.int8)]),
            "osm_id": np.frombuffer(self._take("osm_id"), dtype=np.int64).copy(),
        }
        codes, tables = self.codes, self.values
        self.codes, self.values = [], []
        for key in BUILDING_TAGS:
            table = tables.pop(0)
            values = np.empty(len(table), dtype=object)
            values[list(table.values())] = list(table.keys())
            columns[key] = _str_column(values[np.frombuffer(codes.pop(0), dtype=np.int32)])
        columns["footprint_m2"] = np.frombuffer(self._take("area"), dtype=np.float64).copy()
        return _geo_frame(columns, points)

    def _take(self, name: str) -> array:
        buf = getattr(self, name)
        setattr(self, name, array(buf.typecode))
        return buf
