"""Online ingest (``urbankit.osm.download``) against fake Nominatim and Overpass servers.

No test touches the network: ``requests.get``/``requests.post`` (the calls osmnx 2.1 makes) are
replaced by an in-process fake of the two services, which answers from the West Oakland fixture
file, and any other socket or HTTP use fails loudly. urbankit and osmnx run unmodified on top.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import requests
import shapely
from shapely.geometry import LineString, Point, Polygon, mapping

import urbankit
from urbankit import settings
from urbankit._errors import (
    CRSError,
    InvalidOptionError,
    NoStreetsError,
    OnlineFetchError,
    PlaceNotFoundError,
)
from urbankit.osm import download as _online

osmnx = pytest.importorskip("osmnx")
osmium = pytest.importorskip("osmium")

FIXTURES = Path(__file__).parents[2] / ".." / "shared" / "data" / "fixtures"
FIXTURE = FIXTURES / "west_oakland.osm.bz2"

PLACE = "West Oakland, Oakland, California, USA"
POINT_PLACE = "Revolution Cafe, Oakland"

STATUS_TEXT = (
    "Connected as: 1234567\nCurrent time: 2026-01-01T00:00:00Z\nAnnounced endpoint: none\n"
    "Rate limit: 2\n2 slots available now.\nCurrently running queries (pid, space limit, time limit, start time):\n"
)


# --------------------------------------------------------------------------------------------------
# the fake servers
# --------------------------------------------------------------------------------------------------


@dataclass
class OSMData:
    """The fixture's objects, as plain Python data the fake Overpass server queries."""

    nodes: dict = field(default_factory=dict)  # id -> (lon, lat, tags)
    ways: dict = field(default_factory=dict)  # id -> (node refs, tags)
    relations: dict = field(default_factory=dict)  # id -> (members [(type, ref, role)], tags)

    @classmethod
    def from_file(cls, path: Path) -> OSMData:
        data = cls()
        kinds = {"n": "node", "w": "way", "r": "relation"}
        for obj in osmium.FileProcessor(str(path)):
            tags = dict(obj.tags)
            if obj.is_node():
                if obj.location.valid():
                    data.nodes[obj.id] = (obj.location.lon, obj.location.lat, tags)
            elif obj.is_way():
                data.ways[obj.id] = ([n.ref for n in obj.nodes], tags)
            elif obj.is_relation():
                data.relations[obj.id] = ([(kinds[m.type], m.ref, m.role) for m in obj.members], tags)
        return data

    def bounds(self) -> tuple[float, float, float, float]:
        lons = [v[0] for v in self.nodes.values()]
        lats = [v[1] for v in self.nodes.values()]
        return min(lons), min(lats), max(lons), max(lats)

    def way_geometry(self, way_id: int):
        coords = [self.nodes[r][:2] for r in self.ways[way_id][0] if r in self.nodes]
        if not coords:
            return None
        return Point(coords[0]) if len(coords) == 1 else LineString(coords)


_STATEMENT = re.compile(
    r"(?P<kind>node|way|relation)\[(?P<q1>[\"'])(?P<key>[^\"']+)(?P=q1)"
    r"(?:=(?P<q2>[\"'])(?P<value>[^\"']*)(?P=q2))?\]\(poly:(?P<q3>[\"'])(?P<poly>[^\"']*)(?P=q3)\)"
)


