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
