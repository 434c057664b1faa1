"""The compiled all-or-nothing pass (:mod:`urbankit.superblocks._kernels`) against a slow, obviously
correct computation: scipy's Dijkstra with predecessors from every start, then each trip's path
walked node by node in Python. Random integer steps up to a million make equal-cost paths
(ties, where the two may choose differently) practically impossible."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse.csgraph import dijkstra

import urbankit as uk
from urbankit.mock import grid_extract
from urbankit.network import TIME_RESOLUTION_MIN
from urbankit.superblocks import find_superblocks, trip_paths
from urbankit.superblocks.assign import _execute, _FixedTrips, _GravityTrips, _Pass
from urbankit.superblocks.detect import label_edges
from urbankit.superblocks.graph import _build_graph, _inside_nodes


@pytest.fixture(scope="module")
def grid():
    return uk.build_network(grid_extract(9, 9), "drive", cache=False)


def _slow(g, o, d, trips, n_edges, split):
    """Per OD row: steps, metres and the edge flows, by scipy predecessors and a walk per trip."""
    start = g.starts(o)
    t1, t2 = g.ends(o, d)
    csr = g.csr
    flows = np.zeros(n_edges)
    flows_split = np.zeros(n_edges)
    steps = np.full(len(o), np.inf)
    metres = np.full(len(o), np.nan)
    for r in range(len(o)):
        if start[r] < 0:
            continue
        dist, pred = dijkstra(csr, directed=True, indices=int(start[r]), return_predecessors=True)
        cands = [(dist[x], x) for x in (t1[r], t2[r]) if x >= 0 and np.isfinite(dist[x])]
        if not cands:
            continue
        dd, x = min(cands)
        steps[r] = np.floor(dd)
        m = 0.0
        while x != start[r]:
            p = pred[x]
            row = csr.indices[csr.indptr[p] : csr.indptr[p + 1]]
            (k,) = np.flatnonzero(row == x)
            arc = csr.indptr[p] + k
            m += g.arc_len[arc]
            if g.arc_edge[arc] >= 0:
                flows[g.arc_edge[arc]] += trips[r]
                if split[r]:
                    flows_split[g.arc_edge[arc]] += trips[r]
            x = p
        metres[r] = m
    return flows, steps, metres, flows_split


def _od(grid, rng, n_rows):
    n = len(grid.nodes)
    o = rng.integers(0, n, n_rows)
    d = rng.integers(0, n, n_rows)
    d[:5] = o[:5]  # trips from a node to itself
    return o.astype(np.int64), d.astype(np.int64)


def _check(g, grid, o, d, rng):
    n_edges = len(grid.edges)
    trips = rng.uniform(0.5, 3.0, len(o))
    trips[::7] = 0.0  # rows that carry nothing still get steps and metres
    split = rng.random(len(o)) < 0.4
    want_f, want_s, want_m, want_split = _slow(g, o, d, trips, n_edges, split)
    assert np.isfinite(want_s).any() and not np.isfinite(want_s).all()  # some rows unroutable
    for jobs in (1, 2):
        p = _Pass.make(g, o, d, _FixedTrips(trips), n_edges)
        flows, steps, metres, loaded, flows_split = _execute(p, len(o), jobs, split=split)
        np.testing.assert_array_equal(steps, want_s)
        np.testing.assert_allclose(metres, want_m, rtol=1e-12, atol=0)
        np.testing.assert_allclose(flows, want_f, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(flows_split, want_split, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(loaded, np.where(np.isfinite(want_s), trips, 0.0))
        plain = _execute(_Pass.make(g, o, d, _FixedTrips(trips), n_edges), len(o), jobs)
        np.testing.assert_array_equal(plain[0], flows)


def _random_steps(grid, rng):
    return rng.integers(1, 1_000_000, len(grid.edges)).astype(float)


def test_before_graph_matches_scipy_paths(grid):
    rng = np.random.default_rng(7)
    steps = _random_steps(grid, rng)
    usable = np.ones(len(grid.edges), bool)
    # one node cut off (every edge at it removed): rows to and from it are unroutable
    node = grid.nodes.index[40]
    usable[(grid.edges["u"] == node).to_numpy() | (grid.edges["v"] == node).to_numpy()] = False
    g = _build_graph(grid, steps, usable)
    o, d = _od(grid, rng, 400)
    o[5:15] = 40
    d[15:25] = 40
    _check(g, grid, o, d, rng)


def test_layered_after_graph_matches_scipy_paths(grid):
    rng = np.random.default_rng(11)
    sb = find_superblocks(grid)
    labels = label_edges(grid, sb).fillna(-1).to_numpy(np.int64)
    assert (labels >= 0).any()
    steps = _random_steps(grid, rng)
    usable = rng.random(len(grid.edges)) > 0.08  # random closures
    node = grid.nodes.index[3]  # and one node cut off: rows to it are unroutable
    usable[(grid.edges["u"] == node).to_numpy() | (grid.edges["v"] == node).to_numpy()] = False
    node_sb, _, _ = _inside_nodes(grid, labels)
    sbs = np.unique(node_sb[node_sb >= 0])
    g = _build_graph(grid, steps, usable, labels, sbs, sbs)
    assert g.n_exp > len(grid.nodes)  # L1/L3 copies exist
    o, d = _od(grid, rng, 600)
    inside = np.flatnonzero(node_sb >= 0)
    o[30:60] = rng.choice(inside, 30)  # trips within and between superblocks
    d[30:45] = o[30:45] + 0
    d[45:90] = rng.choice(inside, 45)
    d[90:100] = 3
    _check(g, grid, o, d, rng)


def test_gravity_weights_see_the_steps_of_their_whole_task(grid):
    rng = np.random.default_rng(3)
    g = _build_graph(grid, _random_steps(grid, rng))
    n = len(grid.nodes)
    o = np.repeat(np.arange(0, n, 4), 10).astype(np.int64)
    d = rng.integers(0, n, len(o)).astype(np.int64)
    production = rng.uniform(1, 5, n)
    attraction = rng.uniform(0.1, 2, n)
    p = _Pass.make(g, o, d, None, len(grid.edges))
    p.weight = _GravityTrips(production[o[p.row_order[p.bounds[:-1]]]], attraction[d], 0.001)
    _, steps, _, loaded = _execute(p, len(o), 1)
    _, want_s, _, _ = _slow(g, o, d, np.zeros(len(o)), len(grid.edges), np.zeros(len(o), bool))
    np.testing.assert_array_equal(steps, want_s)
    a = attraction[d] * np.exp(-0.001 * steps * TIME_RESOLUTION_MIN)
    for origin in np.unique(o):
        rows = o == origin
        np.testing.assert_allclose(loaded[rows], production[origin] * a[rows] / a[rows].sum(), rtol=1e-12)


def test_trip_paths_follow_the_loaded_trees(grid):
    rng = np.random.default_rng(5)
    o, d = _od(grid, rng, 60)
    ids = grid.nodes.index.to_numpy()
    import pandas as pd

    od = pd.DataFrame({"origin": ids[o], "destination": ids[d], "trips": 1.0})
    sb = find_superblocks(grid)
    paths = trip_paths(grid, od, superblocks=sb)
    flows = np.zeros(len(grid.edges))
    for pth in paths:
        if pth is not None:
            np.add.at(flows, pth, 1.0)
    a = uk.superblocks.assign(grid, od, superblocks=sb, n_jobs=1)
    np.testing.assert_allclose(a.flows["flow_after"].to_numpy(), flows)


def test_ratrun_from_the_before_trees_equals_routing_the_through_trips(grid):
    import pandas as pd

    from urbankit.superblocks import run_scenario
    from urbankit.superblocks._common import DEFAULT_INTERNAL_SPEED_KMH
    from urbankit.superblocks.assign import _od_positions, _scenario
    from urbankit.superblocks.congestion import ratrun_vkm

    pop = pd.Series((np.arange(len(grid.nodes)) % 7).astype(float), index=grid.nodes.index)
    s = run_scenario(grid, population=pop, h3_resolution=None, n_trips=5_000, n_jobs=1)
    a = s.assignment
    assert a._through_flows_before is not None  # summed from the gravity pass's trees
    sc = _scenario(
        grid, s.superblocks, internal_speed_kmh=DEFAULT_INTERNAL_SPEED_KMH, closed_edges=None, modal_filters=None
    )
    o, d = _od_positions(grid, a.od)
    a_sb = a.od["origin_superblock"].fillna(-1).to_numpy(np.int64)
    b_sb = a.od["destination_superblock"].fillna(-1).to_numpy(np.int64)
    routed = ratrun_vkm(grid, sc, o, d, a.od["trips"].to_numpy(float), a_sb, b_sb, 1)  # routes the through trips
    assert routed.sum() > 0
    summary = s.summary()
    assert summary["vkm_ratrun_before"].iloc[0] == pytest.approx(routed.sum(), rel=1e-9)
    # a given OD table: the before assignment sums them from its own trees
    again = run_scenario(grid, od=a.od[["origin", "destination", "trips"]], superblocks=s.superblocks, n_jobs=1)
    assert again.summary()["vkm_ratrun_before"].iloc[0] == pytest.approx(routed.sum(), rel=1e-9)
