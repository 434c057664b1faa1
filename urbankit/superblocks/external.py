"""Open demand: external zones where major roads cross the study area's boundary, and their trips.

A closed gravity model (:func:`~urbankit.superblocks.gravity_demand`) lets every trip start and end
inside the extract: the traffic that merely crosses the area, the very traffic superblocks remove
from their inside, is missing. :func:`open_demand` adds it.

Study area (:func:`external_zones`)
    The drive edges grown by ``closing_m`` (default :data:`DEFAULT_CLOSING_M` = 200 m), their
    union shrunk again by ``closing_m`` - :data:`AREA_HALO_M` (5 m), holes filled: a
    morphological closing, so bays, parks and gaps of the street pattern narrower than
    2 x ``closing_m`` are inside, and every street lies at least 5 m inside the outline. A
    connected network gives one polygon (a disconnected one a few), however ragged its coastline.
External zones (*gates*, :func:`external_zones`)
    A gate is where a street of ``through_highways`` leaves the extract: a node within
    ``margin_m`` of the outline where the street's last segment, continued for ``margin_m`` + 10 m,
    leaves the study area (a road cut at the extract's edge, a dead end or a junction). A
    cul-de-sac or a junction farther than ``margin_m`` from the outline is never a gate. Gate nodes
    closer than ``merge_m`` (default :data:`DEFAULT_GATE_MERGE_M` = 50 m, transitively) are one
    gate, one physical road crossing: the two carriageways of a dual road, or consecutive nodes of a
    road near the outline (a road is counted at its innermost such node only). Each gate is one
    external zone, ``"ext:<node_id>"`` (its node with the largest capacity). Limitation: without
    water data a major road pointing to the sea from the outline (e.g. at a coastal T-junction)
    looks like a cut road; give ``gates`` to :func:`open_demand` where that matters.
Gate volumes, sized by road class
    Daily trips entering through a gate = :data:`DAILY_TRIPS_PER_CAPACITY_VPH` x the hourly capacity
    of the inbound direction of the streets heading out there (they continue outside; leaving the
    area: of their outbound direction), with capacities from
    :func:`urbankit.assignment.link_performance` (per lane and class, HCM-style planning values,
    times the lanes). The factor 8 = 0.8 / 0.10: a peak hour at 80 % of
    capacity (a busy urban arterial) and a peak hour carrying 10 % of the day's traffic (the usual
    design-hour ``K`` factor of 0.09-0.10 of HCM and AASHTO for urban roads). A two-lane primary
    street (2 x 900 veh/h) thus brings about 14,400 veh/day into the area, a one-lane secondary
    6,400. A merged gate sums its roads (a dual road: in along one carriageway, out along the
    other). Where counts exist, give them as ``gates`` to :func:`open_demand`.
Trip types
    A day's car OD table is (close to) symmetric: every home-based trip has its return
    (production/attraction balancing; Ortuzar & Willumsen, *Modelling Transport*, ch. 4-5). Each
    gate therefore carries ``v = (trips_in + trips_out) / 2`` trips a day in each direction (equal
    to both when the road's two directions have the same capacity). Of them ``through_share`` cross
    the area to another gate (*through*, EE), the exit chosen by the gravity weight (exit gate
    volume times ``exp(-beta_per_min * minutes)``), and every through pair is then driven both ways
    (``(A->B + B->A) / 2`` each way); exits within :data:`MIN_GATE_SEPARATION_M` of the entry (the
    same road's other carriageway) are not chosen. The rest end inside (*inbound*, EI) and each has
    its return (*outbound*, IE) from the same zone to the same gate: half of these pairs are
    visitors (destination zone by attraction times the decay of the gate -> zone time), half
    residents going out and coming home (home zone by residents times the decay of the zone ->
    gate time). Trips between internal zones (*internal*, II) are :func:`gravity_demand`'s.
Default through share
    :data:`DEFAULT_THROUGH_SHARE` = 0.3, an assumption: cordon surveys around European city centres
    commonly find a fifth to two fifths of the vehicles crossing the cordon to be passing through.
    It depends on the area's size and position in the road network: calibrate it, or give
    ``gates``/an OD table from counts where available.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from .._errors import InvalidOptionError
from ..network import TIME_RESOLUTION_MIN, StreetNetwork
from ._common import DEFAULT_THROUGH_HIGHWAYS, _check_network, _highway, _number, _per_node
from .assign import _steps
from .demand import _destination_weights, _zones, gravity_demand
from .graph import _arcs, _build_graph

logger = logging.getLogger(__name__)

#: daily trips through a gate per veh/h of capacity: peak hour at 80 % of capacity, 10 % of the day
DAILY_TRIPS_PER_CAPACITY_VPH = 8.0
#: share of the trips crossing the area's boundary that pass through (an assumption; see the module)
DEFAULT_THROUGH_SHARE = 0.3
#: exits this close to the entry gate are not chosen by through trips (the same road's other side)
MIN_GATE_SEPARATION_M = 150.0
#: radius (m) of the closing (grow, then shrink) of the drive edges that makes the study area
DEFAULT_CLOSING_M = 200.0
#: the study area reaches this far (m) beyond the outermost streets, so that every street lies inside it
AREA_HALO_M = 5.0
#: gate nodes closer than this (m) are one gate (both carriageways of a dual road)
DEFAULT_GATE_MERGE_M = 50.0
#: the four trip types of an open OD table
TRIP_TYPES = ("internal", "inbound", "outbound", "through")


def external_zones(
    network: StreetNetwork,
    *,
    through_highways=DEFAULT_THROUGH_HIGHWAYS,
    margin_m: float = 30.0,
    daily_trips_per_capacity_vph: float = DAILY_TRIPS_PER_CAPACITY_VPH,
    closing_m: float = DEFAULT_CLOSING_M,
    merge_m: float = DEFAULT_GATE_MERGE_M,
) -> pd.DataFrame:
    """Gates: where a major road crosses the boundary of the area, one per road crossing, with their daily trips.

    Parameters
    ----------
    network : StreetNetwork
        The drive network.
    through_highways : sequence of str, keyword-only
        Road classes whose boundary crossings are gates.
    margin_m : float, default 30, keyword-only
        Largest distance of a gate node from the outline of the study area.
    daily_trips_per_capacity_vph : float, default 8, keyword-only
        Daily trips per veh/h of capacity (:data:`DAILY_TRIPS_PER_CAPACITY_VPH`).
    closing_m : float, default 200, keyword-only
        Radius of the morphological closing that makes the study area out of the drive edges
        (:data:`DEFAULT_CLOSING_M`): bays and gaps of the street pattern narrower than twice it
        are filled (see the module docstring).
    merge_m : float, default 50, keyword-only
        Gate nodes closer than this (transitively) are one gate: the two carriageways of a dual
        road, or consecutive nodes of one road near the outline (:data:`DEFAULT_GATE_MERGE_M`).

    Returns
    -------
    pandas.DataFrame
        One row per gate: ``zone`` (``"ext:<node_id>"``), ``node_id`` (the merged nodes' node with the
        largest capacity), ``highway`` (class of its largest crossing road), ``capacity_in_vph``,
        ``capacity_out_vph`` (into and out of the area, summed over the roads crossing there),
        ``trips_in``, ``trips_out`` (veh/day), ``x``, ``y`` (network CRS). Empty when no major
        road reaches the boundary.

    Raises
    ------
    InvalidOptionError
        Bad options, or a network that is not a drive network.
    """
    _check_network(network)
    _number("margin_m", margin_m, low=0.0)
    _number("daily_trips_per_capacity_vph", daily_trips_per_capacity_vph, low=0.0)
    _number("closing_m", closing_m, low=AREA_HALO_M)
    _number("merge_m", merge_m, low=0.0)
    if isinstance(through_highways, str):
        raise InvalidOptionError("through_highways must be a list of highway classes, e.g. ['primary'].")
    cols = ["zone", "node_id", "highway", "capacity_in_vph", "capacity_out_vph", "trips_in", "trips_out", "x", "y"]
    nodes = network.nodes
    n = len(nodes)
    xy = nodes[["x", "y"]].to_numpy(float)
    area = _study_area(network, float(closing_m))
    if area.is_empty or area.area <= 0:
        return pd.DataFrame(columns=cols)
    u, v, rows = _arcs(network)
    hw = _highway(network.edges).to_numpy()
    major = np.isin(hw[rows], [str(h).lower() for h in through_highways])
    cap = _capacities(network)
    near = shapely.distance(shapely.points(xy), shapely.boundary(area)) <= margin_m
    # a major street a -> b (either driving direction) whose end at b, near the outline, points out of
    # the area: moving on from b along the street's last segment leaves the (slightly grown) area
    arc = np.flatnonzero(major)
    a, b, r = np.r_[u[arc], v[arc]], np.r_[v[arc], u[arc]], np.r_[rows[arc], rows[arc]]
    sel = near[b]
    a, b, r = a[sel], b[sel], r[sel]
    d = _end_directions(network.edges.geometry.to_numpy()[r], xy[b], xy[b] - xy[a])
    step = margin_m + AREA_HALO_M + 5.0
    ok = np.hypot(d[:, 0], d[:, 1]) > 0
    ok[ok] = ~shapely.within(shapely.points(xy[b[ok]] + d[ok] * step), shapely.buffer(area, 1.0))
    a, b, r = a[ok], b[ok], r[ok]
    if len(b) == 0:
        logger.info("no major road (%s) reaches the boundary of the area: no external zone", list(through_highways))
        return pd.DataFrame(columns=cols)
    # one gate per road crossing: nodes within merge_m are one gate, and a road whose inner node is a
    # gate node of the same gate is counted at that inner node only (not once per node along it)
    nodes_g = np.unique(b)
    label = np.full(n, -1, np.int64)
    label[nodes_g] = _clusters(xy[nodes_g], float(merge_m))
    keep = label[a] != label[b]
    a, b, r = a[keep], b[keep], r[keep]
    # the street heading out continues outside: trips come in along its inbound direction (gate -> inner
    # node) and leave along its outbound one, at the capacity of those edges
    ab = np.unique(np.c_[a, b], axis=0)
    key = u[major] * n + v[major]
    c_major = cap[rows[major]]
    inbound = np.isin(key, ab[:, 1] * n + ab[:, 0])
    outbound = np.isin(key, ab[:, 0] * n + ab[:, 1])
    cin = np.bincount(u[major][inbound], weights=c_major[inbound], minlength=n)
    cout = np.bincount(v[major][outbound], weights=c_major[outbound], minlength=n)
    per = pd.DataFrame({"g": label[nodes_g], "node": nodes_g, "cin": cin[nodes_g], "cout": cout[nodes_g]})
    per = per[(per["cin"] > 0) | (per["cout"] > 0)]
    if per.empty:
        return pd.DataFrame(columns=cols)
    per["c"] = per["cin"] + per["cout"]
    rep = per.sort_values(["g", "c", "node"], ascending=[True, False, True]).drop_duplicates("g").set_index("g")["node"]
    tot = per.groupby("g")[["cin", "cout"]].sum().loc[rep.index]
    best = pd.DataFrame({"g": label[b], "h": hw[r], "c": cap[r]})
    best = best.sort_values(["g", "c", "h"], ascending=[True, False, True]).drop_duplicates("g").set_index("g")["h"]
    gate = rep.to_numpy()
    ids = nodes.index.to_numpy()[gate]
    out = pd.DataFrame(
        {
            "zone": [f"ext:{i}" for i in ids],
            "node_id": ids,
            "highway": best.reindex(rep.index).to_numpy(),
            "capacity_in_vph": tot["cin"].to_numpy(),
            "capacity_out_vph": tot["cout"].to_numpy(),
        }
    )
    out["trips_in"] = out["capacity_in_vph"] * daily_trips_per_capacity_vph
    out["trips_out"] = out["capacity_out_vph"] * daily_trips_per_capacity_vph
    out["x"], out["y"] = xy[gate, 0], xy[gate, 1]
    out = out.sort_values("node_id", kind="stable").reset_index(drop=True)
    logger.info(
        "%d external zones (%d boundary nodes merged): %.0f trips/day in, %.0f out",
        len(out),
        len(per),
        out["trips_in"].sum(),
        out["trips_out"].sum(),
    )
    return out[cols]


def _capacities(network: StreetNetwork) -> np.ndarray:
    """Hourly capacity of every edge row (an undirected row: of each direction)."""
    from ..assignment import link_performance

    if network.directed:
        return link_performance(network)["capacity_vph"].to_numpy(float)
    from ..assignment.bpr import CAPACITY_PER_LANE_VPH, DEFAULT_LANES, FALLBACK_CAPACITY_PER_LANE_VPH

    hw = _highway(network.edges).to_numpy()
    per_lane = {**dict.fromkeys(np.unique(hw), FALLBACK_CAPACITY_PER_LANE_VPH), **CAPACITY_PER_LANE_VPH}
    return np.array([per_lane[h] * DEFAULT_LANES.get(h, 1) for h in hw], dtype=float)


def _study_area(network: StreetNetwork, closing_m: float):
    """The study area: the drive edges closed morphologically, holes filled (a list of polygons)."""
    lines = network.edges.geometry.to_numpy()
    lines = lines[~shapely.is_empty(lines) & ~shapely.is_missing(lines)]
    if len(lines) == 0:
        return shapely.Polygon()
    grown = shapely.buffer(shapely.union_all(shapely.buffer(lines, closing_m, quad_segs=4)), 0.0)
    closed = shapely.buffer(grown, -(closing_m - AREA_HALO_M), quad_segs=4)
    parts = [shapely.Polygon(shapely.get_exterior_ring(p)) for p in shapely.get_parts(closed) if not p.is_empty]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _end_directions(geoms: np.ndarray, end_xy: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Unit direction of each line's last segment at the end nearest ``end_xy`` (``fallback`` if degenerate)."""
    out = np.array(fallback, dtype=float)
    for k, g in enumerate(geoms):
        if g is None or shapely.is_empty(g):
            continue
        c = shapely.get_coordinates(g)
        if len(c) < 2:
            continue
        if np.hypot(*(c[0] - end_xy[k])) < np.hypot(*(c[-1] - end_xy[k])):
            c = c[::-1]
        d = c[-1] - c[-2]
        if np.hypot(*d) > 0:
            out[k] = d
    n = np.hypot(out[:, 0], out[:, 1])
    return np.divide(out, n[:, None], out=np.zeros_like(out), where=n[:, None] > 0)


