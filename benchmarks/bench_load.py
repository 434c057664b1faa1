"""Time and peak memory of loading the embedded cities into mode networks, and of reading a large
synthetic PBF.

Each measurement runs in a fresh subprocess so peak memory (ru_maxrss) is that of one load alone,
with the network cache disabled. The large case writes a synthetic city with
``benchmarks/large_pbf.py`` (default ``--large-blocks 490``: ~100 MB, 5.8M buildings; generation
takes ~2 min and is reused from the temp folder while ``large_pbf.py`` is unchanged), then times
``read_osm`` with and without buildings and reports the peak RSS growth over a process that only
imported urbankit, and that growth divided by the file size. Prints the tables and writes
``benchmarks/results_load.md``. Run with ``make bench-load`` (no network needed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = [("monaco", m) for m in ("walk", "bike", "drive")] + [("helsinki", m) for m in ("walk", "bike", "drive")]

CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import pandana  # imported here so its import time is not counted as CH build time
import urbankit as uk
uk.settings.use_cache = False
t_import = time.perf_counter() - t0
name, mode = sys.argv[1], sys.argv[2]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
extract = uk.load(name)
t_read = time.perf_counter() - t0
t0 = time.perf_counter()
net = uk.build_network(extract, mode, cache=False)
t_build = time.perf_counter() - t0
t0 = time.perf_counter()
net.pandana
t_ch = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"area": name, "mode": mode, "nodes": len(net.nodes), "edges": len(net.edges),
                  "read_s": t_read, "build_s": t_build, "pandana_ch_s": t_ch,
                  "total_s": t_read + t_build + t_ch, "peak_mb": peak / 1024, "import_peak_mb": base / 1024}))
"""


BASELINE_CHILD = r"""
import json, resource
import urbankit
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

LARGE_CHILD = r"""
import json, resource, sys, time
import urbankit as uk
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
path, with_buildings = sys.argv[1], sys.argv[2] == "1"
t0 = time.perf_counter()
extract = uk.read_osm(path, buildings=with_buildings)
t_read = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"read_s": t_read, "peak_mb": peak / 1024, "import_peak_mb": base / 1024,
                  "ways": len(extract.ways), "features": len(extract.features),
                  "buildings": len(extract.buildings)}))
"""

#: Blocks per side of the default large synthetic PBF: ~100 MB, generated in ~2 minutes.
LARGE_BLOCKS = 490


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def large_pbf(blocks: int, folder: Path | None = None) -> tuple[Path, float | None]:
    """The synthetic PBF of ``blocks`` per side (generated, or reused if ``large_pbf.py`` is unchanged),
    and the seconds its generation took (None when reused)."""
    script = Path(__file__).with_name("large_pbf.py")
    version = hashlib.sha256(script.read_bytes()).hexdigest()[:12]
    folder = Path(folder or Path(tempfile.gettempdir()) / "urbankit-bench")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"large_{blocks}_{version}.osm.pbf"
    if path.exists():
        return path, None
    tmp = path.with_name(path.name + ".part.osm.pbf")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(script), str(tmp), "--blocks", str(blocks)], check=True)
    seconds = time.perf_counter() - t0
    tmp.rename(path)
    return path, seconds


def bench_cities() -> str:
    rows = [_run(CHILD, name, mode) for name, mode in CASES]
    header = "| area | mode | nodes | edges | read s | build s | pandana CH s | total s | peak MB (after imports MB) |"
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['area']} | {r['mode']} | {r['nodes']:,} | {r['edges']:,} | {r['read_s']:.2f} | {r['build_s']:.2f} | "
            f"{r['pandana_ch_s']:.2f} | {r['total_s']:.2f} | {r['peak_mb']:.0f} ({r['import_peak_mb']:.0f}) |"
        )
    return "\n".join(lines)


def bench_large(blocks: int, folder: Path | None = None) -> str:
    path, gen_s = large_pbf(blocks, folder)
    size_mb = path.stat().st_size / 2**20
    baseline = _run(BASELINE_CHILD)["peak_mb"]
    header = (
        "| file | size MB | buildings read | street ways | features | buildings | read_osm s | peak MB | "
        "growth over import-only process MB | growth / file size |"
    )
    lines = [header, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for with_buildings in (False, True):
        r = _run(LARGE_CHILD, str(path), "1" if with_buildings else "0")
        growth = r["peak_mb"] - baseline
        lines.append(
            f"| synthetic, {blocks}x{blocks} blocks | {size_mb:.1f} | {'yes' if with_buildings else 'no'} | "
            f"{r['ways']:,} | {r['features']:,} | {r['buildings']:,} | {r['read_s']:.1f} | {r['peak_mb']:.0f} | "
            f"{growth:.0f} | {growth / size_mb:.1f}x |"
        )
    made = f"generated in {gen_s:.0f} s" if gen_s is not None else "reused from an earlier run"
    note = (
        f"File `{path.name}` ({made}) by `benchmarks/large_pbf.py --blocks {blocks}`. Baseline: a process that "
        f"only imported urbankit, peak {baseline:.0f} MB."
    )
    return "\n".join(lines) + "\n\n" + note


def main() -> None:
    p = argparse.ArgumentParser(description="urbankit load benchmark")
    p.add_argument(
        "--large-blocks", type=int, default=LARGE_BLOCKS, help="blocks per side of the synthetic PBF (0: skip)"
    )
    p.add_argument("--large-folder", type=Path, default=None, help="where the synthetic PBF is written (temp folder)")
    p.add_argument("--skip-cities", action="store_true", help="only the large synthetic case")
    a = p.parse_args()
    out = Path(__file__).with_name("results_load.md")
    machine = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    parts = [f"# Load benchmark\n\nMachine: {machine}. Each row is a fresh process, network cache off."]
    if not a.skip_cities:
        cities = bench_cities()
        print(cities)
        parts.append("## Embedded cities: read, network, contraction hierarchy\n\n" + cities)
    if a.large_blocks > 0:
        large = bench_large(a.large_blocks, a.large_folder)
        print(large)
        parts.append(
            "## Large synthetic PBF: `read_osm` alone\n\n"
            "Streaming read of a synthetic city (`benchmarks/large_pbf.py`: a street grid, 24 apartment "
            "buildings and a shop per block). Peak memory is the node-location index (16 bytes a node), "
            "the street ways and destinations, and the buildings table (~300 bytes a building, 240 of them "
            "the shapely point). The synthetic file packs a building into ~17 bytes of PBF, 4-90x denser "
            "than OpenStreetMap extracts, so its growth / size ratio is an upper bound for real files.\n\n" + large
        )
    out.write_text("\n\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
