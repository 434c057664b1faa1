"""Read an area from OpenStreetMap data: files, GraphML networks or (online) place names.

Every reader returns an :class:`OSMExtract`, the one type the rest of urbankit consumes: the street
ways (tags and ordered node coordinates), the tagged features that can become destinations, and the
building footprints.

OSM files (``.osm``, ``.osm.bz2``, ``.osm.pbf``) are streamed through pyosmium (one pass over the
relations for multipolygon assembly, one over everything): only ways with a ``highway`` tag keep
their node coordinates, only tagged features keep geometries, and each building is reduced while
streaming to one point and its footprint area, so memory grows with the street network and the
number of buildings, not with the number of nodes in the file. The node-location index pyosmium
needs to place way nodes is the one sizeable structure that grows with the file (16 bytes per node,
see :data:`NODE_LOCATION_INDEX`).

References to nodes absent from the file cost nothing but a count: ways are cut there while
streaming. What is kept is charged against the memory budget as it grows (see :class:`MemoryGuard`
and ``urbankit.settings.memory_limit_gb``), so a file whose content would not fit raises
:class:`~urbankit.MemoryBudgetError` naming the file instead of exhausting the machine.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import logging
import math
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from ._errors import (
    CorruptFileError,
    CRSError,
    InputFileError,
    MemoryBudgetError,
    UnsupportedFormatError,
    UrbankitError,
)

logger = logging.getLogger(__name__)

OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf", ".xml", ".osm.xml")
GRAPHML_SUFFIXES = (".graphml",)

#: Way tags kept for the street network (everything the mode filters and speeds read).
STREET_TAGS = (
    "highway",
    "name",
    "oneway",
    "junction",
    "access",
    "foot",
    "bicycle",
    "motor_vehicle",
    "motorcar",
    "vehicle",
    "maxspeed",
    "area",
    "service",
    "footway",
    "sidewalk",
    "cycleway",
    "oneway:bicycle",
    "lanes",
    "width",
)

#: Keys whose presence makes an OSM object a candidate destination.
DEFAULT_POI_KEYS = (
    "amenity",
    "shop",
    "leisure",
    "healthcare",
    "public_transport",
    "office",
    "tourism",
    "craft",
    "railway",
    "highway",
    "sport",
    "landuse",
    "historic",
    "club",
)

#: Tags kept for building footprints (``building:use``, ``shop``, ``amenity`` and ``office`` on the
#: building itself tell the population estimate whether its ground floor or all of it is not homes).
BUILDING_TAGS = (
    "building",
    "building:levels",
    "building:min_level",
    "height",
    "roof:levels",
    "building:use",
    "shop",
    "amenity",
    "office",
)

#: ``boundary=*`` values whose areas with a ``population`` tag are kept (with any ``place=*`` area
#: carrying one) in ``OSMExtract.meta["population_areas"]``: known totals to calibrate estimates on.
POPULATION_BOUNDARIES = ("administrative", "land_area", "census", "statistical", "political")

#: Columns of :attr:`OSMExtract.buildings` besides the geometry, in order.
BUILDING_COLUMNS = ("osm_type", "osm_id") + BUILDING_TAGS + ("footprint_m2",)

#: pyosmium node-location index used to place the nodes of ways, in order of preference. Sparse
#: indexes cost 16 bytes per node of the file whatever the node ids (real ids reach ~1.3e10, which
#: rules out the dense arrays: 8 bytes x the largest id); the mmap-backed one grows without the copy
#: (and the doubled peak) of the in-memory vector behind ``flex_mem``/``sparse_mem_array``.
NODE_LOCATION_INDEX = ("sparse_mmap_array", "sparse_mem_array")

#: Ring vertices buffered before the footprints read so far are reduced to points and areas; bounds
#: the ring buffers (8 bytes a vertex) and the float temporaries of the reduction (~100 bytes a vertex).
_FOOTPRINT_CHUNK = 1 << 18

#: Peak bytes per kept street-way node while reading: node id, lon, lat and way row in compact
#: arrays (28), their copy into the ``way_nodes`` frame (28), and pyosmium's own reference (16).
BYTES_PER_WAY_NODE = 72
#: Peak bytes per street way row (its tag tuple and its row of the ``ways`` frame).
BYTES_PER_WAY_ROW = 400
#: Peak bytes per destination feature besides its geometry (tag dict, row, Python objects).
BYTES_PER_FEATURE = 1200
#: Peak bytes per building (compact columns, their frame and a shapely point).
BYTES_PER_BUILDING = 300
#: Peak bytes per node id kept by the duplicate-node check of XML files (id array and its sort).
BYTES_PER_CHECKED_NODE = 32


def memory_budget_bytes() -> float:
    """Memory one step of urbankit may use: ``settings.memory_limit_gb``, or else what the machine
    reports as available right now (infinite when that cannot be known)."""
    if settings.memory_limit_gb is not None:
        return float(settings.memory_limit_gb) * 1e9
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unsupported platform: no guard
        return float("inf")


def format_bytes(n: float) -> str:
    """``n`` bytes as "1.2 GB" or "3.4 MB"."""
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


class MemoryGuard:
    """Running estimate of the memory a step keeps, checked against the budget before it grows.

    Parameters
    ----------
    what : str
        The step, as it reads in a message (``"reading 'x.osm.pbf'"``).
    fix : str
        What the user can do when the budget is exceeded.
    budget_bytes : float, optional
        Default :func:`memory_budget_bytes` at creation.
    """

    def __init__(self, what: str, fix: str, *, budget_bytes: float | None = None) -> None:
        self.what, self.fix = what, fix
        self.budget = memory_budget_bytes() if budget_bytes is None else float(budget_bytes)
        self.used = 0.0

    def charge(self, nbytes: float, detail: str = "") -> None:
        """Add ``nbytes`` to the estimate; :class:`~urbankit.MemoryBudgetError` if it exceeds the budget.

        Call it before allocating: nothing has been allocated for the request when it raises.
        """
        self.check(nbytes, detail)
        self.used += nbytes

    def check(self, nbytes: float, detail: str = "") -> None:
        """Raise :class:`~urbankit.MemoryBudgetError` if ``nbytes`` more would exceed the budget (the
        estimate is not changed: for temporaries, and for worst cases charged later by what is kept)."""
        need = self.used + nbytes
        if need > self.budget:
            raise MemoryBudgetError(
                f"{self.what} would need about {format_bytes(need)}{f' ({detail})' if detail else ''}, "
                f"more than the {format_bytes(self.budget)} available; {self.fix} "
                "(or raise urbankit.settings.memory_limit_gb if the machine has more memory)."
            )


@dataclass(frozen=True, repr=False)
class OSMExtract:
    """The OpenStreetMap content of one area, as read from a file or downloaded.

    Built by :func:`read_osm`, :func:`read_graphml` or the online readers; the constructor's parameters
    are the dataclass fields, kept as attributes of the same names.

    Parameters
    ----------
    ways : pandas.DataFrame
        One row per street way (or per contiguous part of a way whose nodes are partly missing),
        indexed ``0..n-1``, with column ``way_id`` (the OSM id) and one column per tag in
        :data:`STREET_TAGS` (``None`` where absent).
    way_nodes : pandas.DataFrame
        The ordered nodes of every way: ``way`` (row of ``ways``), ``node_id``, ``lon``, ``lat``.
        Rows of one way are contiguous and in drawing order.
    features : geopandas.GeoDataFrame
        Tagged objects that may be destinations, EPSG:4326: ``osm_type`` (node/way/relation),
        ``osm_id``, ``name``, ``tags`` (dict of all tags), geometry (point, line or (multi)polygon).
    buildings : geopandas.GeoDataFrame
        One row per building (closed way or multipolygon relation with ``building`` not ``no``),
        EPSG:4326, columns :data:`BUILDING_COLUMNS`: ``osm_type`` (way/relation), ``osm_id``, the
        tags of :data:`BUILDING_TAGS` (missing where absent), ``footprint_m2`` (footprint area in
        m², outer rings minus inner rings, measured in the UTM zone of the building) and a **point**
        geometry: the centroid of the footprint (area-weighted over its rings, so it may fall
        outside an L-shaped or multi-part footprint). Footprint polygons are not kept: they would
        cost ~1 kB a building; use ``footprint_m2`` for areas.
    source : str
        Where the data came from (path or query).
    sha256 : str
        Content hash of the input, used as cache key.
    crs : str, default "EPSG:4326"
        CRS of the coordinates (always ``"EPSG:4326"``).
    missing_node_refs : int, default 0
        Node references of street ways whose node is absent from the file (clipped extracts).
    meta : dict, optional
        What the reader adds: from an OSM file ``poi_keys`` (the keys read as destinations) and
        ``population_areas`` (boundaries carrying a population tag); from a GraphML graph
        ``from_graph``, ``graph_crs`` and, when the graph has them, ``node_population`` points.
    """

    ways: pd.DataFrame
    way_nodes: pd.DataFrame
    features: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    source: str
    sha256: str
    crs: str = "EPSG:4326"
    missing_node_refs: int = 0
    meta: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"OSMExtract(source={self.source!r}, street_ways={len(self.ways)}, "
            f"way_nodes={len(self.way_nodes)}, features={len(self.features)}, "
            f"buildings={len(self.buildings)})"
        )

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in degrees of the street nodes."""
        wn = self.way_nodes
        return (wn.lon.min(), wn.lat.min(), wn.lon.max(), wn.lat.max())


