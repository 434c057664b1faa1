"""BPR capacities from OSM class and lanes; equilibrium on the Monaco drive network."""

import types

import numpy as np
import pandas as pd
import pytest

import urbankit
from urbankit._errors import InvalidOptionError
from urbankit.assignment import bpr_time, equilibrium_assignment, link_performance


def test_bpr_time_formula():
    assert bpr_time(2.0, 500.0, 1000.0) == pytest.approx(2.0 * (1 + 0.15 * 0.5**4))
    assert bpr_time(2.0, 0.0, 1000.0) == pytest.approx(2.0)


def _fake_network():
    edges = pd.DataFrame(
        {
            "u": [1, 2, 3, 4],
            "v": [2, 1, 4, 5],
            "way_id": [10, 10, 20, 30],
            "highway": ["primary", "primary", "residential", "motorway"],
            "time_min": [1.0, 1.0, 2.0, 0.5],
        }
    )
    return types.SimpleNamespace(directed=True, mode="drive", edges=edges)


def test_capacity_from_lanes_tag_and_class():
    ways = pd.DataFrame({"way_id": [10, 20, 30], "lanes": ["4", None, "3"], "oneway": [None, None, "yes"]})
    perf = link_performance(_fake_network(), ways=ways)
    # primary two-way with 4 lanes: 2 per direction x 900; residential default 1 x 500; motorway oneway 3 x 2000
    assert perf["capacity_vph"].tolist() == [1800.0, 1800.0, 500.0, 6000.0]
    assert perf["lanes_source"].tolist() == ["osm", "osm", "default", "osm"]
    assert perf["free_time_min"].tolist() == [1.0, 1.0, 2.0, 0.5]
    no_ways = link_performance(_fake_network())
    assert no_ways["capacity_vph"].tolist() == [1800.0, 1800.0, 500.0, 4000.0]
    custom = link_performance(_fake_network(), capacity_per_lane_vph={"residential": 700})
    assert custom["capacity_vph"].iloc[2] == 700.0


def test_link_performance_rejects_walk_network_and_bad_capacity():
    net = _fake_network()
    net.directed = False
    with pytest.raises(InvalidOptionError, match="drive"):
        link_performance(net)
    with pytest.raises(InvalidOptionError, match="capacity_per_lane_vph"):
        link_performance(_fake_network(), capacity_per_lane_vph={"primary": 0})


def test_monaco_drive_equilibrium_converges():
    area = urbankit.load("monaco")
    network = urbankit.build_network(area, "drive")
    perf = link_performance(network, ways=area.ways)
    assert (perf["capacity_vph"] > 0).all() and (perf["free_time_min"] > 0).all()
    codes, uniques = pd.factorize(pd.concat([network.edges["u"], network.edges["v"]]))
    m = len(network.edges)
    fr, to = codes[:m], codes[m:]
    # gravity-like demand between 30 zone nodes: trips ~ exp(-distance / 1 km), 3,000 veh/h in all
    rng = np.random.default_rng(0)
    zones = rng.choice(len(uniques), 30, replace=False)
    xy = network.nodes.loc[uniques[zones], ["x", "y"]].to_numpy()
    dist_km = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1)) / 1000.0
    w = np.exp(-dist_km)
    np.fill_diagonal(w, 0.0)
    w *= 3000.0 / w.sum()
    oi, di = np.nonzero(w)
    od = pd.DataFrame({"origin": zones[oi], "destination": zones[di], "trips": w[oi, di]})
    res = equilibrium_assignment(
        fr, to, perf["free_time_min"], perf["capacity_vph"], od, n_nodes=len(uniques), max_iter=1000
    )
    assert res.converged and res.rel_gap <= 1e-4
    assert res.unrouted_trips == 0
    summary = res.summary()
    assert summary["rel_gap"].iloc[-1] == pytest.approx(res.rel_gap)
    assert (summary["rel_gap"].iloc[1:-1] > 1e-4).all()
    # congestion raised some times above free flow
    assert (res.congested_time > perf["free_time_min"].to_numpy() * 1.01).any()
