"""Time and peak memory of urbankit's whole superblock scenario, beside superblockify 1.0.2.

Run with ``make bench-superblocks``. Writes ``benchmarks/results_superblocks.md`` and prints it.

What is measured
----------------
Every (case, tool) runs in a fresh subprocess; its peak memory is that process's ``ru_maxrss``
(imports and input preparation included). Inputs (the drive network, or the osmnx graph handed to
superblockify) are built before any clock starts; imports are not timed.

urbankit
    ``run_scenario(net, n_trips=1_000_000)``: detection (``method="auto"``), the gravity demand and
    the before assignment (one shared pass), the after assignment and the effects, with the timings
    per phase that :class:`urbankit.superblocks.Scenario` reports. ``trips`` is the sum of the
    assigned OD table's trips and ``OD pairs`` its number of rows (the zone-to-zone pairs actually
    routed). It uses all available cores (``n_jobs=-1``: numba threads for the all-or-nothing passes;
    ``n_jobs=None`` would be one thread).
superblockify (PyPI 1.0.2)
    ``ResidentialPartitioner(name, city_name, graph, unit="distance").run(calculate_metrics=True,
    make_plots=False)`` in a throwaway working directory, as ``urbankit.superblockify_compat`` runs
    it. Its time is the constructor (dead-end removal, graph stats) plus ``run`` (partitioning and
    its all-pairs restricted-distance metrics). It does **not** do demand or assignment, so the
    ratio compares urbankit's whole scenario with superblockify's whole pipeline, not the same
    computation. superblockify reduces any graph of more than ``Config.MAX_NODES`` = 20,000 nodes to
    a 20,000-node ego subgraph before anything else, so it cannot analyse the 100k grid: not run.

Cases
    ``grid10k`` / ``grid100k``: :func:`urbankit.mock.grid_extract` of :func:`grid_size_for` blocks
    (113 m, ``arterial_every=3``: every 3rd street ``secondary``, the rest ``residential``), drive
    network. superblockify gets an osmnx-style ``MultiDiGraph`` of that same drive network: nodes with
    ``x``, ``y`` in its UTM CRS and ``street_count``; one edge per directed edge with ``osmid``
    (way id), ``highway``, ``length``, ``geometry``, ``speed_kph``, ``travel_time``, ``bearing``,
    ``oneway``; graph attribute ``crs``, a ``boundary`` (convex hull + 57 m) and its ``area``, the
    osmnx basic stats (``superblockify.graph_stats.basic_graph_stats``) and ``created_date``; and the
    edge attributes superblockify's population step would add (``cell_id``, ``population`` = 0,
    ``area`` = length x 56.5 m), which a graph passed in directly must already have.
    ``barcelona``: the embedded Eixample / Nova Esquerra extract, urbankit only.
    ``adliswil``: ``../shared/data/superblockify/Adliswil.graphml`` (skipped if absent), loaded
    with ``urbankit.superblockify_compat.load_graphml_for_superblockify``; urbankit runs on
    ``extract_from_graph`` of it with ``method="residential"`` and no area bounds (superblockify's
    rule, as in ``urbankit.superblockify_compat``; the default ``auto`` finds no cell within its
    4-40 ha bounds there), superblockify on the graph itself. The grids use ``method="auto"``.

``grid10k-eq`` / ``grid100k-eq``: the same grids and scenario with ``assignment="equilibrium"``
    (static user equilibrium, bi-conjugate Frank-Wolfe with BPR delays, before and after, the
    no-through-traffic rule exact at every iteration): urbankit only, superblockify does no
    assignment (its row is the plain grid case's). The iterations and relative gap actually reached
    before and after are reported; a run stopped at ``--max-iter`` is reported as not converged.

Options: ``--cases grid10k,adliswil``, ``--timeout 600`` (seconds per subprocess; superblockify
beyond it is recorded as time-limited), ``--trips 1000000``, ``--gap 1e-4`` and ``--max-iter N``
(the equilibrium cases' relative-gap target and iteration limit; default limits per case in
``DEFAULT_MAX_ITER``: grid10k-eq 500, grid100k-eq 3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path

from _machine import machine_info, run_child  # benchmarks/ is on sys.path when a script runs

#: packages whose versions go into the results file
PACKAGES = ("urbankit", "numpy", "scipy", "pandas", "networkx", "osmnx", "superblockify")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_superblocks.md"
ADLISWIL = (HERE.parent / ".." / "shared" / "data" / "superblockify" / "Adliswil.graphml").resolve()

CASES: dict[str, str | int] = {
    "grid10k": 10_000,
    "grid10k-eq": 10_000,
    "grid100k": 100_000,
    "grid100k-eq": 100_000,
    "barcelona": "barcelona",
    "adliswil": "adliswil",
}
#: cases run with ``assignment="equilibrium"`` (urbankit only: superblockify does no assignment)
EQ_SUFFIX = "-eq"
DEFAULT_GAP = 1e-4
#: iteration limit of each equilibrium case unless ``--max-iter`` is given: grid10k-eq runs to the
#: gap target; at 100k nodes one all-or-nothing loading (a Dijkstra from each of ~1,900 zones) takes
#: tens of seconds on 2 cores, so grid100k-eq stops after 3 and reports the gap it reached
DEFAULT_MAX_ITER = {"grid10k-eq": 500, "grid100k-eq": 3}
TOOLS = ("urbankit", "superblockify")
SB_MAX_NODES = 20_000
DEFAULT_TIMEOUT_S = 600
DEFAULT_TRIPS = 1_000_000
BLOCK_M = 113.0


# ------------------------------------------------------------------------------------------ inputs


def grid_network(n: int):
    import urbankit as uk
    from urbankit.mock import grid_extract, grid_size_for

    nxb, nyb = grid_size_for(n)
    return uk.build_network(grid_extract(nxb, nyb, block_m=BLOCK_M, arterial_every=3), "drive", cache=False)


def osmnx_graph(net):
    """An osmnx-style MultiDiGraph of a urbankit drive network, with what superblockify reads."""
    import networkx as nx
    import numpy as np
    import shapely
    from superblockify.graph_stats import basic_graph_stats

    g = nx.MultiDiGraph(crs=str(net.crs))
    nd = net.nodes
    for k, x, y in zip(nd.index.tolist(), nd.x.tolist(), nd.y.tolist()):
        g.add_node(k, x=x, y=y)
    e = net.edges
    for i, (u, v, w, h, length, sp, one, geom) in enumerate(
        zip(
            e.u.tolist(),
            e.v.tolist(),
            e.way_id.tolist(),
            e.highway.tolist(),
            e.length_m.tolist(),
            e.speed_kmh.tolist(),
            e.oneway.tolist(),
            e.geometry.to_numpy(),
        )
    ):
        a, b = g.nodes[u], g.nodes[v]
        g.add_edge(
            u,
            v,
            osmid=int(w),
            highway=h,
            length=float(length),
            geometry=geom,
            speed_kph=float(sp),
            travel_time=float(length) / (float(sp) / 3.6),
            bearing=round(math.degrees(math.atan2(b["x"] - a["x"], b["y"] - a["y"])) % 360, 1),
            oneway=bool(one),
            reversed=False,
            cell_id=i,
            population=0.0,
            area=float(length) * BLOCK_M / 2,
        )
    nx.set_node_attributes(g, {n: len(set(g.predecessors(n)) | set(g.successors(n))) for n in g.nodes}, "street_count")
    hull = shapely.MultiPoint(np.column_stack([nd.x, nd.y])).convex_hull.buffer(BLOCK_M / 2)
    g.graph.update(boundary=hull, boundary_crs=str(net.crs), area=hull.area, edge_population=True)
    g.graph.update(created_date=f"{dt.date.today()}", created_with="urbankit benchmarks/bench_superblocks.py")
    g.graph.update(basic_graph_stats(g, area=g.graph["area"]))
    return g


def prepare(case: str, tool: str):
    """The urbankit drive network, or the graph superblockify gets; untimed."""
    import urbankit as uk

    spec = CASES[case]
    if case == "adliswil":
        from urbankit.osm import extract_from_graph
        from urbankit.superblocks.compat import load_graphml_for_superblockify

        graph = load_graphml_for_superblockify(ADLISWIL)
        if tool == "superblockify":
            return graph
        return uk.build_network(extract_from_graph(graph, source="adliswil", sha256=""), "drive", cache=False)
    net = uk.build_network(uk.load(spec), "drive", cache=False) if isinstance(spec, str) else grid_network(spec)
    return osmnx_graph(net) if tool == "superblockify" else net


# ------------------------------------------------------------------------------------------ child


def child(case: str, tool: str, trips: float, gap: float = DEFAULT_GAP, max_iter: int | None = None) -> None:
    import logging
    import resource

    import urbankit as uk

    uk.settings.use_cache = False
    uk.settings.progress = False
    if tool == "superblockify":
        import superblockify  # noqa: F401  (import not timed)

        logging.disable(logging.WARNING)
    t0 = time.perf_counter()
    inp = prepare(case, tool)
    prep_s = time.perf_counter() - t0
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict = {"case": case, "tool": tool, "prepare_s": prep_s, "inputs_mb": rss_inputs}
    if tool == "urbankit":
        from urbankit.superblocks import run_scenario

        t0 = time.perf_counter()
        # Adliswil: superblockify's own rule (as urbankit.superblockify_compat), no area bounds
        kw = {}
        if case == "adliswil":
            kw = {"method": "residential", "find_kwargs": {"min_area_ha": None, "max_area_ha": None}}
        if case.endswith(EQ_SUFFIX):
            kw.update(assignment="equilibrium", rel_gap=gap, max_iter=max_iter or DEFAULT_MAX_ITER.get(case, 500))
        s = run_scenario(inp, n_trips=trips, n_jobs=-1, **kw)
        wall = time.perf_counter() - t0
        out.update(
            nodes=len(inp.nodes),
            edges=len(inp.edges),
            trips=float(s.od["trips"].sum()),
            od_pairs=len(s.od),
            superblocks=len(s.superblocks),
            timings=s.timings,
            total_s=wall,
            equilibrium=s.assignment.params.get("equilibrium"),
            max_iter=kw.get("max_iter"),
        )
    else:
        import uuid

        from superblockify import ResidentialPartitioner

        from urbankit.superblocks.compat import _in_temporary_folder

        n0, m0 = inp.number_of_nodes(), inp.number_of_edges()
        name = f"bench_{uuid.uuid4().hex[:8]}"
        t0 = time.perf_counter()
        with _in_temporary_folder():
            part = ResidentialPartitioner(name=name, city_name=name, graph=inp, unit="distance")
            part.run(calculate_metrics=True, make_plots=False)
        wall = time.perf_counter() - t0
        out.update(
            nodes=n0,
            edges=m0,
            nodes_after_dead_ends=part.graph.number_of_nodes(),
            partitions=len(part.get_partition_nodes()),
            directness_SN=float(part.metric.directness["SN"]),
            total_s=wall,
        )
    out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


# ------------------------------------------------------------------------------------------ parent


def run_case(case: str, tool: str, timeout: float, trips: float, gap: float, max_iter: int | None) -> dict:
    row = run_child(
        [
            sys.executable,
            __file__,
            "--child",
            case,
            tool,
            "--trips",
            str(trips),
            "--gap",
            str(gap),
            *(["--max-iter", str(max_iter)] if max_iter else []),
        ],
        timeout,
        timeout_status=f"time-limited (> {timeout:.0f} s, stopped)",
    )
    row.update(case=case, tool=tool)
    return row


def fmt_s(x) -> str:
    return "—" if x is None else (f"{x:.2f}" if x < 100 else f"{x:.0f}")


PHASES = (
    ("detect_s", "detect"),
    ("demand_and_before_s", "demand+before"),
    ("assign_before_s", "before"),
    ("assign_after_s", "after"),
    ("ratrun_s", "rat-runs"),
    ("equilibrium_s", "equilibrium"),
    ("effects_s", "effects"),
)


def report(rows: list[dict], cases: list[str], elapsed: float) -> str:
    by = {(r["case"], r["tool"]): r for r in rows}
    lines = [
        "| case | nodes | edges | trips | OD pairs | urbankit s (per phase) | urbankit peak MB "
        "| superblockify s | superblockify peak MB | ratio (urbankit / superblockify) |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for case in cases:
        u, s = by.get((case, "urbankit")), by.get((case, "superblockify"))
        if u and u.get("status") == "ok":
            t = u["timings"]
            phases = ", ".join(f"{lab} {t[k]:.2f}" for k, lab in PHASES if k in t)
            ucells = [
                f"{u['nodes']:,}",
                f"{u['edges']:,}",
                f"{u['trips']:,.0f}",
                f"{u['od_pairs']:,}",
                f"**{fmt_s(u['total_s'])}** ({phases})",
                f"{u['peak_mb']:.0f}",
            ]
        else:
            st = "not run" if u is None else u["status"]
            nodes = f"{s['nodes']:,}" if s and s.get("status") == "ok" else "—"
            edges = f"{s['edges']:,}" if s and s.get("status") == "ok" else "—"
            ucells = [nodes, edges, "—", "—", st, "—"]
        if s is None:
            scells, ratio = ["not run", "—"], "—"
        elif s.get("status") != "ok":
            scells, ratio = [s["status"], "—"], "—"
        else:
            scells = [fmt_s(s["total_s"]), f"{s['peak_mb']:.0f}"]
            ratio = f"{u['total_s'] / s['total_s']:.3f}" if u and u.get("status") == "ok" else "—"
        lines.append(f"| {case} | " + " | ".join(ucells + scells + [ratio]) + " |")
    lines += [
        "",
        "superblockify details (graph it received; nodes after its dead-end removal; partitions; directness SN):",
        "",
    ]
    for case in cases:
        s = by.get((case, "superblockify"))
        if s and s.get("status") == "ok":
            lines.append(
                f"- {case}: {s['nodes']:,} nodes / {s['edges']:,} edges given, {s['nodes_after_dead_ends']:,} after "
                f"dead-end removal, {s['partitions']} partitions, directness SN {s['directness_SN']:.4f}"
            )
        elif s:
            lines.append(f"- {case}: {s['status']}")
    lines += ["", "urbankit details (superblock candidates; input preparation, untimed):", ""]
    for case in cases:
        u = by.get((case, "urbankit"))
        if u and u.get("status") == "ok":
            lines.append(
                f"- {case}: {u['superblocks']:,} candidates; network built in {u['prepare_s']:.1f} s "
                f"({u['inputs_mb']:.0f} MB after building); whole subprocess {u['wall_s']:.1f} s"
            )
    eq = [(c, by[(c, "urbankit")]) for c in cases if by.get((c, "urbankit"), {}).get("equilibrium")]
    if eq:
        lines += [
            "",
            "Equilibrium assignment (bi-conjugate Frank-Wolfe, BPR; peak hour = 10 % of the daily trips): "
            "iterations and the relative gap actually reached, before and after. **converged** only when the "
            "gap is at or below the target.",
            "",
            "| case | phase | seconds | max_iter | iterations | relative gap | converged |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for case, u in eq:
            e = u["equilibrium"]
            for ph in ("before", "after"):
                state = "**converged**" if e[f"converged_{ph}"] else "no (stopped at max_iter)"
                lines.append(
                    f"| {case} | {ph} | {e[f'equilibrium_{ph}_s']:.1f} | {u.get('max_iter')} | "
                    f"{e[f'iterations_{ph}']} | {e[f'rel_gap_{ph}']:.2e} | {state} |"
                )
    lines += ["", f"Whole benchmark: {elapsed / 60:.1f} minutes."]
    return "\n".join(lines)


HEADER = """# Superblock scenario benchmark

