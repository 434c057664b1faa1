"""Tests of urbankit.destinations: taxonomy loading and validation, and matching OSM objects.

Counts on real extracts are checked against an independent reading of the same files with
pyosmium and hand-written predicates restating the default taxonomy's rules.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import pytest
import shapely
from conftest import OSM_FILES
from shapely.geometry import LineString, Point, Polygon

import urbankit as uk
from urbankit import osm as ingest
from urbankit._errors import InputFileError, TaxonomyError
from urbankit.destinations import (
    DESTINATION_COLUMNS,
    Taxonomy,
    destinations_summary,
    find_destinations,
    load_taxonomy,
)

# ------------------------------------------------------------- independent reading and matching


def _parts(value) -> set[str]:
    if value is None:
        return set()
    return {p.strip() for p in str(value).split(";")}


def _has(tags: dict, key: str, values: set[str]) -> bool:
    return bool(_parts(tags.get(key)) & values)


def _any(tags: dict, key: str) -> bool:
    value = tags.get(key)
    return value is not None and value.strip() not in ("", "no")


GROCERY = {
    "supermarket", "convenience", "greengrocer", "grocery", "general", "butcher", "deli", "cheese",
    "seafood", "dairy", "farm", "frozen_food", "health_food", "food",
}  # fmt: skip
BAKERY = {"bakery", "pastry"}
PRIVATE = {"private", "no"}
PRIMARY_ISCED = {"1", "0-1", "0-2", "0-3", "1-2", "1-3"}
PRIMARY_SCHOOL = {"primary", "infant", "junior", "first", "elementary", "all_through", "yes"}
SECONDARY_ISCED = {"2", "3", "0-2", "0-3", "1-2", "1-3", "2-3", "2-4", "3-4"}
SECONDARY_SCHOOL = {
    "secondary", "lower_secondary", "upper_secondary", "middle", "high", "sixth_form", "all_through", "yes",
}  # fmt: skip
PARK = ({"park", "garden", "common"}, {"recreation_ground", "village_green"})
TRANSIT_RAILWAY = {"station", "halt", "tram_stop", "subway_entrance", "train_station_entrance"}
EATING = {"restaurant", "cafe", "fast_food", "bar", "pub", "biergarten", "food_court", "ice_cream"}
CULTURE = {"library", "theatre", "cinema", "arts_centre", "community_centre"}
SPORT = {
    "sports_centre", "sports_hall", "pitch", "fitness_centre", "swimming_pool", "stadium", "track", "ice_rink",
}  # fmt: skip


def _school(t: dict, isced: set[str], school: set[str]) -> bool:
    if not _has(t, "amenity", {"school"}):
        return False
    if "isced:level" in t and not _has(t, "isced:level", isced):
        return False
    return "school" not in t or _has(t, "school", school)


def _park(t: dict) -> bool:
    green = _has(t, "leisure", PARK[0]) or _has(t, "landuse", PARK[1])
    return green and not _has(t, "access", PRIVATE) and not _has(t, "garden:type", {"residential", "private"})


def _transit_stop(t: dict) -> bool:
    stop = (
        _has(t, "public_transport", {"platform", "station"})
        or _has(t, "highway", {"bus_stop"})
        or _has(t, "railway", TRANSIT_RAILWAY)
        or _has(t, "amenity", {"bus_station", "ferry_terminal"})
    )
    return stop and not _has(t, "access", PRIVATE)


def _workplace(t: dict) -> bool:
    work = _any(t, "office") or _any(t, "craft") or _has(t, "amenity", {"townhall", "courthouse", "coworking_space"})
    return work and not _has(t, "office", {"vacant"})


#: The default taxonomy restated as plain predicates over a tag dict.
EXPECTED_RULES = {
    "park": _park,
    "playground": lambda t: _has(t, "leisure", {"playground"}) and not _has(t, "access", PRIVATE),
    "transit_stop": _transit_stop,
    "workplace": _workplace,
    "grocery": lambda t: _has(t, "shop", GROCERY) or _has(t, "amenity", {"marketplace"}),
    "bakery": lambda t: _has(t, "shop", BAKERY),
    "retail": lambda t: _any(t, "shop") and not _has(t, "shop", GROCERY | BAKERY | {"vacant"}),
    "bank_post": lambda t: _has(t, "amenity", {"bank", "atm", "post_office"}),
    "pharmacy": lambda t: _has(t, "amenity", {"pharmacy"}) or _has(t, "healthcare", {"pharmacy"}),
    "doctor": lambda t: _has(t, "amenity", {"doctors", "clinic"})
    or _has(t, "healthcare", {"doctor", "clinic", "centre"}),
    "dentist": lambda t: _has(t, "amenity", {"dentist"}) or _has(t, "healthcare", {"dentist"}),
    "hospital": lambda t: _has(t, "amenity", {"hospital"}) or _has(t, "healthcare", {"hospital"}),
    "kindergarten": lambda t: _has(t, "amenity", {"kindergarten", "childcare"}),
    "primary_school": lambda t: _school(t, PRIMARY_ISCED, PRIMARY_SCHOOL),
    "secondary_school": lambda t: _school(t, SECONDARY_ISCED, SECONDARY_SCHOOL),
    "university": lambda t: _has(t, "amenity", {"university", "college"}),
    "restaurant_cafe": lambda t: _has(t, "amenity", EATING),
    "culture": lambda t: _has(t, "amenity", CULTURE) or _has(t, "tourism", {"museum", "gallery"}),
    "sport": lambda t: _has(t, "leisure", SPORT) and not _has(t, "access", PRIVATE),
}


def _sorted_copy(path: Path, out: Path) -> Path:
    """Copy of an OSM file sorted by type and id (area assembly needs sorted input)."""
    from osmium.osm import mutable

    nodes, ways, rels = [], [], []
    for o in osmium.FileProcessor(str(path)):
        if o.is_node():
            loc = (o.location.lon, o.location.lat) if o.location.valid() else None
            nodes.append(mutable.Node(id=o.id, location=loc, tags=dict(o.tags)))
        elif o.is_way():
            ways.append(mutable.Way(id=o.id, nodes=[n.ref for n in o.nodes], tags=dict(o.tags)))
        elif o.is_relation():
            members = [(m.type, m.ref, m.role) for m in o.members]
            rels.append(mutable.Relation(id=o.id, members=members, tags=dict(o.tags)))
    writer = osmium.SimpleWriter(str(out))
    for objects, add in ((nodes, writer.add_node), (ways, writer.add_way), (rels, writer.add_relation)):
        for o in sorted(objects, key=lambda o: o.id):
            add(o)
    writer.close()
    return out


def _osmium_objects(path: Path, tmp_path: Path) -> dict[tuple[str, int], dict]:
    """Tagged objects of an OSM file as read_osm keeps them, read directly with pyosmium.

    Nodes as they are; open ways (and closed ``area=no`` ways) with a POI key besides ``highway``; closed ways
    and multipolygon relations as assembled areas, unless ``highway`` is their only POI key.
    Objects whose geometry cannot be built (clipped extracts) are left out, as read_osm does.
    """
    try:
        return _osmium_objects_sorted(path)
    except RuntimeError as exc:
        if "out of order" not in str(exc):
            raise
        return _osmium_objects_sorted(_sorted_copy(path, tmp_path / "sorted.osm.pbf"))


def _osmium_objects_sorted(path: Path) -> dict[tuple[str, int], dict]:
    wkb = osmium.geom.WKBFactory()
    poi = set(ingest.DEFAULT_POI_KEYS)
    out: dict[tuple[str, int], dict] = {}
    for o in osmium.FileProcessor(str(path)).with_locations().with_areas():
        tags = dict(o.tags)
        if not tags.keys() & poi:
            continue
        if o.is_node():
            out[("node", o.id)] = tags
        elif o.is_way():
            if (o.is_closed() and tags.get("area") != "no") or not (tags.keys() & poi) - {"highway"}:
                continue
            try:
                wkb.create_linestring(o)
            except (RuntimeError, osmium.InvalidLocationError):
                continue
            out[("way", o.id)] = tags
        elif o.is_area():
            if not (tags.keys() & poi) - {"highway"}:
                continue
            out[("way" if o.from_way() else "relation", o.orig_id())] = tags
    return out


def _expected_sets(objects: dict[tuple[str, int], dict]) -> dict[str, set[tuple[str, int]]]:
    return {
        service: {key for key, tags in objects.items() if rule(tags)}
        for service, rule in EXPECTED_RULES.items()
    }


def _found_sets(dest: gpd.GeoDataFrame) -> dict[str, set[tuple[str, int]]]:
    return {
        service: set(zip(dest.loc[dest.service == service, "osm_type"], dest.loc[dest.service == service, "osm_id"]))
        for service in EXPECTED_RULES
    }


@pytest.fixture
def monaco_dest(read_extract, monaco):
    extract = read_extract(monaco)
    return extract, find_destinations(extract)


# ------------------------------------------------------------------------- real data vs osmium


def test_expected_rules_cover_default_taxonomy():
    assert set(EXPECTED_RULES) == set(load_taxonomy().service_names())


def test_matches_independent_osmium_count(osm_path, read_extract, tmp_path):
    """Every file of conftest.OSM_FILES (shared fixtures skipped when absent)."""
    dest = find_destinations(read_extract(osm_path))
    expected = _expected_sets(_osmium_objects(osm_path, tmp_path))
    found = _found_sets(dest)
    for service in EXPECTED_RULES:
        extra, missing = found[service] - expected[service], expected[service] - found[service]
        assert not extra and not missing, (
            f"{osm_path.name} {service}: only in destinations {sorted(extra)[:5]}, "
            f"only in the osmium reading {sorted(missing)[:5]}"
        )
    assert len(dest) == sum(len(s) for s in expected.values())


def test_monaco_counts_are_plausible(monaco_dest):
    _, dest = monaco_dest
    counts = dest.service.value_counts()
    # what a 2 km² dense city centre has; guards against both sides of the comparison being empty
    assert counts["grocery"] >= 10
    assert counts["pharmacy"] >= 10
    assert counts["restaurant_cafe"] >= 100
    assert counts["transit_stop"] >= 50
    assert counts["park"] >= 20
    assert counts["primary_school"] >= 5
    assert counts["hospital"] >= 1
    # Monaco's art and dance academies (amenity=school + school=art|dance) are not schools
    schools = dest[dest.service == "primary_school"]
    assert not schools.name.isin(["Pavillon Bosio", "Académie de Danse Princesse Grace"]).any()


def test_output_schema_and_order(monaco_dest):
    _, dest = monaco_dest
    assert list(dest.columns) == [*DESTINATION_COLUMNS, "geometry"]
    assert dest.crs.equals("EPSG:4326")
    assert (dest.geom_type == "Point").all()
    assert dest.osm_id.dtype == np.int64
    assert list(dest.index) == list(range(len(dest)))
    key = dest[["service", "osm_type", "osm_id"]]
    assert key.equals(key.sort_values(["service", "osm_type", "osm_id"]).reset_index(drop=True))
    assert not key.duplicated().any()
    tax = load_taxonomy()
    assert (dest.function == dest.service.map(tax.function_of)).all()


# ------------------------------------------------------------------------------------ geometry


def test_park_polygons_become_points_inside(monaco_dest):
    extract, dest = monaco_dest
    feats = extract.features.set_index(["osm_type", "osm_id"]).geometry
    parks = dest[(dest.service == "park") & (dest.osm_type != "node")]
    assert len(parks) >= 10
    polygons = feats.loc[list(zip(parks.osm_type, parks.osm_id))].to_numpy()
    assert shapely.get_type_id(polygons).tolist() == [6] * len(parks)  # all MultiPolygons
    assert shapely.covers(polygons, parks.geometry.to_numpy()).all()


def test_line_features_become_points_on_the_line(read_extract, helsinki):
    extract = read_extract(helsinki)
    dest = find_destinations(extract)
    feats = extract.features.set_index(["osm_type", "osm_id"]).geometry
    on_lines = [
        (row.geometry, feats.loc[(row.osm_type, row.osm_id)])
        for row in dest.itertuples()
        if row.osm_type == "way" and feats.loc[(row.osm_type, row.osm_id)].geom_type == "LineString"
    ]
    assert on_lines, "Helsinki has railway platforms mapped as open ways"
    assert all(line.distance(point) < 1e-9 for point, line in on_lines)


def test_node_keeps_exact_coordinates(monaco_dest):
    _, dest = monaco_dest
    nodes = dest[dest.osm_type == "node"]
    wanted = set(nodes.osm_id)
    locations = {}
    for o in osmium.FileProcessor(str(OSM_FILES["monaco"]), osmium.osm.NODE):
        if o.id in wanted:
            locations[o.id] = (o.location.lon, o.location.lat)
    xy = np.array([locations[i] for i in nodes.osm_id])
    assert np.array_equal(np.column_stack([nodes.geometry.x, nodes.geometry.y]), xy)


# ----------------------------------------------------------------------------- synthetic input


def _features(rows) -> gpd.GeoDataFrame:
    frame = pd.DataFrame(
        [(t, i, tags.get("name") if isinstance(tags, dict) else None, tags) for t, i, tags, _ in rows],
        columns=["osm_type", "osm_id", "name", "tags"],
    )
    return gpd.GeoDataFrame(frame, geometry=[g for *_, g in rows], crs="EPSG:4326")


L_PARK = Polygon([(0, 0), (0.01, 0), (0.01, 0.002), (0.002, 0.002), (0.002, 0.01), (0, 0.01)])  # L-shaped
SYNTHETIC = [
    ("node", 1, {"shop": "supermarket;bakery", "name": "Both"}, Point(1, 1)),
    ("node", 2, {"amenity": "school"}, Point(2, 2)),
    ("way", 3, {"amenity": "school", "isced:level": "1"}, Polygon([(3, 3), (3.1, 3), (3.1, 3.1)])),
    ("node", 4, {"amenity": "school", "school": "dance"}, Point(4, 4)),
    ("node", 5, {"office": "company"}, Point(5, 5)),
    ("node", 6, {"office": "no", "amenity": "bench"}, Point(6, 6)),
    ("way", 7, {"leisure": "park", "access": "private"}, L_PARK),
    ("way", 8, {"leisure": "park", "name": "L park"}, L_PARK),
    ("node", 9, {"amenity": "pharmacy", "healthcare": "pharmacy"}, Point(9, 9)),
    ("node", 10, {"highway": "bus_stop", "public_transport": "platform"}, Point(10, 10)),
    ("node", 11, {"public_transport": "stop_position", "bus": "yes"}, Point(11, 11)),
    ("node", 12, None, Point(12, 12)),
    ("node", 13, {"shop": " vacant "}, Point(13, 13)),
    ("way", 14, {"leisure": "pitch", "sport": "soccer"}, LineString([(14, 14), (14.1, 14), (14.1, 14.1)])),
    ("relation", 15, {"amenity": "school", "isced:level": "2;3", "school": "secondary"}, Point(15, 15)),
    ("node", 16, {"shop": "clothes", "craft": "tailor"}, Point(16, 16)),
]


def test_synthetic_matches():
    dest = find_destinations(_features(SYNTHETIC))
    got = set(zip(dest.service, dest.osm_id))
    assert got == {
        ("grocery", 1), ("bakery", 1),  # ";" multi-value: one row per service
        ("primary_school", 2), ("secondary_school", 2),  # no level information: both
        ("primary_school", 3),
        ("workplace", 5),  # office="*"; office=no (6) does not match
        ("park", 8),  # private park (7) excluded
        ("pharmacy", 9),  # two matching keys, one row
        ("transit_stop", 10),  # stop_position (11) is not where people wait
        ("sport", 14),
        ("secondary_school", 15),
        ("retail", 16), ("workplace", 16),
    }  # fmt: skip
    park = dest[dest.osm_id == 8].geometry.iloc[0]
    assert not L_PARK.contains(L_PARK.centroid) and L_PARK.contains(park)  # inside even where the centroid is not
    assert dest.loc[dest.osm_id == 8, "name"].iloc[0] == "L park"
    assert dest.loc[(dest.osm_id == 1)].function.tolist() == ["commerce", "commerce"]
    assert LineString([(14, 14), (14.1, 14), (14.1, 14.1)]).distance(dest[dest.osm_id == 14].geometry.iloc[0]) < 1e-12
    assert dest[dest.osm_id == 15].geometry.iloc[0].equals(Point(15, 15))


def test_input_not_mutated():
    feats = _features(SYNTHETIC)
    before = feats.copy(deep=True)
    before_tags = [dict(t) if t else t for t in feats.tags]
    find_destinations(feats)
    plain = pd.DataFrame(feats.drop(columns="geometry"))
    pd.testing.assert_frame_equal(plain, pd.DataFrame(before.drop(columns="geometry")))
    assert feats.geometry.equals(before.geometry)
    assert feats.tags.tolist() == before_tags


def test_custom_taxonomy_wildcard_require():
    tax = load_taxonomy(
        {
            "meta": {"name": "tiny"},
            "functions": {"fun": {"label": "Fun"}, "misc": {}},
            "services": {
                "anything_shop": {"function": "fun", "tags": {"shop": "*"}},
                "schools_with_level": {
                    "function": "misc",
                    "tags": {"amenity": ["school"]},
                    "require": {"isced:level": "*"},
                },
            },
        }
    )
    assert isinstance(tax, Taxonomy) and tax.name == "tiny"
    assert tax.functions["misc"] == "Misc"  # default label
    dest = find_destinations(_features(SYNTHETIC), taxonomy=tax)
    assert set(zip(dest.service, dest.osm_id)) == {
        ("anything_shop", 1), ("anything_shop", 13), ("anything_shop", 16),
        ("schools_with_level", 3), ("schools_with_level", 15),
    }  # fmt: skip
    summary = destinations_summary(dest)  # taxonomy recorded in dest.attrs
    assert summary.service.tolist() == ["anything_shop", "schools_with_level"]
    assert summary["count"].tolist() == [3, 2]


def test_osmnx_style_features():
    """osmnx features_from_* output: tags as columns, (element, id) index."""
    feats = gpd.GeoDataFrame(
        {"amenity": ["pharmacy", None], "shop": [np.nan, "bakery"], "name": ["P", np.nan]},
        geometry=[Point(0, 0), Point(1, 1)],
        index=pd.MultiIndex.from_tuples([("node", 10), ("way", 20)], names=["element", "id"]),
        crs="EPSG:4326",
    )
    dest = find_destinations(feats)
    assert set(zip(dest.service, dest.osm_type, dest.osm_id)) == {("pharmacy", "node", 10), ("bakery", "way", 20)}


def test_missing_keys_and_empty_input():
    feats = _features([("node", 1, {"amenity": "cafe"}, Point(0, 0))])  # no shop, leisure... at all
    dest = find_destinations(feats)
    assert dest.service.tolist() == ["restaurant_cafe"]

    empty = find_destinations(feats.iloc[:0])
    assert len(empty) == 0
    assert list(empty.columns) == [*DESTINATION_COLUMNS, "geometry"]
    assert empty.crs.equals("EPSG:4326")
    assert empty.dtypes.drop("geometry").equals(dest.dtypes.drop("geometry"))
    summary = destinations_summary(empty)
    assert len(summary) == len(load_taxonomy().services) and (summary["count"] == 0).all()


def test_extract_without_features_gives_empty(monaco_dest):
    extract, _ = monaco_dest
    bare = ingest.OSMExtract(
        ways=extract.ways,
        way_nodes=extract.way_nodes,
        features=extract.features.iloc[:0],
        buildings=extract.buildings,
        source="bare",
        sha256="0",
    )
    assert len(find_destinations(bare)) == 0


def test_projected_features_are_returned_in_wgs84():
    feats = _features(SYNTHETIC[7:9]).to_crs("EPSG:3857")
    dest = find_destinations(feats)
    assert dest.crs.equals("EPSG:4326")
    assert L_PARK.contains(dest[dest.osm_id == 8].geometry.iloc[0])


def test_warns_about_keys_not_read(caplog):
    tax = {
        "functions": {"safety": {}},
        "services": {"defibrillator": {"function": "safety", "tags": {"emergency": ["defibrillator"]}}},
    }
    feats = _features([("node", 1, {"emergency": "defibrillator", "amenity": "clinic"}, Point(0, 0))])
    with caplog.at_level(logging.WARNING, logger="urbankit.destinations"):
        dest = find_destinations(feats, taxonomy=tax)
    assert len(dest) == 1
    assert "emergency" in caplog.text and "poi_keys" in caplog.text


def test_summary_lists_every_service(monaco_dest):
    _, dest = monaco_dest
    summary = destinations_summary(dest)
    tax = load_taxonomy()
    assert summary.service.tolist() == tax.service_names()
    assert list(summary.columns) == ["function", "function_label", "service", "label", "count"]
    assert summary["count"].sum() == len(dest)
    assert summary.function.unique().tolist() == list(tax.functions)


# ----------------------------------------------------------------------------------- taxonomy


def test_default_taxonomy():
    tax = load_taxonomy()
    assert tax.name == "fifteen-minute"
    assert list(tax.functions) == ["living", "working", "commerce", "healthcare", "education", "entertainment"]
    for function in tax.functions:
        assert tax.services_of(function), function
    assert tax.function_of("grocery") == "commerce"
    assert tax.function_of("primary_school") == "education"
    assert tax.keys() <= set(ingest.DEFAULT_POI_KEYS)
    assert "isced:level" in tax.keys(include_filters=True) and "isced:level" not in tax.keys()
    assert load_taxonomy(tax.to_dict()) == tax
    assert hash(load_taxonomy(tax.to_dict())) == hash(tax)
    assert "<table>" in tax._repr_html_() and "grocery" in tax._repr_html_()
    with pytest.raises(uk.InvalidOptionError, match="groceries"):
        tax.function_of("groceries")


def _write(tmp_path: Path, text: str, name: str = "my_taxonomy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_in_service(tmp_path):
    path = _write(
        tmp_path,
        '[functions.commerce]\n[services.grocery]\nfunction = "commerce"\ntag = { shop = ["supermarket"] }\n',
    )
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    msg = str(err.value)
    assert "my_taxonomy.toml" in msg and "'tag'" in msg and "has no 'tags'" in msg
    assert "2 problems" in msg  # all problems in one error


def test_undeclared_function(tmp_path):
    text = '[functions.commerce]\n[services.grocery]\nfunction = "shopping"\ntags = { shop = ["supermarket"] }\n'
    path = _write(tmp_path, text)
    with pytest.raises(TaxonomyError, match="'shopping' is not declared"):
        load_taxonomy(path)


def test_bad_toml_names_file_and_line(tmp_path):
    text = '[services.grocery]\nfunction = "commerce"\ntags = { shop = [supermarket] }\n'
    path = _write(tmp_path, text, "broken.toml")
    with pytest.raises(TaxonomyError, match=r"broken\.toml.*line 3"):
        load_taxonomy(path)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"function": "f", "tags": {}}, "empty 'tags'"),
        ({"function": "f", "tags": {"shop": "supermarket"}}, "list of strings or \"*\""),
        ({"function": "f", "tags": {"shop": [1, 2]}}, "not non-empty strings"),
        ({"function": "f", "tags": {"shop": []}}, "non-empty list"),
        ({"tags": {"shop": ["x"]}}, "has no 'function'"),
        ({"function": "f", "tags": {"shop": ["x"]}, "exclude": ["x"]}, "exclude must be a table"),
    ],
)
def test_rule_problems(spec, fragment):
    with pytest.raises(TaxonomyError, match="'s1'") as err:
        load_taxonomy({"functions": {"f": {}}, "services": {"s1": spec}})
    assert fragment in str(err.value)


def test_structure_problems():
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(
            {
                "functions": {"f": {"colour": "red"}, "unused": {}},
                "services": {"bad name": {"function": "f", "tags": {"shop": "*"}}},
                "servces": {},
            }
        )
    msg = str(err.value)
    for fragment in ("'servces'", "'colour'", "'unused' has no service", "'bad name'", "<dict>"):
        assert fragment in msg


def test_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="nope.toml"):
        load_taxonomy(tmp_path / "nope.toml")


def test_extend_overrides_and_adds(tmp_path):
    path = _write(
        tmp_path,
        """
