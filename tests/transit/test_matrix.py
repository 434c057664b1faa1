"""travel_time_matrix (issue 13 item 3): synthetic feeds with answers worked out by hand, and Sao Paulo against an
independent brute force (a per-minute Connection Scan from test_transit plus networkx walks), all written here."""

from __future__ import annotations

import datetime as dt
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import existing
from shapely.geometry import LineString, Point
from test_transit import TRANSIT, _reference_walks, connections, csa, frequency_rows, write_feed

import urbankit
from urbankit.network import StreetNetwork
from urbankit.transit import read_gtfs
from urbankit.transit.matrix import travel_time_matrix
from urbankit.transit.raptor import frequency_offsets

CRS = "EPSG:32632"
X0, Y0 = 500000.0, 5550000.0
XY = {"A": (X0, Y0), "C": (X0 + 300, Y0), "B": (X0 + 10000, Y0)}


def _lonlat(name):
    p = gpd.GeoSeries([Point(*XY[name])], crs=CRS).to_crs("EPSG:4326").iloc[0]
    return p.x, p.y


def line_network():
    """A - C - B on a straight street: 300 m then 9,700 m."""
    ids = ["A", "C", "B"]
    nodes = gpd.GeoDataFrame({"x": [XY[k][0] for k in ids], "y": [XY[k][1] for k in ids],
                              "lon": [_lonlat(k)[0] for k in ids], "lat": [_lonlat(k)[1] for k in ids]},
                             geometry=[Point(*XY[k]) for k in ids], crs=CRS, index=pd.Index([1, 2, 3], name="node_id"))
    edges = gpd.GeoDataFrame({"u": [1, 2], "v": [2, 3], "way_id": [1, 2], "highway": "footway", "name": "",
                              "oneway": False, "length_m": [300.0, 9700.0], "speed_kmh": 3.6,
                              "time_min": [5.0, 9700 / 60]},
                             geometry=[LineString([XY["A"], XY["C"]]), LineString([XY["C"], XY["B"]])], crs=CRS)
    return StreetNetwork(mode="walk", nodes=nodes, edges=edges, crs=CRS, directed=False)


def points(names):
    return gpd.GeoDataFrame({"id": names}, geometry=[Point(*XY[k]) for k in names], crs=CRS)


def _hms(s):
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


BUS_DEPS = [8 * 3600 + 600 * k for k in range(7)]  # 08:00 .. 09:00 every 10 min, 5 min ride A -> B


def bus_feed(tmp_path):
    (la, pa), (lb, pb) = _lonlat("A"), _lonlat("B")
    files = {
        "stops.txt": f"stop_id,stop_name,stop_lat,stop_lon\nA,A,{pa},{la}\nB,B,{pb},{lb}\n",
        "routes.txt": "route_id,route_type\nR,3\n",
        "trips.txt": "route_id,service_id,trip_id\n" + "".join(f"R,S,t{k}\n" for k in range(len(BUS_DEPS))),
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + "".join(
            f"t{k},{_hms(d)},{_hms(d)},A,1\nt{k},{_hms(d + 300)},{_hms(d + 300)},B,2\n"
            for k, d in enumerate(BUS_DEPS)),
    }
    return read_gtfs(write_feed(tmp_path / "bus", files), "2026-03-10")


def inverted_cdf(values, p):
    v = sorted(values)
    return v[max(math.ceil(p / 100 * len(v)), 1) - 1]


def test_synthetic_bus_line_analytic(tmp_path):
    tt, net = bus_feed(tmp_path), line_network()
    start = 7 * 3600 + 55 * 60
    pct = (25, 50, 75, 100)
    m = travel_time_matrix(net, timetables=tt, origins=points(["A"]), destinations=points(["B", "C"]),
                           departure=dt.datetime(2026, 3, 10, 7, 55), window_min=20, percentiles=pct,
                           walk_speed_kmh=3.6)
    assert list(m.columns) == ["from_id", "to_id"] + [f"travel_time_p{p}" for p in pct]
    assert list(m.to_id) == ["B", "C"]
    to_b = []
    for t in start + 60 * np.arange(20):
        board = min(d for d in BUS_DEPS if d >= t + 60)  # 60 s boarding slack
        to_b.append((board + 300 - t) / 60)
    for p in pct:
        assert m[f"travel_time_p{p}"].iloc[0] == pytest.approx(inverted_cdf(to_b, p))
        assert m[f"travel_time_p{p}"].iloc[1] == pytest.approx(5.0)  # walk only, 300 m at 1 m/s
    # no ride allowed: B is 10 km away on foot, beyond the walk limit
    m0 = travel_time_matrix(net, timetables=tt, origins=points(["A"]), destinations=points(["B"]),
                            departure="2026-03-10T07:55", window_min=20, max_rides=0, walk_speed_kmh=3.6)
    assert m0.travel_time_p50.isna().all()


