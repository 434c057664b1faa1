"""Accessibility checked against an independent reference.

Every expected number below is computed here, never copied from urbankit output:

* the graph is rebuilt from ``net.edges`` (parallel edges reduced to the fastest by hand, since
  scipy's ``csr_matrix`` would *add* duplicate entries), with edge times as integer numbers of
  0.001-min steps, so every shortest path is an exact integer sum;
* destinations are snapped by brute force (nearest node by Euclidean distance in the network CRS)
  and the remaining straight line is walked at ``settings.walk_speed_kmh``. Snap rule restated from
  the accessibility docstring: ``round(minutes / 0.001)`` steps, at least one step, except a zero
  distance, which is 0;
* ``time(i -> j) = dist(i -> node_j) + snap_j``: a *forward* scipy Dijkstra from (sampled) origin
  nodes gives the full origin x destination matrix (urbankit searches backwards from the
  destinations), and a networkx Dijkstra from one virtual source per service (joined to the
  destination nodes by their snap times, on the reversed graph) gives the nearest minutes of
  every node;
* population statistics use brute-force formulas (O(n^2) Gini, expanded residents for Palma,
  exact-fraction weighted quantiles).
"""

from __future__ import annotations

import importlib
import itertools
import math
import tempfile
from fractions import Fraction
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
from conftest import OSM_FILES, existing, osm_xml
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pyproj import Geod, Transformer
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import Point

import urbankit as uk
from urbankit import InvalidOptionError
from urbankit.accessibility import compute_accessibility

#: travel times live on a grid of 0.001 min
STEP = 0.001
GEOD = Geod(ellps="WGS84")

AREAS = ["monaco", "helsinki", "barcelona", "west_oakland", "pyrosm_test", "singapore"]
MODES = ["walk", "bike", "drive"]
#: thresholds per mode, deliberately given out of order (urbankit sorts them)
MINUTES = {"walk": [15, 5, 10], "bike": [10, 2.5, 5], "drive": [4, 1, 2]}
K = 3
HALF_LIFE = 7.0
N_SAMPLE = 300


@pytest.fixture(autouse=True)
def _no_progress(monkeypatch):
    monkeypatch.setattr(uk.settings, "progress", False)


def label(m) -> str:
    return f"{m:g}".replace(".", "_")


def threshold_steps(m) -> int:
    """Largest number of 0.001-min steps within ``m`` minutes (exact decimal arithmetic)."""
    return math.floor(Fraction(repr(float(m))) * 1000)


def minutes_or_nan(steps: np.ndarray, max_steps: int) -> np.ndarray:
    steps = np.asarray(steps, dtype=float)
    return np.where(steps <= max_steps, steps * STEP, np.nan)


# ------------------------------------------------------------------------------------------------
# independent reference


class Reference:
    """Shortest travel times rebuilt from ``net.edges`` and a brute-force snap of ``dest``."""

    def __init__(self, net: uk.StreetNetwork, dest: gpd.GeoDataFrame, *, chosen_nodes=None):
        self.node_ids = net.nodes.index.to_numpy()
        n = self.n = len(self.node_ids)
        pos = pd.Index(self.node_ids)
        e = net.edges
        u = pos.get_indexer(e["u"].to_numpy())
        v = pos.get_indexer(e["v"].to_numpy())
        assert (u >= 0).all() and (v >= 0).all(), "edge endpoint missing from nodes"
        steps = np.rint(e["time_min"].to_numpy(float) / STEP)
        np.testing.assert_allclose(steps * STEP, e["time_min"].to_numpy(float), atol=1e-9)  # on the grid
        assert (steps >= 1).all()
        if not net.directed:
            u, v, steps = np.r_[u, v], np.r_[v, u], np.r_[steps, steps]
        arcs = pd.DataFrame({"u": u, "v": v, "w": steps}).groupby(["u", "v"], as_index=False)["w"].min()
        self.arcs = arcs
        self.fwd = csr_matrix((arcs["w"].to_numpy(float), (arcs["u"].to_numpy(), arcs["v"].to_numpy())), shape=(n, n))

        # brute-force snap
        pts = dest.to_crs(net.crs)
        X = np.column_stack([pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()])
        N = net.nodes[["x", "y"]].to_numpy(float)
        node_pos = np.empty(len(X), dtype=np.int64)
        dist = np.empty(len(X))
        self.ties = 0
        for s in range(0, len(X), 256):
            d2 = ((X[s : s + 256, None, :] - N[None, :, :]) ** 2).sum(axis=2)
            best = d2.argmin(axis=1)
            dmin = d2[np.arange(len(best)), best]
            for r in range(len(best)):
                tied = np.flatnonzero(d2[r] <= dmin[r] * (1 + 1e-12) + 1e-12)
                if len(tied) > 1:
                    # equidistant nodes: any is right; follow urbankit's choice if it is one of them
                    self.ties += 1
                    if chosen_nodes is not None:
                        c = pos.get_loc(chosen_nodes[s + r])
                        assert c in tied, "urbankit snapped to a node that is not the nearest"
                        best[r] = c
            node_pos[s : s + 256] = best
            dist[s : s + 256] = np.sqrt(dmin)
        m_per_min = uk.settings.walk_speed_kmh * 1000.0 / 60.0
        snap_steps = np.maximum(np.rint(dist / m_per_min / STEP), 1.0)
        self.snap_steps = np.where(dist == 0, 0.0, snap_steps)
        self.snap_m = dist
        self.dest_node = node_pos
        self.service = dest["service"].to_numpy()

    def matrix(self, origins: np.ndarray) -> np.ndarray:
        """Steps from each origin (position) to each destination (inf when unreachable)."""
        d = dijkstra(self.fwd, directed=True, indices=origins)
        return d[:, self.dest_node] + self.snap_steps[None, :]

    def nearest_all(self, services) -> dict[str, np.ndarray]:
        """Steps from every node to the nearest destination of each service (networkx, reversed
        graph, one virtual source per service)."""
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n))
        g.add_weighted_edges_from(zip(self.arcs["v"].tolist(), self.arcs["u"].tolist(), self.arcs["w"].tolist()))
        out = {}
        for s in services:
            sel = self.service == s
            res = np.full(self.n, np.inf)
            if sel.any():
                src = "SOURCE"
                for node, off in zip(self.dest_node[sel].tolist(), self.snap_steps[sel].tolist()):
                    if g.has_edge(src, node):
                        off = min(off, g[src][node]["weight"])
                    g.add_edge(src, node, weight=off)
                lengths = nx.single_source_dijkstra_path_length(g, src, weight="weight")
                g.remove_node(src)
                for node, d in lengths.items():
                    if node != src:
                        res[node] = d
            out[s] = res
        return out


