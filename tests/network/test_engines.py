"""The two routing engines (scipy's Dijkstra, pandana's contraction hierarchy) give the same figures,
and StreetNetwork.from_pandana / .pandana exchange networks with pandana."""

from __future__ import annotations

import importlib

import geopandas as gpd
import numpy as np
import pandana
import pandas as pd
import pytest
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

import urbankit as uk
from urbankit import CRSError, InvalidOptionError, NoStreetsError
from urbankit.cli import main
from urbankit.network import StreetNetwork
from urbankit.network.engines import DEFAULT_ENGINE, ENGINES

ua = importlib.import_module("urbankit.accessibility.compute")  # the module running the engines

MINUTES = (4, 8)
WALK_M_PER_MIN = 4.8 * 1000 / 60


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(uk.settings, "progress", False)


def assert_same_figures(a: uk.Accessibility, b: uk.Accessibility) -> None:
    """Every column of the node tables: times within 0.001 min (here: equal), counts equal, NaN
    exactly where the other has NaN."""
    assert list(a.nodes.columns) == list(b.nodes.columns)
    assert a.nodes.index.equals(b.nodes.index)
    for col in a.nodes.columns:
        if col == "geometry":
            continue
        x, y = a.nodes[col].to_numpy(float), b.nodes[col].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(x), np.isnan(y), err_msg=col)
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        if col.startswith("time_"):
            assert np.all(np.abs(x - y) <= 1e-9), (col, np.abs(x - y).max())
        elif col.startswith(("n_", "functions_")):
            np.testing.assert_array_equal(x, y, err_msg=col)
        else:  # gravity (sums in another order), scores, population
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=col)


def sorted_reach(acc: uk.Accessibility) -> np.ndarray:
    r = acc.reach
    order = np.lexsort((r["dest"].to_numpy(), r["node"].to_numpy()))
    return np.column_stack([r["node"].to_numpy()[order], r["dest"].to_numpy()[order], r["minutes"].to_numpy()[order]])


@pytest.mark.slow  # about 2.5 minutes over the 6 files x 3 modes
@pytest.mark.parametrize("mode", ["walk", "bike", "drive"])
def test_engines_agree_on_every_fixture(osm_path, mode, read_extract):
    extract = read_extract(osm_path)
    try:
        net = uk.build_network(extract, mode, cache=False)
    except NoStreetsError as exc:
        pytest.skip(f"{osm_path.name} has no {mode} network: {exc}")
    dest = uk.find_destinations(extract)
    if len(dest) == 0:  # still compare: every time NaN on both engines
        dest = uk.mock.random_destinations(net, per_service=2, seed=3)
    a = uk.compute_accessibility(net, dest, minutes=MINUTES, k=2, engine="scipy")
    b = uk.compute_accessibility(net, dest, minutes=MINUTES, k=2, engine="pandana")
    assert (a.params["engine"], b.params["engine"]) == ("scipy", "pandana")
    assert_same_figures(a, b)
    np.testing.assert_array_equal(sorted_reach(a), sorted_reach(b))
    # something was compared: some destination within reach of some node
    assert len(a.reach) > 0


def _tiny_directed_network() -> StreetNetwork:
    """Nodes 1..5 on a line 100 m apart (UTM 32N); one-way 1->2 (1 min), 2->3 (2 min); 4<->5 (1 min)
    apart from the rest. Built as UrbanAccess would: projected x/y, minutes, twoway=False."""
    x0, y0 = 500_000.0, 4_800_000.0
    ids = pd.Index([1, 2, 3, 4, 5])
    xs = pd.Series(x0 + 100.0 * np.arange(5), index=ids)
    ys = pd.Series(np.full(5, y0), index=ids)
    pn = pandana.Network(xs, ys, pd.Series([1, 2, 4, 5]), pd.Series([2, 3, 5, 4]),
                         pd.DataFrame({"weight": [1.0, 2.0, 1.0, 1.0]}), twoway=False)
    return StreetNetwork.from_pandana(pn, mode="drive", crs="EPSG:32632")