urbankit's whole scenario (`run_scenario(net, n_trips={trips:,}, n_jobs=-1)`: detection, gravity demand with the
before assignment in one pass, the after assignment, effects) beside superblockify 1.0.2's
`ResidentialPartitioner(..., unit="distance").run(calculate_metrics=True, make_plots=False)` on the
same graph. Each (case, tool) is a fresh process; peak MB is its `ru_maxrss` (imports and inputs
included); times exclude imports and building the input network/graph. Details in the docstring of
`benchmarks/bench_superblocks.py`; run it with `make bench-superblocks`.

The two tools do different work: urbankit routes every OD pair before and after (and computes effects)
but not superblockify's all-pairs directness/efficiency metrics; superblockify partitions and computes
those all-pairs metrics but no demand or assignment. The ratio compares the two whole pipelines.
superblockify reduces graphs above 20,000 nodes (`Config.MAX_NODES`) to a 20,000-node ego subgraph, so
it is not run on the 100k grid.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", nargs=2, metavar=("CASE", "TOOL"), help=argparse.SUPPRESS)
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of " + ", ".join(CASES))
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per subprocess")
    ap.add_argument("--trips", type=float, default=DEFAULT_TRIPS, help="car trips per day (run_scenario n_trips)")
    ap.add_argument("--gap", type=float, default=DEFAULT_GAP, help="relative-gap target of the *-eq cases")
    ap.add_argument(
        "--max-iter",
        type=int,
        default=None,
        help="iteration limit of the *-eq cases (default: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_MAX_ITER.items())
        + ")",
    )
    ap.add_argument("--no-write", action="store_true", help="print only, do not write the results file")
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.trips, args.gap, args.max_iter)
        return
    cases = [c for c in args.cases.split(",") if c]
    tools = [t for t in args.tools.split(",") if t]
    unknown = [c for c in cases if c not in CASES] + [t for t in tools if t not in TOOLS]
    if unknown:
        ap.error(f"unknown case or tool: {unknown}")
    started = dt.datetime.now().astimezone()
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    rows = []
    for case in cases:
        for tool in tools:
            if case == "adliswil" and not ADLISWIL.is_file():
                rows.append({"case": case, "tool": tool, "status": f"skipped ({ADLISWIL} absent)"})
                continue
            if tool == "superblockify" and case == "barcelona":
                rows.append({"case": case, "tool": tool, "status": "not run (urbankit only)"})
                continue
            if tool == "superblockify" and case.endswith(EQ_SUFFIX):
                rows.append({"case": case, "tool": tool, "status": f"see {case[: -len(EQ_SUFFIX)]} (no assignment)"})
                continue
            spec = CASES[case]
            if tool == "superblockify" and isinstance(spec, int) and spec > SB_MAX_NODES:
                rows.append({"case": case, "tool": tool, "status": "refused (> 20k nodes: reduced to an ego subgraph)"})
                continue
            row = run_case(case, tool, args.timeout, args.trips, args.gap, args.max_iter)
            rows.append(row)
            took = f"{row['wall_s']:.1f} s" if "wall_s" in row else ""
            print(
                f"  {case:10s} {tool:13s} {row['status']} {took}  load {os.getloadavg()[0]:.2f}",
                file=sys.stderr,
                flush=True,
            )
    body = report(rows, cases, time.perf_counter() - t0)
    load_end = os.getloadavg()
    text = (
        HEADER.format(trips=int(args.trips))
        + f"\nDate: {started:%Y-%m-%d %H:%M %Z}. Machine: {machine_info(PACKAGES)}. "
        + f"Load average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, "
        + f"at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} "
        "(above ~0.1, other work shared the machine and timings are noisier). "
        + f'Equilibrium cases (`*-eq`): `assignment="equilibrium"`, `rel_gap={args.gap:g}`, '
        + (f"`max_iter={args.max_iter}` " if args.max_iter else "`max_iter` per case (column below) ")
        + "(bench options `--gap`, `--max-iter`).\n\n"
        + body
        + "\n"
    )
    print(text)
    if not args.no_write:
        RESULTS.write_text(text)
        print(f"wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
