"""Whole-process timing of ``urbankit accessibility`` against the plain script a user would write.

Writes a synthetic OSM XML extract: a 180 x 180 street grid (32,400 nodes, :func:`urbankit.mock.grid_extract`)
with ~1,600 destination nodes of the default taxonomy's services (shops, schools, stops, ...; no
buildings), then times, as whole processes (``--runs`` interleaved rounds, median; peak RSS from
``resource.getrusage(RUSAGE_CHILDREN)`` of a fresh helper process per run):

* ``urbankit accessibility FILE --mode walk --minutes 10 15 30 --out x.gpkg`` **cold** (an empty cache
  folder, ``URBANKIT_CACHE``, for every run) and **warm** (the cache filled by a previous run);
* ``benchmarks/plain_accessibility.py FILE x.gpkg``: pyosmium parse, scipy graph, exact scipy Dijkstra
  from the destination nodes bounded by 30 minutes, nearest minutes per service, one GeoPackage layer
  written with geopandas.

Targets (issue 11): warm at most 1.0x and cold at most 1.5x the plain script's median time. Prints the
table and writes ``benchmarks/results_cli.md``. Run with ``make bench-cli`` (no network needed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _machine import machine_info  # noqa: E402

#: tags of the generated destinations (key, value), one of each service family of the taxonomy
POI_TAGS = [
    ("shop", "supermarket"), ("shop", "bakery"), ("shop", "clothes"), ("amenity", "pharmacy"),
    ("amenity", "doctors"), ("amenity", "dentist"), ("amenity", "hospital"), ("amenity", "kindergarten"),
    ("amenity", "school"), ("amenity", "university"), ("amenity", "restaurant"), ("amenity", "cafe"),
    ("amenity", "library"), ("amenity", "bank"), ("leisure", "playground"), ("leisure", "park"),
    ("leisure", "sports_centre"), ("highway", "bus_stop"), ("office", "company"), ("amenity", "townhall"),
]

RUNNER = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rc": proc.returncode, "wall_s": wall, "peak_mb": peak, "err": proc.stderr[-800:]}))
"""

#: the CLI's steps timed one by one in one process (what x_minute_city and to_gpkg run), for the phase table
PHASES = r"""
import json, sys, time
t0 = time.perf_counter()
import urbankit as uk
from urbankit.accessibility import compute_accessibility
from urbankit.destinations import find_destinations, load_taxonomy
from urbankit.population import population_per_node
times = {"import urbankit": time.perf_counter() - t0}
def timed(name, step):
    t = time.perf_counter()
    out = step()
    times[name] = time.perf_counter() - t
    return out
ex = timed("read (or cached read)", lambda: uk.load(sys.argv[1]))
tax = load_taxonomy(None)
net = timed("network (or cached network)", lambda: uk.build_network(ex, "walk"))
# as the CLI does: a second process writes the edges layer from here on (urbankit.io.start_edges_layer)
from urbankit.io import start_edges_layer, write_accessibility_gpkg
started = start_edges_layer(net, sys.argv[2], crs="EPSG:4326")
uk.settings.background_cache_writes = True  # as the CLI: the reach table's cache entry is written by a forked process
dest = timed("destinations", lambda: find_destinations(ex, taxonomy=tax))
pop = timed("population", lambda: population_per_node(net.nodes, buildings=None))
acc = timed("accessibility (minutes, counts, scores)",
            lambda: compute_accessibility(net, dest, minutes=[10, 15, 30], population=pop, taxonomy=tax))
timed("GeoPackage (4 layers)", lambda: write_accessibility_gpkg(acc, sys.argv[2], crs="EPSG:4326", started=started))
if started is not None:
    started.close()
times["total"] = time.perf_counter() - t0
print(json.dumps(times))
"""