@pytest.mark.parametrize("engine", ENGINES)
def test_direction_and_unreachable_stay_nan(engine):
    net = _tiny_directed_network()
    assert net.directed
    tax = uk.load_taxonomy()
    s1, s2 = tax.service_names()[:2]
    x0, y0 = 500_000.0, 4_800_000.0
    dest = gpd.GeoDataFrame(
        {"service": [s1, s2], "function": [tax.function_of(s1), tax.function_of(s2)]},
        # s1 on node 3; s2 16 m west of node 1: 16 m walked at 80 m/min = 0.2 min
        geometry=[shapely.Point(x0 + 200.0, y0), shapely.Point(x0 - 16.0, y0)],
        crs="EPSG:32632",
    )
    acc = uk.compute_accessibility(net, dest, minutes=(2.5, 5), services=[s1, s2], engine=engine)
    nodes = acc.nodes
    # to s1 (on node 3) along the one-way streets; nodes 4, 5 never reach it: NaN, never the 5-min cap
    np.testing.assert_allclose(nodes[f"time_{s1}_min"].to_numpy(), [3.0, 2.0, 0.0, np.nan, np.nan])
    # to s2 (by node 1): only from node 1, as nothing leads back to it
    np.testing.assert_allclose(nodes[f"time_{s2}_min"].to_numpy(), [0.2, np.nan, np.nan, np.nan, np.nan])
    assert nodes[f"n_{s1}_2_5min"].tolist() == [0, 1, 1, 0, 0]
    assert nodes[f"n_{s1}_5min"].tolist() == [1, 1, 1, 0, 0]
    assert nodes[f"n_{s2}_5min"].tolist() == [1, 0, 0, 0, 0]
    assert not (nodes.filter(like="time_").to_numpy() == 5).any()


def test_pandana_counts_come_from_pandanas_aggregate(monkeypatch):
    """With engine="pandana" the counts within each threshold are pandana's set/aggregate: with that
    core broken the analysis fails, and with it counting everything twice the counts double."""
    import urbankit.accessibility.compute as compute

    net = _tiny_directed_network()
    tax = uk.load_taxonomy()
    s1 = tax.service_names()[0]
    dest = gpd.GeoDataFrame(
        {"service": [s1], "function": [tax.function_of(s1)]},
        geometry=[shapely.Point(500_200.0, 4_800_000.0)],
        crs="EPSG:32632",
    )
    real = compute.aggregate_pandana
    monkeypatch.setattr(compute, "aggregate_pandana", lambda *a, **k: 2 * real(*a, **k))
    acc = uk.compute_accessibility(net, dest, minutes=(5,), services=[s1], engine="pandana")
    assert acc.nodes[f"n_{s1}_5min"].tolist() == [2, 2, 2, 0, 0]

    def broken(*args, **kwargs):
        raise RuntimeError("pandana aggregate called")

    monkeypatch.setattr(compute, "aggregate_pandana", broken)
    with pytest.raises(RuntimeError, match="aggregate called"):
        uk.compute_accessibility(net, dest, minutes=(5,), services=[s1], engine="pandana")
    # the scipy engine does not use pandana at all
    uk.compute_accessibility(net, dest, minutes=(5,), services=[s1], engine="scipy")


