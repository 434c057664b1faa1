"""Read an area from OpenStreetMap data: files, GraphML networks or (online) place names.

Every reader returns an :class:`OSMExtract`, the one type the rest of urbankit consumes: the street
ways (tags and ordered node coordinates), the tagged features that can become destinations, and the
building footprints.

OSM files (``.osm``, ``.osm.bz2``, ``.osm.pbf``) are streamed through pyosmium in one pass: only
ways with a ``highway`` tag keep their node coordinates, only tagged features and buildings keep
geometries, so memory grows with the street network, not with the file.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import tempfile
from array import array
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._errors import CorruptFileError, CRSError, InputFileError, UnsupportedFormatError

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

#: Tags kept for building footprints.
BUILDING_TAGS = ("building", "building:levels", "building:min_level", "height", "roof:levels")


@dataclass(frozen=True, repr=False)
class OSMExtract:
    """The OpenStreetMap content of one area, as read from a file or downloaded.

    Attributes
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
        Building footprints, EPSG:4326: ``osm_type``, ``osm_id`` and the tags of
        :data:`BUILDING_TAGS`.
    source : str
        Where the data came from (path or query).
    sha256 : str
        Content hash of the input, used as cache key.
    crs : str
        CRS of the coordinates (always ``"EPSG:4326"``).
    missing_node_refs : int
        Node references of street ways whose node is absent from the file (clipped extracts).
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
    """

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.way, self.node = array("q"), array("q")
        self.lon, self.lat = array("d"), array("d")
        self.missing = 0

    def add_run(self, way_id: int, row: tuple, ids, lon, lat) -> None:
        if len(ids) < 2:
            return
        self.way.extend([len(self.rows)] * len(ids))
        self.rows.append((way_id,) + row)
        self.node.extend(ids)
        self.lon.extend(lon)
        self.lat.extend(lat)

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
    return gpd.GeoDataFrame(pd.DataFrame(columns=("osm_type", "osm_id") + BUILDING_TAGS), geometry=[], crs="EPSG:4326")


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

    Raises
    ------
    InputFileError
        The file is missing or unreadable.
    UnsupportedFormatError
        The extension is not an OSM one.
    CorruptFileError
        The file is empty, truncated, corrupt or not OSM. (A file without streets reads; building
        a network from it raises :class:`~urbankit.NoStreetsError`.)

    Examples
    --------
    >>> import urbankit as uk
    >>> ex = uk.read_osm(uk.datasets.get_path("monaco"))
    >>> len(ex.ways) > 1000
    True
    """
    path = _check_file(path, OSM_SUFFIXES)
    try:
        extract = _parse_osm(path, path, poi_keys=poi_keys, buildings=buildings)
    except _UnsortedInput:
        logger.warning(
            "%s is not sorted by type and id (typical of editor or API exports); "
            "sorting a temporary copy in memory before reading it.",
            path.name,
        )
        with tempfile.TemporaryDirectory(prefix="urbankit-") as tmp:
            sorted_path = _sorted_copy(path, Path(tmp) / "sorted.osm.pbf")
            extract = _parse_osm(sorted_path, path, poi_keys=poi_keys, buildings=buildings)
    logger.info("read %s", extract)
    return extract


class _UnsortedInput(Exception):
    pass


def _sorted_copy(path: Path, out: Path) -> Path:
    """Write a copy of an unsorted OSM file sorted by type and id (needed for area assembly)."""
    import osmium
    from osmium.osm import mutable

    nodes, ways, rels = [], [], []
    try:
        for o in osmium.FileProcessor(str(path)):
            if o.is_node():
                loc = (o.location.lon, o.location.lat) if o.location.valid() else None
                nodes.append(mutable.Node(id=o.id, location=loc, tags=dict(o.tags)))
            elif o.is_way():
                ways.append(mutable.Way(id=o.id, nodes=[n.ref for n in o.nodes], tags=dict(o.tags)))
            elif o.is_relation():
                members = [(m.type, m.ref, m.role) for m in o.members]
                rels.append(mutable.Relation(id=o.id, members=members, tags=dict(o.tags)))
    except (RuntimeError, UnicodeDecodeError) as exc:
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