class FakeOSMServers:
    """Fake Nominatim (``GET .../search``) and Overpass (``GET .../status``, ``POST .../interpreter``).

    Overpass queries are interpreted, not matched literally: each ``kind[key](poly:...)`` or
    ``kind[key=value](poly:...)`` statement selects the objects of the fixture with that tag that
    intersect the polygon, and the result is recursed down (``>``) to member ways and nodes, as
    osmnx's network and features queries ask.
    """

    def __init__(self, data: OSMData, places: dict[str, list]):
        self.data = data
        self.places = places
        self.offline = False
        self.http_status = 200
        self.remark: str | None = None
        self.calls: list[tuple[str, str]] = []

    # -- transport ---------------------------------------------------------------------------------
    def get(self, url, params=None, **kwargs):
        self.calls.append(("GET", url))
        self._maybe_fail(url)
        parsed = urlparse(url)
        if parsed.path.endswith("/status"):
            return _response(url, text=STATUS_TEXT)
        if "nominatim" in parsed.netloc and parsed.path.endswith("/search"):
            if self.http_status != 200:
                return _response(url, text="<html>Internal Server Error</html>", status=self.http_status)
            return _response(url, json_body=self.places.get(_online._normalise_query(params["q"]), []))
        raise AssertionError(f"the fake servers do not answer GET {url}")

    def post(self, url, data=None, **kwargs):
        self.calls.append(("POST", url))
        self._maybe_fail(url)
        if not urlparse(url).path.endswith("/interpreter"):
            raise AssertionError(f"the fake servers do not answer POST {url}")
        if self.http_status != 200:
            return _response(url, text="<html>Overpass is overloaded</html>", status=self.http_status)
        body = {"version": 0.6, "generator": "fake Overpass", "elements": self.overpass(data["data"])}
        if self.remark:
            body["remark"] = self.remark
            body["elements"] = []
        return _response(url, json_body=body)

    def _maybe_fail(self, url):
        if self.offline:
            raise requests.exceptions.ConnectionError(f"fake network: cannot reach {url}")

    # -- Overpass semantics ------------------------------------------------------------------------
    def overpass(self, query: str) -> list[dict]:
        statements = list(_STATEMENT.finditer(query))
        if not statements or len(statements) != query.count("(poly:"):
            raise AssertionError(f"the fake Overpass cannot interpret the query {query[:300]!r}")
        nodes, ways, relations = set(), set(), set()
        for st in statements:
            poly = _parse_poly(st["poly"])
            key, value = st["key"], st["value"]

            def match(tags, key=key, value=value):
                return key in tags and (value is None or tags[key] == value)

            if st["kind"] == "node":
                nodes |= {
                    i for i, (lon, lat, t) in self.data.nodes.items() if match(t) and poly.intersects(Point(lon, lat))
                }
            elif st["kind"] == "way":
                ways |= {i for i, (_, t) in self.data.ways.items() if match(t) and self._way_in(i, poly)}
            else:
                relations |= {i for i, (_, t) in self.data.relations.items() if match(t) and self._relation_in(i, poly)}
        # recurse down: relations -> members, ways -> nodes
        todo = list(relations)
        while todo:
            for kind, ref, _ in self.data.relations[todo.pop()][0]:
                if kind == "node" and ref in self.data.nodes:
                    nodes.add(ref)
                elif kind == "way" and ref in self.data.ways:
                    ways.add(ref)
                elif kind == "relation" and ref in self.data.relations and ref not in relations:
                    relations.add(ref)
                    todo.append(ref)
        for w in ways:
            nodes |= {r for r in self.data.ways[w][0] if r in self.data.nodes}
        out = []
        for i in sorted(nodes):
            lon, lat, tags = self.data.nodes[i]
            out.append({"type": "node", "id": i, "lat": lat, "lon": lon} | ({"tags": dict(tags)} if tags else {}))
        for i in sorted(ways):
            refs, tags = self.data.ways[i]
            out.append({"type": "way", "id": i, "nodes": list(refs)} | ({"tags": dict(tags)} if tags else {}))
        for i in sorted(relations):
            members, tags = self.data.relations[i]
            out.append(
                {
                    "type": "relation",
                    "id": i,
                    "members": [{"type": k, "ref": r, "role": role} for k, r, role in members],
                    "tags": dict(tags),
                }
            )
        return out

    def _way_in(self, way_id, poly) -> bool:
        geom = self.data.way_geometry(way_id)
        return geom is not None and poly.intersects(geom)

    def _relation_in(self, rel_id, poly) -> bool:
        for kind, ref, _ in self.data.relations[rel_id][0]:
            if kind == "node" and ref in self.data.nodes and poly.intersects(Point(self.data.nodes[ref][:2])):
                return True
            if kind == "way" and ref in self.data.ways and self._way_in(ref, poly):
                return True
        return False


def _parse_poly(text: str) -> Polygon:
    values = [float(v) for v in text.split()]
    return Polygon(list(zip(values[1::2], values[0::2], strict=True)))  # "lat lon lat lon ..."


def _response(url: str, *, json_body=None, text: str | None = None, status: int = 200) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp.reason = "OK" if status == 200 else "Server Error"
    resp.url = url
    resp.encoding = "utf-8"
    resp._content = (json.dumps(json_body) if json_body is not None else text).encode("utf-8")
    return resp


