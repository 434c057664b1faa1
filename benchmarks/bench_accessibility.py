"""Time and peak memory of the full accessibility analysis, against baselines computing the same outputs.

Run with ``make bench`` (installs cityseer into the venv first). Writes
``benchmarks/results_accessibility.md`` and prints it.

What is measured
----------------
Every (case, method) runs in a fresh subprocess; its peak memory is that process's ``ru_maxrss``
(imports, input preparation and the network included). Inputs (the extract and the destinations) are
prepared before any clock starts; imports are not timed.

Cases: the embedded Monaco and Helsinki extracts (walk network, their real destinations from the
packaged taxonomy) and synthetic Eixample-like grids (:func:`urbankit.mock.grid_nodes`, 113 m blocks)
of about 10k, 40k and 100k nodes, walk network, with :func:`urbankit.mock.random_destinations`:
``per_service = round(nodes / 50 / n_services)``, i.e. about one destination per 50 nodes in all
(19 services: 11 per service at 10k = 209 in all, 42 at 40k, 105 at 100k = 1,995), each 0-40 m
from a random node, seed 0. That density is that of a whole city with suburbs; the embedded city
centres are far denser (Monaco one per 4.7 nodes, Helsinki one per 2.2), which is why they are in
the table too.

Outputs every method computes, for all 19 services of the taxonomy and thresholds 10/15/30 walking
minutes: minutes from every node to the nearest destination of each service (NaN beyond 30) and the
number of destinations of each service within 10, 15 and 30 minutes.

urbankit
    ``compute_accessibility(net, dest, population=<1 resident per node>, engine="scipy")`` then ``.summary()``.
    *cold*: ``build_network(extract, "walk", cache=False)`` + the first analysis;
    *cached*: the analysis alone on the network already built in the same process (best of 3).
pandana (urbankit's pandana engine)
    The same with ``engine="pandana"``: pandana's contraction hierarchy (built with one leaf node per
    destination, see ``urbankit.engines``) and its POI queries give the reach table. *cold* includes
    building the contraction hierarchy; *cached* reuses it (same network object, same destinations),
    as the scipy engine's *cached* reuses its search graph. pandana runs OpenMP threads on all cores.
    The "Engines" table compares the two side by side; ``urbankit.engines.DEFAULT_ENGINE`` is the one
    with the smaller total cached time over the cases.
scipy (exact)
    The obvious exact method: snap destinations to their nearest node (as urbankit does: straight
    line walked at 4.8 km/h on the 0.001-min grid), then Dijkstra from *every node* bounded at 30
    minutes (scipy.sparse.csgraph, chunks of ``max(1, 1_000_000 // nodes)`` origins), read the
    destinations' columns, add their snap minutes, take per-service minima and counts.
networkx (exact, small cases only)
    Each destination is a leaf joined to its node by its snap minutes; per service one
    ``multi_source_dijkstra_path_length`` (cutoff 30) for the nearest, and per destination one
    ``single_source_dijkstra_path_length`` (cutoff 30) for the counts.
cityseer (PyPI)
    ``NetworkStructure`` built from the same nodes and edges (each undirected edge added in both
    directions, with its geometry), then ``layers.compute_accessibilities`` with distance thresholds
    800/1200/2400 m (10/15/30 min at 4.8 km/h = 80 m/min), ``decay_fn="1"`` (plain counts),
    ``max_netw_assign_dist=400``. Semantic differences: cityseer assigns a destination to the
    nearest *street edge* and reaches it from both ends of that edge (distance along the street
    plus the set-back), where urbankit and the exact baselines snap it to the nearest *node* by a
    straight line; it measures metres (edge geometry lengths) rather than minutes on the 0.001-min
    grid; and its Rust core runs on all cores (2 here) while urbankit and scipy use one. Its
    nearest distance and counts therefore differ slightly; the agreement table quantifies it.

Every baseline's time includes building its own graph structure from the network (CSR matrix,
networkx graph or cityseer NetworkStructure) and snapping, but not building the network from the
extract, which only urbankit's *cold* figure includes. Ratios are urbankit / baseline (< 1: urbankit
faster).

overhead (how much urbankit adds over the library calls it makes)
    Two more fresh processes per case, on the network already built and the analysis warmed up
    (search graph built). One times the cached analysis (best of 3) and the part of it spent
    inside scipy's Dijkstra (the graph searches). The other runs the analysis in a loop under
    ``py-spy record --native`` and classifies every sample as urbankit's own code or library code
    (see ``benchmarks/_overhead.py``); "urbankit adds" = own samples / library samples. ``make
    bench`` installs py-spy; without it (or without ptrace permission) the table says why it was
    not measured.

Options: ``--cases monaco,grid10k`` to run a subset, ``--timeout 600`` per subprocess,
``--profile grid100k`` to print a cProfile of urbankit's cached analysis instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _overhead  # benchmarks/ is on sys.path when a script runs
from _machine import machine_info, run_child

#: packages whose versions go into the results file
PACKAGES = ("urbankit", "numpy", "scipy", "pandas", "pandana", "networkx", "cityseer")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_accessibility.md"

#: name -> embedded data set name, or number of grid nodes
CASES: dict[str, str | int] = {
    "monaco": "monaco",
    "helsinki": "helsinki",
    "grid10k": 10_000,
    "grid40k": 40_000,
    "grid100k": 100_000,
}
METHODS = ("urbankit", "pandana", "scipy", "networkx", "cityseer", "overhead")
#: seconds of (unprofiled) analysis the sampled loop should hold
OVERHEAD_LOOP_S = 2.0
NETWORKX_CASES = {"monaco", "helsinki", "grid10k"}
#: pandana's counts come from one ``aggregate`` per service and threshold, each a range query from
#: every node (about a minute on the 10k-node grid, far longer above), so larger grids are not run
PANDANA_CASES = ("monaco", "helsinki", "grid10k")
NODES_PER_DESTINATION = 50
MINUTES = (10, 15, 30)
WALK_M_PER_MIN = 4.8 * 1000 / 60  # urbankit's default walking speed
DEFAULT_TIMEOUT_S = 600


# ------------------------------------------------------------------------------------------ inputs


def prepare(case: str):
    """(extract, destinations, services) of a case; untimed in every method."""
    import urbankit as uk
    from urbankit.mock import grid_nodes, random_destinations

    spec = CASES[case]
    services = uk.load_taxonomy().service_names()
    if isinstance(spec, str):
        extract = uk.load(spec)
        dest = uk.find_destinations(extract)
    else:
        extract = grid_nodes(spec)
        per = max(1, round(spec / NODES_PER_DESTINATION / len(services)))
        dest = random_destinations(extract, per_service=per, seed=0)
    return extract, dest, services


def snap(net, dest):
    """Nearest node position and snap minutes of each destination (urbankit's documented rule)."""
    import numpy as np
    from scipy.spatial import cKDTree

    from urbankit.network import quantize_minutes

    pts = dest.to_crs(net.crs)
    xy = np.column_stack([pts.geometry.x.to_numpy(), pts.geometry.y.to_numpy()])
    dist, pos = cKDTree(net.nodes[["x", "y"]].to_numpy()).query(xy)
    snap_min = np.where(dist > 0, quantize_minutes(dist / WALK_M_PER_MIN), 0.0)
    return pos.astype(np.int64), snap_min


def on_grid(t):
    """Minutes rounded to the 0.001-min grid (sums of grid values carry float noise)."""
    import numpy as np

    return np.rint(t / 0.001) * 0.001


# ------------------------------------------------------------------------------------------ methods


def run_urbankit(net_builder, dest, services, out, engine="scipy"):
    import numpy as np
    import pandas as pd

    import urbankit as uk
    from urbankit.accessibility import compute_accessibility

    uk.settings.progress = False

    def analyse(net):
        pop = pd.Series(1.0, index=net.nodes.index)
        acc = compute_accessibility(net, dest, minutes=MINUTES, population=pop, engine=engine)
        acc.summary()
        return acc

    t0 = time.perf_counter()
    net = net_builder()
    t_build = time.perf_counter() - t0
    acc = analyse(net)
    cold = time.perf_counter() - t0
    cached = []
    for _ in range(3):
        t0 = time.perf_counter()
        analyse(net)
        cached.append(time.perf_counter() - t0)
    nodes = acc.nodes
    nearest = np.column_stack([nodes[f"time_{s}_min"].to_numpy(float) for s in services])
    counts = np.stack(
        [np.column_stack([nodes[f"n_{s}_{m}min"].to_numpy() for s in services]) for m in MINUTES], axis=-1
    )
    out.update(
        net=net,
        nearest=nearest,
        counts=counts,
        times={"build_s": t_build, "cold_s": cold, "cached_s": min(cached), "cached_runs_s": cached},
        extra={"reach_rows": len(acc.reach)},
    )


def run_scipy(net, dest, services, out):
    import numpy as np
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    t0 = time.perf_counter()
    n = len(net.nodes)
    idx = net.nodes.index
    u, v = idx.get_indexer(net.edges.u), idx.get_indexer(net.edges.v)
    w = net.edges.time_min.to_numpy(float)
    # both directions; parallel edges reduced to the fastest (csr would add them)
    r, c, ww = np.r_[u, v], np.r_[v, u], np.r_[w, w]
    order = np.lexsort((ww, c, r))
    r, c, ww = r[order], c[order], ww[order]
    first = np.r_[True, (r[1:] != r[:-1]) | (c[1:] != c[:-1])]
    graph = csr_matrix((ww[first], (r[first], c[first])), shape=(n, n))
    node_pos, snap_min = snap(net, dest)
    svc_code = {s: i for i, s in enumerate(services)}
    code = np.array([svc_code[s] for s in dest.service], dtype=np.int64)
    order = np.argsort(code, kind="stable")  # destinations grouped by service
    node_pos, snap_min, code = node_pos[order], snap_min[order], code[order]
    present = np.unique(code)
    starts = np.searchsorted(code, present)
    S, limit = len(services), max(MINUTES)
    nearest = np.full((n, S), np.nan)
    counts = np.zeros((n, S, len(MINUTES)), dtype=np.int64)
    t_setup = time.perf_counter() - t0
    chunk = max(1, 1_000_000 // n)
    for s in range(0, n, chunk):
        origins = np.arange(s, min(s + chunk, n))
        d = dijkstra(graph, directed=True, indices=origins, limit=limit + 0.0005)
        t = on_grid(d[:, node_pos] + snap_min)  # (origins, destinations); inf beyond the limit
        if len(present):
            mins = np.minimum.reduceat(t, starts, axis=1)
            nearest[s : s + len(origins), present] = np.where(mins <= limit, mins, np.nan)
            for k, m in enumerate(MINUTES):
                counts[s : s + len(origins), present, k] = np.add.reduceat((t <= m).astype(np.int64), starts, axis=1)
    total = time.perf_counter() - t0
    out.update(nearest=nearest, counts=counts, times={"setup_s": t_setup, "total_s": total}, extra={"chunk": chunk})


def run_networkx(net, dest, services, out):
    import networkx as nx
    import numpy as np

    t0 = time.perf_counter()
    n = len(net.nodes)
    idx = net.nodes.index
    u, v = idx.get_indexer(net.edges.u), idx.get_indexer(net.edges.v)
    w = net.edges.time_min.to_numpy(float)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    # fastest of parallel edges: add slowest first so the fastest overwrites
    for a, b, t in sorted(zip(u.tolist(), v.tolist(), w.tolist()), key=lambda e: -e[2]):
        g.add_edge(a, b, weight=t)
    node_pos, snap_min = snap(net, dest)
    leaves = n + np.arange(len(dest))
    for leaf, p, sm in zip(leaves.tolist(), node_pos.tolist(), snap_min.tolist()):
        g.add_edge(leaf, p, weight=sm)
    svc = dest.service.to_numpy()
    S, limit = len(services), max(MINUTES)
    nearest = np.full((n, S), np.nan)
    counts = np.zeros((n, S, len(MINUTES)), dtype=np.int64)
    t_setup = time.perf_counter() - t0
    for i, s in enumerate(services):
        sources = set(leaves[svc == s].tolist())
        if not sources:
            continue
        dist = nx.multi_source_dijkstra_path_length(g, sources, cutoff=limit + 0.0005)
        keys = np.fromiter((k for k in dist if k < n), dtype=np.int64)
        vals = on_grid(np.fromiter((dist[k] for k in keys.tolist()), dtype=float))
        ok = vals <= limit
        nearest[keys[ok], i] = vals[ok]
    code = {s: i for i, s in enumerate(services)}
    for leaf, s in zip(leaves.tolist(), svc):
        dist = nx.single_source_dijkstra_path_length(g, leaf, cutoff=limit + 0.0005)
        keys = np.fromiter((k for k in dist if k < n), dtype=np.int64)
        vals = on_grid(np.fromiter((dist[k] for k in keys.tolist()), dtype=float))
        for k, m in enumerate(MINUTES):
            counts[keys[vals <= m], code[s], k] += 1
    total = time.perf_counter() - t0
    out.update(nearest=nearest, counts=counts, times={"setup_s": t_setup, "total_s": total}, extra={})


def run_cityseer(net, dest, services, out):
    os.environ.setdefault("CITYSEER_QUIET_MODE", "1")
    import geopandas as gpd
    import numpy as np
    import shapely
    from cityseer import rustalgos
    from cityseer.metrics import layers

    t0 = time.perf_counter()
    n = len(net.nodes)
    keys = [str(k) for k in net.nodes.index]
    xs, ys = net.nodes.x.to_numpy(float), net.nodes.y.to_numpy(float)
    ns = rustalgos.graph.NetworkStructure()
    ns.set_is_directed(False)
    for k, x, y in zip(keys, xs.tolist(), ys.tolist()):
        ns.add_street_node(k, x, y, True, 1.0)
    idx = net.nodes.index
    u, v = idx.get_indexer(net.edges.u).tolist(), idx.get_indexer(net.edges.v).tolist()
    geoms = net.edges.geometry.to_numpy()
    fwd = shapely.to_wkt(geoms, rounding_precision=-1)
    back = shapely.to_wkt(shapely.reverse(geoms), rounding_precision=-1)
    for e, (a, b, wa, wb) in enumerate(zip(u, v, fwd, back)):
        # an undirected edge is two directed ones, as cityseer's network_structure_from_nx adds them
        ns.add_street_edge(a, b, e, keys[a], keys[b], wa, 1.0)
        ns.add_street_edge(b, a, e, keys[b], keys[a], wb, 1.0)
    ns.validate()
    ns.build_edge_rtree()
    nodes_gdf = gpd.GeoDataFrame(
        {"x": xs, "y": ys, "live": True, "weight": 1.0}, index=keys, geometry=gpd.points_from_xy(xs, ys), crs=net.crs
    )
    t_setup = time.perf_counter() - t0
    data = dest.to_crs(net.crs)[["service", "geometry"]].reset_index(drop=True)
    present = [s for s in services if (data.service == s).any()]
    dists = [round(m * WALK_M_PER_MIN) for m in MINUTES]
    res = layers.compute_accessibilities(
        data,
        "service",
        present,
        nodes_gdf,
        ns,
        max_netw_assign_dist=400,
        distances=dists,
        decay_fn="1",
        speed_m_s=WALK_M_PER_MIN / 60,
    )
    total = time.perf_counter() - t0
    res = res.loc[keys]
    S = len(services)
    nearest = np.full((n, S), np.nan)
    counts = np.zeros((n, S, len(MINUTES)), dtype=np.int64)
    for i, s in enumerate(services):
        if s not in present:
            continue
        metres = res[f"cc_{s}_nearest_max_{max(dists)}"].to_numpy(float)
        nearest[:, i] = np.where(metres <= max(dists), metres / WALK_M_PER_MIN, np.nan)
        for k, d in enumerate(dists):
            counts[:, i, k] = np.nan_to_num(res[f"cc_{s}_{d}"].to_numpy(float)).round().astype(np.int64)
    out.update(nearest=nearest, counts=counts, times={"setup_s": t_setup, "total_s": total}, extra={})


def child(case: str, method: str, npz: str) -> None:
    import resource

    import numpy as np

    import urbankit as uk

    if method == "cityseer":
        os.environ.setdefault("CITYSEER_QUIET_MODE", "1")
        import cityseer.metrics.layers  # noqa: F401  (import not timed)
    if method == "networkx":
        import networkx  # noqa: F401
    uk.settings.use_cache = False
    uk.settings.progress = False
    extract, dest, services = prepare(case)
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict = {}
    cpu0 = time.process_time()
    if method in ("urbankit", "pandana"):
        engine = "scipy" if method == "urbankit" else "pandana"
        if engine == "pandana":
            import pandana  # noqa: F401  (import not timed)
        run_urbankit(lambda: uk.build_network(extract, "walk", cache=False), dest, services, out, engine=engine)
        net = out["net"]
    else:
        net = uk.build_network(extract, "walk", cache=False)
        cpu0 = time.process_time()
        {"scipy": run_scipy, "networkx": run_networkx, "cityseer": run_cityseer}[method](net, dest, services, out)
    cpu = time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    np.savez_compressed(npz, nearest=out["nearest"], counts=out["counts"])
    print(
        json.dumps(
            {
                "case": case,
                "method": method,
                "nodes": len(net.nodes),
                "edges": len(net.edges),
                "destinations": int(dest.service.isin(services).sum()),
                "services_present": int(dest.service.nunique()),
                "times": out["times"],
                "cpu_s": cpu,
                "peak_mb": peak,
                "inputs_mb": rss_inputs,
                **out["extra"],
            }
        )
    )


def overhead_child(case: str, what: str, loops: int) -> None:
    """``what="time"``: the cached analysis and its time inside scipy's Dijkstra (best of 3);
    ``what="sample"``: the cached analysis ``loops`` times in :func:`_measured_loop` (run under py-spy)."""
    import importlib

    import pandas as pd

    import urbankit as uk

    reach = importlib.import_module("urbankit.accessibility.reach")  # where the searches run
    uk.settings.use_cache = False
    uk.settings.progress = False
    extract, dest, _ = prepare(case)
    net = uk.build_network(extract, "walk", cache=False)
    pop = pd.Series(1.0, index=net.nodes.index)

    def analyse():
        uk.compute_accessibility(net, dest, minutes=MINUTES, population=pop, engine="scipy").summary()

    analyse()  # warm-up: builds the network's search graph, as in the "cached" figure
    if what == "sample":
        _measured_loop(analyse, loops)
        print(json.dumps({"loops": loops}))
        return
    raw_dijkstra, in_dijkstra = reach.dijkstra, [0.0]

    def timed_dijkstra(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return raw_dijkstra(*args, **kwargs)
        finally:
            in_dijkstra[0] += time.perf_counter() - t0

    reach.dijkstra = timed_dijkstra
    runs = []
    for _ in range(3):
        in_dijkstra[0] = 0.0
        t0 = time.perf_counter()
        analyse()
        runs.append((time.perf_counter() - t0, in_dijkstra[0]))
    best = min(runs)
    print(json.dumps({"analysis_s": best[0], "dijkstra_s": best[1]}))


def _measured_loop(analyse, loops: int) -> None:
    """The samples py-spy takes inside this function are the ones classified."""
    for _ in range(loops):
        analyse()


# ------------------------------------------------------------------------------------------ parent


def measure_overhead(case: str, tmp: Path, timeout: float) -> dict:
    """Timing child, then the sampled loop under py-spy; one row for the overhead table."""
    import math

    cmd = [sys.executable, __file__, "--overhead", case, "time", "0"]
    row = run_child(cmd, timeout, timeout_status=f"skipped (> {timeout:.0f} s)")
    row.update(case=case, method="overhead")
    if row["status"] != "ok":
        return row
    loops = max(3, math.ceil(OVERHEAD_LOOP_S / row["analysis_s"]))
    raw = tmp / f"{case}-pyspy.txt"
    why = _overhead.record([sys.executable, __file__, "--overhead", case, "sample", str(loops)], raw, timeout=timeout)
    if why:
        row["sampling"] = why
        return row
    row.update(loops=loops, **_overhead.classify(raw))
    return row


def agreement(ref, other) -> dict:
    """How closely another method's outputs match urbankit's."""
    import numpy as np

    a, b = ref["nearest"], other["nearest"]
    both = np.isfinite(a) & np.isfinite(b)
    diff = np.abs(a[both] - b[both])
    ca, cb = ref["counts"], other["counts"]
    return {
        "nan_mismatch": int((np.isfinite(a) != np.isfinite(b)).sum()),
        "max_abs_min": float(diff.max()) if diff.size else 0.0,
        "mean_abs_min": float(diff.mean()) if diff.size else 0.0,
        "within_0_1": float((diff <= 0.1).mean()) if diff.size else 1.0,
        "counts_equal": float((ca == cb).mean()),
        "cells": int(a.size),
    }


def run_case(case: str, method: str, tmp: Path, timeout: float) -> dict:
    npz = tmp / f"{case}-{method}.npz"
    row = run_child(
        [sys.executable, __file__, "--child", case, method, str(npz)],
        timeout,
        timeout_status=f"skipped (> {timeout:.0f} s)",
    )
    row.update(case=case, method=method)
    if row["status"] == "ok":
        row["npz"] = str(npz)
    return row


def fmt_s(x) -> str:
    return "—" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


def ratio(a, b) -> str:
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def analysis_time(row) -> float | None:
    if row is None or row.get("status") != "ok":
        return None
    return row["times"]["total_s"]


def cell(row, what: str) -> str:
    if row is None:
        return "not run"
    if row.get("status") != "ok":
        return row["status"]
    if what == "time":
        t = row["times"]
        return f"{fmt_s(t['total_s'])} ({fmt_s(t['setup_s'])} setup)"
    return f"{row['peak_mb']:.0f}"


def report(rows: list[dict], cases: list[str], elapsed: float) -> str:
    import numpy as np

    by = {(r["case"], r["method"]): r for r in rows}
    lines = [
        "## Time and peak memory",
        "",
        (
            "Seconds of wall-clock time (one run; urbankit cached: best of 3); peak MB = ru_maxrss of the "
            "whole subprocess (imports, inputs and network included). Baseline seconds include building their "
            'graph structure ("setup") and snapping.'
        ),
        "",
        (
            "| case | nodes | edges | destinations | urbankit cold s | urbankit cached s | urbankit MB "
            "| scipy exact s | scipy MB | networkx s | networkx MB | cityseer s | cityseer MB |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        uk_row = by.get((case, "urbankit"))
        if not uk_row or uk_row.get("status") != "ok":
            lines.append(f"| {case} | | | | {uk_row['status'] if uk_row else 'not run'} | | | | | | | | |")
            continue
        t = uk_row["times"]
        lines.append(
            f"| {case} | {uk_row['nodes']:,} | {uk_row['edges']:,} | {uk_row['destinations']:,} "
            f"| {fmt_s(t['cold_s'])} ({fmt_s(t['build_s'])} build) | {fmt_s(t['cached_s'])} | {uk_row['peak_mb']:.0f} "
            + "".join(
                f"| {cell(by.get((case, m)), 'time')} "
                f"| {cell(by.get((case, m)), 'mem') if by.get((case, m), {}).get('status') == 'ok' else '—'} "
                for m in ("scipy", "networkx", "cityseer")
            )
            + "|"
        )
    lines += [
        "",
        "## Ratios (urbankit / baseline; < 1 means urbankit is faster)",
        "",
        (
            "Best exact = the faster of scipy and networkx in that case. CPU seconds show parallelism: urbankit "
            "and the exact baselines use one core, cityseer all of them."
        ),
        "",
        (
            "| case | cached / scipy | cold / scipy | cached / networkx | cold / networkx | cached / best exact "
            "| cold / best exact | cached / cityseer | cold / cityseer | cityseer CPU s / wall s |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    targets = {"cached_best": [], "cold_best": [], "cached_cs": []}
    for case in cases:
        uk_row = by.get((case, "urbankit"))
        if not uk_row or uk_row.get("status") != "ok":
            continue
        t = uk_row["times"]
        rs = []
        for m in ("scipy", "networkx"):
            b = analysis_time(by.get((case, m)))
            rs += [ratio(t["cached_s"], b), ratio(t["cold_s"], b)]
        exact = [x for x in (analysis_time(by.get((case, m))) for m in ("scipy", "networkx")) if x is not None]
        best = min(exact) if exact else None
        cs_t = analysis_time(by.get((case, "cityseer")))
        rs += [
            ratio(t["cached_s"], best),
            ratio(t["cold_s"], best),
            ratio(t["cached_s"], cs_t),
            ratio(t["cold_s"], cs_t),
        ]
        if best:
            targets["cached_best"].append((case, t["cached_s"] / best))
            targets["cold_best"].append((case, t["cold_s"] / best))
        if cs_t:
            targets["cached_cs"].append((case, t["cached_s"] / cs_t))
        cs = by.get((case, "cityseer"))
        cs_cpu = f"{cs['cpu_s']:.1f} / {cs['times']['total_s']:.1f}" if cs and cs.get("status") == "ok" else "—"
        lines.append(f"| {case} | " + " | ".join(rs) + f" | {cs_cpu} |")

    def verdict(pairs, limit):
        bad = [f"{c} {r:.2f}x" for c, r in pairs if r >= limit]
        return ("yes" if not bad else "no (" + ", ".join(bad) + ")") if pairs else "not measured"

    lines += [
        "",
        "## Targets",
        "",
        f"- cached analysis faster than the best exact baseline in every case: {verdict(targets['cached_best'], 1.0)}",
        f"- cached analysis faster than cityseer in every case: {verdict(targets['cached_cs'], 1.0)}",
        f"- cold within 3x of the best exact baseline: {verdict(targets['cold_best'], 3.0)}",
    ]
    big = by.get(("grid100k", "urbankit"))
    if big and big.get("status") == "ok":
        bt = big["times"]
        lines.append(
            f"- 100k nodes: cached {bt['cached_s']:.2f} s (target < 5: {'yes' if bt['cached_s'] < 5 else 'no'}), "
            f"cold {bt['cold_s']:.2f} s (< 60: {'yes' if bt['cold_s'] < 60 else 'no'}), "
            f"peak {big['peak_mb']:.0f} MB (< 4096: {'yes' if big['peak_mb'] < 4096 else 'no'})"
        )
    lines += engines_section(by, cases)
    lines += overhead_section(by, cases)
    lines += [
        "",
        "## Agreement with urbankit",
        "",
        (
            "Over every (node, service) cell: cells where one method finds a destination within 30 min and "
            "the other does not; largest and mean absolute difference of the nearest minutes where both find "
            "one; share of cells within 0.1 min; share of (node, service, threshold) counts that are equal."
        ),
        "",
        "| case | method | reach differs (cells) | max abs diff min | mean abs diff min | within 0.1 min "
        "| counts equal |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        ref_row = by.get((case, "urbankit"))
        if not ref_row or ref_row.get("status") != "ok":
            continue
        ref = np.load(ref_row["npz"])
        for m in ("pandana", "scipy", "networkx", "cityseer"):
            row = by.get((case, m))
            if not row or row.get("status") != "ok":
                continue
            a = agreement(ref, np.load(row["npz"]))
            lines.append(
                f"| {case} | {m} | {a['nan_mismatch']:,} of {a['cells']:,} | {a['max_abs_min']:.4f} "
                f"| {a['mean_abs_min']:.4f} "
                f"| {a['within_0_1']:.2%} | {a['counts_equal']:.2%} |"
            )
    lines += ["", f"Whole benchmark: {elapsed / 60:.1f} minutes."]
    return "\n".join(lines)


def engines_section(by: dict, cases: list[str]) -> list[str]:
    """Lines of the "Engines" section: urbankit's scipy and pandana engines side by side."""
    import numpy as np

    pairs = [(c, by.get((c, "urbankit")), by.get((c, "pandana"))) for c in cases if (c, "pandana") in by]
    if not pairs:
        return []
    lines = [
        "",
        "## Engines: scipy vs pandana",
        "",
        (
            'The same analysis on urbankit\'s two engines (`engine="scipy"`: bounded scipy Dijkstra from the '
            'destinations; `engine="pandana"`: pandana\'s contraction hierarchy and POI queries, OpenMP on all '
            "cores). Cold = network build + first analysis (for pandana including its contraction hierarchy); "
            "cached = best of 3 on the same network object. Figures: largest difference of the nearest minutes "
            "and share of equal counts between the engines."
        ),
        "",
        (
            "| case | scipy cold s | scipy cached s | scipy MB | pandana cold s | pandana cached s | pandana MB "
            "| pandana / scipy cached | max diff min | counts equal |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    totals = {"scipy": 0.0, "pandana": 0.0}
    complete = True
    for case, a, b in pairs:
        ok = [r is not None and r.get("status") == "ok" for r in (a, b)]
        cells = []
        for r, good in zip((a, b), ok):
            cells += (
                [fmt_s(r["times"]["cold_s"]), fmt_s(r["times"]["cached_s"]), f"{r['peak_mb']:.0f}"]
                if good
                else [r["status"] if r else "not run", "", ""]
            )
        if all(ok):
            totals["scipy"] += a["times"]["cached_s"]
            totals["pandana"] += b["times"]["cached_s"]
            agree = agreement(np.load(a["npz"]), np.load(b["npz"]))
            extra = [
                ratio(b["times"]["cached_s"], a["times"]["cached_s"]),
                f"{agree['max_abs_min']:.4f}",
                f"{agree['counts_equal']:.2%}",
            ]
        else:
            complete = False
            extra = ["—", "—", "—"]
        lines.append(f"| {case} | " + " | ".join(cells + extra) + " |")
    faster = min(totals, key=totals.get)
    lines += [
        "",
        f"- total cached seconds over the cases: scipy {totals['scipy']:.2f}, pandana {totals['pandana']:.2f}"
        + ("" if complete else " (cases where an engine did not finish left out)")
        + f"; faster: {faster} (urbankit.engines.DEFAULT_ENGINE should be {faster!r})",
    ]
    return lines


def overhead_section(by: dict, cases: list[str]) -> list[str]:
    """Lines of the "Package overhead" section (empty when the overhead method was not run)."""
    rows = [by[(c, "overhead")] for c in cases if (c, "overhead") in by]
    if not rows:
        return []
    lines = [
        "",
        "## Package overhead",
        "",
        (
            "Target: the package adds less than 30% over the raw library calls it makes. The cached analysis "
            "runs in a loop under `py-spy record --native`; every sample inside the loop is urbankit's own code "
            "(its Python lines in the interpreter, or interpreter / C library / standard library code they call "
            "directly, and anything outside urbankit's frames) or library code (scipy, numpy, pandas, geopandas, "
            "shapely, pyproj...: a frame of another package below urbankit's innermost frame). urbankit adds = "
            "own samples / library samples (method in `benchmarks/_overhead.py`). The Dijkstra columns time the "
            "graph searches alone (scipy's `dijkstra` wrapped by a timer, best of 3 runs without sampling): the "
            "rest of the library time is numpy turning the reach table into per-node figures and pandas building "
            "the frames."
        ),
        "",
        "| case | analysis s | in scipy Dijkstra s | Dijkstra share | samples in loop (runs) | urbankit's own "
        "| library | urbankit adds | most sampled own lines |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    adds = []
    for r in rows:
        if r.get("status") != "ok":
            lines.append(f"| {r['case']} | {r['status']} | | | | | | | |")
            continue
        head = (
            f"| {r['case']} | {r['analysis_s']:.3f} | {r['dijkstra_s']:.3f} | {r['dijkstra_s'] / r['analysis_s']:.0%} "
        )
        if "sampling" in r:
            lines.append(head + f"| not measured: {r['sampling']} | | | | |")
            continue
        total = r["own"] + r["library"]
        add = r["own"] / r["library"] if r["library"] else float("inf")
        adds.append((r["case"], add))
        top = ", ".join(f"{w} ({n})" for w, n in r["top"][:3]) or "—"
        lines.append(
            head + f"| {total:,} ({r['loops']}) | {r['own']:,} ({r['own'] / total:.1%}) | {r['library']:,} "
            f"| {add:.1%} | {top} |"
        )
    if adds:
        worst = max(adds, key=lambda x: x[1])
        ok = "yes" if worst[1] < 0.30 else "no"
        lines += [
            "",
            f"- urbankit adds less than 30% over the library calls it makes, in every case: {ok} "
            f"(largest {worst[1]:.1%}, {worst[0]})",
        ]
    else:
        lines += ["", "- urbankit adds less than 30% over the library calls it makes: not measured (see the table)"]
    return lines


HEADER = """# Accessibility benchmark

urbankit's full x-minute analysis (every service of the packaged taxonomy, thresholds 10/15/30
walking minutes, one resident per node: `compute_accessibility(net, dest, population=...)` plus `.summary()`)
against baselines computing the same outputs (nearest minutes per service, counts within 10/15/30) on
the same walk network and destinations, in the same run. Each (case, method) is a fresh process.
Method details are in the docstring of `benchmarks/bench_accessibility.py`; run it with `make bench`.

Synthetic grids: `urbankit.mock.grid_nodes(n)` (113 m blocks), destinations from
`urbankit.mock.random_destinations` at one per {npd} nodes in all (seed 0). Monaco and Helsinki:
their real destinations (one per 4.7 and per 2.2 nodes).

cityseer differs by design: it assigns destinations to the nearest street edge (reached from both ends)
instead of the nearest node, works in metres, and runs on all cores; its agreement figures measure
those differences, not errors.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=3, metavar=("CASE", "METHOD", "NPZ"), help=argparse.SUPPRESS)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ", ".join(CASES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per subprocess")
    ap.add_argument("--overhead", nargs=3, metavar=("CASE", "WHAT", "LOOPS"), help=argparse.SUPPRESS)
    ap.add_argument("--profile", metavar="CASE", help="cProfile urbankit's cached analysis on CASE and exit")
    ap.add_argument("--no-write", action="store_true", help="print only, do not write the results file")
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.overhead:
        overhead_child(args.overhead[0], args.overhead[1], int(args.overhead[2]))
        return
    if args.profile:
        profile(args.profile)
        return
    cases = [c for c in args.cases.split(",") if c]
    methods = [m for m in args.methods.split(",") if m]
    unknown = [c for c in cases if c not in CASES] + [m for m in methods if m not in METHODS]
    if unknown:
        ap.error(f"unknown case or method: {unknown}")
    started = dt.datetime.now().astimezone()
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="urbankit-bench-") as tmp:
        for case in cases:
            for method in methods:
                if method == "networkx" and case not in NETWORKX_CASES:
                    rows.append({"case": case, "method": method, "status": "not run (too slow above 10k nodes)"})
                    continue
                if method == "pandana" and case not in PANDANA_CASES:
                    rows.append({"case": case, "method": method, "status": (
                        "not run above 10k nodes (pandana's counts: a range query from every node "
                        "per service and threshold)")})
                    continue
                if method == "overhead":
                    row = measure_overhead(case, Path(tmp), args.timeout)
                else:
                    row = run_case(case, method, Path(tmp), args.timeout)
                rows.append(row)
                took = f"{row['wall_s']:.1f} s" if "wall_s" in row else ""
                print(f"  {case:10s} {method:9s} {row['status']} {took}", file=sys.stderr, flush=True)
        body = report(rows, cases, time.perf_counter() - t0)
    text = (
        HEADER.format(npd=NODES_PER_DESTINATION)
        + f"\nDate: {started:%Y-%m-%d %H:%M %Z}. Machine: {machine_info(PACKAGES)}. "
        + f"Load average (1 min) at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f} "
        "(above ~0.1, other work shared the machine and timings are noisier).\n\n" + body + "\n"
    )
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"wrote {RESULTS}", file=sys.stderr)


def profile(case: str) -> None:
    """cProfile of urbankit's cached analysis (network built first), top functions by cumulative time."""
    import cProfile
    import pstats

    import pandas as pd

    import urbankit as uk
    from urbankit.accessibility import compute_accessibility

    uk.settings.use_cache = False
    uk.settings.progress = False
    extract, dest, _ = prepare(case)
    net = uk.build_network(extract, "walk", cache=False)
    pop = pd.Series(1.0, index=net.nodes.index)
    compute_accessibility(net, dest, minutes=MINUTES, population=pop).summary()  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    compute_accessibility(net, dest, minutes=MINUTES, population=pop).summary()
    prof.disable()
    pstats.Stats(prof).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
