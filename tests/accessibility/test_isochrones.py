"""Isochrones on hand-made networks whose reach is known by hand, and on Monaco against networkx."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import urbankit
from urbankit._errors import CRSError, InvalidOptionError
from urbankit.accessibility import compute_accessibility
from urbankit.accessibility.isochrones import compute_isochrones
from urbankit.network import StreetNetwork, quantize_minutes

CRS = "EPSG:32631"  # UTM 31N: metres, so hand-made coordinates are exact lengths
X0, Y0 = 500_000.0, 5_000_000.0
WALK = 80.0  # metres per minute at the default 4.8 km/h


def make_network(xy: dict, pairs: list, *, directed: bool = False, speed_kmh: float = 4.8, mode: str = "walk"):
    """A StreetNetwork of straight edges between the given node coordinates (metres in CRS)."""
    ids = sorted(xy)
    nodes = pd.DataFrame(
        {"x": [xy[i][0] for i in ids], "y": [xy[i][1] for i in ids]}, index=pd.Index(ids, name="node_id")
    )
    lon, lat = (
        gpd.GeoSeries(gpd.points_from_xy(nodes.x, nodes.y), crs=CRS).to_crs("EPSG:4326").pipe(lambda s: (s.x, s.y))
    )
    nodes["lon"], nodes["lat"] = lon.to_numpy(), lat.to_numpy()
    nodes = gpd.GeoDataFrame(nodes, geometry=gpd.points_from_xy(nodes.x, nodes.y), crs=CRS)
    geoms = [shapely.LineString([xy[u], xy[v]]) for u, v in pairs]
    length = np.array([g.length for g in geoms])
    edges = gpd.GeoDataFrame(
        {
            "u": [u for u, _ in pairs],
            "v": [v for _, v in pairs],
            "way_id": np.arange(len(pairs)),
            "highway": "residential",
            "name": None,
            "oneway": directed,
            "length_m": length,
            "speed_kmh": speed_kmh,
            "time_min": quantize_minutes(length / (speed_kmh * 1000 / 60)),
        },
        geometry=geoms,
        crs=CRS,
    )
    return StreetNetwork(mode=mode, nodes=nodes, edges=edges, crs=CRS, directed=directed, meta={"key": "test"})


def line_network(n: int = 41, step: float = 100.0, **kw):
    """Nodes 0..n-1 on a west-east line, ``step`` metres apart (100 m = 1.25 walking minutes)."""
    xy = {i: (X0 + step * i, Y0) for i in range(n)}
    return make_network(xy, [(i, i + 1) for i in range(n - 1)], **kw)


def at(x, y) -> gpd.GeoSeries:
    return gpd.GeoSeries([shapely.Point(x, y)], crs=CRS)


def metric(iso, crs=CRS) -> gpd.GeoSeries:
    return iso.to_crs(crs).geometry


# ------------------------------------------------------------------------------------------------ by hand


def test_line_800_m_in_10_minutes():
    net = line_network()
    mid = X0 + 2000.0  # node 20
    iso = compute_isochrones(net, at(mid, Y0), minutes=[10], buffer_m=25)
    minx, miny, maxx, maxy = metric(iso).iloc[0].bounds
    # 10 min at 4.8 km/h = 800 m each way, plus the 25 m band around the street
    assert minx == pytest.approx(mid - 825, abs=0.05)
    assert maxx == pytest.approx(mid + 825, abs=0.05)
    assert (miny, maxy) == (pytest.approx(Y0 - 25, abs=0.05), pytest.approx(Y0 + 25, abs=0.05))
    # a 1600 m capsule of radius 25 m
    capsule = shapely.LineString([(mid - 800, Y0), (mid + 800, Y0)]).buffer(25)
    # (up to the polygonal approximation of the round ends: 0.3 m² per arc segment)
    assert metric(iso).iloc[0].symmetric_difference(capsule).area < 20.0
    assert iso["area_ha"].iloc[0] == pytest.approx((1600 * 50 + math.pi * 25**2) / 10_000, rel=2e-3)


def test_walk_to_the_network_counts():
    net = line_network()
    mid = X0 + 2000.0
    # 40 m off the street: 0.5 min of the budget goes on the straight walk to node 20
    iso = compute_isochrones(net, at(mid, Y0 + 40), minutes=[10], buffer_m=25)
    minx, _miny, maxx, maxy = metric(iso).iloc[0].bounds
    assert (minx, maxx) == (pytest.approx(mid - 760 - 25, abs=0.05), pytest.approx(mid + 760 + 25, abs=0.05))
    assert maxy == pytest.approx(Y0 + 40 + 25, abs=0.05)  # the connector is part of the isochrone
    row = iso.iloc[0]
    assert row["node_id"] == 20 and row["snap_m"] == pytest.approx(40.0)
    # a slower walker loses more on the connector: 40 m at 2.4 km/h (40 m/min) = 1 min
    slow = compute_isochrones(net, at(mid, Y0 + 40), minutes=[10], buffer_m=25, walk_speed_kmh=2.4)
    assert metric(slow).iloc[0].bounds[2] == pytest.approx(mid + 720 + 25, abs=0.05)


def test_thresholds_are_nested_and_cut_inside_edges():
    net = line_network()
    mid = X0 + 2000.0
    iso = compute_isochrones(net, at(mid + 30, Y0), minutes=[15, 2, 7.5], buffer_m=10)
    assert iso["minutes"].tolist() == [2, 7.5, 15]
    g = metric(iso)
    # origin on the street 30 m east of node 20, its nearest node: 0.375 min to the node, then
    # T - 0.375 min either way from it (cut inside an edge: 100 m edges, 80 m/min)
    for T in (2, 7.5, 15):
        minx, _, maxx, _ = g[(iso["minutes"] == T).to_numpy()].iloc[0].bounds
        assert minx == pytest.approx(mid - (T - 0.375) * WALK - 10, abs=0.05)
        assert maxx == pytest.approx(mid + (T - 0.375) * WALK + 10, abs=0.05)
    # nested: each polygon inside the next
    assert g.iloc[1].buffer(1e-6).contains(g.iloc[0])
    assert g.iloc[2].buffer(1e-6).contains(g.iloc[1])
    assert (np.diff(iso["area_ha"]) > 0).all()


def test_edge_reached_from_both_ends():
    # equilateral triangle A-B-C of 100 m sides (1.25 min each); from A, B and C are reached at
    # 1.25 min, and B-C is entered from both ends
    h = 100 * math.sqrt(3) / 2
    xy = {1: (X0, Y0), 2: (X0 + 100, Y0), 3: (X0 + 50, Y0 + h)}
    net = make_network(xy, [(1, 2), (2, 3), (3, 1)])
    bc = shapely.LineString([xy[2], xy[3]])
    iso = compute_isochrones(net, at(*xy[1]), minutes=[1.75, 1.875], buffer_m=1)
    short, long_ = metric(iso)
    # 1.75 min: 0.5 min = 40 m from each end of B-C, a 20 m gap in the middle
    assert short.contains(bc.interpolate(35)) and short.contains(bc.interpolate(65))
    assert not short.contains(bc.interpolate(50))
    assert not short.contains(bc.interpolate(43)) and not short.contains(bc.interpolate(57))
    # 1.875 min: 50 m from each end, they meet
    assert long_.contains(bc)


def test_drive_follows_one_way_streets():
    # 6 km/h = 100 m/min; a one-way street running east
    oneway = line_network(speed_kmh=6.0, directed=True, mode="drive")
    mid = X0 + 2000.0
    iso = compute_isochrones(oneway, at(mid, Y0), minutes=[5, 10], buffer_m=25)
    for (_, row), T in zip(metric(iso).items(), (5, 10)):
        minx, _, maxx, _ = row.bounds
        assert minx == pytest.approx(mid - 25, abs=0.05)  # nothing west of the origin
        assert maxx == pytest.approx(mid + 100 * T + 25, abs=0.05)
    # the same street two-way (one edge row per direction, as drive networks hold them)
    both = make_network(
        {i: (X0 + 100.0 * i, Y0) for i in range(41)},
        [(i, i + 1) for i in range(40)] + [(i + 1, i) for i in range(40)],
        directed=True,
        speed_kmh=6.0,
        mode="drive",
    )
    minx, _, maxx, _ = metric(compute_isochrones(both, at(mid, Y0), minutes=[10], buffer_m=25)).iloc[0].bounds
    assert (minx, maxx) == (pytest.approx(mid - 1025, abs=0.05), pytest.approx(mid + 1025, abs=0.05))
    # an undirected walk network at the same speed gives the same polygon
    walk = line_network(speed_kmh=6.0)
    a = metric(compute_isochrones(walk, at(mid, Y0), minutes=[10])).iloc[0]
    b = metric(compute_isochrones(both, at(mid, Y0), minutes=[10])).iloc[0]
    assert a.symmetric_difference(b).area < 1e-3


def test_far_point_gives_empty_isochrone(caplog):
    net = line_network()
    with caplog.at_level(logging.WARNING, logger="urbankit.isochrones"):
        iso = compute_isochrones(net, at(X0, Y0 + 1000), minutes=[10, 15])  # 1000 m = 12.5 min off the street
    assert "more than" in caplog.text
    assert iso.geometry.iloc[0].is_empty and iso["area_ha"].iloc[0] == 0
    # at 15 min: 2.5 min on the street, 200 m east of node 0
    assert metric(iso).iloc[1].bounds[2] == pytest.approx(X0 + 200 + 25, abs=0.05)


# ------------------------------------------------------------------------------------------------ frame


def test_frame_and_point_inputs():
    net = line_network()
    pts = gpd.GeoDataFrame(
        {"label": ["a", "b"]},
        geometry=[shapely.Point(X0 + 500, Y0), shapely.Point(X0 + 3000, Y0 + 10)],
        index=["school", "park"],
        crs=CRS,
    )
    iso = compute_isochrones(net, pts, minutes=(5, 10))
    assert iso.crs.to_epsg() == 4326
    assert list(iso.columns) == ["point_id", "minutes", "node_id", "snap_m", "lon", "lat", "area_ha", "geometry"]
    assert iso["point_id"].tolist() == ["school", "school", "park", "park"]
    assert iso["minutes"].tolist() == [5, 10, 5, 10]
    assert iso["node_id"].tolist() == [5, 5, 30, 30]
    ll = pts.to_crs("EPSG:4326")
    assert iso["lon"].iloc[2] == pytest.approx(ll.geometry.x.iloc[1]) and iso["lat"].iloc[2] == pytest.approx(
        ll.geometry.y.iloc[1]
    )
    np.testing.assert_allclose(iso["area_ha"], metric(iso).area / 10_000, rtol=1e-3)
    # (lon, lat) pairs: numbered from 0, same polygons
    pairs = list(zip(ll.geometry.x, ll.geometry.y))
    again = compute_isochrones(net, pairs, minutes=(5, 10))
    assert again["point_id"].tolist() == [0, 0, 1, 1]
    assert metric(again).iloc[3].symmetric_difference(metric(iso).iloc[3]).area < 1e-2
    single = compute_isochrones(net, pairs[0], minutes=5)
    assert len(single) == 1 and single["point_id"].iloc[0] == 0
    # a GeoSeries keeps its index
    assert compute_isochrones(net, pts.geometry, minutes=5)["point_id"].tolist() == ["school", "park"]


def test_invalid_inputs():
    net = line_network()
    with pytest.raises(CRSError, match="set_crs"):
        compute_isochrones(net, gpd.GeoSeries([shapely.Point(X0, Y0)]))
    with pytest.raises(CRSError, match="lon, lat"):
        compute_isochrones(net, [(X0, Y0)])
    with pytest.raises(InvalidOptionError, match="empty"):
        compute_isochrones(net, [])
    with pytest.raises(InvalidOptionError, match="Point"):
        compute_isochrones(net, gpd.GeoSeries([shapely.LineString([(X0, Y0), (X0 + 1, Y0)])], crs=CRS))
    with pytest.raises(InvalidOptionError, match="pairs"):
        compute_isochrones(net, [(1.0, 2.0, 3.0)])
    with pytest.raises(InvalidOptionError, match="pairs"):
        compute_isochrones(net, "7.42, 43.73")
    with pytest.raises(InvalidOptionError, match="no CRS"):
        compute_isochrones(net, shapely.Point(3, 45))
    with pytest.raises(InvalidOptionError, match="positive"):
        compute_isochrones(net, at(X0, Y0), minutes=[0, 10])
    with pytest.raises(InvalidOptionError, match="buffer_m"):
        compute_isochrones(net, at(X0, Y0), buffer_m=0)
    with pytest.raises(InvalidOptionError, match="walk_speed_kmh"):
        compute_isochrones(net, at(X0, Y0), walk_speed_kmh=-1)
    with pytest.raises(InvalidOptionError, match="repeated"):
        compute_isochrones(net, gpd.GeoSeries([shapely.Point(X0, Y0)] * 2, index=[1, 1], crs=CRS))


# ------------------------------------------------------------------------------------------------ Monaco


@pytest.fixture(scope="module")
def monaco_nets():
    area = urbankit.load("monaco")
    return area, {m: urbankit.build_network(area, m, cache=False) for m in ("walk", "drive")}


ORIGINS = [(7.4246, 43.7384), (7.4200, 43.7350)]


def reference_reach(net, node, start: float, T: float) -> dict:
    """Arrival minutes of the nodes reached within T minutes from ``node`` (label ``start``), by networkx."""
    g = nx.DiGraph() if net.directed else nx.Graph()
    for u, v, t in zip(net.edges.u, net.edges.v, net.edges.time_min):
        if not g.has_edge(u, v) or g[u][v]["t"] > t:
            g.add_edge(u, v, t=t)
    d = nx.single_source_dijkstra_path_length(g, node, cutoff=T - start + 1e-9, weight="t")
    return {n: start + x for n, x in d.items() if start + x <= T + 5e-4}


@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_monaco_reached_nodes_inside(monaco_nets, mode):
    _, nets = monaco_nets
    net = nets[mode]
    minutes = [3, 6] if mode == "walk" else [1, 2]
    iso = compute_isochrones(net, ORIGINS, minutes=minutes, buffer_m=25)
    assert iso.is_valid.all() and (iso.geom_type.isin(["Polygon", "MultiPolygon"])).all()
    g = metric(iso, net.crs)
    vmax = net.edges["speed_kmh"].max() * 1000 / 60
    lonlat = gpd.GeoSeries(gpd.points_from_xy(iso.lon, iso.lat), crs="EPSG:4326").to_crs(net.crs)
    for k, row in enumerate(iso.itertuples()):
        start = float(np.ceil(row.snap_m / WALK * 1000 - 0.5) / 1000)  # on the time grid
        reached = reference_reach(net, row.node_id, start, row.minutes)
        assert len(reached) > 1
        pts = net.nodes.loc[list(reached)].geometry.to_numpy()
        # every reached node is inside
        assert shapely.dwithin(g.iloc[k], pts, 1e-6).all()
        # nothing lies beyond what the remaining minutes allow from some reached node (straight
        # distance <= distance along the street), plus the band and the walk from the point
        radius = np.array([(row.minutes - t) * vmax for t in reached.values()]) + 25 + 0.5
        allowed = shapely.union_all(
            list(shapely.buffer(pts, radius))
            + [shapely.LineString([lonlat.iloc[k], net.nodes.geometry[row.node_id]]).buffer(25.5)]
        )
        assert g.iloc[k].difference(allowed).area < 1.0
    # nested per origin
    for p in (0, 1):
        small, big = g[iso.point_id == p]
        assert small.difference(big).area < 1e-3


def test_monaco_drive_differs_from_walk(monaco_nets):
    _, nets = monaco_nets
    walk = compute_isochrones(nets["walk"], ORIGINS[:1], minutes=[2])
    drive = compute_isochrones(nets["drive"], ORIGINS[:1], minutes=[2])
    assert drive["area_ha"].iloc[0] > 1.5 * walk["area_ha"].iloc[0]


def test_monaco_walk_agrees_with_accessibility(monaco_nets):
    """Walk is undirected: the nodes within T of a point are those within T of a destination there."""
    _area, nets = monaco_nets
    net = nets["walk"]
    lon, lat = ORIGINS[0]
    dest = gpd.GeoDataFrame(
        {"service": ["grocery"], "function": ["commerce"]}, geometry=[shapely.Point(lon, lat)], crs="EPSG:4326"
    )
    acc = compute_accessibility(net, dest, minutes=[5], services=["grocery"], progress=False)
    within = acc.nodes.index[acc.nodes["time_grocery_min"] <= 5]
    iso = compute_isochrones(net, [(lon, lat)], minutes=[5], buffer_m=0.5)
    poly = metric(iso, net.crs).iloc[0]
    pts = net.nodes.loc[within].geometry.to_numpy()
    assert shapely.dwithin(poly, pts, 1e-6).all()
    outside = net.nodes.index[~(acc.nodes["time_grocery_min"] <= 5.01)]
    far = net.nodes.loc[outside].geometry.to_numpy()
    # nodes beyond 5 min are off the polygon unless another reached street passes within 0.5 m
    share_touching = shapely.dwithin(poly, far, 1e-6).mean()
    assert share_touching < 0.01


# ------------------------------------------------------------------------------------------------ mock grid


def test_mock_grid_walk_and_one_way_drive():
    mock = pytest.importorskip("urbankit.mock")
    ex = mock.grid_extract(4, 4, block_m=120.0, oneway_residential=True)  # 120 m = 1.5 walking minutes
    walk = urbankit.build_network(ex, "walk", cache=False)
    centre = 1 + 2 * 5 + 2  # node (2, 2)
    cx, cy = walk.nodes.loc[centre, ["x", "y"]]
    origin = gpd.GeoSeries([shapely.Point(cx, cy)], crs=walk.crs)
    # 2 min: the 4 neighbours at 1.5 min, then 0.5 min = 40 m along each of their 3 other streets
    poly = metric(compute_isochrones(walk, origin, minutes=[2], buffer_m=1), walk.crs).iloc[0]
    for dx, dy in [(1, 0), (-1, 0), (0, 1), (0, -1)]:
        nx_, ny_ = cx + 120 * dx, cy + 120 * dy
        assert poly.contains(shapely.Point(nx_, ny_))
        for ex_, ey_ in [(dx, dy), (dy, dx), (-dy, -dx)]:  # straight on, and both sideways
            assert poly.contains(shapely.Point(nx_ + 38 * ex_, ny_ + 38 * ey_))
            assert not poly.contains(shapely.Point(nx_ + 42 * ex_, ny_ + 42 * ey_))
    assert not poly.contains(shapely.Point(cx + 120, cy + 120))  # diagonal: 3 min away
    # drive at 6 km/h (100 m/min) on alternating one-way residential streets: row 2 and column 2
    # are even lines (running east and north), so from the centre 1 min reaches 100 m east or north
    drive = urbankit.build_network(ex, "drive", speed_kmh=6.0, cache=False)
    assert centre in drive.nodes.index
    poly = metric(compute_isochrones(drive, origin, minutes=[1], buffer_m=1), drive.crs).iloc[0]
    assert poly.contains(shapely.Point(cx + 95, cy)) and poly.contains(shapely.Point(cx, cy + 95))
    assert not poly.contains(shapely.Point(cx - 20, cy)) and not poly.contains(shapely.Point(cx, cy - 20))
    assert not poly.contains(shapely.Point(cx + 105, cy))
