"""Routing engines of the accessibility figures: scipy's Dijkstra or pandana's contraction hierarchy.

Both engines compute the same thing: the minutes from every street node to every destination
(its node's network minutes plus its own snap minutes, the straight line to the door walked), up
to the largest threshold, exact on the 0.001-min grid of :func:`urbankit.networks.quantize_minutes`.
``"scipy"`` runs bounded Dijkstra searches from the destinations against the edge direction
(:func:`urbankit.accessibility.reach_table`); ``"pandana"`` asks pandana's C++ core (this module).

How the pandana engine maps urbankit's model onto pandana
---------------------------------------------------------
* **Snap minutes.** pandana attaches a point to its nearest node at no cost. urbankit adds the
  straight-line walk to the door, so every target with non-zero snap minutes becomes a *leaf* node
  of its own, joined to its street node by one edge of its snap minutes (directed from the street
  node to the leaf on directed networks). A leaf is a dead end, so no path passes through it, and
  pandana's distance to the leaf is exactly the network minutes plus the snap minutes. Targets on a
  node (snap 0) sit on the node itself.
* **Exact integers.** The impedance handed to pandana is the number of 0.001-min steps (an integer
  per edge). pandana multiplies impedances by 1000 and truncates to integers, so its sums are exact,
  and every radius is a whole number of steps (exactly representable in the single-precision float
  pandana takes), so its ``<=`` boundary is the grid value itself.
* **Direction.** pandana searches *forward* from each node: on a directed (drive) network built
  with ``twoway=False`` that is the time from the node to the destination, the same quantity the
  scipy engine gets by searching from the destination against the edge direction. Walk and bike
  networks are passed with ``twoway=True``. Parallel edges are reduced to the fastest.
* **Unreached.** pandana reports a missing POI as -1 (``nearest_pois`` then fills its cap value);
  this engine reads pandana's raw arrays and never turns a missing POI into a time: beyond the
  largest threshold stays NaN.
* **Nearest-k and the reach table.** Destinations are POI categories (one per service);
  pandana's ``set_pois``/``nearest_pois`` core (``initialize_category``,
  ``find_all_nearest_pois``) returns for every node its nearest POIs within the largest threshold
  with their ids. Asked for as many POIs as any node has within the threshold (found by growing
  ``max_items`` until no node fills the last slot), that is every (node, destination, minutes) row
  of the reach table the scipy engine produces; nearest-k minutes, counts and gravity then come out
  of the same shared :func:`urbankit.accessibility.node_metrics`.
* **Counts and sums within a threshold** with pandana's ``set``/``aggregate`` and its decays:
  :func:`aggregate_pandana`, behind :func:`urbankit.aggregate`.

pandana's aggregations (from its ``accessibility.cpp``)
--------------------------------------------------------
For a node and a radius ``r``, over every item (value ``v``) whose network distance ``d <= r``:
``flat`` weight 1, ``linear`` weight ``1 - d / r``, ``exp`` weight ``exp(-d / r)``; ``sum`` adds
``weight * v``; ``mean`` is that sum divided by the number of items (the mean of the decayed values,
not a weighted average); ``count`` the number of items; ``min``/``max`` the smallest/largest ``v``
and ``std`` the population standard deviation of ``v`` (no decay for those three). pandana passes
values through single precision (``float``) in sums, minima and maxima.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import InvalidOptionError
from .street import TIME_RESOLUTION_MIN, StreetNetwork, _quiet_stdout

#: the routing engines of the accessibility figures
ENGINES = ("scipy", "pandana")
#: the engine used when none is given: the faster one in ``make bench`` (benchmarks/results_accessibility.md,
#: "Engines"): scipy, in every case. pandana's contraction hierarchy is slow to build on regular grids
#: (minutes for 10,000 nodes) and its POI queries slower than the bounded searches on dense city centres.
DEFAULT_ENGINE = "scipy"

#: combines (node position, snap steps) into one sortable integer (snap steps stay far below it)
_KEY_BASE = np.int64(1) << 32

AGGREGATIONS = ("sum", "mean", "min", "max", "std", "count")
DECAYS = ("flat", "linear", "exp")


def check_engine(engine) -> str:
    """The engine name to use (``None``: :data:`DEFAULT_ENGINE`); raise a clear error otherwise.

    >>> check_engine(None) in ENGINES
    True
    """
    if engine is None:
        return DEFAULT_ENGINE
    if not isinstance(engine, str) or engine not in ENGINES:
        raise InvalidOptionError(
            f"engine={engine!r} is not one of {ENGINES}; pick one of them (or None for the default)."
        )
    return engine


def radius_steps(minutes: float) -> int:
    """The largest whole number of 0.001-min steps within ``minutes`` (as the scipy engine's bound).

    >>> radius_steps(30), radius_steps(0.7), radius_steps(12.3456)
    (30000, 700, 12346)
    """
    return int(np.floor(float(minutes) / TIME_RESOLUTION_MIN + 0.5 + 1e-9))


def _edge_steps(net: StreetNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge end positions and whole 0.001-min steps, parallel edges reduced to the fastest (kept
    for the life of the network object)."""
    cached = net._derived.get("pandana_edges")
    if cached is not None:
        return cached
    nodes = net.nodes.index
    u = nodes.get_indexer(net.edges["u"].to_numpy())
    v = nodes.get_indexer(net.edges["v"].to_numpy())
    steps = np.rint(net.edges["time_min"].to_numpy(float) / TIME_RESOLUTION_MIN).astype(np.int64)
    if not net.directed:
        u, v = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((steps, v, u))
    u, v, steps = u[order], v[order], steps[order]
    first = np.ones(len(u), bool)
    first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    keep = first & (u != v)
    out = net._derived["pandana_edges"] = (u[keep], v[keep], steps[keep])
    return out


@dataclass
class TargetNetwork:
    """A pandana network of a street network plus one leaf node per (node, snap minutes) pair.

    Node ids are positions: ``0 .. n-1`` the street nodes (in ``net.nodes`` order), ``n ..`` the
    leaves. ``target[i]`` is the pandana node of target ``i``.
    """

    network: object
    target: np.ndarray
    n_street: int
    #: (street node position, snap steps) of each leaf, in leaf order
    leaves: np.ndarray

    @classmethod
    def cached(cls, net: StreetNetwork, node_pos: np.ndarray, offset_min: np.ndarray) -> TargetNetwork:
        """:meth:`of`, reusing the network's last one when it has the same leaves (building pandana's
        contraction hierarchy is the costly part; the last one is kept for the life of ``net``)."""
        node_pos = np.asarray(node_pos, np.int64)
        off = np.rint(np.asarray(offset_min, float) / TIME_RESOLUTION_MIN).astype(np.int64)
        leaf = off > 0
        key = np.unique(np.column_stack([node_pos[leaf], off[leaf]]), axis=0).tobytes()
        last = net._derived.get("pandana_targets")
        if last is None or last[0] != key:
            last = net._derived["pandana_targets"] = (key, cls.of(net, node_pos, offset_min))
        return last[1].retarget(node_pos, off)

    def retarget(self, node_pos: np.ndarray, off_steps: np.ndarray) -> TargetNetwork:
        """The same pandana network with the targets ``node_pos`` + ``off_steps`` (whose leaves it has)."""
        target = node_pos.copy()
        leaf = off_steps > 0
        if leaf.any():
            # leaves are sorted by (node, steps): find each target's by one combined key
            known = self.leaves[:, 0] * _KEY_BASE + self.leaves[:, 1]
            target[leaf] = self.n_street + np.searchsorted(known, node_pos[leaf] * _KEY_BASE + off_steps[leaf])
        return TargetNetwork(self.network, target, self.n_street, self.leaves)

    @classmethod
    def of(cls, net: StreetNetwork, node_pos: np.ndarray, offset_min: np.ndarray) -> TargetNetwork:
        """Build the pandana network (its contraction hierarchy) of ``net`` with the leaves of these targets."""
        import pandana

        n = len(net.nodes)
        u, v, steps = _edge_steps(net)
        node_pos = np.asarray(node_pos, np.int64)
        off = np.rint(np.asarray(offset_min, float) / TIME_RESOLUTION_MIN).astype(np.int64)
        target = node_pos.copy()
        leaf = off > 0
        if leaf.any():
            pairs, inverse = np.unique(np.column_stack([node_pos[leaf], off[leaf]]), axis=0, return_inverse=True)
            target[leaf] = n + inverse.ravel()
            u = np.r_[u, pairs[:, 0]]
            v = np.r_[v, n + np.arange(len(pairs))]
            steps = np.r_[steps, pairs[:, 1]]
            base = pairs[:, 0]
        else:
            pairs = np.empty((0, 2), np.int64)
            base = pairs[:, 0]
        xy = net.nodes[["x", "y"]].to_numpy(float)
        xy = np.r_[xy, xy[base]]
        ids = pd.Index(np.arange(len(xy), dtype=np.int64))
        with _quiet_stdout():
            pn = pandana.Network(
                pd.Series(xy[:, 0], index=ids),
                pd.Series(xy[:, 1], index=ids),
                pd.Series(u),
                pd.Series(v),
                pd.DataFrame({"steps": steps.astype(float)}),
                twoway=not net.directed,
            )
        return cls(pn, target, n, pairs)

    def set_pois(self, category: str, targets: np.ndarray, *, max_steps: int, max_items: int) -> None:
        """pandana's ``Network.set_pois`` on known pandana nodes (``targets``, positions in
        :attr:`target`): the same core call (``initialize_category``) without the KD-tree lookup
        of coordinates, which could pick another node at the same place."""
        pn = self.network
        if category not in pn.poi_category_names:
            pn.poi_category_names.append(category)
        pn.max_pois = max_items
        pn.poi_category_indexes[category] = pd.Index(targets)
        pn.net.initialize_category(float(max_steps), int(max_items), category.encode("utf-8"),
                                   self.target[targets].astype(np.int64))

    def nearest(self, category: str, *, max_steps: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """pandana's ``nearest_pois`` core for every street node: (steps, POI positions) of the ``k``
        nearest POIs within ``max_steps``; -1 where fewer exist (never a cap value)."""
        dists, ids = self.network.net.find_all_nearest_pois(float(max_steps), int(k), category.encode("utf-8"), 0)
        return np.asarray(dists)[: self.n_street], np.asarray(ids)[: self.n_street]


def reach_table_pandana(net: StreetNetwork, snapped: pd.DataFrame, max_minutes: float, *, groups=None) -> pd.DataFrame:
    """The reach table of :func:`urbankit.accessibility.reach_table`, computed by pandana.

    Parameters
    ----------
    net : StreetNetwork
    snapped : DataFrame
        ``node_id`` and ``snap_min`` of each destination.
    max_minutes : float
        Largest threshold.
    groups : array-like, optional
        A POI category per destination (e.g. its service); default one category for all.

    Returns
    -------
    pandas.DataFrame
        ``node``, ``dest``, ``minutes`` (rows in another order than the scipy engine's).
    """
    m = len(snapped)
    if m == 0:
        return pd.DataFrame({"node": np.empty(0, np.int32), "dest": np.empty(0, np.int32), "minutes": np.empty(0)})
    node_pos = net.nodes.index.get_indexer(snapped["node_id"].to_numpy())
    tn = TargetNetwork.cached(net, node_pos, snapped["snap_min"].to_numpy(float))
    limit = radius_steps(max_minutes)
    labels = np.zeros(m, np.int64) if groups is None else pd.factorize(np.asarray(groups))[0]
    parts_node, parts_dest, parts_steps = [], [], []
    for g in range(labels.max() + 1):
        members = np.flatnonzero(labels == g)
        k = min(len(members), 16)
        while True:
            tn.set_pois(f"g{g}", members, max_steps=limit, max_items=k)
            dists, ids = tn.nearest(f"g{g}", max_steps=limit, k=k)
            if k >= len(members) or not (ids[:, k - 1] >= 0).any():
                break
            k = min(len(members), 4 * k)  # some node has more within the threshold: ask for more
        row, col = np.nonzero(ids >= 0)
        parts_node.append(row.astype(np.int32))
        parts_dest.append(members[ids[row, col]].astype(np.int32))
        parts_steps.append(dists[row, col])
    steps = np.rint(np.concatenate(parts_steps))
    return pd.DataFrame(
        {
            "node": np.concatenate(parts_node),
            "dest": np.concatenate(parts_dest),
            "minutes": steps * TIME_RESOLUTION_MIN,
        }
    )


def aggregate_pandana(
    net: StreetNetwork,
    node_pos: np.ndarray,
    offset_min: np.ndarray,
    values: np.ndarray,
    minutes: float,
    *,
    agg: str,
    decay: str,
) -> np.ndarray:
    """pandana's ``set`` + ``aggregate`` of ``values`` (items at ``node_pos`` plus ``offset_min``)
    within ``minutes`` of every node; NaN for mean/min/max/std where no item is within reach
    (pandana gives -1 or 0 there)."""
    tn = TargetNetwork.cached(net, node_pos, offset_min)
    pn = tn.network
    radius = float(minutes) / TIME_RESOLUTION_MIN
    with _quiet_stdout():
        # (pandana's precompute() range cache is not used: aggregates after it disagreed with
        # pandana's own uncached results in the tests)
        pn.set(pd.Series(tn.target), variable=pd.Series(np.asarray(values, float)), name="v")
        if agg == "sum":
            return pn.aggregate(radius, type="sum", decay=decay, name="v").to_numpy(float)[: tn.n_street]
        count = pn.aggregate(radius, type="count", decay="flat", name="v").to_numpy(float)[: tn.n_street]
        if agg == "count":
            return count
        out = pn.aggregate(radius, type=agg, decay=decay, name="v").to_numpy(float)[: tn.n_street]
    if agg == "std":
        # pandana's sqrt(E[v^2] - E[v]^2) is NaN where rounding makes a zero variance negative
        out = np.where(np.isnan(out) & (count > 0), 0.0, out)
    if agg != "sum":
        out = np.where(count > 0, out, np.nan)
    return out
