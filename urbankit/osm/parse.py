"""Parsing OSM files with pyosmium: the handler, boundary relations and the parse into an OSMExtract."""

from __future__ import annotations

import functools
import logging
import math
from array import array
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import (
    CorruptFileError,
)
from .buildings import _BuildingCollector
from .extract import (
    DEFAULT_POI_KEYS,
    POPULATION_BOUNDARIES,
    STREET_TAGS,
    OSMExtract,
    StreetCollector,
    _points,
    is_street,
)
from .files import _corrupt, _location_index, _UnsortedInput, file_sha256
from .limits import BYTES_PER_BUILDING, BYTES_PER_FEATURE, BYTES_PER_WAY_NODE, BYTES_PER_WAY_ROW, MemoryGuard

logger = logging.getLogger(__name__)


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