def is_street(tags) -> bool:
    """Whether an OSM object's tags make it a street way (pedestrian areas count by their outline)."""
    return "highway" in tags and (tags.get("area") != "yes" or tags["highway"] == "pedestrian")


class StreetCollector:
    """Accumulates street ways and their node runs in compact arrays (used by every OSM reader).

    A way is cut where a node is missing (clipped extracts); runs of fewer than two nodes are dropped.
    References to missing nodes are only counted (:attr:`missing`), never stored.
    """

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.way, self.node = array("q"), array("q")
        self.lon, self.lat = array("d"), array("d")
        self.missing = 0

    def add_run(self, way_id: int, row: tuple, ids, lon, lat) -> None:
        if len(ids) < 2:
            return
        self.way.extend(array("q", [len(self.rows)]) * len(ids))
        self.rows.append((way_id,) + row)
        self.node.extend(ids)
        self.lon.extend(lon)
        self.lat.extend(lat)

    def add_way(self, way_id: int, row: tuple, nodes) -> None:
        """Add the runs of a pyosmium way's node list (located nodes; the way is cut at the others).

        Each node reference is read once into compact arrays (8 bytes a value), so no Python object
        outlives its reference, and a reference to an absent node costs a count.
        """
        ids, lon, lat = array("q"), array("d"), array("d")
        missing = 0
        for nref in nodes:
            loc = nref.location
            if loc.valid():
                ids.append(nref.ref)
                lon.append(loc.lon)
                lat.append(loc.lat)
            else:
                missing += 1
                if ids:
                    self.add_run(way_id, row, ids, lon, lat)
                    ids, lon, lat = array("q"), array("d"), array("d")
        self.missing += missing
        self.add_run(way_id, row, ids, lon, lat)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The ``ways`` (absent tags are None) and ``way_nodes`` frames of an :class:`OSMExtract`."""
        ways = pd.DataFrame(self.rows, columns=("way_id",) + STREET_TAGS)
        tags = list(STREET_TAGS)
        ways[tags] = ways[tags].astype(object).where(ways[tags].notna(), None)
        way_nodes = pd.DataFrame(
            {
                "way": np.frombuffer(self.way, dtype=np.int64).astype(np.int32),
                "node_id": np.frombuffer(self.node, dtype=np.int64),
                "lon": np.frombuffer(self.lon, dtype=np.float64),
                "lat": np.frombuffer(self.lat, dtype=np.float64),
            }
        )
        return ways, way_nodes


def empty_features() -> gpd.GeoDataFrame:
    """A features table with no rows (the columns of :attr:`OSMExtract.features`)."""
    return gpd.GeoDataFrame(pd.DataFrame(columns=["osm_type", "osm_id", "name", "tags"]), geometry=[], crs="EPSG:4326")


def empty_buildings() -> gpd.GeoDataFrame:
    """A buildings table with no rows (the columns of :attr:`OSMExtract.buildings`)."""
    return building_frame([], [], {}, [], [], [])


def building_frame(osm_type, osm_id, tags: dict, footprint_m2, lon, lat) -> gpd.GeoDataFrame:
    """The :attr:`OSMExtract.buildings` table from its columns (``tags``: key -> values, absent
    keys of :data:`BUILDING_TAGS` are all missing); points at ``lon``, ``lat``."""
    n = len(osm_id)
    columns = {"osm_type": _str_column(osm_type), "osm_id": np.asarray(osm_id, dtype=np.int64)}
    for key in BUILDING_TAGS:
        columns[key] = _str_column(tags[key] if key in tags else np.full(n, None))
    columns["footprint_m2"] = np.asarray(footprint_m2, dtype=np.float64)
    return _geo_frame(columns, _points(lon, lat))


def _str_column(values) -> pd.Series:
    """Strings as pandas' ``str`` dtype (missing values: None in, NaN out), like ``pd.DataFrame(rows)``."""
    return pd.Series(np.asarray(values, dtype=object), dtype="str")


