"""urbankit's superblocks beside superblockify's (``superblockify`` 1.0.2 from PyPI, optional).

:func:`compare_with_superblockify` runs both on the same osmnx GraphML network with the same
through network and returns their cells and their restricted-distance metrics side by side.

Reproducing superblockify's setting
-----------------------------------
* **Dead ends.** superblockify first keeps only the largest strongly connected component of the
  graph (``remove_dead_ends_directed``); urbankit is run on that same subgraph.
* **Through network.** Both use the ``residential`` rule: the largest weakly connected part of the
  streets whose ``highway`` is not ``residential`` / ``living_street`` (urbankit's
  ``find_superblocks(method="residential")``, without its area bounds). superblockify routes by
  *node*: an edge joining two nodes of the through network (its "sparsified" graph) is a through
  edge even when it is a residential street; urbankit's labels are set so as well here.
* **Parallel edges.** superblockify builds its sparse matrices with
  ``networkx.to_scipy_sparse_array``, which *sums* the weights of parallel edges ``u -> v``; the
  comparison uses the same summed lengths as edge weights (urbankit's own routing keeps the
  shortest parallel edge instead).
* **Metrics.** ``directness["SN"]`` = mean over ordered pairs ``i != j`` of ``d_S / d_N`` (S: the
  unrestricted street network, N: the network with superblocks) and ``global_efficiency["NS"]`` =
  ``sum 1/d_N / sum 1/d_S``, pairs with a zero or infinite distance left out
  (``superblockify.metrics.measures``); :func:`urbankit.superblocks.distance_metrics` computes the
  same over all node pairs with urbankit's layered routing graph.

Remaining differences
---------------------
* superblockify stores the combined restricted distances in float32 (relative error ~1e-7).
* superblockify's restricted routing goes from a partition's *exclusive* nodes through the nodes it
  shares with the sparsified graph; urbankit's through the perimeter nodes of a superblock (nodes
  touching its internal streets and any other street). With the through edges set as above these are
  the same nodes, so the metrics agree to rounding; a node that superblockify assigns to a partition
  but that touches no internal street (or the reverse) would make them differ.
* Cells: both make one cell per connected component of the streets off the through network.
  urbankit counts a cell when it has a node of its own (touching its internal streets and no
  through street); superblockify also splits isolated edges (residential streets joining two
  through nodes) by adding a node in their middle (``split_up_isolated_edges_directed``: Adliswil
  291 -> 301 nodes), each such edge becoming a one-node partition, so it counts a few more cells
  (Adliswil 24 vs 26, MissionTown 36 vs 39, Liechtenstein 166 vs 174). The added nodes also enter
  its distance matrices and sparsified node set: with them the two metrics differ by a few tenths
  of a percent (Adliswil: directness 0.9888 vs 0.9834, +0.55%; global efficiency 0.9915 vs 0.9877,
  +0.39%; MissionTown +0.11% and +0.10%; Liechtenstein -0.10% and -0.10%).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = ["compare_with_superblockify", "load_graphml_for_superblockify"]

#: the dtypes superblockify needs on a GraphML network saved by osmnx (str attributes crash it)
EDGE_DTYPES = {"cell_id": int, "population": float, "area": float, "speed_kph": float, "travel_time": float}


def load_graphml_for_superblockify(path):
    """The osmnx graph of ``path`` with the edge dtypes superblockify needs."""
    import osmnx as ox

    from .._errors import CorruptFileError, InputFileError

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"GraphML file {str(path)!r} does not exist.")
    try:
        return ox.load_graphml(path, edge_dtypes=EDGE_DTYPES, node_dtypes={})
    except Exception as exc:
        raise CorruptFileError(f"cannot read {str(path)!r} as an osmnx GraphML network: {exc}") from exc


@contextlib.contextmanager
def _in_temporary_folder():
    """superblockify writes files into the working directory: run it in a throwaway one."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="urbankit-superblockify-") as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def _largest_scc(graph):
    import networkx as nx

    scc = max(nx.strongly_connected_components(graph), key=len)
    return graph.subgraph(scc).copy()


