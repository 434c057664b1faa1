"""Bi-conjugate Frank-Wolfe user equilibrium: analytic two-link case, Wardrop conditions, options."""

import itertools
import warnings

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from urbankit._errors import InvalidOptionError
from urbankit.assignment import (
    AssignmentConvergenceWarning,
    ShortestPathLoader,
    bpr_time,
    equilibrium_assignment,
)


def test_two_parallel_links_closed_form():
    # linear BPR (beta=1): t_i = a_i (1 + 0.15 x_i / c_i); equal times with x1 + x2 = D
    a1, a2, c1, c2, demand = 10.0, 12.0, 800.0, 1500.0, 3000.0
    k1, k2 = 0.15 * a1 / c1, 0.15 * a2 / c2
    x1 = (a2 - a1 + k2 * demand) / (k1 + k2)
    res = equilibrium_assignment([0, 0], [1, 1], [a1, a2], [c1, c2], ([0], [1], [demand]), beta=1.0, rel_gap=1e-8)
    assert res.converged
    np.testing.assert_allclose(res.flow, [x1, demand - x1], rtol=1e-6)
    assert res.congested_time[0] == pytest.approx(res.congested_time[1], rel=1e-6)


def test_two_links_one_unused_below_threshold():
    # the slow link stays empty while the fast one is quicker even when carrying everything
    res = equilibrium_assignment([0, 0], [1, 1], [1.0, 5.0], [1000.0, 1000.0], ([0], [1], [500.0]))
    np.testing.assert_allclose(res.flow, [500.0, 0.0], atol=1e-9)


def _grid(n, seed):
    rng = np.random.default_rng(seed)
    g = nx.grid_2d_graph(n, n).to_directed()
    nodes = {p: i for i, p in enumerate(sorted(g.nodes))}
    fr = np.array([nodes[u] for u, v in g.edges])
    to = np.array([nodes[v] for u, v in g.edges])
    return fr, to, rng.uniform(1.0, 3.0, len(fr)), rng.uniform(100.0, 300.0, len(fr))


def test_wardrop_every_used_path_is_shortest():
    fr, to, t0, cap = _grid(4, seed=3)
    od = pd.DataFrame({"origin": [0, 0, 3], "destination": [15, 12, 12], "trips": [600.0, 300.0, 400.0]})
    gap = 1e-6
    res = equilibrium_assignment(fr, to, t0, cap, od, rel_gap=gap, max_iter=5000)
    assert res.converged
    cost = bpr_time(t0, res.flow, cap)
    assert np.allclose(cost, res.congested_time)
    g = nx.DiGraph()
    for i, (u, v) in enumerate(zip(fr, to)):
        g.add_edge(u, v, i=i)
    # independent check 1: total cost equals trips x shortest cost (within the gap)
    shortest = {}
    for o, d in zip(od.origin, od.destination):
        shortest[o, d] = min(
            sum(cost[g[a][b]["i"]] for a, b in itertools.pairwise(p)) for p in nx.all_simple_paths(g, o, d)
        )
    total = float(cost @ res.flow)
    assert total == pytest.approx(sum(t * shortest[o, d] for o, d, t in od.itertuples(index=False)), rel=10 * gap)
    # independent check 2: a path whose links all carry flow of this origin's trees is no longer
    # than the shortest (single origin 0 -> 15 loaded alone)
    alone = equilibrium_assignment(fr, to, t0, cap, ([0], [15], [600.0]), rel_gap=gap, max_iter=5000)
    c = bpr_time(t0, alone.flow, cap)
    best = None
    used = []
    for p in nx.all_simple_paths(g, 0, 15):
        idx = [g[a][b]["i"] for a, b in itertools.pairwise(p)]
        pc = c[idx].sum()
        best = pc if best is None else min(best, pc)
        if alone.flow[idx].min() > 1.0:
            used.append(pc)
    assert len(used) >= 2  # congestion spreads the trips
    assert max(used) <= best * (1 + 1e-3)


def test_not_converged_warns_and_flags():
    fr, to, t0, cap = _grid(4, seed=1)
    with pytest.warns(AssignmentConvergenceWarning):
        res = equilibrium_assignment(fr, to, t0, cap, ([0], [15], [2000.0]), max_iter=3)
    assert not res.converged
    summary = res.summary()
    assert list(summary.columns) == ["iteration", "rel_gap", "objective", "step", "direction", "time_s"]
    assert len(summary) == 3 and summary["rel_gap"].iloc[-1] > 1e-4
    assert summary["objective"].iloc[-1] < summary["objective"].iloc[0]


@pytest.mark.slow
def test_custom_loader_and_algorithms_agree():
    fr, to, t0, cap = _grid(4, seed=2)
    od = ([0, 5], [15, 10], [900.0, 300.0])
    ref = equilibrium_assignment(fr, to, t0, cap, od, rel_gap=1e-6, max_iter=5000)
    loader = ShortestPathLoader(fr, to, *od)
    calls = []

    def counting(cost):
        calls.append(1)
        return loader(cost)

    custom = equilibrium_assignment(fr, to, t0, cap, None, loader=counting, rel_gap=1e-6, max_iter=5000)
    np.testing.assert_allclose(custom.flow, ref.flow)
    assert len(calls) >= len(custom.iterations)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AssignmentConvergenceWarning)
        for alg in ("fw", "cfw", "msa"):
            other = equilibrium_assignment(fr, to, t0, cap, od, rel_gap=1e-4, max_iter=3000, algorithm=alg)
            assert np.abs(other.flow - ref.flow).max() < 0.02 * ref.flow.max(), alg


def test_unreachable_trips_are_counted():
    res = equilibrium_assignment([0], [1], [1.0], [100.0], ([0, 1], [1, 0], [10.0, 4.0]))
    assert res.unrouted_trips == pytest.approx(4.0)
    assert res.flow[0] == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"rel_gap": 0}, "rel_gap"), ({"algorithm": "dial"}, "algorithm"), ({"max_iter": 0}, "max_iter")],
)
def test_bad_options(kwargs, match):
    with pytest.raises(InvalidOptionError, match=match):
        equilibrium_assignment([0], [1], [1.0], [100.0], ([0], [1], [1.0]), **kwargs)


def test_bad_capacity():
    with pytest.raises(InvalidOptionError, match="capacity"):
        equilibrium_assignment([0], [1], [1.0], [0.0], ([0], [1], [1.0]))
