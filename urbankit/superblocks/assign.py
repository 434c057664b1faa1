"""assign part of :mod:`urbankit.superblocks`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .._errors import CRSError, InvalidOptionError
from .._stats import weighted_quantile
from ..network import TIME_RESOLUTION_MIN, StreetNetwork, quantize_minutes
from . import _kernels
from ._common import (
    DEFAULT_INTERNAL_SPEED_KMH,
    EVAPORATION_ELASTIC,
    TIME_ELASTICITY,
    _check_network,
    _examples,
    _jobs,
    _number,
    _Segments,
)
from .detect import _int_na, label_edges
from .graph import _after_graph, _build_graph, _Graph, _inside_nodes

logger = logging.getLogger(__name__)


class _FixedTrips:
    """Load every routable OD row with its trips."""

    def __init__(self, trips: np.ndarray):
        self.trips = trips

    def __call__(self, rows, steps, tasks):
        return np.where(np.isfinite(steps), self.trips[rows], 0.0)


@dataclass(frozen=True)
class _Response:
    """How the affected trips (time increased, still routable) respond after the scenario.

    ``elasticity`` None: a flat share ``evaporation`` of them no longer happens. Otherwise a
    constant elasticity of traffic with respect to travel time: a trip whose time rises from ``t0``
    to ``t1`` keeps ``(t1 / t0) ** elasticity`` of its trips (Goodwin 1996; see
    :data:`~urbankit.superblocks._common.TIME_ELASTICITY`). ``mode_shift`` of them move to other
    modes in both cases (at most what the evaporation leaves).
    """

    evaporation: float
    mode_shift: float
    elasticity: float | None = None

    @property
    def method(self) -> str:
        return "flat" if self.elasticity is None else EVAPORATION_ELASTIC

    def shares(self, steps_before: np.ndarray, steps_after: np.ndarray):
        """Per row: the shares of its trips kept, evaporated and shifted to other modes."""
        sb = np.asarray(steps_before, dtype=float)
        sa = np.asarray(steps_after, dtype=float)
        ok = np.isfinite(sa) & np.isfinite(sb)
        affected = ok & (np.where(ok, sa, 0.0) > np.where(ok, sb, 0.0))
        if self.elasticity is None:
            ev = np.full(sa.shape, self.evaporation)
        else:
            use = affected & (sb > 0)
            ratio = np.ones(sa.shape)
            ratio[use] = sa[use] / sb[use]
            ev = 1.0 - ratio**self.elasticity
        ev = np.where(affected, ev, 0.0)
        ms = np.where(affected, np.minimum(self.mode_shift, 1.0 - ev), 0.0)
        return 1.0 - ev - ms, ev, ms


class _AfterTrips:
    """After the scenario: every routable row keeps the share of its trips ``response`` gives it."""

    def __init__(self, trips: np.ndarray, steps_before: np.ndarray, response: _Response):
        self.trips, self.before, self.response = trips, steps_before, response

    def __call__(self, rows, steps, tasks):
        ok = np.isfinite(steps)
        keep = self.response.shares(self.before[rows], steps)[0]
        return np.where(ok, self.trips[rows] * keep, 0.0)


class _GravityTrips:
    """Production-constrained gravity: trips of each origin task shared by ``A exp(-beta c)``."""

    def __init__(self, production: np.ndarray, attraction: np.ndarray, beta_per_min: float):
        self.production, self.attraction, self.beta = production, attraction, beta_per_min

    def __call__(self, rows, steps, tasks):
        ok = np.isfinite(steps)
        a = np.where(
            ok, self.attraction[rows] * np.exp(-self.beta * np.where(ok, steps, 0.0) * TIME_RESOLUTION_MIN), 0.0
        )
        t0 = tasks.min() if len(tasks) else 0
        denom = np.bincount(tasks - t0, weights=a)
        share = np.divide(a, denom[tasks - t0], out=np.zeros_like(a), where=denom[tasks - t0] > 0)
        return self.production[tasks] * share


@dataclass
class _Pass:
    """One scenario's routing of OD rows, grouped by start node (one Dijkstra tree per start)."""

    graph: _Graph
    roots: np.ndarray  # expanded start node of every task
    row_order: np.ndarray  # OD row positions grouped by task
    bounds: np.ndarray  # rows of task t: row_order[bounds[t]:bounds[t + 1]]
    t1: np.ndarray  # per OD row: first end node (-1: none)
    t2: np.ndarray  # per OD row: second end node (-1: none)
    weight: object  # callable(rows, steps, tasks) -> trips to load
    n_edges: int
    trees: bool = True  # predecessors: flows and metres

    @classmethod
    def make(cls, graph: _Graph, o: np.ndarray, d: np.ndarray, weight, n_edges: int, trees: bool = True) -> _Pass:
        start = graph.starts(o)
        t1, t2 = graph.ends(o, d)
        # rows without a start copy cannot be routed: give them no end
        t1 = np.where(start >= 0, t1, -1)
        t2 = np.where(start >= 0, t2, -1)
        order = np.argsort(start, kind="stable")
        roots, first = np.unique(start[order], return_index=True)
        bounds = np.r_[first, len(order)]
        if len(roots) and roots[0] < 0:  # rows without a start (sorted first) are left unrouted
            roots, bounds = roots[1:], bounds[1:]
        return cls(graph, roots.astype(np.int64), order, bounds.astype(np.int64), t1, t2, weight, n_edges, trees)


