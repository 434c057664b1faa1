"""Open demand: external zones where major roads cross the study area's boundary, and their trips.

A closed gravity model (:func:`~urbankit.superblocks.gravity_demand`) lets every trip start and end
inside the extract: the traffic that merely crosses the area, the very traffic superblocks remove
from their inside, is missing. :func:`open_demand` adds it.

External zones (*gates*, :func:`external_zones`)
    A gate is a node where a street of ``through_highways`` leaves the area: either the street ends
    at a node with no other neighbour (where the extract cut it), or the node lies within
    ``margin_m`` of the boundary of the area (the outline of the union of the blocks the streets
    enclose) and moving on from
    it in the street's direction (from its inner neighbour) leaves the area. Each gate is one
    external zone, named ``"ext:<node_id>"``.
Gate volumes, sized by road class
    Daily trips entering through a gate = :data:`DAILY_TRIPS_PER_CAPACITY_VPH` x the hourly capacity
    of the inbound direction of the streets heading out there (they continue outside; leaving the
    area: of their outbound direction), with capacities from
    :func:`urbankit.assignment.link_performance` (per lane and class, HCM-style planning values,
    times the lanes). The factor 8 = 0.8 / 0.10: a peak hour at 80 % of
    capacity (a busy urban arterial) and a peak hour carrying 10 % of the day's traffic (the usual
    design-hour ``K`` factor of 0.09-0.10 of HCM and AASHTO for urban roads). A two-lane primary
    street (2 x 900 veh/h) thus brings about 14,400 veh/day into the area, a one-lane secondary
    6,400. Give ``gate_trips`` (per gate node) where counts exist.
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
    ``gate_trips``/an OD table from counts where available.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from .._errors import InvalidOptionError
from ..network import TIME_RESOLUTION_MIN, StreetNetwork
from ._common import DEFAULT_THROUGH_HIGHWAYS, _check_network, _highway, _number, _per_node, _Segments
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
#: the four trip types of an open OD table
TRIP_TYPES = ("internal", "inbound", "outbound", "through")


def external_zones(
    network: StreetNetwork,
    *,
    through_highways=DEFAULT_THROUGH_HIGHWAYS,
    margin_m: float = 30.0,
    daily_trips_per_capacity_vph: float = DAILY_TRIPS_PER_CAPACITY_VPH,
) -> pd.DataFrame:
    """Gates: nodes where a major road crosses the boundary of the area, with their daily trips.

    Parameters
    ----------
    network : StreetNetwork
        The drive network.
    through_highways : sequence of str, keyword-only
        Road classes whose boundary crossings are gates.
    margin_m : float, default 30, keyword-only
        Largest distance of a gate from the boundary (outline of the blocks the streets enclose).
    daily_trips_per_capacity_vph : float, default 8, keyword-only
        Daily trips per veh/h of capacity (:data:`DAILY_TRIPS_PER_CAPACITY_VPH`).

    Returns
    -------
    pandas.DataFrame
        One row per gate: ``zone`` (``"ext:<node_id>"``), ``node_id``, ``highway``,
        ``capacity_in_vph``, ``capacity_out_vph`` (into and out of the area), ``trips_in``,
        ``trips_out`` (veh/day), ``x``, ``y`` (network CRS). Empty when no major road reaches the
        boundary.

    Raises
    ------
    InvalidOptionError
        Bad options, or a network that is not a drive network.
    """
    from ..assignment import link_performance

    _check_network(network)
    _number("margin_m", margin_m, low=0.0)
    _number("daily_trips_per_capacity_vph", daily_trips_per_capacity_vph, low=0.0)
    if isinstance(through_highways, str):
        raise InvalidOptionError("through_highways must be a list of highway classes, e.g. ['primary'].")
    cols = ["zone", "node_id", "highway", "capacity_in_vph", "capacity_out_vph", "trips_in", "trips_out", "x", "y"]
    nodes = network.nodes
    xy = nodes[["x", "y"]].to_numpy(float)
    from .detect import _faces

    area = shapely.union_all(_faces(_Segments.of(network).geoms))
    if area.is_empty or area.area <= 0:
        return pd.DataFrame(columns=cols)
    outline = shapely.union_all([shapely.get_exterior_ring(p) for p in shapely.get_parts(area)])
    u, v, rows = _arcs(network)
    major = np.isin(_highway(network.edges).to_numpy()[rows], [str(h).lower() for h in through_highways])
    near = shapely.distance(shapely.points(xy), outline) <= margin_m
    cap = link_performance(network)["capacity_vph"].to_numpy(float) if network.directed else None
    if cap is None:  # undirected: each edge row is both directions
        from ..assignment.bpr import CAPACITY_PER_LANE_VPH, DEFAULT_LANES, FALLBACK_CAPACITY_PER_LANE_VPH

        per_lane = {**dict.fromkeys(_highway(network.edges).unique(), FALLBACK_CAPACITY_PER_LANE_VPH)}
        per_lane.update(CAPACITY_PER_LANE_VPH)
        hw = _highway(network.edges).to_numpy()
        cap = np.array([per_lane[h] * DEFAULT_LANES.get(h, 1) for h in hw])
    inside = shapely.buffer(area, 1.0)
    # a major street a -> b (either driving direction) heading out of the area at b near the boundary
    step = margin_m + 5.0
    arc = np.flatnonzero(major)
    a, b = np.r_[u[arc], v[arc]], np.r_[v[arc], u[arc]]
    arc = np.r_[arc, arc]
    sel = near[b]
    a, b, arc = a[sel], b[sel], arc[sel]
    d = xy[b] - xy[a]
    norm = np.hypot(d[:, 0], d[:, 1])
    ok = norm > 0
    a, b, arc_h, d, norm = a[ok], b[ok], arc[ok], d[ok], norm[ok]
    heads_out = ~shapely.within(shapely.points(xy[b] + d / norm[:, None] * step), inside)
    # a major street ending at a node with no other neighbour: cut where the extract ends
    pairs = np.unique(np.c_[np.r_[u, v], np.r_[v, u]], axis=0)
    n_nb = np.bincount(pairs[:, 0], minlength=len(nodes))
    arc = np.flatnonzero(major)
    a2, b2 = np.r_[u[arc], v[arc]], np.r_[v[arc], u[arc]]
    cut = n_nb[b2] == 1
    a, b = np.r_[a[heads_out], a2[cut]], np.r_[b[heads_out], b2[cut]]
    out_arc = np.r_[arc_h[heads_out], np.r_[arc, arc][cut]]
    gate = np.unique(b)
    if len(gate) == 0:
        logger.info("no major road (%s) reaches the boundary of the area: no external zone", list(through_highways))
        return pd.DataFrame(columns=cols)
    # the street heading out continues outside: trips come in along its inbound direction (gate -> inner
    # node) and leave along its outbound one, at the capacity of those edges
    n = len(nodes)
    ab = np.unique(np.c_[a, b], axis=0)
    key = u[major].astype(np.int64) * n + v[major]
    c_major = cap[rows[major]]
    inbound = np.isin(key, ab[:, 1].astype(np.int64) * n + ab[:, 0])
    outbound = np.isin(key, ab[:, 0].astype(np.int64) * n + ab[:, 1])
    cin = np.bincount(u[major][inbound], weights=c_major[inbound], minlength=n)[gate]
    cout = np.bincount(v[major][outbound], weights=c_major[outbound], minlength=n)[gate]
    hw = _highway(network.edges).to_numpy()
    best = pd.DataFrame({"g": b, "h": hw[rows[out_arc]], "c": cap[rows[out_arc]]})
    best = best.sort_values(["g", "c"], ascending=[True, False]).drop_duplicates("g").set_index("g")["h"]
    ids = nodes.index.to_numpy()[gate]
    out = pd.DataFrame(
        {
            "zone": [f"ext:{i}" for i in ids],
            "node_id": ids,
            "highway": best.reindex(gate).to_numpy(),
            "capacity_in_vph": np.maximum(cin, 0.0),
            "capacity_out_vph": np.maximum(cout, 0.0),
        }
    )
    out["trips_in"] = out["capacity_in_vph"] * daily_trips_per_capacity_vph
    out["trips_out"] = out["capacity_out_vph"] * daily_trips_per_capacity_vph
    out["x"], out["y"] = xy[gate, 0], xy[gate, 1]
    out = out[(out["trips_in"] > 0) | (out["trips_out"] > 0)].reset_index(drop=True)
    logger.info(
        "%d external zones: %.0f trips/day in, %.0f out", len(out), out["trips_in"].sum(), out["trips_out"].sum()
    )
    return out[cols]


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
