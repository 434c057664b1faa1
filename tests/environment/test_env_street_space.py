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
        (3.0 + 2 * 2.0, "lanes"),
        (2 * 3.0 + 4.5, "lanes"),
        (1 * 3.0 + 2 * 5.0, "parking+default_lanes"),
        (2 * 3.0, "parking+default_lanes"),
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