# ------------------------------------------------------------------------------------------------
# brute-force population statistics


def brute_gini(x: np.ndarray, w: np.ndarray) -> float:
    x, w = np.asarray(x, float), np.asarray(w, float)
    W = w.sum()
    mean = (w * x).sum() / W
    if mean == 0:
        return 0.0
    total = 0.0
    for s in range(0, len(x), 512):
        total += (w[s : s + 512, None] * w[None, :] * np.abs(x[s : s + 512, None] - x[None, :])).sum()
    return float(total / (2 * W * W * mean))


def quantile_candidates(x: np.ndarray, w: np.ndarray, q: float) -> set:
    """Values ``v`` whose cumulative weight brackets ``q * W`` (the smallest value reaching the
    share ``q``); a set because float weights may tie the bracket within rounding."""
    order = np.argsort(x, kind="stable")
    x, w = np.asarray(x, float)[order], np.asarray(w, float)[order]
    W = math.fsum(w)
    target = q * W
    tol = 1e-9 * W
    out = set()
    below = 0.0
    for xi, wi in zip(x, w):
        through = below + wi
        if through >= target - tol and below <= target + tol:
            out.add(float(xi))
        if below > target + tol:
            break
        below = through
    return out


def exact_quantile(x: np.ndarray, w_int: np.ndarray, q: Fraction) -> float:
    """Smallest value whose cumulative (integer) weight reaches ``q`` of the total, exactly."""
    order = np.argsort(x, kind="stable")
    x, w = np.asarray(x, float)[order], [int(v) for v in np.asarray(w_int)[order]]
    target = q * sum(w)
    cum = 0
    for xi, wi in zip(x, w):
        cum += wi
        if cum >= target:
            return float(xi)
    return float(x[-1])