def _quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Inverted-CDF weighted quantile of the finite values with positive weight (NaN if none)."""
    return float(np.atleast_1d(weighted_quantile(values, weights, q, nan="omit"))[0])


def _csr_arrays(g: _Graph):
    """CSR arrays of a routing graph for the compiled kernels: row pointers, head and tail node and
    weight of every arc (arc ids are CSR positions, the order of ``arc_edge``/``arc_len``)."""
    csr = g.csr
    idx = np.int32 if csr.shape[0] < 2**31 - 1 and csr.nnz < 2**31 - 1 else np.int64  # int32: less memory traffic
    indptr = csr.indptr.astype(idx)
    tail = np.repeat(np.arange(csr.shape[0], dtype=idx), np.diff(indptr))
    return indptr, csr.indices.astype(idx), tail, np.asarray(csr.data, dtype=float)


def _execute(p: _Pass, n_rows: int, n_jobs: int, split: np.ndarray | None = None):
    """Run a pass; returns edge flows, and per OD row steps (inf: unroutable), metres and loaded trips.

    Compiled (:mod:`~urbankit.superblocks._kernels`): batches of tasks are searched, their trips
    computed by ``p.weight`` and loaded, in parallel on ``n_jobs`` numba threads (the results do not
    depend on it). ``split``, optional, a boolean per OD row: the edge flows of those rows only are
    also summed (from the same trees) and returned as a fifth value.
    """
    g = p.graph
    indptr, head, tail, cost = _csr_arrays(g)
    n_tasks = len(p.roots)
    per = _kernels.batch_size(g.n_exp)
    k = 1 if split is None else 2
    part = np.zeros((_kernels._CHUNKS * k, p.n_edges)) if p.trees else None
    steps = np.full(n_rows, np.inf)
    metres = np.full(n_rows, np.nan)
    loaded = np.zeros(n_rows)
    tree_pred = np.zeros((min(per, n_tasks) if p.trees else 0, g.n_exp if p.trees else 0), dtype=head.dtype)
    tree_order = np.zeros_like(tree_pred)
    n_settled = np.zeros(len(tree_pred), dtype=np.int64)
    with _kernels.threads(n_jobs):
        for t0 in range(0, n_tasks, per):
            t1 = min(t0 + per, n_tasks)
            rows = p.row_order[p.bounds[t0] : p.bounds[t1]]
            bounds = p.bounds[t0 : t1 + 1] - p.bounds[t0]
            tasks = np.repeat(np.arange(t0, t1), np.diff(bounds))
            dd, end, m = _kernels.search_batch(
                p.roots[t0:t1], bounds, p.t1[rows], p.t2[rows], indptr, head, tail, cost, g.arc_len,
                p.trees, tree_pred, tree_order, n_settled,
            )  # fmt: skip
            s = np.where(np.isfinite(dd), np.floor(dd), np.inf)
            w = p.weight(rows, s, tasks)
            steps[rows], metres[rows], loaded[rows] = s, m, w
            if p.trees:
                weights = (
                    np.asarray(w, dtype=float)[None, :]
                    if split is None
                    else np.stack([w, np.where(split[rows], w, 0.0)])
                )
                _kernels.load_batch(
                    bounds, end, np.ascontiguousarray(weights), tree_pred, tree_order, n_settled, tail, g.arc_edge, part
                )
    flows = np.zeros((k, p.n_edges))
    if part is not None:
        for c in range(_kernels._CHUNKS):  # chunk order: independent of the thread count
            flows += part[c * k : (c + 1) * k]
    if split is None:
        return flows[0], steps, metres, loaded
    return flows[0], steps, metres, loaded, flows[1]


# --------------------------------------------------------------------------------------------------
# scenario, OD tables, assignment


def _steps(minutes: np.ndarray) -> np.ndarray:
    """Minutes as whole 0.001-min steps (at least one)."""
    return np.maximum(np.rint(np.asarray(minutes, dtype=float) / TIME_RESOLUTION_MIN), 1.0)


@dataclass
class _Scenario:
    labels: np.ndarray  # superblock of every edge row (-1: none)
    steps_before: np.ndarray
    steps_after: np.ndarray
    speed_after: np.ndarray
    closed: np.ndarray  # edge rows closed after


def _scenario(
    network: StreetNetwork, superblocks, *, internal_speed_kmh: float, closed_edges, modal_filters
) -> _Scenario:
    e = network.edges
    n = len(e)
    if superblocks is None:
        labels = np.full(n, -1, dtype=np.int64)
    else:
        labels = label_edges(network, superblocks).fillna(-1).to_numpy(np.int64)
    steps_before = _steps(e["time_min"].to_numpy(float))
    speed = e["speed_kmh"].to_numpy(float)
    internal = labels >= 0
    slow = _steps(quantize_minutes(e["length_m"].to_numpy(float) / (internal_speed_kmh * 1000.0 / 60.0)))
    steps_after = np.where(internal, np.maximum(steps_before, slow), steps_before)
    speed_after = np.where(internal, np.minimum(speed, internal_speed_kmh), speed)
    closed = _closed_mask(network, closed_edges) | _filter_mask(network, modal_filters)
    return _Scenario(labels, steps_before, steps_after, speed_after, closed)


def _closed_mask(network: StreetNetwork, closed_edges) -> np.ndarray:
    n = len(network.edges)
    if closed_edges is None:
        return np.zeros(n, bool)
    arr = np.asarray(closed_edges.to_numpy() if isinstance(closed_edges, pd.Series) else closed_edges)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InvalidOptionError(
                f"closed_edges as a boolean mask must have one value per edge row ({n}), not {arr.shape}."
            )
        return arr.copy()
    pos = network.edges.index.get_indexer(arr.ravel())
    if (pos < 0).any():
        raise InvalidOptionError(
            f"closed_edges names {int((pos < 0).sum())} labels that are not in network.edges.index "
            f"(e.g. {_examples(arr.ravel()[pos < 0].tolist())})."
        )
    out = np.zeros(n, bool)
    out[pos] = True
    return out


def _filter_mask(network: StreetNetwork, modal_filters, max_snap_m: float = 50.0) -> np.ndarray:
    """Rows closed by modal filters: each filter closes the nearest street segment, both directions."""
    n = len(network.edges)
    if modal_filters is None:
        return np.zeros(n, bool)
    if isinstance(modal_filters, (gpd.GeoDataFrame, gpd.GeoSeries)):
        if modal_filters.crs is None:
            raise CRSError("modal_filters have no CRS; set it with .set_crs(...).")
        pts = modal_filters.to_crs(network.crs)
        pts = (pts.geometry if isinstance(pts, gpd.GeoDataFrame) else pts).to_numpy()
    else:
        arr = np.asarray(modal_filters, dtype=object)
        if arr.ndim == 2 and arr.shape[1] == 2:
            pts = shapely.points(arr.astype(float))
        else:
            pts = arr.ravel()
    if len(pts) == 0:
        return np.zeros(n, bool)
    if not all(isinstance(p, shapely.Point) for p in pts):
        raise InvalidOptionError(
            "modal_filters must be points: a GeoDataFrame/GeoSeries, shapely Points or (x, y) pairs in the network CRS."
        )
    seg = _Segments.of(network)
    tree = shapely.STRtree(seg.geoms)
    (pi, si), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    far = dist > max_snap_m
    if far.any():
        raise InvalidOptionError(
            f"modal filters {_examples(pi[far].tolist())} are more than {max_snap_m:g} m from any street "
            f"(nearest {dist[far].min():.0f} m); check their CRS and position."
        )
    return np.isin(seg.street, si)


def _check_od(od, network: StreetNetwork) -> pd.DataFrame:
    """A clean OD table (origin, destination, trips) or a clear error."""
    if not isinstance(od, pd.DataFrame):
        raise InvalidOptionError("od must be a DataFrame with columns origin, destination and trips (veh/day).")
    missing = [c for c in ("origin", "destination") if c not in od.columns]
    if missing:
        raise InvalidOptionError(f"od lacks column(s) {missing}; it needs origin, destination (node ids) and trips.")
    out = pd.DataFrame({"origin": od["origin"].to_numpy(), "destination": od["destination"].to_numpy()})
    if "trips" in od.columns:
        trips = pd.to_numeric(od["trips"], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(trips) | (trips < 0)
        if bad.any():
            raise InvalidOptionError(
                f"od.trips must be finite numbers >= 0; {int(bad.sum())} rows are not "
                f"(e.g. rows {_examples(np.flatnonzero(bad).tolist())})."
            )
    else:
        trips = np.ones(len(out))
    out["trips"] = trips
    nodes = network.nodes.index
    for col in ("origin", "destination"):
        vals = out[col].to_numpy()
        pos = nodes.get_indexer(vals)
        if (pos < 0).any():
            unknown = pd.unique(vals[pos < 0])
            raise InvalidOptionError(
                f"od.{col} names {len(unknown)} node id(s) that are not in the network "
                f"(e.g. {_examples(list(unknown))}); use ids of network.nodes.index (snap points first)."
            )
    return out


@dataclass(repr=False)
class Assignment:
    """All-or-nothing car assignment before and after a superblock scenario (from :func:`assign`).

    Attributes
    ----------
    network : StreetNetwork
    od : pandas.DataFrame
        One row per OD row given: ``origin``, ``destination``, ``trips`` (veh/day), ``origin_superblock``
        and ``destination_superblock`` (Int64, NA outside), ``time_before_min``, ``time_after_min``
        (NaN when no route), ``distance_before_m``, ``distance_after_m``, ``detour_time`` and
        ``detour_distance`` (after / before; NaN when before is 0 or no route), ``affected`` (time
        increased, or no route after), ``unroutable_after``, ``trips_after`` (car trips still driving
        and loaded after: affected trips times ``1 - evaporation - mode_shift``, with
        ``evaporation="elastic"`` times ``(t_after / t_before) ** time_elasticity - mode_shift``; 0
        without a route after), ``trips_evaporated``, ``trips_mode_shift``. ``origin_superblock`` is the superblock
        the origin node is inside (see the routing rule), not one it merely borders. From
        ``run_scenario(assignment="equilibrium", evaporation="elastic")`` the times of the rule are
        the equilibrium's (``time_before_congested_min``, ``time_after_congested_min``; see
        :mod:`~urbankit.superblocks.congestion`).
    flows : pandas.DataFrame
        Per edge row (index ``network.edges.index``): ``superblock_id`` (Int64), ``closed``,
        ``speed_before_kmh``, ``speed_after_kmh``, ``flow_before``, ``flow_after`` (veh/day); from
        an equilibrium assignment also ``congested_speed_before_kmh``/``congested_speed_after_kmh``.
    superblocks : GeoDataFrame or None
    params : dict
        The options used; ``evaporation`` is the flat share, or with ``evaporation="elastic"``
        (``evaporation_method``) the share of the affected routable trips that evaporated at
        ``time_elasticity``.
    timings : dict
        Seconds per phase.
    equilibrium : dict or None
        With ``run_scenario(..., assignment="equilibrium")``: the
        :class:`urbankit.assignment.EquilibriumResult` of ``"before"`` and ``"after"``.
    """

    network: StreetNetwork
    od: pd.DataFrame
    flows: pd.DataFrame
    superblocks: gpd.GeoDataFrame | None
    params: dict
    timings: dict = field(default_factory=dict)
    equilibrium: dict | None = None

    def __repr__(self) -> str:
        s = self.summary().iloc[0]
        return (
            f"Assignment(trips={s.trips:,.0f}, affected={s.trips_affected:,.0f}, vkm {s.vkm_before:,.0f} -> "
            f"{s.vkm_after:,.0f}, median detour {s.median_detour:.3f})"
        )

    def summary(self) -> pd.DataFrame:
        """One-row table of totals.

        ``trips``, ``trips_affected``, ``trips_unroutable_after``, ``trips_evaporated``,
        ``trips_mode_shift``, ``trips_after`` (veh/day); ``trips_unroutable_share`` (of all trips) and
        ``vkm_unroutable_before`` (their vehicle-km before: trips left without a route after are
        not a reduction); ``vkm_before`` and ``vkm_after`` (vehicle-km per day, from the edge flows:
        trips without a route after are not in them), ``vkm_after_with_unroutable`` (``vkm_after``
        plus the unroutable trips at their distance before); ``median_detour`` (trip-weighted
        median of the time ratio after / before over affected routable trips; 1 when none), ``median_detour_distance``,
        ``p90_detour``, ``mean_detour_all`` (trip-weighted mean time ratio over all routable trips).
        """
        od, fl = self.od, self.flows
        length_km = self.network.edges["length_m"].to_numpy(float) / 1000.0
        t = od["trips"].to_numpy(float)
        aff = od["affected"].to_numpy(bool) & ~od["unroutable_after"].to_numpy(bool)
        dt = od["detour_time"].to_numpy(float)
        dd = od["detour_distance"].to_numpy(float)
        med = _quantile(dt[aff], t[aff], 0.5) if aff.any() else 1.0
        unr = od["unroutable_after"].to_numpy(bool)
        vkm_unr = float(np.nansum(t[unr] * od["distance_before_m"].to_numpy(float)[unr]) / 1000.0)
        return pd.DataFrame(
            {
                "trips": [t.sum()],
                "trips_affected": [t[od["affected"].to_numpy(bool)].sum()],
                "trips_unroutable_after": [t[od["unroutable_after"].to_numpy(bool)].sum()],
                "trips_evaporated": [od["trips_evaporated"].sum()],
                "trips_mode_shift": [od["trips_mode_shift"].sum()],
                "trips_after": [od["trips_after"].sum()],
                "trips_unroutable_share": [t[unr].sum() / t.sum() if t.sum() > 0 else 0.0],
                "vkm_unroutable_before": [vkm_unr],
                "vkm_before": [float(fl["flow_before"].to_numpy() @ length_km)],
                "vkm_after": [float(fl["flow_after"].to_numpy() @ length_km)],
                "vkm_after_with_unroutable": [float(fl["flow_after"].to_numpy() @ length_km) + vkm_unr],
                "median_detour": [med],
                "median_detour_distance": [_quantile(dd[aff], t[aff], 0.5) if aff.any() else 1.0],
                "p90_detour": [_quantile(dt[aff], t[aff], 0.9) if aff.any() else 1.0],
                "mean_detour_all": [
                    float(np.average(dt[np.isfinite(dt)], weights=t[np.isfinite(dt)]))
                    if (np.isfinite(dt) & (t > 0)).any()
                    else 1.0
                ],
            }
        )

    def detour_distribution(
        self, bins=(1.0, 1.0001, 1.1, 1.25, 1.5, 2.0, 3.0, np.inf), *, by: str = "time"
    ) -> pd.DataFrame:
        """Trips (veh/day) by detour ratio class (``by="time"`` or ``"distance"``), routable trips only.

        The first class ``[1, 1.0001)`` holds unchanged trips.
        """
        col = {"time": "detour_time", "distance": "detour_distance"}.get(by)
        if col is None:
            raise InvalidOptionError(f"by={by!r} must be 'time' or 'distance'.")
        r = self.od[col].to_numpy(float)
        ok = np.isfinite(r)
        cut = pd.cut(pd.Series(r[ok]), bins=list(bins), right=False)
        tab = pd.Series(self.od["trips"].to_numpy(float)[ok]).groupby(cut, observed=False).sum()
        out = tab.rename("trips").to_frame()
        total = out["trips"].sum()
        out["share"] = out["trips"] / total if total > 0 else np.nan
        out.index.name = f"detour_{by}"
        return out


def _od_positions(network: StreetNetwork, od: pd.DataFrame):
    nodes = network.nodes.index
    return nodes.get_indexer(od["origin"].to_numpy()).astype(np.int64), nodes.get_indexer(
        od["destination"].to_numpy()
    ).astype(np.int64)


def _shares(evaporation, mode_shift, time_elasticity: float = TIME_ELASTICITY) -> _Response:
    """The checked response of affected trips (a clear error for bad options)."""
    if isinstance(evaporation, str):
        if evaporation != EVAPORATION_ELASTIC:
            raise InvalidOptionError(
                f"evaporation={evaporation!r} must be a share of the affected trips (0 to 1) or "
                f"{EVAPORATION_ELASTIC!r} (trips respond to their change in travel time)."
            )
        ms = _number("mode_shift", mode_shift, low=0.0, high=1.0)
        eps = _number("time_elasticity", time_elasticity, high=0.0)
        return _Response(0.0, ms, eps)
    ev = _number("evaporation", evaporation, low=0.0, high=1.0)
    ms = _number("mode_shift", mode_shift, low=0.0, high=1.0)
    if ev + ms > 1.0 + 1e-12:
        raise InvalidOptionError(
            f"evaporation ({ev:g}) + mode_shift ({ms:g}) exceed 1: they are shares of the affected trips."
        )
    return _Response(ev, ms)


def assign(
    network: StreetNetwork,
    od: pd.DataFrame,
    *,
    superblocks: gpd.GeoDataFrame | None = None,
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    closed_edges=None,
    modal_filters=None,
    evaporation: float | str = 0.0,
    mode_shift: float = 0.0,
    n_jobs: int | None = 1,
    time_elasticity: float = TIME_ELASTICITY,
) -> Assignment:
    """All-or-nothing assignment of car trips before and after the traffic-exclusion scenario.

    Parameters
    ----------
    network : StreetNetwork
        Usually the drive network (undirected networks are driven both ways).
    od : pandas.DataFrame
        ``origin`` and ``destination`` (node ids of ``network.nodes.index``) and ``trips``
        (veh/day, >= 0; 1 per row when absent), e.g. from :func:`gravity_demand`.
    superblocks : GeoDataFrame, optional
        Candidates (:func:`find_superblocks`) or own polygons: their internal streets are for access
        only after (the routing rule of the module docstring). None: no exclusion (closures only).
    internal_speed_kmh : float, default 10
        Speed on internal streets after (their own speed when lower).
    closed_edges : boolean mask per edge row, or edge index labels, optional
        Edge rows closed to cars after (give both directions to close a two-way street).
    modal_filters : points, optional
        GeoDataFrame/GeoSeries of points (any CRS), shapely Points or (x, y) pairs in the network
        CRS: each closes the nearest street segment (both directions) to cars after; trips may still
        reach its two ends.
    evaporation : float or "elastic", default 0
        Share of the affected trips (time increased) that no longer happen (traffic evaporation),
        or ``"elastic"``: each affected trip whose time rises from ``t0`` to ``t1`` keeps
        ``(t1 / t0) ** time_elasticity`` of its trips.
    mode_shift : float, default 0
        Share of the affected trips that move to walking, cycling or transit.
    n_jobs : int, optional
        Threads for the compiled Dijkstra searches and loading (default 1: one thread; -1: all
        available cores, at most numba's thread pool; the results do not depend on it).
    time_elasticity : float, default -0.5
        Elasticity of car traffic with respect to travel time, used with ``evaporation="elastic"``
        (:data:`~urbankit.superblocks.TIME_ELASTICITY`, Goodwin 1996: -0.5 short term, -1.0 long
        term); <= 0.

    Returns
    -------
    Assignment

    Raises
    ------
    InvalidOptionError
        OD table with unknown nodes or negative trips, shares outside [0, 1], bad options.
    """
    _check_network(network)
    od = _check_od(od, network)
    _shares(evaporation, mode_shift, time_elasticity)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    return _assign(
        network,
        od,
        superblocks=superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
        evaporation=evaporation,
        mode_shift=mode_shift,
        jobs=_jobs(n_jobs),
        time_elasticity=time_elasticity,
    )


def _assign(
    network,
    od,
    *,
    superblocks,
    internal_speed_kmh,
    closed_edges,
    modal_filters,
    evaporation,
    mode_shift,
    jobs,
    before=None,
    time_elasticity=TIME_ELASTICITY,
    through=False,
) -> Assignment:
    """:func:`assign` on checked input; ``before`` = (flows, steps, metres, through flows or None) when
    already computed. ``through``: also keep the edge flows before of the rows with neither end in a
    superblock (``_through_flows_before``, for :func:`~urbankit.superblocks.congestion.ratrun_vkm`),
    summed from the before trees."""
    t_start = time.perf_counter()
    response = _shares(evaporation, mode_shift, time_elasticity)
    sc = _scenario(
        network,
        superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
    )
    o, d = _od_positions(network, od)
    trips = od["trips"].to_numpy(float)
    n_edges = len(network.edges)
    n_origins = len(np.unique(o))
    if n_origins > 20_000:
        logger.warning(
            "%d distinct origins: the assignment runs one shortest-path search per origin and scenario; "
            "aggregate the OD table to zones (e.g. gravity_demand(zones_resolution=8)) to go faster",
            n_origins,
        )
    timings = {}
    t0 = time.perf_counter()
    if before is None:
        g0 = _build_graph(network, sc.steps_before)
        p0 = _Pass.make(g0, o, d, _FixedTrips(trips), n_edges)
        if through:
            node_sb = _inside_nodes(network, sc.labels)[0]
            flows_b, steps_b, metres_b, _, through_b = _execute(
                p0, len(od), jobs, split=(node_sb[o] < 0) & (node_sb[d] < 0)
            )
        else:
            (flows_b, steps_b, metres_b, _), through_b = _execute(p0, len(od), jobs), None
    else:  # computed by the caller (run_scenario's gravity pass)
        flows_b, steps_b, metres_b, through_b = before
    timings["assign_before_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    g1, a_sb, b_sb = _after_graph(network, sc, o, d)
    flows_a, steps_a, metres_a, trips_a = _execute(
        _Pass.make(g1, o, d, _AfterTrips(trips, steps_b, response), n_edges), len(od), jobs
    )
    timings["assign_after_s"] = time.perf_counter() - t0
    logger.info(
        "assigned %d OD rows (%.0f trips/day): before %.1f s, after %.1f s (layered graph of %d nodes)",
        len(od),
        trips.sum(),
        timings["assign_before_s"],
        timings["assign_after_s"],
        g1.n_exp,
    )
    out = _od_frame(od, a_sb, b_sb, steps_b, steps_a, metres_b, metres_a, trips_a, response)
    unr = out["unroutable_after"].to_numpy(bool)
    if unr.any():
        t_unr = trips[unr].sum()
        logger.warning(
            "%d OD rows (%.0f trips/day, %.1f%% of all) have a route before but none after the change (e.g. an "
            "origin or destination cut off by closures or one-way internal streets); they drove %.0f vehicle-km/day "
            "before, reported as vkm_unroutable_before and never counted as a reduction",
            int(unr.sum()),
            t_unr,
            100.0 * t_unr / max(trips.sum(), 1e-12),
            float(np.nansum(trips[unr] * metres_b[unr]) / 1000.0),
        )
    e = network.edges
    flows = pd.DataFrame(
        {
            "superblock_id": _int_na(sc.labels, e.index, "superblock_id"),
            "closed": sc.closed,
            "speed_before_kmh": e["speed_kmh"].to_numpy(float),
            "speed_after_kmh": sc.speed_after,
            "flow_before": flows_b,
            "flow_after": flows_a,
        },
        index=e.index,
    )
    shifted = out["affected"].to_numpy(bool) & ~unr
    t_shifted = float(trips[shifted].sum())
    params = {
        "internal_speed_kmh": internal_speed_kmh,
        # the flat share, or with "elastic" the share of the affected routable trips that evaporated
        "evaporation": response.evaporation
        if response.elasticity is None
        else (float(out["trips_evaporated"].sum()) / t_shifted if t_shifted > 0 else 0.0),
        "evaporation_method": response.method,
        "time_elasticity": response.elasticity,
        "mode_shift": mode_shift,
        "n_closed_edges": int(sc.closed.sum()),
        "n_superblocks": 0 if superblocks is None else len(superblocks),
        "layered_graph_nodes": g1.n_exp,
    }
    timings["assign_total_s"] = time.perf_counter() - t_start
    a = Assignment(network=network, od=out, flows=flows, superblocks=superblocks, params=params, timings=timings)
    a._through_flows_before = through_b
    return a


def _od_frame(od, a_sb, b_sb, steps_b, steps_a, metres_b, metres_a, trips_a, response: _Response) -> pd.DataFrame:
    out = od.copy()
    out["origin_superblock"] = _int_na(a_sb, out.index, "origin_superblock")
    out["destination_superblock"] = _int_na(b_sb, out.index, "destination_superblock")
    ok_b, ok_a = np.isfinite(steps_b), np.isfinite(steps_a)
    tb = np.where(ok_b, np.round(np.where(ok_b, steps_b, 0) * TIME_RESOLUTION_MIN, 3), np.nan)
    ta = np.where(ok_a, np.round(np.where(ok_a, steps_a, 0) * TIME_RESOLUTION_MIN, 3), np.nan)
    out["time_before_min"] = tb
    out["time_after_min"] = ta
    out["distance_before_m"] = metres_b
    out["distance_after_m"] = metres_a
    with np.errstate(divide="ignore", invalid="ignore"):
        out["detour_time"] = np.where(tb > 0, ta / tb, np.nan)
        out["detour_distance"] = np.where(metres_b > 0, metres_a / metres_b, np.nan)
    unroutable_after = ok_b & ~ok_a
    affected = ok_b & (~ok_a | (np.where(ok_a, steps_a, 0) > np.where(ok_b, steps_b, 0)))
    out["affected"] = affected
    out["unroutable_after"] = unroutable_after
    trips = out["trips"].to_numpy(float)
    _, ev, ms = response.shares(steps_b, steps_a)  # 0 outside the affected routable rows
    out["trips_after"] = trips_a
    out["trips_evaporated"] = trips * ev
    out["trips_mode_shift"] = trips * ms
    return out


def trip_paths(
    network: StreetNetwork,
    od: pd.DataFrame,
    *,
    superblocks: gpd.GeoDataFrame | None = None,
    scenario: str = "after",
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    closed_edges=None,
    modal_filters=None,
) -> list[np.ndarray]:
    """The edge rows of the route of every OD row, as :func:`assign` loads them.

    Uses the same routing graph and searches as :func:`assign` (same tie-breaking), then follows the
    predecessors one trip at a time: meant for checking and mapping individual routes, not for
    large tables.

    Parameters
    ----------
    network, od, superblocks, internal_speed_kmh, closed_edges, modal_filters
        As for :func:`assign`.
    scenario : {"before", "after"}, default "after"

    Returns
    -------
    list of numpy.ndarray
        Per OD row, the positions (``network.edges.iloc``) of its edges in driving order; empty for
        a trip from a node to itself; None when there is no route.
    """
    _check_network(network)
    if scenario not in ("before", "after"):
        raise InvalidOptionError(f"scenario={scenario!r} must be 'before' or 'after'.")
    od = _check_od(od, network)
    _number("internal_speed_kmh", internal_speed_kmh, low=0.0, strict_low=True)
    sc = _scenario(
        network,
        superblocks,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges,
        modal_filters=modal_filters,
    )
    o, d = _od_positions(network, od)
    if scenario == "before":
        g = _build_graph(network, sc.steps_before)
    else:
        g, _, _ = _after_graph(network, sc, o, d)
    start = g.starts(o)
    e1, e2 = g.ends(o, d)
    indptr, head, tail, cost = _csr_arrays(g)
    out: list = [None] * len(od)
    for root in np.unique(start[start >= 0]):
        rows = np.flatnonzero(start == root)
        dist, pred = _kernels.one_tree(int(root), indptr, head, cost)
        for r in rows:
            c1 = dist[e1[r]] if e1[r] >= 0 else np.inf
            c2 = dist[e2[r]] if e2[r] >= 0 else np.inf
            if not np.isfinite(min(c1, c2)):
                continue
            x = int(e2[r] if c2 < c1 else e1[r])
            arcs = []
            while x != root:
                arcs.append(int(pred[x]))
                x = int(tail[arcs[-1]])
            ed = g.arc_edge[np.asarray(arcs[::-1], dtype=np.int64)]
            out[r] = ed[ed >= 0]
    return out


# --------------------------------------------------------------------------------------------------
# demand
