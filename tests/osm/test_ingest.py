"""Reading OSM files and GraphML networks, checked against plain pyosmium iteration.

The expected counts are computed here with naive loops over the file (conftest.reference_read
and the helpers below), never copied from urbankit's output.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import osmium
import pandas as pd
import pytest
from conftest import OSM_FILES, existing, reference_read

import urbankit
from urbankit._errors import (
    CorruptFileError,
    InputFileError,
    NoStreetsError,
    UnsupportedFormatError,
    UrbankitError,
)

#: keys that make an object a candidate destination (restated; checked against urbankit below)
POI_KEYS = ("amenity", "shop", "leisure", "healthcare", "public_transport", "office", "tourism", "craft",
            "railway", "highway", "sport", "landuse", "historic", "club")


def test_poi_keys_restated():
    assert set(urbankit.osm.DEFAULT_POI_KEYS) == set(POI_KEYS)


# ------------------------------------------------------------------------------------------------
# street ways


def test_street_ways_match_reference(osm_path, read_extract):
    """Every street way, cut at missing nodes, with its nodes and coordinates, as pyosmium sees it."""
    ex = read_extract(osm_path)
    ref = reference_read(osm_path)
    ref_runs = [(w, run) for w in ref.ways for run in w.runs]
    assert len(ex.ways) == len(ref_runs)
    assert set(ex.ways.way_id) == {w.id for w in ref.ways if w.runs}
    assert ex.ways.index.tolist() == list(range(len(ex.ways)))
    assert len(ex.way_nodes) == sum(len(run) for _, run in ref_runs)
    # way_nodes: contiguous, in drawing order; compare as a multiset of whole runs
    wn = ex.way_nodes
    assert (np.diff(wn.way.to_numpy()) >= 0).all()
    got = Counter()
    for row, g in wn.groupby("way", sort=True):
        way_id = int(ex.ways.way_id.iloc[row])
        got[way_id, tuple(g.node_id), tuple(np.round(g.lon, 7)), tuple(np.round(g.lat, 7))] += 1
    want = Counter(
        (
            w.id,
            tuple(n for n, _, _ in run),
            tuple(round(x, 7) for _, x, _ in run),
            tuple(round(y, 7) for _, _, y in run),
        )
        for w, run in ref_runs
    )
    assert got == want
    # tags: one column per street tag, None where absent
    tags = {w.id: w.tags for w in ref.ways}
    for col in ex.ways.columns.drop("way_id"):
        values = [tags[int(w)].get(col) for w in ex.ways.way_id]
        got = [None if v is None or v != v else v for v in ex.ways[col]]  # NaN: see the xfail below
        assert got == values, col
    for key in ("highway", "oneway", "access", "maxspeed", "bicycle", "foot", "service", "junction"):
        assert key in ex.ways.columns
    # highway areas are not streets, except pedestrian areas
    for w in ex.ways.itertuples():
        assert w.area != "yes" or w.highway == "pedestrian"
    assert ex.crs == "EPSG:4326"
    lon, lat = wn.lon.to_numpy(), wn.lat.to_numpy()
    assert ex.bounds == (lon.min(), lat.min(), lon.max(), lat.max())
    assert ex.source == str(osm_path) and len(ex.sha256) == 64


def test_absent_street_tags_are_none(monaco, read_extract):
    ways = read_extract(monaco).ways
    assert not any(isinstance(v, float) for col in ways.columns.drop("way_id") for v in ways[col])


def test_highway_ways_count_directly(fixture_path, read_extract):
    """The number of highway ways, by the plainest loop over the file."""
    n_highway = n_area = 0
    for way in osmium.FileProcessor(str(fixture_path), osmium.osm.WAY):
        if "highway" in way.tags:
            n_highway += 1
            n_area += way.tags.get("area") == "yes" and way.tags["highway"] != "pedestrian"
    ex = read_extract(fixture_path)
    # a way whose nodes are all missing (clipped) has no run left
    no_run = sum(1 for w in reference_read(fixture_path).ways if not w.runs)
    assert ex.ways.way_id.nunique() == n_highway - n_area - no_run
    assert n_highway > 30


def test_missing_node_refs_helsinki(helsinki, read_extract):
    """The clipped Helsinki extract: count street-way refs to absent nodes directly."""
    present = set()
    missing = 0
    for obj in osmium.FileProcessor(str(helsinki), osmium.osm.NODE | osmium.osm.WAY):
        if obj.is_node():
            present.add(obj.id)
        elif "highway" in obj.tags and (obj.tags.get("area") != "yes" or obj.tags["highway"] == "pedestrian"):
            missing += sum(1 for n in obj.nodes if n.ref not in present)
    ex = read_extract(helsinki)
    assert missing > 100
    assert ex.missing_node_refs == missing
    assert reference_read(helsinki).missing_refs == missing


def test_complete_extract_has_no_missing_refs(monaco, read_extract):
    assert read_extract(monaco).missing_node_refs == 0


def test_unsorted_barcelona(barcelona, caplog):
    """An unsorted (editor/API style) file is sorted on the fly, and the log says so (info: nothing to fix)."""
    ids = [(o.type_str(), o.id) for o in osmium.FileProcessor(str(barcelona))]
    assert ids != sorted(ids, key=lambda t: ("nwr".index(t[0]), t[1]))  # really unsorted
    with caplog.at_level(logging.INFO, logger="urbankit.osm"):
        ex = urbankit.read_osm(barcelona)
    assert any("not sorted" in r.getMessage() for r in caplog.records)
    ref = reference_read(barcelona)
    assert len(ex.ways) == sum(len(w.runs) for w in ref.ways) > 100
    assert ex.missing_node_refs == ref.missing_refs == 0
    assert len(ex.buildings) > 100 and len(ex.features) > 10
    net = urbankit.build_network(ex, "walk", cache=False)
    assert len(net.edges) > 100


# ------------------------------------------------------------------------------------------------
# destinations and buildings


def _direct_features(path: Path):
    """(osm_type, id) of the candidate destinations and of the buildings, by plain pyosmium.

    Nodes: any POI key. Lines: open ways, and closed ones tagged area=no, with a POI key other
    than highway (e.g. a bus platform drawn as a line) and every node located. Closed ways and
    multipolygon relations: the areas pyosmium assembles, with a POI key other than highway alone.
    """
    pois, buildings = Counter(), Counter()
    located = set()
    for obj in osmium.FileProcessor(str(path)).with_locations():
        tags = dict(obj.tags)
        if obj.is_node():
            located.add(obj.id)
            if any(k in tags for k in POI_KEYS):
                pois["node", obj.id] += 1
        elif obj.is_way():
            closed = len(obj.nodes) > 1 and obj.nodes[0].ref == obj.nodes[-1].ref
            line = not closed or tags.get("area") == "no"
            if line and any(k in tags for k in POI_KEYS if k != "highway"):
                if all(n.location.valid() for n in obj.nodes) and len(obj.nodes) >= 2:
                    pois["way", obj.id] += 1
    for area in osmium.FileProcessor(str(path)).with_areas():
        if not area.is_area():
            continue
        tags = dict(area.tags)
        kind = "way" if area.from_way() else "relation"
        keys = [k for k in POI_KEYS if k in tags]
        if keys and keys != ["highway"]:
            pois[kind, area.orig_id()] += 1
        if tags.get("building", "no") != "no":
            buildings[kind, area.orig_id()] += 1
    return pois, buildings


def test_features_and_buildings_count_directly(fixture_path, read_extract):
    ex = read_extract(fixture_path)
    pois, buildings = _direct_features(fixture_path)
    got_pois = Counter(zip(ex.features.osm_type, ex.features.osm_id.astype(int)))
    got_bld = Counter(zip(ex.buildings.osm_type, ex.buildings.osm_id.astype(int)))

    def per_type(counts):
        return {kind: sum(v for (t, _), v in counts.items() if t == kind) for kind in ("node", "way", "relation")}

    assert per_type(got_pois) == per_type(pois)
    assert per_type(got_bld) == per_type(buildings)
    assert got_pois == pois
    assert got_bld == buildings
    assert len(ex.features) > 10 and len(ex.buildings) > 10
    assert ex.features.crs == ex.buildings.crs == "EPSG:4326"
    assert ex.features.geometry.notna().all() and ex.features.geometry.is_valid.mean() > 0.95
    assert set(ex.buildings.geom_type) == {"Point"}
    # names and tags as in the file
    node_feats = ex.features[ex.features.osm_type == "node"]
    assert all(isinstance(t, dict) and any(k in t for k in POI_KEYS) for t in node_feats.tags)
    assert (node_feats.name.fillna("") == [t.get("name", "") for t in node_feats.tags]).all()


def _reference_footprints(path: Path) -> dict:
    """(osm_type, id) -> (shapely polygon, area in m²) of the buildings osmium assembles.

    Independent of urbankit: osmium's WKB of each area, its area measured by GEOS after projecting
    the whole polygon with geopandas to the UTM zone geopandas estimates for the file.
    """
    import geopandas as gpd
    import shapely

    wkb = osmium.geom.WKBFactory()
    keys, blobs = [], []
    for area in osmium.FileProcessor(str(path)).with_areas():
        if area.is_area() and area.tags.get("building", "no") != "no":
            keys.append(("way" if area.from_way() else "relation", area.orig_id()))
            blobs.append(wkb.create_multipolygon(area))
    polys = gpd.GeoSeries(shapely.from_wkb(blobs), crs="EPSG:4326")
    areas = polys.to_crs(polys.estimate_utm_crs()).area.to_numpy()
    return {key: (poly, a) for key, poly, a in zip(keys, polys.values, areas, strict=True)}


@pytest.mark.parametrize("name", [n for n in OSM_FILES if n != "barcelona"])  # barcelona: unsorted
def test_buildings_are_points_with_footprint_area(name, read_extract):
    """Each building: a point at its footprint's centroid, and the footprint's area (outer - inner)."""
    import shapely

    path = existing(OSM_FILES[name])
    ex = read_extract(path)
    b = ex.buildings
    assert list(b.columns) == ["osm_type", "osm_id", *urbankit.osm.BUILDING_TAGS, "footprint_m2", "geometry"]
    assert list(b.columns[:-1]) == list(urbankit.osm.BUILDING_COLUMNS)
    assert b.crs == "EPSG:4326" and set(b.geom_type) == {"Point"}
    assert b["osm_id"].dtype == np.int64 and b["footprint_m2"].dtype == np.float64
    ref = _reference_footprints(path)
    keys = list(zip(b.osm_type, b.osm_id.astype(int)))
    assert set(keys) == set(ref) and len(keys) == len(ref) > 10
    polys = np.array([ref[k][0] for k in keys], dtype=object)
    want = np.array([ref[k][1] for k in keys])
    got = b.footprint_m2.to_numpy()
    assert (want > 0).all()
    np.testing.assert_allclose(got, want, rtol=5e-3)
    # the point is the footprint's centroid (GEOS, in degrees; urbankit computes it in metres)
    dist = shapely.distance(b.geometry.values, shapely.centroid(polys))
    assert dist.max() < 1e-6  # degrees: 0.1 m
    inside = shapely.intersects(b.geometry.values, polys)
    assert inside.mean() > 0.8  # courtyard blocks and L shapes put some centroids outside
    # tags as in the file
    tags = {}
    for way in osmium.FileProcessor(str(path), osmium.osm.WAY | osmium.osm.RELATION):
        if ("way" if way.is_way() else "relation", way.id) in ref:
            tags["way" if way.is_way() else "relation", way.id] = dict(way.tags)
    for key in urbankit.osm.BUILDING_TAGS:
        got_tags = [None if pd.isna(v) else v for v in b[key]]  # missing values are NaN (str dtype)
        assert got_tags == [tags[k].get(key) for k in keys], key


def test_footprint_area_with_courtyard_and_parts(tmp_path):
    """A relation with two outer rings, one with a hole: areas and centroid against shapely."""
    import geopandas as gpd
    import shapely
    from osmium.osm import mutable

    lon0, lat0 = 24.94, 60.17
    dlon, dlat = 1e-3, 5e-4  # ~55 x 55 m
    square = [(0, 0), (1, 0), (1, 1), (0, 1)]
    hole = [(0.25, 0.25), (0.25, 0.75), (0.75, 0.75), (0.75, 0.25)]
    far = [(3, 0), (3.5, 0), (3.5, 0.5), (3, 0.5)]
    path = tmp_path / "courtyard.osm.pbf"
    writer = osmium.SimpleWriter(str(path))
    nid, ways = 1, []
    for ring in (square, hole, far):
        ids = []
        for x, y in ring:
            writer.add_node(mutable.Node(id=nid, location=(lon0 + x * dlon, lat0 + y * dlat)))
            ids.append(nid)
            nid += 1
        ways.append(ids + ids[:1])
    writer.add_node(mutable.Node(id=nid, location=(lon0, lat0 - dlat)))
    writer.add_node(mutable.Node(id=nid + 1, location=(lon0 + dlon, lat0 - dlat)))
    writer.add_way(mutable.Way(id=1, nodes=ways[0]))
    writer.add_way(mutable.Way(id=2, nodes=ways[1]))
    writer.add_way(mutable.Way(id=3, nodes=ways[2], tags={"building": "house", "building:levels": "2"}))
    writer.add_way(mutable.Way(id=4, nodes=[nid, nid + 1], tags={"highway": "residential"}))
    members = [("w", 1, "outer"), ("w", 2, "inner"), ("w", 3, "outer")]
    tags = {"type": "multipolygon", "building": "apartments"}
    writer.add_relation(mutable.Relation(id=7, members=members, tags=tags))
    writer.close()

    b = urbankit.read_osm(path).buildings
    assert sorted(zip(b.osm_type, b.osm_id)) == [("relation", 7), ("way", 3)]
    rel = b[b.osm_type == "relation"].iloc[0]
    way = b[b.osm_type == "way"].iloc[0]

    def poly(ring):
        return shapely.Polygon([(lon0 + x * dlon, lat0 + y * dlat) for x, y in ring])

    mp = shapely.MultiPolygon([shapely.Polygon(poly(square).exterior, [poly(hole).exterior]), poly(far)])
    want = gpd.GeoSeries([mp, poly(far)], crs="EPSG:4326").to_crs("EPSG:32635")
    assert rel.footprint_m2 == pytest.approx(want.area.iloc[0], rel=1e-6)
    assert way.footprint_m2 == pytest.approx(want.area.iloc[1], rel=1e-6)
    assert want.area.iloc[0] == pytest.approx(4 * want.area.iloc[1], rel=1e-3)  # 1 - 1/4 + 1/4 vs 1/4
    assert rel.geometry.distance(mp.centroid) < 1e-7
    assert way.geometry.distance(poly(far).centroid) < 1e-7
    assert rel.building == "apartments" and way["building:levels"] == "2"


@pytest.mark.slow
def test_footprints_vectorised_matches_shapely():
    """footprints(): random polygons with holes, in two UTM zones and both hemispheres."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(3)
    geoms = []
    for lon, lat in [(2.9, 41.4), (3.1, 41.4), (-70.6, -33.4), (151.2, -33.9)]:
        for _ in range(20):
            n = int(rng.integers(4, 12))  # star-shaped around (lon, lat), which is well inside
            ang = 2 * np.pi * (np.arange(n) + rng.uniform(-0.3, 0.3, n)) / n
            r = rng.uniform(1e-4, 5e-4, n)
            shell = np.c_[lon + r * np.cos(ang), lat + r * np.sin(ang)]
            hole = np.asarray(shapely.Point(lon, lat).buffer(2e-5).exterior.coords)
            geoms.append(shapely.Polygon(shell, [hole] if rng.random() < 0.5 else []))
            assert geoms[-1].is_valid
    geoms.append(shapely.MultiPolygon([geoms[0], shapely.affinity.translate(geoms[1], 0.01)]))
    area, lon, lat = urbankit.osm.buildings.polygon_footprints(geoms)
    gs = gpd.GeoSeries(geoms, crs="EPSG:4326")
    for i, g in enumerate(geoms):
        utm = gs.iloc[[i]].estimate_utm_crs()
        assert area[i] == pytest.approx(gs.iloc[[i]].to_crs(utm).area.iloc[0], rel=1e-6), i
        assert shapely.Point(lon[i], lat[i]).distance(g.centroid) < 1e-6, i  # centroid in metres vs degrees
    empty = urbankit.osm.buildings.polygon_footprints([])
    assert all(len(a) == 0 for a in empty)