def test_arrive_by_on_a_synthetic_feed(tmp_path):
    tt, net = bus_feed(tmp_path), line_network()
    m = travel_time_matrix(net, timetables=tt, origins=points(["A"]), destinations=points(["B", "C"]),
                           departure=dt.datetime(2026, 3, 10, 8, 30), window_min=3, percentiles=(1, 100),
                           walk_speed_kmh=3.6, arrive_by=True)
    # deadlines 08:28, 08:29, 08:30: the latest bus arriving by then arrives 08:25 (leaves A 08:20, so the rider
    # leaves at 08:19 with the 60 s slack): 9, 10, 11 minutes; C is 5 minutes on foot whatever the deadline
    expect_b = [a - (8 * 60 + 19) for a in (8 * 60 + 28, 8 * 60 + 29, 8 * 60 + 30)]
    assert m.travel_time_p1.tolist() == pytest.approx([min(expect_b), 5.0])
    assert m.travel_time_p100.tolist() == pytest.approx([max(expect_b), 5.0])


def test_street_modes_and_errors():
    net = line_network()
    o, d = points(["A"]), points(["B", "C"])
    w = travel_time_matrix(net, mode="walk", origins=o, destinations=d, walk_speed_kmh=3.6, max_minutes=200,
                           percentiles=(50, 90))
    assert w.travel_time_p50.tolist() == pytest.approx([10000 / 60, 5.0])
    assert w.travel_time_p90.tolist() == w.travel_time_p50.tolist()
    dr = travel_time_matrix(net, mode="drive", origins=o, destinations=d, max_minutes=200)
    assert dr.travel_time_p50.tolist() == pytest.approx([5.0 + 9700 / 60, 5.0])
    assert travel_time_matrix(net, mode="walk", origins=o, destinations=d, walk_speed_kmh=3.6,
                              max_minutes=60).travel_time_p50.isna().tolist() == [True, False]
    with pytest.raises(urbankit.InvalidOptionError, match="'id' column"):
        travel_time_matrix(net, mode="walk", origins=o.drop(columns="id"), destinations=d)
    with pytest.raises(urbankit.InvalidOptionError, match="mode 'boat'"):
        travel_time_matrix(net, mode="boat", origins=o, destinations=d)
    with pytest.raises(urbankit.InvalidOptionError, match="needs timetables"):
        travel_time_matrix(net, origins=o, destinations=d)
    with pytest.raises(urbankit.InvalidOptionError, match="percentiles"):
        travel_time_matrix(net, mode="walk", origins=o, destinations=d, percentiles=(0,))


# ---------------------------------------------------------------------------------------------- Sao Paulo


SPO = TRANSIT / "sao_paulo"


@pytest.fixture(scope="module")
def spo():
    tt = read_gtfs(existing(SPO / "spo_gtfs.zip"), "2019-05-13")
    net = urbankit.build_network(urbankit.read_osm(existing(SPO / "spo_osm.pbf"), buildings=False), "walk",
                                 cache=False)
    h = pd.read_csv(existing(SPO / "spo_hexgrid.csv"))
    pts = gpd.GeoDataFrame(h[["id"]], geometry=gpd.points_from_xy(h.lon, h.lat), crs="EPSG:4326")
    return tt, net, pts