def _nominatim_result(name: str, geom, importance: float = 0.6) -> dict:
    w, s, e, n = geom.bounds
    c = geom.centroid
    return {
        "place_id": 4242,
        "licence": "Data © OpenStreetMap contributors, ODbL 1.0. https://osm.org/copyright",
        "osm_type": "relation",
        "osm_id": 2833528,
        "lat": str(c.y),
        "lon": str(c.x),
        "class": "boundary",
        "type": "administrative",
        "place_rank": 20,
        "importance": importance,
        "addresstype": "suburb",
        "name": name.split(",")[0],
        "display_name": name,
        "boundingbox": [str(s), str(n), str(w), str(e)],
        "geojson": mapping(geom),
    }


# --------------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def osm_data() -> OSMData:
    if not FIXTURE.exists():
        pytest.skip(f"fixture {FIXTURE} is absent (the shared data folder is not mounted next to the repo)")
    return OSMData.from_file(FIXTURE)


@pytest.fixture(scope="module")
def offline_extract():
    if not FIXTURE.exists():
        pytest.skip(f"fixture {FIXTURE} is absent")
    return urbankit.read_osm(FIXTURE)


@pytest.fixture(scope="module")
def area(osm_data) -> Polygon:
    """A (non-rectangular) polygon covering every node of the fixture."""
    w, s, e, n = osm_data.bounds()
    d = 0.004
    return Polygon([(w - d, s - d), (e + d, s - d), (e + 2 * d, (s + n) / 2), (e + d, n + d), (w - d, n + d)])


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any HTTP request or socket connection not answered by a fake fails the test loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"test attempted real network access: {args[:2]!r}")

    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)  # osmnx replaces it; monkeypatch restores it
    monkeypatch.setattr(socket, "gethostbyname", lambda host: "192.0.2.1")  # fake DNS (TEST-NET-1)


@pytest.fixture
def clock(monkeypatch):
    """Fake the pauses osmnx makes between requests (1 s per Nominatim query); record them."""
    sleeps: list[float] = []
    fake_time = SimpleNamespace(sleep=sleeps.append)
    monkeypatch.setattr(osmnx._nominatim, "time", fake_time)
    monkeypatch.setattr(osmnx._overpass, "time", fake_time)
    return sleeps


@pytest.fixture
def servers(monkeypatch, tmp_path, osm_data, area, clock) -> FakeOSMServers:
    fake = FakeOSMServers(
        osm_data,
        places={
            _online._normalise_query(PLACE): [_nominatim_result(PLACE, area)],
            _online._normalise_query(POINT_PLACE): [
                _nominatim_result(POINT_PLACE, Point(-122.2995, 37.8085)) | {"class": "amenity", "type": "cafe"}
            ],
        },
    )
    monkeypatch.setattr(requests, "get", fake.get)
    monkeypatch.setattr(requests, "post", fake.post)
    monkeypatch.setattr(settings, "cache_folder", tmp_path / "cache")
    monkeypatch.setattr(settings, "use_cache", True)
    monkeypatch.setattr(osmnx.settings, "overpass_rate_limit", True)
    return fake


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def _by_way(extract) -> dict[int, list[tuple]]:
    """way id -> ordered (node_id, lon, lat) of each of its rows."""
    out: dict[int, list[tuple]] = {}
    ids = extract.ways["way_id"].to_numpy()
    for way, grp in extract.way_nodes.groupby("way", sort=False):
        out.setdefault(int(ids[way]), []).append(tuple(zip(grp.node_id, grp.lon, grp.lat, strict=True)))
    return out


def _feature_table(gdf) -> dict:
    """(osm_type, osm_id) -> (attributes with missing values as None, geometry)."""

    def clean(value):
        return None if not isinstance(value, (str, dict)) and pd.isna(value) else value

    rows = gdf.drop(columns="geometry").to_dict("records")
    return {
        (row["osm_type"], int(row["osm_id"])): ({k: clean(v) for k, v in row.items() if k != "osm_id"}, geom)
        for row, geom in zip(rows, gdf.geometry, strict=True)
    }


def _footprint_polygons(path: Path) -> dict:
    """(osm_type, osm_id) -> footprint polygon of every building osmium assembles from the file."""
    wkb = osmium.geom.WKBFactory()
    out = {}
    for area in osmium.FileProcessor(str(path)).with_areas():
        if area.is_area() and area.tags.get("building", "no") != "no":
            key = ("way" if area.from_way() else "relation", area.orig_id())
            out[key] = shapely.from_wkb(wkb.create_multipolygon(area))
    return out


