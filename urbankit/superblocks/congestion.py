"""Capacity-restrained (equilibrium) assignment of a superblock scenario, and rat-running.

``run_scenario(..., assignment="equilibrium")`` replaces the all-or-nothing edge flows before and
after by static user-equilibrium flows (Wardrop): bi-conjugate Frank-Wolfe with BPR link delays of
:mod:`urbankit.assignment` (capacities by road class and lanes: :func:`urbankit.assignment.link_performance`),
loaded on the exact routing graphs of the scenario: the plain network before, the layered graph of
the no-through-traffic rule after (internal streets at ``internal_speed_kmh``, closed streets
removed), so the rule holds exactly at every iteration. Each phase starts from the scenario's own
all-or-nothing flows (free-flow times, same trips, same routing graph) as its first iterate.

Daily trips and hourly capacities: the day's OD table is assigned as its peak hour,
:data:`PEAK_HOUR_SHARE` (0.10, the design-hour ``K`` factor of HCM/AASHTO for urban roads) of the
daily trips, and the equilibrium flows are scaled back to the day (divided by the same share), so
daily flows keep their unit (veh/day) and congestion is that of the peak hour.

The per-trip columns (times, distances, detours, which trips are affected) stay those of the
all-or-nothing assignment at free-flow times; the link flows, and so vehicle-km and all effects, are
the equilibrium's, and the effects use its congested speeds (``congested_speed_before_kmh``/
``congested_speed_after_kmh`` of ``assignment.flows``: length / BPR time at the peak-hour flows).
Convergence (relative gap, iterations) is reported in the assignment's ``params``.

Elastic evaporation (``evaporation="elastic"``) is consistent with the equilibrium: the trips after
are the fixed point of the elastic rule of the all-or-nothing assignment (the same shares, mode
shift and unroutable rows) at the OD times of the equilibrium link times before and after
(shortest paths on the congested times of the final Frank-Wolfe iterate, same routing graphs;
``time_before_congested_min``/``time_after_congested_min`` of ``assignment.od``), found by
successive averages of the demand, each equilibrium warm-started from the previous flows
(:func:`_elastic_demand`); ``demand_iterations`` and ``demand_gap`` in ``params`` and the summary
(1 and 0 with a flat evaporation, whose trips after do not depend on times).

Rat-running: ``vkm_ratrun_before`` is the vehicle-km driven before, on streets that become
internal to a superblock, by trips with neither end inside any superblock (all-or-nothing at
free-flow times): through traffic the scenario removes, a lower bound (a trip from one superblock
crossing another is not counted).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from .._errors import InvalidOptionError
from ..network import TIME_RESOLUTION_MIN

logger = logging.getLogger(__name__)

#: share of the daily trips in the peak hour that the equilibrium assignment loads
PEAK_HOUR_SHARE = 0.10
ASSIGNMENTS = ("aon", "equilibrium")
#: elastic demand under equilibrium: stop when the total trips after change by less than this (relative)
DEMAND_GAP = 1e-3
#: elastic demand under equilibrium: at most this many equilibria after (demand iterations)
DEMAND_MAX_ITER = 20


#: self-regulated averaging of the elastic demand (Liu, He & He 2009): the inverse step grows by this
#: when the residual grew (the demand oscillates) ...
SRA_GROW_BIG = 1.5
#: ... and by this when it shrank; the first step is a half
SRA_GROW_SMALL = 0.2


class _LayeredLoader:
    """All-or-nothing loads per edge row on a routing graph: costs per edge row in, loads out."""

    def __init__(self, graph, starts: np.ndarray, ends: np.ndarray, trips: np.ndarray, n_edges: int):
        from ..assignment import ShortestPathLoader

        csr = graph.csr
        src = np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr))
        dst = csr.indices.astype(np.int64)
        # arcs in CSR order: graph.arc_edge is in the same (sorted, deduplicated) order
        self.arc_edge = graph.arc_edge
        ok = (starts >= 0) & (ends >= 0) & (trips > 0)
        self.unroutable = float(trips[~ok & (trips > 0)].sum())
        self.inner = ShortestPathLoader(src, dst, starts[ok], ends[ok], trips[ok], n_nodes=csr.shape[0])
        self.n_edges = n_edges
        self.transition = self.arc_edge < 0

    @property
    def unrouted_trips(self) -> float:
        return self.unroutable + self.inner.unrouted_trips

    def __call__(self, cost: np.ndarray) -> np.ndarray:
        arc_cost = np.where(self.transition, 1e-9, cost[np.maximum(self.arc_edge, 0)] + 1e-9)
        loads = self.inner(arc_cost)
        good = ~self.transition
        return np.bincount(self.arc_edge[good], weights=loads[good], minlength=self.n_edges)


def _ends_single(graph, o: np.ndarray, d: np.ndarray) -> np.ndarray:
    """One end node per trip: L3(d, B), or L2(d) outside superblocks (see :func:`_join_l1_l3`)."""
    t1, _ = graph.ends(o, d)
    return t1


def _join_l1_l3(graph):
    """The layered graph with an arc L1(x, A) -> L3(x, A) wherever both copies exist.

    Only trips starting inside A reach L1(A), and L3(A) leads nowhere but to ends in A, so the arc
    adds no path to another superblock: a trip from A to a node of A may now end at L3(d, A) through
    it, with the cost of its L1 path, and every trip has the single end L3(d, B) (or L2(d)).
    """
    from scipy.sparse import csr_matrix

    from ._common import _HOP

    both = np.intersect1d(graph.l1_keys, graph.l3_keys)
    if len(both) == 0:
        return graph
    i1 = graph.n + np.searchsorted(graph.l1_keys, both)
    i3 = graph.n + len(graph.l1_keys) + np.searchsorted(graph.l3_keys, both)
    csr = graph.csr
    src = np.r_[np.repeat(np.arange(csr.shape[0]), np.diff(csr.indptr)), i1]
    dst = np.r_[csr.indices.astype(np.int64), i3]
    w = np.r_[csr.data, np.full(len(i1), _HOP)]
    ed = np.r_[graph.arc_edge, np.full(len(i1), -1)]
    order = np.lexsort((dst, src))
    src, dst, w, ed = src[order], dst[order], w[order], ed[order]
    n = csr.shape[0]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    new = csr_matrix((w, dst, indptr), shape=(n, n))
    import dataclasses

    return dataclasses.replace(graph, csr=new, arc_edge=ed, arc_len=np.zeros(len(ed)))


def _phase_graph(network, sc, o, d, phase: str):
    """The routing graph of a phase (the loader's: after, L1 joined to L3), its free-flow link
    minutes, and the start and end node of every OD row."""
    from .graph import _after_graph, _build_graph

    if phase == "before":
        g = _build_graph(network, sc.steps_before)
        free = sc.steps_before * TIME_RESOLUTION_MIN
    else:
        g, _, _ = _after_graph(network, sc, o, d)
        g = _join_l1_l3(g)
        free = sc.steps_after * TIME_RESOLUTION_MIN
    return g, free, g.starts(o), _ends_single(g, o, d)


def _od_times(graph, starts: np.ndarray, ends: np.ndarray, link_time: np.ndarray, jobs: int = 1) -> np.ndarray:
    """Shortest time of every OD row (``starts``/``ends``: nodes of ``graph``, -1: none) at the link
    times ``link_time`` (one per edge row; layer transitions cost nothing); inf without a route.

    One compiled search per start node (:func:`urbankit.superblocks._kernels.search_batch`, no trees).
    """
    from . import _kernels
    from .assign import _csr_arrays

    indptr, head, tail, _ = _csr_arrays(graph)
    cost = np.where(graph.arc_edge < 0, 0.0, np.asarray(link_time, float)[np.maximum(graph.arc_edge, 0)])
    out = np.full(len(starts), np.inf)
    ok = (starts >= 0) & (ends >= 0)
    rows = np.flatnonzero(ok)
    if len(rows) == 0:
        return out
    rows = rows[np.argsort(starts[rows], kind="stable")]
    roots, first = np.unique(starts[rows], return_index=True)
    bounds = np.r_[first, len(rows)].astype(np.int64)
    no_tree = np.zeros((0, 0), dtype=head.dtype)
    with _kernels.threads(jobs):
        dist, _, _ = _kernels.search_batch(
            roots.astype(np.int64), bounds, ends[rows].astype(np.int64), np.full(len(rows), -1, dtype=np.int64),
            indptr, head, tail, cost, graph.arc_len, False, no_tree, no_tree, np.zeros(0, dtype=np.int64),
        )  # fmt: skip
    out[rows] = dist
    return out


def _elastic_trips_after(trips: np.ndarray, time_before: np.ndarray, time_after: np.ndarray, response) -> np.ndarray:
    """Trips still driving after of every OD row at the given OD times: the rule of the all-or-nothing
    assignment (:class:`~urbankit.superblocks.assign._AfterTrips`): the share ``response`` keeps,
    0 without a route after."""
    keep = response.shares(time_before, time_after)[0]
    return np.where(np.isfinite(time_after), np.asarray(trips, float) * keep, 0.0)


def _solve(network, lp, capacity, graph, free, starts, ends, trips, *, rel_gap, max_iter, initial, phase):
    """One Frank-Wolfe equilibrium of daily ``trips`` (assigned as their peak hour) on ``graph``;
    returns (result, loader, AssignmentConvergenceWarnings caught)."""
    import warnings

    from ..assignment import AssignmentConvergenceWarning, equilibrium_assignment

    n_edges = len(network.edges)
    loader = _LayeredLoader(graph, starts, ends, np.asarray(trips, float) * PEAK_HOUR_SHARE, n_edges)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AssignmentConvergenceWarning)
        res = equilibrium_assignment(
            network.nodes.index.get_indexer(network.edges["u"].to_numpy()),
            network.nodes.index.get_indexer(network.edges["v"].to_numpy()),
            free,
            capacity,
            None,
            loader=loader,
            rel_gap=rel_gap,
            max_iter=max_iter,
            alpha=lp["alpha"].to_numpy(float),
            beta=lp["beta"].to_numpy(float),
            initial_flow=initial,
        )
    for w in caught:
        logger.warning("%s (%s)", w.message, phase)
    return res, loader, caught


def equilibrium_flows(
    network,
    sc,
    o,
    d,
    trips_before,
    trips_after,
    *,
    rel_gap=1e-4,
    max_iter=500,
    initial=None,
    response=None,
    jobs: int = 1,
):
    """Equilibrium edge flows (veh/day) before and after, and a convergence record.

    ``sc`` is the scenario of :func:`~urbankit.superblocks.assign._scenario`; ``o``, ``d`` node
    positions of the OD rows; ``trips_before``/``trips_after`` daily trips per row; ``initial``,
    optional, ``{"before": ..., "after": ...}`` daily edge flows of the scenario's all-or-nothing
    assignment of the same trips at free-flow times on the same routing graphs: the first
    Frank-Wolfe iterate (saves one loading per phase).

    ``response``, optional, the elastic response of :func:`~urbankit.superblocks.assign._shares`
    (``evaporation="elastic"``): the trips after are then the fixed point of the elastic rule at the
    equilibrium OD times before and after (:func:`_elastic_demand`; ``trips_after`` is its start);
    the record then holds ``demand_iterations``, ``demand_gap``, ``demand_converged`` and, under
    ``_trips_after``/``_time_before_min``/``_time_after_min``, the trips and OD times per row.
    """
    from ..assignment import link_performance

    if not network.directed:
        raise InvalidOptionError(
            "assignment='equilibrium' needs a drive network (one edge row per direction): build it with "
            "build_network(extract, 'drive')."
        )
    lp = link_performance(network)
    cap = lp["capacity_vph"].to_numpy(float)
    elastic = response is not None and response.elasticity is not None
    out = {}
    flows = {}
    for phase, trips in (("before", trips_before), ("after", trips_after)):
        t0 = time.perf_counter()
        g, free, starts, ends = _phase_graph(network, sc, o, d, phase)
        capacity = np.where(sc.closed, 1e-6, cap) if phase == "after" else cap
        start_flow = None if initial is None else np.asarray(initial[phase], float) * PEAK_HOUR_SHARE
        kw = {"rel_gap": rel_gap, "max_iter": max_iter, "phase": phase}
        if phase == "after" and elastic:
            res, extra = _elastic_demand(
                network, lp, capacity, g, free, starts, ends, trips_before, trips, response,
                time_before=out["_time_before_min"], initial=start_flow, jobs=jobs, **kw,
            )  # fmt: skip
            out.update(extra)
        else:
            res, _, _ = _solve(network, lp, capacity, g, free, starts, ends, trips, initial=start_flow, **kw)
            if phase == "before" and elastic:
                out["_time_before_min"] = _od_times(g, starts, ends, res.congested_time, jobs)
        flows[phase] = res.flow / PEAK_HOUR_SHARE
        out[f"rel_gap_{phase}"] = float(res.rel_gap)
        out.setdefault(f"iterations_{phase}", len(res.iterations))
        out[f"converged_{phase}"] = bool(res.converged)
        out[f"equilibrium_{phase}_s"] = time.perf_counter() - t0
        out[f"_result_{phase}"] = res
        logger.info("equilibrium %s: %s in %.1f s", phase, res.describe(), out[f"equilibrium_{phase}_s"])
    return flows["before"], flows["after"], out


def _elastic_demand(
    network, lp, capacity, graph, free, starts, ends, trips, trips_after, response, *, time_before, initial,
    rel_gap, max_iter, phase, jobs,
):  # fmt: skip
    """The after equilibrium with elastic trips: the fixed point ``q = F(q)`` of
    ``F(q)_i = trips_i * min(1, (T_after_i(q) / T_before_i) ** eps)`` (the rule of
    :func:`_elastic_trips_after`), with ``T`` the OD times at the equilibrium link times.

    Self-regulated averaging of the demand (successive averages whose steps shrink fast only while
    the demand oscillates; Liu, H. X., He, X. & He, B. (2009), "Method of successive weighted
    averages (MSWA) and self-regulated averaging schemes for solving stochastic user equilibrium
    problem", *Networks and Spatial Economics* 9, 485-503): from ``q_k`` (start: the all-or-nothing
    ``trips_after``), equilibrate it, skim ``T_after``, ``q_{k+1} = q_k + s_k (F(q_k) - q_k)`` with
    ``1 / s_k`` starting at 2 and growing by :data:`SRA_GROW_BIG` after an iteration whose residual
    ``|F(q_k) - q_k|`` grew, else by :data:`SRA_GROW_SMALL`. Frank-Wolfe restarts from a feasible
    flow of ``q_{k+1}``: the last equilibrium flows mixed with the all-or-nothing loading of
    ``F(q_k)`` at their link times (same step ``s_k``). Stops when the relative difference of the
    total trips after of ``q_k`` and ``F(q_k)`` (``demand_gap``) is below :data:`DEMAND_GAP`, or after
    :data:`DEMAND_MAX_ITER` equilibria (with an AssignmentConvergenceWarning). Returns the last
    equilibrium (of ``q_k``, the trips after reported) and the record entries.

    With ``mode_shift`` > 0 the rule jumps where a time starts to rise (the shifted share applies to
    trips whose time rose only): a row at that jump has no exact fixed point, and is averaged.
    """
    import warnings

    from ..assignment import AssignmentConvergenceWarning

    q = np.asarray(trips_after, float).copy()
    x0 = initial
    fw_iterations = 0
    gap = np.inf
    inv_step, last_residual = 2.0, np.inf
    k = 0
    for k in range(1, DEMAND_MAX_ITER + 1):
        res, _, _ = _solve(
            network, lp, capacity, graph, free, starts, ends, q, initial=x0, rel_gap=rel_gap, max_iter=max_iter,
            phase=f"{phase}, demand iteration {k}",
        )  # fmt: skip
        fw_iterations += len(res.iterations)
        t_after = _od_times(graph, starts, ends, res.congested_time, jobs)
        target = _elastic_trips_after(trips, time_before, t_after, response)
        total = float(q.sum())
        gap = abs(float(target.sum()) - total) / total if total > 0 else 0.0
        residual = float(np.linalg.norm(target - q))
        logger.info(
            "elastic demand iteration %d: %.1f trips after, relative change %.2e (largest of a row %.2e)",
            k,
            total,
            gap,
            float(np.max(np.abs(target - q) / np.where(trips > 0, trips, np.inf), initial=0.0)),
        )
        if gap < DEMAND_GAP or k == DEMAND_MAX_ITER:
            break
        if k > 1:
            inv_step += SRA_GROW_BIG if residual >= last_residual else SRA_GROW_SMALL
        last_residual = residual
        step = 1.0 / inv_step
        # all-or-nothing flows of the target demand at the current link times: with (1 - step) of the
        # equilibrium flows, a feasible flow of the next demand
        y = _LayeredLoader(graph, starts, ends, target * PEAK_HOUR_SHARE, len(network.edges))(res.congested_time)
        x0 = (1.0 - step) * res.flow + step * y
        q = q + step * (target - q)
    converged = gap < DEMAND_GAP
    if not converged:
        warnings.warn(
            f"elastic demand stopped after {k} equilibria with a relative change of the trips after of "
            f"{gap:.2e} (target {DEMAND_GAP:.0e}); the trips after are not yet consistent with the times.",
            AssignmentConvergenceWarning,
            stacklevel=4,
        )
    extra = {
        "demand_iterations": k,
        "demand_gap": float(gap),
        "demand_converged": bool(converged),
        "iterations_after": fw_iterations,
        "_trips_after": q,
        "_time_after_min": t_after,
    }
    return res, extra


def ratrun_vkm(network, sc, o, d, trips, a_sb, b_sb, jobs: int, through_flows=None) -> np.ndarray:
    """Vehicle-km before on the internal streets of each superblock (array by superblock id) of
    trips with neither end in any superblock (all-or-nothing at free-flow times).

    ``through_flows``, optional: the edge flows before of those trips, summed from the trees of the
    before assignment (:func:`~urbankit.superblocks.assign._assign` with ``through=True``); without
    them the through trips are routed here.
    """
    from .assign import _execute, _FixedTrips, _Pass
    from .graph import _build_graph

    n_sb = int(sc.labels.max()) + 1 if (sc.labels >= 0).any() else 0
    through = (a_sb < 0) & (b_sb < 0) & (np.asarray(trips, float) > 0)
    internal = sc.labels >= 0
    if not through.any() or not internal.any():
        return np.zeros(n_sb)
    if through_flows is not None:
        flows = np.asarray(through_flows, float)
    else:
        g0 = _build_graph(network, sc.steps_before)
        # only the through rows: the others would load nothing (one Dijkstra per start of a through trip)
        sel = np.flatnonzero(through)
        w = np.asarray(trips, float)[sel]
        flows, *_ = _execute(_Pass.make(g0, o[sel], d[sel], _FixedTrips(w), len(network.edges)), len(sel), jobs)
    km = network.edges["length_m"].to_numpy(float) / 1000.0
    return np.bincount(sc.labels[internal], weights=flows[internal] * km[internal], minlength=n_sb)