@pytest.mark.slow
def test_sao_paulo_equals_brute_force(spo):
    tt, net, pts = spo
    origins, dests = pts.iloc[[0, 100, 200]].reset_index(drop=True), pts.iloc[::6].reset_index(drop=True)
    window, draws, seed, walk_min, max_min = 5, 2, 7, 10, 90
    speed = 4.8
    pct = (10, 50, 90)
    m = travel_time_matrix(net, timetables=tt, origins=origins, destinations=dests, departure="2019-05-13T07:00",
                           window_min=window, percentiles=pct, max_rides=40, walk_speed_kmh=speed,
                           max_minutes=max_min, max_walk_min=walk_min, draws=draws, seed=seed)
    bound = walk_min * 60
    ol, oa = origins.geometry.x.to_numpy(), origins.geometry.y.to_numpy()
    dl, da = dests.geometry.x.to_numpy(), dests.geometry.y.to_numpy()
    sl, sa = tt.stops.stop_lon.to_numpy(), tt.stops.stop_lat.to_numpy()

    def ceil(x):
        return math.ceil(x - 1e-9)

    access = _reference_walks(net, ol, oa, sl, sa, bound, speed)
    egress = _reference_walks(net, sl, sa, dl, da, bound, speed)
    direct = _reference_walks(net, ol, oa, dl, da, bound, speed)
    transfers = _reference_walks(net, sl, sa, sl, sa, bound, speed)
    walks = pd.DataFrame([(i, j, ceil(s)) for (i, j), s in transfers.items() if i != j],
                         columns=["from_stop", "to_stop", "walk_s"])
    offsets = frequency_offsets(tt, draws=draws, seed=seed)
    conns = [connections(frequency_rows(tt, offsets[j])) for j in range(draws)]
    deps = 7 * 3600 + 60 * np.arange(window)
    got = m.set_index(["from_id", "to_id"])
    for i in range(len(origins)):
        acc = [(s, ceil(v)) for (o, s), v in access.items() if o == i]
        samples = {j: [] for j in range(len(dests))}
        for c in conns:
            arrivals = csa(tt, walks, [s for s, _ in acc], [v for _, v in acc], deps, conns=c)
            for k, tau in enumerate(deps):
                for j in range(len(dests)):
                    best = tau + ceil(direct[(i, j)]) if (i, j) in direct else math.inf
                    for (s, jj), v in egress.items():
                        if jj == j and s in arrivals[k]:
                            best = min(best, arrivals[k][s] + ceil(v))
                    samples[j].append(best - tau)
        for j in range(len(dests)):
            for p in pct:
                e = inverted_cdf(samples[j], p) / 60
                g = got.loc[(origins.id[i], dests.id[j]), f"travel_time_p{p}"]
                if e > max_min:
                    assert np.isnan(g), (i, j, p)
                else:
                    assert g == pytest.approx(e), (i, j, p)
    assert m.travel_time_p50.notna().sum() > len(m) // 4


def test_sao_paulo_properties(spo):
    tt, net, pts = spo
    o, d = pts.iloc[:4], pts.iloc[::5]
    kw = dict(timetables=tt, origins=o, destinations=d, departure="2019-05-13T07:00", max_minutes=120)
    m = travel_time_matrix(net, window_min=15, percentiles=(5, 25, 50, 75, 95), **kw)
    cols = [f"travel_time_p{p}" for p in (5, 25, 50, 75, 95)]
    v = m[cols].fillna(1e9).to_numpy()
    assert (np.diff(v, axis=1) >= 0).all()
    one = travel_time_matrix(net, window_min=1, percentiles=(5, 50, 95), **kw)
    assert one.travel_time_p5.notna().sum() > 0
    pd.testing.assert_series_equal(one.travel_time_p5, one.travel_time_p95, check_names=False)
    again = travel_time_matrix(net, window_min=15, percentiles=(5, 25, 50, 75, 95), **kw)
    pd.testing.assert_frame_equal(m, again)
    fewer = travel_time_matrix(net, window_min=15, percentiles=(5, 25, 50, 75, 95), max_rides=1, **kw)
    assert (fewer[cols].fillna(1e9).to_numpy() >= v).all()


@pytest.mark.slow
def test_dask_local_cluster_equals_one_process(spo):
    tt, net, pts = spo
    kw = dict(timetables=tt, origins=pts.iloc[:7], destinations=pts.iloc[::9], departure="2019-05-13T07:00",
              window_min=5, percentiles=(25, 50, 75), draws=2, seed=3)
    one = travel_time_matrix(net, **kw)
    many = travel_time_matrix(net, workers=2, chunk_size=3, progress=True, **kw)
    pd.testing.assert_frame_equal(one, many)
    assert one.travel_time_p50.notna().any()
