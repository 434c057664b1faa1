"""Synthetic grid cities (urbankit.mock): networks built from them match hand formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import urbankit as uk
from urbankit.destinations import DESTINATION_COLUMNS
from urbankit.mock import DESTINATION_ID_BASE, grid_extract, grid_nodes, grid_size_for, random_destinations

BLOCK = 113.0


def _ij(net, block_m=BLOCK):
    """Lattice indices (i, j) of every node of a network built from a grid (origin = min x, min y)."""
    x, y = net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy()
    i = np.rint((x - x.min()) / block_m).astype(int)
    j = np.rint((y - y.min()) / block_m).astype(int)
    return pd.DataFrame({"i": i, "j": j}, index=net.nodes.index)


def n_nodes(nx, ny):
    return (nx + 1) * (ny + 1)


def n_undirected_edges(nx, ny):
    return nx * (ny + 1) + ny * (nx + 1)


@pytest.mark.parametrize("nx, ny", [(1, 1), (4, 3), (7, 2), (12, 12)])
@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_counts_match_formulas(nx, ny, mode):
    ex = grid_extract(nx, ny)
    assert len(ex.ways) == (nx + 1) + (ny + 1)  # one way per street line
    assert len(ex.way_nodes) == 2 * n_nodes(nx, ny)  # every node is on one row and one column
    net = uk.build_network(ex, mode, cache=False)
    assert len(net.nodes) == n_nodes(nx, ny)
    undirected = n_undirected_edges(nx, ny)
    assert len(net.edges) == (2 * undirected if mode == "drive" else undirected)
    assert net.meta["dropped_node_share"] == 0


@pytest.mark.parametrize(
    "origin", [(2.15, 41.38), (5.95, 45.0), (-73.99, 40.70), (151.2, -33.87)], ids=["bcn", "zone-edge", "nyc", "sydney"]
)
@pytest.mark.parametrize("block_m", [113.0, 80.0])
def test_every_edge_is_one_block(origin, block_m):
    # 200 blocks of 113 m from 5.95E cross into UTM zone 32: the grid must follow build_network's zone
    ex = grid_extract(200, 3, block_m=block_m, origin_lonlat=origin)
    net = uk.build_network(ex, "walk", cache=False)
    assert net.crs == ex.meta["utm_crs"]
    assert np.abs(net.edges.length_m.to_numpy() - block_m).max() < 1e-3
    # and the nodes sit on the lattice
    x, y = net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy()
    for c in (x - x.min(), y - y.min()):
        assert np.abs(c / block_m - np.rint(c / block_m)).max() * block_m < 1e-3
    # walk times: length / 4.8 km/h on the 0.001-min grid (113 m is 1.4125 min, a tie: 1.412 or 1.413)
    assert np.abs(net.edges.time_min - block_m / 80.0).max() <= 0.0005 + 1e-9


def test_utm_zone_follows_the_grid_centre():
    assert grid_extract(2, 2, origin_lonlat=(5.95, 45.0)).meta["utm_crs"] == "EPSG:32631"
    assert grid_extract(200, 2, origin_lonlat=(5.95, 45.0)).meta["utm_crs"] == "EPSG:32632"
    assert grid_extract(3, 3, origin_lonlat=(151.2, -33.87)).meta["utm_crs"] == "EPSG:32756"


@pytest.mark.parametrize("every", [3, 2, 5])
def test_arterials_on_every_kth_line(every):
    nx, ny = 10, 7
    ex = grid_extract(nx, ny, arterial_every=every)
    net = uk.build_network(ex, "walk", cache=False)
    ij = _ij(net)
    e = net.edges
    iu, iv = ij.loc[e.u, "i"].to_numpy(), ij.loc[e.v, "i"].to_numpy()
    ju, jv = ij.loc[e.u, "j"].to_numpy(), ij.loc[e.v, "j"].to_numpy()
    horizontal = ju == jv
    assert (horizontal ^ (iu == iv)).all()
    line = np.where(horizontal, ju, iu)
    expected = np.where(line % every == 0, "secondary", "residential")
    assert (e.highway.to_numpy() == expected).all()
    # drive speeds come from maxspeed: 50 on arterials, 30 elsewhere
    drive = uk.build_network(ex, "drive", cache=False)
    speeds = drive.edges.groupby("highway").speed_kmh.unique()
    assert speeds["secondary"].tolist() == [50.0] and speeds["residential"].tolist() == [30.0]
    assert ex.ways.loc[ex.ways.highway == "secondary", "maxspeed"].eq("50").all()
    # arterial line counts by direction
    rows = ex.ways[ex.ways.name.str.startswith("Row")]
    cols = ex.ways[ex.ways.name.str.startswith("Column")]
    assert (rows.highway == "secondary").sum() == len(range(0, ny + 1, every))
    assert (cols.highway == "secondary").sum() == len(range(0, nx + 1, every))


def test_no_arterials():
    ex = grid_extract(4, 4, arterial_every=None)
    assert set(ex.ways.highway) == {"residential"}
    assert set(grid_extract(4, 4, arterial_every=0).ways.highway) == {"residential"}


def test_ways_split_at_every_intersection():
    ex = grid_extract(5, 4)
    net = uk.build_network(ex, "walk", cache=False)
    # each way yields one edge per block it crosses
    per_way = net.edges.groupby("way_id").size()
    sizes = ex.ways.set_index("way_id").name.str.startswith("Row").map({True: 5, False: 4})
    assert per_way.sort_index().equals(sizes.sort_index().rename(None).astype(per_way.dtype))


def test_deterministic_with_seed():
    a = grid_extract(6, 5, seed=42, buildings=True)
    b = grid_extract(6, 5, seed=42, buildings=True)
    c = grid_extract(6, 5, seed=43, buildings=True)
    plain = grid_extract(6, 5, buildings=True)
    pd.testing.assert_frame_equal(a.ways, b.ways)
    pd.testing.assert_frame_equal(a.way_nodes, b.way_nodes)
    assert a.buildings.equals(b.buildings)
    assert a.sha256 == b.sha256
    assert len({a.sha256, c.sha256, plain.sha256}) == 3
    assert not a.way_nodes.node_id.equals(c.way_nodes.node_id)
    # ids are positive and distinct, coordinates identical whatever the seed
    for ex in (a, c, plain):
        assert (ex.way_nodes.node_id > 0).all() and (ex.ways.way_id > 0).all()
        assert ex.way_nodes.drop_duplicates("node_id").node_id.nunique() == n_nodes(6, 5)
        assert ex.ways.way_id.is_unique
        np.testing.assert_array_equal(
            ex.way_nodes[["lon", "lat"]].to_numpy(), plain.way_nodes[["lon", "lat"]].to_numpy()
        )
    # sequential ids without a seed: node (i, j) is 1 + j * (nx + 1) + i
    net = uk.build_network(plain, "walk", cache=False)
    ij = _ij(net)
    assert (ij.index.to_numpy() == 1 + ij.j.to_numpy() * 7 + ij.i.to_numpy()).all()


def test_sha256_keys_the_network_cache(cache_folder):
    a = uk.build_network(grid_extract(3, 3), "walk")
    b = uk.build_network(grid_extract(3, 3, block_m=100.0), "walk")
    assert a.key != b.key
    assert len(b.edges) == len(a.edges) and np.allclose(b.edges.length_m, 100.0)
    again = uk.build_network(grid_extract(3, 3), "walk")
    assert again.key == a.key and np.allclose(again.edges.length_m, BLOCK)


def test_oneway_residential_alternates():
    nx, ny = 8, 6
    ex = grid_extract(nx, ny, oneway_residential=True)
    drive = uk.build_network(ex, "drive", cache=False)
    ij = _ij(drive)
    e = drive.edges
    di = ij.loc[e.v, "i"].to_numpy() - ij.loc[e.u, "i"].to_numpy()
    dj = ij.loc[e.v, "j"].to_numpy() - ij.loc[e.u, "j"].to_numpy()
    horizontal = dj == 0
    line = np.where(horizontal, ij.loc[e.u, "j"].to_numpy(), ij.loc[e.u, "i"].to_numpy())
    step = np.where(horizontal, di, dj)
    assert set(np.abs(step)) == {1}
    art = e.highway.to_numpy() == "secondary"
    assert (line[art] % 3 == 0).all()
    # residential: one direction only, +1 on even lines, -1 on odd lines
    res = ~art
    assert (step[res] == np.where(line[res] % 2 == 0, 1, -1)).all()
    assert e.oneway[res].all() and not e.oneway[art].any()
    # arterials: both directions
    n_art_rows, n_art_cols = len(range(0, ny + 1, 3)), len(range(0, nx + 1, 3))
    art_segments = n_art_rows * nx + n_art_cols * ny
    res_segments = n_undirected_edges(nx, ny) - art_segments
    assert art.sum() == 2 * art_segments
    assert res.sum() == res_segments
    assert len(e) == 2 * art_segments + res_segments
    # still strongly connected (alternating directions), and walking ignores one-ways
    assert len(drive.nodes) == n_nodes(nx, ny)
    walk = uk.build_network(ex, "walk", cache=False)
    assert len(walk.edges) == n_undirected_edges(nx, ny)
    # without the option every drive edge exists in both directions
    assert len(uk.build_network(grid_extract(nx, ny), "drive", cache=False).edges) == 2 * n_undirected_edges(nx, ny)


def test_buildings_block_footprints():
    ex = grid_extract(4, 3, buildings=True, block_m=100.0)
    b = ex.buildings
    assert len(b) == 12 and b.crs.to_string() == "EPSG:4326"
    assert list(b.columns) == ["osm_type", "osm_id", *uk.osm.BUILDING_TAGS, "geometry"]
    assert (b.building == "apartments").all() and (b["building:levels"] == "5").all()
    area = b.to_crs(ex.meta["utm_crs"]).area
    assert np.allclose(area, 80.0 * 80.0, atol=1e-3)
    net = uk.build_network(ex, "walk", cache=False)
    pop = uk.population_per_node(net.nodes, buildings=b, floor_area_per_resident_m2=40.0)
    # 12 blocks x 6400 m2 x 5 levels / 40 m2 per resident
    assert pop.per_node.sum() == pytest.approx(12 * 6400 * 5 / 40.0, rel=1e-6)
    assert len(grid_extract(4, 3).buildings) == 0


def test_grid_nodes_sizes():
    assert grid_size_for(10_000) == (99, 99)
    assert grid_size_for(40_000) == (199, 199)
    assert grid_size_for(100_000) == (315, 315)
    ex = grid_nodes(400, block_m=90.0)
    assert ex.way_nodes.node_id.nunique() == 400
    assert ex.meta["mock"]["block_m"] == 90.0


def test_invalid_options():
    for kwargs in (
        {"nx_blocks": 0, "ny_blocks": 2},
        {"nx_blocks": 2.5, "ny_blocks": 2},
        {"nx_blocks": 2, "ny_blocks": 2, "block_m": -1},
    ):
        with pytest.raises(uk.InvalidOptionError):
            grid_extract(**kwargs)
    with pytest.raises(uk.InvalidOptionError):
        random_destinations(grid_extract(2, 2), services=["no-such-service"])


# ------------------------------------------------------------------------------------------------
# random destinations


def test_random_destinations_schema_matches_destinations():
    real = uk.find_destinations(uk.load("monaco"))
    ex = grid_extract(10, 10)
    net = uk.build_network(ex, "walk", cache=False)
    d = random_destinations(net, per_service=4, seed=5)
    assert list(d.columns) == list(real.columns) == [*DESTINATION_COLUMNS, "geometry"]
    assert (d.dtypes == real.dtypes).all()
    assert d.crs == real.crs
    tax = uk.load_taxonomy()
    assert sorted(d.service.unique()) == sorted(tax.service_names())
    assert (d.service.value_counts() == 4).all()
    assert all(d.function == d.service.map(tax.function_of))
    assert (d.osm_type == "node").all() and d.osm_id.is_unique and (d.osm_id >= DESTINATION_ID_BASE).all()
    assert d.index.equals(pd.RangeIndex(len(d)))
    assert d.attrs["taxonomy"] == tax.to_dict()
    assert d.equals(d.sort_values(["service", "osm_type", "osm_id"]))
    # usable by the rest of urbankit
    summary = uk.destinations_summary(d)
    assert int(summary["count"].sum()) == len(d)


def test_random_destinations_near_nodes_and_seeded():
    ex = grid_extract(8, 8)
    net = uk.build_network(ex, "walk", cache=False)
    a = random_destinations(net, services=["grocery", "pharmacy"], per_service=200, seed=3)
    b = random_destinations(ex, services=["grocery", "pharmacy"], per_service=200, seed=3)
    c = random_destinations(net, services=["grocery", "pharmacy"], per_service=200, seed=4)
    assert a.geom_equals_exact(b, tolerance=1e-9).all()  # nodes of a network and of its extract agree
    assert not a.geom_equals_exact(c, tolerance=1e-9).all()
    from scipy.spatial import cKDTree

    pts = a.to_crs(net.crs)
    dist, _ = cKDTree(net.nodes[["x", "y"]].to_numpy()).query(np.column_stack([pts.geometry.x, pts.geometry.y]))
    assert dist.max() <= 40.0 + 1e-6
    assert dist.max() > 20.0  # offsets are spread over 0-40 m
    assert len(random_destinations(net, per_service=0)) == 0


def test_accessibility_on_grid_matches_manhattan_distance():
    """One destination exactly on a node: minutes to it are blocks of Manhattan distance x 1.4."""
    from urbankit.accessibility import compute_accessibility

    nx, ny = 30, 24
    ex = grid_extract(nx, ny, block_m=112.0)  # 112 m at 4.8 km/h = 1.4 min exactly
    net = uk.build_network(ex, "walk", cache=False)
    dest = random_destinations(net, services=["grocery"], per_service=1, max_offset_m=0.0, seed=11)
    acc = compute_accessibility(net, dest, minutes=[10, 15, 30], services=["grocery"], progress=False)
    ij = _ij(net, 112.0)
    at = acc.pois.node_id.iloc[0]
    blocks = (ij.i - ij.loc[at, "i"]).abs() + (ij.j - ij.loc[at, "j"]).abs()
    expected = (blocks * 1.4).where(blocks * 1.4 <= 30 + 1e-9)
    got = acc.nodes["time_grocery_min"].reindex(ij.index)
    assert got.notna().equals(expected.notna())
    assert np.allclose(got.dropna(), expected.dropna(), atol=1e-9)
    for m in (10, 15, 30):
        assert (acc.nodes[f"n_grocery_{m}min"].reindex(ij.index) == (blocks * 1.4 <= m + 1e-9)).all()
