"""x_minute_city by public transport (issue 13): the walking result's schema, minutes equal to an independent
brute force over walk-only and walk + one ride + walk paths on a synthetic grid and feed, and on Sao Paulo transit
never slower than walking with ordered percentiles."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import existing
from test_transit import TRANSIT, write_feed

import urbankit
from urbankit.mock import grid_extract
from urbankit.transit.access import compute_transit_accessibility

SPO = TRANSIT / "sao_paulo"
BLOCK_S = 150  # 200 m blocks at 4.8 km/h
NX = 10  # blocks west-east; two rows of nodes (j = 0, 1)
#: (from node i, to node i, departure s after 07:00): a line along row 0 between its two ends, both ways
TRIPS = [(0, NX, 190 + 600 * k) for k in range(6)] + [(NX, 0, 490 + 600 * k) for k in range(6)]
RIDE_S = 120
DESTS = [("grocery", (10, 1)), ("grocery", (9, 0)), ("grocery", (5, 1)), ("pharmacy", (0, 1)),
         ("pharmacy", (6, 0))]


def _hms(s):
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@pytest.fixture(scope="module")
def grid():
    extract = grid_extract(NX, 1, block_m=200.0, arterial_every=None, origin_lonlat=(8.0, 50.0))
    network = urbankit.build_network(extract, "walk", speed_kmh=4.8, cache=False)
    ll = network.nodes.geometry.to_crs("EPSG:4326")
    # node (i, j) from its position on the grid
    xy = network.nodes.geometry
    ij = np.column_stack([np.rint((xy.x - xy.x.min()) / 200).astype(int), np.rint((xy.y - xy.y.min()) / 200)
                          .astype(int)])
    where = {tuple(p): k for k, p in enumerate(ij.tolist())}
    return network, ll, ij, where


def _feed(tmp_path, ll, where):
    a, b = where[(0, 0)], where[(NX, 0)]
    stops = "stop_id,stop_name,stop_lat,stop_lon\n" + "".join(
        f"{n},{n},{float(ll.y.iloc[k])!r},{float(ll.x.iloc[k])!r}\n" for n, k in (("A", a), ("B", b)))
    name = {0: "A", NX: "B"}
    times = "".join(f"t{n},{_hms(7 * 3600 + d)},{_hms(7 * 3600 + d)},{name[f]},1\n"
                    f"t{n},{_hms(7 * 3600 + d + RIDE_S)},{_hms(7 * 3600 + d + RIDE_S)},{name[t]},2\n"
                    for n, (f, t, d) in enumerate(TRIPS))
    return write_feed(tmp_path / "line", {
        "stops.txt": stops, "routes.txt": "route_id,route_type\nR,3\n",
        "trips.txt": "route_id,service_id,trip_id\n" + "".join(f"R,S,t{n}\n" for n in range(len(TRIPS))),
        "stop_times.txt": "trip_id,arrival_time,departure_time,stop_id,stop_sequence\n" + times}, zip_it=True)


def _brute_force(ij, dest_ij, window_min, percentile, max_minutes, max_walk_s=900, slack=60):
    """(n_nodes, n_dest) minutes: the percentile over the window of min(walk, walk + one ride + walk)."""
    def walk(p, q):
        return (abs(p[0] - q[0]) + abs(p[1] - q[1])) * BLOCK_S

    out = np.full((len(ij), len(dest_ij)), np.nan)
    for n, o in enumerate(ij):
        for j, d in enumerate(dest_ij):
            times = []
            for m in range(window_min):
                t = 60 * m
                best = walk(o, d)
                for f, to, dep in TRIPS:
                    w_in, w_out = walk(o, (f, 0)), walk((to, 0), d)
                    if w_in <= max_walk_s and w_out <= max_walk_s and t + w_in + slack <= dep:
                        best = min(best, dep + RIDE_S + w_out - t)
                times.append(best)
            v = sorted(times)[max(math.ceil(percentile / 100 * window_min), 1) - 1] / 60
            out[n, j] = v if v <= max_minutes + 1e-9 else np.nan
    return out


@pytest.mark.parametrize("percentile", [50, 90])
def test_transit_minutes_equal_brute_force_on_a_synthetic_line(tmp_path, grid, percentile):
    network, ll, ij, where = grid
    feed = _feed(tmp_path, ll, where)
    pts = [network.nodes.geometry.iloc[where[p]] for _, p in DESTS]
    dest = gpd.GeoDataFrame({"service": [s for s, _ in DESTS], "function": ["commerce"] * 3 + ["healthcare"] * 2},
                            geometry=pts, crs=network.crs)
    pop = pd.Series(np.arange(len(network.nodes), dtype=float) % 7, index=network.nodes.index)
    minutes = (10, 20, 30)
    acc = compute_transit_accessibility(network, dest, gtfs=[feed], departure="2026-03-10T07:00", window_min=12,
                                        percentile=percentile, minutes=minutes, population=pop,
                                        services=["grocery", "pharmacy"])
    walking = urbankit.compute_accessibility(network, dest, minutes=minutes, population=pop,
                                             services=["grocery", "pharmacy"])
    assert list(acc.nodes.columns) == list(walking.nodes.columns)
    assert isinstance(acc, type(walking))
    expect = _brute_force(ij, [p for _, p in DESTS], 12, percentile, max(minutes))
    service = np.array([s for s, _ in DESTS])
    for s in ("grocery", "pharmacy"):
        cols = expect[:, service == s]
        nearest = np.where(np.isnan(cols).all(axis=1), np.nan, np.nanmin(np.nan_to_num(cols, nan=np.inf), axis=1))
        np.testing.assert_allclose(acc.nodes[f"time_{s}_min"].to_numpy(float), nearest, atol=2 / 60)
        for m in minutes:
            np.testing.assert_array_equal(acc.nodes[f"n_{s}_{m}min"].to_numpy(),
                                          (np.nan_to_num(cols, nan=np.inf) <= m + 1e-6).sum(axis=1))
    # transit helps somewhere (the far end of the line), and never hurts
    tw = walking.nodes["time_grocery_min"].to_numpy(float)
    tt = acc.nodes["time_grocery_min"].to_numpy(float)
    assert (np.nan_to_num(tt, nan=1e9) <= np.nan_to_num(tw, nan=1e9) + 1e-9).all()
    assert (np.nan_to_num(tt, nan=1e9) < np.nan_to_num(tw, nan=1e9) - 1).any()
    # the population-weighted share by hand
    share = (pop.to_numpy() * (np.nan_to_num(tt, nan=np.inf) <= 20 + 1e-6)).sum() / pop.sum()
    assert acc.summary().loc["grocery", "within_20min"] == pytest.approx(share)
    assert acc.params["mode"] == "transit" and acc.params["transit"]["percentile"] == percentile


def test_x_minute_city_transit_options_are_checked():
    with pytest.raises(urbankit.InvalidOptionError, match="gtfs=.*departure="):
        urbankit.x_minute_city("monaco", mode="transit", gtfs=["feed.zip"])
    with pytest.raises(urbankit.InvalidOptionError, match="mode='transit' only"):
        urbankit.x_minute_city("monaco", gtfs=["feed.zip"], departure="2026-03-10T07:00")


@pytest.mark.slow
def test_transit_sao_paulo_never_slower_than_walking_and_percentiles_ordered():
    extract = urbankit.read_osm(existing(SPO / "spo_osm.pbf"), buildings=False)
    network = urbankit.build_network(extract, "walk", cache=False)
    dest = urbankit.find_destinations(extract)
    tt = urbankit.transit.read_gtfs(existing(SPO / "spo_gtfs.zip"), "2019-05-13")
    services = ["transit_stop", "retail", "grocery", "restaurant_cafe"]
    pop = pd.Series(np.random.default_rng(1).integers(0, 40, len(network.nodes)).astype(float),
                    index=network.nodes.index)
    kw = dict(minutes=(15, 30), population=pop, services=services)
    walking = urbankit.compute_accessibility(network, dest, **kw)
    by = {p: compute_transit_accessibility(network, dest, gtfs=tt, departure="2019-05-13T07:00", window_min=6,
                                           percentile=p, **kw) for p in (25, 50, 75)}
    assert list(by[50].nodes.columns) == list(walking.nodes.columns)
    big = 1e9
    for s in services:
        tw = np.nan_to_num(walking.nodes[f"time_{s}_min"].to_numpy(float), nan=big)
        t25, t50, t75 = (np.nan_to_num(by[p].nodes[f"time_{s}_min"].to_numpy(float), nan=big) for p in (25, 50, 75))
        assert (t75 <= tw + 1e-9).all()
        assert (t25 <= t50).all() and (t50 <= t75).all()
        for m in (15, 30):
            assert (by[50].nodes[f"n_{s}_{m}min"] >= walking.nodes[f"n_{s}_{m}min"]).all()
    # the buses matter: more residents reach a shop within 15 minutes than on foot
    assert by[50].summary().loc["retail", "within_15min"] > walking.summary().loc["retail", "within_15min"]


def test_transit_isochrone_contains_walking_and_reaches_the_far_end(tmp_path, grid):
    network, ll, ij, where = grid
    feed = _feed(tmp_path, ll, where)
    start = network.nodes.geometry.iloc[where[(0, 0)]]
    pts = gpd.GeoDataFrame(geometry=[start], crs=network.crs)
    kw = dict(minutes=(10, 20))
    walking = urbankit.compute_isochrones(network, pts, **kw)
    by = urbankit.compute_isochrones(network, pts, mode="transit", gtfs=[feed], departure="2026-03-10T07:00",
                                     window_min=12, percentile=50, **kw)
    assert list(by.columns) == list(walking.columns) and by.attrs["mode"] == "transit"
    expect = _brute_force([(0, 0)], [tuple(p) for p in ij.tolist()], 12, 50, 20)[0]
    nodes = network.nodes.to_crs("EPSG:4326").geometry.to_numpy()
    for k, m in enumerate((10, 20)):
        w, t = walking.geometry.iloc[k], by.geometry.iloc[k]
        assert w.difference(t).area < 1e-12 * max(w.area, 1e-30) + 1e-15
        assert t.area > w.area
        # every node the brute force reaches within the threshold is inside the transit isochrone
        inside = np.array([t.covers(p) for p in nodes])
        assert inside[np.nan_to_num(expect, nan=np.inf) <= m].all()
    assert by.geometry.iloc[0].covers(nodes[where[(NX, 0)]])
    assert not walking.geometry.iloc[0].covers(nodes[where[(NX, 0)]])
    with pytest.raises(urbankit.InvalidOptionError, match="needs gtfs="):
        urbankit.compute_isochrones(network, pts, mode="transit", **kw)
    with pytest.raises(urbankit.InvalidOptionError, match="mode='transit' only"):
        urbankit.compute_isochrones(network, pts, gtfs=[feed], **kw)


@pytest.mark.slow
def test_transit_isochrones_sao_paulo_contain_walking():
    network = urbankit.build_network(urbankit.read_osm(existing(SPO / "spo_osm.pbf"), buildings=False), "walk",
                                     cache=False)
    h = pd.read_csv(existing(SPO / "spo_hexgrid.csv")).iloc[[0, 150]]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(h.lon, h.lat), crs="EPSG:4326")
    walking = urbankit.compute_isochrones(network, pts, minutes=(15, 30))
    by = urbankit.compute_isochrones(network, pts, minutes=(15, 30), mode="transit", gtfs=SPO / "spo_gtfs.zip",
                                     departure="2019-05-13T07:00", window_min=5)
    for w, t in zip(walking.geometry, by.geometry):
        assert w.difference(t).area <= 1e-6 * w.area  # float noise of the unions only (< 0.1 m²)
    assert (by.area_ha >= walking.area_ha - 1e-9).all() and (by.area_ha > walking.area_ha * 1.1).any()


def test_transit_opportunities_equal_formulas_over_brute_force_minutes(tmp_path, grid):
    from urbankit.transit.access import transit_opportunities

    network, ll, ij, where = grid
    feed = _feed(tmp_path, ll, where)
    at = [(10, 1), (9, 0), (0, 1), (5, 0)]
    jobs = np.array([100.0, 50.0, 30.0, 20.0])
    opp = gpd.GeoDataFrame({"jobs": jobs}, geometry=[network.nodes.geometry.iloc[where[p]] for p in at],
                           crs=network.crs)
    pop = pd.Series((np.arange(len(network.nodes)) % 5).astype(float), index=network.nodes.index)
    minutes = (10, 20)
    got = transit_opportunities(network, opp, gtfs=[feed], departure="2026-03-10T07:00", minutes=minutes,
                                window_min=12, percentile=50, population=pop)
    walking = urbankit.compute_opportunities(network, opp, minutes=minutes, population=pop)
    assert list(got.columns) == list(walking.columns) and got.attrs["mode"] == "transit"
    E = np.nan_to_num(_brute_force(ij, at, 12, 50, 20), nan=np.inf)  # (nodes, locations) minutes
    P = pop.to_numpy()
    for m in minutes:
        np.testing.assert_allclose(got[f"jobs_{m}min"], ((E <= m) * jobs).sum(axis=1))
        ratio = jobs / (P[:, None] * (E <= m)).sum(axis=0)
        np.testing.assert_allclose(got[f"jobs_2sfca_{m}min"], ((E <= m) * ratio).sum(axis=1))
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(got["jobs_gravity"], ((E <= 20) * np.exp(-E / 20) * jobs).sum(axis=1),
                                   rtol=1e-3)
    W = np.select([E <= 20 / 3 + 1e-9, E <= 40 / 3 + 1e-9, E <= 20 + 1e-9], [1.0, 0.68, 0.22], 0.0)
    ratio = jobs / (P[:, None] * W).sum(axis=0)
    np.testing.assert_allclose(got["jobs_e2sfca"], (W * ratio).sum(axis=1))
    # transit reaches more jobs than walking somewhere, never fewer
    assert (got["jobs_20min"] >= walking["jobs_20min"]).all() and (got["jobs_20min"] > walking["jobs_20min"]).any()