def urbankit_side(graph) -> dict:
    """urbankit's residential cells and metrics on ``graph`` in superblockify's setting (see module)."""
    from ..network import build_network
    from ..osm import extract_from_graph
    from . import distance_metrics, find_superblocks, label_edges

    t0 = time.perf_counter()
    g = _largest_scc(graph)
    extract = extract_from_graph(g, source="superblockify-compat", sha256="")
    net = build_network(extract, "drive", cache=False)
    sb = find_superblocks(net, method="residential", min_area_ha=None, max_area_ha=None)
    lab = label_edges(net, sb).fillna(-1).to_numpy(np.int64)
    e = net.edges
    u, v = e["u"].to_numpy(), e["v"].to_numpy()
    through_nodes = np.unique(np.r_[u[lab < 0], v[lab < 0]])
    both = np.isin(u, through_nodes) & np.isin(v, through_nodes)
    n_relabelled = int((both & (lab >= 0)).sum())
    lab = np.where(both, -1, lab)
    # parallel edges: superblockify sums their lengths (networkx.to_scipy_sparse_array)
    w = np.array(
        [sum(float(d.get("length", 0.0)) for d in g.get_edge_data(a, b, default={}).values()) for a, b in zip(u, v)]
    )
    missing = ~(w > 0)
    w[missing] = e["length_m"].to_numpy(float)[missing]
    m = distance_metrics(net, labels=lab, weight=w, max_sources=None)
    # exclusive nodes per cell: touching its internal edges and no through edge
    node_of = np.r_[u, v]
    lab2 = np.r_[lab, lab]
    has_through = pd.Series(lab2 < 0).groupby(node_of).any()
    inside = pd.DataFrame({"node": node_of[lab2 >= 0], "sb": lab2[lab2 >= 0]}).drop_duplicates()
    inside = inside[~has_through.reindex(inside["node"]).to_numpy()]
    sizes = inside.groupby("sb")["node"].nunique()
    return {
        "graph_nodes": g.number_of_nodes(),
        "network_nodes": len(net.nodes),
        "cells": len(sizes),
        "candidates": len(sb),
        "cell_nodes_mean": float(sizes.mean()) if len(sizes) else float("nan"),
        "cell_nodes_median": float(sizes.median()) if len(sizes) else float("nan"),
        "cell_area_ha_median": float(sb["area_ha"].median()),
        "through_nodes": set(net.nodes.index[net.nodes.index.isin(through_nodes)]) | set(),
        "edges_relabelled_through": n_relabelled,
        **m,
        "seconds": time.perf_counter() - t0,
    }


def superblockify_side(graph) -> dict:
    """superblockify's ``ResidentialPartitioner`` (unit distance) on a copy of ``graph``."""
    try:
        from superblockify import ResidentialPartitioner
    except ImportError as exc:  # pragma: no cover - optional dependency
        from .._errors import InvalidOptionError

        raise InvalidOptionError("superblockify is not installed: pip install superblockify==1.0.2") from exc
    t0 = time.perf_counter()
    name = f"urbankit_compat_{uuid.uuid4().hex[:8]}"
    with _in_temporary_folder():
        part = ResidentialPartitioner(name=name, city_name=name, graph=graph.copy(), unit="distance")
        n_nodes = part.graph.number_of_nodes()  # after its dead-end removal, before it splits isolated edges
        part.run(calculate_metrics=True, make_plots=False)
    parts = part.get_partition_nodes()
    sizes = pd.Series([len(p["nodes"]) for p in parts], dtype=float)
    sizes = sizes[sizes > 0]
    return {
        "graph_nodes": n_nodes,
        "network_nodes": part.graph.number_of_nodes(),
        "cells": len(sizes),
        "candidates": len(parts),
        "cell_nodes_mean": float(sizes.mean()) if len(sizes) else float("nan"),
        "cell_nodes_median": float(sizes.median()) if len(sizes) else float("nan"),
        "cell_area_ha_median": float("nan"),
        "through_nodes": set(part.sparsified.nodes),
        "directness_distance": float(part.metric.directness["SN"]),
        "global_efficiency_distance": float(part.metric.global_efficiency["NS"]),
        "seconds": time.perf_counter() - t0,
    }


def compare_with_superblockify(graphml_path) -> pd.DataFrame:
    """urbankit's residential superblocks and superblockify's on the same GraphML network, side by side.

    Returns
    -------
    pandas.DataFrame
        Index: ``graph_nodes`` (after dead-end removal), ``cells`` (cells with nodes inside),
        ``candidates``, ``cell_nodes_mean`` and ``cell_nodes_median`` (exclusive nodes per cell),
        ``cell_area_ha_median`` (urbankit only), ``through_nodes_shared`` (Jaccard index of the two
        through-node sets), ``directness_distance`` (superblockify's ``directness["SN"]``),
        ``global_efficiency_distance`` (``global_efficiency["NS"]``), ``seconds``; columns
        ``urbankit``, ``superblockify``, ``relative_difference`` ((urbankit - superblockify) /
        superblockify). ``attrs["urbankit_pairs"]`` is the number of node pairs urbankit used.
    """
    graph = load_graphml_for_superblockify(graphml_path)
    ours = urbankit_side(graph)
    theirs = superblockify_side(graph)
    a, b = ours.pop("through_nodes"), theirs.pop("through_nodes")
    shared = len(a & b) / max(len(a | b), 1)
    rows = [
        "graph_nodes",
        "cells",
        "candidates",
        "cell_nodes_mean",
        "cell_nodes_median",
        "cell_area_ha_median",
        "directness_distance",
        "global_efficiency_distance",
        "seconds",
    ]
    out = pd.DataFrame(
        {"urbankit": [float(ours[r]) for r in rows], "superblockify": [float(theirs[r]) for r in rows]}, index=rows
    )
    out.loc["through_nodes_shared"] = [shared, shared]
    out["relative_difference"] = (out["urbankit"] - out["superblockify"]) / out["superblockify"]
    out.attrs["urbankit_pairs"] = ours.get("metric_pairs")
    out.attrs["edges_relabelled_through"] = ours.get("edges_relabelled_through")
    return out