def brute_palma(x: np.ndarray, w_int: np.ndarray) -> float:
    """Minutes of the 10% of residents with the longest trips over those of the 40% with the
    shortest, every resident spelled out (weights x10 so both shares are whole residents)."""
    people = np.sort(np.repeat(np.asarray(x, float), np.asarray(w_int, np.int64) * 10))
    n = len(people)
    assert n % 10 == 0
    bottom = math.fsum(people[: 4 * n // 10])
    top = math.fsum(people[n - n // 10 :])
    return top / bottom if bottom > 0 else math.inf


# ------------------------------------------------------------------------------------------------
# the cases: every area x mode, computed once


_DEST: dict[str, gpd.GeoDataFrame] = {}
_CASES: dict[tuple[str, str], dict] = {}


def get_case(area: str, mode: str, read_extract) -> dict:
    key = (area, mode)
    if key in _CASES:
        return _CASES[key]
    path = existing(OSM_FILES[area])
    extract = read_extract(path)
    if area not in _DEST:
        _DEST[area] = uk.find_destinations(extract)
    dest = _DEST[area]
    net = uk.build_network(extract, mode, cache=False)
    rng = np.random.default_rng(20240601)
    if area == "helsinki" and mode == "walk":
        pop = uk.population_per_node(net.nodes, grid=existing("helsinki_population")).per_node
        integer_pop = False
    else:
        pop = pd.Series(rng.integers(0, 10, len(net.nodes)).astype(float), index=net.nodes.index)
        integer_pop = True
    acc = compute_accessibility(net, dest, minutes=MINUTES[mode], population=pop, k=K, half_life_min=HALF_LIFE)
    tax = uk.load_taxonomy()
    services = tax.service_names()
    functions = {s: tax.function_of(s) for s in services}
    ref = Reference(net, dest, chosen_nodes=acc.pois["node_id"].to_numpy())
    n = ref.n
    origins = np.sort(rng.choice(n, N_SAMPLE, replace=False)) if n > 2 * N_SAMPLE else np.arange(n)
    case = {
        "net": net,
        "dest": dest,
        "acc": acc,
        "ref": ref,
        "pop": pop.reindex(net.nodes.index).fillna(0.0).to_numpy(float),
        "integer_pop": integer_pop,
        "services": services,
        "functions": functions,
        "minutes": sorted(MINUTES[mode]),
        "origins": origins,
        "T": ref.matrix(origins),
        "nearest": ref.nearest_all(services),
    }
    _CASES[key] = case
    return case


@pytest.fixture(params=[(a, m) for a in AREAS for m in MODES], ids=lambda p: f"{p[0]}-{p[1]}")
def case(request, read_extract):
    return get_case(*request.param, read_extract)


def test_services_and_thresholds(case):
    acc = case["acc"]
    assert acc.services == case["services"]
    assert acc.functions == case["functions"]
    assert list(acc.minutes) == case["minutes"]  # given out of order, sorted
    assert acc.nodes.index.equals(case["net"].nodes.index)


def test_snap(case):
    acc, ref = case["acc"], case["ref"]
    assert len(acc.pois) == len(case["dest"])
    np.testing.assert_array_equal(acc.pois["node_id"].to_numpy(), ref.node_ids[ref.dest_node])
    np.testing.assert_allclose(acc.pois["snap_m"].to_numpy(), ref.snap_m, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(acc.pois["snap_min"].to_numpy(), ref.snap_steps * STEP, rtol=0, atol=1e-9)


def test_nearest_minutes_every_node(case):
    """Minutes to the nearest destination of each service, all nodes, vs a multi-source Dijkstra."""
    acc = case["acc"]
    max_steps = threshold_steps(max(case["minutes"]))
    worst = 0.0
    for s in case["services"]:
        want = minutes_or_nan(case["nearest"][s], max_steps)
        got = acc.nodes[f"time_{s}_min"].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN pattern of time_{s}_min")
        fin = ~np.isnan(want)
        if fin.any():
            diff = np.abs(got[fin] - want[fin]).max()
            worst = max(worst, diff)
            assert diff < 0.05, f"time_{s}_min off by {diff} min"
            assert diff < 1e-6, f"time_{s}_min off by {diff} min (within 0.05 but not exact)"
    assert worst < 1e-9


def _per_service(case):
    """Sampled origin x destination steps, split by service, each row sorted."""
    T, ref = case["T"], case["ref"]
    return {s: np.sort(T[:, ref.service == s], axis=1) for s in case["services"]}


def test_matrix_counts_knearest_gravity(case):
    """Counts within each threshold (exact), 1st..k-th nearest and gravity on sampled origins."""
    acc = case["acc"]
    rows = acc.nodes.iloc[case["origins"]]
    max_steps = threshold_steps(max(case["minutes"]))
    by_service = _per_service(case)
    for s, srt in by_service.items():
        for m in case["minutes"]:
            want = (srt <= threshold_steps(m)).sum(axis=1)
            got = rows[f"n_{s}_{label(m)}min"].to_numpy()
            np.testing.assert_array_equal(got, want, err_msg=f"n_{s}_{label(m)}min")
        for r in range(K):
            col = f"time_{s}_min" if r == 0 else f"time_{s}_{r + 1}_min"
            want = minutes_or_nan(srt[:, r], max_steps) if srt.shape[1] > r else np.full(len(rows), np.nan)
            got = rows[col].to_numpy(float)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=col)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=col)
        within = np.where(srt <= max_steps, srt, np.inf)
        want = np.exp(-math.log(2) * within * STEP / HALF_LIFE).sum(axis=1)
        np.testing.assert_allclose(
            rows[f"gravity_{s}"].to_numpy(float), want, rtol=1e-9, atol=0, err_msg=f"gravity_{s}"
        )


def test_scores_and_functions(case):
    """score = share of services reached, functions = functions reached: on the sampled matrix
    and, from the nearest minutes, on every node."""
    acc = case["acc"]
    services, functions = case["services"], case["functions"]
    fnames = sorted(set(functions.values()))
    by_service = _per_service(case)
    rows = acc.nodes.iloc[case["origins"]]
    for m in case["minutes"]:
        ms = threshold_steps(m)
        for name, reached, table in (
            ("sample", {s: (by_service[s] <= ms).any(axis=1) for s in services}, rows),
            ("all", {s: case["nearest"][s] <= ms for s in services}, acc.nodes),
        ):
            R = np.column_stack([reached[s] for s in services])
            np.testing.assert_allclose(
                table[f"score_{label(m)}min"].to_numpy(float), R.mean(axis=1), rtol=1e-12, atol=0, err_msg=name
            )
            F = np.column_stack(
                [np.column_stack([reached[s] for s in services if functions[s] == f]).any(axis=1) for f in fnames]
            )
            np.testing.assert_array_equal(table[f"functions_{label(m)}min"].to_numpy(), F.sum(axis=1), err_msg=name)


def test_population_summary(case):
    acc, pop = case["acc"], case["pop"]
    np.testing.assert_allclose(acc.nodes["population"].to_numpy(float), pop)
    populated = pop > 0
    w = pop[populated]
    W = w.sum()
    services, functions = case["services"], case["functions"]
    nf = len(set(functions.values()))
    summ = acc.summary()
    assert list(summ.index) == services + ["all functions"]
    # a service (function) without any destination in the area: not computable, NaN (not 0 %)
    present = set(case["dest"]["service"])
    absent_functions = sorted(f for f in set(functions.values()) if not any(
        s in present for s in services if functions[s] == f))
    assert summ.attrs["missing_functions"] == absent_functions
    max_steps = threshold_steps(max(case["minutes"]))
    for m in case["minutes"]:
        ms = threshold_steps(m)
        col = f"within_{label(m)}min"
        for s in services:
            want = (w * (case["nearest"][s][populated] <= ms)).sum() / W if s in present else np.nan
            assert summ.loc[s, col] == pytest.approx(want, rel=1e-12, abs=1e-15, nan_ok=True), (s, m)
        reached = {s: case["nearest"][s][populated] <= ms for s in services}
        n_functions = sum(
            np.column_stack([reached[s] for s in services if functions[s] == f]).any(axis=1)
            for f in set(functions.values())
        )
        allf = n_functions == nf
        want_all = (w * allf).sum() / W if not absent_functions else np.nan
        assert summ.loc["all functions", col] == pytest.approx(want_all, rel=1e-12, abs=1e-15, nan_ok=True), m
        assert acc.residents_within(m) == pytest.approx(want_all, rel=1e-12, abs=1e-15, nan_ok=True), m
    if 15 in case["minutes"]:
        assert acc.residents_within(15) == pytest.approx(summ.loc["all functions", "within_15min"], nan_ok=True)
    else:
        with pytest.raises(InvalidOptionError, match="15"):
            acc.residents_within(15)
    # median minutes: where nobody is beyond the largest threshold, every definition agrees
    for s in services:
        t = case["nearest"][s][populated]
        if (t <= max_steps).all():
            cands = {round(c * STEP, 9) for c in quantile_candidates(t, w, 0.5)}
            assert round(summ.loc[s, "median_min"], 9) in cands, s


def test_population_inequality(case):
    acc, pop = case["acc"], case["pop"]
    populated = pop > 0
    w = pop[populated]
    ineq = acc.inequality()
    max_steps = threshold_steps(max(case["minutes"]))
    for s in case["services"]:
        steps = case["nearest"][s][populated]
        fin = steps <= max_steps
        row = ineq.loc[s]
        assert row["beyond_max_share"] == pytest.approx(w[~fin].sum() / w.sum(), rel=1e-12, abs=1e-15)
        if not fin.any():
            assert np.isnan(row["gini"]) and np.isnan(row["palma"]) and np.isnan(row["worst_decile_min"])
            continue
        x, wf = steps[fin] * STEP, w[fin]
        assert row["gini"] == pytest.approx(brute_gini(x, wf), rel=1e-9, abs=1e-12), s
        # worst decile: over ALL residents, those beyond the largest threshold counting as farther;
        # NaN when the decile itself lies beyond
        x_all = np.where(fin, steps * STEP, np.inf)
        if case["integer_pop"]:
            expected = exact_quantile(x_all, w, Fraction(9, 10))
            if np.isinf(expected):
                assert np.isnan(row["worst_decile_min"]), s
            else:
                assert row["worst_decile_min"] == pytest.approx(expected, abs=1e-9), s
            assert row["palma"] == pytest.approx(brute_palma(x, wf), rel=1e-9), s
        else:
            cands = {round(c, 9) if np.isfinite(c) else None for c in quantile_candidates(x_all, w, 0.9)}
            got = row["worst_decile_min"]
            assert (None if np.isnan(got) else round(got, 9)) in cands, s


@pytest.mark.parametrize("area,mode", [("barcelona", "walk"), ("monaco", "drive")])
def test_chunked_search_and_any_destination_index(area, mode, read_extract, monkeypatch):
    """Many small Dijkstra chunks, and destinations shuffled under a string index, give the same
    table as the (reference-checked) single-chunk run."""
    ua = importlib.import_module("urbankit.accessibility.reach")  # the module holding the chunk size

    case = get_case(area, mode, read_extract)
    net, dest, pop = case["net"], case["dest"], pd.Series(case["pop"], index=case["net"].nodes.index)
    monkeypatch.setattr(ua, "_CHUNK_CELLS", 7 * (len(net.nodes) + len(dest)))  # 7 destinations a chunk
    shuffled = dest.sample(frac=1.0, random_state=3)
    shuffled.index = [f"d{i}" for i in range(len(shuffled))]
    acc = compute_accessibility(net, shuffled, minutes=MINUTES[mode], population=pop, k=K, half_life_min=HALF_LIFE)
    want = case["acc"].nodes
    got = acc.nodes[want.columns]
    gravity = [c for c in want.columns if c.startswith("gravity_")]
    pd.testing.assert_frame_equal(got.drop(columns=gravity + ["geometry"]), want.drop(columns=gravity + ["geometry"]))
    np.testing.assert_allclose(got[gravity].to_numpy(float), want[gravity].to_numpy(float), rtol=1e-12)


# ------------------------------------------------------------------------------------------------
# searches restricted to the nodes within straight-line reach


def _reference_reach(ref: Reference, max_steps: int) -> pd.DataFrame:
    """Every (node, destination, steps) within ``max_steps``: forward Dijkstra from every node."""
    T = ref.matrix(np.arange(ref.n))
    node, dest = np.nonzero(T <= max_steps)
    return pd.DataFrame({"node": node, "dest": dest, "steps": T[node, dest].astype(np.int64)})


def _as_steps(reach: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "node": reach["node"].to_numpy(np.int64),
            "dest": reach["dest"].to_numpy(np.int64),
            "steps": np.rint(reach["minutes"].to_numpy() / STEP).astype(np.int64),
        }
    )
    return out.sort_values(["node", "dest"], ignore_index=True)


def _local_plan(net, snapped, max_minutes):
    graph = routing_module()._SearchGraph.of(net)
    pos = np.unique(net.nodes.index.get_indexer(snapped["node_id"].to_numpy()))
    limit = max_minutes + STEP / 2
    chunk = reach_module()._CHUNK_CELLS
    return graph, routing_module()._search_plan(graph, pos, np.ones(len(pos), np.int64), limit, chunk)


def ua_module():
    return importlib.import_module("urbankit.accessibility")


def reach_module():
    return importlib.import_module("urbankit.accessibility.reach")


def routing_module():
    return importlib.import_module("urbankit.network.routing")


@pytest.mark.parametrize("area,mode", [(a, m) for a in AREAS for m in MODES], ids=lambda p: str(p))
@pytest.mark.slow
def test_local_searches_equal_whole_network_search(area, mode, read_extract):
    """With a threshold short against the area, each destination is searched on the tiles around
    it only; the reach table must still equal a forward Dijkstra over the whole network."""
    extract = read_extract(existing(OSM_FILES[area]))
    if area not in _DEST:
        _DEST[area] = uk.find_destinations(extract)
    net = uk.build_network(extract, mode, cache=False)
    from urbankit.mock import random_destinations

    # the real destinations, and some on street nodes (snap 0) so that every case reaches far
    on_nodes = random_destinations(net, per_service=2, max_offset_m=0.0, seed=1)
    dest = pd.concat([_DEST[area], on_nodes], ignore_index=True)
    snapped = ua_module().snap_destinations(net, dest)
    # the threshold: a quarter of the narrower extent at the fastest straight-line edge speed
    xy = net.nodes[["x", "y"]].to_numpy(float)
    pos = net.nodes.index
    e = net.edges
    a, b = xy[pos.get_indexer(e["u"])], xy[pos.get_indexer(e["v"])]
    fastest = float((np.hypot(*(a - b).T) / e["time_min"].to_numpy(float)).max())
    max_minutes = round(float(np.ptp(xy, axis=0).min()) / 4 / fastest, 3)
    _, plan = _local_plan(net, snapped, max_minutes)
    assert any(keep is not None and len(keep) < len(net.nodes) for _, keep in plan), "the local path was not taken"
    got = _as_steps(ua_module().reach_table(net, snapped, max_minutes))
    ref = Reference(net, dest, chosen_nodes=snapped["node_id"].to_numpy())
    want = _reference_reach(ref, threshold_steps(max_minutes)).sort_values(["node", "dest"], ignore_index=True)
    assert len(want) > 2 * len(on_nodes)  # the searches reach beyond their own node
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("oneway", [False, True])
@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_local_searches_on_a_grid_at_the_exact_reach(mode, oneway):
    """A 30 x 30 block grid with the threshold a whole number of edges: the farthest node reached
    along a straight street lies exactly on the straight-line bound, and must be found."""
    from urbankit.mock import grid_extract as mock_grid
    from urbankit.mock import random_destinations

    net = uk.build_network(mock_grid(30, 30, oneway_residential=oneway), mode, cache=False)
    dest = random_destinations(net, per_service=4, seed=5, max_offset_m=0.0)
    snapped = ua_module().snap_destinations(net, dest)
    steps = np.rint(net.edges["time_min"].to_numpy() / STEP).astype(np.int64)
    max_minutes = 5 * int(steps.min()) * STEP  # five of the fastest edges
    graph, plan = _local_plan(net, snapped, max_minutes)
    assert sum(keep is not None for _, keep in plan) > 4
    got = _as_steps(ua_module().reach_table(net, snapped, max_minutes))
    ref = Reference(net, dest, chosen_nodes=snapped["node_id"].to_numpy())
    want = _reference_reach(ref, threshold_steps(max_minutes)).sort_values(["node", "dest"], ignore_index=True)
    pd.testing.assert_frame_equal(got, want)
    # some trip reaches a node exactly at the straight-line bound
    d = np.hypot(*(graph.xy[got["node"]] - graph.xy[ref.dest_node[got["dest"]]]).T)
    assert np.isclose(d.max(), max_minutes * graph.m_per_min, rtol=1e-9)


def test_local_searches_with_a_tiny_threshold():
    """A threshold far below one edge: tiles are capped in number (wider than the reach), and each
    destination reaches only its own node."""
    from urbankit.mock import grid_extract as mock_grid
    from urbankit.mock import random_destinations

    net = uk.build_network(mock_grid(30, 30), "walk", cache=False)
    dest = random_destinations(net, per_service=2, seed=3, max_offset_m=0.0)
    snapped = ua_module().snap_destinations(net, dest)
    _, plan = _local_plan(net, snapped, 0.01)
    assert sum(keep is not None for _, keep in plan) > 4
    got = _as_steps(ua_module().reach_table(net, snapped, 0.01))
    want = pd.DataFrame(
        {
            "node": net.nodes.index.get_indexer(snapped["node_id"]),
            "dest": np.arange(len(snapped)),
            "steps": np.rint(snapped["snap_min"].to_numpy() / STEP).astype(np.int64),  # 0, or 1 for float noise
        }
    ).sort_values(["node", "dest"], ignore_index=True)
    pd.testing.assert_frame_equal(got, want)


def test_free_edge_makes_every_search_run_on_the_whole_network():
    """A zero-time edge between two places (never built by urbankit, but a hand-made network may
    hold one) leaves no straight-line bound: the plan falls back to whole-network searches."""
    from urbankit.mock import grid_extract as mock_grid

    net = uk.build_network(mock_grid(30, 30), "walk", cache=False)
    edges = net.edges.copy()
    edges.loc[edges.index[0], "time_min"] = 0.0
    free = uk.StreetNetwork(
        mode=net.mode, nodes=net.nodes, edges=edges, crs=net.crs, directed=net.directed, meta=net.meta
    )
    graph = routing_module()._SearchGraph.of(free)
    assert graph.m_per_min == np.inf
    plan = routing_module()._search_plan(graph, np.arange(10), np.ones(10, np.int64), 1.0, reach_module()._CHUNK_CELLS)
    assert all(keep is None for _, keep in plan)
    assert sorted(np.concatenate([c for c, _ in plan]).tolist()) == list(range(10))


# ------------------------------------------------------------------------------------------------
# hand-made networks


def write_osm(folder: Path, nodes: dict, ways: dict) -> uk.OSMExtract:
    path = Path(folder) / "hand.osm"
    path.write_text(osm_xml(nodes, ways))
    return uk.read_osm(path)


def points(lonlat, services, function="commerce") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"service": list(services), "function": function},
        geometry=[Point(lon, lat) for lon, lat in lonlat],
        crs="EPSG:4326",
    )