@pytest.mark.slow
def test_pandana_engine_against_an_independent_dijkstra(read_extract, monaco):
    """Drive (one-way streets): minutes from each node to its nearest destination of each service are
    those of a plain scipy Dijkstra on the edges u -> v plus the destination's snap minutes."""
    extract = read_extract(monaco)
    net = uk.build_network(extract, "drive", cache=False)
    acc = uk.compute_accessibility(net, uk.find_destinations(extract), minutes=(6,), engine="pandana")
    idx = net.nodes.index
    u, v = idx.get_indexer(net.edges.u), idx.get_indexer(net.edges.v)
    best: dict = {}
    for a, b, w in zip(u.tolist(), v.tolist(), net.edges.time_min.tolist()):
        best[(a, b)] = min(w, best.get((a, b), np.inf))
    (rows, cols), wts = zip(*best.keys()), list(best.values())
    graph = csr_matrix((wts, (rows, cols)), shape=(len(idx), len(idx)))
    dist = dijkstra(graph, directed=True)  # from every node
    pois = acc.pois
    t = dist[:, idx.get_indexer(pois["node_id"])] + pois["snap_min"].to_numpy()
    checked = 0
    for s in acc.services:
        cols_s = np.flatnonzero(pois["service"].to_numpy() == s)
        want = t[:, cols_s].min(axis=1) if len(cols_s) else np.full(len(idx), np.inf)
        want = np.where(want <= 6 + 1e-9, want, np.nan)
        got = acc.nodes[f"time_{s}_min"].to_numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=s)
        assert np.nanmax(np.abs(got - want), initial=0) <= 1e-6, s
        checked += np.isfinite(got).sum()
    assert checked > 1000


def test_unknown_engine_is_refused():
    net = _tiny_directed_network()
    with pytest.raises(InvalidOptionError, match=r"engine='cityseer' is not one of \('scipy', 'pandana'\)"):
        uk.compute_accessibility(net, uk.mock.random_destinations(net, per_service=1), engine="cityseer")
    with pytest.raises(InvalidOptionError, match="engine=5"):
        uk.x_minute_city("monaco", engine=5)
    assert DEFAULT_ENGINE in ENGINES


@pytest.mark.slow
def test_cli_engine_flag(tmp_path, monkeypatch):
    calls = []
    real = ua.reach_table_pandana

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ua, "reach_table_pandana", counted)
    out = {}
    for engine in ("pandana", "scipy"):
        out[engine] = tmp_path / f"{engine}.gpkg"
        argv = ["accessibility", "monaco", "--mode", "drive", "--minutes", "3", "6", "--engine", engine,
                "--out", str(out[engine])]
        assert main(argv) == 0
    assert len(calls) == 1  # the pandana run used the pandana engine, the scipy run did not
    a = gpd.read_file(out["scipy"], layer="nodes")
    b = gpd.read_file(out["pandana"], layer="nodes")
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert (a.filter(like="time_").notna().to_numpy()).sum() > 100
    with pytest.raises(SystemExit) as exc:
        main(["accessibility", "monaco", "--engine", "networkx", "--out", str(tmp_path / "x.gpkg")])
    assert exc.value.code == 2
    assert not (tmp_path / "x.gpkg").exists()


# ------------------------------------------------------------------------------------------ from_pandana


@pytest.mark.slow
def test_from_pandana_osmnet_style_lonlat_metres(read_extract, monaco):
    """osmnet builds x = lon, y = lat, an impedance 'distance' in metres, twoway=True."""
    extract = read_extract(monaco)
    net = uk.build_network(extract, "walk", cache=False)
    pn = pandana.Network(net.nodes.lon, net.nodes.lat, net.edges.u, net.edges.v,
                         net.edges[["length_m"]].rename(columns={"length_m": "distance"}), twoway=True)
    got = StreetNetwork.from_pandana(pn, impedance_unit="m")
    assert not got.directed and got.mode == "walk" and got.crs == net.crs
    assert got.nodes.index.equals(net.nodes.index)
    assert np.abs(got.nodes[["x", "y"]].to_numpy() - net.nodes[["x", "y"]].to_numpy()).max() < 1e-6
    # metres walked at 4.8 km/h, on the 0.001-min grid: the built network's own times
    np.testing.assert_array_equal(got.edges.time_min.to_numpy(), net.edges.time_min.to_numpy())
    steps = np.maximum(np.rint(net.edges.length_m.to_numpy() / WALK_M_PER_MIN / 0.001), 1)
    np.testing.assert_array_equal(got.edges.time_min.to_numpy(), steps * 0.001)
    dest = uk.find_destinations(extract)
    assert_same_figures(uk.compute_accessibility(net, dest, minutes=(5,), engine="scipy"),
                        uk.compute_accessibility(got, dest, minutes=(5,), engine="pandana"))


