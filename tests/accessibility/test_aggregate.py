"""uk.aggregate against a brute-force sum over an independent Dijkstra, on both engines."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

import urbankit as uk
from urbankit import InvalidOptionError
from urbankit.mock import grid_extract, random_destinations
from urbankit.network.engines import ENGINES

#: thresholds per case: a few blocks, so that some nodes reach several items and some none
MINUTES = {"grid_walk": [3, 6], "grid_drive_oneway": [0.5, 1], "monaco_walk": [3, 6]}
WALK_M_PER_MIN = 4.8 * 1000 / 60
#: every (agg, decay) pandana computes: decays apply to sum and mean only
COMBOS = [(a, d) for a in ("sum", "mean") for d in ("flat", "linear", "exp")] + [
    (a, "flat") for a in ("min", "max", "std", "count")
]


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(uk.settings, "progress", False)


_CASES: dict = {}


def _network(case: str):
    if case == "grid_walk":
        return uk.build_network(grid_extract(10, 8), "walk", cache=False)
    if case == "grid_drive_oneway":
        return uk.build_network(grid_extract(10, 8, oneway_residential=True), "drive", cache=False)
    return uk.build_network(uk.load("monaco"), "walk", cache=False)


def case_data(case: str) -> dict:
    """The network, per-node and per-point items, and the minutes from every node to every item,
    computed here without urbankit's routing code."""
    if case in _CASES:
        return _CASES[case]
    net = _network(case)
    idx = net.nodes.index
    n = len(idx)
    # the graph: edges u -> v (both ways when undirected), the fastest of parallel edges
    best: dict = {}
    for a, b, w in zip(idx.get_indexer(net.edges.u).tolist(), idx.get_indexer(net.edges.v).tolist(),
                       net.edges.time_min.tolist()):
        pairs = [(a, b)] if net.directed else [(a, b), (b, a)]
        for key in pairs:
            best[key] = min(w, best.get(key, np.inf))
    (rows, cols), wts = zip(*best.keys()), list(best.values())
    graph = csr_matrix((wts, (rows, cols)), shape=(n, n))
    rng = np.random.default_rng(7)
    # per node: integer values (exact in pandana's single precision) at a quarter of the nodes
    at = np.sort(rng.choice(n, size=max(3, n // 4), replace=False))
    per_node = pd.Series(rng.integers(1, 50, len(at)).astype(float), index=idx[at], name="jobs")
    # per point: 0-40 m off random nodes; the straight line to the nearest node walked at 4.8 km/h
    points = random_destinations(net, services=["grocery"], per_service=max(5, n // 10), seed=5)
    points["floor_area"] = rng.integers(0, 900, len(points)).astype(float)
    pxy = np.column_stack([points.to_crs(net.crs).geometry.x, points.to_crs(net.crs).geometry.y])
    nxy = net.nodes[["x", "y"]].to_numpy()
    d2 = ((pxy[:, None, :] - nxy[None, :, :]) ** 2).sum(-1)
    near = d2.argmin(axis=1)
    metres = np.sqrt(d2[np.arange(len(pxy)), near])
    snap = np.where(metres > 0, np.maximum(np.rint(metres / WALK_M_PER_MIN / 0.001), 1) * 0.001, 0.0)
    # minutes from every node to every item: Dijkstra from all nodes, read the items' nodes
    dist = dijkstra(graph, directed=True)
    _CASES[case] = out = {
        "net": net,
        "node": (per_node, dist[:, at]),
        "point": (points, dist[:, near] + snap[None, :]),
    }
    return out


def brute(t: np.ndarray, v: np.ndarray, m: float, agg: str, decay: str) -> np.ndarray:
    """pandana's aggregations written out over a dense (node x item) minutes matrix."""
    inside = t <= m + 1e-9
    count = inside.sum(axis=1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = {"flat": np.ones_like(t), "linear": 1 - t / m, "exp": np.exp(-t / m)}[decay]
        total = np.where(inside, w * v[None, :], 0.0).sum(axis=1)
        if agg == "count":
            return count
        if agg == "sum":
            return total
        if agg == "mean":
            return np.where(count > 0, total / count, np.nan)
        if agg == "min":
            return np.where(count > 0, np.where(inside, v[None, :], np.inf).min(axis=1), np.nan)
        if agg == "max":
            return np.where(count > 0, np.where(inside, v[None, :], -np.inf).max(axis=1), np.nan)
        mean = np.where(inside, v[None, :], 0.0).sum(axis=1) / count
        sq = np.where(inside, (v[None, :] - mean[:, None]) ** 2, 0.0).sum(axis=1)
        return np.where(count > 0, np.sqrt(sq / count), np.nan)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["node", "point"])
@pytest.mark.parametrize(
    "case", ["grid_walk", "grid_drive_oneway", pytest.param("monaco_walk", marks=pytest.mark.slow)]
)
def test_aggregate_matches_brute_force(case, kind, engine):
    data = case_data(case)
    net = data["net"]
    values, t = data[kind]
    v = values.to_numpy(float) if kind == "node" else values["floor_area"].to_numpy(float)
    column = None if kind == "node" else "floor_area"
    minutes = MINUTES[case]
    labels = [f"{m:g}".replace(".", "_") for m in minutes]
    for agg, decay in COMBOS:
        got = uk.aggregate(net, values, minutes=minutes, agg=agg, decay=decay, column=column, engine=engine)
        assert isinstance(got, pd.DataFrame) and got.index.equals(net.nodes.index)
        assert list(got.columns) == [f"{agg}_{label}min" for label in labels]
        for m, label in zip(minutes, labels):
            want = brute(t, v, m, agg, decay)
            col = got[f"{agg}_{label}min"].to_numpy(float)
            np.testing.assert_array_equal(np.isnan(col), np.isnan(want), err_msg=f"{agg} {decay} {m}")
            np.testing.assert_allclose(col, want, rtol=1e-9, atol=1e-9, err_msg=f"{agg} {decay} {m}")
        if agg == "count":
            assert got.dtypes.eq(np.int64).all()
    # something is aggregated, and some nodes have nothing within the smaller threshold
    counts = brute(t, v, minutes[0], "count", "flat")
    assert counts.max() >= 2 and (counts == 0).any()


def test_single_threshold_gives_a_series_and_engines_agree():
    net = case_data("grid_walk")["net"]
    values, _ = case_data("grid_walk")["node"]
    a = uk.aggregate(net, values, minutes=4.5, agg="sum", decay="linear", engine="scipy")
    b = uk.aggregate(net, values, minutes=4.5, agg="sum", decay="linear", engine="pandana")
    assert isinstance(a, pd.Series) and a.name == "sum_4_5min"
    pd.testing.assert_series_equal(a, b, rtol=1e-12)


@pytest.mark.slow  # several seconds on 2 shared cores
@pytest.mark.parametrize("engine", ENGINES)
def test_count_equals_the_accessibility_counts(engine, read_extract, monaco):
    """Counting a service's destinations with aggregate gives the n_<service> columns of accessibility."""
    extract = read_extract(monaco)
    net = uk.build_network(extract, "walk", cache=False)
    dest = uk.find_destinations(extract)
    acc = uk.compute_accessibility(net, dest, minutes=(5, 10), services=["pharmacy", "grocery"], engine="scipy")
    for s in ("pharmacy", "grocery"):
        got = uk.aggregate(net, dest[dest.service == s], minutes=[5, 10], agg="count", engine=engine)
        for m in (5, 10):
            np.testing.assert_array_equal(got[f"count_{m}min"].to_numpy(), acc.nodes[f"n_{s}_{m}min"].to_numpy())
    assert acc.nodes["n_pharmacy_10min"].sum() > 0


def test_bad_input_is_refused():
    net = case_data("grid_walk")["net"]
    values, _ = case_data("grid_walk")["node"]
    points, _ = case_data("grid_walk")["point"]
    with pytest.raises(InvalidOptionError, match=r"agg='median' is not one of \('sum', 'mean'"):
        uk.aggregate(net, values, minutes=5, agg="median")
    with pytest.raises(InvalidOptionError, match=r"decay='gauss' is not one of \('flat', 'linear', 'exp'\)"):
        uk.aggregate(net, values, minutes=5, decay="gauss")
    with pytest.raises(InvalidOptionError, match="decay='exp' applies to agg='sum' or 'mean' only"):
        uk.aggregate(net, values, minutes=5, agg="max", decay="exp")
    with pytest.raises(InvalidOptionError, match="engine='networkx'"):
        uk.aggregate(net, values, minutes=5, engine="networkx")
    with pytest.raises(InvalidOptionError, match="thresholds must be positive"):
        uk.aggregate(net, values, minutes=-5)
    with pytest.raises(InvalidOptionError, match="values has 1 NaN or infinite values"):
        uk.aggregate(net, values.where(values.index != values.index[0]), minutes=5)
    not_nodes = r"1 index labels that are not node ids of the network \(e.g. \[-7\]\)"
    with pytest.raises(InvalidOptionError, match=not_nodes):
        uk.aggregate(net, pd.concat([values, pd.Series([1.0], index=[-7])]), minutes=5)
    with pytest.raises(InvalidOptionError, match="name its variable with column=..."):
        uk.aggregate(net, points, minutes=5)
    with pytest.raises(InvalidOptionError, match="column='jobs' is not a column of values"):
        uk.aggregate(net, points, minutes=5, column="jobs")
    with pytest.raises(InvalidOptionError, match=r"values\['name'\] must hold numbers"):
        uk.aggregate(net, points.assign(name="x"), minutes=5, column="name")
    with pytest.raises(InvalidOptionError, match="values must be a pandas Series indexed by node_id"):
        uk.aggregate(net, values.to_numpy(), minutes=5)
    with pytest.raises(InvalidOptionError, match="network must be a StreetNetwork"):
        uk.aggregate(net.pandana, values, minutes=5)
    poly = gpd.GeoDataFrame({"v": [1.0]}, geometry=[shapely.box(0, 0, 1, 1)], crs=net.crs)
    with pytest.raises(InvalidOptionError, match="1 rows without a point geometry"):
        uk.aggregate(net, poly, minutes=5, column="v")


@pytest.mark.parametrize("engine", ENGINES)
def test_nothing_to_aggregate(engine):
    net = case_data("grid_walk")["net"]
    empty = pd.Series([], dtype=float)
    assert (uk.aggregate(net, empty, minutes=5, agg="sum", engine=engine) == 0).all()
    assert uk.aggregate(net, empty, minutes=5, agg="max", engine=engine).isna().all()
