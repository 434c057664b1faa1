"""Accessibility to services before and after a superblock scenario, by car and on foot.

Driving after follows the scenario's exact routing rule (:mod:`urbankit.superblocks`): from a node
inside superblock A a car may use A's internal streets to leave it, then the streets outside
superblocks, then the internal streets of the destination's superblock B (at
``internal_speed_kmh``); closed streets and modal filters are removed. The minutes from every node
to the nearest destination of each service are computed with one multi-source Dijkstra per service
on the reversed layered graph (every L1 copy joined to its L3 copy, so a trip within one
superblock may stay inside it), exact like the assignment's. Before: the plain drive network.

Walking: superblocks close streets to through *cars*, not to pedestrians; the walk network is the
same before and after, so walking minutes do not change (computed once and reported for both, so
the summary states it rather than omitting it).

Minutes are free-flow times (0.001-minute steps, like the assignment); destinations count at their
nearest node of the network.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from .._errors import InvalidOptionError
from ..network import TIME_RESOLUTION_MIN, StreetNetwork
from ._common import DEFAULT_INTERNAL_SPEED_KMH, _check_network, _per_node

logger = logging.getLogger(__name__)


@dataclasses.dataclass(repr=False)
class AccessibilityChange:
    """Minutes to services before and after (from :func:`accessibility_change`).

    Attributes
    ----------
    nodes : pandas.DataFrame
        Per node (index ``node_id``), per service ``<service>_before_min``, ``<service>_after_min``
        and ``<service>_change_min`` (after - before; NaN where unreachable).
    minutes : tuple of float
        The thresholds of :meth:`summary`.
    mode : str
        ``"drive"`` or ``"walk"``.
    population : numpy.ndarray
        Residents per node used as weights.
    """

    nodes: pd.DataFrame
    minutes: tuple
    mode: str
    population: np.ndarray
    services: list

    def summary(self) -> pd.DataFrame:
        """Per service: share of residents within each threshold before and after, mean change.

        Returns
        -------
        pandas.DataFrame
            One row per service, then a row ``"all"`` (mean over services): ``mode``, ``service``,
            ``share_within_<m>min_before``/``_after`` per threshold, ``mean_change_min``
            (resident-weighted mean change over residents who reach the service both times).
        """
        rows = []
        w = self.population
        tot = w.sum()
        for s in self.services:
            b = self.nodes[f"{s}_before_min"].to_numpy(float)
            a = self.nodes[f"{s}_after_min"].to_numpy(float)
            row = {"mode": self.mode, "service": s}
            for m in self.minutes:
                row[f"share_within_{m:g}min_before"] = float(w[b <= m].sum() / tot) if tot > 0 else np.nan
                row[f"share_within_{m:g}min_after"] = float(w[a <= m].sum() / tot) if tot > 0 else np.nan
            ok = np.isfinite(a) & np.isfinite(b) & (w > 0)
            row["mean_change_min"] = float(np.average(a[ok] - b[ok], weights=w[ok])) if ok.any() else np.nan
            rows.append(row)
        out = pd.DataFrame(rows)
        if len(out):
            allrow = out.drop(columns=["mode", "service"]).mean(numeric_only=True).to_dict()
            out = pd.concat([out, pd.DataFrame([{"mode": self.mode, "service": "all", **allrow}])], ignore_index=True)
        return out


def _service_nodes(network: StreetNetwork, destinations) -> dict:
    import shapely

    if destinations is None or len(destinations) == 0:
        raise InvalidOptionError("destinations is empty: accessibility needs destinations with a 'service' column.")
    if "service" not in destinations.columns:
        raise InvalidOptionError("destinations lack the column 'service'; build them with urbankit.find_destinations.")
    if destinations.crs is None:
        raise InvalidOptionError("destinations have no CRS; set it with .set_crs('EPSG:4326').")
    pts = shapely.centroid(destinations.to_crs(network.crs).geometry.to_numpy())
    _, pos = network.nearest_nodes(shapely.get_coordinates(pts))
    svc = destinations["service"].astype(str).to_numpy()
    return {s: np.unique(pos[svc == s]) for s in sorted(set(svc))}


def _minutes_to(graph, starts: np.ndarray, ends_by_service: dict) -> dict:
    rev = graph.csr.T.tocsr()
    out = {}
    for s, ends in ends_by_service.items():
        ends = ends[ends >= 0]
        if len(ends) == 0:
            out[s] = np.full(len(starts), np.nan)
            continue
        dist = dijkstra(rev, directed=True, indices=ends, min_only=True)
        d = np.where(starts >= 0, dist[np.maximum(starts, 0)], np.inf)
        out[s] = np.where(np.isfinite(d), np.floor(d) * TIME_RESOLUTION_MIN, np.nan)
    return out


def accessibility_change(
    network: StreetNetwork,
    destinations,
    *,
    superblocks=None,
    population=None,
    minutes=(10.0, 15.0),
    internal_speed_kmh: float = DEFAULT_INTERNAL_SPEED_KMH,
    closed_edges=None,
    modal_filters=None,
) -> AccessibilityChange:
    """Minutes from every node to the nearest destination of each service, before and after.

    Parameters
    ----------
    network : StreetNetwork
        A drive network (the scenario's routing rule applies after) or a walk/bike network
        (unchanged by superblocks: after equals before).
    destinations : GeoDataFrame
        Points with a ``service`` column (:func:`urbankit.find_destinations`).
    superblocks : GeoDataFrame, optional
        Candidates (:func:`find_superblocks` on this drive network); None: no change.
    population : PopulationEstimate or Series, optional
        Residents per node, the weights of :meth:`AccessibilityChange.summary` (default 1 per node).
    minutes : sequence of float, default (10, 15)
        Thresholds of the summary.
    internal_speed_kmh, closed_edges, modal_filters
        As for :func:`assign`.

    Returns
    -------
    AccessibilityChange

    Raises
    ------
    InvalidOptionError
        Destinations without ``service`` or CRS, bad thresholds.
    """
    from .assign import _scenario
    from .congestion import _join_l1_l3
    from .graph import _build_graph

    _check_network(network)
    mins = tuple(float(m) for m in np.atleast_1d(minutes))
    if not mins or any(not np.isfinite(m) or m <= 0 for m in mins):
        raise InvalidOptionError(f"minutes={minutes!r} must be positive numbers of minutes, e.g. (10, 15).")
    pop = _per_node(population, network, "population")
    pop = np.ones(len(network.nodes)) if pop is None else pop
    svc = _service_nodes(network, destinations)
    n = len(network.nodes)
    allpos = np.arange(n)
    mode = getattr(network, "mode", "drive")
    changes = network.directed and (superblocks is not None or closed_edges is not None or modal_filters is not None)
    sc = _scenario(
        network,
        superblocks if changes else None,
        internal_speed_kmh=internal_speed_kmh,
        closed_edges=closed_edges if changes else None,
        modal_filters=modal_filters if changes else None,
    )
    g0 = _build_graph(network, sc.steps_before)
    before = _minutes_to(g0, allpos, svc)
    if changes:
        sbs = np.unique(sc.labels[sc.labels >= 0])
        g1 = _build_graph(network, sc.steps_after, ~sc.closed, sc.labels, sbs, sbs)
        g1 = _join_l1_l3(g1)
        starts = g1.starts(allpos)
        ends = {s: g1.ends(d, d)[0] for s, d in svc.items()}  # L3(d, B), or d outside superblocks
        after = _minutes_to(g1, starts, ends)
    else:
        after = before
    cols = {}
    for s in svc:
        cols[f"{s}_before_min"] = before[s]
        cols[f"{s}_after_min"] = after[s]
        cols[f"{s}_change_min"] = after[s] - before[s]
    nodes = pd.DataFrame(cols, index=network.nodes.index)
    logger.info("accessibility before/after (%s): %d services, %d nodes", mode, len(svc), n)
    return AccessibilityChange(nodes=nodes, minutes=mins, mode=str(mode), population=pop, services=list(svc))