@pytest.mark.slow
def test_from_pandana_urbanaccess_style_projected_minutes_directed(read_extract, monaco):
    """UrbanAccess-like: projected coordinates, travel minutes in 'weight' among other impedances,
    twoway=False (one row per direction)."""
    extract = read_extract(monaco)
    net = uk.build_network(extract, "drive", cache=False)
    weights = pd.DataFrame({"distance": net.edges.length_m.to_numpy(), "weight": net.edges.time_min.to_numpy()})
    pn = pandana.Network(net.nodes.x, net.nodes.y, net.edges.u, net.edges.v, weights, twoway=False)
    with pytest.raises(InvalidOptionError, match=r"impedances \['distance', 'weight'\]; choose one"):
        StreetNetwork.from_pandana(pn, crs=net.crs)
    with pytest.raises(CRSError, match="not longitude/latitude; pass their CRS"):
        StreetNetwork.from_pandana(pn, impedance="weight")
    got = StreetNetwork.from_pandana(pn, impedance="weight", mode="drive", crs=net.crs)
    assert got.directed
    np.testing.assert_array_equal(got.edges.time_min.to_numpy(), net.edges.time_min.to_numpy())
    assert got.edges.oneway.sum() > 0  # Monaco has one-way streets: edges without their reverse
    dest = uk.find_destinations(extract)
    for engine in ENGINES:
        assert_same_figures(uk.compute_accessibility(net, dest, minutes=(4, 8), engine="scipy"),
                            uk.compute_accessibility(got, dest, minutes=(4, 8), engine=engine))


def test_from_pandana_refuses_bad_input():
    ids = pd.Index([10, 11])
    pn = pandana.Network(pd.Series([7.0, 7.001], index=ids), pd.Series([43.7, 43.7], index=ids),
                         pd.Series([10]), pd.Series([11]), pd.DataFrame({"weight": [0.0]}))
    with pytest.raises(InvalidOptionError, match="network must be a pandana.Network, not DataFrame"):
        StreetNetwork.from_pandana(pd.DataFrame())
    with pytest.raises(InvalidOptionError, match="impedance='time' is not one of the network's impedances"):
        StreetNetwork.from_pandana(pn, impedance="time")
    with pytest.raises(InvalidOptionError, match="'weight' has 1 values that are not positive finite numbers"):
        StreetNetwork.from_pandana(pn)
    with pytest.raises(InvalidOptionError, match="impedance_unit='km' must be"):
        StreetNetwork.from_pandana(pn, impedance_unit="km")
    with pytest.raises(InvalidOptionError, match="needs speed_kmh"):
        StreetNetwork.from_pandana(pn, impedance_unit="m", mode="drive")
    with pytest.raises(CRSError, match="crs='EPSG:nope' is not a CRS"):
        StreetNetwork.from_pandana(pn, crs="EPSG:nope")


def test_pandana_property_returns_a_network_with_exact_times(read_extract, monaco):
    net = uk.build_network(read_extract(monaco), "drive", cache=False)
    pn = net.pandana
    assert isinstance(pn, pandana.Network)
    idx = net.nodes.index
    u, v = idx.get_indexer(net.edges.u), idx.get_indexer(net.edges.v)
    graph = csr_matrix((np.zeros(0), (np.zeros(0, int), np.zeros(0, int))), shape=(len(idx), len(idx))).tolil()
    for a, b, w in zip(u, v, net.edges.time_min):
        graph[a, b] = min(w, graph[a, b] or np.inf)
    rng = np.random.default_rng(1)
    src, dst = rng.integers(0, len(idx), 200), rng.integers(0, len(idx), 200)
    want = dijkstra(graph.tocsr(), directed=True, indices=np.unique(src))
    want = want[np.searchsorted(np.unique(src), src), dst]
    got = np.asarray(pn.shortest_path_lengths(idx[src].to_numpy(), idx[dst].to_numpy()))
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert net.pandana is pn  # built once