def _assert_same_content(online, offline) -> None:
    """The online extract holds exactly what read_osm found: tables, dtypes, tags and geometries."""
    pd.testing.assert_frame_equal(online.ways, offline.ways)
    pd.testing.assert_frame_equal(online.way_nodes, offline.way_nodes)
    assert online.missing_node_refs == offline.missing_node_refs
    if "poi_keys" in offline.meta:  # destinations reads it to warn about keys never downloaded
        assert online.meta["poi_keys"] == offline.meta["poi_keys"]
    for got_gdf, want_gdf in ((online.features, offline.features), (online.buildings, offline.buildings)):
        assert list(got_gdf.columns) == list(want_gdf.columns)
        assert dict(got_gdf.dtypes) == dict(want_gdf.dtypes)
        assert got_gdf.crs == want_gdf.crs == "EPSG:4326"
        got, want = _feature_table(got_gdf), _feature_table(want_gdf)
        assert got.keys() == want.keys()
        for key, (attrs, geom) in want.items():
            got_attrs, got_geom = got[key]
            assert got_geom.geom_type == geom.geom_type, key
            if got_gdf is online.buildings:
                # the same footprint, computed from osmnx's polygon online and from osmium's rings
                # offline: equal up to rounding (ring start points and orientation may differ)
                assert got_attrs.pop("footprint_m2") == pytest.approx(attrs.pop("footprint_m2"), rel=1e-9), key
                assert got_geom.distance(geom) < 1e-9, key
            else:
                assert got_geom.equals(geom), key  # same shape (ring start points may differ)
            assert got_attrs == attrs, key


# --------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------


def test_from_place_equals_read_osm_of_the_area(servers, offline_extract, area):
    ex = _online.from_place(PLACE)

    assert isinstance(ex, urbankit.OSMExtract)
    # the polygon covers the whole fixture: everything equals read_osm of the file
    _assert_same_content(ex, offline_extract)
    assert ex.missing_node_refs == 0
    assert len(ex.features) > 0 and len(ex.buildings) > 0

    assert ex.meta["online"] is True
    assert ex.meta["polygon"].equals(area)
    assert ex.meta["geocoded"]["display_name"] == PLACE
    assert len(ex.sha256) == 64 and ex.sha256 != offline_extract.sha256
    assert PLACE in ex.source
    # one geocoding request, one street query, one features query (plus status checks)
    assert sum(1 for m, u in servers.calls if m == "POST") == 2
    assert sum(1 for m, u in servers.calls if "nominatim" in u) == 1


@pytest.mark.parametrize(
    "name",
    [
        "singapore_bayfront.osm.pbf",  # multipolygon relations (destination and building)
        "pyrosm_test.osm.pbf",  # clipped extract: ways cut at missing nodes, many buildings
    ],
)
@pytest.mark.slow
def test_other_fixtures_equal_read_osm(name, servers, monkeypatch):
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {path} is absent")
    data = OSMData.from_file(path)
    monkeypatch.setattr(servers, "data", data)
    w, s, e, n = data.bounds()
    ex = _online.from_polygon(shapely.box(w - 0.01, s - 0.01, e + 0.01, n + 0.01))
    offline = urbankit.read_osm(path)
    _assert_same_content(ex, offline)
    assert len(ex.ways) > 100


def test_repeated_call_is_answered_from_the_cache_offline(servers, tmp_path):
    first = _online.from_place(PLACE)
    cached = list((tmp_path / "cache" / "osmnx").glob("*.json"))
    assert len(cached) == 3  # Nominatim search, street query, features query

    servers.offline = True
    n_calls = len(servers.calls)
    second = _online.from_place(PLACE)

    pd.testing.assert_frame_equal(second.ways, first.ways)
    pd.testing.assert_frame_equal(second.way_nodes, first.way_nodes)
    assert second.sha256 == first.sha256
    # the only network attempt was the (failed) Overpass status probe
    assert [u for _, u in servers.calls[n_calls:]] == ["https://overpass-api.de/api/status"]


def test_osmnx_settings_are_restored(servers):
    before = (osmnx.settings.use_cache, osmnx.settings.cache_folder, osmnx.settings.overpass_rate_limit)
    _online.from_place(PLACE)
    servers.offline = True
    with pytest.raises(OnlineFetchError):
        _online.from_bbox((-122.2, 37.7, -122.19, 37.71))
    assert (osmnx.settings.use_cache, osmnx.settings.cache_folder, osmnx.settings.overpass_rate_limit) == before


