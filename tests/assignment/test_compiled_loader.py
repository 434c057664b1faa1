"""The compiled all-or-nothing loader against a slow loader written here (networkx Dijkstra + path walk)."""

import networkx as nx
import numpy as np
import pytest

from urbankit.assignment import ShortestPathLoader


def _slow_loads(fr, to, cost, od, n):
    """Each OD pair's trips along networkx's shortest path; of parallel links the cheapest."""
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    best = {}
    for i, (u, v, c) in enumerate(zip(fr, to, cost)):
        if u != v and ((u, v) not in best or c < cost[best[u, v]]):
            best[u, v] = i
    for (u, v), i in best.items():
        g.add_edge(u, v, weight=cost[i])
    loads = np.zeros(len(fr))
    unrouted = 0.0
    for o, d, t in od:
        if o == d or t <= 0:
            continue
        try:
            path = nx.dijkstra_path(g, o, d)
        except nx.NetworkXNoPath:
            unrouted += t
            continue
        for u, v in zip(path[:-1], path[1:]):
            loads[best[u, v]] += t
    return loads, unrouted


@pytest.mark.parametrize("seed", range(6))
def test_compiled_loader_equals_a_slow_path_walk(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 80))
    m = int(rng.integers(2 * n, 4 * n))
    fr = rng.integers(0, n, m)
    to = rng.integers(0, n, m)
    # parallel links and a self-loop on purpose; continuous costs, so shortest paths are unique
    fr, to = np.r_[fr, fr[:5], 3], np.r_[to, to[:5], 3]
    cost = rng.uniform(0.5, 5.0, len(fr))
    k = int(rng.integers(30, 200))
    od = list(zip(rng.integers(0, n, k).tolist(), rng.integers(0, n, k).tolist(), rng.uniform(0, 10, k).tolist()))
    od += [(0, 0, 5.0), (1, 2, 0.0)]  # ignored: same node, no trips
    o, d, t = (np.array(c) for c in zip(*od))
    loader = ShortestPathLoader(fr, to, o, d, t, n_nodes=n)
    want, unrouted = _slow_loads(fr.tolist(), to.tolist(), cost.tolist(), od, n)
    got = loader(cost)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    assert loader.unrouted_trips == pytest.approx(unrouted, abs=1e-9)
    # a second call with other costs reuses clean buffers
    cost2 = rng.uniform(0.5, 5.0, len(fr))
    want2, _ = _slow_loads(fr.tolist(), to.tolist(), cost2.tolist(), od, n)
    np.testing.assert_allclose(loader(cost2), want2, rtol=1e-12, atol=1e-9)


def test_ties_are_broken_deterministically_and_costs_stay_shortest():
    # a 6 x 6 grid of unit links: many equal-cost paths; loads repeat exactly and every loaded
    # path costs the shortest distance (total cost = sum trips x shortest distance)
    g = nx.grid_2d_graph(6, 6).to_directed()
    idx = {p: i for i, p in enumerate(sorted(g.nodes))}
    fr = np.array([idx[u] for u, v in g.edges])
    to = np.array([idx[v] for u, v in g.edges])
    cost = np.ones(len(fr))
    rng = np.random.default_rng(1)
    o, d = rng.integers(0, 36, 60), rng.integers(0, 36, 60)
    t = rng.uniform(1, 3, 60)
    loader = ShortestPathLoader(fr, to, o, d, t)
    a, b = loader(cost), loader(cost)
    np.testing.assert_array_equal(a, b)
    manhattan = np.abs(o // 6 - d // 6) + np.abs(o % 6 - d % 6)
    assert float(a @ cost) == pytest.approx(float(t @ manhattan), rel=1e-12)
    # flow conservation at every node: inflow - outflow = trips ending - trips starting
    net = np.bincount(to, weights=a, minlength=36) - np.bincount(fr, weights=a, minlength=36)
    keep = o != d
    want = np.bincount(d[keep], weights=t[keep], minlength=36) - np.bincount(o[keep], weights=t[keep], minlength=36)
    np.testing.assert_allclose(net, want, atol=1e-9)


def test_initial_flow_starts_from_a_given_all_or_nothing_loading():
    from urbankit._errors import InvalidOptionError
    from urbankit.assignment import equilibrium_assignment

    g = nx.grid_2d_graph(4, 4).to_directed()
    idx = {p: i for i, p in enumerate(sorted(g.nodes))}
    fr = np.array([idx[u] for u, v in g.edges])
    to = np.array([idx[v] for u, v in g.edges])
    rng = np.random.default_rng(5)
    t0, cap = rng.uniform(1.0, 3.0, len(fr)), rng.uniform(100.0, 300.0, len(fr))
    od = ([0, 5], [15, 10], [900.0, 300.0])
    calls = []
    loader = ShortestPathLoader(fr, to, *od)

    def counting(cost):
        calls.append(1)
        return loader(cost)

    ref = equilibrium_assignment(fr, to, t0, cap, None, loader=counting, rel_gap=1e-6, max_iter=5000)
    n_ref = len(calls)
    aon, _ = _slow_loads(fr.tolist(), to.tolist(), t0.tolist(), list(zip(*od)), 16)
    calls.clear()
    warm = equilibrium_assignment(fr, to, t0, cap, None, loader=counting, rel_gap=1e-6, max_iter=5000, initial_flow=aon)
    assert warm.converged and len(calls) == n_ref - 1
    np.testing.assert_allclose(warm.flow, ref.flow, rtol=1e-9, atol=1e-9)
    with pytest.raises(InvalidOptionError, match="initial_flow"):
        equilibrium_assignment(fr, to, t0, cap, od, initial_flow=aon[:-1])