LAT0 = 0.010


def chain(refs, start=100, tags=None):
    return {
        start + i: ([a, b], dict(tags or {"highway": "residential"}))
        for i, (a, b) in enumerate(itertools.pairwise(refs))
    }


def line_nodes(n, *, start=1, lon0=3.0, lat=LAT0, step=0.001):
    return {start + i: (lon0 + step * i, lat, {}) for i in range(n)}


@pytest.fixture
def line(tmp_path):
    """Five nodes on a straight residential street, ~111 m (1.391 min walking) apart (one way per
    segment: ways are split only at shared nodes and ends)."""
    ex = write_osm(tmp_path, line_nodes(5), chain([1, 2, 3, 4, 5]))
    return uk.build_network(ex, "walk", cache=False)


def node_lonlat(net, node):
    return float(net.nodes.loc[node, "lon"]), float(net.nodes.loc[node, "lat"])


def test_line_by_hand(line):
    """Hand-computed minutes on a straight street: geodesic metres at 80 m/min."""
    g = GEOD.inv(3.0, LAT0, 3.001, LAT0)[2]  # ~111.3 m
    acc = compute_accessibility(
        line, points([node_lonlat(line, 1)], ["grocery"]), minutes=[2, 5], services=["grocery", "pharmacy"]
    )
    t = acc.nodes["time_grocery_min"]
    for node in range(1, 5):
        assert t[node] == pytest.approx((node - 1) * g / 80.0, abs=(node - 1) * STEP)
    assert np.isnan(t[5])  # 4 * 1.391 > 5 min
    assert acc.nodes["n_grocery_2min"].tolist() == [1, 1, 0, 0, 0]
    assert acc.nodes["n_grocery_5min"].tolist() == [1, 1, 1, 1, 0]