def test_bbox_and_polygon_inputs_give_the_same_streets(servers, area):
    by_place = _online.from_place(PLACE)
    by_bbox = _online.from_bbox(area.bounds)
    projected = gpd.GeoDataFrame(geometry=[area], crs="EPSG:4326").to_crs("EPSG:26910")
    by_polygon = _online.from_polygon(projected)

    for ex in (by_bbox, by_polygon):
        pd.testing.assert_frame_equal(ex.ways, by_place.ways)
        pd.testing.assert_frame_equal(ex.way_nodes, by_place.way_nodes)
        assert set(zip(ex.features.osm_type, ex.features.osm_id)) == set(
            zip(by_place.features.osm_type, by_place.features.osm_id)
        )
    assert by_bbox.source.startswith("bbox")
    # the hash covers the query: same data, different areas, different hashes
    assert len({by_place.sha256, by_bbox.sha256, by_polygon.sha256}) == 3


def test_polygon_part_of_the_fixture_matches_read_osm_restricted(servers, offline_extract):
    part = shapely.box(-122.302, 37.806, -122.299, 37.809)
    ex = _online.from_polygon(part)

    wanted = {
        int(offline_extract.ways.way_id.iat[w])
        for w, grp in offline_extract.way_nodes.groupby("way")
        if part.intersects(LineString(list(zip(grp.lon, grp.lat, strict=True))))
    }
    assert 0 < len(wanted) < len(offline_extract.ways)
    assert set(ex.ways.way_id) == wanted
    offline_by_way = _by_way(offline_extract)
    assert _by_way(ex) == {w: offline_by_way[w] for w in wanted}  # complete ways, in drawing order
    # ways are rows 0..n-1 sorted by OSM id, way_nodes contiguous per way
    assert list(ex.ways.way_id) == sorted(wanted)
    assert ex.way_nodes["way"].is_monotonic_increasing
    # destinations and buildings are those intersecting the polygon (buildings by their footprint)
    assert len(ex.features) < len(offline_extract.features)
    assert ex.features.intersects(part).all()
    footprints = _footprint_polygons(FIXTURE)
    wanted_bld = {key for key, poly in footprints.items() if poly.intersects(part)}
    assert 0 < len(wanted_bld) < len(offline_extract.buildings)
    assert set(zip(ex.buildings.osm_type, ex.buildings.osm_id)) == wanted_bld
    offline_bld = offline_extract.buildings.set_index(["osm_type", "osm_id"])
    got_bld = ex.buildings.set_index(["osm_type", "osm_id"])
    want_bld = offline_bld.loc[got_bld.index]
    np.testing.assert_allclose(got_bld.footprint_m2, want_bld.footprint_m2, rtol=1e-9)
    assert (shapely.distance(got_bld.geometry.values, want_bld.geometry.values) < 1e-9).all()  # degrees


def test_place_not_found(servers):
    with pytest.raises(PlaceNotFoundError, match="Nowhere Special") as err:
        _online.from_place("Nowhere Special, Atlantis")
    assert "bbox" in str(err.value) and "more specific" in str(err.value)
    assert isinstance(err.value, LookupError)


def test_place_that_is_only_a_point(servers):
    with pytest.raises(PlaceNotFoundError, match="point or line"):
        _online.from_place(POINT_PLACE)


def test_offline_with_empty_cache_place(servers, tmp_path):
    servers.offline = True
    with pytest.raises(OnlineFetchError) as err:
        _online.from_place(PLACE)
    msg = str(err.value)
    assert "offline" in msg and "read_osm" in msg and str(tmp_path / "cache") in msg
    assert isinstance(err.value, ConnectionError)


def test_offline_with_empty_cache_bbox_fails_fast(servers, clock):
    servers.offline = True
    with pytest.raises(OnlineFetchError, match="offline"):
        _online.from_bbox((-122.31, 37.80, -122.29, 37.82))
    # osmnx's 60 s default pause (status endpoint unreachable) is not taken
    assert all(s < 5 for s in clock), clock


def test_server_errors(servers):
    servers.http_status = 500
    with pytest.raises(OnlineFetchError, match="server answered with an error"):
        _online.from_place(PLACE)
    with pytest.raises(OnlineFetchError, match="server answered with an error"):
        _online.from_bbox((-122.31, 37.80, -122.29, 37.82))