def test_buildings_optional(monaco):
    ex = urbankit.read_osm(monaco, buildings=False)
    assert len(ex.buildings) == 0 and len(ex.ways) > 1000
    assert list(ex.buildings.columns) == list(urbankit.osm.BUILDING_COLUMNS) + ["geometry"]


def test_poi_keys_option(monaco, read_extract):
    ex = urbankit.read_osm(monaco, poi_keys=("shop",))
    assert len(ex.features) > 10
    assert all("shop" in t for t in ex.features.tags)
    assert len(ex.features) < len(read_extract(monaco).features)


# ------------------------------------------------------------------------------------------------
# GraphML


def test_read_graphml(adliswil):
    import osmnx as ox

    graph = ox.load_graphml(adliswil)
    ex = urbankit.read_graphml(adliswil)
    assert len(ex.ways) == graph.number_of_edges()
    assert (ex.ways.oneway == "yes").all()
    ends = ex.way_nodes.groupby("way").node_id.agg(["first", "last"])
    assert Counter(zip(ends["first"], ends["last"])) == Counter((u, v) for u, v in graph.edges())
    assert len(ex.features) == 0 and len(ex.buildings) == 0 and ex.meta["from_graph"]
    # Adliswil is near 47.3 N, 8.5 E
    minx, miny, maxx, maxy = ex.bounds
    assert 8.4 < minx < maxx < 8.7 and 47.2 < miny < maxy < 47.4