def test_service_without_destinations(line):
    acc = compute_accessibility(line, points([node_lonlat(line, 1)], ["grocery"]), minutes=[2, 5])
    services = uk.load_taxonomy().service_names()
    assert acc.services == services
    for s in services:
        if s == "grocery":
            continue
        assert acc.nodes[f"time_{s}_min"].isna().all()
        assert (acc.nodes[f"n_{s}_5min"] == 0).all() and (acc.nodes[f"n_{s}_2min"] == 0).all()
        assert (acc.nodes[f"gravity_{s}"] == 0).all()
    # one service of 19 reached: score 1/19, one function (commerce)
    assert acc.nodes["score_2min"].tolist() == pytest.approx([1 / 19, 1 / 19, 0, 0, 0])
    assert acc.nodes["functions_5min"].tolist() == [1, 1, 1, 1, 0]
    assert (acc.summary().loc[[s for s in services if s != "grocery"], "within_5min"].isna()).all()  # no population


def test_no_destinations_at_all(line):
    empty = points([], [])
    acc = compute_accessibility(line, empty, minutes=[5], services=["grocery"])
    assert acc.nodes["time_grocery_min"].isna().all()
    assert (acc.nodes["n_grocery_5min"] == 0).all()
    assert (acc.nodes["score_5min"] == 0).all()


