"""Time and peak memory of loading the embedded cities into mode networks.

Each measurement runs in a fresh subprocess so peak memory (ru_maxrss) is that of one load alone,
with the network cache disabled. Prints a table and writes ``benchmarks/results_load.md``.
Run with ``make bench-load``.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
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


def main() -> None:
    rows = []
    for name, mode in CASES:
        out = subprocess.run([sys.executable, "-c", CHILD, name, mode], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    header = "| area | mode | nodes | edges | read s | build s | pandana CH s | total s | peak MB (after imports MB) |"
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['area']} | {r['mode']} | {r['nodes']:,} | {r['edges']:,} | {r['read_s']:.2f} | {r['build_s']:.2f} | "
            f"{r['pandana_ch_s']:.2f} | {r['total_s']:.2f} | {r['peak_mb']:.0f} ({r['import_peak_mb']:.0f}) |"
        )
    text = "\n".join(lines)
    print(text)
    machine = f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    Path(__file__).with_name("results_load.md").write_text(
        f"# Load benchmark\n\nMachine: {machine}. Each row is a fresh process, network cache off.\n\n{text}\n"
    )


if __name__ == "__main__":
    main()