def _parse_osm(path: Path, source: Path, *, poi_keys, buildings: bool) -> OSMExtract:
    import osmium

    poi_keys = tuple(poi_keys) if poi_keys is not None else DEFAULT_POI_KEYS
    poi_keyset = set(poi_keys)
    area_keys = tuple(sorted(poi_keyset | ({"building"} if buildings else set())))
    keep_keys = tuple(sorted(poi_keyset | {"highway"} | ({"building"} if buildings else set())))

    wkb = osmium.geom.WKBFactory()
    streets = StreetCollector()
    feat_rows: list[tuple] = []
    feat_geom: list[str] = []
    bld_rows: list[tuple] = []
    bld_geom: list[str] = []
    n_objects = 0

    processor = (
        osmium.FileProcessor(str(path))
        .with_locations()
        .with_areas(osmium.filter.KeyFilter(*area_keys))
        .with_filter(osmium.filter.KeyFilter(*keep_keys))
    )
    try:
        for obj in processor:
            n_objects += 1
            tags = obj.tags
            if obj.is_node():
                if any(k in tags for k in poi_keys):
                    feat_rows.append(("node", obj.id, tags.get("name"), dict(tags)))
                    feat_geom.append(wkb.create_point(obj))
            elif obj.is_way():
                if is_street(tags):
                    row = tuple(tags.get(k) for k in STREET_TAGS)
                    run_ids, run_lon, run_lat = [], [], []
                    for nref in obj.nodes:
                        loc = nref.location
                        if loc.valid():
                            run_ids.append(nref.ref)
                            run_lon.append(loc.lon)
                            run_lat.append(loc.lat)
                            continue
                        streets.missing += 1
                        streets.add_run(obj.id, row, run_ids, run_lon, run_lat)
                        run_ids, run_lon, run_lat = [], [], []
                    streets.add_run(obj.id, row, run_ids, run_lon, run_lat)
                # open ways (and closed ones that are explicitly not areas) become line features
                # when they carry a destination key other than highway (e.g. bus platforms)
                if (not obj.is_closed() or tags.get("area") == "no") and any(
                    k in tags for k in poi_keys if k != "highway"
                ):
                    try:
                        feat_geom.append(wkb.create_linestring(obj))
                    except (RuntimeError, osmium.InvalidLocationError):
                        continue
                    feat_rows.append(("way", obj.id, tags.get("name"), dict(tags)))
            elif obj.is_area():
                osm_type = "way" if obj.from_way() else "relation"
                is_poi = any(k in tags for k in poi_keys) and not (
                    "highway" in tags and not any(k in tags for k in poi_keys if k != "highway")
                )
                is_bld = buildings and tags.get("building", "no") != "no"
                if not (is_poi or is_bld):
                    continue
                try:
                    geom = wkb.create_multipolygon(obj)
                except (RuntimeError, osmium.InvalidLocationError):
                    continue
                if is_poi:
                    feat_rows.append((osm_type, obj.orig_id(), tags.get("name"), dict(tags)))
                    feat_geom.append(geom)
                if is_bld:
                    bld_rows.append((osm_type, obj.orig_id()) + tuple(tags.get(k) for k in BUILDING_TAGS))
                    bld_geom.append(geom)
    except (RuntimeError, UnicodeDecodeError) as exc:
        if "out of order" in str(exc):
            raise _UnsortedInput(str(exc)) from exc
        raise _corrupt(source, exc) from exc

    if n_objects == 0:
        raise CorruptFileError(
            f"{str(source)!r} holds no OSM objects with street, destination or building tags; "
            "is it an OSM extract of the right area?"
        )
    missing = streets.missing
    if missing:
        logger.warning(
            "%s: %d node references of street ways point to nodes absent from the file "
            "(clipped extract); ways were cut at the missing nodes.",
            source.name,
            missing,
        )

    ways, way_nodes = streets.frames()
    features = gpd.GeoDataFrame(
        pd.DataFrame(feat_rows, columns=["osm_type", "osm_id", "name", "tags"]),
        geometry=shapely.from_wkb(feat_geom) if feat_geom else [],
        crs="EPSG:4326",
    )
    bld = gpd.GeoDataFrame(
        pd.DataFrame(bld_rows, columns=("osm_type", "osm_id") + BUILDING_TAGS),
        geometry=shapely.from_wkb(bld_geom) if bld_geom else [],
        crs="EPSG:4326",
    )
    return OSMExtract(
        ways=ways,
        way_nodes=way_nodes,
        features=features,
        buildings=bld,
        source=str(source),
        sha256=file_sha256(source),
        missing_node_refs=missing,
        meta={"poi_keys": poi_keys},
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


def extract_from_graph(graph, *, source: str, sha256: str) -> OSMExtract:
    """Turn an osmnx ``MultiDiGraph`` into an :class:`OSMExtract`.

    Every directed edge becomes a one-way "way" from ``u`` to ``v`` whose interior vertices are
    anonymous (negative ids, used once), so the networks built from it keep exactly the graph's
    nodes and edges. The graph may be in any CRS; coordinates are converted to EPSG:4326.
    """
    import osmnx as ox
    from pyproj import CRS, Transformer

    crs = graph.graph.get("crs")
    if crs is None:
        raise CRSError(f"graph from {source!r} has no 'crs' graph attribute; save it with osmnx.")
    nodes, edges = ox.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    if len(edges) == 0:
        raise CorruptFileError(f"graph from {source!r} has no edges; export a street network.")
    to_wgs = None
    if not CRS.from_user_input(crs).is_geographic:
        to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    edges = edges.reset_index()
    coords, offsets = shapely.get_coordinates(edges.geometry.values), shapely.get_num_coordinates(
        edges.geometry.values
    )
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
    return OSMExtract(
        ways=ways,
        way_nodes=way_nodes,
        features=empty_features(),
        buildings=empty_buildings(),
        source=source,
        sha256=sha256,
        meta={"from_graph": True, "graph_crs": str(crs)},
    )


def read_graphml(path: str | Path) -> OSMExtract:
    """Read a street network saved by osmnx (``osmnx.save_graphml``) or a peer such as superblockify.

    The graph's edges are kept as they are (directions included); destinations and buildings are
    empty, since a GraphML network carries none.

    Raises
    ------
    InputFileError, UnsupportedFormatError, CorruptFileError
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
    return extract_from_graph(graph, source=str(path), sha256=file_sha256(path))


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
