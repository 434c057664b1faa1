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

The per-trip columns (times, distances, detours, which trips are affected, evaporation) stay those
of the all-or-nothing assignment at free-flow times; the link flows, and so vehicle-km and all
effects, are the equilibrium's. Convergence (relative gap, iterations) is reported in the
assignment's ``params``.

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


def equilibrium_flows(network, sc, o, d, trips_before, trips_after, *, rel_gap=1e-4, max_iter=500, initial=None):
    """Equilibrium edge flows (veh/day) before and after, and a convergence record.

    ``sc`` is the scenario of :func:`~urbankit.superblocks.assign._scenario`; ``o``, ``d`` node
    positions of the OD rows; ``trips_before``/``trips_after`` daily trips per row; ``initial``,
    optional, ``{"before": ..., "after": ...}`` daily edge flows of the scenario's all-or-nothing
    assignment of the same trips at free-flow times on the same routing graphs: the first
    Frank-Wolfe iterate (saves one loading per phase).
    """
    from ..assignment import AssignmentConvergenceWarning, equilibrium_assignment, link_performance
    from .graph import _after_graph, _build_graph

    if not network.directed:
        raise InvalidOptionError(
            "assignment='equilibrium' needs a drive network (one edge row per direction): build it with "
            "build_network(extract, 'drive')."
        )
    lp = link_performance(network)
    cap = lp["capacity_vph"].to_numpy(float)
    n_edges = len(network.edges)
    out = {}
    flows = {}
    for phase, trips in (("before", trips_before), ("after", trips_after)):
        t0 = time.perf_counter()
        if phase == "before":
            g = _build_graph(network, sc.steps_before)
            free = sc.steps_before * TIME_RESOLUTION_MIN
            starts, ends = g.starts(o), _ends_single(g, o, d)
        else:
            g, _, _ = _after_graph(network, sc, o, d)
            g = _join_l1_l3(g)
            free = sc.steps_after * TIME_RESOLUTION_MIN
            starts, ends = g.starts(o), _ends_single(g, o, d)
        capacity = np.where(sc.closed, 1e-6, cap) if phase == "after" else cap
        loader = _LayeredLoader(g, starts, ends, np.asarray(trips, float) * PEAK_HOUR_SHARE, n_edges)
        import warnings

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
                initial_flow=None if initial is None else np.asarray(initial[phase], float) * PEAK_HOUR_SHARE,
            )
        for w in caught:
            logger.warning("%s (%s)", w.message, phase)
        flows[phase] = res.flow / PEAK_HOUR_SHARE
        out[f"rel_gap_{phase}"] = float(res.rel_gap)
        out[f"iterations_{phase}"] = len(res.iterations)
        out[f"converged_{phase}"] = bool(res.converged)
        out[f"equilibrium_{phase}_s"] = time.perf_counter() - t0
        out[f"_result_{phase}"] = res
        logger.info("equilibrium %s: %s in %.1f s", phase, res.describe(), out[f"equilibrium_{phase}_s"])
    return flows["before"], flows["after"], out


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
