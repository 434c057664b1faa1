"""Residents from OSM buildings: classification, ground floors, levels, calibration, refusal on sparse
buildings and provenance (hand-made OSM), and the estimate checked against known totals on real data."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import FIXTURES, existing, osm_xml

import urbankit
from urbankit import PopulationError
from urbankit.population import (
    DEFAULT_LEVELS_BY_TYPE,
    DEFAULT_LEVELS_OTHER,
    FLOOR_AREA_PER_RESIDENT_M2,
    MAX_AREA_DENSITY_PER_KM2,
    MAX_DEFAULT_LEVELS,
    MIN_TAGGED_FOR_LOCAL_LEVELS,
    NON_RESIDENTIAL_BUILDINGS,
    RESIDENTIAL_BUILDINGS,
    population_per_node,
)

LON0, LAT0 = 10.0, 50.0
M_LAT = 1 / 111_320.0
M_LON = 1 / (111_320.0 * math.cos(math.radians(LAT0)))
SPACING_M = 60.0  # buildings every 60 m along the street
SIDE_M = 20.0  # 20 x 20 m footprints


def _ll(x_m: float, y_m: float) -> tuple[float, float]:
    return LON0 + x_m * M_LON, LAT0 + y_m * M_LAT


class Town:
    """A street along y = 0 and square buildings north of it, written as OSM XML."""

    def __init__(self) -> None:
        self.nodes: dict = {}
        self.ways: dict = {}
        self.relations: list[str] = []
        self._next = 1

    def _id(self) -> int:
        self._next += 1
        return self._next

    def node(self, x: float, y: float, tags: dict | None = None) -> int:
        i = self._id()
        self.nodes[i] = (*_ll(x, y), tags or {})
        return i

    def ring(self, x0: float, y0: float, x1: float, y1: float, tags: dict) -> int:
        ids = [self.node(x0, y0), self.node(x1, y0), self.node(x1, y1), self.node(x0, y1)]
        w = self._id()
        self.ways[w] = ([*ids, ids[0]], tags)
        return w

    def street(self, x0: float, x1: float) -> None:
        self.ways[self._id()] = ([self.node(x0, 0), self.node(x1, 0)], {"highway": "residential"})

    def building(self, i: int, tags: dict) -> int:
        x = i * SPACING_M
        return self.ring(
            x, 20, x + SIDE_M, 20 + SIDE_M, {"building": "yes", **tags} if "building" not in tags else tags
        )

    def relation(self, members: list[int], tags: dict) -> None:
        rid = self._id()
        body = "".join(f'<member type="way" ref="{m}" role="outer"/>' for m in members)
        body += "".join(f'<tag k="{k}" v="{v}"/>' for k, v in {"type": "boundary", **tags}.items())
        self.relations.append(f'<relation id="{rid}" version="1">{body}</relation>')

    def read(self, tmp_path, name: str = "town.osm") -> urbankit.OSMExtract:
        text = osm_xml(self.nodes, self.ways).replace("</osm>", "\n".join(self.relations) + "\n</osm>")
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return urbankit.read_osm(path)


def _nodes_at_buildings(ex: urbankit.OSMExtract) -> gpd.GeoDataFrame:
    """One street node at every building's centroid, indexed by the building's OSM id: each node gets
    exactly the residents of its building."""
    pts = ex.buildings.set_index("osm_id").geometry
    crs = pts.estimate_utm_crs()
    return gpd.GeoDataFrame(geometry=pts.to_crs(crs).values, index=pts.index.rename("node_id"), crs=crs)


def _expected(ex, osm_id: int, levels: float, floor_area: float = FLOOR_AREA_PER_RESIDENT_M2) -> float:
    """Footprint (as read_osm measured it) x levels / floor area per resident."""
    fp = float(ex.buildings.set_index("osm_id").loc[osm_id, "footprint_m2"])
    assert fp == pytest.approx(SIDE_M * SIDE_M, rel=0.01)
    return fp * levels / floor_area


def _town_with(types: list[dict], *, extra=None) -> Town:
    t = Town()
    t.street(-10, len(types) * SPACING_M + 10)
    t.ids = [t.building(i, tags) for i, tags in enumerate(types)]
    if extra:
        extra(t)
    return t


# --------------------------------------------------------------------------------------------------
# classification


RESIDENTIAL = sorted(RESIDENTIAL_BUILDINGS)
NON_RESIDENTIAL = sorted(
    {
        "commercial",
        "retail",
        "office",
        "industrial",
        "warehouse",
        "church",
        "cathedral",
        "chapel",
        "mosque",
        "school",
        "university",
        "college",
        "hospital",
        "hotel",
        "garage",
        "garages",
        "shed",
        "roof",
        "parking",
        "public",
        "civic",
        "government",
        "train_station",
        "transportation",
        "kiosk",
        "service",
    }
)


def test_every_listed_type_is_classified():
    assert set(NON_RESIDENTIAL) <= NON_RESIDENTIAL_BUILDINGS
    assert not RESIDENTIAL_BUILDINGS & NON_RESIDENTIAL_BUILDINGS
    assert "yes" not in RESIDENTIAL_BUILDINGS


def test_each_building_type_counts_or_not(tmp_path):
    types = [{"building": v, "building:levels": "2"} for v in RESIDENTIAL + NON_RESIDENTIAL]
    t = _town_with(types)
    ex = t.read(tmp_path)
    est = population_per_node(_nodes_at_buildings(ex), buildings=ex.buildings, context=ex)
    for w, tags in zip(t.ids, types):
        want = _expected(ex, w, 2) if tags["building"] in RESIDENTIAL_BUILDINGS else 0.0
        assert est.per_node.loc[w] == pytest.approx(want, rel=1e-9), tags
    assert est.details["buildings_used"] == len(RESIDENTIAL)
    assert est.details["buildings_typed_non_residential"] == len(NON_RESIDENTIAL)
    assert est.total == pytest.approx(sum(_expected(ex, w, 2) for w in t.ids[: len(RESIDENTIAL)]), rel=1e-9)


def test_untyped_buildings_judged_by_land_use_and_activities(tmp_path):
    types = [
        {"building:levels": "3"},  # 0 untyped, nothing in it: a home
        {"building:levels": "3"},  # 1 untyped with a shop point inside, no residential land use: not a home
        {"building:levels": "3"},  # 2 untyped with a shop inside, in landuse=residential: 2 levels of homes
        {"building:levels": "3"},  # 3 untyped in landuse=commercial: not a home
        {"building:levels": "3", "shop": "bakery"},  # 4 a shop building: not a home
        {"building:levels": "3"},  # 5 untyped with a bench point in it (no premises): a home
        {"building:levels": "3", "building:use": "office"},  # 6 office use: not a home
        {"building:levels": "3", "amenity": "parking_entrance"},  # 7 not premises: a home
    ]

    def extra(t: Town) -> None:
        for i, tags in ((1, {"shop": "clothes"}), (2, {"amenity": "cafe"}), (5, {"amenity": "bench"})):
            t.node(i * SPACING_M + 10, 30, tags)
        t.ring(2 * SPACING_M - 5, 15, 2 * SPACING_M + 25, 45, {"landuse": "residential"})
        t.ring(3 * SPACING_M - 5, 15, 3 * SPACING_M + 25, 45, {"landuse": "commercial"})

    t = _town_with(types, extra=extra)
    ex = t.read(tmp_path)
    est = population_per_node(_nodes_at_buildings(ex), buildings=ex.buildings, context=ex)
    want = [3, 0, 2, 0, 0, 3, 0, 3]
    got = [est.per_node.loc[w] for w in t.ids]
    np.testing.assert_allclose(got, [_expected(ex, w, lv) for w, lv in zip(t.ids, want)], rtol=1e-9)
    # without the context (no land use, no points) every untyped building without tags counts
    bare = population_per_node(_nodes_at_buildings(ex), buildings=ex.buildings)
    assert bare.per_node.loc[t.ids[1]] == pytest.approx(_expected(ex, t.ids[1], 3), rel=1e-9)
    assert bare.per_node.loc[t.ids[4]] == 0  # the shop tag is on the building itself


def test_ground_floor_shops_are_not_homes(tmp_path):
    types = [
        {"building": "apartments", "building:levels": "5"},  # shop point inside: 4 levels of homes
        {"building": "apartments", "building:levels": "5", "shop": "bakery"},  # shop on it: 4
        {"building": "apartments", "building:levels": "5"},  # nothing: 5
        {"building": "mixed_use", "building:levels": "5"},  # mixed use: 4
        {"building": "house", "building:levels": "1"},  # a one-level house with an office in it: 0
    ]

    def extra(t: Town) -> None:
        t.node(10, 30, {"shop": "supermarket"})
        t.node(4 * SPACING_M + 10, 30, {"office": "lawyer"})

    t = _town_with(types, extra=extra)
    ex = t.read(tmp_path)
    est = population_per_node(_nodes_at_buildings(ex), buildings=ex.buildings, context=ex)
    want = [4, 4, 5, 4, 0]
    np.testing.assert_allclose(
        [est.per_node.loc[w] for w in t.ids], [_expected(ex, w, lv) for w, lv in zip(t.ids, want)], rtol=1e-9
    )
    assert est.details["buildings_ground_floor_not_homes"] == 4


# --------------------------------------------------------------------------------------------------
# levels


def test_levels_from_tags_height_and_type_defaults(tmp_path):
    types = [
        {"building": "apartments", "height": "15"},  # 5 levels (3 m each)
        {"building": "apartments", "height": "40 ft"},  # 12.19 m -> 4 levels
        {"building": "apartments", "building:levels": "6", "building:min_level": "2"},  # 4
        {"building": "apartments"},  # default for multi-unit buildings
        {"building": "house"},  # default for houses
        {"building": "bungalow"},
    ]
    t = _town_with(types)
    ex = t.read(tmp_path)
    est = population_per_node(_nodes_at_buildings(ex), buildings=ex.buildings, context=ex)
    want = [5, round(40 * 0.3048 / 3), 4, DEFAULT_LEVELS_OTHER, DEFAULT_LEVELS_BY_TYPE["house"], 1]
    np.testing.assert_allclose(
        [est.per_node.loc[w] for w in t.ids], [_expected(ex, w, lv) for w, lv in zip(t.ids, want)], rtol=1e-9
    )
    assert est.details["buildings_levels_from_height"] == 2
    assert est.details["buildings_levels_tagged"] == 1
    assert est.details["buildings_default_levels"] == 3


@pytest.mark.parametrize("tagged_levels", [6, 30])
def test_local_default_needs_enough_tagged_buildings_and_is_capped(tmp_path, tagged_levels):
    n = MIN_TAGGED_FOR_LOCAL_LEVELS
    types = [{"building": "apartments", "building:levels": str(tagged_levels)}] * n + [{"building": "apartments"}]
    ex = _town_with(types).read(tmp_path)
    nodes = _nodes_at_buildings(ex)
    last = int(ex.buildings.osm_id.iloc[-1])
    est = population_per_node(nodes, buildings=ex.buildings, context=ex)
    assert est.per_node.loc[last] == pytest.approx(
        _expected(ex, last, min(tagged_levels, MAX_DEFAULT_LEVELS)), rel=1e-9
    )
    # one tagged building fewer: the type default, not a median of a few buildings
    few = ex.buildings.iloc[1:]
    est = population_per_node(nodes.loc[few.osm_id], buildings=few, context=ex)
    assert est.per_node.loc[last] == pytest.approx(_expected(ex, last, DEFAULT_LEVELS_OTHER), rel=1e-9)
    assert "fewer than" in est.details["default_levels_other"]


# --------------------------------------------------------------------------------------------------
# calibration, refusal, provenance


def _boundary_town(tmp_path, *, population="1000", margin_m=30.0, name="Smallville"):
    types = [{"building": "apartments", "building:levels": "4"}] * 6
    t = _town_with(types)
    x1 = (len(types) - 1) * SPACING_M + SIDE_M
    w = t.ring(-margin_m, 10, x1 + margin_m, 50 + margin_m, {"boundary": "administrative", "admin_level": "8"})
    t.relation([w], {"boundary": "administrative", "admin_level": "8", "name": name, "population": population})
    return t, t.read(tmp_path)


def test_calibration_to_a_boundary_population_tag(tmp_path):
    t, ex = _boundary_town(tmp_path)
    nodes = _nodes_at_buildings(ex)
    est = population_per_node(nodes, buildings=ex.buildings, context=ex)
    assert est.total == pytest.approx(1000.0, rel=1e-9)
    raw = sum(_expected(ex, w, 4) for w in t.ids)
    np.testing.assert_allclose(est.per_node.loc[t.ids], [_expected(ex, w, 4) * 1000 / raw for w in t.ids], rtol=1e-9)
    assert est.calibration.startswith("calibrated to Smallville's population tag 1,000")
    assert est.description.startswith("residents: 1,000, estimated from 6 OSM buildings, calibrated to Smallville's")
    assert est.details["calibration_boundary"] == "Smallville"
    # a user total wins over the tag
    est = population_per_node(nodes, buildings=ex.buildings, context=ex, total=250)
    assert est.total == pytest.approx(250.0)
    assert "scaled to the given total 250" in est.description


def test_boundary_reaching_far_beyond_the_area_is_not_used(tmp_path):
    t, ex = _boundary_town(tmp_path, margin_m=2000.0)
    est = population_per_node(_nodes_at_buildings(ex), buildings=ex.buildings, context=ex)
    assert est.total == pytest.approx(sum(_expected(ex, w, 4) for w in t.ids), rel=1e-9)
    assert est.calibration is None
    assert est.description.endswith("(not calibrated: no known total)")


def test_boundary_with_a_bad_population_tag_is_not_used(tmp_path):
    t, ex = _boundary_town(tmp_path, population="about a thousand")
    est = population_per_node(_nodes_at_buildings(ex), buildings=ex.buildings, context=ex)
    assert est.calibration is None
    assert est.total == pytest.approx(sum(_expected(ex, w, 4) for w in t.ids), rel=1e-9)


def test_sparse_buildings_are_refused(tmp_path):
    t = Town()
    t.street(0, 2000)  # 2 km of street
    t.ring(100, 20, 110, 30, {"building": "house"})  # one 100 m² house: 50 m² per street-km
    ex = t.read(tmp_path)
    nodes = _nodes_at_buildings(ex)
    with pytest.raises(PopulationError, match=r"too sparse.*per km of street.*grid or raster.*total=") as info:
        population_per_node(nodes, buildings=ex.buildings, context=ex)
    assert isinstance(info.value, ValueError)
    # with a known total the buildings only place it
    est = population_per_node(nodes, buildings=ex.buildings, context=ex, total=120)
    assert est.total == pytest.approx(120.0)


def test_cli_population_total_and_summary_line(tmp_path, capsys):
    from urbankit.cli import main

    _boundary_town(tmp_path)
    src = tmp_path / "town.osm"
    out = tmp_path / "out.gpkg"
    assert main(["accessibility", str(src), "--minutes", "15", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "residents: 1,000, estimated from 6 OSM buildings, calibrated to Smallville's population tag 1,000" in text
    out.unlink()
    assert main(["accessibility", str(src), "--minutes", "15", "--population-total", "300", "--out", str(out)]) == 0
    assert "residents: 300, estimated from 6 OSM buildings, scaled to the given total 300" in capsys.readouterr().out


def test_accessibility_repr_states_the_population(tmp_path):
    _boundary_town(tmp_path)
    acc = urbankit.x_minute_city(str(tmp_path / "town.osm"), minutes=[15])
    assert "residents: 1,000, estimated from 6 OSM buildings, calibrated to Smallville's" in repr(acc)


# --------------------------------------------------------------------------------------------------
# real data: known totals


MONACO_POPULATION = 39_050  # population=39050 on Monaco's boundary (IMSEE 2023)


def _monaco_polygon(ex, crs):
    areas = [a for a in ex.meta["population_areas"] if a["name"] == "Monaco" and a["boundary"] == "land_area"]
    assert len(areas) == 1
    return gpd.GeoSeries.from_wkb([bytes.fromhex(areas[0]["wkb_hex"])], crs="EPSG:4326").to_crs(crs).values[0]


class _NoTags:
    """The extract without its population tags (everything else as read)."""

    def __init__(self, ex):
        self.features, self.way_nodes, self.source = ex.features, ex.way_nodes, ex.source
        self.meta = {k: v for k, v in ex.meta.items() if k != "population_areas"}


def test_monaco_calibrated_and_uncalibrated():
    ex = urbankit.read_osm(urbankit.datasets.get_path("monaco"))
    nodes = urbankit.build_network(ex, "walk").nodes
    monaco = _monaco_polygon(ex, nodes.crs)
    xy = shapely.get_coordinates(nodes.geometry.values)
    in_monaco = shapely.contains_xy(monaco, xy[:, 0], xy[:, 1])

    cal = population_per_node(nodes, buildings=ex.buildings, context=ex)
    assert "calibrated to Monaco's population tag 39,050" in cal.description
    assert abs(cal.total / MONACO_POPULATION - 1) < 0.15  # the extract's bits of France included
    assert abs(cal.per_node[in_monaco].sum() / MONACO_POPULATION - 1) < 0.15

    raw = population_per_node(nodes, buildings=ex.buildings, context=_NoTags(ex))
    assert raw.calibration is None
    inside = raw.per_node[in_monaco].sum()
    assert MONACO_POPULATION / 1.5 < inside < MONACO_POPULATION * 1.5
    assert MONACO_POPULATION / 1.5 < raw.total < MONACO_POPULATION * 1.5
    assert raw.details["density_per_km2"] < MAX_AREA_DENSITY_PER_KM2


def test_helsinki_centre_against_the_hsy_grid(helsinki_population):
    ex = urbankit.read_osm(urbankit.datasets.get_path("helsinki"))
    nodes = urbankit.build_network(ex, "walk").nodes
    grid = population_per_node(nodes, grid=helsinki_population)  # the cells overlapping the network
    est = population_per_node(nodes, buildings=ex.buildings, context=ex)
    assert grid.details["cells_used"] == 22
    assert grid.total / 1.5 < est.total < grid.total * 1.5


def test_barcelona_nova_esquerra_density(barcelona):
    """Nova Esquerra de l'Eixample holds ~35,000-40,000 residents/km² (Ajuntament de Barcelona); the
    extract's residential part is the convex hull of its buildings."""
    ex = urbankit.read_osm(barcelona)
    nodes = urbankit.build_network(ex, "walk").nodes
    est = population_per_node(nodes, buildings=ex.buildings, context=ex)
    pts = ex.buildings.to_crs(nodes.crs).geometry.values
    area_km2 = shapely.convex_hull(shapely.multipoints(shapely.get_coordinates(pts))).area / 1e6
    density = est.total / area_km2
    assert 37_500 / 1.5 < density < 37_500 * 1.5


