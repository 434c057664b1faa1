"""Equilibrium flows agree with AequilibraE (bi-conjugate Frank-Wolfe) on a synthetic congested grid.

Both stop at the same relative gap. At 1e-4 the two approximate solutions agree within 1 % of the
largest link flow on every link and within 1 % in flow-weighted mean (single links may differ by up to
about 2 %: a 1e-4 gap does not pin every link flow to 1 %); at 1e-5 every loaded link agrees within 1 %.
"""

import numpy as np
import pandas as pd
import pytest

from urbankit.assignment import equilibrium_assignment

aeq_paths = pytest.importorskip("aequilibrae.paths")
aeq_matrix = pytest.importorskip("aequilibrae.matrix")


def _grid(n, seed=1):
    rng = np.random.default_rng(seed)
    ids = np.arange(n * n).reshape(n, n)
    fr, to = [], []
    for i in range(n):
        for j in range(n):
            if j + 1 < n:
                fr += [ids[i, j], ids[i, j + 1]]
                to += [ids[i, j + 1], ids[i, j]]
            if i + 1 < n:
                fr += [ids[i, j], ids[i + 1, j]]
                to += [ids[i + 1, j], ids[i, j]]
    fr, to = np.array(fr), np.array(to)
    t0 = rng.uniform(1.0, 3.0, len(fr))
    cap = rng.uniform(200.0, 600.0, len(fr))
    return fr, to, t0, cap


def _aequilibrae_flows(fr, to, t0, cap, zones, demand, gap):
    links = pd.DataFrame(
        {
            "link_id": np.arange(1, len(fr) + 1),
            "a_node": fr + 1,
            "b_node": to + 1,
            "direction": 1,
            "free_flow_time": t0,
            "capacity": cap,
            "alpha": 0.15,
            "beta": 4.0,
        }
    )
    g = aeq_paths.Graph()
    g.network = links
    g.prepare_graph(np.asarray(zones) + 1)
    g.set_graph("free_flow_time")
    g.set_skimming(["free_flow_time"])
    g.set_blocked_centroid_flows(False)
    mat = aeq_matrix.AequilibraeMatrix()
    mat.create_empty(zones=len(zones), matrix_names=["demand"], memory_only=True)
    mat.index[:] = np.asarray(zones) + 1
    mat.matrices[:, :, 0] = demand
    mat.computational_view(["demand"])
    tc = aeq_paths.TrafficClass("car", g, mat)
    ta = aeq_paths.TrafficAssignment()
    ta.set_classes([tc])
    ta.set_vdf("BPR")
    ta.set_vdf_parameters({"alpha": "alpha", "beta": "beta"})
    ta.set_capacity_field("capacity")
    ta.set_time_field("free_flow_time")
    ta.set_algorithm("bfw")
    ta.max_iter = 2000
    ta.rgap_target = gap
    ta.execute()
    res = tc.results.get_load_results()
    flows = pd.Series(res["demand_ab"].to_numpy(), index=res.index)
    return flows.reindex(links["link_id"]).fillna(0.0).to_numpy(), ta


@pytest.mark.slow
@pytest.mark.parametrize("gap", [1e-4, 1e-5])
def test_flows_match_aequilibrae_on_congested_grid(gap):
    n = 7
    fr, to, t0, cap = _grid(n)
    rng = np.random.default_rng(5)
    zones = np.array(sorted(rng.choice(n * n, 12, replace=False)))
    demand = rng.uniform(20.0, 120.0, (len(zones), len(zones)))
    np.fill_diagonal(demand, 0.0)
    ref, ta = _aequilibrae_flows(fr, to, t0, cap, zones, demand, gap)
    oi, di = np.nonzero(demand > 0)
    od = pd.DataFrame({"origin": zones[oi], "destination": zones[di], "trips": demand[oi, di]})
    ours = equilibrium_assignment(fr, to, t0, cap, od, rel_gap=gap, max_iter=2000)
    assert ours.converged
    # the network is congested: equilibrium differs from all-or-nothing
    aon = equilibrium_assignment(fr, to, t0, cap, od, algorithm="all-or-nothing")
    assert np.abs(aon.flow - ours.flow).max() > 50
    total = ref.sum()
    assert ours.flow.sum() == pytest.approx(total, rel=1e-3)
    loaded = ref > 0.05 * ref.max()
    rel = np.abs(ours.flow[loaded] - ref[loaded]) / ref[loaded]
    assert np.abs(ours.flow - ref).max() < 0.01 * ref.max()
    assert np.abs(ours.flow - ref).sum() / ref.sum() < 0.01
    if gap <= 1e-5:
        assert rel.max() < 0.01, (rel.max(), float(ta.report()["rgap"].iloc[-1]))
