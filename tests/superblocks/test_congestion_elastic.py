"""Elastic evaporation consistent with the equilibrium assignment, and the equilibrium's congested
speeds in the effects.

Under ``assignment="equilibrium"`` with ``evaporation="elastic"`` the trips after are the fixed point
``q_i = trips_i * keep(T_after_i / T_before_i)`` at the OD times of the equilibrium link times. The
fixed point is checked against OD times computed here: networkx Dijkstra on the congested link times
(the before ones recomputed from BPR with the returned flows), on a layered graph of the routing rule
written out here (a trip may drive on the internal streets of its origin's and its destination's
superblock only, leaving the first and entering the second at a perimeter node), and the elastic
rule written out here.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

import urbankit as uk
from urbankit.assignment import bpr_time, link_performance
from urbankit.mock import grid_extract
from urbankit.superblocks import assign, find_superblocks, label_edges, run_scenario
from urbankit.superblocks import congestion as cg
from urbankit.superblocks.external import open_demand

EPS = -0.5


@pytest.fixture(scope="module")
def grid6():
    return uk.build_network(grid_extract(6, 6), "drive", cache=False)


@pytest.fixture(scope="module")
def demand(grid6):
    od = open_demand(grid6, h3_resolution=None, n_trips=30_000)
    od = od[["origin", "destination", "trips"]].reset_index(drop=True)
    od["trips"] *= 0.5  # perimeter streets congested after, not jammed
    return od


@pytest.fixture(scope="module", params=[0.0, 0.05], ids=["no_mode_shift", "mode_shift"])
def elastic(grid6, demand, request):
    sb = find_superblocks(grid6)
    mp = pytest.MonkeyPatch()
    mp.setattr(cg, "DEMAND_GAP", 1e-7)  # a tight fixed point, so each row is checked tightly
    mp.setattr(cg, "DEMAND_MAX_ITER", 60)
    try:
        sc = run_scenario(
            grid6,
            superblocks=sb,
            od=demand,
            evaporation="elastic",
            mode_shift=request.param,
            time_elasticity=EPS,
            assignment="equilibrium",
            rel_gap=1e-8,
            max_iter=3000,
        )
    finally:
        mp.undo()
    return sb, sc, request.param


def _before_link_minutes(net, flow_day):
    """BPR minutes of every edge row at the peak-hour share of the daily flows (free-flow minutes in
    whole 0.001-min steps, as the network's travel times)."""
    lp = link_performance(net)
    free = np.maximum(np.rint(net.edges["time_min"].to_numpy() / 0.001), 1) * 0.001
    return bpr_time(
        free,
        flow_day * cg.PEAK_HOUR_SHARE,
        lp["capacity_vph"].to_numpy(),
        alpha=lp["alpha"].to_numpy(),
        beta=lp["beta"].to_numpy(),
    )


def _od_minutes(net, od, link_min, labels=None, o_sb=None, d_sb=None):
    """Shortest minutes of every OD row: on the whole network (``labels`` None), or with the routing
    rule: internal streets of the origin's superblock (layer 1), outside streets (2), internal
    streets of the destination's superblock (3), changing layer 1 -> 2 -> 3 at shared nodes."""
    u, v = net.edges["u"].to_numpy(), net.edges["v"].to_numpy()
    out = np.full(len(od), np.inf)
    if labels is None:
        g = nx.DiGraph()
        for k in range(len(u)):
            if not g.has_edge(u[k], v[k]) or g[u[k]][v[k]]["w"] > link_min[k]:
                g.add_edge(u[k], v[k], w=link_min[k])
        for o, rows in od.groupby("origin").indices.items():
            dist = nx.single_source_dijkstra_path_length(g, o, weight="w")
            out[rows] = [dist.get(x, np.inf) for x in od["destination"].to_numpy()[rows]]
        return out
    keys = pd.DataFrame({"o": od["origin"], "a": o_sb, "b": d_sb})
    for (o, a, b), rows in keys.groupby(["o", "a", "b"]).indices.items():
        g = nx.DiGraph()
        layer_of = {1: labels == a, 2: labels < 0, 3: labels == b}
        for layer, use in layer_of.items():
            if (layer == 1 and a < 0) or (layer == 3 and b < 0):
                continue
            for k in np.flatnonzero(use):
                e = ((layer, u[k]), (layer, v[k]))
                if not g.has_edge(*e) or g.edges[e]["w"] > link_min[k]:
                    g.add_edge(*e, w=link_min[k])
        for x in list(g.nodes):
            for lo, hi in ((1, 2), (2, 3)):
                if x[0] == lo and (hi, x[1]) in g:
                    g.add_edge(x, (hi, x[1]), w=0.0)
        start = (1, o) if a >= 0 else (2, o)
        if start not in g:
            continue
        dist = nx.single_source_dijkstra_path_length(g, start, weight="w")
        for r in rows:
            dd = od["destination"].iat[r]
            ends = [(3, dd)] if b >= 0 else [(2, dd)]
            if a >= 0 and a == b:
                ends.append((1, dd))
            out[r] = min(dist.get(x, np.inf) for x in ends)
    return out


def _elastic_rule(trips, t_before, t_after, mode_shift):
    ok = np.isfinite(t_before) & np.isfinite(t_after)
    rose = ok & (np.where(ok, t_after, 0) > np.where(ok, t_before, 0))
    ratio = np.where(rose, t_after / np.where(ok & (t_before > 0), t_before, 1.0), 1.0)
    evaporated = np.where(rose, 1.0 - ratio**EPS, 0.0)
    shifted = np.where(rose, np.minimum(mode_shift, 1.0 - evaporated), 0.0)
    return np.where(np.isfinite(t_after), trips * (1.0 - evaporated - shifted), 0.0)


@pytest.mark.slow
def test_trips_after_are_the_fixed_point_at_the_equilibrium_times(grid6, demand, elastic):
    sb, sc, mode_shift = elastic
    a = sc.assignment
    s = sc.summary().iloc[0]
    assert a.equilibrium["before"].converged and a.equilibrium["after"].converged
    # the OD times here: before from BPR with the returned flows; after on the reported congested times
    t_link_b = _before_link_minutes(grid6, a.flows["flow_before"].to_numpy())
    np.testing.assert_allclose(a.equilibrium["before"].congested_time, t_link_b, rtol=1e-12)
    labels = label_edges(grid6, sb).fillna(-1).to_numpy(np.int64)
    o_sb = a.od["origin_superblock"].fillna(-1).to_numpy(np.int64)
    d_sb = a.od["destination_superblock"].fillna(-1).to_numpy(np.int64)
    tb = _od_minutes(grid6, demand, t_link_b)
    ta = _od_minutes(grid6, demand, a.equilibrium["after"].congested_time, labels, o_sb, d_sb)
    np.testing.assert_allclose(a.od["time_before_congested_min"], tb, rtol=1e-9)
    np.testing.assert_allclose(a.od["time_after_congested_min"], ta, rtol=1e-9)
    # congestion: trips' times change beyond their free-flow detours, so the fixed point differs from the
    # all-or-nothing trips after (at free-flow times)
    trips = demand["trips"].to_numpy()
    expected = _elastic_rule(trips, tb, ta, mode_shift)
    free = assign(grid6, demand, superblocks=sb, evaporation="elastic", mode_shift=mode_shift, time_elasticity=EPS)
    assert (np.abs(expected - free.od["trips_after"].to_numpy()) > 0.01 * trips).any()
    got = a.od["trips_after"].to_numpy()
    assert got.sum() == pytest.approx(expected.sum(), rel=1e-6)
    if mode_shift == 0:
        np.testing.assert_allclose(got, expected, rtol=1e-4)
    else:  # the mode shift jumps in where the time rises: rows at the jump can only be averaged
        away = np.abs(ta - tb) > 1e-3 * tb
        assert away.mean() > 0.9
        np.testing.assert_allclose(got[away], expected[away], rtol=1e-3)
    # every routable trip is still driving, evaporated or shifted, split as the rule splits it
    ev, ms = a.od["trips_evaporated"].to_numpy(), a.od["trips_mode_shift"].to_numpy()
    np.testing.assert_allclose(got + ev + ms, trips, rtol=1e-12)
    if mode_shift == 0:
        assert (ms == 0).all()
    else:
        rose = ta > tb * (1 + 1e-9)
        split = np.minimum(mode_shift, (ta / tb) ** EPS) / (1 - (ta / tb) ** EPS)
        np.testing.assert_allclose(ms[rose], ev[rose] * split[rose], rtol=1e-9)
    assert 1 < s["demand_iterations"] <= 60 and s["demand_gap"] < 1e-7
    assert a.params["demand_iterations"] == s["demand_iterations"]
    assert a.params["demand_gap"] == s["demand_gap"]
    # the after flows are the equilibrium of those trips: Wardrop's gap at their OD times
    x = a.flows["flow_after"].to_numpy() * cg.PEAK_HOUR_SHARE
    t = a.equilibrium["after"].congested_time
    shortest = float(np.nansum(a.od["trips_after"].to_numpy() * cg.PEAK_HOUR_SHARE * np.where(np.isfinite(ta), ta, 0)))
    assert 0 <= (t @ x - shortest) / (t @ x) <= 2e-7


@pytest.mark.slow
def test_speeds_of_the_effects_are_the_congested_speeds(grid6, elastic):
    _, sc, _ = elastic
    a, e = sc.assignment, sc.edges
    km = grid6.edges["length_m"].to_numpy() / 1000.0
    vb = km / (_before_link_minutes(grid6, a.flows["flow_before"].to_numpy()) / 60.0)
    va = km / (np.asarray(a.equilibrium["after"].congested_time) / 60.0)
    assert sc.summary()["speed_source"].iloc[0] == "congested (equilibrium assignment)"
    assert (vb < grid6.edges["speed_kmh"].to_numpy() - 1).any()  # congested somewhere
    # emissions take speeds below 10 km/h at 10 km/h (COPERT), as for free-flow speeds
    np.testing.assert_allclose(e["emission_speed_before_kmh"], np.maximum(vb, 10.0), rtol=1e-9)
    np.testing.assert_allclose(e["emission_speed_after_kmh"], np.maximum(va, 10.0), rtol=1e-9)


def test_aon_and_flat_evaporation_are_unchanged(grid6, demand):
    sb = find_superblocks(grid6)
    plain = assign(grid6, demand, superblocks=sb, evaporation="elastic")
    aon = run_scenario(grid6, superblocks=sb, od=demand, evaporation="elastic")
    np.testing.assert_array_equal(aon.od["trips_after"], plain.od["trips_after"])
    np.testing.assert_array_equal(aon.assignment.flows["flow_after"], plain.flows["flow_after"])
    s = aon.summary().iloc[0]
    assert s["speed_source"] == "free-flow" and "demand_iterations" not in s.index
    assert "time_after_congested_min" not in aon.od.columns
    # flat evaporation under equilibrium: the trips after of the all-or-nothing rule, one equilibrium
    flat = run_scenario(
        grid6, superblocks=sb, od=demand, evaporation=0.11, assignment="equilibrium", rel_gap=1e-3, max_iter=200
    )
    ref = assign(grid6, demand, superblocks=sb, evaporation=0.11)
    np.testing.assert_array_equal(flat.od["trips_after"], ref.od["trips_after"])
    sf = flat.summary().iloc[0]
    assert sf["demand_iterations"] == 1 and sf["demand_gap"] == 0.0
    assert sf["evaporation"] == 0.11


def test_not_converged_warns(grid6, demand, monkeypatch):
    from urbankit.assignment import AssignmentConvergenceWarning

    sb = find_superblocks(grid6)
    monkeypatch.setattr(cg, "DEMAND_MAX_ITER", 1)
    monkeypatch.setattr(cg, "DEMAND_GAP", 1e-7)  # the first demand change here is about 4e-4
    with pytest.warns(AssignmentConvergenceWarning, match="elastic demand"):
        sc = run_scenario(
            grid6, superblocks=sb, od=demand, evaporation="elastic", assignment="equilibrium", rel_gap=1e-3
        )
    s = sc.summary().iloc[0]
    assert s["demand_iterations"] == 1 and s["demand_gap"] >= cg.DEMAND_GAP