def test_overpass_error_remark_is_not_taken_as_data(servers):
    servers.remark = 'runtime error: Query timed out in "query" at line 1 after 180 seconds.'
    with pytest.raises(OnlineFetchError, match="timed out"):
        _online.from_bbox((-122.31, 37.80, -122.29, 37.82))


def test_area_without_streets(servers):
    with pytest.raises(NoStreetsError, match="no street ways"):
        _online.from_bbox((-123.5, 37.0, -123.49, 37.01))  # Pacific Ocean


def test_empty_destinations_and_buildings_keep_their_schema(servers, offline_extract):
    ex = _online.from_bbox((-122.31, 37.80, -122.29, 37.82), poi_keys=("no_such_key",), buildings=True)
    assert len(ex.features) == 0
    assert list(ex.features.columns) == list(offline_extract.features.columns)
    ex = _online.from_bbox((-122.31, 37.80, -122.29, 37.82), poi_keys=(), buildings=False)
    assert len(ex.features) == 0 and len(ex.buildings) == 0
    assert list(ex.buildings.columns) == list(offline_extract.buildings.columns)
    assert ex.features.crs == ex.buildings.crs == "EPSG:4326"


def test_sha256_follows_query_options_and_content(servers, tmp_path, monkeypatch):
    a = _online.from_place(PLACE)
    b = _online.from_place("  west oakland,   OAKLAND, california, usa ")  # same place, normalised
    assert a.sha256 == b.sha256
    assert _online.from_place(PLACE, buildings=False).sha256 != a.sha256

    # the OSM data changes (one street renamed): a fresh download gets a new hash
    way_id = int(a.ways.way_id.iat[0])
    refs, tags = servers.data.ways[way_id]
    monkeypatch.setitem(servers.data.ways, way_id, (refs, tags | {"name": "Renamed Street"}))
    monkeypatch.setattr(settings, "cache_folder", tmp_path / "fresh-cache")
    c = _online.from_place(PLACE)
    assert c.ways.loc[c.ways.way_id == way_id, "name"].iat[0] == "Renamed Street"
    assert c.sha256 != a.sha256


def test_use_cache_false_writes_nothing(servers, tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "use_cache", False)
    _online.from_place(PLACE)
    assert not (tmp_path / "cache").exists()
    servers.offline = True
    with pytest.raises(OnlineFetchError):
        _online.from_place(PLACE)


def test_polygon_input_validation(servers, area):
    with pytest.raises(CRSError, match="no CRS"):
        _online.from_polygon(gpd.GeoSeries([area]))
    with pytest.raises(CRSError, match="no CRS"):
        _online.from_polygon(gpd.GeoDataFrame(geometry=[area]))
    with pytest.raises(CRSError, match="projected"):
        _online.from_polygon(shapely.box(560000, 4180000, 562000, 4182000))
    with pytest.raises(InvalidOptionError, match="without area"):
        _online.from_polygon(Point(-122.3, 37.81))
    with pytest.raises(InvalidOptionError):
        _online.from_polygon("POLYGON ((0 0, 1 0, 1 1, 0 0))")
    with pytest.raises(InvalidOptionError, match="wrong order"):
        _online.from_bbox((-122.29, 37.80, -122.31, 37.82))
    with pytest.raises(InvalidOptionError, match="four numbers"):
        _online.from_bbox((-122.29, 37.80, -122.31))
    with pytest.raises(CRSError):
        _online.from_bbox((560000, 4180000, 562000, 4182000))
    with pytest.raises(InvalidOptionError):
        _online.from_place("   ")
    assert servers.calls == []  # all rejected before any request


@pytest.mark.parametrize("place", ["St.Gallen", "Frankfurt a.M.", "St. Pölten"])
def test_load_takes_a_name_with_dots_for_a_place(place, monkeypatch):
    """``load("St.Gallen")`` goes to the place search (faked here), not to a file path."""
    asked = []

    def fake_from_place(query, **kwargs):
        asked.append(query)
        return "extract"

    monkeypatch.setattr(_online, "from_place", fake_from_place)
    assert urbankit.load(place) == "extract"
    assert asked == [place]


@pytest.mark.parametrize("name", ["missing.osm.pbf", "missing.gpkg", "missing.osm"])
def test_load_of_a_missing_file_with_a_data_suffix_is_a_file_error(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_online, "from_place", lambda *a, **k: pytest.fail("taken for a place"))
    with pytest.raises((urbankit.InputFileError, urbankit.UnsupportedFormatError)):
        urbankit.load(name)