def _clusters(xy: np.ndarray, distance_m: float) -> np.ndarray:
    """Cluster label of each point: points closer than ``distance_m`` (transitively) share one."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if len(xy) == 0:
        return np.empty(0, np.int64)
    pairs = cKDTree(xy).query_pairs(distance_m, output_type="ndarray") if distance_m > 0 else np.empty((0, 2), int)
    m = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(xy), len(xy)))
    return connected_components(m, directed=False)[1]


def _share(weights: np.ndarray) -> np.ndarray:
    """Rows of ``weights`` scaled to sum to 1 (rows of zeros stay zero)."""
    s = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, s, out=np.zeros_like(weights), where=s > 0)


def open_demand(
    network: StreetNetwork,
    population=None,
    destinations=None,
    *,
    trips_per_resident: float = 0.5,
    beta_per_min: float = 0.1,
    h3_resolution: int | None = 8,
    n_trips: float | None = None,
    through_share: float = DEFAULT_THROUGH_SHARE,
    gates: pd.DataFrame | None = None,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Car trips of the area with the outside world: internal, inbound, outbound and through trips.

    Parameters
    ----------
    network : StreetNetwork
        The drive network (before any scenario).
    population, destinations, trips_per_resident, beta_per_min, h3_resolution, n_trips, n_jobs
        As for :func:`gravity_demand` (its internal trips; ``n_trips`` scales them only).
    through_share : float, default 0.3, keyword-only
        Share of the trips crossing the boundary at a gate that pass through
        (:data:`DEFAULT_THROUGH_SHARE`; see the module docstring).
    gates : pandas.DataFrame, optional, keyword-only
        External zones with ``node_id``, ``trips_in`` and ``trips_out`` (veh/day), e.g. from counts;
        default :func:`external_zones`.

    Returns
    -------
    pandas.DataFrame
        ``origin``, ``destination`` (node ids: a gate's node for external zones), ``trips``,
        ``time_min`` (free-flow), ``trip_type`` (one of :data:`TRIP_TYPES`), ``origin_zone`` and
        ``destination_zone`` (``"ext:<node_id>"`` for gates, else ``"int:<node_id>"``). ``attrs``:
        ``gravity`` as for :func:`gravity_demand`, ``trips_by_type`` and ``external_zones``.

    Raises
    ------
    InvalidOptionError
        Bad options, or gates naming nodes that are not in the network.
    """
    _check_network(network)
    share = _number("through_share", through_share, low=0.0, high=1.0)
    internal = gravity_demand(
        network,
        population,
        destinations,
        trips_per_resident=trips_per_resident,
        beta_per_min=beta_per_min,
        h3_resolution=h3_resolution,
        n_trips=n_trips,
        n_jobs=n_jobs,
    )
    internal["trip_type"] = "internal"
    internal["origin_zone"] = "int:" + internal["origin"].astype(str)
    internal["destination_zone"] = "int:" + internal["destination"].astype(str)
    if gates is None:
        gates = external_zones(network)
    else:
        missing = [c for c in ("node_id", "trips_in", "trips_out") if c not in gates.columns]
        if missing:
            raise InvalidOptionError(f"gates lacks column(s) {missing}; it needs node_id, trips_in and trips_out.")
    pos_all = network.nodes.index.get_indexer(gates["node_id"].to_numpy()) if len(gates) else np.empty(0, int)
    if (pos_all < 0).any():
        raise InvalidOptionError(
            f"gates name {int((pos_all < 0).sum())} node ids that are not in the network; use network.nodes.index."
        )
    frames = [internal]
    if len(gates):
        pop = _per_node(population, network, "population")
        pop = np.ones(len(network.nodes)) if pop is None else pop
        attr = _destination_weights(network, destinations, pop)
        _, rep, p_z, a_z = _zones(network, pop, attr, h3_resolution)
        g = pos_all
        t_in = gates["trips_in"].to_numpy(float)
        t_out = gates["trips_out"].to_numpy(float)
        graph = _build_graph(network, _steps(network.edges["time_min"].to_numpy(float)))
        targets = np.r_[rep, g]
        fwd = dijkstra(graph.csr, directed=True, indices=g)[:, targets]  # gate -> zone, gate -> gate
        bwd = dijkstra(graph.csr.T.tocsr(), directed=True, indices=g)[:, rep]  # zone -> gate
        minutes_f = np.floor(fwd) * TIME_RESOLUTION_MIN
        minutes_b = np.floor(bwd) * TIME_RESOLUTION_MIN
        nz = len(rep)
        decay_f = np.where(np.isfinite(minutes_f), np.exp(-beta_per_min * np.nan_to_num(minutes_f, posinf=0)), 0.0)
        decay_b = np.where(np.isfinite(minutes_b), np.exp(-beta_per_min * np.nan_to_num(minutes_b, posinf=0)), 0.0)
        xy = network.nodes[["x", "y"]].to_numpy(float)[g]
        apart = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1]) >= MIN_GATE_SEPARATION_M
        # symmetric day: as many trips enter as leave each gate, v = (trips_in + trips_out) / 2 each way
        vol = 0.5 * (t_in + t_out)
        # through: entry i -> exit j, then each pair in both directions ((A->B + B->A) / 2 each way)
        w_ee = vol[None, :] * decay_f[:, nz:] * apart
        # an entry without any exit far enough sends all its trips inside
        ee_share = np.where(w_ee.sum(axis=1) > 0, share, 0.0)
        ee = (vol * ee_share)[:, None] * _share(w_ee)
        ee = 0.5 * (ee + ee.T)
        ee_share = np.divide(ee.sum(axis=1), vol, out=np.zeros_like(vol), where=vol > 0)
        # external-internal trips come in pairs with their return: half are visitors (gate -> destination
        # zone by attraction, and back), half residents (home zone -> gate by residents, and back home)
        other = rep[None, :] != g[:, None]  # not the gate's own node (a trip of no length)
        visit = _share(a_z[None, :] * decay_f[:, :nz] * other)
        home = _share(p_z[None, :] * decay_b * other)
        both = np.where(visit.sum(axis=1, keepdims=True) > 0, 0.5, 0.0) * visit
        both = both + np.where(home.sum(axis=1, keepdims=True) > 0, 0.5, 0.0) * home
        both = _share(both)
        ei = (vol * (1.0 - ee_share))[:, None] * both  # inbound: entry i -> zone k
        ie = ei.copy()  # outbound: zone k -> exit i, the return of each inbound trip
        ids = network.nodes.index.to_numpy()
        gid, zid = ids[g], ids[rep]
        parts = [
            ("through", np.repeat(gid, len(g)), np.tile(gid, len(g)), ee, minutes_f[:, nz:]),
            ("inbound", np.repeat(gid, nz), np.tile(zid, len(g)), ei, minutes_f[:, :nz]),
            ("outbound", np.tile(zid, len(g)), np.repeat(gid, nz), ie, minutes_b),
        ]
        for kind, o, d, t, m in parts:
            t, m = t.ravel(), m.ravel()
            keep = (t > 0) & (o != d)
            f = pd.DataFrame({"origin": o[keep], "destination": d[keep], "trips": t[keep], "time_min": m[keep]})
            f["trip_type"] = kind
            f["origin_zone"] = np.where(kind == "outbound", "int:", "ext:") + f["origin"].astype(str)
            f["destination_zone"] = np.where(kind == "inbound", "int:", "ext:") + f["destination"].astype(str)
            frames.append(f)
        unplaced = 2.0 * (vol.sum() - ee.sum()) - ei.sum() - ie.sum()  # gate crossings not placed
        if unplaced > 1e-6 * max(t_in.sum() + t_out.sum(), 1.0):
            logger.warning(
                "%.0f external trips/day found no destination or origin (gates without a route to or from any zone)",
                unplaced,
            )
    out = pd.concat(frames, ignore_index=True)
    out["time_min"] = out["time_min"].round(3)
    out.attrs = dict(internal.attrs)
    out.attrs["trips_by_type"] = {k: float(out.loc[out["trip_type"] == k, "trips"].sum()) for k in TRIP_TYPES}
    out.attrs["external_zones"] = int(len(gates))
    out.attrs["through_share"] = share
    logger.info(
        "open demand: %s trips/day",
        ", ".join(f"{k} {v:,.0f}" for k, v in out.attrs["trips_by_type"].items()),
    )
    return out
