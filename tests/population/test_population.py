"""Tests of urbankit.population: grid, buildings and uniform estimates of residents per node."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from urbankit import datasets
from urbankit._errors import (
    CorruptFileError,
    CRSError,
    InputFileError,
    InvalidOptionError,
    PopulationError,
    UnsupportedFormatError,
    UrbankitError,
)
from urbankit.population import PopulationEstimate, population_per_node, read_population_grid

HELSINKI_OSM = datasets.get_path("helsinki")
HELSINKI_BBOX = (24.9352, 60.1642, 24.9534, 60.1791)

UTM = "EPSG:32631"
X0, Y0 = 430_000.0, 4_580_000.0  # somewhere in Catalonia, zone 31N


def make_nodes(xy, *, crs=UTM, ids=None, offset=True) -> gpd.GeoDataFrame:
    """Street nodes following the network contract: int64 ``node_id`` index, x/y, Points."""
    xy = np.asarray(xy, dtype=float)
    if offset:
        xy = xy + (X0, Y0)
    ids = np.arange(1, len(xy) + 1) * 10 if ids is None else ids
    index = pd.Index(np.asarray(ids, dtype=np.int64), name="node_id")
    return gpd.GeoDataFrame(
        {"x": xy[:, 0], "y": xy[:, 1]} if len(xy) else {"x": [], "y": []},
        geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]) if len(xy) else [],
        index=index,
        crs=crs,
    )


def make_grid(cells, *, column="population", crs=UTM) -> gpd.GeoDataFrame:
    """Grid from ``[(minx, miny, maxx, maxy, population), ...]`` in metres from the origin."""
    geoms = [box(X0 + a, Y0 + b, X0 + c, Y0 + d) for a, b, c, d, _ in cells]
    return gpd.GeoDataFrame({column: [p for *_, p in cells]}, geometry=geoms, crs=crs)


# 2 x 2 cells of 100 m: A (4 residents), B (0), C (10, no node), D (3); E far away (50).
CELLS = [
    (0, 0, 100, 100, 4),  # A: nodes 10, 20 -> 2 each
    (100, 0, 200, 100, 0),  # B: node 30 -> 0
    (0, 100, 100, 200, 10),  # C: no node -> nearest to its centroid (50, 150): node 50 (72 m)
    (100, 100, 200, 200, 3),  # D: nodes 40, 50 -> 1.5 each
    (1000, 0, 1100, 100, 50),  # E: outside the network's extent
]
NODES_XY = [(20, 20), (80, 30), (150, 50), (150, 130), (110, 190)]


@pytest.fixture
def nodes():
    return make_nodes(NODES_XY)


@pytest.fixture
def grid():
    return make_grid(CELLS)


def assert_conserved(est: PopulationEstimate) -> None:
    d = est.details
    assert d["residents_assigned"] == pytest.approx(est.per_node.sum())
    assert d["residents_in_extent"] == pytest.approx(d["residents_assigned"] + d["residents_unreached"])
    assert d["residents_total"] == pytest.approx(
        d["residents_assigned"] + d["residents_unreached"] + d["residents_outside_extent"]
    )
    assert d["cells_total"] == d["cells_used"] + d["cells_outside_extent"]


# --------------------------------------------------------------------------------------------------
# grid: hand-computed


def test_grid_hand_computed(nodes, grid):
    est = population_per_node(nodes, grid=grid)
    assert isinstance(est, PopulationEstimate)
    assert est.source == "grid"
    expected = pd.Series([2.0, 2.0, 0.0, 1.5, 11.5], index=nodes.index, name="population")
    pd.testing.assert_series_equal(est.per_node, expected)
    assert est.per_node.index.name == "node_id"
    assert est.total == pytest.approx(17.0)
    d = est.details
    assert d["cells_total"] == 5 and d["cells_used"] == 4 and d["cells_outside_extent"] == 1
    assert d["residents_outside_extent"] == 50
    assert d["cells_snapped"] == 1 and d["residents_snapped"] == 10
    assert d["cells_unreached"] == 0 and d["residents_unreached"] == 0
    assert d["cells_with_nodes"] == 3
    assert d["nodes_in_cells"] == 5 and d["nodes_outside_grid"] == 0
    assert_conserved(est)


def test_grid_cell_beyond_max_snap_left_out(nodes, grid, caplog):
    with caplog.at_level(logging.WARNING, logger="urbankit.population"):
        est = population_per_node(nodes, grid=grid, max_snap_m=50)
    assert est.per_node.tolist() == [2.0, 2.0, 0.0, 1.5, 1.5]
    assert est.total == pytest.approx(7.0)
    assert est.details["cells_unreached"] == 1 and est.details["residents_unreached"] == 10
    assert "contain no street node" in caplog.text
    assert_conserved(est)


def test_grid_default_snap_distance_leaves_far_cell_out():
    # the hull is the segment (50,50)-(1000,50): it crosses H, whose centroid is 400 m from a node,
    # beyond the default 70.7 + 100 m
    grid = make_grid([(0, 0, 100, 100, 6), (400, 0, 500, 100, 7)])
    nodes = make_nodes([(50, 50), (1000, 50)])
    est = population_per_node(nodes, grid=grid)
    assert est.per_node.tolist() == [6.0, 0.0]
    assert est.details["cells_used"] == 2
    assert est.details["residents_unreached"] == 7
    assert est.details["nodes_outside_grid"] == 1
    assert_conserved(est)
    # a larger snap distance reaches it: the nearest node to (450, 50) is (50, 50)
    est = population_per_node(nodes, grid=grid, max_snap_m=500)
    assert est.per_node.tolist() == [13.0, 0.0]
    assert_conserved(est)


def test_grid_node_on_shared_border_counted_once():
    grid = make_grid([(0, 0, 100, 100, 4), (100, 0, 200, 100, 6)])
    nodes = make_nodes([(100, 50), (150, 50)])
    est = population_per_node(nodes, grid=grid)
    # the border node belongs to the first cell only; double counting would give [7, 3]
    assert est.per_node.tolist() == [4.0, 6.0]
    assert_conserved(est)


def test_grid_extent_buffer_brings_in_neighbour_cells():
    grid = make_grid([(0, 0, 100, 100, 4), (100, 0, 200, 100, 6)])
    nodes = make_nodes([(20, 20), (50, 80), (80, 30)])  # hull well inside A, 20 m from B
    est = population_per_node(nodes, grid=grid)
    assert est.total == pytest.approx(4.0) and est.details["cells_outside_extent"] == 1
    est = population_per_node(nodes, grid=grid, extent_buffer_m=50)
    assert est.details["cells_used"] == 2
    assert est.total == pytest.approx(10.0)  # B has no node: it goes to the nearest, (80, 30)
    assert est.per_node.loc[30] == pytest.approx(4 / 3 + 6)


def test_grid_partial_cells_by_area():
    # hull = square (0,0)-(150,100): all of A, half of B
    grid = make_grid([(0, 0, 100, 100, 4), (100, 0, 200, 100, 6)])
    nodes = make_nodes([(0, 0), (150, 0), (150, 100), (0, 100), (50, 50)])
    whole = population_per_node(nodes, grid=grid)
    assert whole.total == pytest.approx(10.0)
    est = population_per_node(nodes, grid=grid, partial_cells="area")
    assert est.total == pytest.approx(4 + 3)
    assert est.details["residents_in_extent"] == pytest.approx(7.0)
    assert est.details["residents_outside_extent"] == pytest.approx(3.0)
    assert_conserved(est)
    with pytest.raises(InvalidOptionError, match="partial_cells"):
        population_per_node(nodes, grid=grid, partial_cells="some")


def test_grid_result_aligned_to_arbitrary_node_ids(grid):
    nodes = make_nodes(NODES_XY, ids=[9_000_000_001, 7, -3, 42, 5])
    est = population_per_node(nodes, grid=grid)
    assert est.per_node.index.equals(nodes.index)
    assert est.per_node.loc[5] == pytest.approx(11.5)
    assert est.per_node.loc[9_000_000_001] == pytest.approx(2.0)


def test_inputs_not_mutated(nodes, grid):
    nodes_before, grid_before = nodes.copy(), grid.copy()
    population_per_node(nodes, grid=grid.to_crs("EPSG:4326"))
    population_per_node(nodes, grid=grid)
    b = make_buildings([(0, 0, 10, 10, {"building": "house", "building:levels": "2;3"})])
    b_before = b.copy()
    population_per_node(nodes, buildings=b, total=10)
    pd.testing.assert_frame_equal(nodes, nodes_before)
    pd.testing.assert_frame_equal(grid, grid_before)
    pd.testing.assert_frame_equal(b, b_before)
    assert nodes.crs == UTM and grid.crs == UTM and b.crs == "EPSG:4326"


# --------------------------------------------------------------------------------------------------
# grid: CRS, files, column detection


def test_grid_reprojected_from_wgs84_gives_same_answer(nodes, grid):
    expected = population_per_node(nodes, grid=grid)
    est = population_per_node(nodes, grid=grid.to_crs("EPSG:4326"))
    np.testing.assert_allclose(est.per_node.to_numpy(), expected.per_node.to_numpy())
    assert est.details["cells_used"] == expected.details["cells_used"]
    # and from another projected CRS (web mercator)
    est = population_per_node(nodes, grid=grid.to_crs("EPSG:3857"))
    np.testing.assert_allclose(est.per_node.to_numpy(), expected.per_node.to_numpy())


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".shp"])
def test_grid_from_file(tmp_path, nodes, grid, suffix):
    path = tmp_path / f"pop{suffix}"
    grid.rename(columns={"population": "asukkaita"}).to_crs("EPSG:4326").to_file(path)
    est = population_per_node(nodes, grid=path)
    np.testing.assert_allclose(est.per_node.to_numpy(), [2.0, 2.0, 0.0, 1.5, 11.5])
    assert est.details["column"] == "asukkaita"
    assert repr(est) == f"Population: 17 residents from grid 'pop{suffix}' (4 cells)"
    # read_population_grid normalises the column and can be passed on
    g = read_population_grid(str(path))
    assert list(g.columns) == ["population", "geometry"]
    assert g.attrs["population_column"] == "asukkaita"
    assert population_per_node(nodes, grid=g).total == pytest.approx(17.0)


def test_grid_file_errors(tmp_path, nodes):
    with pytest.raises(InputFileError, match="does not exist"):
        population_per_node(nodes, grid=tmp_path / "missing.gpkg")
    # .csv is an H3 hexagon table now (tests/population/test_population_sources.py); .xlsx is still unsupported
    with pytest.raises(UnsupportedFormatError, match="unsupported extension"):
        read_population_grid(tmp_path / "grid.xlsx")
    bad = tmp_path / "bad.gpkg"
    bad.write_bytes(b"this is not a geopackage" * 10)
    with pytest.raises(CorruptFileError, match="cannot read population grid"):
        read_population_grid(bad)


def test_grid_several_layers_need_layer(tmp_path, grid):
    path = tmp_path / "two.gpkg"
    grid.to_file(path, layer="a")
    grid.assign(population=grid.population * 2).to_file(path, layer="b")
    with pytest.raises(PopulationError, match="2 layers.*layer="):
        read_population_grid(path)
    assert read_population_grid(path, layer="b").population.sum() == 2 * grid.population.sum()


@pytest.mark.parametrize("name", ["population", "POP", "asukkaita", "Residents", "inhabitants", "total"])
def test_grid_column_detected(nodes, grid, name):
    est = population_per_node(nodes, grid=grid.rename(columns={"population": name}))
    assert est.total == pytest.approx(17.0)
    assert est.details["column"] == name


def test_grid_column_explicit_and_missing(nodes, grid):
    g = grid.rename(columns={"population": "value"}).assign(other=1)
    assert population_per_node(nodes, grid=g, column="value").total == pytest.approx(17.0)
    with pytest.raises(PopulationError, match="no recognised population column.*'value', 'other'.*column="):
        population_per_node(nodes, grid=g)
    with pytest.raises(PopulationError, match="no column 'vakiy'.*'value'"):
        population_per_node(nodes, grid=g, column="vakiy")


def test_grid_column_ambiguous(nodes, grid):
    g = grid.assign(pop=grid.population * 2)
    with pytest.raises(PopulationError, match="several possible population columns.*'population', 'pop'"):
        population_per_node(nodes, grid=g)
    assert population_per_node(nodes, grid=g, column="pop").total == pytest.approx(34.0)


def test_grid_without_crs(nodes, grid):
    g = gpd.GeoDataFrame(grid.drop(columns="geometry"), geometry=list(grid.geometry))
    assert g.crs is None
    with pytest.raises(CRSError, match=r"no CRS; set it with \.set_crs"):
        population_per_node(nodes, grid=g)


def test_nodes_without_crs_or_geographic(grid):
    nodes = make_nodes(NODES_XY)
    no_crs = gpd.GeoDataFrame(nodes.drop(columns="geometry"), geometry=list(nodes.geometry))
    with pytest.raises(CRSError, match=r"project them to a metric CRS with \.to_crs"):
        population_per_node(no_crs, grid=grid)
    with pytest.raises(CRSError, match=r"geographic CRS.*\.to_crs"):
        population_per_node(nodes.to_crs("EPSG:4326"), grid=grid)
    with pytest.raises(CRSError, match="geographic"):
        population_per_node(nodes.to_crs("EPSG:4326"))  # uniform too: the contract is metric


def test_problems_collected_and_raised_once(nodes, grid):
    g = gpd.GeoDataFrame(grid.drop(columns="geometry"), geometry=list(grid.geometry))
    g.loc[1, "population"] = -2
    g.loc[3, "population"] = np.nan
    # several kinds of problems: one error, of the first problem's type, listing them all
    with pytest.raises(InvalidOptionError) as info:
        population_per_node(nodes.to_crs("EPSG:4326"), grid=g, floor_area_per_resident_m2=0)
    assert isinstance(info.value, UrbankitError) and isinstance(info.value, ValueError)
    msg = str(info.value)
    assert "5 problems" in msg
    assert "floor_area_per_resident_m2=0" in msg
    assert "geographic CRS" in msg
    assert "1 missing (NaN)" in msg and "fillna" in msg
    assert "1 negative" in msg
    assert "grid (GeoDataFrame) has no CRS" in msg


def test_grid_file_problems_collected_with_node_problems(tmp_path, nodes, grid):
    path = tmp_path / "neg.geojson"
    grid.assign(population=grid.population - 5).to_file(path)
    with pytest.raises(CRSError) as info:
        population_per_node(nodes.to_crs("EPSG:4326"), grid=path)
    assert "2 problems" in str(info.value) and "negative values" in str(info.value)


def test_grid_not_overlapping(nodes, grid):
    far = grid.translate(50_000, 0)
    with pytest.raises(PopulationError, match=r"does not overlap.*EPSG:4326") as info:
        population_per_node(nodes, grid=gpd.GeoDataFrame(grid.drop(columns="geometry"), geometry=far))
    # both bounds are given in lon/lat: the nodes near 2.16 E 41.37 N, the grid 50 km east
    msg = str(info.value)
    assert "grid bounds (2.76" in msg and "network bounds (2.16" in msg


def test_grid_negative_values(nodes, grid):
    g = grid.copy()
    g.loc[[1, 3], "population"] = [-1, -5]
    with pytest.raises(PopulationError, match=r"2 negative values \(rows 1, 3"):
        population_per_node(nodes, grid=g)


def test_grid_nan_values_are_an_error(nodes, grid):
    g = grid.astype({"population": float})
    g.loc[2, "population"] = np.nan
    with pytest.raises(PopulationError, match=r"1 missing \(NaN\) values \(rows 2\).*fillna"):
        population_per_node(nodes, grid=g)
    # the documented fix
    est = population_per_node(nodes, grid=g.fillna({"population": 0}))
    assert est.total == pytest.approx(7.0)


def test_grid_non_numeric_and_non_polygon(nodes, grid):
    g = grid.astype({"population": object})
    g.loc[0, "population"] = "four"
    with pytest.raises(PopulationError, match="1 non-numeric values"):
        population_per_node(nodes, grid=g)
    pts = grid.set_geometry(grid.centroid)
    with pytest.raises(PopulationError, match="must hold polygons"):
        population_per_node(nodes, grid=pts)


def test_grid_zero_residents_in_area_warns(nodes, caplog):
    g = make_grid([(0, 0, 100, 100, 0), (100, 0, 200, 100, 0), (1000, 0, 1100, 100, 9)])
    with caplog.at_level(logging.WARNING, logger="urbankit.population"):
        est = population_per_node(nodes, grid=g)
    assert est.total == 0 and (est.per_node == 0).all()
    assert "0 residents" in caplog.text
    assert_conserved(est)


def test_grid_residents_but_none_reachable_raises():
    grid = make_grid([(0, 0, 100, 100, 0), (400, 0, 500, 100, 7)])
    nodes = make_nodes([(50, 50), (1000, 50)])
    with pytest.raises(PopulationError, match="none of the 7 residents.*max_snap_m"):
        population_per_node(nodes, grid=grid)


def test_grid_scaled_to_total(nodes, grid):
    est = population_per_node(nodes, grid=grid, total=34)
    assert est.total == pytest.approx(34.0)
    assert est.per_node.tolist() == pytest.approx([4.0, 4.0, 0.0, 3.0, 23.0])
    assert est.details["scale_factor"] == pytest.approx(2.0)
    assert "scaled" in repr(est)


# --------------------------------------------------------------------------------------------------
# nodes and options


def test_empty_nodes(grid):
    with pytest.raises(PopulationError, match="nodes is empty"):
        population_per_node(make_nodes(np.empty((0, 2))), grid=grid)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"floor_area_per_resident_m2": -40},
        {"floor_area_per_resident_m2": float("nan")},
        {"default_levels": 0},
        {"total": -1},
        {"max_snap_m": -5},
        {"extent_buffer_m": "far"},
    ],
)
def test_invalid_options(nodes, kwargs):
    with pytest.raises(InvalidOptionError, match="is invalid"):
        population_per_node(nodes, **kwargs)


def test_options_are_keyword_only(nodes, grid):
    with pytest.raises(TypeError):
        population_per_node(nodes, grid)  # noqa


def test_bad_input_types(nodes):
    with pytest.raises(InvalidOptionError, match="GeoDataFrame"):
        population_per_node(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InvalidOptionError, match="grid must be"):
        population_per_node(nodes, grid=42)
    with pytest.raises(InvalidOptionError, match="residential='house' is invalid"):
        population_per_node(nodes, buildings=make_buildings([]), residential="house")


# --------------------------------------------------------------------------------------------------
# buildings


def make_buildings(rows) -> gpd.GeoDataFrame:
    """Footprints from ``[(minx, miny, maxx, maxy, tags), ...]``, returned in EPSG:4326 like OSM."""
    cols = ("building", "building:levels", "building:min_level", "height", "roof:levels")
    data = {c: [r[4].get(c) for r in rows] for c in cols}
    geoms = [box(X0 + a, Y0 + b, X0 + c, Y0 + d) for a, b, c, d, _ in rows]
    gdf = gpd.GeoDataFrame(
        {"osm_type": "way", "osm_id": np.arange(len(rows), dtype=np.int64), **data}, geometry=geoms, crs=UTM
    )
    return gdf.to_crs("EPSG:4326")


def as_points(b: gpd.GeoDataFrame, *, footprint=None) -> gpd.GeoDataFrame:
    """Footprint polygons as read_osm gives buildings: centroid points with ``footprint_m2``."""
    metric = b.to_crs(UTM)
    out = b.copy()
    out["footprint_m2"] = metric.area.to_numpy() if footprint is None else footprint
    out = out.set_geometry(metric.centroid.to_crs(b.crs).values)
    return out


def test_buildings_as_points_with_footprint_hand_computed():
    nodes = make_nodes([(0, 0), (100, 0)])
    b = as_points(
        make_buildings(
            [
                (5, 20, 15, 40, {"building": "apartments", "building:levels": "3;4"}),  # 10 x 20 m
                (70, 10, 90, 30, {"building": "house", "building:levels": "1"}),  # 20 x 20 m
                (70, 10, 90, 30, {"building": "office", "building:levels": "10"}),  # ignored
            ]
        ),
        footprint=[200.0, 400.0, 400.0],
    )
    assert set(b.geom_type) == {"Point"}
    est = population_per_node(nodes, buildings=b, floor_area_per_resident_m2=40)
    assert est.per_node.loc[10] == pytest.approx(200 * 4 / 40, rel=1e-12)  # 20 residents
    assert est.per_node.loc[20] == pytest.approx(400 * 1 / 40, rel=1e-12)  # 10 residents
    assert est.details["buildings_used"] == 2 and est.details["buildings_non_residential"] == 1
    assert est.details["floor_area_m2"] == pytest.approx(200 * 4 + 400)
    # the footprint column is what counts, not the (zero) area of the point
    b.loc[0, "footprint_m2"] = 100.0
    est = population_per_node(nodes, buildings=b, floor_area_per_resident_m2=40)
    assert est.per_node.loc[10] == pytest.approx(10.0, rel=1e-12)


def test_points_and_polygons_give_the_same_estimate():
    nodes = make_nodes([(0, 0), (1000, 0), (0, 1000)])
    b = make_buildings(
        [
            (0, 0, 10, 10, {"building": "house", "building:levels": "4"}),
            (990, 0, 1000, 10, {"building": "terrace", "height": "6 m"}),
            (0, 990, 10, 1000, {"building": "yes"}),
            (20, 0, 30, 10, {"building": "Residential", "building:levels": "5", "building:min_level": "2"}),
        ]
    )
    want = population_per_node(nodes, buildings=b, floor_area_per_resident_m2=20)
    got = population_per_node(nodes, buildings=as_points(b), floor_area_per_resident_m2=20)
    np.testing.assert_allclose(got.per_node.to_numpy(), want.per_node.to_numpy(), rtol=1e-9)
    # mixed: polygons use their own area, points their footprint_m2
    mixed = pd.concat([b.iloc[:2].assign(footprint_m2=np.nan), as_points(b.iloc[2:])], ignore_index=True)
    mixed = gpd.GeoDataFrame(mixed, geometry="geometry", crs=b.crs)
    got = population_per_node(nodes, buildings=mixed, floor_area_per_resident_m2=20)
    np.testing.assert_allclose(got.per_node.to_numpy(), want.per_node.to_numpy(), rtol=1e-9)


def test_points_without_footprint_are_not_used():
    nodes = make_nodes([(0, 0)])
    pts = as_points(make_buildings([(0, 0, 10, 10, {"building": "house"}), (20, 0, 30, 10, {"building": "house"})]))
    pts.loc[1, "footprint_m2"] = np.nan
    est = population_per_node(nodes, buildings=pts, floor_area_per_resident_m2=40)
    assert est.details["buildings_used"] == 1 and est.details["buildings_not_polygons"] == 1
    assert est.total == pytest.approx(100 * 2 / 40, rel=1e-6)  # a house without levels: 2 (by type)
    with pytest.raises(PopulationError, match="none of the 2 buildings is a residential footprint"):
        population_per_node(nodes, buildings=pts.drop(columns="footprint_m2"))


def test_buildings_hand_computed():
    nodes = make_nodes([(0, 0), (100, 0)])
    b = make_buildings(
        [
            (5, 20, 15, 40, {"building": "apartments", "building:levels": "3;4"}),  # 10 x 20 m
            (70, 10, 90, 30, {"building": "office", "building:levels": "10"}),  # ignored
        ]
    )
    est = population_per_node(nodes, buildings=b, floor_area_per_resident_m2=40)
    assert est.source == "buildings"
    assert est.per_node.loc[10] == pytest.approx(200 * 4 / 40, rel=1e-6)  # 20 residents
    assert est.per_node.loc[20] == 0
    assert est.details["buildings_used"] == 1 and est.details["buildings_non_residential"] == 1
    assert repr(est).startswith("Population: 20 residents from 1 residential buildings")


def test_buildings_levels_height_default_and_min_level():
    nodes = make_nodes([(0, 0), (1000, 0), (0, 1000)])
    b = make_buildings(
        [
            (0, 0, 10, 10, {"building": "house", "building:levels": "4"}),  # 100 m2 x 4
            (990, 0, 1000, 10, {"building": "terrace", "height": "6 m"}),  # 100 m2 x 2
            (0, 990, 10, 1000, {"building": "yes", "building:levels": "lots"}),  # default: median 3
            (20, 0, 30, 10, {"building": "Residential", "building:levels": "5", "building:min_level": "2"}),
        ]
    )
    est = population_per_node(nodes, buildings=b, floor_area_per_resident_m2=20)
    # levels: 4, 2, default 4 by type (3 tagged buildings are too few for a local median), 5 - 2 = 3
    assert "fewer than" in est.details["default_levels_other"]
    assert est.details["buildings_levels_tagged"] == 2
    assert est.details["buildings_levels_from_height"] == 1
    assert est.details["buildings_default_levels"] == 1
    np.testing.assert_allclose(est.per_node.to_numpy(), [100 * 4 / 20 + 100 * 3 / 20, 10.0, 20.0], rtol=1e-6)
    est = population_per_node(nodes, buildings=b, floor_area_per_resident_m2=20, default_levels=1)
    assert est.per_node.loc[30] == pytest.approx(5.0, rel=1e-6)


def test_buildings_without_levels_fall_back_to_the_type_default():
    nodes = make_nodes([(0, 0)])
    b = make_buildings([(0, 0, 10, 10, {"building": "house"})])
    est = population_per_node(nodes, buildings=b, floor_area_per_resident_m2=40)
    assert est.details["buildings_default_levels"] == 1
    assert est.total == pytest.approx(100 * 2 / 40, rel=1e-6)  # DEFAULT_LEVELS_BY_TYPE["house"] == 2


def test_buildings_far_away_left_out_and_scaling():
    nodes = make_nodes([(0, 0)])
    b = make_buildings(
        [
            (0, 0, 10, 10, {"building": "house", "building:levels": "2"}),
            (5000, 0, 5010, 10, {"building": "house", "building:levels": "2"}),
        ]
    )
    est = population_per_node(nodes, buildings=b, floor_area_per_resident_m2=10)
    assert est.total == pytest.approx(20.0, rel=1e-6)
    assert est.details["buildings_unreached"] == 1
    assert est.details["residents_unreached"] == pytest.approx(20.0, rel=1e-6)
    est = population_per_node(nodes, buildings=b, total=500)
    assert est.total == pytest.approx(500.0)


def test_buildings_only_non_residential_raises():
    nodes = make_nodes([(0, 0)])
    b = make_buildings([(0, 0, 10, 10, {"building": "office"}), (20, 0, 30, 10, {"building": "church"})])
    with pytest.raises(PopulationError, match="none of the 2 buildings is a residential.*office"):
        population_per_node(nodes, buildings=b)
    # unless told what homes are here
    est = population_per_node(nodes, buildings=b, residential={"office"})
    assert est.total > 0


def test_buildings_without_crs():
    nodes = make_nodes([(0, 0)])
    b = make_buildings([(0, 0, 10, 10, {"building": "house"})])
    b = gpd.GeoDataFrame(b.drop(columns="geometry"), geometry=list(b.geometry))
    with pytest.raises(CRSError, match=r"set it with \.set_crs"):
        population_per_node(nodes, buildings=b)


def test_grid_takes_precedence_over_buildings(nodes, grid):
    b = make_buildings([(0, 0, 10, 10, {"building": "house"})])
    assert population_per_node(nodes, grid=grid, buildings=b).source == "grid"


# --------------------------------------------------------------------------------------------------
# uniform


def test_uniform_default_one_per_node(nodes, caplog):
    with caplog.at_level(logging.INFO, logger="urbankit.population"):
        est = population_per_node(nodes)
    assert est.source == "uniform"
    assert (est.per_node == 1.0).all() and est.total == 5.0
    assert "1 resident per node" in repr(est)
    assert "no population grid or buildings" in caplog.text
    assert "uniform" in est._repr_html_()


def test_uniform_total(nodes):
    est = population_per_node(nodes, total=1000)
    assert est.per_node.tolist() == [200.0] * 5
    assert est.total == pytest.approx(1000.0)
    assert est.per_node.name == "population"


# --------------------------------------------------------------------------------------------------
# Helsinki: the real grid on synthetic nodes over the OSM extract's bbox


@pytest.fixture(scope="module")
def helsinki_nodes():
    lon, lat = np.meshgrid(
        np.linspace(HELSINKI_BBOX[0], HELSINKI_BBOX[2], 25), np.linspace(HELSINKI_BBOX[1], HELSINKI_BBOX[3], 25)
    )
    pts = gpd.GeoSeries(gpd.points_from_xy(lon.ravel(), lat.ravel()), crs="EPSG:4326").to_crs("EPSG:3067")
    return make_nodes(shapely.get_coordinates(pts.values), crs="EPSG:3067", offset=False)


@pytest.fixture
def grid_path(helsinki_population):
    """The HSY grid (a downloadable data set: the test is skipped when it is not in the mirror or cache)."""
    return helsinki_population


def test_helsinki_grid_file(grid_path):
    g = read_population_grid(grid_path)
    assert len(g) == 92
    assert g.population.sum() == 71_724
    assert g.attrs["population_column"] == "population"


def test_helsinki_grid_on_synthetic_nodes(helsinki_nodes, grid_path):
    est = population_per_node(helsinki_nodes, grid=grid_path)

    # independent reference: cells intersecting the convex hull of the nodes
    raw = gpd.read_file(grid_path).to_crs(helsinki_nodes.crs)
    hull = helsinki_nodes.geometry.union_all().convex_hull
    hit = raw[raw.intersects(hull)]
    assert est.total == pytest.approx(hit.population.sum())
    assert est.details["cells_used"] == len(hit)
    assert est.details["residents_outside_extent"] == pytest.approx(raw.population.sum() - hit.population.sum())
    assert_conserved(est)
    # the figures of the extract
    assert len(hit) == 22 and hit.population.sum() == 7_801
    assert repr(est) == "Population: 7,801 residents from grid 'helsinki_population_grid_2020.gpkg' (22 cells)"
    assert (est.per_node >= 0).all() and est.per_node.index.equals(helsinki_nodes.index)

    # same answer in UTM 35N
    utm = helsinki_nodes.to_crs("EPSG:32635")
    est_utm = population_per_node(utm, grid=grid_path)
    np.testing.assert_allclose(est_utm.per_node.to_numpy(), est.per_node.to_numpy())


def test_grid_by_data_set_name(helsinki_nodes, grid_path):
    """A data set name stands for its file (mirror or cache), as in notebooks' population parameters."""
    by_name = population_per_node(helsinki_nodes, grid="helsinki_population")
    by_path = population_per_node(helsinki_nodes, grid=grid_path)
    pd.testing.assert_series_equal(by_name.per_node, by_path.per_node)
    assert repr(by_name) == repr(by_path)


