"""metrics part of :mod:`urbankit.superblocks`."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from .._errors import InvalidOptionError
from ..network import StreetNetwork
from ._common import _BATCH_CELLS, _check_network
from .detect import label_edges
from .graph import _build_graph

METRIC_MAX_SOURCES = 2_000


def distance_metrics(
    network: StreetNetwork,
    superblocks: gpd.GeoDataFrame | None = None,
    *,
    labels=None,
    weight=None,
    max_sources: int | None = METRIC_MAX_SOURCES,
    seed: int = 0,
) -> dict:
    """Directness and global efficiency of the superblock routing rule, in metres.

    As superblockify defines them with ``unit="distance"`` (``superblockify.metrics.measures``):
    over all ordered node pairs ``i != j`` whose unrestricted distance ``d_S`` and restricted
    distance ``d_N`` are both finite and non-zero,

    * ``directness_distance = mean(d_S / d_N)`` (superblockify's ``directness["SN"]``),
    * ``global_efficiency_distance = sum(1 / d_N) / sum(1 / d_S)`` (its ``global_efficiency["NS"]``).

    ``d_S`` is the shortest distance on the whole network, ``d_N`` the shortest distance under the
    exact routing rule of the module docstring (internal streets only at the start and end of a trip),
    both with edge lengths (``weight``, default ``length_m``, per edge row) as weights. Every node is
    an origin up to ``max_sources`` nodes; above, that many origins are drawn at random (``seed``)
    and ``metric_sources`` says so. Both are 1 without superblocks.

    Returns
    -------
    dict
        ``directness_distance``, ``global_efficiency_distance``, ``metric_pairs`` (pairs used),
        ``metric_sources`` (origins used), ``metric_nodes``.
    """
    _check_network(network)
    n = len(network.nodes)
    if labels is None:
        if superblocks is None or len(superblocks) == 0:
            lab = np.full(len(network.edges), -1, dtype=np.int64)
        else:
            lab = label_edges(network, superblocks).fillna(-1).to_numpy(np.int64)
    else:
        lab = pd.Series(labels).fillna(-1).to_numpy(np.int64)
    w = network.edges["length_m"].to_numpy(float) if weight is None else np.asarray(weight, dtype=float)
    if len(w) != len(network.edges) or len(lab) != len(network.edges):
        raise InvalidOptionError("labels and weight need one value per edge row of the network.")
    src = np.arange(n)
    if max_sources is not None and n > max_sources:
        src = np.sort(np.random.default_rng(seed).choice(n, size=int(max_sources), replace=False))
    sbs = np.unique(lab[lab >= 0])
    free = _build_graph(network, w)
    g = _build_graph(network, w, labels=lab, l1_sbs=sbs, l3_sbs=sbs)
    d_s = np.empty((len(src), n))
    d_n = np.empty((len(src), n))
    all_d = np.arange(n)
    chunk = max(1, int(_BATCH_CELLS // max(g.n_exp, 1)))
    for a in range(0, len(src), chunk):
        o = src[a : a + chunk]
        d_s[a : a + len(o)] = dijkstra(free.csr, directed=True, indices=o)[:, :n]
        full = dijkstra(g.csr, directed=True, indices=g.starts(o))
        oo = np.repeat(o, n)
        dd = np.tile(all_d, len(o))
        t1, t2 = g.ends(oo, dd)
        rows = np.repeat(np.arange(len(o)), n)
        best = full[rows, t1]
        alt = np.where(t2 >= 0, full[rows, np.maximum(t2, 0)], np.inf)
        d_n[a : a + len(o)] = np.minimum(best, alt).reshape(len(o), n)
    keep = np.isfinite(d_s) & np.isfinite(d_n) & (d_s > 1e-3) & (d_n > 1e-3)
    keep[np.arange(len(src)), src] = False
    s, r = d_s[keep], d_n[keep]
    if len(s) == 0:
        return {
            "directness_distance": float("nan"),
            "global_efficiency_distance": float("nan"),
            "metric_pairs": 0,
            "metric_sources": len(src),
            "metric_nodes": n,
        }
    return {
        "directness_distance": float(np.mean(s / r)),
        "global_efficiency_distance": float(np.sum(1.0 / r) / np.sum(1.0 / s)),
        "metric_pairs": len(s),
        "metric_sources": len(src),
        "metric_nodes": int(n),
    }


# --------------------------------------------------------------------------------------------------
# one-call entry point and GeoPackage output

#: columns of the ``edges`` layer of :meth:`Scenario.to_gpkg`
