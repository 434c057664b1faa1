"""Property-based tests (hypothesis) of the routing engines on random synthetic cities.

Properties that must hold on *any* network and destinations, not just on hand-made cases:

* monotonicity: adding a destination never increases any travel time (and never lowers a count);
  closing streets never decreases any travel time; a larger threshold never lowers a count, and
  adding a larger threshold changes nothing at the smaller ones;
* the incremental paths of :meth:`Accessibility.what_if` (added destinations, closed streets) equal
  a full recomputation;
* symmetry on walk and bike networks (undirected): the minutes from node i to a destination at node
  j equal those from j to a destination at i, both in the reach table and through ``accessibility``;
* invariance to node relabelling: the same city with permuted, offset, negative or huge node ids
  gives identical results up to the relabelling;
* superblocks: excluding through traffic never shortens a car trip.

(``tests/accessibility/test_accessibility.py::test_properties_random_grids`` checks destination and threshold
monotonicity against an independent Dijkstra on walk grids read from XML; the tests here add drive
networks with one-way streets, street closures, symmetry, relabelling and superblocks.)

Cities are :func:`urbankit.mock.grid_extract` grids (optionally with one-way residential streets)
whose nodes are jittered by up to 30% of a block, so edge times differ; destinations come from
:func:`urbankit.mock.random_destinations`. Examples are few and small (``max_examples`` 8-15, grids
of at most 7 x 7 blocks): the whole module runs in well under a minute.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import urbankit as uk
from urbankit.accessibility import _label, compute_accessibility, reach_table
from urbankit.mock import grid_extract, random_destinations
from urbankit.network import StreetNetwork

SERVICES = ["grocery", "pharmacy", "primary_school"]
PROPS = hsettings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setattr(uk.settings, "progress", False)


def jittered(ex: uk.OSMExtract, seed: int, frac: float = 0.3) -> uk.OSMExtract:
    """The extract with every node moved by up to ``frac`` of a block (the same move wherever it
    appears), so edge lengths and times differ."""
    rng = np.random.default_rng(seed)
    wn = ex.way_nodes.copy()
    ids = np.unique(wn.node_id.to_numpy())
    step = 0.001 * frac  # ~111 m of latitude per 0.001 degree
    dlon = pd.Series(rng.uniform(-step, step, len(ids)), index=ids)
    dlat = pd.Series(rng.uniform(-step, step, len(ids)), index=ids)
    wn["lon"] = wn["lon"] + dlon.loc[wn.node_id].to_numpy()
    wn["lat"] = wn["lat"] + dlat.loc[wn.node_id].to_numpy()
    sha = hashlib.sha256(f"{ex.sha256}-jitter-{seed}-{frac}".encode()).hexdigest()
    return dataclasses.replace(ex, way_nodes=wn, sha256=sha, source=f"{ex.source}-jitter{seed}")


@st.composite
def cities(draw, modes=("walk", "bike", "drive")):
    """(network, destinations, minutes) of a random jittered grid city."""
    nx_, ny_ = draw(st.integers(2, 7)), draw(st.integers(2, 7))
    mode = draw(st.sampled_from(modes))
    oneway = mode == "drive" and draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    ex = jittered(
        grid_extract(nx_, ny_, oneway_residential=oneway, arterial_every=draw(st.sampled_from([None, 2, 3]))), seed
    )
    net = uk.build_network(ex, mode, cache=False)
    per = draw(st.integers(1, 4))
    dest = random_destinations(
        net, services=SERVICES, per_service=per, seed=seed, max_offset_m=draw(st.sampled_from([0.0, 40.0]))
    )
    top = {"walk": 12, "bike": 4, "drive": 2}[mode]
    minutes = sorted(draw(st.lists(st.integers(1, top), min_size=1, max_size=3, unique=True)))
    return net, dest, minutes


def times(acc, s: str) -> np.ndarray:
    """Minutes to the nearest ``s`` per node, NaN (beyond the largest threshold) as infinity."""
    return acc.nodes[f"time_{s}_min"].fillna(np.inf).to_numpy(float)


def counts(acc, s: str, m) -> np.ndarray:
    return acc.nodes[f"n_{s}_{_label(m)}min"].to_numpy()


def result_columns(acc) -> list[str]:
    return [c for c in acc.nodes.columns if c.startswith(("time_", "n_", "score_", "functions_", "gravity_"))]


def assert_same_results(a, b, *, index=None) -> None:
    """Identical node tables (times and counts exactly; gravity to float rounding)."""
    cols = result_columns(a)
    assert cols == result_columns(b)
    ta = a.nodes[cols] if index is None else a.nodes[cols].loc[index]
    tb = b.nodes[cols]
    for c in cols:
        x, y = ta[c].to_numpy(float), tb[c].to_numpy(float)
        if c.startswith("gravity_"):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12, err_msg=c)
        else:
            np.testing.assert_array_equal(x, y, err_msg=c)


def closed_network(net: StreetNetwork, closed: np.ndarray) -> StreetNetwork:
    """The network without the closed edge rows, same nodes (so destinations snap to the same nodes)."""
    return StreetNetwork(
        mode=net.mode,
        nodes=net.nodes,
        edges=net.edges[~closed].reset_index(drop=True),
        crs=net.crs,
        directed=net.directed,
        meta={**net.meta, "key": net.meta.get("key", "") + "-closed"},
    )


# ------------------------------------------------------------------------------------------------
# monotonicity


@PROPS
@given(city=cities(), data=st.data())
@pytest.mark.slow
def test_adding_destinations_never_increases_a_time(city, data):
    net, dest, minutes = city
    keep = np.asarray(data.draw(st.lists(st.booleans(), min_size=len(dest), max_size=len(dest))))
    full = compute_accessibility(net, dest, minutes=minutes, services=SERVICES)
    sub = compute_accessibility(net, dest[keep], minutes=minutes, services=SERVICES)
    for s in SERVICES:
        assert (times(full, s) <= times(sub, s)).all(), s
        for m in minutes:
            assert (counts(full, s, m) >= counts(sub, s, m)).all(), (s, m)
        assert (full.nodes[f"gravity_{s}"].to_numpy() >= sub.nodes[f"gravity_{s}"].to_numpy() - 1e-12).all()
    for m in minutes:
        assert (full.nodes[f"score_{_label(m)}min"] >= sub.nodes[f"score_{_label(m)}min"]).all()
    # the incremental path (what_if add) equals the full recomputation
    # (what_if appends the added destinations: per-node results do not depend on their order)
    added = sub.what_if(add=dest[~keep].reset_index(drop=True)).after
    assert_same_results(added, full)


@PROPS
@given(city=cities(), data=st.data())
@pytest.mark.slow
def test_closing_streets_never_decreases_a_time(city, data):
    net, dest, minutes = city
    n_edges = len(net.edges)
    closed = np.zeros(n_edges, bool)
    rows = data.draw(st.lists(st.integers(0, n_edges - 1), min_size=1, max_size=max(1, n_edges // 4), unique=True))
    closed[rows] = True
    before = compute_accessibility(net, dest, minutes=minutes, services=SERVICES)
    after = before.what_if(close_edges=closed).after
    for s in SERVICES:
        assert (times(after, s) >= times(before, s)).all(), s
        for m in minutes:
            assert (counts(after, s, m) <= counts(before, s, m)).all(), (s, m)
    # the incremental path (only the searches that reached a closed edge are redone) equals a full run
    fresh = compute_accessibility(closed_network(net, closed), dest, minutes=minutes, services=SERVICES)
    assert_same_results(after, fresh)


@PROPS
@given(city=cities(), extra=st.integers(1, 10))
@pytest.mark.slow
def test_larger_threshold_never_lowers_a_count(city, extra):
    net, dest, minutes = city
    acc = compute_accessibility(net, dest, minutes=minutes, services=SERVICES)
    for s in SERVICES:
        for lo, hi in itertools.pairwise(minutes):
            assert (counts(acc, s, lo) <= counts(acc, s, hi)).all(), (s, lo, hi)
    for lo, hi in itertools.pairwise(minutes):
        assert (acc.nodes[f"score_{_label(lo)}min"] <= acc.nodes[f"score_{_label(hi)}min"]).all()
        assert (acc.nodes[f"functions_{_label(lo)}min"] <= acc.nodes[f"functions_{_label(hi)}min"]).all()
    # a larger largest threshold changes nothing at the smaller ones
    bigger = max(minutes) + extra
    wide = compute_accessibility(net, dest, minutes=[*minutes, bigger], services=SERVICES)
    for s in SERVICES:
        for m in minutes:
            np.testing.assert_array_equal(counts(wide, s, m), counts(acc, s, m))
        t_small, t_wide = times(acc, s), times(wide, s)
        inside = np.isfinite(t_small)
        np.testing.assert_array_equal(t_wide[inside], t_small[inside])
        assert (t_wide[~inside] > max(minutes)).all()


# ------------------------------------------------------------------------------------------------
# symmetry


def _on_nodes(net: StreetNetwork, node_ids) -> pd.DataFrame:
    """Snapped destinations exactly on the given nodes (snap time 0), for reach_table."""
    return pd.DataFrame({"node_id": np.asarray(node_ids, dtype=np.int64), "snap_min": 0.0})


@PROPS
@given(city=cities(modes=("walk", "bike")), data=st.data())
@pytest.mark.slow
def test_walk_and_bike_times_are_symmetric(city, data):
    net, _, _ = city
    n_edges = len(net.edges)
    closed = np.zeros(n_edges, bool)
    closed[data.draw(st.lists(st.integers(0, n_edges - 1), max_size=n_edges // 4, unique=True))] = True
    net = closed_network(net, closed)  # irregular, possibly disconnected
    ids = net.nodes.index.to_numpy()
    reach = reach_table(net, _on_nodes(net, ids), 1e6)
    n = len(ids)
    t = np.full((n, n), np.inf)
    t[reach["node"].to_numpy(), reach["dest"].to_numpy()] = reach["minutes"].to_numpy()
    np.testing.assert_array_equal(t, t.T)
    assert (np.diag(t) == 0).all()
    # and through accessibility: a destination at node j seen from i, and at node i seen from j
    i, j = data.draw(st.lists(st.sampled_from(list(ids)), min_size=2, max_size=2, unique=True))
    import geopandas as gpd

    def at(node):
        p = net.nodes.loc[[node]]
        return gpd.GeoDataFrame(
            {"service": ["grocery"], "function": ["commerce"]}, geometry=p.geometry.values, crs=net.crs
        )

    big = float(np.nanmax(np.where(np.isfinite(t), t, 0))) + 1.0
    to_j = compute_accessibility(net, at(j), minutes=[big], services=["grocery"]).nodes["time_grocery_min"]
    to_i = compute_accessibility(net, at(i), minutes=[big], services=["grocery"]).nodes["time_grocery_min"]
    np.testing.assert_array_equal(to_j.loc[i], to_i.loc[j])


def test_drive_one_way_grid_is_not_symmetric():
    """The check above is meaningful: a directed network with one-way streets is not symmetric."""
    net = uk.build_network(grid_extract(4, 4, oneway_residential=True), "drive", cache=False)
    ids = net.nodes.index.to_numpy()
    reach = reach_table(net, _on_nodes(net, ids), 1e6)
    t = np.full((len(ids), len(ids)), np.inf)
    t[reach["node"].to_numpy(), reach["dest"].to_numpy()] = reach["minutes"].to_numpy()
    assert not np.array_equal(t, t.T)


# ------------------------------------------------------------------------------------------------
# relabelling


def relabelled(ex: uk.OSMExtract, mapping: dict) -> uk.OSMExtract:
    wn = ex.way_nodes.copy()
    wn["node_id"] = wn["node_id"].map(mapping).astype(np.int64)
    sha = hashlib.sha256((ex.sha256 + "-relabelled").encode()).hexdigest()
    return dataclasses.replace(ex, way_nodes=wn, sha256=sha)


@hsettings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nx_=st.integers(2, 6),
    ny_=st.integers(2, 6),
    mode=st.sampled_from(["walk", "drive"]),
    oneway=st.booleans(),
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["permute", "offset", "negative", "huge", "mock_seed"]),
)
@pytest.mark.slow
def test_results_invariant_to_node_relabelling(nx_, ny_, mode, oneway, seed, kind):
    oneway = oneway and mode == "drive"
    ex = jittered(grid_extract(nx_, ny_, oneway_residential=oneway), seed)
    ids = np.unique(ex.way_nodes.node_id.to_numpy())
    rng = np.random.default_rng(seed)
    if kind == "mock_seed":
        # grid_extract's own random node and way ids: same drawing order, so row k of way_nodes is
        # the same point in both; give it the same jittered coordinates
        other = grid_extract(nx_, ny_, oneway_residential=oneway, seed=seed)
        pairs = pd.DataFrame({"a": ex.way_nodes.node_id.to_numpy(), "b": other.way_nodes.node_id.to_numpy()})
        pairs = pairs.drop_duplicates()
        assert pairs.a.is_unique and pairs.b.is_unique
        mapping = dict(zip(pairs.a.tolist(), pairs.b.tolist()))
        wn = other.way_nodes.assign(lon=ex.way_nodes.lon.to_numpy(), lat=ex.way_nodes.lat.to_numpy())
        ex_b = dataclasses.replace(other, way_nodes=wn, sha256=hashlib.sha256(b"b" + ex.sha256.encode()).hexdigest())
    else:
        new = {
            "permute": rng.permutation(ids),
            "offset": ids + 10**12,
            "negative": -ids,
            "huge": rng.choice(2**62, size=len(ids), replace=False) + 2**40,
        }[kind]
        mapping = dict(zip(ids.tolist(), np.asarray(new, dtype=np.int64).tolist()))
        ex_b = relabelled(ex, mapping)
    net_a = uk.build_network(ex, mode, cache=False)
    net_b = uk.build_network(ex_b, mode, cache=False)
    assert len(net_a.nodes) == len(net_b.nodes) and len(net_a.edges) == len(net_b.edges)
    assert net_a.edges.length_m.sum() == pytest.approx(net_b.edges.length_m.sum(), rel=1e-12)
    dest = random_destinations(net_a, services=SERVICES, per_service=3, seed=seed)
    minutes = [5, 10] if mode == "walk" else [1, 2]
    pop_a, pop_b = uk.population_per_node(net_a.nodes), uk.population_per_node(net_b.nodes)
    acc_a = compute_accessibility(net_a, dest, minutes=minutes, services=SERVICES, population=pop_a)
    acc_b = compute_accessibility(net_b, dest, minutes=minutes, services=SERVICES, population=pop_b)
    # the same destinations snap to the same (relabelled) nodes
    np.testing.assert_array_equal(acc_a.pois["node_id"].map(mapping).to_numpy(), acc_b.pois["node_id"].to_numpy())
    assert_same_results(acc_a, acc_b, index=pd.Index(acc_b.nodes.index.map({v: k for k, v in mapping.items()})))
    pd.testing.assert_frame_equal(acc_a.summary(), acc_b.summary())


# ------------------------------------------------------------------------------------------------
# superblocks


@hsettings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(6, 9), seed=st.integers(0, 2**16), n_od=st.integers(1, 25), jitter=st.booleans())
@pytest.mark.slow
def test_excluding_through_traffic_never_shortens_a_trip(n, seed, n_od, jitter):
    sb_mod = pytest.importorskip("urbankit.superblocks", reason="urbankit/superblocks.py is not importable")
    if not all(hasattr(sb_mod, f) for f in ("find_superblocks", "assign")):
        pytest.skip("urbankit.superblocks has no find_superblocks/assign yet")
    ex = grid_extract(n, n)
    if jitter:
        ex = jittered(ex, seed, frac=0.1)
    net = uk.build_network(ex, "drive", cache=False)
    try:
        sb = sb_mod.find_superblocks(net)
    except uk.NoStreetsError:
        return  # no candidate cell in this city: nothing to exclude
    rng = np.random.default_rng(seed)
    ids = net.nodes.index.to_numpy()
    od = pd.DataFrame({"origin": rng.choice(ids, n_od), "destination": rng.choice(ids, n_od), "trips": 1.0})
    a = sb_mod.assign(net, od, superblocks=sb, n_jobs=1).od
    before, after = a["time_before_min"].to_numpy(float), a["time_after_min"].to_numpy(float)
    routable = np.isfinite(after)
    assert np.isfinite(before).all()
    assert (after[routable] >= before[routable] - 1e-9).all(), a[after < before - 1e-9]
    # a trip that got no slower is not counted as affected
    assert not a.loc[routable & (after <= before + 1e-9), "affected"].any()