def write_grid_osm(path: Path, *, blocks: int = 179, poi_every: int = 20, seed: int = 0) -> dict:
    """Write the benchmark extract as OSM XML; returns its node, way and destination counts."""
    import numpy as np

    from urbankit.mock import grid_extract

    ex = grid_extract(blocks, blocks)
    wn = ex.way_nodes.drop_duplicates("node_id").sort_values("node_id")
    rng = np.random.default_rng(seed)
    lines = ["<?xml version='1.0' encoding='UTF-8'?>", '<osm version="0.6" generator="urbankit bench_cli">']
    ids, lon, lat = wn["node_id"].to_numpy(), wn["lon"].to_numpy(), wn["lat"].to_numpy()
    for i, x, y in zip(ids, lon, lat):
        lines.append(f'  <node id="{i}" version="1" lat="{y:.7f}" lon="{x:.7f}"/>')
    # destinations: a random street node every ~poi_every nodes, moved by up to ~25 m
    n_poi = len(ids) // poi_every
    at = rng.choice(len(ids), size=n_poi, replace=False)
    dx = rng.uniform(-2.5e-4, 2.5e-4, size=(n_poi, 2))
    first = int(ids.max()) + 1
    for k, (j, (ox, oy)) in enumerate(zip(at, dx)):
        key, value = POI_TAGS[k % len(POI_TAGS)]
        lines.append(f'  <node id="{first + k}" version="1" lat="{lat[j] + oy:.7f}" lon="{lon[j] + ox:.7f}">')
        lines.append(f'    <tag k="{key}" v="{value}"/>')
        lines.append(f'    <tag k="name" v="{value} {k}"/>')
        lines.append("  </node>")
    nodes_of = ex.way_nodes.groupby("way", sort=True)["node_id"]
    for w, (_, row) in enumerate(ex.ways.iterrows()):
        lines.append(f'  <way id="{int(row.way_id)}" version="1">')
        lines.extend(f'    <nd ref="{int(n)}"/>' for n in nodes_of.get_group(w))
        lines.append(f'    <tag k="highway" v="{row.highway}"/>')
        if row.get("maxspeed") is not None:
            lines.append(f'    <tag k="maxspeed" v="{row.maxspeed}"/>')
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"nodes": len(ids), "ways": len(ex.ways), "destinations": n_poi, "file_mb": path.stat().st_size / 2**20}


def run_once(argv: list[str], env: dict) -> dict:
    """Run ``argv`` as a whole process (through a fresh helper so peak RSS is this command's alone)."""
    proc = subprocess.run([sys.executable, "-c", RUNNER, *argv], capture_output=True, text=True, env=env, check=True)
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    if row["rc"] != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (exit {row['rc']}): {row['err']}")
    return row