def test_destination_beyond_every_threshold(line):
    # 300 m north of node 5: 3.75 min walking to its node, beyond 2 and 3 min everywhere
    lon, lat = node_lonlat(line, 5)
    far = GEOD.fwd(lon, lat, 0.0, 300.0)[:2]
    acc = compute_accessibility(line, points([far], ["grocery"]), minutes=[3, 2], services=["grocery"])
    assert acc.pois["snap_min"].iloc[0] == pytest.approx(3.75, abs=0.01)
    assert acc.nodes["time_grocery_min"].isna().all()  # NaN, never a cap value
    assert (acc.nodes["n_grocery_3min"] == 0).all()
    assert (acc.nodes["gravity_grocery"] == 0).all()
    assert len(acc.reach) == 0


def test_disconnected_island(tmp_path):
    nodes = {**line_nodes(4), **line_nodes(3, start=11, lon0=3.02)}
    ways = {**chain([1, 2, 3, 4]), **chain([11, 12, 13], start=200)}
    ex = write_osm(tmp_path, nodes, ways)
    net = uk.build_network(ex, "walk", largest_component=False, cache=False)
    assert set(net.nodes.index) == {1, 2, 3, 4, 11, 12, 13}
    dest = points([node_lonlat(net, 1)], ["grocery"])
    acc = compute_accessibility(net, dest, minutes=[5, 60], services=["grocery"])
    t = acc.nodes["time_grocery_min"]
    assert t[[11, 12, 13]].isna().all()  # unreachable: NaN, not a max value
    assert (acc.nodes.loc[[11, 12, 13], "n_grocery_60min"] == 0).all()
    assert t[[1, 2, 3, 4]].notna().all()
    ref = Reference(net, dest)
    want = minutes_or_nan(ref.nearest_all(["grocery"])["grocery"], threshold_steps(60))
    np.testing.assert_allclose(t.to_numpy(float), want, atol=1e-9)


def test_destination_exactly_on_a_node(line):
    acc = compute_accessibility(line, points([node_lonlat(line, 3)], ["grocery"]), minutes=[5], services=["grocery"])
    assert acc.pois["node_id"].iloc[0] == 3
    assert acc.pois["snap_m"].iloc[0] == 0.0
    assert acc.pois["snap_min"].iloc[0] == 0.0
    assert acc.nodes.loc[3, "time_grocery_min"] == 0.0
    assert acc.nodes.loc[3, "gravity_grocery"] == 1.0


def test_real_destinations_on_street_nodes_snap_to_zero(monaco, read_extract):
    ex = read_extract(monaco)
    dest = uk.find_destinations(ex)
    net = uk.build_network(ex, "walk", cache=False)
    on_node = dest["osm_type"].eq("node") & dest["osm_id"].isin(net.nodes.index)
    assert on_node.any()
    acc = compute_accessibility(net, dest[on_node], minutes=[5])
    assert (acc.pois["snap_min"] == 0).all()
    assert (acc.pois["node_id"].to_numpy() == dest.loc[on_node, "osm_id"].to_numpy()).all()
    for s, nid in zip(acc.pois["service"], acc.pois["node_id"]):
        assert acc.nodes.loc[nid, f"time_{s}_min"] == 0.0


# drive: a square block, A(1) B(2) bottom, C(3) D(4) top; A->B one-way, the rest two-way
SQUARE = {1: (3.0, LAT0, {}), 2: (3.01, LAT0, {}), 3: (3.01, LAT0 + 0.01, {}), 4: (3.0, LAT0 + 0.01, {})}


