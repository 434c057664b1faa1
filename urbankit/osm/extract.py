"""The OSM extract: streets, destinations and buildings of an area as tables, and the tags kept."""

from __future__ import annotations

import logging
from array import array
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)




OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.gz", ".osm.pbf", ".pbf", ".xml", ".osm.xml")
GRAPHML_SUFFIXES = (".graphml",)

#: Way tags kept for the street network (everything the mode filters and speeds read, and the width,
#: lanes and parking tags of the carriageway width).
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
    # parking lanes, for the carriageway width (urbankit.environment.street_space): the current scheme
    # parking:<side>=lane|street_side|on_kerb|... with parking:<side>:orientation, and the older
    # parking:lane:<side>=parallel|diagonal|perpendicular|no|...
    "parking:both",
    "parking:left",
    "parking:right",
    "parking:both:orientation",
    "parking:left:orientation",
    "parking:right:orientation",
    "parking:lane:both",
    "parking:lane:left",
    "parking:lane:right",
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