@pytest.mark.parametrize("name", ["pyrosm_test.osm.pbf", "west_oakland.osm.bz2", "singapore_bayfront.osm.pbf"])
def test_unseen_fixtures_give_plausible_densities(name):
    ex = urbankit.read_osm(existing(FIXTURES / name))
    nodes = urbankit.build_network(ex, "walk").nodes
    est = population_per_node(nodes, buildings=ex.buildings, context=ex)
    assert 0 < est.details["density_per_km2"] < MAX_AREA_DENSITY_PER_KM2
    assert est.details["footprint_m2_per_street_km"] > 0
    assert est.description.startswith(f"residents: {est.total:,.0f}, estimated from")


def test_clipped_boundary_is_rebuilt_from_the_ways_present(tmp_path):
    """A relation whose southern side is missing from the file (a clipped extract) is closed by a straight
    line; ingest says how much was guessed, and the population estimate only trusts mostly complete ones."""
    t = _town_with([{"building": "apartments", "building:levels": "4"}] * 6)
    x0, x1, y0, y1 = -30.0, 5 * SPACING_M + SIDE_M + 30, 10.0, 80.0
    corners = [t.node(x0, y0), t.node(x1, y0), t.node(x1, y1), t.node(x0, y1)]
    sides = []
    for a, b in zip(corners, corners[1:] + corners[:1]):
        w = t._id()
        t.ways[w] = ([a, b], {"boundary": "administrative"})
        sides.append(w)
    missing = t._id()  # a fifth member way that is not in the file
    t.relation([*sides[1:], missing], {"boundary": "administrative", "name": "Clipped", "population": "900"})
    t.relation(sides[1:], {"boundary": "administrative", "name": "Open", "population": "800"})
    ex = t.read(tmp_path)
    areas = {a["name"]: a for a in ex.meta["population_areas"]}
    clipped = areas["Clipped"]
    assert (clipped["members_found"], clipped["members_total"]) == (3, 4)
    assert clipped["gap_m"] == pytest.approx(x1 - x0, rel=0.01)  # the southern side, closed straight
    assert clipped["perimeter_m"] == pytest.approx(2 * (x1 - x0) + 2 * (y1 - y0), rel=0.01)
    poly = shapely.from_wkb(bytes.fromhex(clipped["wkb_hex"]))
    lon0, lat0 = _ll(x0, y0)
    lon1, lat1 = _ll(x1, y1)
    assert poly.area == pytest.approx((lon1 - lon0) * (lat1 - lat0), rel=1e-4)  # XML keeps 7 decimals
    # "Open" has all its 3 ways, but both leave 42 % of their perimeter (> 30 %) to a straight guess:
    # neither calibrates the estimate
    assert areas["Open"]["members_found"] == areas["Open"]["members_total"] == 3
    assert areas["Open"]["gap_m"] / areas["Open"]["perimeter_m"] == pytest.approx(380 / 900, rel=0.01)
    est = population_per_node(_nodes_at_buildings(ex), buildings=ex.buildings, context=ex)
    assert est.calibration is None
    assert est.total == pytest.approx(sum(_expected(ex, w, 4) for w in t.ids), rel=1e-9)
