"""Large areas: a synthetic walk network of about a million nodes, loaded and analysed in one process.

Run with ``make bench-large`` (or ``python benchmarks/bench_large.py [--blocks 1000]``). Writes
``benchmarks/results_large.md`` and prints it.

What is measured
----------------
The whole analysis runs in a fresh subprocess (so its peak memory is its own ``ru_maxrss``):

1. ``import``: importing urbankit;
2. ``grid``: :func:`urbankit.mock.grid_extract` of ``blocks x blocks`` square 113 m blocks
   (``(blocks + 1) ** 2`` intersection nodes; 1000 x 1000 blocks = 1,002,001 nodes, an
   Eixample-like city of 113 km x 113 km);
3. ``network``: ``build_network(extract, "walk", cache=False)``;
4. ``destinations``: :func:`urbankit.mock.random_destinations` for every service of the packaged
   taxonomy, about one destination per 200 nodes in all (``per_service = round(nodes / 200 /
   services)``), each 0-40 m from a random node, seed 0;
5. ``population``: ``population_per_node(net.nodes)`` (uniform, one resident per node);
6. ``accessibility``: ``accessibility(net, dest, minutes=[10, 15, 30], population=pop)``;
7. ``summary``: ``acc.summary()``;
8. ``memory guard``: when urbankit has ``MemoryBudgetError``, the same analysis is requested again
   with ``settings.memory_limit_gb`` set to 1 MB: it must fail with that error (a clear message),
   not crash; the message is recorded.

For every phase the wall-clock seconds, the resident set size at its end (``VmRSS``) and the peak so
far (``ru_maxrss``, the high-water mark of the process) are recorded. The peak over the whole run
is the figure to compare against the 24 GiB budget.

Options: ``--blocks N`` (grid size, default 1000), ``--nodes-per-destination K`` (default 200),
``--timeout S`` (default 3600), ``--out FILE`` (default ``benchmarks/results_large.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine_info  # benchmarks/ is on sys.path when a script runs

#: packages whose versions go into the results file
PACKAGES = ("urbankit", "numpy", "scipy", "pandas", "geopandas", "shapely")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results_large.md"
MINUTES = [10, 15, 30]
BUDGET_GIB = 24.0


def _rss_mb() -> float:
    """Current resident set size of this process in MB (VmRSS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def child(blocks: int, nodes_per_destination: int) -> dict:
    phases: list[dict] = []
    t_all = time.perf_counter()

    def mark(name: str, t0: float, **extra) -> None:
        phases.append(
            {"phase": name, "seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "peak_mb": _peak_mb(), **extra}
        )

    t0 = time.perf_counter()
    import urbankit as uk
    from urbankit.mock import grid_extract, random_destinations

    uk.settings.progress = False
    mark("import", t0)

    t0 = time.perf_counter()
    extract = grid_extract(blocks, blocks)
    mark("grid", t0, way_nodes=len(extract.way_nodes))

    t0 = time.perf_counter()
    net = uk.build_network(extract, "walk", cache=False)
    mark("network", t0, nodes=len(net.nodes), edges=len(net.edges))
    del extract

    t0 = time.perf_counter()
    services = uk.load_taxonomy().service_names()
    per = max(1, round(len(net.nodes) / nodes_per_destination / len(services)))
    dest = random_destinations(net, per_service=per, seed=0)
    mark("destinations", t0, destinations=len(dest), services=len(services))

    t0 = time.perf_counter()
    pop = uk.population_per_node(net.nodes)
    mark("population", t0, residents=float(pop.per_node.sum()))

    t0 = time.perf_counter()
    acc = uk.compute_accessibility(net, dest, minutes=MINUTES, population=pop)
    mark("accessibility", t0, reach_rows=len(acc.reach), node_columns=acc.nodes.shape[1])

    t0 = time.perf_counter()
    summary = acc.summary()
    mark("summary", t0)
    within_30 = float(summary.loc["all functions", "within_30min"])
    within_15 = float(summary.loc["all functions", "within_15min"])
    grocery_30 = float(summary.loc["grocery", "within_30min"]) if "grocery" in summary.index else float("nan")
    del acc, summary

    guard = {"available": hasattr(uk, "MemoryBudgetError")}
    if guard["available"]:
        t0 = time.perf_counter()
        old = getattr(uk.settings, "memory_limit_gb", None)
        uk.settings.memory_limit_gb = 0.001
        try:
            uk.compute_accessibility(net, dest, minutes=MINUTES, population=pop)
        except uk.MemoryBudgetError as exc:
            guard.update(raised=type(exc).__name__, message=str(exc))
        except Exception as exc:  # noqa: BLE001 - recorded as a failure of the guard
            guard.update(raised=f"{type(exc).__name__} (not MemoryBudgetError)", message=str(exc))
        else:
            guard.update(raised=None, message="no error: the guard did not trigger")
        finally:
            uk.settings.memory_limit_gb = old
        mark("memory guard", t0)

    return {
        "blocks": blocks,
        "nodes_per_destination": nodes_per_destination,
        "phases": phases,
        "total_s": time.perf_counter() - t_all,
        "peak_mb": _peak_mb(),
        "within_30_all_functions": within_30,
        "within_15_all_functions": within_15,
        "grocery_within_30": grocery_30,
        "guard": guard,
    }




def render(res: dict, *, machine: str, started: str, load: tuple[float, float], wall_s: float) -> str:
    ph = {p["phase"]: p for p in res["phases"]}
    net, dst, acc = ph["network"], ph["destinations"], ph["accessibility"]
    peak_gib = res["peak_mb"] / 1024
    lines = [
        "# Large-area benchmark",
        "",
        "A synthetic walk network of about a million nodes (`urbankit.mock.grid_extract(B, B)`, 113 m blocks),",
        (
            f"random destinations of every service of the packaged taxonomy (about one per "
            f"{res['nodes_per_destination']} nodes, seed 0), one"
        ),
        "resident per node, thresholds 10/15/30 minutes: `accessibility(net, dest, minutes=[10, 15, 30],",
        "population=pop)` then `.summary()`, in one fresh subprocess. Method: docstring of",
        "`benchmarks/bench_large.py`; run it with `make bench-large`.",
        "",
        f"Date: {started} UTC. Machine: {machine}. Load average (1 min) at start {load[0]:.2f}, at end {load[1]:.2f}.",
        "",
        "## Result",
        "",
        f"- grid: {res['blocks']} x {res['blocks']} blocks; network: {net['nodes']:,} nodes, {net['edges']:,} edges",
        f"- destinations: {dst['destinations']:,} ({dst['services']} services)",
        f"- reach table: {acc['reach_rows']:,} (node, destination) pairs within 30 minutes",
        f"- total time in the subprocess: {res['total_s']:.1f} s (wall clock including start-up: {wall_s:.1f} s)",
        (
            f"- **peak memory (ru_maxrss): {res['peak_mb']:,.0f} MB = {peak_gib:.2f} GiB**, "
            f"{'within' if peak_gib <= BUDGET_GIB else 'ABOVE'} the {BUDGET_GIB:g} GiB budget"
        ),
        (
            f"- share of residents with all functions within 15 / 30 minutes: {res['within_15_all_functions']:.3f} / "
            f"{res['within_30_all_functions']:.3f}; with a grocery within 30 minutes: {res['grocery_within_30']:.3f} "
            f"(one destination per {res['nodes_per_destination']} nodes is sparse: a check that figures come out, "
            "not a city)"
        ),
        "",
        "## Phases",
        "",
        "RSS = resident memory at the end of the phase; peak = the process's high-water mark so far.",
        "",
        "| phase | seconds | RSS MB | peak MB |",
        "|---|---:|---:|---:|",
    ]
    for p in res["phases"]:
        lines.append(f"| {p['phase']} | {p['seconds']:.2f} | {p['rss_mb']:,.0f} | {p['peak_mb']:,.0f} |")
    g = res["guard"]
    lines += ["", "## Memory guard", ""]
    if not g["available"]:
        lines.append("`urbankit.MemoryBudgetError` does not exist in this version: the guard was not exercised.")
    else:
        lines.append(
            "The same analysis requested with `urbankit.settings.memory_limit_gb = 0.001` (1 MB) raised "
            f"`{g['raised']}`:"
        )
        lines += ["", "> " + str(g["message"]).replace("\n", "\n> ")]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=1000)
    ap.add_argument("--nodes-per-destination", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.blocks, args.nodes_per_destination)))
        return 0

    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    load0 = os.getloadavg()[0]
    cmd = [
        sys.executable,
        __file__,
        "--child",
        "--blocks",
        str(args.blocks),
        "--nodes-per-destination",
        str(args.nodes_per_destination),
    ]
    env = {**os.environ, "URBANKIT_PROGRESS": "0"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env, check=False)
    except subprocess.TimeoutExpired:
        print(f"bench-large: the analysis did not finish within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
        print(f"bench-large: the subprocess failed with exit code {proc.returncode}", file=sys.stderr)
        return 1
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    text = render(res, machine=machine_info(PACKAGES), started=started, load=(load0, os.getloadavg()[0]), wall_s=wall)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