def summary(rows: list[dict]) -> dict:
    """Median, min and max wall time and the largest peak RSS of the runs of one command."""
    walls = [r["wall_s"] for r in rows]
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
            "peak_mb": max(r["peak_mb"] for r in rows), "runs": len(rows)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of each command (median; default 5)")
    ap.add_argument("--blocks", type=int, default=179, help="grid blocks per side (default 179: 180 x 180 nodes)")
    ap.add_argument("--out", default=str(HERE / "results_cli.md"), help="results file")
    ap.add_argument("--check", action="store_true", help="exit with status 1 when a target is not met")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="urbankit-bench-cli-"))
    try:
        osm = work / f"grid_{args.blocks + 1}x{args.blocks + 1}.osm"
        t0 = time.perf_counter()
        info = write_grid_osm(osm, blocks=args.blocks)
        print(f"wrote {osm.name}: {info['nodes']:,} nodes, {info['destinations']:,} destinations, "
              f"{info['file_mb']:.1f} MB in {time.perf_counter() - t0:.1f} s", flush=True)
        cache = work / "cache"
        env = {**os.environ, "URBANKIT_CACHE": str(cache), "URBANKIT_PROGRESS": "0"}
        bindir = Path(sys.executable).parent
        cli = [str(bindir / "urbankit"), "accessibility", str(osm), "--mode", "walk", "--minutes", "10", "15", "30",
               "--out", str(work / "cli.gpkg")]
        plain = [sys.executable, str(HERE / "plain_accessibility.py"), str(osm), str(work / "plain.gpkg")]

        def empty_cache():
            shutil.rmtree(cache, ignore_errors=True)

        # interleaved rounds (plain, cold, warm), so a change of the machine's load hits all three alike
        rows = {"plain script": [], "urbankit cold": [], "urbankit warm": []}
        for i in range(args.runs):
            rows["plain script"].append(run_once(plain, env))
            empty_cache()
            rows["urbankit cold"].append(run_once(cli, env))
            rows["urbankit warm"].append(run_once(cli, env))  # the cache the cold run just filled
            print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1]['wall_s']:.2f} s" for k, v in rows.items()), flush=True)
        results = {name: summary(r) for name, r in rows.items()}
        phases = {}
        for run in ("cold", "warm"):
            if run == "cold":
                empty_cache()
            proc = subprocess.run([sys.executable, "-c", PHASES, str(osm), str(work / "phases.gpkg")],
                                  capture_output=True, text=True, env=env, check=True)
            phases[run] = json.loads(proc.stdout.strip().splitlines()[-1])
        base = results["plain script"]["median_s"]
        targets = {"plain script": None, "urbankit cold": 1.5, "urbankit warm": 1.0}
        load = os.getloadavg()
        lines = [
            "# `urbankit accessibility` vs the plain script (whole processes)",
            "",
            "Generated by `make bench-cli` (`benchmarks/bench_cli.py`); do not edit by hand.",
            "",
            f"Machine: {machine_info(('numpy', 'scipy', 'pandas', 'geopandas', 'pyogrio', 'pyarrow', 'osmium'))}",
            f"Load average when finished (1, 5, 15 min): {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} "
            "(the machine may be shared: compare the ratios, not the seconds, with other runs).",
            "",
            f"Input: synthetic OSM XML grid, {info['nodes']:,} street nodes, {info['ways']:,} ways, "
            f"{info['destinations']:,} destination nodes, {info['file_mb']:.1f} MB. Command: "
            "`urbankit accessibility FILE --mode walk --minutes 10 15 30 --out x.gpkg` (layers nodes, edges, pois, "
            "hex) vs `benchmarks/plain_accessibility.py FILE x.gpkg` (pyosmium, scipy Dijkstra bounded by "
            "30 min, one layer). Cold: empty cache folder (`URBANKIT_CACHE`) before every run; warm: the cache "
            f"of the cold run just before. {args.runs} interleaved rounds (plain, cold, warm), median wall time; "
            "peak RSS is the largest of the runs.",
            "",
            "| command | median s | min s | max s | peak RSS MB | x plain | target | met |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        met_all = True
        for name, r in results.items():
            ratio = r["median_s"] / base
            target = targets[name]
            met = "" if target is None else ("yes" if ratio <= target else "**no**")
            met_all &= target is None or ratio <= target
            lines.append(
                f"| {name} | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['max_s']:.2f} | {r['peak_mb']:.0f} | "
                f"{ratio:.2f} | {'' if target is None else f'<= {target:g}'} | {met} |"
            )
        lines += [
            "",
            "Where the time goes: the CLI's steps timed one by one in one process (one cold and one warm run, "
            "seconds; the whole-process times above also include interpreter start-up and the CLI's own output). "
            "As in the CLI, a second process writes the edges layer from the network step on, so the GeoPackage "
            "step only joins it, and the reach table's cache entry is written by a forked process (the read and "
            "network steps here run before the setting is on and write theirs directly).",
            "",
            "| step | cold s | warm s |",
            "| --- | ---: | ---: |",
        ]
        lines += [f"| {step} | {phases['cold'][step]:.2f} | {phases['warm'][step]:.2f} |" for step in phases["cold"]]
        lines.append("")
        text = "\n".join(lines)
        print(text)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
        return 1 if args.check and not met_all else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