def test_helsinki_osm_buildings(helsinki_nodes):
    import urbankit as uk

    ex = uk.read_osm(HELSINKI_OSM)
    est = population_per_node(helsinki_nodes, buildings=ex.buildings)
    d = est.details
    assert d["buildings_used"] + d["buildings_non_residential"] + d["buildings_not_polygons"] == len(ex.buildings)
    assert d["buildings_used"] > 0 and est.total > 0 and d["buildings_not_polygons"] == 0
    # the same as from the footprint polygons themselves (osmium's, independent of urbankit)
    import osmium

    wkb = osmium.geom.WKBFactory()
    polys = {}
    for area in osmium.FileProcessor(str(HELSINKI_OSM)).with_areas():
        if area.is_area() and area.tags.get("building", "no") != "no":
            polys["way" if area.from_way() else "relation", area.orig_id()] = wkb.create_multipolygon(area)
    geoms = shapely.from_wkb([polys[k] for k in zip(ex.buildings.osm_type, ex.buildings.osm_id)])
    as_polygons = gpd.GeoDataFrame(ex.buildings.drop(columns=["geometry", "footprint_m2"]), geometry=geoms, crs=4326)
    ref = population_per_node(helsinki_nodes, buildings=as_polygons)
    assert ref.details["buildings_used"] == d["buildings_used"]
    assert est.total == pytest.approx(ref.total, rel=1e-3)
    np.testing.assert_allclose(est.per_node.to_numpy(), ref.per_node.to_numpy(), rtol=2e-3, atol=1e-6)
    assert est.total == pytest.approx(d["residents_assigned"])
    assert d["residents_total"] == pytest.approx(d["residents_assigned"] + d["residents_unreached"])
    scaled = population_per_node(helsinki_nodes, buildings=ex.buildings, total=7_801)
    assert scaled.total == pytest.approx(7_801)


def test_population_estimate_summary_is_a_table():
    """``.summary()`` is a DataFrame, as everywhere in urbankit; the one-line text is ``describe()``."""
    nodes = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy([0.0, 100.0, 200.0], [0.0, 0.0, 0.0]), crs="EPSG:32632", index=[7, 8, 9]
    )
    est = population_per_node(nodes, total=300.0)
    table = est.summary()
    assert isinstance(table, pd.DataFrame) and table.index.name == "item"
    assert table.loc["residents", "value"] == pytest.approx(300.0) == est.per_node.sum()
    assert table.loc["nodes", "value"] == 3
    assert table.loc["description", "value"] == est.description
    assert isinstance(est.describe(), str) and repr(est) == est.describe()