def _points(lon, lat):
    return gpd.points_from_xy(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))


def _geo_frame(columns: dict, points) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(columns, copy=False)
    columns.clear()
    return gpd.GeoDataFrame(frame, geometry=points, crs="EPSG:4326")


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


def file_sha256(path: str | Path, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_file(path: str | Path, suffixes: tuple[str, ...]) -> Path:
    path = Path(path)
    name = path.name.lower()
    if not any(name.endswith(s) for s in suffixes):
        raise UnsupportedFormatError(
            f"{str(path)!r} has an unsupported extension; urbankit reads OSM files "
            f"({', '.join(OSM_SUFFIXES)}) and osmnx GraphML files (.graphml). Convert other "
            "formats first, e.g. with `osmium cat in.o5m -o out.osm.pbf`."
        )
    if not path.exists():
        raise InputFileError(f"input file {str(path)!r} does not exist; check the path.")
    if not path.is_file():
        raise InputFileError(f"input {str(path)!r} is not a file; give the path of an OSM file.")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise InputFileError(f"cannot read {str(path)!r}: {exc.strerror}; check its permissions.") from exc
    if size == 0:
        raise CorruptFileError(f"{str(path)!r} is empty (0 bytes); re-download or re-export the extract.")
    return path


def read_osm(
    path: str | Path,
    *,
    poi_keys: tuple[str, ...] | None = None,
    buildings: bool = True,
) -> OSMExtract:
    """Read an OSM file (``.osm``, ``.osm.bz2``, ``.osm.pbf``) fully offline.

    Parameters
    ----------
    path : str or pathlib.Path
        The OSM file.
    poi_keys : tuple of str, optional
        Tag keys that make an object a candidate destination. Default :data:`DEFAULT_POI_KEYS`,
        which covers the packaged taxonomy.
    buildings : bool, default True
        Also read building footprints (used for population estimates).

    Returns
    -------
    OSMExtract
        With ``settings.use_cache`` (default) what was read is kept in ``settings.cache_folder``
        (data only, see :mod:`urbankit._readcache`), keyed by the file's content, the options and
        urbankit's code: reading the same content again loads it instead of parsing the file.

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    UnsupportedFormatError
        The extension is not an OSM one.
    CorruptFileError
        The file is empty, truncated, corrupt or not OSM, or (XML files) holds a node id twice. (A file
        without streets reads; building a network from it raises :class:`~urbankit.NoStreetsError`.)

    Examples
    --------
    >>> import urbankit as uk
    >>> ex = uk.read_osm(uk.datasets.get_path("monaco"))
    >>> len(ex.ways) > 1000
    True
    """
    path = _check_file(path, OSM_SUFFIXES)
    from . import _readcache

    # an earlier read of the same content with the same options (urbankit._readcache: data only, hash checked)
    sha256 = file_sha256(path) if settings.use_cache else None
    if sha256 is not None:
        cached = _readcache.load_extract(sha256, path, poi_keys=poi_keys, buildings=buildings, guard=_read_guard(path))
        if cached is not None:
            return cached
    if not path.name.lower().endswith(".pbf"):
        _check_duplicate_nodes(path)
    try:
        extract = _parse_osm(path, path, poi_keys=poi_keys, buildings=buildings)
    except _UnsortedInput:
        logger.info(
            "%s is not sorted by type and id (typical of editor or API exports); "
            "sorting a temporary copy in memory before reading it.",
            path.name,
        )
        with tempfile.TemporaryDirectory(prefix="urbankit-") as tmp:
            sorted_path = _sorted_copy(path, Path(tmp) / "sorted.osm.pbf")
            extract = _parse_osm(sorted_path, path, poi_keys=poi_keys, buildings=buildings)
    logger.info("read %s", extract)
    if sha256 is not None and extract.sha256 == sha256:  # (not when the file changed while it was read)
        _readcache.store_extract(extract, poi_keys=poi_keys, buildings=buildings)
    return extract


def _check_duplicate_nodes(path: Path) -> None:
    """Refuse an XML file that holds a node id twice (a history file, or extracts concatenated).

    The location index would keep one of the two positions silently. Only XML files are checked
    (one quick pass over their nodes); PBF extracts come from tools that write each object once.
    """
    import osmium

    ids = array("q")
    guard = _read_guard(path)
    step = 1 << 20
    try:
        for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
            ids.append(node.id)
            if len(ids) % step == 0:
                guard.charge(step * BYTES_PER_CHECKED_NODE, f"{len(ids):,} node ids checked for duplicates")
    except (RuntimeError, UnicodeDecodeError, ValueError, osmium.InvalidLocationError) as exc:
        raise _corrupt(path, exc) from exc
    values, counts = np.unique(np.frombuffer(ids, dtype=np.int64), return_counts=True)
    twice = values[counts > 1]
    if len(twice):
        raise CorruptFileError(
            f"{str(path)!r} holds {len(twice)} node id(s) twice (e.g. {twice[:3].tolist()}): a history file or "
            "extracts concatenated? Keep one version of each object, e.g. `osmium merge` the extracts or "
            "`osmium time-filter` a history file, then read the result."
        )


class _UnsortedInput(Exception):
    pass


#: Bytes per object, tag and way-node reference held in Python while sorting a copy of a file.
_BYTES_PER_SORTED_OBJECT = 400
_BYTES_PER_SORTED_TAG = 250
_BYTES_PER_SORTED_REF = 40


def _sorted_copy(path: Path, out: Path) -> Path:
    """Write a copy of an unsorted OSM file sorted by type and id (needed for area assembly)."""
    import osmium
    from osmium.osm import mutable

    nodes, ways, rels = [], [], []
    guard = MemoryGuard(
        f"sorting an unsorted copy of {str(path)!r} in memory",
        "sort the file first with `osmium sort in.osm -o sorted.osm.pbf` and read the result",
    )
    try:
        for o in osmium.FileProcessor(str(path)):
            if o.is_node():
                guard.charge(_BYTES_PER_SORTED_OBJECT + _BYTES_PER_SORTED_TAG * len(o.tags))
                loc = (o.location.lon, o.location.lat) if o.location.valid() else None
                nodes.append(mutable.Node(id=o.id, location=loc, tags=dict(o.tags)))
            elif o.is_way():
                guard.charge(
                    _BYTES_PER_SORTED_OBJECT
                    + _BYTES_PER_SORTED_TAG * len(o.tags)
                    + _BYTES_PER_SORTED_REF * len(o.nodes),
                    f"way {o.id} references {len(o.nodes):,} nodes",
                )
                ways.append(mutable.Way(id=o.id, nodes=array("q", [n.ref for n in o.nodes]), tags=dict(o.tags)))
            elif o.is_relation():
                guard.charge(_BYTES_PER_SORTED_OBJECT + _BYTES_PER_SORTED_TAG * len(o.tags))
                members = [(m.type, m.ref, m.role) for m in o.members]
                guard.charge(_BYTES_PER_SORTED_REF * 4 * len(members))
                rels.append(mutable.Relation(id=o.id, members=members, tags=dict(o.tags)))
    except (RuntimeError, UnicodeDecodeError, ValueError, osmium.InvalidLocationError) as exc:
        # pyosmium reports malformed content as RuntimeError, ValueError ("illegal id", "OSM tag
        # key is too long", bad timestamps) or InvalidLocationError (coordinates that are no numbers)
        raise _corrupt(path, exc) from exc
    writer = osmium.SimpleWriter(str(out))
    try:
        for n in sorted(nodes, key=lambda o: o.id):
            writer.add_node(n)
        for w in sorted(ways, key=lambda o: o.id):
            writer.add_way(w)
        for r in sorted(rels, key=lambda o: o.id):
            writer.add_relation(r)
    finally:
        writer.close()
    return out


def _corrupt(path: Path, exc: Exception) -> CorruptFileError:
    return CorruptFileError(
        f"cannot parse {str(path)!r} as OSM data ({exc}); the file is truncated, corrupt or not "
        "an OSM extract: re-download it or check it with `osmium fileinfo`."
    )


def _location_index() -> str:
    import osmium

    available = set(osmium.index.map_types())
    return next((name for name in NODE_LOCATION_INDEX if name in available), "flex_mem")


@functools.cache
def _handler_class():
    """The pyosmium handler of :func:`_parse_osm` (defined lazily: pyosmium is imported on use)."""
    import osmium

    class _Handler(osmium.SimpleHandler):
        """Callbacks of one read: nodes, ways and relations that passed the key filter, and the
        areas pyosmium assembles (handed over as soon as they are built, so none pile up)."""

        def __init__(self, poi_keys: tuple[str, ...], buildings: bool, guard: MemoryGuard) -> None:
            super().__init__()
            self.guard = guard
            self.poi_keys = poi_keys
            self.line_keys = tuple(k for k in poi_keys if k != "highway")
            self.with_buildings = buildings
            self.wkb = osmium.geom.WKBFactory()
            self.streets = StreetCollector()
            self.bld = _BuildingCollector()
            self.feat_rows: list[tuple] = []
            self.feat_geom: list[str | None] = []  # WKB; None for nodes (node_at/lon/lat)
            self.node_at, self.node_lon, self.node_lat = array("q"), array("d"), array("d")
            self.population_areas: list[dict] = []  # boundaries / places with a population tag
            # relations with a population tag (found by a first pass over the relations): their
            # member ways' coordinates, to rebuild boundaries that a clipped extract leaves incomplete
            self.population_relations: dict[int, dict | None] = {}
            self.member_ways: set[int] = set()
            self.member_coords: dict[int, np.ndarray] = {}
            self.strings: dict[str, str] = {}  # interned tag keys and values
            self.n_objects = 0

        def tag_dict(self, tags) -> dict:
            """All tags, each distinct key and value string stored once for the whole read."""
            strings = self.strings
            return {strings.setdefault(k, k): strings.setdefault(v, v) for k, v in tags}

        def add_feature(self, osm_type: str, osm_id: int, tags, geom) -> None:
            self.guard.charge(BYTES_PER_FEATURE + (len(geom) if geom is not None else 0), "destination features")
            d = self.tag_dict(tags)
            self.feat_rows.append((osm_type, osm_id, d.get("name"), d))
            self.feat_geom.append(geom)

        def node(self, obj) -> None:
            self.n_objects += 1
            tags = obj.tags
            if any(k in tags for k in self.poi_keys):
                loc = obj.location
                lon, lat = loc.lon, loc.lat  # osmium.InvalidLocationError if invalid, like create_point
                self.node_at.append(len(self.feat_geom))
                self.node_lon.append(lon)
                self.node_lat.append(lat)
                self.add_feature("node", obj.id, tags, None)

        def way(self, obj) -> None:
            self.n_objects += 1
            tags = obj.tags
            if obj.id in self.member_ways:
                try:
                    xy = np.array([(n.lon, n.lat) for n in obj.nodes], dtype=float)
                except osmium.InvalidLocationError:
                    xy = None
                if xy is not None and len(xy) >= 2:
                    self.guard.charge(xy.nbytes + 100, "boundary ways of areas with a population tag")
                    self.member_coords[obj.id] = xy
            if is_street(tags):
                streets, strings = self.streets, self.strings
                row = tuple(None if (v := tags.get(k)) is None else strings.setdefault(v, v) for k in STREET_TAGS)
                nodes = obj.nodes
                n_refs = len(nodes)
                # worst case first (every reference present), then what was actually kept
                self.guard.check(
                    n_refs * BYTES_PER_WAY_NODE + BYTES_PER_WAY_ROW,
                    f"street way {obj.id} alone references {n_refs:,} nodes",
                )
                n_before, rows_before = len(streets.node), len(streets.rows)
                streets.add_way(obj.id, row, nodes)
                self.guard.charge(
                    (len(streets.node) - n_before) * BYTES_PER_WAY_NODE
                    + (len(streets.rows) - rows_before) * BYTES_PER_WAY_ROW,
                    f"{len(streets.node):,} street-way nodes kept so far",
                )
            # open ways (and closed ones that are explicitly not areas) become line features
            # when they carry a destination key other than highway (e.g. bus platforms)
            if (not obj.is_closed() or tags.get("area") == "no") and any(k in tags for k in self.line_keys):
                try:
                    geom = self.wkb.create_linestring(obj)
                except (RuntimeError, osmium.InvalidLocationError):
                    return
                self.add_feature("way", obj.id, tags, geom)

        def relation(self, obj) -> None:
            self.n_objects += 1
            if obj.id in self.population_relations:
                tags = obj.tags
                self.population_relations[obj.id] = {
                    **{k: tags.get(k) for k in ("name", "population", "admin_level", "boundary", "place")},
                    "members": [m.ref for m in obj.members if m.type == "w" and m.role in ("outer", "")],
                }

        def area(self, obj) -> None:
            self.n_objects += 1
            tags = obj.tags
            is_poi = any(k in tags for k in self.poi_keys) and (
                "highway" not in tags or any(k in tags for k in self.line_keys)
            )
            is_bld = self.with_buildings and tags.get("building", "no") != "no"
            from_way = obj.from_way()
            if "population" in tags and (tags.get("boundary") in POPULATION_BOUNDARIES or "place" in tags):
                self.add_population_area(obj, from_way, tags)
            if not (is_poi or is_bld):
                return
            if is_poi:
                try:
                    geom = self.wkb.create_multipolygon(obj)
                except (RuntimeError, osmium.InvalidLocationError):
                    return  # no rings: osmium could not assemble it
                self.add_feature("way" if from_way else "relation", obj.orig_id(), tags, geom)
            if is_bld:
                self.guard.charge(BYTES_PER_BUILDING, "building footprints; pass buildings=False if not needed")
                self.bld.add(obj, 0 if from_way else 1, obj.orig_id(), tags)

        def add_population_area(self, obj, from_way: bool, tags) -> None:
            """Keep a boundary or place area with a ``population`` tag (its geometry as WKB hex)."""
            try:
                geom = self.wkb.create_multipolygon(obj)
            except (RuntimeError, osmium.InvalidLocationError):
                return  # incomplete in the extract: osmium could not assemble it
            self.guard.charge(BYTES_PER_FEATURE + len(geom), "boundaries with a population tag")
            self.population_areas.append(
                {
                    "osm_type": "way" if from_way else "relation",
                    "osm_id": int(obj.orig_id()),
                    **{k: tags.get(k) for k in ("name", "population", "admin_level", "boundary", "place")},
                    "wkb_hex": geom,
                }
            )

    return _Handler


#: Most relations with a population tag whose boundaries are rebuilt from their member ways.
_MAX_POPULATION_RELATIONS = 2000


def _population_relations(path: Path) -> dict[int, set[int]]:
    """Relation id -> outer member way ids of the boundaries/places with a ``population`` tag (a
    first pass over the relations only; a malformed file is left to the main read to report)."""
    import osmium

    out: dict[int, set[int]] = {}
    try:
        rels = osmium.FileProcessor(str(path), osmium.osm.RELATION).with_filter(osmium.filter.KeyFilter("population"))
        for r in rels:
            tags = r.tags
            if tags.get("boundary") in POPULATION_BOUNDARIES or "place" in tags:
                out[r.id] = {m.ref for m in r.members if m.type == "w" and m.role in ("outer", "")}
                if len(out) >= _MAX_POPULATION_RELATIONS:
                    break
    except (RuntimeError, ValueError, UnicodeDecodeError):
        return {}
    return out


def _rebuilt_relations(handler) -> list[dict]:
    """Boundaries with a population tag rebuilt from their outer member ways present in the file.

    Osmium assembles only complete relations; an extract often clips a boundary (a coastline way, a
    way beyond the extract). The ways present are merged into chains and the chains joined, nearest
    end to nearest end, by straight lines: ``gap_m`` (their total length, metres), ``perimeter_m``,
    ``members_found`` and ``members_total`` (outer ways) say how much of the boundary was guessed.
    Relations osmium assembled are not repeated.
    """
    from shapely.ops import linemerge

    done = {a["osm_id"] for a in handler.population_areas if a["osm_type"] == "relation"}
    out = []
    for rid, info in handler.population_relations.items():
        if info is None or rid in done:
            continue
        members = info.pop("members")
        lines = [handler.member_coords[w] for w in members if w in handler.member_coords]
        if not lines:
            continue
        merged = linemerge(shapely.MultiLineString([shapely.LineString(c) for c in lines]))
        chains = [np.asarray(g.coords) for g in getattr(merged, "geoms", [merged])]
        ring, gap_deg = _join_chains(chains)
        if len(ring) < 4:
            continue
        lat0 = float(np.mean(ring[:, 1]))
        m_per_deg = 111_320.0 * np.array([math.cos(math.radians(lat0)), 1.0])
        poly = shapely.make_valid(shapely.Polygon(ring))
        if poly.is_empty or poly.area == 0:
            continue
        perimeter = float(np.hypot(*(np.diff(ring, axis=0) * m_per_deg).T).sum())
        gap_m = float(sum(np.hypot(*(d * m_per_deg)) for d in gap_deg))
        out.append(
            {
                "osm_type": "relation",
                "osm_id": int(rid),
                **info,
                "wkb_hex": shapely.to_wkb(poly, hex=True),
                "gap_m": gap_m,
                "perimeter_m": perimeter,
                "members_total": len(members),
                "members_found": len(lines),
            }
        )
    handler.member_coords = {}
    return out


def _join_chains(chains: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """One closed ring from line chains, each joined to the nearest free end of the rest (the largest
    first); the straight joins (coordinate differences) are returned with it."""
    chains = sorted(chains, key=len, reverse=True)
    ring, rest, gaps = chains[0], chains[1:], []
    while rest:
        end = ring[-1]
        d_start = [np.hypot(*(c[0] - end)) for c in rest]
        d_end = [np.hypot(*(c[-1] - end)) for c in rest]
        i_s, i_e = int(np.argmin(d_start)), int(np.argmin(d_end))
        c = rest.pop(i_s) if d_start[i_s] <= d_end[i_e] else rest.pop(i_e)[::-1]
        if np.hypot(*(c[0] - end)) > 0:
            gaps.append(c[0] - end)
        ring = np.vstack([ring, c])
    if np.hypot(*(ring[0] - ring[-1])) > 0:
        gaps.append(ring[0] - ring[-1])
        ring = np.vstack([ring, ring[:1]])
    return ring, gaps


def _read_guard(source: Path) -> MemoryGuard:
    """The memory guard of one read of ``source``."""
    return MemoryGuard(
        f"reading {str(source)!r}",
        "read a smaller extract (cut the area with e.g. `osmium extract --bbox W,S,E,N in.osm.pbf -o out.osm.pbf`; "
        "a street way of an OSM extract has at most 2,000 nodes), or pass buildings=False or fewer poi_keys",
    )


def _parse_osm(path: Path, source: Path, *, poi_keys, buildings: bool) -> OSMExtract:
    import osmium

    poi_keys = tuple(poi_keys) if poi_keys is not None else DEFAULT_POI_KEYS
    keep_keys = tuple(sorted(set(poi_keys) | {"highway"} | ({"building", "population"} if buildings else set())))

    handler = _handler_class()(poi_keys, buildings, _read_guard(source))
    if buildings:
        relations = _population_relations(path)
        if relations:
            handler.population_relations = dict.fromkeys(relations)
            handler.member_ways = set().union(*relations.values())
            # the member ways of boundaries are tagged boundary=* or natural=coastline
            keep_keys = tuple(sorted(set(keep_keys) | {"boundary", "natural"}))
    try:
        # one key filter for the relations considered for areas, the areas handed over, and the
        # nodes and ways; the location index sees every node
        handler.apply_file(
            str(path), locations=True, idx=_location_index(), filters=[osmium.filter.KeyFilter(*keep_keys)]
        )
    except (RuntimeError, UnicodeDecodeError, ValueError, osmium.InvalidLocationError) as exc:
        # pyosmium reports malformed content as RuntimeError, ValueError ("illegal id", "OSM tag
        # key is too long", bad timestamps) or InvalidLocationError (coordinates that are no numbers)
        if "out of order" in str(exc):
            raise _UnsortedInput(str(exc)) from exc
        raise _corrupt(source, exc) from exc

    if handler.n_objects == 0:
        raise CorruptFileError(
            f"{str(source)!r} holds no OSM objects with street, destination or building tags; "
            "is it an OSM extract of the right area?"
        )
    streets = handler.streets
    missing = streets.missing
    if missing:
        logger.warning(
            "%s: %d node references of street ways point to nodes absent from the file "
            "(clipped extract); ways were cut at the missing nodes.",
            source.name,
            missing,
        )

    ways, way_nodes = streets.frames()
    handler.strings = {}
    geoms = shapely.from_wkb(handler.feat_geom) if handler.feat_geom else np.empty(0, dtype=object)
    handler.feat_geom = []
    at = np.frombuffer(handler.node_at, dtype=np.int64)
    geoms[at] = _points(
        np.frombuffer(handler.node_lon, dtype=np.float64), np.frombuffer(handler.node_lat, dtype=np.float64)
    )
    features = gpd.GeoDataFrame(
        pd.DataFrame(handler.feat_rows, columns=["osm_type", "osm_id", "name", "tags"]),
        geometry=geoms if len(geoms) else [],
        crs="EPSG:4326",
    )
    handler.feat_rows = []
    bld = handler.bld.frame()
    return OSMExtract(
        ways=ways,
        way_nodes=way_nodes,
        features=features,
        buildings=bld,
        source=str(source),
        sha256=file_sha256(source),
        missing_node_refs=missing,
        meta={"poi_keys": poi_keys, "population_areas": handler.population_areas + _rebuilt_relations(handler)},
    )


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
    from .population_sources import graph_node_population

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


def load(source, *, poi_keys: tuple[str, ...] | None = None, buildings: bool = True) -> OSMExtract:
    """Read an area from whatever the user has: the one entry point notebooks and the CLI use.

    Parameters
    ----------
    source : str, pathlib.Path, tuple, shapely geometry, GeoDataFrame or OSMExtract
        - the name of an embedded data set (``"monaco"``, ``"helsinki"``, ``"barcelona"``);
        - a path to an OSM file (``.osm``, ``.osm.bz2``, ``.osm.pbf``) or an osmnx ``.graphml``;
        - a bbox ``(west, south, east, north)`` in degrees, a polygon, or a place name such as
          ``"Kamppi, Helsinki"``: downloaded through osmnx (online, cached on disk);
        - an :class:`OSMExtract`, returned as it is.
    poi_keys, buildings
        As in :func:`read_osm`.

    Returns
    -------
    OSMExtract
    """
    import re

    from . import datasets

    if isinstance(source, OSMExtract):
        return source
    if isinstance(source, (str, Path)):
        text = str(source)
        if text in datasets.available():
            return read_osm(datasets.get_path(text), poi_keys=poi_keys, buildings=buildings)
        lower = text.lower()
        if lower.endswith(GRAPHML_SUFFIXES):
            return read_graphml(text)
        looks_like_file = re.fullmatch(r"\.[A-Za-z0-9]{1,8}", Path(text).suffix) is not None
        if isinstance(source, Path) or looks_like_file or "/" in text or Path(text).exists():
            return read_osm(text, poi_keys=poi_keys, buildings=buildings)
        from ._online import from_place

        return from_place(text, poi_keys=poi_keys, buildings=buildings)
    if isinstance(source, (tuple, list)) and len(source) == 4:
        from ._online import from_bbox

        return from_bbox(tuple(source), poi_keys=poi_keys, buildings=buildings)
    from ._online import from_polygon

    return from_polygon(source, poi_keys=poi_keys, buildings=buildings)


def area_name(source) -> str:
    """A short file-system-safe name for an area source (used in report paths)."""
    import re

    if isinstance(source, OSMExtract):
        source = source.source
    text = str(source)
    name = Path(text).name
    for suffix in sorted(OSM_SUFFIXES + GRAPHML_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_").lower() or "area"
