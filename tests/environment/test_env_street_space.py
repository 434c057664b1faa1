"""Carriageway width from hand-made OSM tags and the street area freed."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString

from urbankit._errors import InvalidOptionError
from urbankit.environment import street_space as ss


def edges():
    rows = [
        {"highway": "residential", "width": "7.5 m"},  # 0 tagged width
        {"highway": "residential", "width": "24'", "lanes": "2"},  # 1 feet
        {"highway": "secondary", "lanes": "3"},  # 2 lanes only
        {"highway": "residential", "lanes": "1", "parking:lane:both": "parallel"},  # 3 lanes + 2 parallel
        {"highway": "residential", "lanes": "2", "parking:lane:left": "diagonal", "parking:lane:right": "no_parking"},
        {
            "highway": "residential",
            "oneway": "yes",
            "parking:both": "lane",
            "parking:both:orientation": "perpendicular",
        },
        {"highway": "tertiary", "parking:right": "on_kerb"},  # 6 parking off carriageway, two-way default lanes
        {"highway": "living_street"},  # 7 class default
        {"highway": "footway_unknown"},  # 8 unknown class
        {"highway": "primary", "width:carriageway": "9", "width": "20"},  # 9 carriageway width wins
        {"highway": "residential", "lanes": ["2", "3"]},  # 10 osmnx merged list: first value
        {"highway": "residential", "width": "wide", "lanes": "2;3"},  # 11 junk width, lanes 2;3 -> 3
    ]
    return pd.DataFrame(rows)


def test_widths_and_sources_by_hand():
    w = ss.carriageway_width(edges())
    expected = [
        (7.5, "width"),
        (24 * 0.3048, "width"),
        (3 * 3.0, "lanes"),
        (3.0 + 2 * 2.0, "lanes+parking tags"),
        (2 * 3.0 + 4.5, "lanes+parking tags"),
        (1 * 3.0 + 2 * 5.0, "parking tags+default lanes"),
        (2 * 3.0, "parking tags+default lanes"),
        (5.0, "class_default"),
        (6.0, "class_default"),
        (9.0, "width"),
        (2 * 3.0, "lanes"),
        (3 * 3.0, "lanes"),
    ]
    np.testing.assert_allclose(w.width_m, [e[0] for e in expected])
    assert list(w.width_source) == [e[1] for e in expected]
    assert w.parking_m.iloc[3] == 4.0


def test_lane_width_option():
    w = ss.carriageway_width(edges(), lane_width_m=3.5)
    assert w.width_m.iloc[2] == pytest.approx(10.5)
    assert w.width_m.iloc[0] == 7.5  # tagged widths do not depend on it


def test_area_freed_minus_access_lane():
    e = edges().iloc[[0, 2, 7]].reset_index(drop=True)
    e["length_m"] = [100.0, 50.0, 10.0]
    freed = ss.area_freed_m2(e, [True, True, False])
    np.testing.assert_allclose(freed, [100 * (7.5 - 3.0), 50 * (9.0 - 3.0), 0.0])
    assert ss.area_freed_m2(e, [True, True, True], access_lane_m=0).sum() == pytest.approx(750 + 450 + 50)
    narrow = pd.DataFrame({"width_m": [2.5], "length_m": [40.0]})
    assert ss.area_freed_m2(narrow, [True]).iloc[0] == 0.0


def test_area_freed_from_projected_geometry():
    g = gpd.GeoDataFrame({"highway": ["residential"]}, geometry=[LineString([(0, 0), (30, 40)])], crs=25831)
    assert ss.area_freed_m2(g, [True]).iloc[0] == pytest.approx(50 * (6.0 - 3.0))
    with pytest.raises(InvalidOptionError):
        ss.area_freed_m2(g.to_crs(4326), [True])
    with pytest.raises(InvalidOptionError):
        ss.area_freed_m2(g, [True, False])
    with pytest.raises(InvalidOptionError):
        ss.carriageway_width(g, lane_width_m=0)


#: (way tags, expected width in m by hand, expected source) of the hand-made OSM file below
PARKING_WAYS = [
    ({"lanes": "2", "parking:both": "lane", "parking:both:orientation": "parallel"}, 2 * 3.0 + 2 * 2.0,
     "lanes+parking tags"),
    ({"oneway": "yes", "parking:left": "lane", "parking:left:orientation": "diagonal", "parking:right": "no"},
     1 * 3.0 + 4.5, "parking tags+default lanes"),
    ({"parking:lane:both": "perpendicular"}, 2 * 3.0 + 2 * 5.0, "parking tags+default lanes"),
    ({"lanes": "1", "parking:lane:right": "parallel", "parking:lane:left": "no_stopping"}, 3.0 + 2.0,
     "lanes+parking tags"),
    ({"parking:both": "separate"}, 2 * 3.0, "parking tags+default lanes"),  # parking beside, not on it
    ({"parking:right": "half_on_kerb"}, 2 * 3.0 + 0.5 * 2.0, "parking tags+default lanes"),
    # untrusted values: garbage orientation -> parallel; garbage parking -> untagged; absurd numbers clipped
    ({"parking:both": "lane", "parking:both:orientation": "sideways!"}, 2 * 3.0 + 2 * 2.0,
     "parking tags+default lanes"),
    ({"parking:both": "%%%", "parking:lane:left": "1e9"}, 6.0, "class_default"),
    ({"width": "99999"}, 40.0, "width"),
    ({"width": "0.3"}, 2.0, "width"),
    ({"lanes": "500", "parking:both": "lane"}, 10 * 3.0 + 2 * 2.0, "lanes+parking tags"),
    ({"lanes": "nan", "width": "-4 m"}, 6.0, "class_default"),
]


def write_parking_osm(path):
    nodes = "".join(
        f'<node id="{i}" version="1" lat="41.3800" lon="{2.1500 + 0.001 * i:.4f}"/>'
        for i in range(1, len(PARKING_WAYS) + 2)
    )
    ways = []
    for k, (tags, _, _) in enumerate(PARKING_WAYS):
        tag_xml = "".join(f'<tag k="{key}" v="{value}"/>' for key, value in {"highway": "residential", **tags}.items())
        ways.append(f'<way id="{100 + k}" version="1"><nd ref="{k + 1}"/><nd ref="{k + 2}"/>{tag_xml}</way>')
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6">{nodes}{"".join(ways)}</osm>')
    return path


def test_parking_tags_from_a_hand_made_osm_file(tmp_path, caplog):
    import urbankit

    ex = urbankit.read_osm(write_parking_osm(tmp_path / "parking.osm"))
    ways = ex.ways.sort_values("way_id").reset_index(drop=True)
    assert list(ways["way_id"]) == [100 + k for k in range(len(PARKING_WAYS))]
    # the loader keeps both parking schemes
    assert ways.loc[0, "parking:both:orientation"] == "parallel" and ways.loc[2, "parking:lane:both"] == "perpendicular"
    with caplog.at_level("WARNING", logger="urbankit.environment.street_space"):
        w = ss.carriageway_width(ways)
    np.testing.assert_allclose(w["width_m"], [e[1] for e in PARKING_WAYS])
    assert list(w["width_source"]) == [e[2] for e in PARKING_WAYS]
    # the clipped values are reported, with examples
    assert "3 edges have an implausible width or lanes tag" in caplog.text and "width=99999" in caplog.text
    # the same tags reach the superblock effects through way_tags (effects keeps width, lanes, parking:*)
    from urbankit.superblocks.effects import _way_tag_frame

    edges = pd.DataFrame(
        {"way_id": ways["way_id"].to_numpy(), "highway": "residential", "oneway": (ways["oneway"] == "yes").to_numpy()}
    )
    np.testing.assert_allclose(ss.carriageway_width(_way_tag_frame(edges, ex.ways))["width_m"], w["width_m"])


def test_non_finite_numbers_are_clipped_not_crashing(caplog):
    e = pd.DataFrame({"highway": ["residential"] * 4, "width": [np.inf, np.nan, None, -1.0],
                      "lanes": [None, np.inf, "2", None]})
    with caplog.at_level("WARNING", logger="urbankit.environment.street_space"):
        w = ss.carriageway_width(e)
    np.testing.assert_allclose(w["width_m"], [40.0, 10 * 3.0, 2 * 3.0, 6.0])
    assert list(w["width_source"]) == ["width", "lanes", "lanes", "class_default"]
    assert "2 edges" in caplog.text
