"""Machine description shared by the benchmark scripts (written into every results file)."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
from pathlib import Path


def machine_info(packages: tuple[str, ...]) -> str:
    """CPU model, cores, memory, OS, Python and the versions of ``packages``, on one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        mem = f", {kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, IndexError, ValueError):
        pass
    versions = []
    for pkg in packages:
        try:
            versions.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            versions.append(f"{pkg} (not installed)")
    return (
        f"{cpu}, {os.cpu_count()} logical cores{mem}; {platform.system()} {platform.release()}; "
        f"{platform.python_implementation()} {platform.python_version()}; " + ", ".join(versions)
    )


def run_child(argv: list[str], timeout: float, *, timeout_status: str) -> dict:
    """Run one benchmark case in a fresh process; its last stdout line is a JSON row.

    Returns that row with ``status="ok"`` and the wall time ``wall_s``, or a row holding only
    ``status``: ``timeout_status`` when it ran past ``timeout`` s, ``"failed: ..."`` (the last lines
    of its output) when it exited with an error.
    """
    import json
    import subprocess
    import time

    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": timeout_status}
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": "failed: " + " | ".join(tail)}
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["status"] = "ok"
    row["wall_s"] = time.perf_counter() - t0
    return row