def test_drive_one_way_by_hand(tmp_path):
    road = {"highway": "residential", "maxspeed": "30"}
    ways = {
        100: ([1, 2], {**road, "oneway": "yes"}),
        101: ([2, 3], road),
        102: ([3, 4], road),
        103: ([4, 1], road),
    }
    ex = write_osm(tmp_path, SQUARE, ways)
    net = uk.build_network(ex, "drive", cache=False)
    dest = points([SQUARE[1][:2], SQUARE[2][:2]], ["grocery", "pharmacy"])
    acc = compute_accessibility(net, dest, minutes=[10], services=["grocery", "pharmacy"])
    assert (acc.pois["snap_min"] == 0).all()

    def minutes(a, b):  # 30 km/h = 500 m/min
        (x1, y1, _), (x2, y2, _) = SQUARE[a], SQUARE[b]
        return GEOD.inv(x1, y1, x2, y2)[2] / 500.0

    ab = minutes(1, 2)
    ba = minutes(2, 3) + minutes(3, 4) + minutes(4, 1)  # the long way round
    t = acc.nodes
    assert t.loc[1, "time_pharmacy_min"] == pytest.approx(ab, abs=0.002)  # A -> B direct
    assert t.loc[2, "time_grocery_min"] == pytest.approx(ba, abs=0.004)  # B -> A round the block
    assert t.loc[2, "time_grocery_min"] > 2.5 * t.loc[1, "time_pharmacy_min"]
    # D -> A and C -> A on two-way streets
    assert t.loc[4, "time_grocery_min"] == pytest.approx(minutes(4, 1), abs=0.002)
    assert t.loc[3, "time_grocery_min"] == pytest.approx(minutes(3, 4) + minutes(4, 1), abs=0.003)
    # walking ignores the one-way rule
    walk = uk.build_network(ex, "walk", cache=False)
    w = compute_accessibility(walk, dest, minutes=[60], services=["grocery", "pharmacy"]).nodes
    assert w.loc[2, "time_grocery_min"] == pytest.approx(w.loc[1, "time_pharmacy_min"], abs=1e-9)


def test_drive_oneway_reverse(tmp_path):
    # oneway=-1 on A-B: only B -> A is allowed
    road = {"highway": "residential", "maxspeed": "30"}
    ways = {100: ([1, 2], {**road, "oneway": "-1"}), 101: ([2, 3], road), 102: ([3, 4], road), 103: ([4, 1], road)}
    net = uk.build_network(write_osm(tmp_path, SQUARE, ways), "drive", cache=False)
    dest = points([SQUARE[1][:2], SQUARE[2][:2]], ["grocery", "pharmacy"])
    t = compute_accessibility(net, dest, minutes=[10], services=["grocery", "pharmacy"]).nodes
    assert t.loc[2, "time_grocery_min"] < t.loc[1, "time_pharmacy_min"] / 2.5


# ------------------------------------------------------------------------------------------------
# options


@pytest.mark.parametrize(
    "minutes",
    [
        [-5],
        [0],
        [10, 0],
        [10, -1],
        ["10"],
        "10",
        [True],
        True,
        [],
        (),
        [10, 10],
        [10, 10.0],
        [float("nan")],
        [float("inf")],
        None,
        [None],
        [10, "a"],
    ],
    ids=repr,
)
def test_invalid_thresholds(line, minutes):
    dest = points([node_lonlat(line, 1)], ["grocery"])
    with pytest.raises(InvalidOptionError) as info:
        compute_accessibility(line, dest, minutes=minutes)
    shown = repr(list(minutes)) if isinstance(minutes, tuple) else repr(minutes)
    assert shown in str(info.value)


@pytest.mark.parametrize(
    "minutes,want", [([30, 10, 15], (10, 15, 30)), ((7.5, 2), (2, 7.5)), (20, (20,)), (np.array([15, 5]), (5, 15))]
)
def test_thresholds_sorted(line, minutes, want):
    dest = points([node_lonlat(line, 1)], ["grocery"])
    acc = compute_accessibility(line, dest, minutes=minutes, services=["grocery"])
    assert acc.minutes == want
    for m in want:
        assert f"n_grocery_{label(m)}min" in acc.nodes and f"score_{label(m)}min" in acc.nodes


def test_numpy_integer_scalar_threshold(line):
    dest = points([node_lonlat(line, 1)], ["grocery"])
    assert compute_accessibility(line, dest, minutes=np.int64(10), services=["grocery"]).minutes == (10,)


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2"])
def test_invalid_k(line, k):
    with pytest.raises(InvalidOptionError, match="k="):
        compute_accessibility(line, points([node_lonlat(line, 1)], ["grocery"]), k=k)


@pytest.mark.parametrize("column", ["service", "function"])
def test_destinations_without_required_column(line, column):
    dest = points([node_lonlat(line, 1)], ["grocery"]).drop(columns=column)
    with pytest.raises(InvalidOptionError, match=column):
        compute_accessibility(line, dest)


def test_population_sharing_no_node_is_an_error(line):
    with pytest.raises(InvalidOptionError):
        compute_accessibility(
            line, points([node_lonlat(line, 1)], ["grocery"]), population=pd.Series([1.0], index=[999])
        )


# ------------------------------------------------------------------------------------------------
# population edge cases


@pytest.mark.parametrize("population", [None, "zeros"])
def test_zero_population(line, population):
    if population == "zeros":
        population = pd.Series(0.0, index=line.nodes.index)
    acc = compute_accessibility(
        line, points([node_lonlat(line, 1)], ["grocery"]), minutes=[2, 5], population=population, services=["grocery"]
    )
    summ = acc.summary()
    assert summ[["within_2min", "within_5min", "median_min"]].isna().all().all()
    assert math.isnan(acc.residents_within(5))
    ineq = acc.inequality()
    assert ineq[["gini", "palma", "worst_decile_min"]].isna().all().all()
    assert acc.minutes_distribution("grocery")["share_of_residents"].isna().all()


def test_zero_population_beyond_share_is_nan(line):
    acc = compute_accessibility(line, points([node_lonlat(line, 1)], ["grocery"]), minutes=[5], services=["grocery"])
    assert math.isnan(acc.inequality().loc["grocery", "beyond_max_share"])


def test_median_counts_residents_beyond_threshold(line):
    # destination on node 1; nodes 1..4 within 5 min (0, 1.391, 2.783, 4.174), node 5 beyond
    # residents: 1 at each of nodes 1..4 and 3 at node 5 (7 in all): the 4th of 7 residents
    # (the median) is at node 4, 4.174 min; over the 4 residents within, it is node 2
    pop = pd.Series([1.0, 1.0, 1.0, 1.0, 3.0], index=[1, 2, 3, 4, 5])
    acc = compute_accessibility(
        line, points([node_lonlat(line, 1)], ["grocery"]), minutes=[5], population=pop, services=["grocery"]
    )
    t = acc.nodes["time_grocery_min"]
    assert np.isnan(t[5])
    assert acc.summary().loc["grocery", "median_min"] == t[4]