# ------------------------------------------------------------------------------------------------
# bad inputs: the exact urbankit error class, and a message naming the file


def _raises(exc_type, path, reader=urbankit.read_osm):
    with pytest.raises(UrbankitError) as info:
        reader(path)
    assert type(info.value) is exc_type, f"{type(info.value).__name__}: {info.value}"
    assert str(path) in str(info.value)
    return info.value


def test_missing_file(tmp_path):
    _raises(InputFileError, tmp_path / "nowhere.osm.pbf")
    _raises(InputFileError, tmp_path / "nowhere.graphml", urbankit.read_graphml)


def test_directory(tmp_path):
    folder = tmp_path / "folder.osm.pbf"
    folder.mkdir()
    err = _raises(InputFileError, folder)
    assert isinstance(err, OSError)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "streets.shp"
    path.write_bytes(b"\x00\x00\x27\x0a")
    err = _raises(UnsupportedFormatError, path)
    assert isinstance(err, ValueError) and isinstance(err, InputFileError)
    _raises(UnsupportedFormatError, urbankit.datasets.get_path("monaco"), urbankit.read_graphml)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.osm.pbf"
    path.write_bytes(b"")
    _raises(CorruptFileError, path)


def test_truncated_pbf(tmp_path, monaco):
    data = monaco.read_bytes()
    path = tmp_path / "truncated.osm.pbf"
    path.write_bytes(data[: len(data) // 2])
    _raises(CorruptFileError, path)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corrupted_pbf(tmp_path, monaco, seed):
    """Random byte flips in the middle: a CorruptFileError, or (if osmium still parses it) an extract."""
    data = bytearray(monaco.read_bytes())
    rng = np.random.default_rng(seed)
    n = len(data)
    for i in rng.integers(n // 3, 2 * n // 3, size=16):
        data[i] ^= int(rng.integers(1, 256))
    path = tmp_path / "corrupted.osm.pbf"
    path.write_bytes(bytes(data))
    try:
        ex = urbankit.read_osm(path)
    except CorruptFileError as err:
        assert str(path) in str(err)
    else:
        assert isinstance(ex, urbankit.OSMExtract)
        assert list(ex.way_nodes.columns) == ["way", "node_id", "lon", "lat"]


def test_invalid_utf8_tag_is_corrupt_file(tmp_path):
    from osmium.osm import mutable

    path = tmp_path / "bad_utf8.osm.pbf"
    writer = osmium.SimpleWriter(osmium.io.File(str(path), "pbf,pbf_compression=none"))
    writer.add_node(mutable.Node(id=1, location=(3.0, 0.01), tags={"amenity": "cafe", "name": "QQQQ"}))
    writer.add_node(mutable.Node(id=2, location=(3.001, 0.01)))
    writer.add_way(mutable.Way(id=10, nodes=[1, 2], tags={"highway": "residential"}))
    writer.close()
    data = path.read_bytes()
    assert data.count(b"QQQQ") == 1
    path.write_bytes(data.replace(b"QQQQ", b"Q\xe9QQ"))  # same length, not UTF-8
    with pytest.raises(Exception) as info:
        urbankit.read_osm(path)
    assert type(info.value) is CorruptFileError, repr(info.value)


def test_truncated_bz2(tmp_path, barcelona):
    data = barcelona.read_bytes()
    path = tmp_path / "truncated.osm.bz2"
    path.write_bytes(data[: len(data) // 2])
    _raises(CorruptFileError, path)


def test_text_file_named_osm(tmp_path):
    path = tmp_path / "hello.osm"
    path.write_text("hello")
    _raises(CorruptFileError, path)


def test_xml_without_osm_objects(tmp_path):
    path = tmp_path / "nothing.osm"
    path.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" version="1" lat="0" lon="0"/></osm>')
    _raises(CorruptFileError, path)


def test_text_file_named_graphml(tmp_path):
    path = tmp_path / "hello.graphml"
    path.write_text("hello")
    _raises(CorruptFileError, path, urbankit.read_graphml)


def test_xml_without_highway(tmp_path):
    path = tmp_path / "house.osm"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">'
        '<node id="1" version="1" lat="0.0100" lon="3.0000"><tag k="amenity" v="bench"/></node>'
        '<node id="2" version="1" lat="0.0100" lon="3.0001"/>'
        '<node id="3" version="1" lat="0.0101" lon="3.0001"/>'
        '<node id="4" version="1" lat="0.0101" lon="3.0000"/>'
        '<way id="5" version="1"><nd ref="1"/><nd ref="2"/><nd ref="3"/><nd ref="4"/><nd ref="1"/>'
        '<tag k="building" v="house"/></way></osm>'
    )
    ex = urbankit.read_osm(path)
    assert len(ex.ways) == 0 and len(ex.way_nodes) == 0
    assert list(zip(ex.buildings.osm_type, ex.buildings.osm_id)) == [("way", 5)]
    assert list(zip(ex.features.osm_type, ex.features.osm_id)) == [("node", 1)]
    for mode in urbankit.MODES:
        with pytest.raises(NoStreetsError) as info:
            urbankit.build_network(ex, mode, cache=False)
        assert type(info.value) is NoStreetsError
        assert f"mode={mode!r}" in str(info.value) and "house.osm" in str(info.value)