[functions.safety]
label = "Safety"

[services.bakery]
function = "commerce"
label = "Bakery or confectioner"
tags = { shop = ["bakery", "pastry", "confectionery"] }

[services.defibrillator]
function = "safety"
tags = { emergency = ["defibrillator"] }

[services.ice_cream]
function = "entertainment"
tags = { amenity = ["ice_cream"] }
""",
    )
    default = load_taxonomy()
    tax = load_taxonomy(path, extend=True)
    assert tax.services["bakery"].tags["shop"] == ("bakery", "pastry", "confectionery")
    assert tax.services["bakery"].label == "Bakery or confectioner"
    assert set(tax.services) == set(default.services) | {"defibrillator", "ice_cream"}
    assert tax.function_of("ice_cream") == "entertainment"  # default function, not redeclared
    assert list(tax.functions)[-1] == "safety"
    assert tax.source == str(path)
    # the cached default is untouched
    assert load_taxonomy() == default and default.services["bakery"].tags["shop"] == ("bakery", "pastry")
    # without extend, the same file lacks the default functions
    with pytest.raises(TaxonomyError, match="'commerce' is not declared"):
        load_taxonomy(path)


def test_extend_with_dict_and_taxonomy_passthrough():
    tax = load_taxonomy({"services": {"retail": {"function": "commerce", "tags": {"shop": ["clothes"]}}}}, extend=True)
    assert tax.services["retail"].tags == {"shop": ("clothes",)}
    assert load_taxonomy(tax) is tax