def test_population_hand_computed(line):
    pop = pd.Series([1.0, 2.0, 0.0, 3.0, 4.0], index=[1, 2, 3, 4, 5])
    acc = compute_accessibility(
        line, points([node_lonlat(line, 1)], ["grocery"]), minutes=[2, 5], population=pop, services=["grocery"]
    )
    summ = acc.summary()
    assert summ.loc["grocery", "within_2min"] == pytest.approx(3 / 10)  # nodes 1, 2
    assert summ.loc["grocery", "within_5min"] == pytest.approx(6 / 10)  # nodes 1, 2, 4 (3 has nobody)
    assert acc.residents_within(5) == pytest.approx(6 / 10)  # one function in this analysis
    ineq = acc.inequality().loc["grocery"]
    assert ineq["beyond_max_share"] == pytest.approx(0.4)
    t = acc.nodes["time_grocery_min"]
    x, w = np.array([t[1], t[2], t[4]]), np.array([1.0, 2.0, 3.0])
    assert ineq["gini"] == pytest.approx(brute_gini(x, w), rel=1e-12)
    assert ineq["palma"] == pytest.approx(brute_palma(x, w.astype(int)), rel=1e-12)
    assert np.isnan(ineq["worst_decile_min"])  # 40% of residents are beyond 5 min: so is the worst decile


# ------------------------------------------------------------------------------------------------
# thresholds that are not exact binary fractions


def test_trip_exactly_at_decimal_threshold(line):
    # destination 56 m north of node 3 (in the network CRS): 56 m / 80 m/min = 0.700 min exactly
    x, y = line.nodes.loc[3, ["x", "y"]]
    lon, lat = Transformer.from_crs(line.crs, "EPSG:4326", always_xy=True).transform(x, y + 56.0)
    acc = compute_accessibility(line, points([(lon, lat)], ["grocery"]), minutes=[0.7, 5], services=["grocery"])
    assert acc.pois["node_id"].iloc[0] == 3
    assert round(acc.pois["snap_min"].iloc[0] / STEP) == 700
    assert acc.nodes.loc[3, "n_grocery_0_7min"] == 1
    assert acc.nodes.loc[3, "score_0_7min"] == 1.0


# ------------------------------------------------------------------------------------------------
# properties on random small grids


def grid_extract(rows: int, cols: int, removed: set, folder: Path) -> uk.OSMExtract:
    nodes = {1 + r * cols + c: (3.0 + 0.001 * c, LAT0 + 0.001 * r, {}) for r in range(rows) for c in range(cols)}
    ways, wid = {}, 100
    for r in range(rows):
        for c in range(cols):
            a = 1 + r * cols + c
            for b, ok in ((a + 1, c + 1 < cols), (a + cols, r + 1 < rows)):
                if ok and (a, b) not in removed:
                    ways[wid] = ([a, b], {"highway": "residential"})
                    wid += 1
    return write_osm(folder, nodes, ways)


@st.composite
def grid_case(draw):
    rows = draw(st.integers(2, 4))
    cols = draw(st.integers(2, 4))
    pairs = [(1 + r * cols + c, 1 + r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
    pairs += [(1 + r * cols + c, 1 + (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
    removed = set(draw(st.lists(st.sampled_from(pairs), max_size=len(pairs) // 3, unique=True)))
    n_dest = draw(st.integers(1, 6))
    dest = [
        (
            3.0 + 0.001 * draw(st.floats(0, cols - 1, allow_nan=False)),
            LAT0 + 0.001 * draw(st.floats(0, rows - 1, allow_nan=False)),
            draw(st.sampled_from(["grocery", "pharmacy"])),
        )
        for _ in range(n_dest)
    ]
    keep = draw(st.lists(st.booleans(), min_size=n_dest, max_size=n_dest))
    minutes = sorted(draw(st.lists(st.integers(1, 8), min_size=2, max_size=3, unique=True)))
    return rows, cols, removed, dest, keep, minutes


@hsettings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(grid_case())
@pytest.mark.slow
def test_properties_random_grids(params):
    rows, cols, removed, dest_spec, keep, minutes = params
    services = ["grocery", "pharmacy"]
    with tempfile.TemporaryDirectory() as folder:
        ex = grid_extract(rows, cols, removed, Path(folder))
        if len(ex.ways) == 0:
            return
        net = uk.build_network(ex, "walk", largest_component=False, cache=False)
    full = points([(lon, lat) for lon, lat, _ in dest_spec], [s for *_, s in dest_spec])
    sub = full[np.asarray(keep)]
    a_full = compute_accessibility(net, full, minutes=minutes, services=services)
    a_sub = compute_accessibility(net, sub, minutes=minutes, services=services)
    ref = Reference(net, full, chosen_nodes=a_full.pois["node_id"].to_numpy())
    want = ref.nearest_all(services)
    max_steps = threshold_steps(max(minutes))
    for s in services:
        t_full = a_full.nodes[f"time_{s}_min"].fillna(np.inf).to_numpy()
        t_sub = a_sub.nodes[f"time_{s}_min"].fillna(np.inf).to_numpy()
        # adding destinations never increases a nearest time
        assert (t_full <= t_sub + 1e-12).all()
        np.testing.assert_allclose(
            a_full.nodes[f"time_{s}_min"].to_numpy(float), minutes_or_nan(want[s], max_steps), atol=1e-9
        )
        for a in (a_full, a_sub):
            counts = [a.nodes[f"n_{s}_{label(m)}min"].to_numpy() for m in minutes]
            # a larger threshold never lowers a count
            for lo, hi in itertools.pairwise(counts):
                assert (lo <= hi).all()
        for m in minutes:
            assert (a_full.nodes[f"n_{s}_{label(m)}min"] >= a_sub.nodes[f"n_{s}_{label(m)}min"]).all()
