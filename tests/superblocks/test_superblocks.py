"""Superblocks checked against hand formulas and independent computations.

Every expectation here is computed in this file, never copied from urbankit output:

* the mock grids (``urbankit.mock.grid_extract``) have nodes on an exact 113 m lattice, arterials
  (secondary, 50 km/h) on every third street line and residential streets (30 km/h) between, so the
  3 x 3-block cells, their internal streets, inside nodes and perimeter nodes follow from the lattice
  indices alone (helpers ``lattice`` and ``hand_labels``);
* restricted shortest times come from networkx Dijkstras on separate subgraphs, combined with the
  routing rule written out by hand: ``min over perimeter nodes p of A and q of B of
  d_A(o, p) + d_S(p, q) + d_B(q, d)``, or ``d_A(o, d)`` when both ends are inside the same A;
* flows before are rebuilt from networkx shortest paths (weights made unique by random times);
* vehicle-km, detours and evaporation of a 3 x 3-block city are worked out by hand in comments.

Times are integers of 0.001 min throughout, so every comparison of times is exact.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import urbankit as uk
from urbankit import CRSError, InvalidOptionError, NoStreetsError
from urbankit.mock import grid_extract
from urbankit.superblocks import (
    NOISE_CAVEAT,
    assign,
    effects,
    find_superblocks,
    gravity_demand,
    label_edges,
    noise_speed_term_db,
    run_scenario,
    trip_paths,
)

BLOCK = 113.0
STEP = 0.001  # minutes per time step
EVERY = 3
#: 113 m at 10 km/h = 0.678 min; at 30 km/h 0.226 min; at 50 km/h 0.1356 -> 0.136 min
SLOW_STEPS = 678
RES_STEPS = 226
ART_STEPS = 136


# ------------------------------------------------------------------------------------------------
# hand geometry of the mock grids


def lattice(net) -> dict:
    """node_id -> (i, j) lattice indices (origin at the south-west node)."""
    x, y = net.nodes["x"].to_numpy(), net.nodes["y"].to_numpy()
    i = np.rint((x - x.min()) / BLOCK).astype(int)
    j = np.rint((y - y.min()) / BLOCK).astype(int)
    return dict(zip(net.nodes.index, zip(i.tolist(), j.tolist())))


def hand_labels(net, every: int = EVERY) -> list:
    """Per edge row: the cell (ci, cj) it is internal to, or None for streets on arterial lines."""
    ij = lattice(net)
    out = []
    for u, v in zip(net.edges["u"], net.edges["v"]):
        (iu, ju), (iv, jv) = ij[u], ij[v]
        if ju == jv:  # along row ju, between columns min(iu, iv) and +1
            line, pos = ju, min(iu, iv)
            cell = (pos // every, line // every)
        else:  # along column iu
            line, pos = iu, min(ju, jv)
            cell = (line // every, pos // every)
        out.append(None if line % every == 0 else cell)
    return out


def hand_inside(net, every: int = EVERY) -> dict:
    """node_id -> cell of the nodes off every arterial line (inside a superblock)."""
    return {n: (i // every, j // every) for n, (i, j) in lattice(net).items() if i % every and j % every}


def cell_ids(net, sb) -> dict:
    """(ci, cj) -> superblock_id, by the polygon holding the cell's centre."""
    x0, y0 = net.nodes["x"].min(), net.nodes["y"].min()
    side = EVERY * BLOCK
    out = {}
    for sid, poly in zip(sb["superblock_id"], sb.geometry):
        c = poly.centroid
        out[(int((c.x - x0) // side), int((c.y - y0) // side))] = int(sid)
    return out


def steps_of(net) -> np.ndarray:
    return np.rint(net.edges["time_min"].to_numpy() / STEP).astype(np.int64)


def with_random_times(net, low: int, high: int, seed: int):
    """A copy of the network whose edge times are random whole steps in [low, high]."""
    rng = np.random.default_rng(seed)
    edges = net.edges.copy()
    edges["time_min"] = rng.integers(low, high + 1, size=len(edges)) * STEP
    return dataclasses.replace(net, edges=edges)


@pytest.fixture(scope="module")
def grid12():
    return uk.build_network(grid_extract(12, 12), "drive", cache=False)


@pytest.fixture(scope="module")
def grid3():
    """One superblock: 3 x 3 blocks, arterial outer ring, residential cross streets."""
    return uk.build_network(grid_extract(3, 3), "drive", cache=False)


def nid(i: int, j: int, ncol: int) -> int:
    """Node id of lattice point (i, j) in a grid_extract without seed."""
    return 1 + j * ncol + i


# ------------------------------------------------------------------------------------------------
# candidates


@pytest.mark.parametrize("method", ["arterial", "grid", "auto", "residential"])
def test_candidates_are_the_3x3_cells(grid12, method):
    sb = find_superblocks(grid12, method=method)
    assert len(sb) == 16
    assert sb["superblock_id"].tolist() == list(range(16))
    side = EVERY * BLOCK
    x0, y0 = grid12.nodes["x"].min(), grid12.nodes["y"].min()
    boxes = {
        (ci, cj): shapely.box(x0 + ci * side, y0 + cj * side, x0 + (ci + 1) * side, y0 + (cj + 1) * side)
        for ci in range(4)
        for cj in range(4)
    }
    ids = cell_ids(grid12, sb)
    assert sorted(ids) == sorted(boxes)
    for cell, sid in ids.items():
        poly = sb.geometry.iloc[sid]
        assert poly.symmetric_difference(boxes[cell]).area < 1e-6 * boxes[cell].area
    assert np.allclose(sb["area_ha"], side**2 / 1e4, rtol=0.01)
    # inner streets: 2 rows and 2 columns of 3 segments each, each two-way street once
    assert (sb["n_internal_edges"] == 12).all()
    assert np.allclose(sb["internal_length_m"], 12 * BLOCK)
    assert np.allclose(sb["internal_street_area_m2"], 12 * BLOCK * 6.0)  # residential: 6 m carriageway
    assert (sb["n_nodes_inside"] == 4).all()
    assert np.allclose(sb["perimeter_length_m"], 4 * side)
    # every edge labelled as by hand
    lab = label_edges(grid12, sb)
    expected = [pd.NA if c is None else ids[c] for c in hand_labels(grid12)]
    assert lab.fillna(-1).tolist() == [-1 if x is pd.NA else x for x in expected]


@pytest.mark.parametrize("kw", [{"arterial_every": None}, {"arterial_every": 6}])
def test_auto_chooses_grid_lines_every_third_street(kw):
    net = uk.build_network(grid_extract(12, 12, **kw), "drive", cache=False)
    sb = find_superblocks(net)  # no arterials, or arterial cells of 6 x 6 blocks (46 ha > 40 ha)
    assert sb["method"].unique().tolist() == ["grid"]
    assert len(sb) == 16 and np.allclose(sb["area_ha"], (EVERY * BLOCK) ** 2 / 1e4)
    lab = label_edges(net, sb).fillna(-1).to_numpy()
    hand = hand_labels(net)
    assert ((lab >= 0) == np.array([c is not None for c in hand])).all()


def test_residents_shared_on_boundaries(grid12):
    pop = pd.Series(1.0, index=grid12.nodes.index)
    sb = find_superblocks(grid12, population=pop)
    # a node counts 1/m in each of the m cells whose closed square holds it
    ij = lattice(grid12)
    expected = {}
    for i, j in ij.values():
        cells = [
            (ci, cj)
            for ci in range(4)
            for cj in range(4)
            if EVERY * ci <= i <= EVERY * (ci + 1) and EVERY * cj <= j <= EVERY * (cj + 1)
        ]
        for c in cells:
            expected[c] = expected.get(c, 0.0) + 1.0 / len(cells)
    ids = cell_ids(grid12, sb)
    for cell, sid in ids.items():
        assert sb["residents"].iloc[sid] == pytest.approx(expected[cell])
    assert sb["residents"].sum() == pytest.approx(len(grid12.nodes))
    # min_residents drops everything above the largest count
    with pytest.raises(NoStreetsError):
        find_superblocks(grid12, population=pop, min_residents=100)


def test_user_polygons_match_detection(grid12):
    sb = find_superblocks(grid12)
    user = gpd.GeoDataFrame(geometry=sb.geometry.to_numpy(), crs=grid12.crs).to_crs("EPSG:4326")
    mine = find_superblocks(grid12, polygons=user)
    assert mine["method"].unique().tolist() == ["polygons"]
    assert (label_edges(grid12, mine).fillna(-1) == label_edges(grid12, sb).fillna(-1)).all()
    # the geometric rule (no remembered labels) gives the same
    bare = sb.copy()
    bare.attrs = {}
    assert (label_edges(grid12, bare).fillna(-1) == label_edges(grid12, sb).fillna(-1)).all()


# ------------------------------------------------------------------------------------------------
# hand-computed city of one superblock


def test_hand_case_times_distances_vkm_detours(grid3):
    n = 4  # columns of nodes
    sb = find_superblocks(grid3)
    assert len(sb) == 1 and int(sb["n_internal_edges"].iloc[0]) == 12
    od = pd.DataFrame(
        {
            "origin": [nid(0, 1, n), nid(1, 1, n), nid(0, 0, n)],
            "destination": [nid(3, 1, n), nid(3, 3, n), nid(3, 3, n)],
            "trips": [100.0, 10.0, 1.0],
        }
    )
    a = assign(grid3, od, superblocks=sb, n_jobs=1)
    r = a.od
    # trip 0, (0,1) -> (3,1), both ends on the arterial ring: before straight along residential row 1,
    # 3 x 0.226 = 0.678 min, 339 m; the ring round is 5 x 0.136 = 0.680 min. After: the ring, 565 m.
    # trip 1, (1,1) inside -> (3,3): before 2 residential + 2 arterial = 0.724 min, 452 m; after it
    # must leave by one internal street at 10 km/h (0.678) and drive 5 ring blocks: 1.358 min, 678 m.
    # trip 2, corner to corner on the ring: 6 x 0.136 = 0.816 min, 678 m, unchanged.
    assert r["time_before_min"].tolist() == pytest.approx([0.678, 0.724, 0.816])
    assert r["time_after_min"].tolist() == pytest.approx([0.680, 1.358, 0.816])
    assert r["distance_before_m"].tolist() == pytest.approx([339.0, 452.0, 678.0])
    assert r["distance_after_m"].tolist() == pytest.approx([565.0, 678.0, 678.0])
    assert r["detour_time"].tolist() == pytest.approx([0.680 / 0.678, 1.358 / 0.724, 1.0])
    assert r["detour_distance"].tolist() == pytest.approx([5 / 3, 1.5, 1.0])
    assert r["affected"].tolist() == [True, True, False]
    assert r["origin_superblock"].fillna(-1).tolist() == [-1, 0, -1]
    s = a.summary().iloc[0]
    assert s["vkm_before"] == pytest.approx((100 * 339 + 10 * 452 + 1 * 678) / 1000)
    assert s["vkm_after"] == pytest.approx((100 * 565 + 10 * 678 + 1 * 678) / 1000)
    assert s["trips_affected"] == pytest.approx(110.0)
    # trip-weighted median of the affected time ratios: trip 0 holds 100 of 110 trips
    assert s["median_detour"] == pytest.approx(0.680 / 0.678)
    # internal streets lose the through trips; the ring gains them
    lab = label_edges(grid3, sb).fillna(-1).to_numpy()
    f = a.flows
    assert f["flow_after"].to_numpy()[lab >= 0].sum() < f["flow_before"].to_numpy()[lab >= 0].sum()
    assert f["flow_after"].to_numpy()[lab < 0].sum() > f["flow_before"].to_numpy()[lab < 0].sum()

    # evaporation 0.2: 20% of the affected trips (0 and 1) vanish, the unaffected trip stays
    e = assign(grid3, od, superblocks=sb, evaporation=0.2, n_jobs=1)
    assert e.od["trips_after"].tolist() == pytest.approx([80.0, 8.0, 1.0])
    assert e.od["trips_evaporated"].tolist() == pytest.approx([20.0, 2.0, 0.0])
    se = e.summary().iloc[0]
    assert se["trips_evaporated"] == pytest.approx(0.2 * s["trips_affected"])
    assert se["vkm_after"] == pytest.approx((80 * 565 + 8 * 678 + 1 * 678) / 1000)
    assert se["vkm_before"] == pytest.approx(s["vkm_before"])
    m = assign(grid3, od, superblocks=sb, evaporation=0.1, mode_shift=0.3, n_jobs=1)
    assert m.od["trips_after"].tolist() == pytest.approx([60.0, 6.0, 1.0])
    assert m.od["trips_mode_shift"].sum() == pytest.approx(0.3 * 110)


def test_effects_on_hand_case(grid3):
    n = 4
    sb = find_superblocks(grid3, population=pd.Series(2.0, index=grid3.nodes.index))
    od = pd.DataFrame(
        {
            "origin": [nid(0, 1, n)] * 2 + [nid(1, 1, n)],
            "destination": [nid(3, 1, n)] * 2 + [nid(1, 2, n)],
            "trips": [300.0, 200.0, 40.0],
        }
    )
    a = assign(grid3, od, superblocks=sb, n_jobs=1)
    edges, summary = effects(a, model="simple")
    s = summary.iloc[0]
    # flows per street (both directions) and the noise term with its 100 veh/day floor
    key = ["{}-{}".format(*sorted(p)) for p in zip(edges["u"], edges["v"])]
    qb = pd.Series(edges["flow_before"].to_numpy()).groupby(key).transform("sum").to_numpy()
    qa = pd.Series(edges["flow_after"].to_numpy()).groupby(key).transform("sum").to_numpy()
    expect = 10 * np.log10(np.maximum(qa, 100.0) / np.maximum(qb, 100.0))
    assert np.allclose(edges["d_noise_flow_db"], expect)
    internal = edges["role"].to_numpy() == "internal"
    assert internal.sum() == 24 and (edges["role"] == "perimeter").sum() == 24
    # row 1 streets lose 500 through trips: from 500 to (at most) the 40 access trips -> floor 100
    assert edges["d_noise_flow_db"].min() == pytest.approx(10 * np.log10(100 / 500))
    # 30 -> 10 km/h counts as 30 -> 20 km/h in CNOSSOS-EU: about -1.1 dB at equal flow
    assert np.allclose(edges["d_noise_speed_db"].to_numpy()[internal], noise_speed_term_db(30.0, 10.0))
    assert (edges["d_noise_speed_db"].to_numpy()[~internal] == 0).all()
    assert s["co2_kg_day_before"] == pytest.approx(0.17 * s["vkm_before"])
    assert s["nox_kg_day_after"] == pytest.approx(0.35e-3 * s["vkm_after"])
    assert s["street_area_freed_m2"] == pytest.approx(12 * BLOCK * 6.0)
    assert s["residents_inside"] == pytest.approx(2.0 * 16)
    assert s["flow_moved_to_perimeter_vkm"] == pytest.approx(500 * (565 - 0) / 1000 - 0)
    assert "-7.4 dB" in NOISE_CAVEAT and "-4.1 dB" in NOISE_CAVEAT and "-82%" in NOISE_CAVEAT
    assert summary["noise_caveat"].iloc[0] == NOISE_CAVEAT


def test_noise_speed_term_from_cnossos_coefficients():
    # CNOSSOS-EU category 1, octave bands 63 Hz .. 8 kHz (Directive (EU) 2015/996, Annex II)
    ar = [79.7, 85.7, 84.5, 90.2, 97.3, 93.9, 84.1, 74.3]
    br = [30.0, 41.5, 38.9, 25.7, 32.5, 37.2, 39.0, 40.0]
    ap = [94.5, 89.2, 88.0, 85.9, 84.2, 86.9, 83.3, 76.1]
    bp = [-1.3, 7.2, 7.7, 8.0, 8.0, 8.0, 8.0, 8.0]
    aw = [-26.2, -16.1, -8.6, -3.2, 0.0, 1.2, 1.0, -1.1]

    def line_level(v):  # per-vehicle A-weighted power + density term 10 log10(1 / v)
        total = 0.0
        for a_r, b_r, a_p, b_p, w in zip(ar, br, ap, bp, aw):
            lr = a_r + b_r * math.log10(v / 70)
            lp = a_p + b_p * (v - 70) / 70
            total += 10 ** ((10 * math.log10(10 ** (lr / 10) + 10 ** (lp / 10)) + w) / 10)
        return 10 * math.log10(total) - 10 * math.log10(v)

    for vb, va in [(50, 30), (30, 20), (70, 50), (50, 10)]:
        expected = line_level(max(va, 20)) - line_level(max(vb, 20))
        assert float(noise_speed_term_db(vb, va)) == pytest.approx(expected, abs=1e-9)
    assert -4.0 < float(noise_speed_term_db(50, 30)) < -2.5  # the usual 2-4 dB of 50 -> 30 km/h


# ------------------------------------------------------------------------------------------------
# restricted routing against an independent computation


def independent_after(net, hand=None, inside=None, after=None):
    """All-pairs restricted shortest times (steps), by the rule, from networkx subgraph Dijkstras.

    ``hand``: per edge row the superblock (any key) it is internal to, or None; ``inside``: node ->
    superblock of the nodes inside one; ``after``: edge steps after. Default: the mock grid by hand.
    """
    hand = hand_labels(net) if hand is None else hand
    inside = hand_inside(net) if inside is None else inside
    if after is None:
        after = np.where([c is not None for c in hand], np.maximum(steps_of(net), SLOW_STEPS), steps_of(net))
    S = nx.DiGraph()
    inner: dict = {}
    for (u, v), c, w in zip(zip(net.edges["u"], net.edges["v"]), hand, after):
        g = S if c is None else inner.setdefault(c, nx.DiGraph())
        if not g.has_edge(u, v) or g[u][v]["w"] > w:
            g.add_edge(u, v, w=int(w))
    ids = list(net.nodes.index)
    pos = {x: k for k, x in enumerate(ids)}
    n = len(ids)
    INF = np.inf
    ds = np.full((n, n), INF)
    np.fill_diagonal(ds, 0)  # the S leg may be empty
    for a, lengths in nx.all_pairs_dijkstra_path_length(S, weight="w"):
        for b, L in lengths.items():
            ds[pos[a], pos[b]] = L
    di = {c: dict(nx.all_pairs_dijkstra_path_length(g, weight="w")) for c, g in inner.items()}
    # perimeter of c: its nodes that also touch a street not internal to c
    touch: dict = {}
    for (u, v), c in zip(zip(net.edges["u"], net.edges["v"]), hand):
        touch.setdefault(u, set()).add(c)
        touch.setdefault(v, set()).add(c)
    perim = {c: [x for x in g.nodes if touch[x] != {c}] for c, g in inner.items()}
    # start[o] / end[d]: vectors over nodes of the cost to reach S at p / to finish from q
    start = np.full((n, n), INF)
    end = np.full((n, n), INF)
    for x in ids:
        c = inside.get(x)
        if c is None:
            start[pos[x], pos[x]] = 0
            end[pos[x], pos[x]] = 0
        else:
            for p in perim[c]:
                start[pos[x], pos[p]] = di[c].get(x, {}).get(p, INF)
                end[pos[p], pos[x]] = di[c].get(p, {}).get(x, INF)
    out = np.full((n, n), INF)
    for k, o in enumerate(ids):
        via = np.min(start[k][:, None] + ds, axis=0)  # best cost to every q of S
        out[k] = np.min(via[:, None] + end, axis=0)
        c = inside.get(o)
        if c is not None:
            for d, L in di[c].get(o, {}).items():
                if inside.get(d) == c:
                    out[k, pos[d]] = min(out[k, pos[d]], L)
    return ids, out


@pytest.mark.parametrize("oneway", [False, True], ids=["two-way", "one-way residential"])
def test_restricted_times_equal_independent_rule(oneway):
    net = uk.build_network(grid_extract(12, 12, oneway_residential=oneway), "drive", cache=False)
    net = with_random_times(net, 80, 400, seed=3)  # internal after: max(time, 0.678)
    sb = find_superblocks(net)
    ids, expected = independent_after(net)
    od = pd.DataFrame(list(itertools.product(ids, ids)), columns=["origin", "destination"])
    od["trips"] = 1.0
    a = assign(net, od, superblocks=sb, n_jobs=1)
    got = np.rint(a.od["time_after_min"].to_numpy() / STEP)
    exp = expected.ravel()
    assert np.isfinite(exp).all()
    assert (got == exp).all(), f"{int((got != exp).sum())} OD pairs differ"
    # before: plain all-pairs shortest times
    g = nx.DiGraph()
    for u, v, w in zip(net.edges["u"], net.edges["v"], steps_of(net)):
        if not g.has_edge(u, v) or g[u][v]["w"] > w:
            g.add_edge(u, v, w=int(w))
    full = dict(nx.all_pairs_dijkstra_path_length(g, weight="w"))
    exp_b = np.array([full[o][d] for o, d in zip(od["origin"], od["destination"])])
    assert (np.rint(a.od["time_before_min"].to_numpy() / STEP) == exp_b).all()


def test_real_eixample(barcelona, read_extract):
    """Nova Esquerra de l'Eixample (OSM 2012): real one-way streets, Cerda's 133 m grid."""
    net = uk.build_network(read_extract(barcelona), "drive", cache=False)
    sb = find_superblocks(net, method="grid")
    params = sb.attrs["urbankit_superblocks"]["params"]
    # Cerda's grid: street axes 133.3 m apart (113.3 m blocks + 20 m streets), so every third street
    assert params["spacing_0_m"] == pytest.approx(133.3, abs=1.5)
    assert params["spacing_1_m"] == pytest.approx(133.3, abs=1.5)
    assert params["every_0"] == params["every_1"] == 3
    assert len(sb) >= 5 and sb["area_ha"].between(4, 40).all()
    # the routing rule, checked independently on these labels. Inside: no incident street outside
    # superblocks; a node touching two superblocks (here where a chosen street line has a gap) is
    # inside the one holding most of its incident edge rows (ties: lowest id)
    lab = label_edges(net, sb).fillna(-1).to_numpy()
    hand = [None if k < 0 else int(k) for k in lab]
    rows_at: dict = {}
    for u, v, k in zip(net.edges["u"], net.edges["v"], lab):
        for x in (u, v):
            rows_at.setdefault(x, []).append(int(k))
    inside = {}
    for x, ks in rows_at.items():
        if -1 not in ks:
            counts = pd.Series(ks).value_counts()
            inside[x] = min(k for k, c in counts.items() if c == counts.max())
    assert len(inside) > 20
    assert any(len(set(ks)) > 1 and -1 not in ks for ks in rows_at.values())  # the two-superblock case occurs
    length = net.edges["length_m"].to_numpy()
    slow = np.maximum(np.rint(length / (10_000 / 60) / STEP), 1)
    after = np.where(lab >= 0, np.maximum(steps_of(net), slow), steps_of(net))
    ids, expected = independent_after(net, hand, inside, after)
    od = pd.DataFrame(list(itertools.product(ids, ids)), columns=["origin", "destination"])
    a = assign(net, od, superblocks=sb, n_jobs=1)
    got = np.rint(a.od["time_after_min"].to_numpy() / STEP)
    exp = expected.ravel()
    assert (np.isfinite(got) == np.isfinite(exp)).all()
    assert (got[np.isfinite(exp)] == exp[np.isfinite(exp)]).all()
    assert a.od["time_after_min"].notna().mean() > 0.99
    # and trip by trip, on the real one-way streets
    assert check_trips(net, sb, random_od(net, 1500, seed=8), lab, inside, after) > 50


def check_trips(net, sb, od, label: np.ndarray, inside: dict, after: np.ndarray) -> int:
    """Check every trip's route (trip_paths) against the rule; returns the number of trips with both
    ends outside superblocks. ``label``: superblock per edge row (-1: none), ``inside``: node ->
    superblock, ``after``: edge steps after."""
    paths = trip_paths(net, od, superblocks=sb)
    length = net.edges["length_m"].to_numpy()
    a = assign(net, od, superblocks=sb, n_jobs=1)
    flows = np.zeros(len(net.edges))
    n_outside = 0
    for k, (o, d, t) in enumerate(zip(od["origin"], od["destination"], od["trips"])):
        p = paths[k]
        if p is None:
            assert np.isnan(a.od["time_after_min"].iloc[k])
            continue
        A, B = inside.get(o, -1), inside.get(d, -1)
        seq = "".join("S" if label[e] < 0 else ("A" if label[e] == A else ("B" if label[e] == B else "X")) for e in p)
        # A-internal*, then S*, then B-internal* (or only A-internal when both ends are in A)
        assert "X" not in seq, (o, d, seq)
        pattern = r"A*S*A*" if A == B and A >= 0 else r"A*S*B*"
        assert re.fullmatch(pattern, seq), (o, d, seq)
        if A < 0 and B < 0:
            n_outside += 1
            assert (label[p] < 0).all()
        # the path joins o to d and its time and length are what assign reports
        if len(p):
            assert net.edges["u"].iloc[p[0]] == o and net.edges["v"].iloc[p[-1]] == d
            assert (net.edges["v"].to_numpy()[p[:-1]] == net.edges["u"].to_numpy()[p[1:]]).all()
        assert after[p].sum() == round(a.od["time_after_min"].iloc[k] / STEP)
        assert length[p].sum() == pytest.approx(a.od["distance_after_m"].iloc[k])
        np.add.at(flows, p, t)
    # assign loads exactly these paths
    assert np.allclose(a.flows["flow_after"].to_numpy(), flows)
    return n_outside


def random_od(net, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nodes = net.nodes.index.to_numpy()
    return pd.DataFrame(
        {
            "origin": rng.choice(nodes, n),
            "destination": rng.choice(nodes, n),
            "trips": rng.integers(1, 50, n).astype(float),
        }
    )


def test_trip_by_trip_no_through_traffic(grid12):
    net = with_random_times(grid12, 80, 400, seed=11)
    sb = find_superblocks(net)
    ids = cell_ids(net, sb)
    label = np.array([-1 if c is None else ids[c] for c in hand_labels(net)])
    inside = {n: ids[c] for n, c in hand_inside(net).items()}
    after = np.where(label >= 0, np.maximum(steps_of(net), SLOW_STEPS), steps_of(net))
    assert check_trips(net, sb, random_od(net, 1500, seed=5), label, inside, after) > 100


def test_flows_before_equal_networkx_all_or_nothing():
    net = uk.build_network(grid_extract(8, 8), "drive", cache=False)
    net = with_random_times(net, 1_000, 100_000, seed=2)  # shortest paths unique (checked below)
    g = nx.DiGraph()
    for r, (u, v, w) in enumerate(zip(net.edges["u"], net.edges["v"], steps_of(net))):
        g.add_edge(u, v, w=int(w), row=r)
    rng = np.random.default_rng(7)
    nodes = net.nodes.index.to_numpy()
    rows = []
    for o, d in zip(rng.choice(nodes, 400), rng.choice(nodes, 400)):
        if o == d:
            continue
        two = list(itertools.islice(nx.all_shortest_paths(g, o, d, weight="w"), 2))
        if len(two) == 1:
            rows.append((o, d, float(rng.integers(1, 100)), two[0]))
    assert len(rows) > 300
    od = pd.DataFrame([r[:3] for r in rows], columns=["origin", "destination", "trips"])
    flows = np.zeros(len(net.edges))
    metres = []
    for _o, _d, t, path in rows:
        es = [g[a][b]["row"] for a, b in itertools.pairwise(path)]
        flows[es] += t
        metres.append(net.edges["length_m"].to_numpy()[es].sum())
    a = assign(net, od, n_jobs=1)
    assert np.allclose(a.flows["flow_before"].to_numpy(), flows)
    assert np.allclose(a.od["distance_before_m"].to_numpy(), metres)
    # no superblocks: nothing changes
    assert np.allclose(a.flows["flow_after"].to_numpy(), flows)
    assert not a.od["affected"].any()


def test_parallel_equals_serial(grid12):
    sb = find_superblocks(grid12)
    rng = np.random.default_rng(1)
    nodes = grid12.nodes.index.to_numpy()
    od = pd.DataFrame({"origin": rng.choice(nodes, 3000), "destination": rng.choice(nodes, 3000), "trips": 1.0})
    one = assign(grid12, od, superblocks=sb, n_jobs=1)
    two = assign(grid12, od, superblocks=sb, n_jobs=2)
    assert np.allclose(one.flows[["flow_before", "flow_after"]], two.flows[["flow_before", "flow_after"]])
    pd.testing.assert_frame_equal(one.od, two.od)


def test_closures_and_modal_filters(grid3):
    n = 4
    od = pd.DataFrame({"origin": [nid(0, 1, n)], "destination": [nid(3, 1, n)], "trips": [10.0]})
    e = grid3.edges
    ij = lattice(grid3)
    middle = [k for k, (u, v) in enumerate(zip(e["u"], e["v"])) if {ij[u], ij[v]} == {(1, 1), (2, 1)}]
    assert len(middle) == 2
    # a modal filter in the middle of row 1 closes that block both ways: the trip goes round
    x0, y0 = grid3.nodes["x"].min(), grid3.nodes["y"].min()
    a = assign(grid3, od, modal_filters=[(x0 + 1.5 * BLOCK, y0 + BLOCK + 3.0)], n_jobs=1)
    assert a.flows["closed"].to_numpy().nonzero()[0].tolist() == sorted(middle)
    assert a.od["time_before_min"].iloc[0] == pytest.approx(0.678)
    assert a.od["time_after_min"].iloc[0] > 0.678
    path = trip_paths(grid3, od, modal_filters=[(x0 + 1.5 * BLOCK, y0 + BLOCK + 3.0)])[0]
    assert not set(path) & set(middle)
    closed = assign(grid3, od, closed_edges=e.index[middle], n_jobs=1)
    assert closed.od["time_after_min"].iloc[0] == a.od["time_after_min"].iloc[0]


# ------------------------------------------------------------------------------------------------
# demand


def test_gravity_demand_by_hand():
    net = uk.build_network(grid_extract(4, 4), "drive", cache=False)
    pop = pd.Series(np.arange(len(net.nodes), dtype=float) % 3, index=net.nodes.index)  # 0, 1 or 2 residents
    attr = pd.Series((np.arange(len(net.nodes)) % 4).astype(float), index=net.nodes.index)
    od = gravity_demand(net, pop, attr, trips_per_resident=0.8, beta_per_min=0.3, h3_resolution=None, n_jobs=1)
    g = nx.DiGraph()
    for u, v, w in zip(net.edges["u"], net.edges["v"], steps_of(net)):
        if not g.has_edge(u, v) or g[u][v]["w"] > w:
            g.add_edge(u, v, w=int(w))
    dist = dict(nx.all_pairs_dijkstra_path_length(g, weight="w"))
    expected = {}
    for i in net.nodes.index:
        if pop[i] <= 0:
            continue
        ws = {j: attr[j] * math.exp(-0.3 * dist[i][j] * STEP) for j in net.nodes.index if j != i and attr[j] > 0}
        total = sum(ws.values())
        for j, wj in ws.items():
            expected[(i, j)] = pop[i] * 0.8 * wj / total
    got = {(o, d): t for o, d, t in zip(od["origin"], od["destination"], od["trips"])}
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=1e-12)
    assert od["trips"].sum() == pytest.approx(0.8 * pop.sum())
    scaled = gravity_demand(net, pop, attr, h3_resolution=None, n_trips=1000, n_jobs=1)
    assert scaled["trips"].sum() == pytest.approx(1000)


def test_run_scenario_internal_flows_fall_perimeter_flows_rise(grid12):
    pop = pd.Series(10.0, index=grid12.nodes.index)
    s = run_scenario(grid12, population=pop, h3_resolution=None, n_trips=50_000, n_jobs=1)
    assert len(s.superblocks) == 16
    assert s.od["trips"].sum() == pytest.approx(50_000)
    e = s.edges
    internal = e["role"] == "internal"
    perimeter = e["role"] == "perimeter"
    assert e.loc[internal, "flow_after"].sum() < e.loc[internal, "flow_before"].sum()
    assert e.loc[perimeter, "flow_after"].sum() > e.loc[perimeter, "flow_before"].sum()
    sm = s.summary().iloc[0]
    assert sm["vkm_after"] > sm["vkm_before"]  # detours
    assert sm["median_detour"] >= 1.0
    assert sm["residents_inside"] == pytest.approx(10.0 * len(grid12.nodes))
    # vehicle-km from edge flows equal trips times path lengths
    od = s.od
    assert sm["vkm_before"] == pytest.approx((od["trips"] * od["distance_before_m"]).sum() / 1000)
    assert sm["vkm_after"] == pytest.approx((od["trips_after"] * od["distance_after_m"]).sum() / 1000)
    assert set(s.timings) >= {"detect_s", "demand_and_before_s", "assign_after_s", "effects_s", "total_s"}
    # the same demand through the public functions gives the same totals
    od2 = gravity_demand(grid12, pop, h3_resolution=None, n_trips=50_000, n_jobs=1)
    a2 = assign(grid12, od2, superblocks=s.superblocks, n_jobs=1)
    assert a2.summary()["vkm_after"].iloc[0] == pytest.approx(sm["vkm_after"])


def test_h3_zones_demand(grid12):
    od = gravity_demand(grid12, h3_resolution=9, n_jobs=1)
    assert od["origin"].isin(grid12.nodes.index).all() and od["destination"].isin(grid12.nodes.index).all()
    assert (od["origin"] != od["destination"]).all()
    n_zones = od.attrs["gravity"]["zones"]
    assert 1 < n_zones < len(grid12.nodes)
    assert od["trips"].sum() == pytest.approx(0.5 * len(grid12.nodes))


# ------------------------------------------------------------------------------------------------
# bad input


def test_errors(grid12, grid3):
    plain = uk.build_network(grid_extract(6, 6, arterial_every=None), "drive", cache=False)
    with pytest.raises(NoStreetsError, match="no through-street network.*method='grid'"):
        find_superblocks(plain, method="arterial")
    with pytest.raises(InvalidOptionError, match="method="):
        find_superblocks(grid12, method="magic")
    far = shapely.box(0, 0, 100, 100)  # near the UTM origin, hundreds of km away
    with pytest.raises(InvalidOptionError, match="outside the network's area"):
        find_superblocks(grid12, polygons=[far])
    with pytest.raises(CRSError):
        find_superblocks(grid12, polygons=gpd.GeoDataFrame(geometry=[far]))
    sb = find_superblocks(grid12)
    overlap = [sb.geometry.iloc[0], sb.geometry.iloc[0].buffer(10)]
    with pytest.raises(InvalidOptionError, match="overlap"):
        find_superblocks(grid12, polygons=overlap)
    od = pd.DataFrame({"origin": [1, 123456789], "destination": [2, 3], "trips": [1.0, 2.0]})
    with pytest.raises(InvalidOptionError, match="123456789"):
        assign(grid12, od)
    ok = pd.DataFrame({"origin": [1], "destination": [2], "trips": [1.0]})
    with pytest.raises(InvalidOptionError, match="evaporation"):
        assign(grid12, ok, superblocks=sb, evaporation=-0.1)
    with pytest.raises(InvalidOptionError, match="evaporation"):
        assign(grid12, ok, superblocks=sb, evaporation=1.5)
    with pytest.raises(InvalidOptionError, match="exceed 1"):
        assign(grid12, ok, superblocks=sb, evaporation=0.6, mode_shift=0.6)
    with pytest.raises(InvalidOptionError, match="trips"):
        assign(grid12, ok.assign(trips=-1.0))
    with pytest.raises(InvalidOptionError, match="modal filters"):
        assign(grid12, ok, modal_filters=[(0.0, 0.0)])
    with pytest.raises(InvalidOptionError, match="not a grid"):
        find_superblocks(_ring_city(), method="grid")


def _ring_city():
    """A street network of spokes and rings (no two dominant orientations)."""
    from pyproj import Transformer

    from urbankit.osm import STREET_TAGS, OSMExtract, StreetCollector, empty_buildings, empty_features

    crs = "EPSG:32631"
    x0, y0 = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(2.15, 41.38)
    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    n_spokes, n_rings = 16, 4
    ids = {}
    coords = {}
    k = 1
    for r in range(1, n_rings + 1):
        for s in range(n_spokes):
            ang = 2 * math.pi * s / n_spokes
            ids[(r, s)] = k
            coords[k] = to_wgs.transform(x0 + 150 * r * math.cos(ang), y0 + 150 * r * math.sin(ang))
            k += 1
    streets = StreetCollector()
    tags = dict.fromkeys(STREET_TAGS)
    tags["highway"] = "residential"
    row = tuple(tags[t] for t in STREET_TAGS)
    w = 1
    for r in range(1, n_rings + 1):
        ring = [ids[(r, s)] for s in range(n_spokes)] + [ids[(r, 0)]]
        streets.add_run(w, row, ring, [coords[i][0] for i in ring], [coords[i][1] for i in ring])
        w += 1
    for s in range(n_spokes):
        spoke = [ids[(r, s)] for r in range(1, n_rings + 1)]
        streets.add_run(w, row, spoke, [coords[i][0] for i in spoke], [coords[i][1] for i in spoke])
        w += 1
    ways, way_nodes = streets.frames()
    ex = OSMExtract(
        ways=ways,
        way_nodes=way_nodes,
        features=empty_features(),
        buildings=empty_buildings(),
        source="mock:rings",
        sha256="rings-test",
        meta={},
    )
    return uk.build_network(ex, "drive", cache=False)


def test_run_scenario_with_user_od_and_destination_points(grid3):
    n = 4
    od = pd.DataFrame(
        {"origin": [nid(0, 1, n), nid(0, 0, n)], "destination": [nid(3, 1, n), nid(3, 3, n)], "trips": [50.0, 5.0]}
    )
    s = run_scenario(grid3, od=od, evaporation=0.5, n_jobs=1)
    assert s.od["trips_after"].tolist() == pytest.approx([25.0, 5.0])
    assert "assign_before_s" in s.timings
    dist = s.assignment.detour_distribution()
    assert dist["trips"].sum() == pytest.approx(55.0)
    assert dist["trips"].iloc[0] == pytest.approx(5.0)  # the unchanged trip
    # destination points count at their nearest node
    x0, y0 = grid3.nodes["x"].min(), grid3.nodes["y"].min()
    pts = gpd.GeoDataFrame(
        geometry=gpd.points_from_xy([x0 + 5, x0 + 3 * BLOCK - 4], [y0 + 2, y0 + 3 * BLOCK]), crs=grid3.crs
    )
    g = gravity_demand(grid3, destinations=pts.to_crs("EPSG:4326"), h3_resolution=None, n_jobs=1)
    assert set(g["destination"]) == {nid(0, 0, n), nid(3, 3, n)}
    assert g["trips"].sum() == pytest.approx(0.5 * len(grid3.nodes))


def test_scenario_repr_states_population_description(grid12):
    from urbankit.population import PopulationEstimate

    per_node = pd.Series(10.0, index=grid12.nodes.index)
    plain = run_scenario(grid12, population=per_node, h3_resolution=None, n_trips=1000, n_jobs=1)
    assert plain.population_description is None
    assert "residents:" not in repr(plain)
    est = PopulationEstimate(per_node, source="uniform", total=float(per_node.sum()), details={"label": "test"})
    s = run_scenario(grid12, population=est, h3_resolution=None, n_trips=1000, n_jobs=1)
    assert s.population_description == est.description
    assert est.description in repr(s)
