"""Transit travel-time matrix benchmark: Sao Paulo hexagon-to-hexagon and a city of several thousand stops,
60-minute window, five percentiles.

Writes benchmarks/results_transit.md: milliseconds per origin-minute, single process vs a dask LocalCluster
(checked equal), peak resident memory, and whether the target (at most 1 ms per origin-minute on 2 cores) is
met. ``--origins N`` routes only the first N Sao Paulo hexagons (all 323 destinations) to keep a run short on a
shared machine; the figure per origin-minute is what scales.

The large city (``--city``) is by default ``synthetic``: no shared feed has several thousand stops (Seattle
area 259, Berlin 211, NYC subway 274), so a bus network is generated at bench time into a temporary folder by
``benchmarks/_synthetic_gtfs.py`` (:func:`write_synthetic_gtfs`, nothing committed): a square city of
``--side-km`` (20 km) with bidirectional bus lines every 500 m in both directions (82 lines), a stop every
400 m (4,182 stops), per-line speeds of 18-25 km/h, headways of 5-15 min from 05:00 to 24:00, every fifth line
frequency-based (``frequencies.txt``, alternately ``exact_times`` 0 and 1) and the others scheduled trip by trip
in ``stop_times.txt`` (about 16,000 trips, 830,000 stop times), written as a GTFS zip with the csv module. The
walk network is :func:`urbankit.mock.grid_extract` over the same square (blocks of ``--block-m``, default
100 m: every stop is on a node). Origins are ``--big-origins`` (default 300) seeded random grid nodes, and the
destinations are the same points; departure 2026-03-10 07:00 (a Tuesday).

``--city seattle`` or ``berlin`` instead runs the shared feed on a synthetic walk grid covering its stops plus
1 km (blocks of ``--block-m``, default 200 m); origins and destinations are seeded random samples of the grid's
nodes near a stop (``--big-origins``, ``--big-destinations``). ``--city none`` skips the large city.

    PYTHONPATH=$PWD python benchmarks/bench_transit.py [--city synthetic|seattle|berlin|none] [--origins N]
        [--workers 2] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine_info  # noqa: E402
from _synthetic_gtfs import write_synthetic_gtfs  # noqa: E402

import urbankit  # noqa: E402
from urbankit.mock import grid_extract  # noqa: E402
from urbankit.transit import read_gtfs, travel_time_matrix  # noqa: E402

HERE = Path(__file__).parent
#: the larger feeds: file, service date, first departure, label
CITIES = {
    "seattle": ("seattle-area-2017-11-16.zip", "2017-11-21", "2017-11-21T07:00", "Seattle area (King County Metro)"),
    "berlin": ("ber_gtfs.zip", "2021-03-10", "2021-03-10T08:00", "Berlin"),
}
PERCENTILES = (5, 25, 50, 75, 95)
#: the target of issue 13: the whole run at most this many milliseconds per origin-minute on 2 cores
TARGET_MS = 1.0


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _runs(net, kw, n_origins, window, workers):
    """(label, seconds, ms per origin-minute, pairs reached at p50, peak MiB so far) single process and dask."""
    rows, first = [], None
    for label, extra in (("single process", {}), (f"dask LocalCluster, {workers} workers",
                                                   {"workers": workers, "chunk_size": 8})):
        t = time.perf_counter()
        m = travel_time_matrix(net, **kw, **extra)
        secs = time.perf_counter() - t
        if first is None:
            first = m
        else:  # dask gives the single-process numbers
            pd.testing.assert_frame_equal(first, m)
        rows.append((label, secs, 1000 * secs / (n_origins * window), int(m.travel_time_p50.notna().sum()),
                     _peak_mib()))
    return rows


def _table(rows):
    return ["| run | seconds | ms per origin-minute | pairs reached (p50) | peak RSS so far (MiB) |",
            "|---|---:|---:|---:|---:|",
            *[f"| {r[0]} | {r[1]:.1f} | {r[2]:.3f} | {r[3]:,} | {r[4]:,.0f} |" for r in rows]]


def _verdict(rows, setup_s, origin_minutes, n_origins):
    """A sentence: is the target met by the matrix alone and by the whole run (setup included)?"""
    best = min(rows, key=lambda r: r[1])
    whole_ms = 1000 * (setup_s + best[1]) / origin_minutes
    met = "met" if whole_ms <= TARGET_MS else "not met"
    window = origin_minutes // n_origins
    spare_ms = TARGET_MS - best[2]  # per origin-minute, left to pay for the setup
    breakeven = int(np.ceil(1000 * setup_s / (spare_ms * window))) if met == "not met" and spare_ms > 0 else 0
    return (f"Target (whole run at most {TARGET_MS:g} ms per origin-minute on 2 cores): **{met}**. The fastest "
            f"run ({best[0]}) takes {best[2]:.3f} ms per origin-minute for the matrix and {whole_ms:.3f} ms with "
            f"the setup included (feed and walk network, {setup_s:.1f} s, paid once per run however many origins)"
            + (f"; with that setup the whole run reaches the target from about {breakeven:,} origins of a "
               f"{origin_minutes // n_origins}-minute window." if breakeven else "."))


def _synthetic_city(a):
    """Lines of the results file for the synthetic city of several thousand stops (see the module docstring)."""
    block_m = a.block_m or 100.0
    side_m = 1000.0 * a.side_km
    date, departure = "2026-03-10", "2026-03-10T07:00"
    with tempfile.TemporaryDirectory(prefix="uk_bench_transit_") as tmp:
        t = time.perf_counter()
        feed = write_synthetic_gtfs(Path(tmp) / "synthetic_city.zip", side_m=side_m, seed=0)
        gen_s = time.perf_counter() - t
        zip_mib = feed.path.stat().st_size / 2**20
        t = time.perf_counter()
        tt = read_gtfs(feed.path, date)
        read_s = time.perf_counter() - t
    n = int(round(side_m / block_m))
    t = time.perf_counter()
    net = urbankit.build_network(grid_extract(n, n, block_m=block_m, arterial_every=None,
                                              origin_lonlat=feed.origin_lonlat), "walk", cache=False)
    net_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    nodes = net.nodes.geometry.reset_index(drop=True)
    idx = np.sort(rng.choice(len(nodes), min(a.big_origins, len(nodes)), replace=False))
    points = gpd.GeoDataFrame({"id": idx}, geometry=nodes.iloc[idx].to_numpy(), crs=net.crs)
    kw = dict(timetables=tt, origins=points, destinations=points, departure=departure, window_min=a.window,
              percentiles=PERCENTILES, max_minutes=120)
    rows = _runs(net, kw, len(points), a.window, a.workers)
    n_freq = int(tt.trips.frequency_template.sum())
    return [
        f"## Synthetic city: {tt.n_stops:,} stops, {len(tt.trips) - n_freq:,} scheduled trips, "
        f"{len(tt.stop_times):,} stop times on {date}",
        "",
        f"A bus network generated at bench time (`benchmarks/_synthetic_gtfs.py`, seed 0, written to a temporary "
        f"folder, {zip_mib:.1f} MiB zip in {gen_s:.1f} s): a {a.side_km:g} km square city with {feed.n_lines} "
        f"bidirectional lines (every 500 m, north-south and west-east), a stop every 400 m, 18-25 km/h, headways "
        f"5-15 min from 05:00 to 24:00; every fifth line frequency-based ({n_freq} headway-based templates with "
        f"`exact_times=0`, the `exact_times=1` ones expanded to trips), the others scheduled in `stop_times.txt`. "
        f"`read_gtfs` {read_s:.1f} s. Walk network: `grid_extract` over the same square, {n} x {n} blocks of "
        f"{block_m:g} m, {len(net.nodes):,} nodes ({net_s:.1f} s). {len(points)} origins x the same "
        f"{len(points)} destinations (seeded random grid nodes), {a.window}-minute window from {departure[-5:]}, "
        f"percentiles {'/'.join(map(str, PERCENTILES))}, 1 frequency draw, max 8 rides, 15-minute walks.",
        "",
        *_table(rows),
        "",
        _verdict(rows, read_s + net_s, len(points) * a.window, len(points)),
        "",
    ]


def _big_city(a):
    """Lines of the results file for the larger feed on a synthetic grid."""
    name, date, departure, label = CITIES[a.city]
    block_m = a.block_m or 200.0
    t = time.perf_counter()
    tt = read_gtfs(Path(a.data) / "transit" / "feeds" / name, date)
    lon, lat = tt.stops.stop_lon.to_numpy(float), tt.stops.stop_lat.to_numpy(float)
    margin_m = 1000.0
    m_per_deg_lat = 111_320.0
    m_per_deg_lon = m_per_deg_lat * np.cos(np.radians(np.nanmean(lat)))
    width_m = (np.nanmax(lon) - np.nanmin(lon)) * m_per_deg_lon + 2 * margin_m
    height_m = (np.nanmax(lat) - np.nanmin(lat)) * m_per_deg_lat + 2 * margin_m
    nx, ny = int(np.ceil(width_m / block_m)), int(np.ceil(height_m / block_m))
    sw = (float(np.nanmin(lon) - margin_m / m_per_deg_lon), float(np.nanmin(lat) - margin_m / m_per_deg_lat))
    net = urbankit.build_network(grid_extract(nx, ny, block_m=block_m, arterial_every=None, origin_lonlat=sw),
                                 "walk", cache=False)
    load_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    nodes = net.nodes.geometry.reset_index(drop=True)
    stops = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(net.crs)
    near, _ = cKDTree(np.column_stack([stops.x, stops.y])).query(np.column_stack([nodes.x, nodes.y]))
    served = np.flatnonzero(near <= a.near_stop_m)  # nodes that can walk to a stop: where transit matters

    def sample(n):
        idx = np.sort(rng.choice(served, min(n, len(served)), replace=False))
        return gpd.GeoDataFrame({"id": idx}, geometry=nodes.iloc[idx].to_numpy(), crs=net.crs)

    origins, dests = sample(a.big_origins), sample(a.big_destinations)
    kw = dict(timetables=tt, origins=origins, destinations=dests, departure=departure, window_min=a.window,
              percentiles=PERCENTILES, max_minutes=120)
    rows = _runs(net, kw, len(origins), a.window, a.workers)
    return [
        f"## {label}: {tt.n_stops:,} stops, {len(tt.stop_times):,} stop times on {date}",
        "",
        f"The feed (`feeds/{name}`) on a synthetic walk grid covering its stops plus {margin_m / 1000:g} km: "
        f"{nx} x {ny} blocks of {block_m:g} m, {len(net.nodes):,} nodes (feed + grid {load_s:.1f} s). "
        f"{len(origins)} origins x {len(dests)} destinations, both seeded random samples of the "
        f"{len(served):,} grid nodes within {a.near_stop_m:g} m (straight line) of a stop "
        f"(origins are independent: the time per origin-minute is what scales), {a.window}-minute window from "
        f"{departure[-5:]}, percentiles {'/'.join(map(str, PERCENTILES))}, max 8 rides, 15-minute walks. "
        "The largest feeds of the shared test data have a few hundred stops (Seattle area 259, Berlin 211): no "
        "feed of several thousand stops is available offline; the grid makes the walking side city-sized.",
        "",
        *_table(rows),
        "",
        _verdict(rows, load_s, len(origins) * a.window, len(origins)),
        "",
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(HERE.parent / ".." / "shared" / "data"))
    ap.add_argument("--origins", type=int, default=None)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--window", type=int, default=60)
    ap.add_argument("--out", default=str(HERE / "results_transit.md"))
    ap.add_argument("--city", choices=("synthetic", *CITIES, "none"), default="synthetic",
                    help="the large city: the synthetic feed (default) or a shared feed on a synthetic walk grid")
    ap.add_argument("--side-km", type=float, default=20.0, help="side of the synthetic city (default 20 km)")
    ap.add_argument("--block-m", type=float, default=None,
                    help="block side of the synthetic walk grid (default 100 m synthetic, 200 m for a shared feed)")
    ap.add_argument("--big-origins", type=int, default=None,
                    help="origins sampled in the large city (default 300 synthetic, 500 for a shared feed)")
    ap.add_argument("--big-destinations", type=int, default=1000,
                    help="destinations sampled for a shared feed (default 1000; synthetic: the origins)")
    ap.add_argument("--near-stop-m", type=float, default=800.0, help="sample nodes this close to a stop (800 m)")
    a = ap.parse_args(argv)
    if a.big_origins is None:
        a.big_origins = 300 if a.city == "synthetic" else 500
    spo = Path(a.data) / "transit" / "sao_paulo"
    t = time.perf_counter()
    net = urbankit.build_network(urbankit.read_osm(spo / "spo_osm.pbf", buildings=False), "walk", cache=False)
    tt = read_gtfs(spo / "spo_gtfs.zip", "2019-05-13")
    h = pd.read_csv(spo / "spo_hexgrid.csv")
    pts = gpd.GeoDataFrame(h[["id"]], geometry=gpd.points_from_xy(h.lon, h.lat), crs="EPSG:4326")
    load_s = time.perf_counter() - t
    origins = pts if a.origins is None else pts.iloc[:a.origins]
    kw = dict(timetables=tt, origins=origins, destinations=pts, departure="2019-05-13T07:00", window_min=a.window,
              percentiles=PERCENTILES, max_minutes=120)
    rows = _runs(net, kw, len(origins), a.window, a.workers)
    lines = [
        "# Transit travel-time matrix benchmark (`benchmarks/bench_transit.py`)",
        "",
        f"Machine: {machine_info(('numpy', 'numba', 'scipy', 'dask', 'distributed'))}",
        "",
        "## Sao Paulo",
        "",
        f"Sao Paulo: {tt.n_stops} stops, walk network of {len(net.nodes):,} nodes (load {load_s:.1f} s); "
        f"{len(origins)} origins x {len(pts)} destinations (H3 hexagons), {a.window}-minute window from "
        f"07:00, percentiles 5/25/50/75/95, 1 frequency draw, max 8 rides, 15-minute walks.",
        "",
        *_table(rows),
        "",
        _verdict(rows, load_s, len(origins) * a.window, len(origins)),
        "",
        *(_synthetic_city(a) if a.city == "synthetic" else _big_city(a) if a.city != "none" else []),
        "Peak resident memory is that of the main process so far (dask workers are separate processes). The dask "
        "runs include starting the LocalCluster and shipping the compiled timetables to the workers (several "
        "seconds on a shared 2-core machine); they pay off for larger origin sets or an existing cluster "
        "(`scheduler=`). Both runs give identical matrices (checked).",
        "",
    ]
    Path(a.out).write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
