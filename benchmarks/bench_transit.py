"""Transit travel-time matrix benchmark: Sao Paulo hexagon-to-hexagon, 60-minute window, five percentiles.

Writes benchmarks/results_transit.md: milliseconds per origin-minute, single process vs a dask LocalCluster,
and peak resident memory. ``--origins N`` routes only the first N hexagons (all 323 destinations) to keep a run
short on a shared machine; the figure per origin-minute is what scales.

    PYTHONPATH=$PWD python benchmarks/bench_transit.py [--origins N] [--workers 2] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine_info  # noqa: E402

import urbankit  # noqa: E402
from urbankit.transit import read_gtfs, travel_time_matrix  # noqa: E402

HERE = Path(__file__).parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(HERE.parent / ".." / "shared" / "data"))
    ap.add_argument("--origins", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--out", default=str(HERE / "results_transit.md"))
    a = ap.parse_args(argv)
    spo = Path(a.data) / "transit" / "sao_paulo"
    t = time.perf_counter()
    net = urbankit.build_network(urbankit.read_osm(spo / "spo_osm.pbf", buildings=False), "walk", cache=False)
    tt = read_gtfs(spo / "spo_gtfs.zip", "2019-05-13")
    h = pd.read_csv(spo / "spo_hexgrid.csv")
    pts = gpd.GeoDataFrame(h[["id"]], geometry=gpd.points_from_xy(h.lon, h.lat), crs="EPSG:4326")
    load_s = time.perf_counter() - t
    origins = pts if a.origins is None else pts.iloc[:a.origins]
    kw = dict(timetables=tt, origins=origins, destinations=pts, departure="2019-05-13T07:00", window_min=a.window,
              percentiles=(5, 25, 50, 75, 95), max_minutes=120)
    rows = []
    for label, extra in (("single process", {}), (f"dask LocalCluster, {a.workers} workers",
                                                   {"workers": a.workers, "chunk_size": 8})):
        t = time.perf_counter()
        m = travel_time_matrix(net, **kw, **extra)
        secs = time.perf_counter() - t
        om = len(origins) * a.window
        rows.append((label, secs, 1000 * secs / om, int(m.travel_time_p50.notna().sum())))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        "# Transit travel-time matrix benchmark (`benchmarks/bench_transit.py`)",
        "",
        f"Machine: {machine_info(('numpy', 'numba', 'scipy', 'dask', 'distributed'))}",
        "",
        f"Sao Paulo: {tt.n_stops} stops, walk network of {len(net.nodes):,} nodes (load {load_s:.1f} s); "
        f"{len(origins)} origins x {len(pts)} destinations (H3 hexagons), {a.window}-minute window from "
        f"07:00, percentiles 5/25/50/75/95, 1 frequency draw, max 8 rides, 15-minute walks.",
        "",
        "| run | seconds | ms per origin-minute | pairs reached (p50) |",
        "|---|---:|---:|---:|",
        *[f"| {r[0]} | {r[1]:.1f} | {r[2]:.2f} | {r[3]:,} |" for r in rows],
        "",
        f"Peak resident memory of the main process: {peak_mib:,.0f} MiB (dask workers are separate processes).",
        "",
    ]
    Path(a.out).write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
